package banksim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = bank.Secret("banksim-test-secret")

func num(i int) flows.AccountNumber { return flows.AccountNumber(fmt.Sprintf("62220400000000%02d", i)) }

func newBank(t *testing.T, n int, balance int64) *Bank {
	t.Helper()
	var accs []Account
	for i := range n {
		accs = append(accs, Account{Bank: DefaultCode, Number: num(i), Holder: fmt.Sprintf("h%d", i),
			Phone: flows.MSISDN(fmt.Sprintf("+86138000000%02d", i)), Balance: balance})
	}
	b, err := New(Config{Secret: secret, Accounts: accs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func req(id string, from, to int, amount, fee int64) transferRequest {
	return transferRequest{ID: id, Reference: "REF-" + id, Debit: party{DefaultCode, num(from).Reveal()},
		Credit: party{DefaultCode, num(to).Reveal()}, Amount: amount, Fee: fee, Currency: DefaultCurrency}
}

func total(b *Bank) int64 {
	var s int64
	for _, a := range b.Accounts() {
		s += a.Balance
	}
	return s
}

// TestTransferRules: the ledger effects and answers of one transfer.
func TestTransferRules(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(b *Bank)
		req        transferRequest
		wantStatus string
		wantReason string
		wantErr    string // the apiError code
		wantFrom   int64  // payer's balance after
		wantFee    int64  // fee account's balance after
	}{
		{name: "completed", req: req("a", 0, 1, 1000, 10), wantStatus: bank.StatusCompleted, wantFrom: 8990, wantFee: 10},
		{name: "completed without fee", req: req("a", 0, 1, 1000, 0), wantStatus: bank.StatusCompleted, wantFrom: 9000},
		{name: "all of it", req: req("a", 0, 1, 9990, 10), wantStatus: bank.StatusCompleted, wantFrom: 0, wantFee: 10},
		{name: "insufficient by the fee", req: req("a", 0, 1, 9991, 10), wantStatus: bank.StatusRejected, wantReason: ReasonInsufficientFunds, wantFrom: 10_000},
		{name: "unknown payee", req: func() transferRequest { r := req("a", 0, 1, 1, 0); r.Credit.Account = "0"; return r }(),
			wantStatus: bank.StatusRejected, wantReason: ReasonUnknownAccount, wantFrom: 10_000},
		{name: "payee at another bank code", req: func() transferRequest { r := req("a", 0, 1, 1, 0); r.Credit.Bank = "XYZ"; return r }(),
			wantStatus: bank.StatusRejected, wantReason: ReasonUnknownAccount, wantFrom: 10_000},
		{name: "closed payer", setup: func(b *Bank) { b.SetClosed(DefaultCode, num(0), true) }, req: req("a", 0, 1, 1, 0),
			wantStatus: bank.StatusRejected, wantReason: ReasonAccountClosed, wantFrom: 10_000},
		{name: "closed payee", setup: func(b *Bank) { b.SetClosed(DefaultCode, num(1), true) }, req: req("a", 0, 1, 1, 0),
			wantStatus: bank.StatusRejected, wantReason: ReasonAccountClosed, wantFrom: 10_000},
		{name: "to itself", req: req("a", 0, 0, 1, 0), wantStatus: bank.StatusRejected, wantReason: ReasonSameAccount, wantFrom: 10_000},
		{name: "zero amount", req: req("a", 0, 1, 0, 0), wantErr: "invalid_amount", wantFrom: 10_000},
		{name: "negative fee", req: req("a", 0, 1, 10, -1), wantErr: "invalid_amount", wantFrom: 10_000},
		{name: "other currency", req: func() transferRequest { r := req("a", 0, 1, 1, 0); r.Currency = "USD"; return r }(),
			wantErr: "invalid_currency", wantFrom: 10_000},
		{name: "no payee", req: func() transferRequest { r := req("a", 0, 1, 1, 0); r.Credit = party{}; return r }(),
			wantErr: "invalid_request", wantFrom: 10_000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBank(t, 2, 10_000)
			if tt.setup != nil {
				tt.setup(b)
			}
			before := total(b)
			res, e := b.transfer(tt.req)
			switch {
			case tt.wantErr != "" && (e == nil || e.code != tt.wantErr):
				t.Fatalf("got %+v, %v; want error %s", res, e, tt.wantErr)
			case tt.wantErr == "" && e != nil:
				t.Fatalf("error %v", e)
			case res.Status != tt.wantStatus || res.Reason != tt.wantReason:
				t.Fatalf("got %+v, want %s %s", res, tt.wantStatus, tt.wantReason)
			}
			if a, _ := b.Account(DefaultCode, num(0)); a.Balance != tt.wantFrom {
				t.Errorf("payer holds %d, want %d", a.Balance, tt.wantFrom)
			}
			if a, _ := b.Account(DefaultCode, DefaultFeeAccount); a.Balance != tt.wantFee {
				t.Errorf("fee account holds %d, want %d", a.Balance, tt.wantFee)
			}
			if total(b) != before {
				t.Errorf("money not conserved: %d → %d", before, total(b))
			}
			if err := b.Audit(); err != nil {
				t.Error(err)
			}
			_, recorded := b.Transfer(tt.req.ID)
			if recorded != (tt.wantErr == "") {
				t.Errorf("recorded %v: a judged transfer is recorded, a refused request is not", recorded)
			}
		})
	}
}

// TestIdempotency: the same id answers the first result and never moves
// money again, even after the balance changed; another body is 409.
func TestIdempotency(t *testing.T) {
	b := newBank(t, 3, 10_000)
	first, e := b.transfer(req("x", 0, 1, 6000, 0))
	if e != nil || first.Status != bank.StatusCompleted {
		t.Fatalf("%+v %v", first, e)
	}
	for range 3 {
		again, e := b.transfer(req("x", 0, 1, 6000, 0))
		if e != nil || again != first {
			t.Fatalf("replay %+v %v, want %+v", again, e, first)
		}
	}
	rej, _ := b.transfer(req("y", 0, 2, 6000, 0))
	if rej.Status != bank.StatusRejected {
		t.Fatalf("%+v, want rejected", rej)
	}
	// Money arrives; the rejected id stays rejected.
	if _, e := b.transfer(req("z", 1, 0, 9000, 0)); e != nil {
		t.Fatal(e)
	}
	if again, _ := b.transfer(req("y", 0, 2, 6000, 0)); again != rej {
		t.Fatalf("a rejected id answered %+v on replay", again)
	}
	for _, other := range []transferRequest{req("x", 0, 1, 6001, 0), req("x", 0, 2, 6000, 0), req("x", 0, 1, 6000, 1)} {
		if _, e := b.transfer(other); e == nil || e.status != 409 {
			t.Fatalf("same id, other body: %v, want 409", e)
		}
	}
	if st := b.Stats(); st.Replays != 4 || st.Conflicts != 3 || st.Transfers != 3 {
		t.Errorf("stats %+v", st)
	}
	if n := len(b.Postings("x")); n != 2 {
		t.Errorf("x has %d postings, want 2", n)
	}
	if err := b.Audit(); err != nil {
		t.Error(err)
	}
}

// TestLedgerConcurrent: 50 goroutines × 100 transfers among 20 accounts
// through the HTTP API, a quarter of them repeating an id another
// goroutine may be sending at the same moment, with duplicate delivery
// on 10% of requests. The ledger stays exact: Audit passes, the
// balances sum to what was opened, every completed id has one debit,
// and the bank's counters add up.
func TestLedgerConcurrent(t *testing.T) {
	const (
		workers  = 50
		per      = 100
		accounts = 20
		distinct = workers * per * 3 / 4
	)
	b := newBank(t, accounts, 10_000)
	opened := total(b)
	if err := b.Faults().SetRates(Rates{Duplicate: 0.1}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b.Handler())
	defer srv.Close()
	conn, err := bank.NewHTTP(bank.HTTPConfig{URL: srv.URL, Secret: secret, BreakerThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	rng := rand.New(rand.NewPCG(7, 7))
	pool := make([]bank.TransferRequest, distinct)
	for i := range pool {
		from := rng.IntN(accounts)
		to := (from + 1 + rng.IntN(accounts-1)) % accounts
		pool[i] = bank.TransferRequest{ID: fmt.Sprintf("c-%04d", i), Reference: fmt.Sprintf("C%07d", i),
			Debit:  bank.Account{Bank: DefaultCode, Number: num(from)},
			Credit: bank.Account{Bank: DefaultCode, Number: num(to)},
			Amount: 1 + rng.Int64N(4000), Fee: rng.Int64N(20), Currency: DefaultCurrency}
	}
	// Every pool entry is sent at least once; the rest repeat some.
	picks := rng.Perm(distinct)
	for len(picks) < workers*per {
		picks = append(picks, rng.IntN(distinct))
	}
	rng.Shuffle(len(picks), func(i, j int) { picks[i], picks[j] = picks[j], picks[i] })

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	seen := map[string]bank.TransferResult{}
	var calls atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for _, p := range picks[w*per : (w+1)*per] {
				r := pool[p]
				res, err := conn.Transfer(ctx, r)
				calls.Add(1)
				if err != nil {
					t.Errorf("%s: %v", r.ID, err)
					return
				}
				mu.Lock()
				if prev, ok := seen[r.ID]; ok && prev != res {
					t.Errorf("%s answered %+v, earlier %+v", r.ID, res, prev)
				}
				seen[r.ID] = res
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	if err := b.Audit(); err != nil {
		t.Fatal(err)
	}
	if got := total(b); got != opened {
		t.Fatalf("balances sum to %d, opened with %d", got, opened)
	}
	completed := 0
	for _, r := range pool {
		res, ok := b.Transfer(r.ID)
		if !ok {
			t.Fatalf("%s never recorded", r.ID)
		}
		var debits int
		for _, p := range b.Postings(r.ID) {
			if p.Amount < 0 {
				debits++
			}
		}
		want := 0
		if res.Status == bank.StatusCompleted {
			want = 1
			completed++
		}
		if debits != want {
			t.Errorf("%s (%s): %d debits", r.ID, res.Status, debits)
		}
	}
	st := b.Stats()
	dups := b.Faults().Injected()[FaultDuplicate]
	if st.Transfers != distinct || st.Replays != int(calls.Load())-distinct+dups {
		t.Errorf("stats %+v: want %d transfers and %d replays (%d calls, %d duplicate deliveries)",
			st, distinct, int(calls.Load())-distinct+dups, calls.Load(), dups)
	}
	t.Logf("%d calls, %d distinct ids (%d completed, %d rejected), %d duplicate deliveries, %d replays, %d postings",
		calls.Load(), distinct, completed, distinct-completed, dups, st.Replays, len(b.Ledger()))
}

// TestAuditFinds breaks the ledger in each way Audit looks for.
func TestAuditFinds(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(b *Bank)
		want    string
	}{
		{"money created", func(b *Bank) { b.accounts[keyOf(DefaultCode, num(1))].Balance++ }, "not conserved"},
		{"negative balance", func(b *Bank) {
			b.accounts[keyOf(DefaultCode, num(0))].Balance -= 20_000
			b.accounts[keyOf(DefaultCode, num(1))].Balance += 20_000
		}, "negative balance"},
		{"applied twice", func(b *Bank) {
			r := b.transfers["t1"].req
			b.apply(r, b.accounts[key{r.Debit.Bank, r.Debit.Account}], b.accounts[key{r.Credit.Bank, r.Credit.Account}], b.accounts[b.fee])
		}, "applied 2 times"},
		{"posting without money", func(b *Bank) { b.postings[0].Amount-- }, "postings sum"},
		{"postings of a rejected transfer", func(b *Bank) { b.transfers["t1"].res.Status = bank.StatusRejected }, "not completed"},
		{"completed without postings", func(b *Bank) {
			b.transfers["ghost"] = &record{res: bank.TransferResult{ID: "ghost", Status: bank.StatusCompleted}}
		}, "without postings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBank(t, 2, 10_000)
			if _, e := b.transfer(req("t1", 0, 1, 100, 5)); e != nil {
				t.Fatal(e)
			}
			if err := b.Audit(); err != nil {
				t.Fatalf("before: %v", err)
			}
			b.mu.Lock()
			tt.corrupt(b)
			b.mu.Unlock()
			err := b.Audit()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Audit = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), num(0).Reveal()) {
				t.Errorf("an account number in the audit: %v", err)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	good := Account{Bank: "PGB", Number: "6222000000000001", Balance: 1}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no secret", Config{Accounts: []Account{good}}},
		{"duplicate", Config{Secret: secret, Accounts: []Account{good, good}}},
		{"negative", Config{Secret: secret, Accounts: []Account{{Bank: "PGB", Number: "1", Balance: -1}}}},
		{"no number", Config{Secret: secret, Accounts: []Account{{Bank: "PGB"}}}},
		{"space in number", Config{Secret: secret, Accounts: []Account{{Bank: "PGB", Number: "1 2"}}}},
		{"phone not E.164", Config{Secret: secret, Accounts: []Account{{Bank: "PGB", Number: "1", Phone: "13800138000"}}}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("%s: accepted", tt.name)
		} else if strings.Contains(err.Error(), "6222000000000001") {
			t.Errorf("%s: account number in %v", tt.name, err)
		}
	}
	b, err := New(Config{Secret: secret, FeeAccount: "6222000000000001", Accounts: []Account{good}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.Accounts()); n != 1 {
		t.Errorf("a fee account among the accounts was opened again: %d accounts", n)
	}
	if err := b.Open(good); err == nil {
		t.Error("opened an account twice")
	}
}
