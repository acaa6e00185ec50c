package bank_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
)

// TestR13CommitThenTimeout is RELIABILITY.md R13: the bank commits and
// then does not answer within the connector's timeout on 30% of
// requests (transfers and inquiries alike) while 500 transfers among 20
// accounts run at once. Each goroutine plays the bank dispatcher: it
// calls Transfer and, while the outcome is unknown or the breaker is
// open, calls it again later with the same request. Pass: 0 duplicate
// debits (Audit, and one debit per completed id in the ledger), and
// every transfer resolved to what the bank really did. A second run
// mixes every fault the simulator has, so that resends and duplicate
// deliveries race too.
func TestR13CommitThenTimeout(t *testing.T) {
	tests := []struct {
		name  string
		rates banksim.Rates
	}{
		{"commit then timeout 30%", banksim.Rates{StallAfter: 0.3}},
		{"every fault 45%", banksim.Rates{StallAfter: 0.1, DropAfter: 0.05, ErrorAfter: 0.05, ErrorBefore: 0.05,
			DropBefore: 0.05, Throttle: 0.05, Duplicate: 0.05, BadSignature: 0.05, Latency: 0.05}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { r13(t, tt.rates) })
	}
}

func r13(t *testing.T, rates banksim.Rates) {
	const (
		transfers = 500
		accounts  = 20
	)
	var accs []banksim.Account
	for i := range accounts {
		accs = append(accs, banksim.Account{Bank: code, Number: flows.AccountNumber(fmt.Sprintf("62220300000000%02d", i)),
			Holder: fmt.Sprintf("holder %d", i), Balance: 30_000})
	}
	var timeouts, resolved, opened atomic.Int64
	e := newEnv(t, func(c *bank.HTTPConfig, s *banksim.Config) {
		s.Accounts = accs
		c.Timeout, c.BackoffMin, c.BackoffMax, c.BreakerCooldown = 100*time.Millisecond, 5*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
	})
	hooks := e.rec.hooks()
	e.conn.Close()
	conn, err := bank.NewHTTP(bank.HTTPConfig{
		URL: e.srv.URL, Secret: secret, Timeout: 500 * time.Millisecond,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond, BreakerCooldown: 100 * time.Millisecond,
		Hooks: &bank.Hooks{
			Call: func(m string, o bank.Outcome, d time.Duration) {
				if o == bank.OutcomeTimeout {
					timeouts.Add(1)
				}
				hooks.Call(m, o, d)
			},
			Breaker: func(from, to bank.BreakerState) {
				if to == bank.BreakerOpen {
					opened.Add(1)
				}
			},
			Resolved: func(bank.TransferResult, int) { resolved.Add(1) },
		},
	})
	must(t, err)
	defer conn.Close()
	rates.Delay = 5 * time.Second
	rates.Routes = []string{banksim.RouteTransfer, banksim.RouteTransferStatus}
	must(t, e.sim.Faults().SetRates(rates))

	rng := rand.New(rand.NewPCG(13, 13))
	reqs := make([]bank.TransferRequest, transfers)
	for i := range reqs {
		from := rng.IntN(accounts)
		to := (from + 1 + rng.IntN(accounts-1)) % accounts
		reqs[i] = bank.TransferRequest{
			ID: fmt.Sprintf("r13-%03d", i), Reference: fmt.Sprintf("R13%05d", i),
			Debit: acct(accs[from].Number), Credit: acct(accs[to].Number),
			Amount: 1 + rng.Int64N(5000), Fee: rng.Int64N(50), Currency: "CNY",
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	results := make([]bank.TransferResult, transfers)
	calls := make([]int, transfers)
	var unknownCalls, notSent atomic.Int64
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Go(func() {
			for {
				calls[i]++
				res, err := conn.Transfer(ctx, reqs[i])
				switch {
				case err == nil:
					results[i] = res
					return
				case errors.Is(err, bank.ErrCircuitOpen):
					notSent.Add(1)
				case errors.Is(err, bank.ErrUnknown) && ctx.Err() == nil:
					unknownCalls.Add(1)
				default:
					t.Errorf("transfer %s: %v", reqs[i].ID, err)
					return
				}
				time.Sleep(20 * time.Millisecond) // the dispatcher's next round
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if t.Failed() {
		return
	}

	var completed, rejected, maxCalls, dupes int
	for i, r := range reqs {
		real, ok := e.sim.Transfer(r.ID)
		if !ok || real != results[i] {
			t.Errorf("%s: the connector says %+v, the bank %+v (received %v)", r.ID, results[i], real, ok)
		}
		want := 0
		if real.Status == bank.StatusCompleted {
			completed++
			want = 1
		} else {
			rejected++
		}
		if n := debits(e.sim, r.ID); n != want {
			dupes++
			t.Errorf("%s: %d debits, want %d", r.ID, n, want)
		}
		maxCalls = max(maxCalls, calls[i])
	}
	must(t, e.sim.Audit())
	st := e.sim.Stats()
	if st.Transfers != transfers {
		t.Errorf("the bank holds %d transfers, want %d", st.Transfers, transfers)
	}
	injected := e.sim.Faults().Injected()
	stalls := injected[banksim.FaultStallAfter]
	if stalls == 0 || timeouts.Load() == 0 {
		t.Fatalf("no fault happened: stalls %d, timeouts %d", stalls, timeouts.Load())
	}
	t.Logf("R13: faults injected %v", injected)
	t.Logf("R13: %d transfers (%d completed, %d rejected) in %v; bank stalled %d requests after committing, connector timed out %d times, "+
		"resolved %d unknowns itself; %d Transfer calls ended unknown and %d not sent (breaker open %d times), all retried with the same id; "+
		"bank replays %d; at most %d Transfer calls for one id; duplicate debits %d",
		transfers, completed, rejected, elapsed.Round(time.Millisecond), stalls, timeouts.Load(), resolved.Load(),
		unknownCalls.Load(), notSent.Load(), opened.Load(), st.Replays, maxCalls, dupes)
}
