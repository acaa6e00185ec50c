package bank_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
)

// TestTamperedRequests sends the simulator requests whose signature was
// made for something else — another body, path, query, method, time or
// key — and stale ones: each is refused with a signed 401 and nothing
// is applied.
func TestTamperedRequests(t *testing.T) {
	sim, err := banksim.New(banksim.Config{Secret: secret, Code: code, Accounts: testAccounts()})
	must(t, err)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	transfer := func(amount int64) []byte {
		b, _ := json.Marshal(map[string]any{
			"id": "T1", "reference": "R", "debit": map[string]string{"bank": code, "account": alice.Reveal()},
			"credit": map[string]string{"bank": code, "account": bob.Reveal()}, "amount": amount, "fee": 0,
			"currency": "CNY", "narrative": "",
		})
		return b
	}
	now := time.Now()
	sign := func(t time.Time, method, path string, body []byte) string {
		return bank.SignRequest(secret, t, method, path, body)
	}
	good := sign(now, "POST", "/v1/transfers", transfer(100))
	tests := []struct {
		name         string
		method, path string
		body         []byte
		header       string
		wantStatus   int
		wantCode     string
	}{
		{"body", "POST", "/v1/transfers", transfer(90000), good, 401, "bad_signature"},
		{"path", "POST", "/v1/transfers/", transfer(100), good, 401, "bad_signature"},
		{"query", "POST", "/v1/transfers?amount=1", transfer(100), good, 401, "bad_signature"},
		{"method", "POST", "/v1/transfers", transfer(100), sign(now, "PUT", "/v1/transfers", transfer(100)), 401, "bad_signature"},
		{"GET signed as POST", "GET", "/v1/transfers/T0", nil, sign(now, "POST", "/v1/transfers/T0", nil), 401, "bad_signature"},
		{"timestamp far off", "POST", "/v1/transfers", transfer(100), strings.Replace(good, "t=", "t=1", 1), 401, "stale_signature"},
		{"timestamp moved by a second", "POST", "/v1/transfers", transfer(100),
			strings.Replace(good, "t="+strconv.FormatInt(now.Unix(), 10), "t="+strconv.FormatInt(now.Unix()+1, 10), 1), 401, "bad_signature"},
		{"stale", "POST", "/v1/transfers", transfer(100), sign(now.Add(-6*time.Minute), "POST", "/v1/transfers", transfer(100)), 401, "stale_signature"},
		{"from the future", "POST", "/v1/transfers", transfer(100), sign(now.Add(6*time.Minute), "POST", "/v1/transfers", transfer(100)), 401, "stale_signature"},
		{"another key", "POST", "/v1/transfers", transfer(100), bank.SignRequest([]byte("guess"), now, "POST", "/v1/transfers", transfer(100)), 401, "bad_signature"},
		{"missing", "POST", "/v1/transfers", transfer(100), "", 401, "bad_signature"},
		{"unknown path, unsigned", "GET", "/v1/secret", nil, "", 401, "bad_signature"},
		{"unknown path, signed", "GET", "/v1/secret", nil, sign(now, "GET", "/v1/secret", nil), 404, "not_found"},
		{"inquiry, signed", "GET", "/v1/transfers/T0", nil, sign(now, "GET", "/v1/transfers/T0", nil), 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			must(t, err)
			if tt.header != "" {
				req.Header.Set(bank.SignatureHeader, tt.header)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "T1")
			resp, err := srv.Client().Do(req)
			must(t, err)
			defer resp.Body.Close()
			var buf bytes.Buffer
			buf.ReadFrom(resp.Body)
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			json.Unmarshal(buf.Bytes(), &e)
			if resp.StatusCode != tt.wantStatus || e.Error.Code != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, buf.String(), tt.wantStatus, tt.wantCode)
			}
			if err := bank.CheckResponse(secret, time.Now(), resp.Header.Get(bank.SignatureHeader), resp.StatusCode, buf.Bytes()); err != nil {
				t.Fatalf("the refusal is not signed: %v", err)
			}
		})
	}
	if _, ok := sim.Transfer("T1"); ok {
		t.Fatal("a tampered transfer was applied")
	}
	if st := sim.Stats(); st.BadRequests != 12 {
		t.Errorf("bad requests %d, want 12", st.BadRequests)
	}
	must(t, sim.Audit())
}

// tamperer sits between the connector and the simulator and changes the
// first answer on a path.
type tamperer struct {
	next http.Handler
	path string
	fn   func(status *int, h http.Header, body *[]byte)

	mu   sync.Mutex
	done bool
}

func (p *tamperer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	status, body := rec.Code, rec.Body.Bytes()
	p.mu.Lock()
	if !p.done && r.URL.Path == p.path {
		p.done = true
		p.fn(&status, rec.Header(), &body)
	}
	p.mu.Unlock()
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	w.Write(body)
}

// TestTamperedResponses changes the bank's signed answers on the way —
// body, status, timestamp, signature — and checks the connector believes
// none of them: the tampered answer is an unknown outcome, and the
// connector gets the truth by asking again. Tampering cannot turn a
// rejected transfer into a completed one, or a missing account into one
// that exists.
func TestTamperedResponses(t *testing.T) {
	bumpT := func(h http.Header) {
		sig := h.Get(bank.SignatureHeader)
		ts, rest, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
		n, _ := strconv.ParseInt(ts, 10, 64)
		h.Set(bank.SignatureHeader, "t="+strconv.FormatInt(n-1, 10)+","+rest)
	}
	tampers := []struct {
		name string
		fn   func(status *int, h http.Header, body *[]byte)
	}{
		{"body", func(_ *int, _ http.Header, b *[]byte) {
			*b = bytes.Replace(*b, []byte(`"exists":false`), []byte(`"exists":true`), 1)
			*b = bytes.Replace(*b, []byte(`"status":"rejected"`), []byte(`"status":"completed"`), 1)
		}},
		{"status", func(s *int, _ http.Header, _ *[]byte) { *s = http.StatusAccepted }},
		{"timestamp", func(_ *int, h http.Header, _ *[]byte) { bumpT(h) }},
		{"signature", func(s *int, h http.Header, b *[]byte) {
			h.Set(bank.SignatureHeader, bank.SignResponse([]byte("forged"), time.Now(), *s, *b))
		}},
		{"stale signature", func(s *int, h http.Header, b *[]byte) {
			h.Set(bank.SignatureHeader, bank.SignResponse(secret, time.Now().Add(-6*time.Minute), *s, *b))
		}},
		{"removed", func(_ *int, h http.Header, _ *[]byte) { h.Del(bank.SignatureHeader) }},
	}
	for _, tp := range tampers {
		t.Run("verify/"+tp.name, func(t *testing.T) {
			sim, conn, rec := tamperEnv(t, "/v1/accounts/verify", tp.fn)
			got, err := conn.Verify(ctxT(t, 5*time.Second), bank.VerifyRequest{Bank: code, Account: nobody, Phone: alicePh})
			if err != nil || got.Exists {
				t.Fatalf("verify = %+v, %v; want a missing account", got, err)
			}
			calls, _, _ := rec.snapshot()
			want := []call{{bank.MethodVerify, bank.OutcomeBadSignature}, {bank.MethodVerify, bank.OutcomeOK}}
			if !slices.Equal(calls, want) {
				t.Fatalf("requests %v, want %v", calls, want)
			}
			must(t, sim.Audit())
		})
		t.Run("transfer/"+tp.name, func(t *testing.T) {
			sim, conn, rec := tamperEnv(t, "/v1/transfers", tp.fn)
			res, err := conn.Transfer(ctxT(t, 5*time.Second), transferReq("tamper", bob, alice, 9_000))
			if err != nil || res.Status != bank.StatusRejected || res.Reason != banksim.ReasonInsufficientFunds {
				t.Fatalf("transfer = %+v, %v; want rejected for insufficient funds", res, err)
			}
			calls, _, _ := rec.snapshot()
			want := []call{{bank.MethodTransfer, bank.OutcomeBadSignature}, {bank.MethodTransferStatus, bank.OutcomeOK}}
			if !slices.Equal(calls, want) {
				t.Fatalf("requests %v, want %v", calls, want)
			}
			if debits(sim, "tamper") != 0 {
				t.Fatal("a rejected transfer was debited")
			}
			must(t, sim.Audit())
		})
	}
}

func tamperEnv(t *testing.T, path string, fn func(*int, http.Header, *[]byte)) (*banksim.Bank, *bank.HTTP, *recorder) {
	t.Helper()
	sim, err := banksim.New(banksim.Config{Secret: secret, Code: code, Accounts: testAccounts()})
	must(t, err)
	srv := httptest.NewServer(&tamperer{next: sim.Handler(), path: path, fn: fn})
	t.Cleanup(srv.Close)
	rec := &recorder{}
	conn, err := bank.NewHTTP(bank.HTTPConfig{URL: srv.URL, Secret: secret, BackoffMin: time.Millisecond,
		BackoffMax: 5 * time.Millisecond, Hooks: rec.hooks()})
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	return sim, conn, rec
}
