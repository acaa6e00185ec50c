package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp/smsc"
	"github.com/paygate/paygate/store"
)

// hookWorld is a running gateway, bound to an SMSC simulator, on a clock
// the test moves (real time plus an offset), its logs kept. It is built
// here rather than with the gateway_test package's world because the
// world cannot start a gateway as the sandbox (Options.Sandbox), where
// webhooks may go to http:// on loopback — the test receivers.
type hookWorld struct {
	t    *testing.T
	g    *Gateway
	logs *lockedBuffer

	mu  sync.Mutex
	off time.Duration
}

func (w *hookWorld) now() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Now().Add(w.off)
}

func (w *hookWorld) advance(d time.Duration) {
	w.mu.Lock()
	w.off += d
	w.mu.Unlock()
}

func newHookWorld(t *testing.T, sandbox bool, change ...func(*config.Config)) *hookWorld {
	t.Helper()
	sim, err := smsc.Listen(smsc.Config{RetryInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	cfg := config.Default()
	cfg.Keys.DataKeyFile, cfg.Keys.PepperFile = filepath.Join(dir, "data.key"), filepath.Join(dir, "pepper.key")
	for _, f := range []string{cfg.Keys.DataKeyFile, cfg.Keys.PepperFile} {
		if err := os.WriteFile(f, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg.Database = config.SecretURL("sqlite:" + filepath.Join(dir, "paygate.db"))
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.Timezone = "UTC"
	sc := config.DefaultSMSC()
	sc.Name, sc.Addr, sc.SystemID, sc.Password = "carrier-a", sim.Addr(), "paygate", "secret"
	cfg.SMSC = []config.SMSC{sc}
	for _, f := range change {
		f(&cfg)
	}
	w := &hookWorld{t: t, logs: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(w.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, err := New(context.Background(), Options{Config: cfg, Logger: log, Now: w.now, Sandbox: sandbox})
	if err != nil {
		t.Fatal(err)
	}
	w.g = g
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		g.Close(ctx)
	})
	deadline := time.Now().Add(10 * time.Second)
	for !g.Bound() {
		if time.Now().After(deadline) {
			t.Fatal("gateway did not bind")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return w
}

// merchant adds a merchant with code and, unless url is "", sets its
// webhook; it returns the secret.
func (w *hookWorld) merchant(code, url string) string {
	w.t.Helper()
	ctx := context.Background()
	err := w.g.db.AddMerchant(ctx, flows.Merchant{Code: code, Name: "Shop " + code,
		Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009001"}})
	if err != nil {
		w.t.Fatal(err)
	}
	if url == "" {
		return ""
	}
	if err := w.g.checkWebhookURL(ctx, url); err != nil {
		w.t.Fatal(err)
	}
	secret, err := w.g.db.SetMerchantWebhook(ctx, code, url)
	if err != nil {
		w.t.Fatal(err)
	}
	return secret
}

// queue queues an event for merchant in a step, as a flow does.
func (w *hookWorld) queue(merchant string) flows.WebhookEvent {
	w.t.Helper()
	ev := flows.WebhookEvent{
		ID: newID(), Merchant: merchant, Event: "payment_request.completed", Request: newID(), Created: w.now(),
	}
	ev.Body = []byte(fmt.Sprintf(`{"id":%q,"type":%q,"created_at":%q,"data":{"id":%q,"merchant":%q,"status":"completed","amount":2500}}`,
		ev.ID, ev.Event, ev.Created.UTC().Format(time.RFC3339Nano), ev.Request, merchant))
	if err := w.g.db.Step(context.Background(), func(tx *store.Tx) error { return tx.QueueWebhook(context.Background(), ev) }); err != nil {
		w.t.Fatal(err)
	}
	return ev
}

// state waits until the event id of merchant satisfies ok, and returns it.
func (w *hookWorld) state(merchant, id string, ok func(store.WebhookState) bool) store.WebhookState {
	w.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		states, err := w.g.db.Webhooks(context.Background(), merchant)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, s := range states {
			if s.ID == id && ok(s) {
				return s
			}
		}
		if time.Now().After(deadline) {
			var all []string
			for _, s := range states {
				all = append(all, brief(s))
			}
			w.t.Fatalf("event %s of %s: not there yet: %v", id, merchant, all)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// kick wakes the webhook dispatcher, which waits otherwise for its
// poll to see events made due by moving the clock.
func (w *hookWorld) kick() {
	w.g.webhooks.kick()
}

func (w *hookWorld) counter(merchant, result string) int {
	return int(counterValue(w.t, w.g.metrics, "paygate_webhook_attempts_total", "merchant", merchant, "result", result))
}

// noSecrets checks that the logs and the events' errors hold none of
// secrets.
func (w *hookWorld) noSecrets(merchant string, secrets ...string) {
	w.t.Helper()
	states, err := w.g.db.Webhooks(context.Background(), merchant)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(w.logs.String(), s) {
			w.t.Errorf("the logs hold %q", s)
		}
		for _, st := range states {
			if strings.Contains(st.LastError, s) {
				w.t.Errorf("event %s's error holds %q: %s", st.ID, s, st.LastError)
			}
		}
	}
}

// noLeaks checks, once the test and its cleanups are done, that no
// goroutine it started is left: the dispatcher, its posts and its idle
// connections stop with the gateway.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// brief is s for a failure message: without its body.
func brief(s store.WebhookState) string {
	s.Body = nil
	return fmt.Sprintf("%+v", s)
}

// received is one post as a test receiver saw it.
type received struct {
	at     time.Time // on the world's clock
	header http.Header
	body   []byte
	// verified is the receiver's own check of the signature.
	verified error
}

// receiver is a merchant's webhook server on 127.0.0.1: it checks every
// post's signature with its own implementation of SPEC §7, and answers
// fail (500 unless set) to the first failFirst posts, then 200.
type receiver struct {
	srv       *httptest.Server
	secret    func() string
	failFirst int
	fail      int
	clock     func() time.Time

	mu    sync.Mutex
	posts []received
}

func newReceiver(t *testing.T, clock func() time.Time, failFirst int) *receiver {
	r := &receiver{failFirst: failFirst, fail: http.StatusInternalServerError, clock: clock}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(rw http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	n := len(r.posts)
	r.posts = append(r.posts, received{at: r.clock(), header: req.Header.Clone(), body: body,
		verified: verifyWebhook([]byte(r.secret()), req.Header.Get("Paygate-Signature"), body, time.Now())})
	r.mu.Unlock()
	if n < r.failFirst {
		http.Error(rw, "try later", r.fail)
		return
	}
	rw.Header().Set("Content-Type", "text/plain")
	rw.WriteHeader(http.StatusOK)
	rw.Write([]byte(strings.Repeat("thanks ", 10000))) // more than is read
}

func (r *receiver) got() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.posts...)
}

// wait waits until the receiver has n posts and returns them.
func (r *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := r.got(); len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver got %d posts, want %d", len(r.got()), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// verifyWebhook is a merchant's check of Paygate-Signature (SPEC §7),
// written from the spec and not from signWebhook: t=<unix>,v1=<hex
// HMAC-SHA256(secret, "<t>.<body>")>, within 5 minutes of now.
func verifyWebhook(secret []byte, header string, body []byte, now time.Time) error {
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("malformed signature header %q", header)
	}
	if age := now.Sub(time.Unix(unix, 0)); age > 5*time.Minute || age < -5*time.Minute {
		return fmt.Errorf("signature %v old", age)
	}
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%d.%s", unix, body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return errors.New("signature mismatch")
}

// An event is posted, signed, until the merchant's server answers 2xx:
// three 500s, retried with growing gaps, then delivered once; every
// post carries the same event id, and its signature verifies (the
// receiver's own implementation) while a tampered body or another secret
// does not.
func TestWebhookDelivery(t *testing.T) {
	noLeaks(t)
	w := newHookWorld(t, true)
	const failures = 3
	r := newReceiver(t, w.now, failures)
	var secret string
	r.secret = func() string { return secret }
	url := r.srv.URL + "/paygate/hook?token=s3cr3t"
	secret = w.merchant("DEMO", url)
	ev := w.queue("DEMO")

	var gaps []time.Duration
	for k := range failures {
		posts := r.wait(t, k+1)
		s := w.state("DEMO", ev.ID, func(s store.WebhookState) bool { return s.Attempts == k+1 })
		if s.State != store.WebhookStateQueued || s.LastStatus != 500 || s.LastError != "HTTP 500 Internal Server Error" {
			t.Fatalf("after failure %d: %s", k+1, brief(s))
		}
		gap := s.NextAt.Sub(posts[k].at)
		// Attempt k+1 failed: a pause of between half and all of 2^k s.
		lo, hi := (firstRetry<<k)/2, firstRetry<<k
		if gap < lo-50*time.Millisecond || gap > hi+50*time.Millisecond {
			t.Fatalf("pause after failure %d: %v, want %v to %v", k+1, gap, lo, hi)
		}
		gaps = append(gaps, gap)
		// Not posted again before its time.
		w.kick()
		time.Sleep(50 * time.Millisecond)
		if n := len(r.got()); n != k+1 {
			t.Fatalf("posted %d times before the pause after failure %d ended", n, k+1)
		}
		w.advance(gap)
		w.kick()
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] < gaps[i-1] {
			t.Errorf("pauses %v do not grow", gaps)
		}
	}
	r.wait(t, failures+1)
	s := w.state("DEMO", ev.ID, func(s store.WebhookState) bool { return s.State != store.WebhookStateQueued })
	if s.State != store.WebhookStateDelivered || s.Attempts != failures+1 || s.LastStatus != 200 || s.LastError != "" {
		t.Fatalf("after the 2xx: %s", brief(s))
	}
	// Delivered once: nothing more comes, however the clock moves.
	w.advance(2 * time.Hour)
	w.kick()
	time.Sleep(100 * time.Millisecond)
	posts := r.got()
	if len(posts) != failures+1 {
		t.Fatalf("%d posts, want %d", len(posts), failures+1)
	}
	for i, p := range posts {
		h := p.header
		if h.Get("Paygate-Event-Id") != ev.ID || h.Get("Paygate-Event-Type") != ev.Event ||
			h.Get("Content-Type") != "application/json" || string(p.body) != string(ev.Body) {
			t.Errorf("post %d: headers %v, body %s", i, h, p.body)
		}
		if p.verified != nil {
			t.Errorf("post %d: the signature does not verify: %v", i, p.verified)
		}
		sig := h.Get("Paygate-Signature")
		tampered := []byte(strings.Replace(string(p.body), "2500", "9500", 1))
		if verifyWebhook([]byte(secret), sig, tampered, time.Now()) == nil {
			t.Errorf("post %d: a tampered body verifies", i)
		}
		if verifyWebhook([]byte(secret+"x"), sig, p.body, time.Now()) == nil {
			t.Errorf("post %d: another secret verifies", i)
		}
	}
	if d, f := w.counter("DEMO", webhookDelivered), w.counter("DEMO", webhookFailed); d != 1 || f != failures {
		t.Errorf("metrics: %d delivered, %d failed", d, f)
	}
	w.noSecrets("DEMO", secret, "s3cr3t", "token=", url)
	t.Logf("pauses after each failure: %v", gaps)
}

// An event that cannot be delivered is ended at once, with the reason
// for operators, and never posted: no webhook URL; a URL but no secret
// (AddMerchant keeps a URL without making one); no such merchant.
func TestWebhookUndeliverable(t *testing.T) {
	w := newHookWorld(t, true)
	r := newReceiver(t, w.now, 0)
	r.secret = func() string { return "" }
	w.merchant("NOHOOK", "")
	err := w.g.db.AddMerchant(context.Background(), flows.Merchant{Code: "NOSECRET", Name: "No secret",
		Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009002"}, Webhook: r.srv.URL + "/hook"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ merchant, reason string }{
		{"NOHOOK", "the merchant has no webhook URL"},
		{"NOSECRET", "no signing secret"},
		{"GONE", "the merchant does not exist"},
	} {
		ev := w.queue(c.merchant)
		s := w.state(c.merchant, ev.ID, func(s store.WebhookState) bool { return s.State != store.WebhookStateQueued })
		if s.State != store.WebhookStateUndeliverable || s.Attempts != 0 || !strings.Contains(s.LastError, c.reason) || s.Ended.IsZero() {
			t.Errorf("%s: %s", c.merchant, brief(s))
		}
		if n := w.counter(c.merchant, webhookUndeliverable); n != 1 {
			t.Errorf("%s: %d undeliverable counted", c.merchant, n)
		}
	}
	w.advance(2 * time.Hour)
	w.kick()
	time.Sleep(100 * time.Millisecond)
	if n := len(r.got()); n != 0 {
		t.Fatalf("the receiver got %d posts", n)
	}
	if n, err := w.g.db.WebhookQueueDepth(context.Background()); err != nil || n != 0 {
		t.Fatalf("queue depth %d, %v", n, err)
	}
}

// Whatever keeps a 2xx from coming — a refused connection, no answer in
// time, a redirect (not followed), a 4xx — is an attempt that failed and
// is tried again; its reason quotes neither the URL nor its token.
func TestWebhookFailuresRetried(t *testing.T) {
	noLeaks(t)
	w := newHookWorld(t, true, func(c *config.Config) { c.Webhooks.Timeout = 300 * time.Millisecond })
	var redirected atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { redirected.Add(1) }))
	defer other.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String()
	closed.Close()
	serve := func(h http.HandlerFunc) string {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return s.URL
	}
	cases := []struct {
		merchant, base string
		status         int
		reason         string
	}{
		{"REFUSED", refused, 0, "connection refused"},
		{"SLOW", serve(func(rw http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // so that the server sees the client go
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		}), 0, "no answer within 300ms"},
		{"REDIRECT", serve(func(rw http.ResponseWriter, r *http.Request) {
			http.Redirect(rw, r, other.URL+"/elsewhere", http.StatusFound)
		}), 302, "HTTP 302 Found"},
		{"GONEHOOK", serve(func(rw http.ResponseWriter, r *http.Request) { http.NotFound(rw, r) }), 404, "HTTP 404 Not Found"},
		{"BUSY", serve(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Retry-After", "120")
			rw.WriteHeader(http.StatusServiceUnavailable)
		}), 503, "HTTP 503 Service Unavailable"},
	}
	for _, c := range cases {
		secret := w.merchant(c.merchant, c.base+"/hooks/p4th-s3cr3t?token=s3cr3t")
		ev := w.queue(c.merchant)
		s := w.state(c.merchant, ev.ID, func(s store.WebhookState) bool { return s.Attempts >= 1 })
		if s.State != store.WebhookStateQueued || s.LastStatus != c.status || s.LastError != c.reason {
			t.Errorf("%s: %s", c.merchant, brief(s))
		}
		wait := s.NextAt.Sub(s.Created)
		switch c.merchant {
		case "BUSY": // Retry-After: 120
			if wait < 120*time.Second || wait > 121*time.Second {
				t.Errorf("%s: due again after %v, want Retry-After's 2m", c.merchant, wait)
			}
		default:
			if wait > 2*time.Second {
				t.Errorf("%s: due again after %v", c.merchant, wait)
			}
		}
		if n := w.counter(c.merchant, webhookFailed); n != 1 {
			t.Errorf("%s: %d failures counted", c.merchant, n)
		}
		w.noSecrets(c.merchant, secret, "s3cr3t", "p4th", "token=", c.base)
	}
	if redirected.Load() != 0 {
		t.Error("a redirect was followed")
	}
}

// Outside the sandbox, a webhook URL to loopback over http:// — which
// store.ValidateMerchant lets through — is refused by checkWebhookURL,
// and an event for it is ended unsent rather than posted.
func TestWebhookOutsideSandbox(t *testing.T) {
	w := newHookWorld(t, false)
	r := newReceiver(t, w.now, 0)
	r.secret = func() string { return "" }
	url := r.srv.URL + "/hook"
	if err := w.g.checkWebhookURL(context.Background(), url); err == nil {
		t.Fatal("http:// to loopback accepted outside the sandbox")
	}
	w.merchant("LOCAL", "")
	if _, err := w.g.db.SetMerchantWebhook(context.Background(), "LOCAL", url); err != nil {
		t.Fatal(err) // the store checks only the syntax
	}
	ev := w.queue("LOCAL")
	s := w.state("LOCAL", ev.ID, func(s store.WebhookState) bool { return s.State != store.WebhookStateQueued })
	if s.State != store.WebhookStateUndeliverable || !strings.Contains(s.LastError, "http://") || strings.Contains(s.LastError, r.srv.URL) {
		t.Fatalf("%s", brief(s))
	}
	if n := len(r.got()); n != 0 {
		t.Fatalf("posted %d times", n)
	}
}

// The dial itself refuses internal addresses outside the sandbox, so a
// name that resolved to a public address when it was checked and to an
// internal one when posted to (DNS rebinding) gets nowhere: here
// "localhost", which resolves to loopback.
func TestWebhookDialRefusesInternal(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, sandbox := range []bool{false, true} {
		d := newWebhookDispatcher(&Gateway{cfg: config.Default(), log: slog.New(slog.DiscardHandler)}, sandbox)
		for _, host := range []string{"localhost", "127.0.0.1", "[::ffff:127.0.0.1]"} {
			resp, err := d.client.Post(fmt.Sprintf("http://%s:%d/hook", host, port), "application/json", strings.NewReader("{}"))
			if err == nil {
				resp.Body.Close()
			}
			if sandbox && err != nil {
				t.Errorf("sandbox, %s: %v", host, err)
			}
			if !sandbox && !errors.Is(err, errInternalAddr) {
				t.Errorf("outside the sandbox, %s: %v", host, err)
			}
			if !sandbox && err != nil {
				if why := describePostError(err, d.timeout); strings.Contains(why, "/hook") {
					t.Errorf("the reason quotes the URL: %s", why)
				}
			}
		}
		d.client.CloseIdleConnections()
	}
}

// fakeResolver resolves the names it holds; others do not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

// checkWebhookURL: https anywhere public; http:// only to loopback and
// only in the sandbox; outside it no internal address, as a literal in
// any of its forms or by resolution; never credentials. A refusal is a
// *FieldError that does not quote the URL.
func TestCheckWebhookURL(t *testing.T) {
	dns := fakeResolver{
		"shop.example":     {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"},
		"internal.example": {"10.1.2.3"},
		"mixed.example":    {"93.184.216.34", "192.168.0.10"},
		"mapped.example":   {"::ffff:127.0.0.1"},
		"cgnat.example":    {"100.100.1.1"},
		"meta.example":     {"169.254.169.254"},
		"localhost":        {"127.0.0.1", "::1"},
	}
	const (
		both    = iota // accepted in and outside the sandbox
		sandbox        // accepted only in the sandbox
		never          // refused in both
	)
	tests := []struct {
		name string
		url  string
		ok   int
	}{
		{"https name", "https://shop.example/paygate?token=s3cr3t", both},
		{"https name with port", "https://shop.example:8443/hook", both},
		{"https public IPv4", "https://93.184.216.34/hook", both},
		{"https public IPv6", "https://[2606:2800:220:1:248:1893:25c8:1946]/hook", both},
		{"http public name", "http://shop.example/hook?token=s3cr3t", never},
		{"http public IP", "http://93.184.216.34/hook", never},
		{"http private IP", "http://10.0.0.1/hook", never},
		{"http 127.0.0.1", "http://127.0.0.1:9000/hook?token=s3cr3t", sandbox},
		{"http localhost", "http://localhost:9000/hook", sandbox},
		{"http ::1", "http://[::1]:9000/hook", sandbox},
		{"https 127.0.0.1", "https://127.0.0.1/hook", sandbox},
		{"https localhost", "https://localhost/hook", sandbox},
		{"https localhost.", "https://localhost./hook", sandbox},
		{"https sub.localhost", "https://a.localhost/hook", sandbox},
		{"https 10/8", "https://10.0.0.5/hook?token=s3cr3t", sandbox},
		{"https 172.16/12", "https://172.16.0.1/hook", sandbox},
		{"https 192.168/16", "https://192.168.1.1/hook", sandbox},
		{"https link-local", "https://169.254.169.254/latest/meta-data", sandbox},
		{"https CGNAT", "https://100.64.0.1/hook", sandbox},
		{"https 0.0.0.0", "https://0.0.0.0/hook", sandbox},
		{"https broadcast", "https://255.255.255.255/hook", sandbox},
		{"https multicast", "https://224.0.0.1/hook", sandbox},
		{"https ::", "https://[::]/hook", sandbox},
		{"https ::1", "https://[::1]/hook", sandbox},
		{"https fe80::1", "https://[fe80::1]/hook", sandbox},
		{"https fe80::1 with zone", "https://[fe80::1%25eth0]/hook", sandbox},
		{"https fc00::/7", "https://[fd12:3456::1]/hook", sandbox},
		{"https ff02::1", "https://[ff02::1]/hook", sandbox},
		{"https mapped 10/8", "https://[::ffff:10.0.0.1]/hook", sandbox},
		{"https mapped loopback", "https://[::ffff:127.0.0.1]/hook", sandbox},
		{"https mapped CGNAT", "https://[::ffff:100.64.0.1]/hook", sandbox},
		{"https mapped benchmarking", "https://[::ffff:198.18.0.1]/hook", sandbox},
		{"https NAT64 of 10/8", "https://[64:ff9b::a00:1]/hook", sandbox},
		{"https 6to4 of 192.168/16", "https://[2002:c0a8:101::1]/hook", sandbox},
		{"https decimal address", "https://2130706433/hook", sandbox},
		{"https short address", "https://127.1/hook", sandbox},
		{"https hex address", "https://0x7f.1/hook", sandbox},
		{"https name to private", "https://internal.example/hook?token=s3cr3t", sandbox},
		{"https name to public and private", "https://mixed.example/hook", sandbox},
		{"https name to mapped loopback", "https://mapped.example/hook", sandbox},
		{"https name to CGNAT", "https://cgnat.example/hook", sandbox},
		{"https name to metadata", "https://meta.example/hook", sandbox},
		{"https name that does not resolve", "https://nowhere.example/hook", sandbox},
		{"user and password", "https://user:s3cr3t@shop.example/hook", never},
		{"user only", "https://s3cr3t@shop.example/hook", never},
		{"ftp", "ftp://shop.example/s3cr3t", never},
		{"relative", "/hook?token=s3cr3t", never},
		{"empty", "", never},
		{"no host", "https:///hook", never},
		{"too long", "https://shop.example/" + strings.Repeat("s", 2100), never},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, inSandbox := range []bool{false, true} {
				err := checkWebhook(context.Background(), tt.url, inSandbox, dns)
				want := tt.ok == both || tt.ok == sandbox && inSandbox
				if (err == nil) != want {
					t.Fatalf("sandbox %v: %v, want accepted %v", inSandbox, err, want)
				}
				if err == nil {
					continue
				}
				var fe *store.FieldError
				if !errors.As(err, &fe) || fe.Field != "webhook" {
					t.Fatalf("sandbox %v: %T %v is not a webhook *FieldError", inSandbox, err, err)
				}
				if strings.Contains(err.Error(), "s3cr3t") || tt.url != "" && strings.Contains(err.Error(), tt.url) {
					t.Fatalf("the error quotes the URL: %v", err)
				}
			}
		})
	}
}

// The backoff doubles from firstRetry with jitter and never
// passes webhooks.max_backoff.
func TestWebhookDelay(t *testing.T) {
	limit := time.Hour
	for attempts := range 40 {
		want := min(firstRetry<<min(attempts, 30), limit)
		for range 50 {
			d := retryDelay(attempts, limit)
			if d < want/2 || d > want || d > limit {
				t.Fatalf("after %d failures: %v, want %v to %v", attempts+1, d, want/2, want)
			}
		}
	}
}
