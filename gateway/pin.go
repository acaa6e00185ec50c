package gateway

import (
	"context"
	"errors"
	"runtime"
	"time"

	"github.com/paygate/paygate/flows"
)

// errPINBusy is a PIN check not made: no worker came free within the
// pool's wait. The attempt is given back uncounted and the phone asked
// to send it again (flows: a PINResult with an Err).
var errPINBusy = errors.New("gateway: every PIN worker busy")

// pinPool runs PIN checks (argon2id, ~20 ms and 19 MiB each) outside the
// writer, at most n at once, so a flood of PIN attempts cannot take
// every core and gigabytes of memory. A check waits at most wait for a
// worker: beyond that the queue would hold the SMSC's deliver_sm past
// its response timeout (the SMSC then delivers the text again, and the
// phone gets its answer late and twice), so the attempt is answered at
// once with "nothing was counted; send it again" instead.
type pinPool struct {
	sem  chan struct{}
	wait time.Duration
}

func newPINPool(n int, wait time.Duration) *pinPool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	if wait <= 0 {
		wait = 2 * time.Second
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
