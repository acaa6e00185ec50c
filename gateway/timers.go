package gateway

import (
	"context"
	"time"

	"github.com/paygate/paygate/store"
)

// Timers are the flow steps the clock starts: a transfer whose PIN or
// code prompt went unanswered expires (SPEC §6, 5 minutes). They are
// driven by the database, not by timers in memory, so a restart loses
// none: each tick asks the store which transfers are due and runs one
// step for each (flows.Engine.ExpireTransfer). Several gateways on one
// PostgreSQL database may expire the same transfer at once; the step is
// idempotent (a transfer no longer pending changes nothing), so the
// second one is a no-op.

const (
	timerTick  = time.Second // how often due transfers are looked for
	timerBatch = 256         // due transfers read at once
)

// timers runs the timer steps at once and then every timerTick until ctx
// ends. A failing step is logged and tried again on the next tick.
func (g *Gateway) timers(ctx context.Context) {
	t := time.NewTicker(timerTick)
	defer t.Stop()
	for {
		g.expireTransfers(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// expireTransfers runs ExpireTransfer for every transfer due now, a
// batch at a time. It reads another batch only when the last one was
// full and every step in it succeeded, so that a transfer whose step
// keeps failing does not spin the loop: it waits for the next tick.
func (g *Gateway) expireTransfers(ctx context.Context) {
	for ctx.Err() == nil {
		now := g.now()
		due, err := g.db.DueTransfers(ctx, now, timerBatch)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("timers: reading due transfers", "err", err)
			}
			return
		}
		failed := false
		for _, d := range due {
			err := g.db.Step(ctx, func(tx *store.Tx) error {
				return g.engine.ExpireTransfer(ctx, tx, d.ID, now)
			})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				failed = true
				g.log.Warn("timers: expiring a transfer; tried again next tick", "id", d.ID, "phone", d.Payer, "err", err)
			}
		}
		if failed || len(due) < timerBatch {
			return
		}
	}
}
