package gateway

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"

	"github.com/paygate/paygate/flows"
)

// errPINBusy is a PIN check not made: no worker came free within the
// pool's wait. The attempt is given back uncounted and the phone asked
// to send it again (flows: a PINResult with an Err).
var errPINBusy = errors.New("gateway: every PIN worker busy")

// pinExtraProcs says whether a pool adds a P per worker
// (reserveProcs). Tests change it.
var pinExtraProcs = true

// pinPool runs PIN checks (argon2id, ~20 ms and 19 MiB each) outside the
// writer, at most n at once, so a flood of PIN attempts cannot take
// every core and gigabytes of memory. A check waits at most wait for a
// worker: beyond that the queue would hold the SMSC's deliver_sm past
// its response timeout (the SMSC then delivers the text again, and the
// phone gets its answer late and twice), so the attempt is answered at
// once with "nothing was counted; send it again" instead.
//
// Each worker gets a P of its own: the process runs with GOMAXPROCS
// raised by n (reserveProcs). A check keeps a core busy for its whole
// 20 ms, and a running goroutine keeps its P until Go preempts it, every
// 10 ms: with one P per core and a check on each, menu screens, SMS and
// the writer waited in Go's run queue behind the checks. With the extra
// Ps nothing waits for a P; the kernel shares the cores among the
// threads, in slices of a few ms, and a thread woken to answer a screen
// soon runs.
//
// Measured with 1,000 live USSD sessions over SMPP on 2 cores, the
// gateway in its own process (paygate bench --ussd --spawn, medians on
// a machine shared with other work): two workers on 2 Ps, menu screens
// p99 80 ms, 65 PIN checks/s; on 4 Ps, p99 ~19 ms (14–51), 58 checks/s.
// Go's own wait for a P (BenchmarkUSSDScreens, sched-p99-ms) went from
// ~100 ms to ~3 ms. One worker (pin_hash.workers: 1, a core left to
// everything else) gives p99 ~9 ms but 42 checks/s. Giving the checks'
// threads a lower priority (nice 10 or 19) instead was tried and
// dropped: the kernel starves them while the collector's stop-the-world
// waits for them, and GC pauses reached 20–170 ms.
//
// A pinPool is safe for concurrent use.
type pinPool struct {
	sem  chan struct{}
	wait time.Duration
}

// newPINPool returns a pool of n workers (0: one per P the process has,
// not counting the ones pools added) that waits at most wait (0: 2s) for
// one.
func newPINPool(n int, wait time.Duration) *pinPool {
	if n <= 0 {
		n = baseProcs()
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	if pinExtraProcs {
		reserveProcs(n)
	}
	return &pinPool{sem: make(chan struct{}, n), wait: wait}
}

// do runs w on the pool. A check that finds no free worker within the
// pool's wait is not made: its result carries errPINBusy. The error is
// ctx's, when it ends first.
func (p *pinPool) do(ctx context.Context, e *flows.Engine, w *flows.PINWork) (flows.PINResult, error) {
	select {
	case p.sem <- struct{}{}:
	default:
		t := time.NewTimer(p.wait)
		defer t.Stop()
		select {
		case p.sem <- struct{}{}:
		case <-t.C:
			return flows.PINResult{Err: errPINBusy}, nil
		case <-ctx.Done():
			return flows.PINResult{}, ctx.Err()
		}
	}
	defer func() { <-p.sem }()
	return e.CheckPIN(w), nil
}

// procs tracks the Ps pools added.
var procs struct {
	sync.Mutex
	base   int // GOMAXPROCS before reserveProcs raised it
	raised int // what reserveProcs set it to; 0: not raised
}

// baseProcs returns GOMAXPROCS without the Ps reserveProcs added.
func baseProcs() int {
	procs.Lock()
	defer procs.Unlock()
	return baseProcsLocked()
}

func baseProcsLocked() int {
	if cur := runtime.GOMAXPROCS(0); cur != procs.raised {
		// Never raised, or set since by someone else (the testing
		// package sets it for every benchmark): that is the base.
		procs.base, procs.raised = cur, 0
	}
	return procs.base
}

// reserveProcs makes GOMAXPROCS at least the base plus n, for a pool of
// n workers. Pools do not add up: the process gets the most any pool
// asks. The Ps are never given back (a change of GOMAXPROCS stops the
// world, and another pool may count on them).
func reserveProcs(n int) {
	procs.Lock()
	defer procs.Unlock()
	want := baseProcsLocked() + n
	if runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
		procs.raised = want
	}
}

// pinWork runs a step's PIN work and records how it went.
func (g *Gateway) pinWork(ctx context.Context, w *flows.PINWork) (flows.PINResult, error) {
	start := time.Now()
	r, err := g.pins.do(ctx, g.engine, w)
	result := "hashed"
	switch {
	case err != nil:
		result = "cancelled"
	case errors.Is(r.Err, errPINBusy):
		result = "busy"
	case r.Err != nil:
		result = "error"
	case w.Check != "" && r.OK:
		result = "right"
	case w.Check != "":
		result = "wrong"
	}
	g.metrics.pinChecks.WithLabelValues(result).Inc()
	g.metrics.pinSeconds.Observe(time.Since(start).Seconds())
	return r, err
}
