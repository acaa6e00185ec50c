package bank_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
)

func transferReq(id string, from, to flows.AccountNumber, amount int64) bank.TransferRequest {
	return bank.TransferRequest{
		ID: id, Reference: "T7K2QXM4", Debit: acct(from), Credit: acct(to),
		Amount: amount, Fee: 100, Currency: "CNY", Narrative: "test",
	}
}

// TestTransferOutcomes runs one transfer against the simulator for every
// outcome rule of SPEC.md §8, faults scripted request by request: what
// the connector returns, which requests it made, and what the ledger
// holds (one debit for a completed transfer, none for a rejected one).
func TestTransferOutcomes(t *testing.T) {
	const (
		tr = bank.MethodTransfer
		st = bank.MethodTransferStatus
	)
	tests := []struct {
		name         string
		to           flows.AccountNumber
		amount       int64
		transfer     []banksim.Fault // scripted for POST /v1/transfers
		status       []banksim.Fault // scripted for GET /v1/transfers/{id}
		wantStatus   string
		wantReason   string
		wantCalls    []call
		wantReplayed bool // the bank answered a replay
	}{
		{name: "success", to: bob, amount: 1000, wantStatus: bank.StatusCompleted,
			wantCalls: []call{{tr, bank.OutcomeOK}}},
		{name: "insufficient funds", to: bob, amount: 1_000_000, wantStatus: bank.StatusRejected, wantReason: banksim.ReasonInsufficientFunds,
			wantCalls: []call{{tr, bank.OutcomeOK}}},
		{name: "unknown account", to: nobody, amount: 1000, wantStatus: bank.StatusRejected, wantReason: banksim.ReasonUnknownAccount,
			wantCalls: []call{{tr, bank.OutcomeOK}}},
		{name: "closed account", to: closedAcc, amount: 1000, wantStatus: bank.StatusRejected, wantReason: banksim.ReasonAccountClosed,
			wantCalls: []call{{tr, bank.OutcomeOK}}},
		{name: "5xx before commit", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultErrorBefore},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeServerError}, {st, bank.OutcomeNotFound}, {tr, bank.OutcomeOK}}},
		{name: "429", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultThrottle},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeThrottled}, {st, bank.OutcomeNotFound}, {tr, bank.OutcomeOK}}},
		{name: "dropped before commit", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultDropBefore},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeDropped}, {st, bank.OutcomeNotFound}, {tr, bank.OutcomeOK}}},
		{name: "latency past the timeout, before commit", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultLatency},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeTimeout}, {st, bank.OutcomeNotFound}, {tr, bank.OutcomeOK}}},
		{name: "commit then drop", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultDropAfter},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeDropped}, {st, bank.OutcomeOK}}},
		{name: "commit then 5xx", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultErrorAfter},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeServerError}, {st, bank.OutcomeOK}}},
		{name: "commit then timeout", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultStallAfter},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeTimeout}, {st, bank.OutcomeOK}}},
		{name: "bad answer signature", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultBadSignature},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeBadSignature}, {st, bank.OutcomeOK}}},
		{name: "stale answer signature", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultStaleSignature},
			wantStatus: bank.StatusCompleted,
			wantCalls:  []call{{tr, bank.OutcomeBadSignature}, {st, bank.OutcomeOK}}},
		{name: "duplicate delivery", to: bob, amount: 1000, transfer: []banksim.Fault{banksim.FaultDuplicate},
			wantStatus: bank.StatusCompleted, wantReplayed: true,
			wantCalls: []call{{tr, bank.OutcomeOK}}},
		{name: "rejected, then the answer dropped", to: bob, amount: 1_000_000, transfer: []banksim.Fault{banksim.FaultDropAfter},
			wantStatus: bank.StatusRejected, wantReason: banksim.ReasonInsufficientFunds,
			wantCalls: []call{{tr, bank.OutcomeDropped}, {st, bank.OutcomeOK}}},
		{name: "the inquiry fails too", to: bob, amount: 1000,
			transfer: []banksim.Fault{banksim.FaultErrorAfter}, status: []banksim.Fault{banksim.FaultErrorBefore, banksim.FaultStallAfter, banksim.FaultThrottle},
			wantStatus: bank.StatusCompleted,
			wantCalls: []call{{tr, bank.OutcomeServerError}, {st, bank.OutcomeServerError}, {st, bank.OutcomeTimeout},
				{st, bank.OutcomeThrottled}, {st, bank.OutcomeOK}}},
		{name: "lost three times before commit", to: bob, amount: 1000,
			transfer:   []banksim.Fault{banksim.FaultErrorBefore, banksim.FaultDropBefore, banksim.FaultThrottle},
			wantStatus: bank.StatusCompleted,
			wantCalls: []call{{tr, bank.OutcomeServerError}, {st, bank.OutcomeNotFound}, {tr, bank.OutcomeDropped},
				{st, bank.OutcomeNotFound}, {tr, bank.OutcomeThrottled}, {st, bank.OutcomeNotFound}, {tr, bank.OutcomeOK}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(_ *bank.HTTPConfig, s *banksim.Config) {})
			if err := e.sim.Faults().SetRates(banksim.Rates{Delay: 2 * time.Second}); err != nil {
				t.Fatal(err)
			}
			must(t, e.sim.Faults().Script(banksim.RouteTransfer, tt.transfer...))
			must(t, e.sim.Faults().Script(banksim.RouteTransferStatus, tt.status...))
			req := transferReq("tr-"+strings.ReplaceAll(tt.name, " ", "-"), alice, tt.to, tt.amount)

			res, err := e.conn.Transfer(ctxT(t, 10*time.Second), req)
			if err != nil {
				t.Fatalf("Transfer: %v", err)
			}
			if res.ID != req.ID || res.Status != tt.wantStatus || res.Reason != tt.wantReason {
				t.Fatalf("result %+v, want status %q reason %q", res, tt.wantStatus, tt.wantReason)
			}
			if real, _ := e.sim.Transfer(req.ID); real != res {
				t.Fatalf("the connector says %+v, the bank %+v", res, real)
			}
			calls, _, finals := e.rec.snapshot()
			if !slices.Equal(calls, tt.wantCalls) {
				t.Errorf("requests:\n got %v\nwant %v", calls, tt.wantCalls)
			}
			if len(finals) > 0 {
				t.Errorf("final errors reported: %v", finals)
			}
			wantDebits, wantBalance := 0, int64(100_000)
			if tt.wantStatus == bank.StatusCompleted {
				wantDebits, wantBalance = 1, 100_000-req.Amount-req.Fee
				if res.BankReference == "" {
					t.Error("a completed transfer without a bank reference")
				}
			}
			if n := debits(e.sim, req.ID); n != wantDebits {
				t.Errorf("%d debits, want %d", n, wantDebits)
			}
			if a, _ := e.sim.Account(code, alice); a.Balance != wantBalance {
				t.Errorf("payer's balance %d, want %d", a.Balance, wantBalance)
			}
			if err := e.sim.Audit(); err != nil {
				t.Error(err)
			}
			if st := e.sim.Stats(); (st.Replays > 0) != tt.wantReplayed || st.Transfers != 1 {
				t.Errorf("bank stats %+v: want 1 transfer, replayed %v", st, tt.wantReplayed)
			}
			if left := e.sim.Faults().Scripted(); len(left) > 0 {
				t.Errorf("scripted faults left unused: %v", left)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTransferSameIDAgain: a caller that lost the answer (its ctx ended
// while the bank stalled) keeps the transfer unknown, then asks, then
// sends it again: one debit, the same result each time.
func TestTransferSameIDAgain(t *testing.T) {
	e := newEnv(t)
	must(t, e.sim.Faults().SetRates(banksim.Rates{Delay: 2 * time.Second}))
	must(t, e.sim.Faults().Script(banksim.RouteTransfer, banksim.FaultStallAfter))
	req := transferReq("again-1", alice, bob, 2500)

	_, err := e.conn.Transfer(ctxT(t, 100*time.Millisecond), req)
	if !errors.Is(err, bank.ErrUnknown) || errors.Is(err, bank.ErrCircuitOpen) {
		t.Fatalf("Transfer with a short ctx: %v, want ErrUnknown", err)
	}
	got, err := e.conn.TransferStatus(ctxT(t, 5*time.Second), req.ID)
	if err != nil || got.Status != bank.StatusCompleted {
		t.Fatalf("TransferStatus = %+v, %v; want completed", got, err)
	}
	again, err := e.conn.Transfer(ctxT(t, 5*time.Second), req)
	if err != nil || again != got {
		t.Fatalf("Transfer again = %+v, %v; want %+v", again, err, got)
	}
	if n := debits(e.sim, req.ID); n != 1 {
		t.Fatalf("%d debits, want 1", n)
	}
	if st := e.sim.Stats(); st.Replays != 1 {
		t.Errorf("replays %d, want 1", st.Replays)
	}
	must(t, e.sim.Audit())

	// A ctx that has ended sends nothing.
	ctx, cancel := contextCanceled()
	defer cancel()
	_, err = e.conn.Transfer(ctx, transferReq("never-sent", alice, bob, 1))
	if err == nil || errors.Is(err, bank.ErrUnknown) {
		t.Fatalf("Transfer with an ended ctx: %v, want a not-sent error", err)
	}
	if _, ok := e.sim.Transfer("never-sent"); ok {
		t.Fatal("the bank received a transfer sent with an ended ctx")
	}
}

// TestFinalErrors: other 4xx answers are final errors, sent once, never
// retried, reported to the FinalError hook.
func TestFinalErrors(t *testing.T) {
	tests := []struct {
		name       string
		run        func(e *env) error
		wantMethod string
		wantStatus int
		wantCode   string
	}{
		{name: "422 wrong currency", run: func(e *env) error {
			r := transferReq("cur-1", alice, bob, 100)
			r.Currency = "USD"
			_, err := e.conn.Transfer(ctxT(t, 5*time.Second), r)
			return err
		}, wantMethod: bank.MethodTransfer, wantStatus: 422, wantCode: "invalid_currency"},
		{name: "422 amount too large", run: func(e *env) error {
			_, err := e.conn.Transfer(ctxT(t, 5*time.Second), transferReq("big-1", alice, bob, 1<<60))
			return err
		}, wantMethod: bank.MethodTransfer, wantStatus: 422, wantCode: "invalid_amount"},
		{name: "409 same id, another body", run: func(e *env) error {
			r := transferReq("dup-1", alice, bob, 100)
			if _, err := e.conn.Transfer(ctxT(t, 5*time.Second), r); err != nil {
				return fmt.Errorf("first transfer: %w", err)
			}
			e.rec.reset()
			r.Amount = 200
			_, err := e.conn.Transfer(ctxT(t, 5*time.Second), r)
			return err
		}, wantMethod: bank.MethodTransfer, wantStatus: 409, wantCode: "idempotency_conflict"},
		{name: "404 balance of an unknown account", run: func(e *env) error {
			_, err := e.conn.Balance(ctxT(t, 5*time.Second), acct(nobody))
			return err
		}, wantMethod: bank.MethodBalance, wantStatus: 404, wantCode: "unknown_account"},
		{name: "404 statement of an unknown account", run: func(e *env) error {
			_, err := e.conn.Statement(ctxT(t, 5*time.Second), acct(nobody), 5)
			return err
		}, wantMethod: bank.MethodStatement, wantStatus: 404, wantCode: "unknown_account"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			err := tt.run(e)
			var fe *bank.FinalError
			if !errors.As(err, &fe) || errors.Is(err, bank.ErrUnknown) {
				t.Fatalf("got %v, want a *FinalError alone", err)
			}
			if fe.Method != tt.wantMethod || fe.Status != tt.wantStatus || fe.Code != tt.wantCode {
				t.Fatalf("got %+v, want %s %d %s", fe, tt.wantMethod, tt.wantStatus, tt.wantCode)
			}
			calls, _, finals := e.rec.snapshot()
			if len(calls) != 1 || calls[0].outcome != bank.OutcomeRefused {
				t.Errorf("requests %v, want one refused", calls)
			}
			if len(finals) != 1 || *finals[0] != *fe {
				t.Errorf("FinalError hook heard %v, want %v", finals, fe)
			}
			must(t, e.sim.Audit())
		})
	}
}

// TestAnswersNotBelieved drives the connector against a fake bank whose
// answers are wrong in one way each: none is taken for a result, and
// final refusals after an unknown outcome stay unknown.
func TestAnswersNotBelieved(t *testing.T) {
	completed := func(id string) string {
		return `{"id":"` + id + `","status":"completed","bank_reference":"X1","reason":""}`
	}
	notFound := `{"error":{"code":"not_found","message":"no such transfer"}}`
	tests := []struct {
		name        string
		answer      func(n int, r *http.Request) (int, string, bool)
		header      http.Header
		wantUnknown bool
		wantFinal   int // status of the *FinalError; 0 none
		wantCalls   []bank.Outcome
	}{
		{name: "unsigned 200", answer: func(int, *http.Request) (int, string, bool) { return 200, completed("x"), false },
			wantUnknown: true, wantCalls: []bank.Outcome{bank.OutcomeBadSignature, bank.OutcomeBadSignature, bank.OutcomeBadSignature}},
		{name: "200 about another id", answer: func(int, *http.Request) (int, string, bool) { return 200, completed("other"), true },
			wantUnknown: true, wantCalls: []bank.Outcome{bank.OutcomeBadResponse, bank.OutcomeBadResponse, bank.OutcomeBadResponse}},
		{name: "200 not JSON", answer: func(int, *http.Request) (int, string, bool) { return 200, "<html>", true },
			wantUnknown: true, wantCalls: []bank.Outcome{bank.OutcomeBadResponse, bank.OutcomeBadResponse, bank.OutcomeBadResponse}},
		{name: "200 pending to a POST", answer: func(n int, r *http.Request) (int, string, bool) {
			return 200, `{"id":"x","status":"pending"}`, true
		}, wantUnknown: true, wantCalls: []bank.Outcome{bank.OutcomeBadResponse, bank.OutcomeOK, bank.OutcomeOK}},
		{name: "redirect not followed", header: http.Header{"Location": {"/elsewhere"}},
			answer:      func(int, *http.Request) (int, string, bool) { return 302, "", true },
			wantUnknown: true, wantCalls: []bank.Outcome{bank.OutcomeBadResponse, bank.OutcomeBadResponse, bank.OutcomeBadResponse}},
		{name: "answer over 1 MiB", answer: func(int, *http.Request) (int, string, bool) { return 200, strings.Repeat(" ", 1<<20+1), true },
			wantUnknown: true, wantCalls: []bank.Outcome{bank.OutcomeBadResponse, bank.OutcomeBadResponse, bank.OutcomeBadResponse}},
		{name: "unsigned 404 to the inquiry is no proof", answer: func(n int, r *http.Request) (int, string, bool) {
			if n == 1 {
				return 503, "", false
			}
			return 404, notFound, false
		}, wantUnknown: true, wantCalls: []bank.Outcome{bank.OutcomeServerError, bank.OutcomeBadSignature, bank.OutcomeBadSignature}},
		{name: "400 signed is final", answer: func(int, *http.Request) (int, string, bool) {
			return 400, `{"error":{"code":"invalid_request","message":"account 6222000000000001 is odd"}}`, true
		}, wantFinal: 400, wantCalls: []bank.Outcome{bank.OutcomeRefused}},
		{name: "403 signed on the first send is final", answer: func(int, *http.Request) (int, string, bool) {
			return 403, `{"error":{"code":"forbidden"}}`, true
		}, wantFinal: 403, wantCalls: []bank.Outcome{bank.OutcomeRefused}},
		{name: "401 on the resend stays unknown", answer: func(n int, r *http.Request) (int, string, bool) {
			switch n {
			case 1:
				return 503, "", false
			case 2:
				return 404, notFound, true
			}
			return 401, `{"error":{"code":"bad_signature"}}`, true
		}, wantUnknown: true, wantFinal: 401, wantCalls: []bank.Outcome{bank.OutcomeServerError, bank.OutcomeNotFound, bank.OutcomeRefused}},
		{name: "403 on the inquiry stays unknown", answer: func(n int, r *http.Request) (int, string, bool) {
			if n == 1 {
				return 504, "", false
			}
			return 403, `{"error":{"code":"forbidden"}}`, true
		}, wantUnknown: true, wantFinal: 403, wantCalls: []bank.Outcome{bank.OutcomeServerError, bank.OutcomeRefused}},
		{name: "422 on the resend is final", answer: func(n int, r *http.Request) (int, string, bool) {
			switch n {
			case 1:
				return 500, "", false
			case 2:
				return 404, notFound, true
			}
			return 422, `{"error":{"code":"invalid_amount"}}`, true
		}, wantFinal: 422, wantCalls: []bank.Outcome{bank.OutcomeServerError, bank.OutcomeNotFound, bank.OutcomeRefused}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fb := &fakeBank{answer: tt.answer, header: tt.header}
			srv := httptest.NewServer(fb)
			defer srv.Close()
			rec := &recorder{}
			conn, err := bank.NewHTTP(bank.HTTPConfig{URL: srv.URL, Secret: secret, MaxAttempts: 3,
				BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, BreakerThreshold: -1, Hooks: rec.hooks()})
			must(t, err)
			defer conn.Close()
			_, err = conn.Transfer(ctxT(t, 5*time.Second), transferReq("x", alice, bob, 100))
			if errors.Is(err, bank.ErrUnknown) != tt.wantUnknown {
				t.Errorf("got %v, unknown %v", err, tt.wantUnknown)
			}
			var fe *bank.FinalError
			if errors.As(err, &fe) != (tt.wantFinal != 0) || (fe != nil && fe.Status != tt.wantFinal) {
				t.Errorf("got %v, want a final error %d", err, tt.wantFinal)
			}
			if err != nil && strings.Contains(err.Error(), "6222000000000001") {
				t.Errorf("the bank's message leaked into the error: %v", err)
			}
			calls, _, _ := rec.snapshot()
			var got []bank.Outcome
			for _, c := range calls {
				got = append(got, c.outcome)
			}
			if !slices.Equal(got, tt.wantCalls) {
				t.Errorf("outcomes %v, want %v", got, tt.wantCalls)
			}
		})
	}
}

// TestTransferStatus: found, never received, and not final yet.
func TestTransferStatus(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t, 5*time.Second)
	if _, err := e.conn.TransferStatus(ctx, "nope"); !errors.Is(err, bank.ErrNotReceived) {
		t.Fatalf("unknown id: %v, want ErrNotReceived", err)
	}
	for _, r := range []bank.TransferRequest{transferReq("s-ok", alice, bob, 10), transferReq("s-no", bob, alice, 1e9)} {
		want, err := e.conn.Transfer(ctx, r)
		must(t, err)
		got, err := e.conn.TransferStatus(ctx, r.ID)
		if err != nil || got != want {
			t.Fatalf("TransferStatus(%s) = %+v, %v; want %+v", r.ID, got, err, want)
		}
	}
	_, _, finals := e.rec.snapshot()
	if len(finals) != 0 {
		t.Errorf("a 404 to an inquiry alerted operators: %v", finals)
	}

	fb := &fakeBank{answer: func(int, *http.Request) (int, string, bool) {
		return 200, `{"id":"p","status":"pending"}`, true
	}}
	srv := httptest.NewServer(fb)
	defer srv.Close()
	conn, err := bank.NewHTTP(bank.HTTPConfig{URL: srv.URL, Secret: secret})
	must(t, err)
	defer conn.Close()
	if _, err := conn.TransferStatus(ctx, "p"); !errors.Is(err, bank.ErrUnknown) {
		t.Fatalf("pending: %v, want ErrUnknown", err)
	}
}

// TestAccounts: verify, balance and statement against the simulator.
func TestAccounts(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t, 5*time.Second)
	verify := []struct {
		name    string
		account flows.AccountNumber
		phone   flows.MSISDN
		want    bank.VerifyResult
	}{
		{"owner", alice, alicePh, bank.VerifyResult{Exists: true, PhoneMatches: true, HolderName: "Alice"}},
		{"another phone", alice, bobPh, bank.VerifyResult{Exists: true}},
		{"unknown account", nobody, alicePh, bank.VerifyResult{}},
		{"closed account", closedAcc, alicePh, bank.VerifyResult{}},
	}
	for _, tt := range verify {
		got, err := e.conn.Verify(ctx, bank.VerifyRequest{Bank: code, Account: tt.account, Phone: tt.phone})
		if err != nil || got != tt.want {
			t.Errorf("verify %s: %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}

	for i, amount := range []int64{1000, 2000, 3000} {
		r := transferReq(fmt.Sprintf("st-%d", i), alice, bob, amount)
		r.Reference = fmt.Sprintf("REF%05d", i)
		if _, err := e.conn.Transfer(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	bal, err := e.conn.Balance(ctx, acct(alice))
	if want := (bank.Balance{Available: 100_000 - 6000 - 300, Currency: "CNY"}); err != nil || bal != want {
		t.Fatalf("balance %+v, %v; want %+v", bal, err, want)
	}
	entries, err := e.conn.Statement(ctx, acct(alice), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 || entries[0].Amount != -3100 || entries[1].Amount != -2100 ||
		entries[0].Reference != "REF00002" || entries[0].Counterpart != bob || entries[0].Time.IsZero() {
		t.Fatalf("statement %+v: want the last two debits, newest first", entries)
	}
	fees, err := e.conn.Statement(ctx, e.sim.FeeAccount(), 10)
	if err != nil || len(fees) != 3 || fees[0].Amount != 100 || fees[0].Counterpart != alice {
		t.Fatalf("fee account statement %+v, %v", fees, err)
	}
	if _, err := e.conn.Statement(ctx, acct(alice), 0); !errors.Is(err, bank.ErrInvalidRequest) {
		t.Fatalf("limit 0: %v, want ErrInvalidRequest", err)
	}
}

// TestInvalidRequests are refused before anything is sent.
func TestInvalidRequests(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t, 5*time.Second)
	bad := []bank.TransferRequest{
		transferReq("", alice, bob, 1),
		transferReq("a/b", alice, bob, 1),
		transferReq("sp ace", alice, bob, 1),
		transferReq(strings.Repeat("x", 129), alice, bob, 1),
		transferReq("zero", alice, bob, 0),
		transferReq("neg", alice, bob, -5),
		{ID: "nocur", Debit: acct(alice), Credit: acct(bob), Amount: 1},
		{ID: "noacct", Debit: acct(alice), Amount: 1, Currency: "CNY"},
	}
	for _, r := range bad {
		if _, err := e.conn.Transfer(ctx, r); !errors.Is(err, bank.ErrInvalidRequest) {
			t.Errorf("Transfer(%q): %v, want ErrInvalidRequest", r.ID, err)
		}
	}
	if _, err := e.conn.Verify(ctx, bank.VerifyRequest{Bank: code, Account: alice}); !errors.Is(err, bank.ErrInvalidRequest) {
		t.Errorf("Verify without a phone: %v", err)
	}
	if calls, _, _ := e.rec.snapshot(); len(calls) != 0 {
		t.Errorf("invalid requests were sent: %v", calls)
	}
	for _, cfg := range []bank.HTTPConfig{
		{URL: "ftp://bank", Secret: secret},
		{URL: "https://", Secret: secret},
		{URL: "https://bank?x=1", Secret: secret},
		{URL: "https://bank"},
		{URL: "https://bank", Secret: secret, CertFile: "c.pem"},
		{URL: "https://bank", Secret: secret, CAFile: "/nonexistent/ca.pem"},
	} {
		if _, err := bank.NewHTTP(cfg); err == nil {
			t.Errorf("NewHTTP(%+v) accepted", cfg)
		}
	}
}

// TestBreakerDeadBank: against a bank that answers nothing useful the
// breaker opens after the threshold, calls then fail fast without
// reaching the bank (a transfer is "not sent", not unknown), and after
// the cool-down one probe goes: a failing one reopens the breaker, a
// good one closes it.
func TestBreakerDeadBank(t *testing.T) {
	for _, dead := range []banksim.Rates{{ErrorBefore: 1}, {DropBefore: 1}, {Throttle: 1}} {
		t.Run(fmt.Sprintf("%+v", dead), func(t *testing.T) {
			clk := &clock{t: time.Now()}
			e := newEnv(t, func(c *bank.HTTPConfig, _ *banksim.Config) {
				c.Clock, c.MaxAttempts, c.BreakerThreshold, c.BreakerCooldown = clk.now, 1, 3, time.Minute
			})
			must(t, e.sim.Faults().SetRates(dead))
			ctx := ctxT(t, 5*time.Second)
			vreq := bank.VerifyRequest{Bank: code, Account: alice, Phone: alicePh}
			for i := range 3 {
				if _, err := e.conn.Verify(ctx, vreq); !errors.Is(err, bank.ErrUnknown) {
					t.Fatalf("call %d to a dead bank: %v, want ErrUnknown", i, err)
				}
			}
			if s := e.conn.BreakerState(); s != bank.BreakerOpen {
				t.Fatalf("breaker %v after 3 failures, want open", s)
			}
			reached := e.sim.Stats().Requests
			if _, err := e.conn.Verify(ctx, vreq); !errors.Is(err, bank.ErrCircuitOpen) {
				t.Fatalf("verify while open: %v, want ErrCircuitOpen", err)
			}
			_, err := e.conn.Transfer(ctx, transferReq("while-open", alice, bob, 100))
			if !errors.Is(err, bank.ErrCircuitOpen) || errors.Is(err, bank.ErrUnknown) {
				t.Fatalf("transfer while open: %v, want ErrCircuitOpen and not ErrUnknown", err)
			}
			if n := e.sim.Stats().Requests; n != reached {
				t.Fatalf("%d requests reached the bank while the breaker was open", n-reached)
			}

			clk.add(time.Minute) // the probe fails: open again
			if _, err := e.conn.Verify(ctx, vreq); !errors.Is(err, bank.ErrUnknown) {
				t.Fatalf("failing probe: %v", err)
			}
			e.sim.Faults().Clear() // the bank comes back
			if _, err := e.conn.Verify(ctx, vreq); !errors.Is(err, bank.ErrCircuitOpen) {
				t.Fatalf("after a failed probe: %v, want ErrCircuitOpen for a new cool-down", err)
			}
			clk.add(time.Minute)
			if _, err := e.conn.Verify(ctx, vreq); err != nil {
				t.Fatalf("good probe: %v", err)
			}
			if res, err := e.conn.Transfer(ctx, transferReq("after", alice, bob, 100)); err != nil || res.Status != bank.StatusCompleted {
				t.Fatalf("transfer after recovery: %+v, %v", res, err)
			}
			_, changes, _ := e.rec.snapshot()
			want := []string{"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed"}
			if !slices.Equal(changes, want) {
				t.Fatalf("breaker changes %v, want %v", changes, want)
			}
			if _, ok := e.sim.Transfer("while-open"); ok {
				t.Fatal("the bank received the transfer sent while the breaker was open")
			}
		})
	}
}

// TestBreakerOpensMidTransfer: a transfer that was sent and then lost
// its bank ends unknown when the breaker opens, not "not sent".
func TestBreakerOpensMidTransfer(t *testing.T) {
	e := newEnv(t, func(c *bank.HTTPConfig, _ *banksim.Config) {
		c.BreakerThreshold, c.BreakerCooldown = 2, time.Minute
	})
	must(t, e.sim.Faults().Script(banksim.RouteTransfer, banksim.FaultErrorAfter))
	must(t, e.sim.Faults().Script(banksim.RouteTransferStatus, banksim.FaultErrorBefore))
	_, err := e.conn.Transfer(ctxT(t, 5*time.Second), transferReq("mid", alice, bob, 100))
	if !errors.Is(err, bank.ErrUnknown) || errors.Is(err, bank.ErrCircuitOpen) {
		t.Fatalf("got %v, want ErrUnknown and not ErrCircuitOpen", err)
	}
	if res, _ := e.sim.Transfer("mid"); res.Status != bank.StatusCompleted {
		t.Fatalf("the bank holds %+v", res)
	}
}

// TestStaleSignatures: a connector whose clock is 6 minutes behind signs
// requests the bank refuses (401 stale_signature), and cannot believe the
// bank's answers either: nothing is applied, the outcome stays unknown.
// A bank whose answers are stale is covered by TestTransferOutcomes.
func TestStaleSignatures(t *testing.T) {
	for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			e := newEnv(t, func(c *bank.HTTPConfig, _ *banksim.Config) {
				c.Clock = func() time.Time { return time.Now().Add(skew) }
				c.MaxAttempts, c.BreakerThreshold = 2, -1
			})
			_, err := e.conn.Transfer(ctxT(t, 5*time.Second), transferReq("stale", alice, bob, 100))
			if !errors.Is(err, bank.ErrUnknown) || !errors.Is(err, bank.ErrStaleSignature) {
				t.Fatalf("got %v, want ErrUnknown with a stale answer signature", err)
			}
			if _, ok := e.sim.Transfer("stale"); ok {
				t.Fatal("the bank applied a transfer with a stale signature")
			}
			if st := e.sim.Stats(); st.BadRequests != 2 || st.Requests != 0 {
				t.Fatalf("bank stats %+v, want 2 refused requests", st)
			}
		})
	}
}

// TestNoSecretsLeak runs every call, failures included, and looks for
// account numbers and the secret in errors, logs and hook labels.
func TestNoSecretsLeak(t *testing.T) {
	simLogs := &syncBuffer{}
	e := newEnv(t, func(c *bank.HTTPConfig, s *banksim.Config) {
		c.MaxAttempts = 3
		s.Logger = newDebugLogger(simLogs)
	})
	must(t, e.sim.Faults().SetRates(banksim.Rates{Delay: time.Second}))
	ctx := ctxT(t, 10*time.Second)
	var errs []string
	note := func(err error) {
		if err != nil {
			errs = append(errs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
	}
	for _, f := range []banksim.Fault{banksim.FaultErrorAfter, banksim.FaultDropAfter, banksim.FaultStallAfter, banksim.FaultBadSignature} {
		must(t, e.sim.Faults().Script(banksim.RouteTransfer, f))
		_, err := e.conn.Transfer(ctx, transferReq("leak-"+string(f), alice, bob, 100))
		note(err)
		must(t, e.sim.Faults().Script(banksim.RouteVerify, f, f, f))
		_, err = e.conn.Verify(ctx, bank.VerifyRequest{Bank: code, Account: alice, Phone: alicePh})
		note(err)
	}
	_, err := e.conn.Balance(ctx, acct(nobody))
	note(err)
	r := transferReq("leak-cur", alice, bob, 100)
	r.Currency = "XXX"
	_, err = e.conn.Transfer(ctx, r)
	note(err)
	_, err = e.conn.Statement(ctx, acct(nobody), 3)
	note(err)
	note(e.sim.Audit())
	if len(errs) == 0 {
		t.Fatal("no errors to look at")
	}
	calls, changes, finals := e.rec.snapshot()
	var labels []string
	for _, c := range calls {
		labels = append(labels, c.method, string(c.outcome))
	}
	for _, f := range finals {
		labels = append(labels, f.Error(), f.Code)
	}
	haystack := strings.Join(errs, "\n") + strings.Join(labels, " ") + strings.Join(changes, " ") + e.logs.String() + simLogs.String()
	for _, needle := range []string{alice.Reveal(), bob.Reveal(), nobody.Reveal(), string(secret)} {
		if strings.Contains(haystack, needle) {
			t.Errorf("%q leaked:\n%s", needle, haystack)
		}
	}
	if !strings.Contains(e.logs.String(), "retrying") {
		t.Errorf("the connector's debug log has no retries; is it wired? %s", e.logs.String())
	}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
