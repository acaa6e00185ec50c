package gateway_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/store"
)

// merchant is a merchant's system calling the API with its key.
type merchant struct {
	w   *world
	key string
}

// apiKey makes an API key for the merchant with code.
func (w *world) apiKey(code string) *merchant {
	w.t.Helper()
	key, _, err := w.gw.DB().AddAPIKey(context.Background(), code)
	if err != nil {
		w.t.Fatal(err)
	}
	return &merchant{w: w, key: key}
}

// call makes one API call and returns the status and the decoded body.
func (m *merchant) call(method, path string, body any, header ...string) (int, map[string]any) {
	m.w.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			m.w.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+m.w.gw.HTTPAddr()+path, rd)
	if err != nil {
		m.w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if m.key != "" {
		req.Header.Set("Authorization", "Bearer "+m.key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		m.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			m.w.t.Fatalf("%s %s: %d, not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// request posts a payment request of amount from phone.
func (m *merchant) request(phone string, amount int64, mode, pin string) (int, map[string]any) {
	m.w.t.Helper()
	body := map[string]any{"merchant": "DEMO", "phone": phone, "amount": amount, "currency": "CNY", "reference": "INV-1", "mode": mode}
	if pin != "" {
		body["pin"] = pin
	}
	return m.call("POST", "/v1/payment-requests", body)
}

// errCode is the error code of an API answer.
func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func want(t *testing.T, what string, status, wantStatus int, body map[string]any) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("%s: %d %v, want %d", what, status, body, wantStatus)
	}
}

// TestMerchantTerminalMode: the terminal posts the PIN with the request,
// the code reaches the customer by SMS, a wrong code is refused and the
// request stays, the right one authorizes; the long-poll returns the
// receipt a terminal prints; both sides get receipts; invariants hold.
func TestMerchantTerminalMode(t *testing.T) {
	w, li, _ := moneyWorld(t)
	shop := w.apiKey("DEMO")
	st, body := shop.request("13800138000", 1250, "terminal", liPIN)
	want(t, "request", st, http.StatusCreated, body)
	if body["status"] != "pending_code" || body["phone"] == liNum || body["reference"] != "INV-1" || body["expires_at"] == nil {
		t.Fatalf("created: %v", body)
	}
	id := body["id"].(string)
	msg := li.expect(1)[0]
	mustContainAll(t, msg, "paygate code", "12.50 CNY to Demo Shop", "cashier")
	code := sixDigits.FindString(msg)

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	st, body = shop.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": wrong})
	want(t, "wrong code", st, http.StatusUnprocessableEntity, body)
	if errCode(body) != "auth_failed" {
		t.Fatalf("wrong code: %v", body)
	}
	mustContain(t, li.expect(1)[0], "Wrong PIN or code")

	done := make(chan map[string]any, 1)
	go func() {
		_, b := shop.call("GET", "/v1/payment-requests/"+id+"?wait=20s", nil)
		done <- b
	}()
	st, body = shop.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": code})
	want(t, "code", st, http.StatusAccepted, body)
	if body["status"] != "authorized" || body["id"] != id {
		t.Fatalf("code: %v", body)
	}
	final := <-done
	if final["status"] != "completed" {
		t.Fatalf("long-poll: %v", final)
	}
	rc, _ := final["receipt"].(map[string]any)
	if rc == nil || rc["merchant_name"] != "Demo Shop" || rc["amount"] != 1250.0 || rc["bank_reference"] == "" ||
		rc["payer"] == liNum || !strings.Contains(rc["payer"].(string), "*") || len(rc["reference"].(string)) != flows.TransferRefLen {
		t.Fatalf("receipt: %v", rc)
	}
	// The code posted again: the request as it stands, no failure.
	st, body = shop.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": code})
	want(t, "code again", st, http.StatusAccepted, body)
	mustContainAll(t, strings.Join(li.expect(2), "\n"), "Confirmed", "Paid 12.50 CNY to Demo Shop")
	w.check(liNum, shopNum)
}

// TestMerchantTerminalWrongPIN: a wrong PIN at the terminal is refused
// like a wrong code (the same answer), counts against the phone — three
// lock it, told by SMS and by 423 with the lock's end — and ends that
// request.
func TestMerchantTerminalWrongPIN(t *testing.T) {
	w, li, _ := moneyWorld(t)
	shop := w.apiKey("DEMO")
	var ids []string
	for i := 1; i <= 3; i++ {
		st, body := shop.request(liNum, 500, "terminal", "111111")
		if i < 3 {
			want(t, "wrong PIN", st, http.StatusUnprocessableEntity, body)
			if errCode(body) != "auth_failed" {
				t.Fatalf("wrong PIN %d: %v", i, body)
			}
		} else {
			want(t, "third wrong PIN", st, http.StatusLocked, body)
			if e := body["error"].(map[string]any); e["locked_until"] == nil {
				t.Fatalf("locked: %v", body)
			}
		}
		_ = ids
	}
	texts := strings.Join(li.expect(3), "\n")
	mustContainAll(t, texts, "Wrong PIN or code", "locked")
	st, body := shop.request(liNum, 500, "terminal", liPIN)
	want(t, "while locked", st, http.StatusLocked, body)
	st, body = shop.request(liNum, 500, "push", "")
	want(t, "push while locked", st, http.StatusLocked, body)
	for _, tr := range w.transfers() {
		if tr.State != flows.TransferCancelled {
			t.Fatalf("transfer %s is %s, want cancelled", tr.Ref, tr.State)
		}
	}
	w.check(liNum, shopNum)
}

// TestMerchantPushMode: the phone gets the request by SMS and a USSD
// prompt, types the PIN on the screen, gets the code by SMS and reads it
// to the terminal, which posts it.
//
// The merchant's webhook server fails its first answer; the event comes
// again, signed, and the receiver checks the signature with its own code.
func TestMerchantPushMode(t *testing.T) {
	w := newWorldWith(t, worldOptions{sandbox: true})
	w.moneySetup()
	rcv := newHookReceiver(t, 1)
	secret, err := w.gw.DB().SetMerchantWebhook(context.Background(), "DEMO", rcv.srv.URL+"/hooks")
	if err != nil {
		t.Fatal(err)
	}
	rcv.secret = secret
	h := w.handset(liNum)
	shop := w.apiKey("DEMO")
	st, body := shop.request(liNum, 700, "push", "")
	want(t, "push", st, http.StatusCreated, body)
	if body["status"] != "pending_pin" {
		t.Fatalf("created: %v", body)
	}
	id := body["id"].(string)
	mustContain(t, h.nextSMS(), "Demo Shop (DEMO) asks you to pay 7.00 CNY")
	h.is(h.next(), false, "Demo Shop asks you to pay 7.00 CNY", "Enter your PIN")
	// Before the PIN there is no code to post.
	st, body = shop.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": "123456"})
	want(t, "code before PIN", st, http.StatusConflict, body)
	h.is(h.answer(liPIN), false, "code")
	code := sixDigits.FindString(h.nextSMS())
	st, body = shop.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": code})
	want(t, "code", st, http.StatusAccepted, body)
	_, final := shop.call("GET", "/v1/payment-requests/"+id+"?wait=20s", nil)
	if final["status"] != "completed" {
		t.Fatalf("final: %v", final)
	}
	ev := rcv.event(t)
	if ev["type"] != "payment_request.completed" || ev["data"].(map[string]any)["id"] != id ||
		ev["data"].(map[string]any)["receipt"] == nil {
		t.Fatalf("webhook: %v", ev)
	}
	if rcv.attempts() < 2 {
		t.Fatalf("%d attempts, want a retry after the failure", rcv.attempts())
	}
	w.check(liNum, shopNum)
}

// hookReceiver is a merchant's webhook server: it fails the first fail
// posts with 500, then verifies each post's signature (its own code of
// SPEC §7's scheme) and keeps the events, one per event id.
type hookReceiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	fail   int
	posts  int
	events map[string]map[string]any
	got    chan map[string]any
}

func newHookReceiver(t *testing.T, fail int) *hookReceiver {
	r := &hookReceiver{fail: fail, events: map[string]map[string]any{}, got: make(chan map[string]any, 16)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts++
		if r.posts <= r.fail {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		var ts, sig string
		for _, part := range strings.Split(req.Header.Get("Paygate-Signature"), ",") {
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "t":
				ts = v
			case "v1":
				sig = v
			}
		}
		mac := hmac.New(sha256.New, []byte(r.secret))
		mac.Write([]byte(ts + "." + string(body)))
		if sig == "" || !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil)))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			t.Errorf("webhook signature does not verify")
			return
		}
		var ev map[string]any
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body: %v", err)
			return
		}
		id := req.Header.Get("Paygate-Event-Id")
		if id == "" || id != ev["id"] {
			t.Errorf("event id header %q, body %v", id, ev["id"])
		}
		if _, dup := r.events[id]; !dup {
			r.events[id] = ev
			r.got <- ev
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) event(t *testing.T) map[string]any {
	t.Helper()
	select {
	case ev := <-r.got:
		return ev
	case <-time.After(20 * time.Second):
		t.Fatal("no webhook event")
		return nil
	}
}

func (r *hookReceiver) attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.posts
}

// TestMerchantRequestExpiry: a request nobody answers expires; its code
// posted late is 410 and the long-poll shows it expired.
func TestMerchantRequestExpiry(t *testing.T) {
	w, li, _ := moneyWorld(t)
	shop := w.apiKey("DEMO")
	st, body := shop.request(liNum, 300, "terminal", liPIN)
	want(t, "request", st, http.StatusCreated, body)
	id := body["id"].(string)
	code := sixDigits.FindString(li.expect(1)[0])
	w.clock.add(flows.PendingTTL + time.Second)
	st, body = shop.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": code})
	want(t, "late code", st, http.StatusGone, body)
	_, body = shop.call("GET", "/v1/payment-requests/"+id, nil)
	if body["status"] != "expired" {
		t.Fatalf("after expiry: %v", body)
	}
	w.check(liNum, shopNum)
}

// TestMerchantAPIAuth: no key, a wrong key and a revoked key are 401; a
// merchant cannot ask in another's name (403) nor see another's request
// (404, as if it did not exist); bad fields are 422 or 400 with the
// field named and no PIN echoed.
func TestMerchantAPIAuth(t *testing.T) {
	w, _, _ := moneyWorld(t)
	ctx := context.Background()
	if err := w.gw.DB().AddMerchant(ctx, flows.Merchant{Code: "OTHER", Name: "Other Shop", Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009002"}}); err != nil {
		t.Fatal(err)
	}
	shop, other := w.apiKey("DEMO"), w.apiKey("OTHER")
	for _, key := range []string{"", "pk_nonsense", shop.key + "x", "Basic " + shop.key} {
		m := &merchant{w: w, key: key}
		st, body := m.request(liNum, 100, "push", "")
		want(t, "bad key "+key, st, http.StatusUnauthorized, body)
		if errCode(body) != "unauthorized" {
			t.Fatalf("bad key: %v", body)
		}
	}
	st, body := shop.request(liNum, 100, "push", "")
	want(t, "request", st, http.StatusCreated, body)
	id := body["id"].(string)
	st, body = other.call("GET", "/v1/payment-requests/"+id, nil)
	want(t, "other's request", st, http.StatusNotFound, body)
	st, body = other.call("POST", "/v1/payment-requests/"+id+"/code", map[string]string{"code": "123456"})
	want(t, "other's code", st, http.StatusNotFound, body)
	st, body = other.request(liNum, 100, "push", "") // merchant DEMO with OTHER's key
	want(t, "another's name", st, http.StatusForbidden, body)

	for _, c := range []struct {
		body   map[string]any
		status int
		field  string
	}{
		{map[string]any{"merchant": "DEMO", "phone": "12", "amount": 100, "currency": "CNY", "mode": "push"}, 422, "phone"},
		{map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 0, "currency": "CNY", "mode": "push"}, 422, "amount"},
		{map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 100, "currency": "USD", "mode": "push"}, 422, "currency"},
		{map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 100, "currency": "CNY", "mode": "mail"}, 422, "mode"},
		{map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 100, "currency": "CNY", "mode": "terminal", "pin": "12"}, 422, "pin"},
		{map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 100, "currency": "CNY", "mode": "push", "pin": "987654"}, 422, "pin"},
		{map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 1.5, "currency": "CNY", "mode": "push"}, 400, "amount"},
		{map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 100, "currency": "CNY", "mode": "push", "tip": 1}, 400, "tip"},
	} {
		st, body := shop.call("POST", "/v1/payment-requests", c.body)
		want(t, c.field, st, c.status, body)
		msg := body["error"].(map[string]any)["message"].(string)
		if !strings.Contains(msg, c.field) || strings.Contains(msg, "987654") {
			t.Errorf("%s: message %q", c.field, msg)
		}
	}
	st, body = shop.call("GET", "/v1/payment-requests/"+id+"?wait=2h", nil)
	want(t, "wait too long", st, http.StatusBadRequest, body)
}

// TestMerchantPushLimit: at most merchants.pushes_per_hour requests per
// phone per hour from one merchant; the next hour may ask again.
func TestMerchantPushLimit(t *testing.T) {
	w, _, _ := moneyWorld(t)
	shop := w.apiKey("DEMO")
	for i := 0; i < 3; i++ {
		st, body := shop.request(liNum, 100, "push", "")
		want(t, "push", st, http.StatusCreated, body)
	}
	st, body := shop.request(liNum, 100, "push", "")
	want(t, "fourth push", st, http.StatusTooManyRequests, body)
	if errCode(body) != "rate_limited" {
		t.Fatalf("fourth: %v", body)
	}
	st, body = shop.request(wangNum, 100, "push", "")
	want(t, "another phone", st, http.StatusCreated, body)
	w.clock.add(time.Hour + time.Second)
	st, body = shop.request(liNum, 100, "push", "")
	want(t, "next hour", st, http.StatusCreated, body)
}

// TestMerchantTerminalSuspended: failures at one merchant's terminals
// across phones suspend its terminal mode (push still works) until an
// operator lifts it.
func TestMerchantTerminalSuspended(t *testing.T) {
	w, _, _ := moneyWorld(t, func(c *config.Config) {
		c.Merchants.TerminalFailures, c.Merchants.TerminalPhones = 3, 2
	})
	shop := w.apiKey("DEMO")
	for _, phone := range []string{liNum, liNum, wangNum} {
		st, body := shop.request(phone, 100, "terminal", "111111")
		want(t, "wrong PIN", st, http.StatusUnprocessableEntity, body)
	}
	st, body := shop.request(wangNum, 100, "terminal", wangPIN)
	want(t, "suspended", st, http.StatusForbidden, body)
	mustContain(t, body["error"].(map[string]any)["message"].(string), "suspended")
	st, body = shop.request(wangNum, 100, "push", "")
	want(t, "push while suspended", st, http.StatusCreated, body)
	if err := w.gw.DB().SetTerminalSuspended(context.Background(), "DEMO", false); err != nil {
		t.Fatal(err)
	}
	st, body = shop.request(wangNum, 100, "terminal", wangPIN)
	want(t, "lifted", st, http.StatusCreated, body)
}

// transfers are every transfer of the world, newest first.
func (w *world) transfers() []flows.Transfer {
	w.t.Helper()
	all, err := w.gw.DB().Transfers(context.Background(), store.TransferFilter{})
	if err != nil {
		w.t.Fatal(err)
	}
	return all
}

// mustContainAll fails t unless s holds every one of subs.
func mustContainAll(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		mustContain(t, s, sub)
	}
}

// TestMerchantIdempotency: the same Idempotency-Key and body replays the
// first answer (one request made, not two); the same key with another
// body is 409; keys are per merchant.
func TestMerchantIdempotency(t *testing.T) {
	w, _, _ := moneyWorld(t)
	ctx := context.Background()
	if err := w.gw.DB().AddMerchant(ctx, flows.Merchant{Code: "OTHER", Name: "Other Shop", Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009002"}}); err != nil {
		t.Fatal(err)
	}
	shop, other := w.apiKey("DEMO"), w.apiKey("OTHER")
	body := map[string]any{"merchant": "DEMO", "phone": liNum, "amount": 100, "currency": "CNY", "reference": "A", "mode": "push"}
	st, first := shop.call("POST", "/v1/payment-requests", body, "Idempotency-Key", "order-17")
	want(t, "first", st, http.StatusCreated, first)
	st, again := shop.call("POST", "/v1/payment-requests", body, "Idempotency-Key", "order-17")
	want(t, "again", st, http.StatusCreated, again)
	if again["id"] != first["id"] {
		t.Fatalf("replay made another request: %v vs %v", again["id"], first["id"])
	}
	body["amount"] = 200
	st, conflict := shop.call("POST", "/v1/payment-requests", body, "Idempotency-Key", "order-17")
	want(t, "other body", st, http.StatusConflict, conflict)
	if errCode(conflict) != "idempotency_conflict" {
		t.Fatalf("other body: %v", conflict)
	}
	body["merchant"] = "OTHER"
	st, theirs := other.call("POST", "/v1/payment-requests", body, "Idempotency-Key", "order-17")
	want(t, "another merchant's same key", st, http.StatusCreated, theirs)
	if n := len(w.transfers()); n != 2 {
		t.Fatalf("%d transfers, want 2", n)
	}
}
