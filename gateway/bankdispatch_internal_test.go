package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/store"
)

// These tests drive the bank dispatcher by hand: a real store, the bank
// simulator over HTTP (SPEC §8), and the dispatcher's send called for
// each claimed request on a clock the test moves. Every outcome — a
// result, a retry, an unknown transfer, a refusal — is checked without
// waiting for anything to happen in the background.

// Demo accounts of banksim.DemoAccounts("PGB").
const (
	liPhone   flows.MSISDN        = "+8613800138000"
	wangPhone flows.MSISDN        = "+8613900139000"
	liAcct    flows.AccountNumber = "6222020000000001" // 1,000,000
	wangAcct  flows.AccountNumber = "6222020000000002" // 500,000
)

// rig is a bank dispatcher, not running, with what it needs.
type rig struct {
	t    *testing.T
	ctx  context.Context
	g    *Gateway
	d    *bankDispatcher
	sim  *banksim.Bank
	conn *faulty
	logs *lockedBuffer

	mu sync.Mutex
	at time.Time
}

// rigOptions change a rig from the defaults.
type rigOptions struct {
	// timeout is the connector's per-request timeout; default 10s.
	timeout time.Duration
	config  func(*config.Config)
}

func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	r := &rig{t: t, ctx: ctx, at: time.Now().UTC().Truncate(time.Second), logs: &lockedBuffer{}}

	cfg := config.Default()
	cfg.Timezone = "UTC"
	cfg.Keys.PepperFile = filepath.Join(dir, "pepper.key")
	if err := os.WriteFile(cfg.Keys.PepperFile, []byte(strings.Repeat("cd", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if opts.config != nil {
		opts.config(&cfg)
	}
	log := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "paygate.db"),
		store.Options{Keys: store.Keys{DataKey: [32]byte{1, 2, 3, 4}}, Logger: log, Now: r.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	engine, err := newEngine(cfg, flows.Argon2Params{}, true)
	if err != nil {
		t.Fatal(err)
	}

	secret := bank.Secret("rig-bank-secret")
	sim, err := banksim.New(banksim.Config{Secret: secret, Code: "PGB", Currency: "CNY", Accounts: banksim.DemoAccounts("PGB")})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := banksim.Listen("127.0.0.1:0", sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	g := &Gateway{cfg: cfg, log: log, now: r.now, db: db, engine: engine, metrics: newMetrics(db)}
	// One request per call and no breaker: an unanswered request ends
	// the call at once as unknown, so the dispatcher's own retries are
	// what the tests see.
	conn, err := bank.NewHTTP(bank.HTTPConfig{
		URL: srv.URL(), Secret: secret, MaxAttempts: 1, BreakerThreshold: -1,
		Timeout: opts.timeout, Hooks: g.metrics.bankHooks(), Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	r.conn = &faulty{Connector: conn, next: map[string][]error{}}
	g.bank = r.conn
	r.g, r.d, r.sim = g, newBankDispatcher(g), sim
	t.Cleanup(func() {
		if err := sim.Audit(); err != nil {
			t.Errorf("bank ledger: %v", err)
		}
		for _, secret := range []string{liAcct.Reveal(), wangAcct.Reveal()} {
			if strings.Contains(r.logs.String(), secret) {
				t.Errorf("an account number is in the logs")
			}
		}
	})
	return r
}

func (r *rig) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.at = r.at.Add(d)
	r.mu.Unlock()
}

// transfer stores an authorized transfer of amount from Li Wei to Wang
// Fang (or to credit, when given) and queues its bank request, as the
// flows' authorize step does; it returns the transfer.
func (r *rig) transfer(amount, fee flows.Amount, credit ...flows.AccountRef) flows.Transfer {
	r.t.Helper()
	now := r.now()
	t := flows.Transfer{
		ID: newID(), Ref: flows.NewTransferRef(), Kind: flows.OpSend,
		Payer: liPhone, Debit: flows.AccountRef{Bank: "PGB", Number: liAcct},
		Payee: string(wangPhone), PayeePhone: wangPhone, PayeeName: "W*** F***",
		Credit: flows.AccountRef{Bank: "PGB", Number: wangAcct},
		Amount: amount, Fee: fee, State: flows.TransferAuthorized,
		Created: now, Updated: now, Expires: now.Add(flows.PendingTTL), Lang: flows.English,
	}
	if len(credit) > 0 {
		t.Credit = credit[0]
	}
	r.queue(func(tx *store.Tx) error {
		if err := tx.CreateTransfer(r.ctx, t); err != nil {
			return err
		}
		return tx.QueueBank(r.ctx, flows.BankRequest{
			ID: t.ID, Phone: t.Payer, Kind: flows.BankTransfer, Bank: t.Debit.Bank, Account: t.Debit.Number,
			Reference: t.Ref, Credit: t.Credit, Amount: t.Amount, Fee: t.Fee, Narrative: t.Narrative,
		})
	})
	return t
}

// queue runs fn as one store step.
func (r *rig) queue(fn func(tx *store.Tx) error) {
	r.t.Helper()
	if err := r.g.db.Step(r.ctx, fn); err != nil {
		r.t.Fatal(err)
	}
}

// round claims every due request and sends each, as the running
// dispatcher would; it returns how many it sent.
func (r *rig) round() int {
	r.t.Helper()
	jobs, err := r.g.db.ClaimBank(r.ctx, r.d.owner, bankLease, bankBatch)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, j := range jobs {
		r.d.send(r.ctx, j)
	}
	return len(jobs)
}

// settle runs rounds, moving the clock past the longest backoff between
// them, until request id of phone is done; it fails the test after
// maxRounds. It returns the number of sends it took.
func (r *rig) settle(phone flows.MSISDN, id string, maxRounds int) int {
	r.t.Helper()
	sends := 0
	for range maxRounds {
		sends += r.round()
		if r.row(phone, id).State == "done" {
			return sends
		}
		r.advance(queryRetryCap + time.Second)
	}
	r.t.Fatalf("bank request %s not done after %d rounds: %+v", id, maxRounds, r.row(phone, id))
	return sends
}

// row returns the bank outbox row id of phone.
func (r *rig) row(phone flows.MSISDN, id string) store.BankState {
	r.t.Helper()
	rows, err := r.g.db.BankRequests(r.ctx, phone)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, row := range rows {
		if row.ID == id {
			return row
		}
	}
	r.t.Fatalf("no bank outbox row %s", id)
	return store.BankState{}
}

// state returns the state of transfer id as the store holds it.
func (r *rig) state(id string) flows.Transfer {
	r.t.Helper()
	var t flows.Transfer
	r.queue(func(tx *store.Tx) error {
		var err error
		t, err = tx.Transfer(r.ctx, id)
		return err
	})
	return t
}

// jobs returns paygate_bank_outbox_total{kind,result}.
func (r *rig) jobs(kind flows.BankKind, result string) int {
	return int(counterValue(r.t, r.g.metrics, "paygate_bank_outbox_total", "kind", string(kind), "result", result))
}

// counterValue reads the counter name with the labels kv (name, value
// pairs) from m's registry; 0 when it has no such series.
func counterValue(t *testing.T, m *metrics, name string, kv ...string) float64 {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if labels[kv[i]] != kv[i+1] {
					continue series
				}
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}

// wantOneDebit checks that the bank holds transfer t once, completed,
// with exactly one debit of amount plus fee from the payer.
func (r *rig) wantOneDebit(t flows.Transfer) {
	r.t.Helper()
	res, ok := r.sim.Transfer(t.ID)
	if !ok || res.Status != bank.StatusCompleted {
		r.t.Fatalf("the bank's transfer %s: %+v (received %v), want completed", t.ID, res, ok)
	}
	var debits []banksim.Posting
	for _, p := range r.sim.Postings(t.ID) {
		if p.Amount < 0 {
			debits = append(debits, p)
		}
	}
	if len(debits) != 1 || debits[0].Amount != -int64(t.Amount+t.Fee) || debits[0].Account.Number != t.Debit.Number {
		r.t.Fatalf("debits of %s: %+v, want one of %d", t.ID, debits, t.Amount+t.Fee)
	}
	if got := r.sim.Stats().Transfers; got != 1 {
		r.t.Fatalf("the bank received %d transfer ids, want 1", got)
	}
}

// wantDone checks that request id of phone is done and its sealed
// request erased.
func (r *rig) wantDone(phone flows.MSISDN, id string) {
	r.t.Helper()
	if row := r.row(phone, id); row.State != "done" || row.Sealed {
		r.t.Fatalf("bank outbox row %s: %+v, want done and erased", id, row)
	}
}

// wantState checks the transfer's state, and for a completed one its
// bank reference, for a rejected one its reason.
func (r *rig) wantState(id string, want flows.TransferState, reason string) {
	r.t.Helper()
	got := r.state(id)
	if got.State != want {
		r.t.Fatalf("transfer %s is %s, want %s", id, got.State, want)
	}
	switch want {
	case flows.TransferCompleted:
		res, _ := r.sim.Transfer(id)
		if got.BankRef == "" || got.BankRef != res.BankReference {
			r.t.Fatalf("transfer %s has bank reference %q, the bank %q", id, got.BankRef, res.BankReference)
		}
	case flows.TransferRejected:
		if got.Reason != reason {
			r.t.Fatalf("transfer %s rejected for %q, want %q", id, got.Reason, reason)
		}
	}
}

// faulty is the rig's bank connector: the real one, except that a call
// whose method has an error queued returns that error without reaching
// the bank. Safe for concurrent use.
type faulty struct {
	bank.Connector
	mu   sync.Mutex
	next map[string][]error // by bank.Method*
}

// fail makes the next calls of method return errs, one each.
func (f *faulty) fail(method string, errs ...error) {
	f.mu.Lock()
	f.next[method] = append(f.next[method], errs...)
	f.mu.Unlock()
}

func (f *faulty) take(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.next[method]
	if len(q) == 0 {
		return nil
	}
	f.next[method] = q[1:]
	return q[0]
}

func (f *faulty) Transfer(ctx context.Context, req bank.TransferRequest) (bank.TransferResult, error) {
	if err := f.take(bank.MethodTransfer); err != nil {
		return bank.TransferResult{}, err
	}
	return f.Connector.Transfer(ctx, req)
}

func (f *faulty) TransferStatus(ctx context.Context, id string) (bank.TransferResult, error) {
	if err := f.take(bank.MethodTransferStatus); err != nil {
		return bank.TransferResult{}, err
	}
	return f.Connector.TransferStatus(ctx, id)
}

func (f *faulty) Balance(ctx context.Context, a bank.Account) (bank.Balance, error) {
	if err := f.take(bank.MethodBalance); err != nil {
		return bank.Balance{}, err
	}
	return f.Connector.Balance(ctx, a)
}

// Errors as the HTTP connector returns them.
var (
	errCircuitOpen = fmt.Errorf("bank: transfer not sent: %w", bank.ErrCircuitOpen)
	errNoAnswer    = fmt.Errorf("bank: %w after 1 requests: EOF", bank.ErrUnknown)
	errForbidden   = &bank.FinalError{Method: bank.MethodTransfer, Status: 403, Code: "forbidden"}
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDispatchTransfer: a transfer reaches the bank once and its answer
// ends the outbox row and the transfer, whatever the bank does on the
// way (RELIABILITY R13: committed then no answer; 5xx; an open breaker;
// a refusal after an attempt that got through). An unknown outcome is
// told to the flow and the same id is sent again; it never expires.
func TestDispatchTransfer(t *testing.T) {
	tests := []struct {
		name string
		// setup injects faults before the first send.
		setup func(r *rig)
		// first checks the rig after the first send.
		first func(t *testing.T, r *rig, tr flows.Transfer)
		// unknown and retry are the outbox results counted on the way.
		unknown, retry int
	}{
		{name: "plain"},
		{
			name: "committed then the connection dropped",
			setup: func(r *rig) {
				r.sim.Faults().Script(banksim.RouteTransfer, banksim.FaultDropAfter)
			},
			first: func(t *testing.T, r *rig, tr flows.Transfer) {
				if _, ok := r.sim.Transfer(tr.ID); !ok {
					t.Fatal("the bank did not commit the first request")
				}
				if row := r.row(tr.Payer, tr.ID); row.State != "queued" || row.Attempts != 1 || row.LastError == "" {
					t.Fatalf("after an unknown outcome the row is %+v, want queued for another attempt", row)
				}
				r.wantState(tr.ID, flows.TransferUnknown, "")
			},
			unknown: 1,
		},
		{
			name: "committed then 500",
			setup: func(r *rig) {
				r.sim.Faults().Script(banksim.RouteTransfer, banksim.FaultErrorAfter)
			},
			unknown: 1,
		},
		{
			name: "5xx three times over an hour, then ok",
			setup: func(r *rig) {
				r.sim.Faults().Script(banksim.RouteTransfer, banksim.FaultErrorBefore, banksim.FaultErrorBefore, banksim.FaultErrorBefore)
			},
			first: func(t *testing.T, r *rig, tr flows.Transfer) {
				// A transfer never gives up, however late it is.
				r.advance(time.Hour)
			},
			unknown: 3,
		},
		{
			name:  "circuit open: nothing sent, not unknown",
			setup: func(r *rig) { r.conn.fail(bank.MethodTransfer, errCircuitOpen) },
			first: func(t *testing.T, r *rig, tr flows.Transfer) {
				if _, ok := r.sim.Transfer(tr.ID); ok {
					t.Fatal("the bank got a transfer the breaker stopped")
				}
				if got := r.state(tr.ID).State; got == flows.TransferUnknown {
					t.Fatalf("a transfer not sent became %s", got)
				}
			},
			retry: 1,
		},
		{
			name: "timed out at the connector",
			setup: func(r *rig) {
				r.conn.fail(bank.MethodTransfer, fmt.Errorf("bank: transfer: %w: %w", bank.ErrUnknown, context.DeadlineExceeded))
			},
			unknown: 1,
		},
		{
			name: "committed, then refused (403): the inquiry finds it",
			setup: func(r *rig) {
				r.sim.Faults().Script(banksim.RouteTransfer, banksim.FaultDropAfter)
				r.conn.fail(bank.MethodTransfer, nil, errForbidden)
			},
			unknown: 1,
		},
		{
			name: "refused (403) and the inquiry gets no answer: unknown",
			setup: func(r *rig) {
				r.conn.fail(bank.MethodTransfer, errForbidden)
				r.conn.fail(bank.MethodTransferStatus, errNoAnswer)
			},
			unknown: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			if tc.setup != nil {
				tc.setup(r)
			}
			tr := r.transfer(50_000, 200)
			if n := r.round(); n != 1 {
				t.Fatalf("claimed %d requests, want 1", n)
			}
			if tc.first != nil {
				tc.first(t, r, tr)
			}
			r.settle(tr.Payer, tr.ID, 10)
			r.wantOneDebit(tr)
			r.wantDone(tr.Payer, tr.ID)
			r.wantState(tr.ID, flows.TransferCompleted, "")
			if got := r.jobs(flows.BankTransfer, resultAnswered); got != 1 {
				t.Errorf("answered %d, want 1", got)
			}
			if got := r.jobs(flows.BankTransfer, resultUnknown); got != tc.unknown {
				t.Errorf("unknown %d times, want %d", got, tc.unknown)
			}
			if got := r.jobs(flows.BankTransfer, resultRetry); got != tc.retry {
				t.Errorf("retried %d times, want %d", got, tc.retry)
			}
			if got := r.jobs(flows.BankTransfer, resultFailed); got != 0 {
				t.Errorf("failed %d times", got)
			}
		})
	}
}

// TestDispatchTransferStalled: RELIABILITY R13 with a real timeout: the
// bank commits and answers only after the connector gave up. The
// transfer is unknown, sent again with its id, and debited once.
func TestDispatchTransferStalled(t *testing.T) {
	r := newRig(t, rigOptions{timeout: 300 * time.Millisecond})
	if err := r.sim.Faults().SetRates(banksim.Rates{Delay: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	r.sim.Faults().Script(banksim.RouteTransfer, banksim.FaultStallAfter)
	tr := r.transfer(1_000, 0)
	r.round()
	if _, ok := r.sim.Transfer(tr.ID); !ok {
		// A loaded machine may take the whole timeout to connect; the
		// stall then meets a later attempt, which ends the same way.
		t.Log("the first request did not reach the bank within the timeout")
	}
	if got := r.state(tr.ID).State; got != flows.TransferUnknown {
		t.Fatalf("after a timeout the transfer is %s, want unknown", got)
	}
	r.settle(tr.Payer, tr.ID, 20)
	r.wantOneDebit(tr)
	r.wantDone(tr.Payer, tr.ID)
	r.wantState(tr.ID, flows.TransferCompleted, "")
}

// TestDispatchTransferEnds: answers and refusals that end a transfer at
// the first send.
func TestDispatchTransferEnds(t *testing.T) {
	tests := []struct {
		name   string
		opts   rigOptions
		setup  func(r *rig)
		credit flows.AccountRef
		amount flows.Amount
		// want is the transfer's end; reason a rejection's.
		want   flows.TransferState
		reason string
		result string // of paygate_bank_outbox_total
		// final is the status of paygate_bank_final_errors_total
		// counted for a refusal, 0 for none.
		final int
	}{
		{
			name:   "rejected by the bank: insufficient funds",
			amount: 2_000_000, want: flows.TransferRejected, reason: banksim.ReasonInsufficientFunds, result: resultAnswered,
		},
		{
			name:   "rejected by the bank: unknown account",
			credit: flows.AccountRef{Bank: "PGB", Number: "6222020099999999"},
			amount: 100, want: flows.TransferRejected, reason: banksim.ReasonUnknownAccount, result: resultAnswered,
		},
		{
			name:   "refused with 422: the bank judged the body",
			opts:   rigOptions{config: func(c *config.Config) { c.Currency = "USD" }},
			amount: 100, want: flows.TransferRejected, reason: "bank_error", result: resultFailed, final: 422,
		},
		{
			name:   "refused with 403, never received",
			setup:  func(r *rig) { r.conn.fail(bank.MethodTransfer, errForbidden) },
			amount: 100, want: flows.TransferRejected, reason: "bank_error", result: resultFailed,
		},
		{
			name:   "not sendable: no currency",
			opts:   rigOptions{config: func(c *config.Config) { c.Currency = "" }},
			amount: 100, want: flows.TransferRejected, reason: "bank_error", result: resultFailed,
		},
		{
			name:   "no bank connector",
			setup:  func(r *rig) { r.g.bank = nil },
			amount: 100, want: flows.TransferRejected, reason: "bank_error", result: resultFailed,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts)
			if tc.setup != nil {
				tc.setup(r)
			}
			var credit []flows.AccountRef
			if tc.credit.Bank != "" {
				credit = append(credit, tc.credit)
			}
			tr := r.transfer(tc.amount, 0, credit...)
			if n := r.round(); n != 1 {
				t.Fatalf("claimed %d requests, want 1", n)
			}
			r.wantDone(tr.Payer, tr.ID)
			r.wantState(tr.ID, tc.want, tc.reason)
			if got := r.jobs(flows.BankTransfer, tc.result); got != 1 {
				t.Errorf("paygate_bank_outbox_total{result=%q} = %d, want 1", tc.result, got)
			}
			if len(r.sim.Postings(tr.ID)) != 0 {
				t.Errorf("the bank moved money for %s", tr.ID)
			}
			if tc.result == resultFailed {
				if _, ok := r.sim.Transfer(tr.ID); ok {
					t.Errorf("the bank holds %s, which failed", tr.ID)
				}
				if !strings.Contains(r.logs.String(), "level=ERROR") || !strings.Contains(r.logs.String(), tr.ID) {
					t.Errorf("no error logged with the transfer id:\n%s", r.logs)
				}
			}
			if tc.final != 0 {
				if got := counterValue(t, r.g.metrics, "paygate_bank_final_errors_total", "method", bank.MethodTransfer, "status", fmt.Sprint(tc.final)); got != 1 {
					t.Errorf("paygate_bank_final_errors_total = %v, want 1", got)
				}
			}
		})
	}
}

// TestDispatchBalanceAndStatement: BAL's and MINI's requests through the
// outbox, their answers as the flows get them, and their expiry: an
// unreachable bank is retried until the request expires, then Failed; a
// refusal is Failed at once.
func TestDispatchBalanceAndStatement(t *testing.T) {
	r := newRig(t, rigOptions{})
	tr := r.transfer(12_345, 100)
	r.settle(tr.Payer, tr.ID, 3)

	res, err := r.d.call(r.ctx, flows.BankRequest{ID: "b1", Phone: liPhone, Kind: flows.BankBalance, Bank: "PGB", Account: liAcct})
	if err != nil {
		t.Fatal(err)
	}
	if res.Available != 1_000_000-12_345-100 || res.Currency != "CNY" {
		t.Fatalf("balance %+v", res)
	}
	res, err = r.d.call(r.ctx, flows.BankRequest{ID: "s1", Phone: liPhone, Kind: flows.BankStatement, Bank: "PGB", Account: liAcct, Limit: flows.MiniEntries})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 {
		t.Fatalf("statement %+v, want one entry", res.Entries)
	}
	if e := res.Entries[0]; e.Amount != -12_445 || e.Counterpart != wangAcct.Masked() || e.Reference != tr.Ref || e.Time.IsZero() {
		t.Fatalf("statement entry %+v", e)
	}

	// Through the outbox.
	queue := func(kind flows.BankKind, account flows.AccountNumber) flows.BankRequest {
		req := flows.BankRequest{ID: newID(), Phone: liPhone, Kind: kind, Bank: "PGB", Account: account,
			Expires: r.now().Add(flows.PendingTTL), Limit: flows.MiniEntries}
		r.queue(func(tx *store.Tx) error { return tx.QueueBank(r.ctx, req) })
		return req
	}
	for _, kind := range []flows.BankKind{flows.BankBalance, flows.BankStatement} {
		req := queue(kind, liAcct)
		r.settle(liPhone, req.ID, 1)
		r.wantDone(liPhone, req.ID)
		if got := r.jobs(kind, resultAnswered); got != 1 {
			t.Errorf("%s answered %d, want 1", kind, got)
		}
	}

	// Unreachable: retried until it expires, then Failed.
	req := queue(flows.BankBalance, liAcct)
	r.conn.fail(bank.MethodBalance, errNoAnswer, errNoAnswer)
	r.round()
	if row := r.row(liPhone, req.ID); row.State != "queued" || row.Attempts != 1 {
		t.Fatalf("after no answer the row is %+v", row)
	}
	r.advance(flows.PendingTTL)
	r.round()
	r.wantDone(liPhone, req.ID)
	if got := r.jobs(flows.BankBalance, resultFailed); got != 1 {
		t.Errorf("balance failed %d times, want 1", got)
	}
	if got := r.jobs(flows.BankBalance, resultRetry); got != 1 {
		t.Errorf("balance retried %d times, want 1", got)
	}

	// Refused (the bank knows no such account: 404): Failed at once.
	req = queue(flows.BankStatement, "6222020099999999")
	r.round()
	r.wantDone(liPhone, req.ID)
	if got := r.jobs(flows.BankStatement, resultFailed); got != 1 {
		t.Errorf("statement failed %d times, want 1", got)
	}
}

// TestDispatchRetryDelay: a transfer's next attempt is never further
// than transferRetryCap away, so that an unknown is asked again soon
// after the bank recovers (RELIABILITY I5).
func TestDispatchRetryDelay(t *testing.T) {
	r := newRig(t, rigOptions{})
	tr := r.transfer(100, 0)
	for i := range 12 {
		r.conn.fail(bank.MethodTransfer, errNoAnswer)
		if n := r.round(); n != 1 {
			t.Fatalf("attempt %d: claimed %d requests, want 1", i+1, n)
		}
		r.advance(transferRetryCap)
	}
	if got := r.jobs(flows.BankTransfer, resultUnknown); got != 12 {
		t.Fatalf("unknown %d times, want 12", got)
	}
	r.round()
	r.wantOneDebit(tr)
	r.wantDone(tr.Payer, tr.ID)
}
