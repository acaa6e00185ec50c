package bank_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = bank.Secret("test-secret-shared-with-the-bank")

// The test bank's accounts.
const (
	code      = "PGB"
	alice     = flows.AccountNumber("6222000000000001")
	bob       = flows.AccountNumber("6222000000000002")
	closedAcc = flows.AccountNumber("6222000000000003")
	nobody    = flows.AccountNumber("6222000000009999")
	alicePh   = flows.MSISDN("+8613800138000")
	bobPh     = flows.MSISDN("+8613900139000")
)

func testAccounts() []banksim.Account {
	return []banksim.Account{
		{Bank: code, Number: alice, Holder: "Alice", Phone: alicePh, Balance: 100_000},
		{Bank: code, Number: bob, Holder: "Bob", Phone: bobPh, Balance: 5_000},
		{Bank: code, Number: closedAcc, Holder: "Carol", Balance: 1_000, Closed: true},
	}
}

func acct(n flows.AccountNumber) bank.Account { return bank.Account{Bank: code, Number: n} }

// recorder keeps what the connector's hooks heard.
type recorder struct {
	mu       sync.Mutex
	calls    []call
	breaker  []string
	finals   []*bank.FinalError
	resolved []bank.TransferResult
}

type call struct {
	method  string
	outcome bank.Outcome
}

func (r *recorder) hooks() *bank.Hooks {
	return &bank.Hooks{
		Call: func(method string, o bank.Outcome, _ time.Duration) {
			r.mu.Lock()
			r.calls = append(r.calls, call{method, o})
			r.mu.Unlock()
		},
		Breaker: func(from, to bank.BreakerState) {
			r.mu.Lock()
			r.breaker = append(r.breaker, from.String()+"→"+to.String())
			r.mu.Unlock()
		},
		FinalError: func(e *bank.FinalError) {
			r.mu.Lock()
			r.finals = append(r.finals, e)
			r.mu.Unlock()
		},
		Resolved: func(res bank.TransferResult, _ int) {
			r.mu.Lock()
			r.resolved = append(r.resolved, res)
			r.mu.Unlock()
		},
	}
}

func (r *recorder) snapshot() ([]call, []string, []*bank.FinalError) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...), append([]string(nil), r.breaker...), append([]*bank.FinalError(nil), r.finals...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.calls, r.breaker, r.finals, r.resolved = nil, nil, nil, nil
	r.mu.Unlock()
}

// env is a simulated bank behind an httptest server and a connector to it.
type env struct {
	sim  *banksim.Bank
	srv  *httptest.Server
	conn *bank.HTTP
	rec  *recorder
	logs *syncBuffer // the connector's logs, to look for leaks
}

type envOption func(*bank.HTTPConfig, *banksim.Config)

// newEnv starts a bank and a connector with fast test timings: 200ms per
// request, backoff from 1ms to 20ms. Options change either config.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	scfg := banksim.Config{Secret: secret, Code: code, Accounts: testAccounts()}
	ccfg := bank.HTTPConfig{
		Secret:          secret,
		Timeout:         200 * time.Millisecond,
		BackoffMin:      time.Millisecond,
		BackoffMax:      20 * time.Millisecond,
		BreakerCooldown: 50 * time.Millisecond,
	}
	for _, o := range opts {
		o(&ccfg, &scfg)
	}
	sim, err := banksim.New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{sim: sim, rec: &recorder{}, logs: &syncBuffer{}}
	e.srv = httptest.NewServer(sim.Handler())
	t.Cleanup(e.srv.Close)
	t.Cleanup(func() { sim.Close() })
	ccfg.URL = e.srv.URL
	ccfg.Hooks = e.rec.hooks()
	ccfg.Logger = newDebugLogger(e.logs)
	e.conn, err = bank.NewHTTP(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.conn.Close() })
	return e
}

func contextCanceled() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx, cancel
}

func newDebugLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// debits counts the debit postings of transfer id: at most 1 (I2).
func debits(sim *banksim.Bank, id string) int {
	n := 0
	for _, p := range sim.Postings(id) {
		if p.Amount < 0 {
			n++
		}
	}
	return n
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeBank answers every request with what answer returns, signed as
// sign says, and counts the requests.
type fakeBank struct {
	mu     sync.Mutex
	n      int
	answer func(n int, r *http.Request) (status int, body string, sign bool)
	header http.Header
}

func (f *fakeBank) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	n := f.n
	f.mu.Unlock()
	status, body, sign := f.answer(n, r)
	for k, v := range f.header {
		w.Header()[k] = v
	}
	if sign {
		w.Header().Set(bank.SignatureHeader, bank.SignResponse(secret, time.Now(), status, []byte(body)))
	}
	w.WriteHeader(status)
	w.Write([]byte(body))
}

func (f *fakeBank) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
