package gateway

import (
	"context"
	"runtime"
	"time"

	"github.com/paygate/paygate/flows"
)

// pinPool runs PIN checks (argon2id, ~20 ms and 19 MiB each) outside the
// writer, at most one per core at once: a flood of PIN attempts queues
// here (and then in the SMPP handlers, which push back on the SMSC with
// ESME_RTHROTTLED) instead of taking every core and gigabytes of memory.
type pinPool struct {
	sem chan struct{}
}

func newPINPool(n int) *pinPool {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	return &pinPool{sem: make(chan struct{}, n)}
}

// do runs w on the pool; ctx bounds the wait for a free slot.
func (p *pinPool) do(ctx context.Context, e *flows.Engine, w *flows.PINWork) (flows.PINResult, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return flows.PINResult{}, ctx.Err()
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
