package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
)

// noLeaks fails t if it leaves goroutines behind. Call it first: its
// check runs after every other cleanup.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// sandbox is a started Sandbox and an HTTP client for its phones.
type sandbox struct {
	t    *testing.T
	sb   *gateway.Sandbox
	base string
	hc   *http.Client
}

func startSandbox(t *testing.T, dir string) *sandbox {
	t.Helper()
	sb, err := gateway.StartSandbox(context.Background(), gateway.SandboxOptions{Dir: dir, HTTPListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	s := &sandbox{t: t, sb: sb, base: "http://" + sb.Gateway().HTTPAddr(), hc: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(func() { s.close() })
	return s
}

func (s *sandbox) close() {
	if s.sb == nil {
		return
	}
	s.hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sb.Close(ctx); err != nil {
		s.t.Errorf("closing the sandbox: %v", err)
	}
	s.sb = nil
}

// do sends a request with a JSON body (if body is not "") and decodes
// the answer into v, failing unless its status is want.
func (s *sandbox) do(t *testing.T, method, path, body string, want int, v any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
}

type messagesResp struct {
	Phone    string              `json:"phone"`
	Messages []gateway.PhoneText `json:"messages"`
	Next     int                 `json:"next"`
}

type ussdResp struct {
	Phone  string               `json:"phone"`
	Screen *gateway.PhoneScreen `json:"screen"`
	Next   int                  `json:"next"`
}

type postUSSDResp struct {
	Session string `json:"session"`
	Op      int    `json:"op"`
	Text    string `json:"text"`
	After   int    `json:"after"`
}

type errorResp struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

var helpEN = flows.Text(flows.English, flows.KeyHelp, flows.Vars{"pin_length": "6"})

// A virtual phone texts HELP and the long poll brings the reply, from the
// short code; a poll past it waits and comes back empty.
func TestSandboxSMS(t *testing.T) {
	noLeaks(t)
	s := startSandbox(t, t.TempDir())

	var sent struct {
		IDs   []uint64 `json:"ids"`
		Phone string   `json:"phone"`
		To    string   `json:"to"`
	}
	s.do(t, "POST", "/sandbox/phones/13800138000/sms", `{"text":"HELP"}`, http.StatusCreated, &sent)
	if len(sent.IDs) != 1 || sent.Phone != "+8613800138000" || sent.To != "3030" {
		t.Fatalf("POST sms: %+v", sent)
	}
	var got messagesResp
	s.do(t, "GET", "/sandbox/phones/13800138000/messages?after=0&wait=15s", "", http.StatusOK, &got)
	if len(got.Messages) != 1 || got.Next != 1 || got.Phone != "+8613800138000" {
		t.Fatalf("GET messages: %+v", got)
	}
	if m := got.Messages[0]; m.Text != helpEN || m.From != "3030" || m.Index != 0 {
		t.Errorf("reply %+v\nwant %q from 3030", m, helpEN)
	}
	// The same phone written internationally; nothing new within the wait.
	start := time.Now()
	s.do(t, "GET", "/sandbox/phones/%2B8613800138000/messages?after=1&wait=300ms", "", http.StatusOK, &got)
	if len(got.Messages) != 0 || got.Next != 1 {
		t.Errorf("GET messages after=1: %+v", got)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("GET messages after=1 answered after %v, before its wait", waited)
	}
	// Without after, everything so far, at once.
	s.do(t, "GET", "/sandbox/phones/8613800138000/messages", "", http.StatusOK, &got)
	if len(got.Messages) != 1 {
		t.Errorf("GET messages: %+v", got)
	}
	// The simulator's control API is mounted too.
	var stats struct {
		MTs int `json:"mts"`
	}
	s.do(t, "GET", "/sandbox/smsc/stats", "", http.StatusOK, &stats)
	if stats.MTs < 1 { // the reply may come in parts
		t.Errorf("GET /sandbox/smsc/stats: %+v", stats)
	}
}

// Closing the sandbox ends a long poll under way at once.
func TestSandboxCloseEndsPolls(t *testing.T) {
	noLeaks(t)
	s := startSandbox(t, t.TempDir())
	done := make(chan error, 1)
	go func() {
		resp, err := s.hc.Get(s.base + "/sandbox/phones/13800138000/messages?wait=30s")
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // the poll is waiting
	start := time.Now()
	s.close()
	if err := <-done; err != nil {
		t.Errorf("long poll: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %v with a long poll under way", d)
	}
}

func TestSandboxBadRequests(t *testing.T) {
	noLeaks(t)
	s := startSandbox(t, t.TempDir())
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"not a number", "POST", "/sandbox/phones/abc/sms", `{"text":"HELP"}`, http.StatusBadRequest, "invalid_number"},
		{"an extension", "POST", "/sandbox/phones/1380013800x/sms", `{"text":"HELP"}`, http.StatusBadRequest, "invalid_number"},
		{"too short a number", "GET", "/sandbox/phones/12/messages", "", http.StatusBadRequest, "invalid_number"},
		{"empty text", "POST", "/sandbox/phones/13800138000/sms", `{"text":"  "}`, http.StatusBadRequest, "missing_field"},
		{"no body", "POST", "/sandbox/phones/13800138000/sms", "", http.StatusBadRequest, "invalid_json"},
		{"unknown field", "POST", "/sandbox/phones/13800138000/sms", `{"text":"HELP","from":"x"}`, http.StatusBadRequest, "invalid_json"},
		{"text too long", "POST", "/sandbox/phones/13800138000/sms", `{"text":"` + strings.Repeat("a", 1601) + `"}`, http.StatusBadRequest, "text_too_long"},
		{"bad wait", "GET", "/sandbox/phones/13800138000/messages?wait=soon", "", http.StatusBadRequest, "invalid_value"},
		{"negative after", "GET", "/sandbox/phones/13800138000/messages?after=-1", "", http.StatusBadRequest, "invalid_value"},
		{"bad session", "POST", "/sandbox/phones/13800138000/ussd", `{"text":"1","session":"xyz"}`, http.StatusBadRequest, "invalid_session"},
		{"answer without text", "POST", "/sandbox/phones/13800138000/ussd", `{"session":"abcd"}`, http.StatusBadRequest, "missing_field"},
		{"ussd text too long", "POST", "/sandbox/phones/13800138000/ussd", `{"text":"` + strings.Repeat("a", 300) + `"}`, http.StatusBadRequest, "text_too_long"},
		{"unknown path", "GET", "/sandbox/nothing", "", http.StatusNotFound, "not_found"},
		{"wrong method", "DELETE", "/sandbox/phones/13800138000/sms", "", http.StatusNotFound, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e errorResp
			s.do(t, tt.method, tt.path, tt.body, tt.status, &e)
			if e.Error.Code != tt.code || e.Error.Message == "" {
				t.Errorf("error %+v, want code %s", e.Error, tt.code)
			}
		})
	}
	if got := s.sb.SMSC().Pending(); got != 0 {
		t.Errorf("%d MOs injected by refused requests", got)
	}
}

// Dialling the service code leads to an end screen: at once, or after
// 0 (exit) in the main menu (SPEC.md §4).
func TestSandboxUSSD(t *testing.T) {
	noLeaks(t)
	s := startSandbox(t, t.TempDir())
	var dial postUSSDResp
	s.do(t, "POST", "/sandbox/phones/13800138000/ussd", `{}`, http.StatusCreated, &dial)
	if dial.Op != 1 || dial.Text != "*384#" || len(dial.Session) != 4 || dial.After != 0 {
		t.Fatalf("POST ussd: %+v", dial)
	}
	after := dial.After
	for range 3 {
		var got ussdResp
		s.do(t, "GET", "/sandbox/phones/13800138000/ussd?session="+dial.Session+"&after="+strconv.Itoa(after)+"&wait=15s", "", http.StatusOK, &got)
		if got.Screen == nil {
			t.Fatalf("no USSD screen: %+v", got)
		}
		if got.Screen.Session != dial.Session || got.Screen.Text == "" || got.Next != after+1 {
			t.Fatalf("screen %+v", got)
		}
		if got.Screen.End {
			if got.Screen.Op != 17 {
				t.Errorf("end screen with ussd_service_op %d, want 17", got.Screen.Op)
			}
			// Without a session: the latest screen of any, at once.
			var any ussdResp
			s.do(t, "GET", "/sandbox/phones/13800138000/ussd", "", http.StatusOK, &any)
			if any.Screen == nil || *any.Screen != *got.Screen {
				t.Errorf("latest screen %+v, want %+v", any.Screen, got.Screen)
			}
			return
		}
		if got.Screen.Op != 2 {
			t.Fatalf("continue screen with ussd_service_op %d, want 2", got.Screen.Op)
		}
		var answer postUSSDResp
		s.do(t, "POST", "/sandbox/phones/13800138000/ussd", `{"text":"0","session":"`+dial.Session+`"}`, http.StatusCreated, &answer)
		if answer.Op != 18 || answer.Session != dial.Session {
			t.Fatalf("POST ussd answer: %+v", answer)
		}
		after = answer.After
	}
	t.Fatal("no end screen")
}

// A sandbox started again in the same directory keeps its keys and its
// database; the keys are readable by their owner only.
func TestSandboxRestart(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	s := startSandbox(t, dir)
	var sent json.RawMessage
	s.do(t, "POST", "/sandbox/phones/13800138000/sms", `{"text":"HELP"}`, http.StatusCreated, &sent)
	var got messagesResp
	s.do(t, "GET", "/sandbox/phones/13800138000/messages?wait=15s", "", http.StatusOK, &got)
	if len(got.Messages) != 1 {
		t.Fatalf("GET messages: %+v", got)
	}
	cfg := s.sb.Config()
	if want := "sqlite:" + filepath.Join(dir, "paygate.db"); cfg.Database.Reveal() != want {
		t.Errorf("database %s, want %s", cfg.Database.Reveal(), want)
	}
	if len(cfg.SMSC) != 1 || cfg.SMSC[0].Addr != s.sb.SMSC().Addr() || !cfg.SMSC[0].Trusted {
		t.Errorf("smsc %+v", cfg.SMSC)
	}
	s.close()

	keys := map[string][]byte{}
	for _, name := range []string{"data.key", "pepper.key"} {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
		keys[name], _ = os.ReadFile(path)
	}

	s = startSandbox(t, dir)
	for name, before := range keys {
		if after, _ := os.ReadFile(filepath.Join(dir, name)); !bytes.Equal(before, after) {
			t.Errorf("%s changed on restart", name)
		}
	}
	mts, err := s.sb.Gateway().DB().MTs(context.Background(), "+8613800138000")
	if err != nil || len(mts) != 1 {
		t.Errorf("after restart the database holds %d MTs for the phone (%v), want the HELP reply", len(mts), err)
	}
	// The new simulator knows nothing of the old phone; the gateway does.
	s.do(t, "GET", "/sandbox/phones/13800138000/messages", "", http.StatusOK, &got)
	if len(got.Messages) != 0 {
		t.Errorf("new simulator has messages: %+v", got)
	}
}

// A taken HTTP address fails before anything starts, with an error that
// says so.
func TestSandboxAddressInUse(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	_, err = gateway.StartSandbox(context.Background(), gateway.SandboxOptions{Dir: dir, HTTPListen: ln.Addr().String()})
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "http.listen") {
		t.Fatalf("StartSandbox on a taken address: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files created before the failure: %v", entries)
	}
}

// The sandbox starts from the given config (the environment's overrides
// in `paygate serve`): its settings hold, its binds give way to the
// simulator, and its problems are refused with their keys.
func TestSandboxConfig(t *testing.T) {
	noLeaks(t)
	cfg := config.Default()
	cfg.Language = config.LanguageChinese
	sc := config.DefaultSMSC()
	sc.Name, sc.Addr, sc.SystemID = "carrier-a", "127.0.0.1:1", "x"
	cfg.SMSC = []config.SMSC{sc}
	dir := t.TempDir()
	sb, err := gateway.StartSandbox(context.Background(), gateway.SandboxOptions{Dir: dir, HTTPListen: "127.0.0.1:0", Config: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	s := &sandbox{t: t, sb: sb, base: "http://" + sb.Gateway().HTTPAddr(), hc: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(s.close)
	if got := sb.Config().SMSC; len(got) != 1 || got[0].Name != "sandbox" || got[0].Addr != sb.SMSC().Addr() {
		t.Errorf("binds %+v", got)
	}
	if got := sb.Config().Keys.DataKeyFile; got != filepath.Join(dir, "data.key") {
		t.Errorf("data key %s", got)
	}
	var sent json.RawMessage
	s.do(t, "POST", "/sandbox/phones/13800138000/sms", `{"text":"HELP"}`, http.StatusCreated, &sent)
	var got messagesResp
	s.do(t, "GET", "/sandbox/phones/13800138000/messages?wait=15s", "", http.StatusOK, &got)
	if want := flows.Text(flows.Chinese, flows.KeyHelp, flows.Vars{"pin_length": "6"}); len(got.Messages) != 1 || got.Messages[0].Text != want {
		t.Errorf("GET messages: %+v\nwant %q", got, want)
	}

	bad := config.Default()
	bad.PINLength = 9
	_, err = gateway.StartSandbox(context.Background(), gateway.SandboxOptions{Dir: t.TempDir(), HTTPListen: "127.0.0.1:0", Config: &bad})
	var ke *config.KeyError
	if !errors.As(err, &ke) || ke.Key != "pin_length" {
		t.Errorf("StartSandbox with pin_length 9: %v", err)
	}
}

// The sandbox runs a bank simulator in-process (SPEC §1): a §8 connector
// with the sandbox's secret verifies the demo account of 13800138000.
func TestSandboxBank(t *testing.T) {
	noLeaks(t)
	s := startSandbox(t, t.TempDir())
	cfg := s.sb.Config()
	if cfg.Bank.Kind != config.BankHTTP || s.sb.Bank() == nil || cfg.Bank.URL.Reveal() != s.sb.Bank().URL() {
		t.Fatalf("bank config %+v", cfg.Bank)
	}
	// The gateway's own connector, and a second one as any §8 client would
	// be, with the sandbox's secret.
	secret, err := bank.ReadSecretFile(cfg.Bank.SecretFile)
	if err != nil {
		t.Fatal(err)
	}
	other, err := bank.NewHTTP(bank.HTTPConfig{URL: cfg.Bank.URL.Reveal(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, conn := range []bank.Connector{s.sb.Gateway().Bank(), other} {
		res, err := conn.Verify(context.Background(), bank.VerifyRequest{Bank: cfg.Bank.Code, Account: "6222020000000001", Phone: "+8613800138000"})
		if err != nil || !res.Exists || !res.PhoneMatches || res.HolderName == "" {
			t.Fatalf("verify: %+v %v", res, err)
		}
	}
	// Bank calls are counted in the gateway's metrics.
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `paygate_bank_calls_total{method="verify",outcome="ok"} 1`) {
		t.Fatalf("no bank call in /metrics:\n%s", body)
	}
}
