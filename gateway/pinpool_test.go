package gateway_test

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp/smsc"
)

// TestPINChecksBusy: with one PIN worker, slow hashes and a short
// pin_hash.max_wait, two phones confirming payments at once: the check
// that finds no worker free in time is not made. That phone is answered
// at once — nothing counted, send it again — and the same text sent
// again, within the shipped dedupe window, is taken as new and pays.
func TestPINChecksBusy(t *testing.T) {
	w := newWorldWith(t, worldOptions{
		// About 200 ms a hash on this machine: the second check waits
		// far longer than max_wait.
		pinHash: flows.Argon2Params{MemoryKiB: 19 * 1024, Time: 20, Threads: 1, KeyLen: 32},
	}, func(c *config.Config) {
		c.PINHash.Workers = 1
		c.PINHash.MaxWait = 20 * time.Millisecond
		c.DedupeWindow = 10 * time.Minute
	})
	if err := w.gw.DB().AddMerchant(context.Background(), flows.Merchant{
		Code: "DEMO", Name: "Demo Shop", Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009001"}, Phone: shopNum, Created: time.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	li, wang := w.linked(liNum, liAcct, liPIN), w.linked(wangNum, wangAcct, wangPIN)

	refs := map[*phone]string{
		li:   refOf(t, li.one("PAY DEMO 5")),
		wang: refOf(t, wang.one("PAY DEMO 7")),
	}
	pins := map[*phone]string{li: liPIN, wang: wangPIN}
	var mu sync.Mutex
	busy := 0
	var wg sync.WaitGroup
	for p, pin := range pins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Both texts leave at once; each phone sends its OK
			// again while it is asked to.
			for try := 0; ; try++ {
				if _, err := w.sim.InjectText(p.num, "3030", "OK "+pin, false); err != nil {
					t.Error(err)
					return
				}
				msg := p.expect(1)[0]
				if strings.Contains(msg, "paygate code") {
					code := sixDigits.FindString(msg)
					if _, err := w.sim.InjectText(p.num, "3030", code, false); err != nil {
						t.Error(err)
					}
					return
				}
				if msg != "Sorry, we could not check that just now. Nothing was counted; please send it again." || try > 20 {
					t.Errorf("%s: %q", p.num, msg)
					return
				}
				mu.Lock()
				busy++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	mustContain(t, li.expect(2)[1], "Paid 5.00 CNY to Demo Shop")
	mustContain(t, wang.expect(2)[1], "Paid 7.00 CNY to Demo Shop")
	for p, ref := range refs {
		if tr := w.transferByRef(ref); tr.State != flows.TransferCompleted {
			t.Errorf("%s: transfer %s is %s", p.num, ref, tr.State)
		}
	}
	if busy == 0 || w.pinChecks("busy") != busy {
		t.Fatalf("%d texts answered busy, %d checks counted busy; want the same, above 0", busy, w.pinChecks("busy"))
	}
	if n := w.pinChecks("wrong"); n != 0 {
		t.Fatalf("%d wrong PINs counted", n)
	}
	w.check(liNum, wangNum, shopNum)
}

// TestPINWorkersHaveTheirOwnPs: a gateway adds a P per PIN worker to
// GOMAXPROCS (gateway/pin.go: a running check holds its P, and menu
// screens must not wait for one), and by default has one worker per P
// the process had of its own, not counting the Ps added since; the Ps of
// gateways in one process do not add up. (GOMAXPROCS set by someone
// else to exactly what a pool raised it to would pass for the pool's.)
func TestPINWorkersHaveTheirOwnPs(t *testing.T) {
	prev := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })
	start := func(workers int) int {
		t.Helper()
		sim, err := smsc.Listen(smsc.Config{})
		if err != nil {
			t.Fatal(err)
		}
		defer sim.Close()
		cfg := testConfig(t, t.TempDir(), sim.Addr(), 10)
		cfg.PINHash.Workers = workers
		gw, err := gateway.New(context.Background(), gateway.Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		got := runtime.GOMAXPROCS(0)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Close(ctx)
		return got
	}
	for _, c := range []struct {
		name    string
		set     int // GOMAXPROCS set before the gateway starts; 0: left
		workers int // pin_hash.workers
		want    int // GOMAXPROCS once it started
	}{
		{"default: one worker a P", 2, 0, 4},
		{"three workers", 0, 3, 5},
		{"fewer than before: not given back", 0, 1, 5},
		{"default again: counted from the process's own Ps", 0, 0, 5},
		{"set by someone else since: that is the process's own", 3, 1, 4},
		{"one P", 1, 0, 2},
	} {
		if c.set > 0 {
			runtime.GOMAXPROCS(c.set)
		}
		if got := start(c.workers); got != c.want {
			t.Errorf("%s: GOMAXPROCS %d, want %d", c.name, got, c.want)
		}
	}
}
