package banksim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
)

// ctl calls the control API and decodes the answer into v.
func ctl(t *testing.T, srv *httptest.Server, method, path, body string, want int, v any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func TestControlAPI(t *testing.T) {
	b := newBank(t, 2, 10_000)
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()

	var f faultsView
	ctl(t, srv, "GET", "/sim/faults", "", 200, &f)
	if f.StallAfter != 0 || f.Delay != "0s" || len(f.Script) != 0 {
		t.Fatalf("default faults %+v", f)
	}
	ctl(t, srv, "PUT", "/sim/faults", `{"stall_after":0.3,"delay":"2s","routes":["transfer"]}`, 200, &f)
	if f.StallAfter != 0.3 || f.Delay != "2s" || len(f.Routes) != 1 {
		t.Fatalf("after PUT: %+v", f)
	}
	if r := b.Faults().Rates(); r.StallAfter != 0.3 || r.Delay != 2*time.Second {
		t.Fatalf("rates %+v", r)
	}
	for _, bad := range []string{
		`{"drop_after":1.5}`, `{"drop_after":0.5,"error_before":0.6}`, `{"delay":"soon"}`, `{"delay":"-1s"}`,
		`{"routes":["everything"]}`, `{"bogus":1}`, `[]`, `{"latency":-0.1}`,
	} {
		ctl(t, srv, "PUT", "/sim/faults", bad, 400, nil)
	}
	if r := b.Faults().Rates(); r.StallAfter != 0.3 || r.DropAfter != 0 {
		t.Fatalf("a refused PUT changed the rates: %+v", r)
	}
	ctl(t, srv, "POST", "/sim/script", `{"route":"transfer","faults":["drop_after","error_before"]}`, 200, &f)
	if got := f.Script[RouteTransfer]; len(got) != 2 || got[0] != FaultDropAfter {
		t.Fatalf("script %+v", f.Script)
	}
	ctl(t, srv, "POST", "/sim/script", `{"route":"transfer","faults":["explode"]}`, 400, nil)
	ctl(t, srv, "POST", "/sim/script", `{"route":"nowhere","faults":[]}`, 400, nil)
	var cleared faultsView
	ctl(t, srv, "DELETE", "/sim/faults", "", 200, &cleared)
	if cleared.StallAfter != 0 || len(cleared.Script) != 0 {
		t.Fatalf("after DELETE: %+v", cleared)
	}

	var accs []accountView
	ctl(t, srv, "GET", "/sim/accounts", "", 200, &accs)
	if len(accs) != 3 || accs[0].Account != num(0).Reveal() || accs[0].Balance != 10_000 {
		t.Fatalf("accounts %+v", accs)
	}
	ctl(t, srv, "POST", "/sim/accounts", `{"bank":"PGB","account":"777","holder":"New","phone":"+8613500135000","balance":50}`, 201, nil)
	ctl(t, srv, "POST", "/sim/accounts", `{"bank":"PGB","account":"777"}`, 409, nil)
	ctl(t, srv, "POST", "/sim/accounts", `{"bank":"PGB","account":"778","balance":-1}`, 400, nil)
	if a, ok := b.Account("PGB", "777"); !ok || a.Balance != 50 {
		t.Fatalf("opened account %+v %v", a, ok)
	}

	ctl(t, srv, "GET", "/sim/transfers/t1", "", 404, nil)
	if _, e := b.transfer(req("t1", 0, 1, 100, 1)); e != nil {
		t.Fatal(e)
	}
	var tr struct {
		Status   string `json:"status"`
		Postings []struct {
			Amount int64 `json:"amount"`
		} `json:"postings"`
	}
	ctl(t, srv, "GET", "/sim/transfers/t1", "", 200, &tr)
	if tr.Status != bank.StatusCompleted || len(tr.Postings) != 3 || tr.Postings[0].Amount != -101 {
		t.Fatalf("transfer %+v", tr)
	}
	var audit struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	ctl(t, srv, "GET", "/sim/audit", "", 200, &audit)
	if !audit.OK {
		t.Fatalf("audit %+v", audit)
	}
	var st struct {
		Transfers int           `json:"transfers"`
		Faults    map[Fault]int `json:"faults"`
	}
	ctl(t, srv, "GET", "/sim/stats", "", 200, &st)
	if st.Transfers != 1 {
		t.Fatalf("stats %+v", st)
	}
	ctl(t, srv, "GET", "/sim/nothing", "", 404, nil)
	ctl(t, srv, "PATCH", "/sim/faults", "{}", 404, nil)
}

// signed sends a signed request straight to the handler.
func signed(t *testing.T, srv *httptest.Server, method, path, contentType string, body []byte) (int, string) {
	t.Helper()
	r, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set(bank.SignatureHeader, bank.SignRequest(secret, time.Now(), method, path, body))
	r.Header.Set("Content-Type", contentType)
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if err := bank.CheckResponse(secret, time.Now(), resp.Header.Get(bank.SignatureHeader), resp.StatusCode, b); err != nil {
		t.Errorf("%s %s: answer not signed: %v", method, path, err)
	}
	return resp.StatusCode, string(b)
}

// TestAPIRefusals: requests that are signed but wrong otherwise.
func TestAPIRefusals(t *testing.T) {
	b := newBank(t, 2, 10_000)
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	good := `{"id":"k1","reference":"R","debit":{"bank":"PGB","account":"` + num(0).Reveal() + `"},"credit":{"bank":"PGB","account":"` + num(1).Reveal() + `"},"amount":5,"fee":0,"currency":"CNY","narrative":""}`
	tests := []struct {
		name, method, path, ctype, body string
		idem                            string
		want                            int
		code                            string
	}{
		{"not JSON", "POST", "/v1/accounts/verify", "application/json", `{`, "", 400, "invalid_json"},
		{"unknown field", "POST", "/v1/accounts/verify", "application/json", `{"bank":"PGB","account":"1","phone":"+8613800138000","x":1}`, "", 400, "invalid_json"},
		{"two objects", "POST", "/v1/accounts/balance", "application/json", `{"bank":"PGB","account":"1"}{}`, "", 400, "invalid_json"},
		{"missing phone", "POST", "/v1/accounts/verify", "application/json", `{"bank":"PGB","account":"1"}`, "", 400, "invalid_request"},
		{"text body", "POST", "/v1/accounts/verify", "text/plain", `{}`, "", 415, "unsupported_media_type"},
		{"too large", "POST", "/v1/accounts/verify", "application/json", `{"bank":"` + strings.Repeat("x", 70<<10) + `"}`, "", 413, "too_large"},
		{"no idempotency key", "POST", "/v1/transfers", "application/json", good, "", 400, "invalid_request"},
		{"other idempotency key", "POST", "/v1/transfers", "application/json", good, "k2", 400, "idempotency_key_mismatch"},
		{"negative statement limit", "POST", "/v1/accounts/statement", "application/json", `{"bank":"PGB","account":"` + num(0).Reveal() + `","limit":-1}`, "", 400, "invalid_request"},
		{"wrong method", "DELETE", "/v1/transfers/k1", "application/json", ``, "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			r.Header.Set(bank.SignatureHeader, bank.SignRequest(secret, time.Now(), tt.method, tt.path, []byte(tt.body)))
			r.Header.Set("Content-Type", tt.ctype)
			if tt.idem != "" {
				r.Header.Set("Idempotency-Key", tt.idem)
			}
			resp, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.want || !strings.Contains(string(body), `"`+tt.code+`"`) {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, body, tt.want, tt.code)
			}
			if err := bank.CheckResponse(secret, time.Now(), resp.Header.Get(bank.SignatureHeader), resp.StatusCode, body); err != nil {
				t.Errorf("answer not signed: %v", err)
			}
		})
	}
	if st := b.Stats(); st.Transfers != 0 {
		t.Errorf("a refused request was recorded: %+v", st)
	}
	if code, body := signed(t, srv, "POST", "/v1/accounts/statement", "application/json", []byte(`{"bank":"PGB","account":"`+num(0).Reveal()+`","limit":0}`)); code != 200 || !strings.Contains(body, `"entries":[]`) {
		t.Errorf("empty statement: %d %s", code, body)
	}
}

// TestServerClose: Close ends the waits of injected faults, so a server
// with stalled requests shuts down at once.
func TestServerClose(t *testing.T) {
	b := newBank(t, 2, 10_000)
	srv, err := Listen("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Faults().SetRates(Rates{StallAfter: 1, Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	conn, err := bank.NewHTTP(bank.HTTPConfig{URL: srv.URL(), Secret: secret, Timeout: time.Hour, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() {
		_, err := conn.Verify(context.Background(), bank.VerifyRequest{Bank: "PGB", Account: num(0), Phone: "+8613800000000"})
		done <- err
	}()
	for b.Stats().Requests == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if err := srv.Err(); err != nil {
		t.Fatalf("Err after Close: %v", err)
	}
	<-done // the stalled answer came or the connection closed; either way it ended
}
