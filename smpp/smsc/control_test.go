package smsc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// noLeaks checks, after every other cleanup of t, that the test left no
// goroutine behind. Call it first.
func noLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

func startSim(t *testing.T, cfg smsc.Config) *smsc.Server {
	t.Helper()
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 20 * time.Millisecond
	}
	s, err := smsc.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// api is a client of a control API served by httptest.
type api struct {
	t  *testing.T
	ts *httptest.Server
}

func startAPI(t *testing.T, sim *smsc.Server) *api {
	t.Helper()
	ts := httptest.NewServer(sim.ControlHandler())
	t.Cleanup(ts.Close)
	return &api{t: t, ts: ts}
}

// do sends a request and returns the status and body; a non-JSON answer
// fails the test.
func (a *api) do(method, path, body string) (int, []byte) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.ts.URL+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	resp, err := a.ts.Client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		a.t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, b)
	}
	return resp.StatusCode, b
}

// json sends a request, wants status want, and decodes the answer into v.
func (a *api) json(method, path, body string, want int, v any) {
	a.t.Helper()
	code, b := a.do(method, path, body)
	if code != want {
		a.t.Fatalf("%s %s %s: status %d, want %d: %s", method, path, body, code, want, b)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			a.t.Fatalf("%s %s: decoding %s: %v", method, path, b, err)
		}
	}
}

type ids struct {
	IDs []uint64 `json:"ids"`
}

type moStatus struct {
	Delivered  bool    `json:"delivered"`
	Attempts   int     `json:"attempts"`
	LastStatus *string `json:"last_status"`
}

type phone struct {
	Texts    []string `json:"texts"`
	Messages []struct {
		MessageID     string `json:"message_id"`
		From          string `json:"from"`
		DataCoding    byte   `json:"data_coding"`
		ESMClass      byte   `json:"esm_class"`
		ServiceType   string `json:"service_type"`
		USSDServiceOp *int   `json:"ussd_service_op"`
		Text          string `json:"text"`
	} `json:"messages"`
}

type stats struct {
	MTs        int `json:"mts"`
	PendingMOs int `json:"pending_mos"`
	Refused    int `json:"refused"`
}

type faults struct {
	Throttle     float64 `json:"throttle"`
	MsgQFull     float64 `json:"msgqfull"`
	Delay        string  `json:"delay"`
	DropEvery    string  `json:"drop_every"`
	LoseAcks     float64 `json:"lose_acks"`
	Duplicates   float64 `json:"duplicates"`
	Silent       bool    `json:"silent"`
	SubmitStatus string  `json:"submit_status"`
}

// newESME binds a transceiver to the simulator as paygate would.
func newESME(t *testing.T, addr string, h smpp.Handler) *smpp.Client {
	t.Helper()
	c, err := smpp.NewClient(smpp.Config{
		Addr: addr, SystemID: "paygate", Password: "secret", Handler: h,
		ResponseTimeout: 5 * time.Second, BindTimeout: 5 * time.Second,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
		ThrottleMin: 10 * time.Millisecond, ThrottleMax: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			t.Errorf("closing the ESME: %v", err)
		}
	})
	eventually(t, "bind", c.Bound)
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestControlLongMOAndReply injects a long Chinese text through POST /mo,
// shuffled, checks that the ESME's handler gets it whole, and reads the
// handler's long reply back through GET /phones.
func TestControlLongMOAndReply(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, smsc.Config{})
	a := startAPI(t, sim)

	const from, to = "+8613800138000", "3030"
	text := strings.Repeat("你好，世界！", 30) // 180 UCS-2 units: 3 parts
	reply := "收到：" + text

	type delivery struct {
		from, to, text string
		parts          int
	}
	got := make(chan delivery, 16)
	var esme atomic.Pointer[smpp.Client]
	c := newESME(t, sim.Addr(), smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		got <- delivery{d.PDU.Source.Addr, d.PDU.Dest.Addr, d.Text(), d.Parts}
		_, err := esme.Load().SubmitText(ctx, smpp.Text{
			Source: smpp.Address{Addr: d.PDU.Dest.Addr},
			Dest:   smpp.Address{TON: 1, NPI: 1, Addr: d.PDU.Source.Addr},
			Body:   reply,
		}, "reply")
		if err != nil {
			t.Errorf("replying: %v", err)
			return smpp.StatusRxTAppn
		}
		return smpp.StatusOK
	}))
	esme.Store(c)

	var res ids
	a.json("POST", "/mo", mustJSON(t, map[string]any{"from": from, "to": to, "text": text, "shuffle": true}), http.StatusCreated, &res)
	if len(res.IDs) != 3 {
		t.Fatalf("ids %v, want 3 parts", res.IDs)
	}

	select {
	case d := <-got:
		if d.text != text || d.parts != 3 || "+"+d.from != from || d.to != to { // TON 1 carries no "+"
			t.Errorf("handler got %d parts from %s to %s: %q; want 3 parts from %s to %s: %q", d.parts, d.from, d.to, d.text, from, to, text)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler got no message")
	}

	for _, id := range res.IDs {
		path := fmt.Sprintf("/mo/%d", id)
		eventually(t, path+" delivered", func() bool {
			var st moStatus
			a.json("GET", path, "", http.StatusOK, &st)
			return st.Delivered
		})
		var st moStatus
		a.json("GET", path, "", http.StatusOK, &st)
		if st.Attempts < 1 || st.LastStatus == nil || *st.LastStatus != "ESME_ROK" {
			t.Errorf("%s: %+v, want attempts ≥ 1 and last_status ESME_ROK", path, st)
		}
	}

	// The number escaped, as a client must, and as typed by hand.
	for _, path := range []string{"/phones/" + url.PathEscape(from), "/phones/%2B8613800138000", "/phones/" + from} {
		var p phone
		a.json("GET", path, "", http.StatusOK, &p)
		if len(p.Texts) != 1 || p.Texts[0] != reply {
			t.Errorf("GET %s: texts %q, want [%q]", path, p.Texts, reply)
		}
		if len(p.Messages) != 3 {
			t.Fatalf("GET %s: %d messages, want the reply's 3 parts", path, len(p.Messages))
		}
		var joined strings.Builder
		seen := map[string]bool{}
		for _, m := range p.Messages {
			if m.From != to || m.DataCoding != byte(smpp.CodingUCS2) || m.ESMClass&0x40 == 0 || m.USSDServiceOp != nil {
				t.Errorf("GET %s: message %+v, want from %s, data_coding 8, UDHI, no ussd_service_op", path, m, to)
			}
			if m.MessageID == "" || seen[m.MessageID] {
				t.Errorf("GET %s: message id %q empty or repeated", path, m.MessageID)
			}
			seen[m.MessageID] = true
			joined.WriteString(m.Text)
		}
		if joined.String() != reply {
			t.Errorf("GET %s: the parts' texts join to %q, want %q", path, joined.String(), reply)
		}
	}

	var other phone
	a.json("GET", "/phones/%2B8613900000000", "", http.StatusOK, &other)
	if other.Texts == nil || other.Messages == nil || len(other.Texts)+len(other.Messages) != 0 {
		t.Errorf("a phone that received nothing: %+v, want empty lists", other)
	}

	var binds []string
	a.json("GET", "/binds", "", http.StatusOK, &binds)
	if len(binds) != 1 || binds[0] != "paygate/bind_transceiver" {
		t.Errorf("binds %q, want [paygate/bind_transceiver]", binds)
	}
	var s stats
	a.json("GET", "/stats", "", http.StatusOK, &s)
	if s.MTs != 3 || s.PendingMOs != 0 || s.Refused != 0 {
		t.Errorf("stats %+v, want 3 MTs, none pending, none refused", s)
	}
}

// TestControlMOStatus follows one MO from queued to acknowledged after
// a refusal.
func TestControlMOStatus(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, smsc.Config{})
	a := startAPI(t, sim)

	var res ids
	a.json("POST", "/mo", `{"from":"+8613800138000","to":"3030","text":"BAL"}`, http.StatusCreated, &res)
	if len(res.IDs) != 1 {
		t.Fatalf("ids %v, want one", res.IDs)
	}
	path := fmt.Sprintf("/mo/%d", res.IDs[0])
	var st moStatus
	a.json("GET", path, "", http.StatusOK, &st)
	if st.Delivered || st.Attempts != 0 || st.LastStatus != nil {
		t.Errorf("before any bind: %+v, want not delivered, 0 attempts, last_status null", st)
	}
	var s stats
	a.json("GET", "/stats", "", http.StatusOK, &s)
	if s.PendingMOs != 1 {
		t.Errorf("stats %+v, want 1 pending MO", s)
	}

	var calls atomic.Int32
	newESME(t, sim.Addr(), smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		if calls.Add(1) == 1 {
			return smpp.StatusRxTAppn // not persisted yet: deliver again
		}
		return smpp.StatusOK
	}))
	eventually(t, "delivery", func() bool {
		a.json("GET", path, "", http.StatusOK, &st)
		return st.Delivered
	})
	if st.Attempts != 2 || st.LastStatus == nil || *st.LastStatus != "ESME_ROK" {
		t.Errorf("after a refusal and an acknowledgement: %+v, want 2 attempts, last_status ESME_ROK", st)
	}
	a.json("GET", "/stats", "", http.StatusOK, &s)
	if s.PendingMOs != 0 {
		t.Errorf("stats %+v, want nothing pending", s)
	}
}

// TestControlUSSD injects USSD messages with either session tag.
func TestControlUSSD(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, smsc.Config{})
	a := startAPI(t, sim)

	type ussd struct {
		text, serviceType string
		op                byte
		session           []byte
		ok                bool
	}
	got := make(chan ussd, 8)
	tag := atomic.Uint32{} // the session tag the next message uses
	newESME(t, sim.Addr(), smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		// Read the TLVs themselves: what the ESME makes of them is smpp's.
		op, ok := d.PDU.TLVs.Uint(smpp.TagUSSDServiceOp)
		session, _ := d.PDU.TLVs.Get(smpp.Tag(tag.Load()))
		got <- ussd{d.Text(), d.PDU.ServiceType, byte(op), session, ok}
		return smpp.StatusOK
	}))

	for _, tt := range []struct {
		body    string
		tag     smpp.Tag
		want    ussd
		comment string
	}{
		{
			body: `{"from":"+8613800138000","to":"*123#","op":1,"session_hex":"1234","session_tag":"its_session_info","text":"*123#"}`,
			tag:  smpp.TagITSSessionInfo, want: ussd{"*123#", "USSD", 1, []byte{0x12, 0x34}, true},
		},
		{
			body: `{"from":"+8613800138000","to":"*123#","op":18,"session_hex":"00ff","session_tag":"user_message_reference","text":"2"}`,
			tag:  smpp.TagUserMessageReference, want: ussd{"2", "USSD", 18, []byte{0x00, 0xff}, true},
		},
		{
			// op defaults to PSSR indication, the tag to its_session_info;
			// a text outside the GSM alphabet goes as UCS-2.
			body: `{"from":"+8613800138000","to":"*123#","session_hex":"abcd","text":"确认 @"}`,
			tag:  smpp.TagITSSessionInfo, want: ussd{"确认 @", "USSD", smpp.USSDPSSRIndication, []byte{0xab, 0xcd}, true},
		},
		{
			// GSM characters that differ from ASCII arrive intact.
			body: `{"from":"+8613800138000","to":"*123#","session_hex":"abcd","text":"@$_"}`,
			tag:  smpp.TagITSSessionInfo, want: ussd{"@$_", "USSD", smpp.USSDPSSRIndication, []byte{0xab, 0xcd}, true},
		},
	} {
		tag.Store(uint32(tt.tag))
		var res ids
		a.json("POST", "/ussd", tt.body, http.StatusCreated, &res)
		if len(res.IDs) != 1 {
			t.Fatalf("ids %v, want one", res.IDs)
		}
		select {
		case u := <-got:
			if u.text != tt.want.text || u.serviceType != tt.want.serviceType || u.op != tt.want.op ||
				!bytes.Equal(u.session, tt.want.session) || !u.ok {
				t.Errorf("%s: handler got %+v, want %+v", tt.body, u, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the handler got nothing", tt.body)
		}
		eventually(t, "acknowledgement", func() bool {
			var st moStatus
			a.json("GET", fmt.Sprintf("/mo/%d", res.IDs[0]), "", http.StatusOK, &st)
			return st.Delivered
		})
	}
}

// TestControlThrottle switches throttling on through PUT /faults: the
// SMSC refuses submits, which the client retries until they pass.
func TestControlThrottle(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, smsc.Config{})
	a := startAPI(t, sim)
	c := newESME(t, sim.Addr(), nil)

	var f faults
	a.json("PUT", "/faults", `{"throttle":2}`, http.StatusOK, &f)
	if f.Throttle != 2 {
		t.Fatalf("PUT /faults answered %+v, want throttle 2", f)
	}
	var before stats
	a.json("GET", "/stats", "", http.StatusOK, &before)
	if before.Refused != 0 {
		t.Fatalf("stats %+v before any submit", before)
	}

	// The bucket holds 2: the first two pass, the rest are refused until
	// it refills, and the client keeps retrying them.
	const n = 4
	for i := range n {
		_, err := c.SubmitText(ctxT(t), smpp.Text{
			Source: smpp.Address{Addr: "3030"},
			Dest:   smpp.Address{TON: 1, NPI: 1, Addr: "+8613800138000"},
			Body:   fmt.Sprintf("code %d", i),
		}, "")
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	var after stats
	a.json("GET", "/stats", "", http.StatusOK, &after)
	if after.Refused <= before.Refused || after.MTs != n {
		t.Errorf("stats %+v after %d throttled submits, want refused > %d and %d MTs", after, n, before.Refused, n)
	}

	a.json("PUT", "/faults", `{"throttle":0}`, http.StatusOK, &f)
	if _, err := c.SubmitText(ctxT(t), smpp.Text{Dest: smpp.Address{Addr: "+8613800138000"}, Body: "free"}, ""); err != nil {
		t.Fatal(err)
	}
	var last stats
	a.json("GET", "/stats", "", http.StatusOK, &last)
	if last.Refused != after.Refused || last.MTs != n+1 {
		t.Errorf("stats %+v with throttling off, want refused still %d and %d MTs", last, after.Refused, n+1)
	}
}

// TestControlFaults sets every switch through PUT /faults and reads them
// back; a change with one bad field changes nothing.
func TestControlFaults(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, smsc.Config{})
	a := startAPI(t, sim)

	var f faults
	a.json("GET", "/faults", "", http.StatusOK, &f)
	if want := (faults{Delay: "0s", DropEvery: "0s", SubmitStatus: "ESME_ROK"}); f != want {
		t.Errorf("initial faults %+v, want %+v", f, want)
	}

	all := `{"throttle":5,"msgqfull":0.25,"delay":"1.5s","drop_every":"1m","lose_acks":0.1,"duplicates":0.05,"silent":true,"submit_status":"esme_rsubmitfail"}`
	want := faults{Throttle: 5, MsgQFull: 0.25, Delay: "1.5s", DropEvery: "1m0s", LoseAcks: 0.1, Duplicates: 0.05, Silent: true, SubmitStatus: "ESME_RSUBMITFAIL"}
	a.json("PUT", "/faults", all, http.StatusOK, &f)
	if f != want {
		t.Errorf("PUT answered %+v, want %+v", f, want)
	}
	a.json("GET", "/faults", "", http.StatusOK, &f)
	if f != want {
		t.Errorf("GET after PUT: %+v, want %+v", f, want)
	}

	// A subset changes only itself; statuses come as numbers or hex too.
	for _, tt := range []struct{ body, status string }{
		{`{"submit_status":88}`, "ESME_RTHROTTLED"},
		{`{"submit_status":"0x14"}`, "ESME_RMSGQFUL"},
		{`{"submit_status":"ESME_ROK","silent":false}`, "ESME_ROK"},
	} {
		a.json("PUT", "/faults", tt.body, http.StatusOK, &f)
		if f.SubmitStatus != tt.status || f.Throttle != 5 || f.Delay != "1.5s" {
			t.Errorf("PUT %s: %+v, want submit_status %s and the rest unchanged", tt.body, f, tt.status)
		}
	}
	want.SubmitStatus, want.Silent = "ESME_ROK", false

	// One bad field: nothing applied.
	for _, body := range []string{
		`{"throttle":1,"msgqfull":1.5}`,
		`{"delay":"-1s","throttle":1}`,
		`{"drop_every":"soon"}`,
		`{"throttle":-1}`,
		`{"throttle":0.5}`,
		`{"lose_acks":-0.1}`,
		`{"duplicates":2}`,
		`{"submit_status":"ESME_RBOGUS"}`,
		`{"submit_status":true}`,
		`{"throttle":"fast"}`,
	} {
		code, b := a.do("PUT", "/faults", body)
		if code != http.StatusBadRequest {
			t.Errorf("PUT %s: status %d, want 400: %s", body, code, b)
		}
		a.json("GET", "/faults", "", http.StatusOK, &f)
		if f != want {
			t.Errorf("after the refused PUT %s: %+v, want %+v", body, f, want)
		}
	}
}

// TestControlErrors checks the error answers.
func TestControlErrors(t *testing.T) {
	noLeaks(t)
	sim := startSim(t, smsc.Config{})
	a := startAPI(t, sim)
	a.json("POST", "/mo", `{"from":"+8613800138000","to":"3030","text":"HELP"}`, http.StatusCreated, nil) // MO 1

	long := `{"from":"+8613800138000","to":"3030","text":"` + strings.Repeat("a", 70<<10) + `"}`
	tests := []struct {
		method, path, body string
		status             int
		code               string
	}{
		{"POST", "/mo", `{"to":"3030","text":"HELP"}`, 400, "missing_field"},
		{"POST", "/mo", `{"from":"+8613800138000","text":"HELP"}`, 400, "missing_field"},
		{"POST", "/mo", `{"from":"+8613800138000","to":"3030"}`, 400, "missing_field"},
		{"POST", "/mo", `{"from":"+8613800138000","to":"3030","text":"HELP","lang":"en"}`, 400, "unknown_field"},
		{"POST", "/mo", `{"from":"+8613800138000","to":"3030","text":"HELP"`, 400, "invalid_json"},
		{"POST", "/mo", `{"from":"+8613800138000","to":"3030","text":"HELP"} {}`, 400, "invalid_json"},
		{"POST", "/mo", `{"from":123,"to":"3030","text":"HELP"}`, 400, "invalid_json"},
		{"POST", "/mo", ``, 400, "invalid_json"},
		{"POST", "/mo", `{"from":"+861380013800012345678901","to":"3030","text":"HELP"}`, 400, "invalid_value"},
		{"POST", "/mo", long, 413, "body_too_large"},
		{"POST", "/mo", `{"from":"+8613800138000","to":"3030","text":"` + strings.Repeat("確", 256*67) + `"}`, 400, "invalid_text"},
		{"POST", "/ussd", `{"from":"+8613800138000","to":"*123#","text":"1"}`, 400, "missing_field"},
		{"POST", "/ussd", `{"from":"+8613800138000","to":"*123#","session_hex":"12zz","text":"1"}`, 400, "invalid_value"},
		{"POST", "/ussd", `{"from":"+8613800138000","to":"*123#","session_hex":"1234","session_tag":"cookie","text":"1"}`, 400, "invalid_value"},
		{"POST", "/ussd", `{"from":"+8613800138000","to":"*123#","session_hex":"1234","op":256,"text":"1"}`, 400, "invalid_value"},
		{"POST", "/ussd", `{"from":"+8613800138000","to":"*123#","session_hex":"1234"}`, 400, "missing_field"},
		{"POST", "/ussd", `{"from":"+8613800138000","to":"*123#","session_hex":"1234","text":"` + strings.Repeat("1", 255) + `"}`, 400, "invalid_text"},
		{"GET", "/mo/abc", "", 400, "invalid_value"},
		{"GET", "/mo/99", "", 404, "not_found"},
		{"GET", "/nothing", "", 404, "not_found"},
		{"DELETE", "/faults", "", 405, "method_not_allowed"},
		{"GET", "/mo", "", 405, "method_not_allowed"},
		{"PUT", "/faults", `[]`, 400, "invalid_json"},
	}
	for _, tt := range tests {
		code, b := a.do(tt.method, tt.path, tt.body)
		var e struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("%s %s: not a JSON error: %s", tt.method, tt.path, b)
			continue
		}
		body := tt.body
		if len(body) > 80 {
			body = body[:80] + "…"
		}
		if code != tt.status || e.Error.Code != tt.code || e.Error.Message == "" {
			t.Errorf("%s %s %s: %d %+v, want %d with code %s and a message", tt.method, tt.path, body, code, e.Error, tt.status, tt.code)
		}
	}
	// Nothing refused was queued.
	var s stats
	a.json("GET", "/stats", "", http.StatusOK, &s)
	if s.PendingMOs != 1 {
		t.Errorf("stats %+v, want only the first MO pending", s)
	}
}
