package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/paygate/paygate/flows"
)

// The USSD push dispatcher: network-initiated prompts a step queued
// (flows.USSDPush, a merchant's push request) leave after the commit. A
// prompt whose request no longer waits for the PIN is dropped unsent; one
// the SMSC does not take is tried again a few times while it is worth it
// (the SMS the step sent says how to answer without the screen).

const (
	pushLease    = 30 * time.Second
	pushAttempts = 3
	pushRetry    = 5 * time.Second
	pushTick     = time.Second
)

// pushes runs the push dispatcher until ctx ends.
func (g *Gateway) pushes(ctx context.Context) {
	owner := "pushes-" + newID()
	t := time.NewTicker(pushTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-g.db.PushSignal():
		}
		jobs, err := g.db.ClaimPushes(ctx, owner, pushLease, 16)
		if err != nil {
			if ctx.Err() == nil {
				g.log.Warn("pushes: claiming", "err", err)
			}
			continue
		}
		for _, j := range jobs {
			g.push(ctx, j.USSDPush, j.Attempts)
		}
	}
}

// push sends one prompt and records how it went.
func (g *Gateway) push(ctx context.Context, p flows.USSDPush, attempts int) {
	done := func(result, errText string) {
		g.metrics.pushes.WithLabelValues(result).Inc()
		if err := g.db.PushDone(ctx, p.ID, errText); err != nil && ctx.Err() == nil {
			g.log.Warn("pushes: recording", "err", err)
		}
	}
	_, t, _, err := g.db.RequestState(ctx, p.ID)
	switch {
	case errors.Is(err, flows.ErrNotFound):
		done("stale", "no such request")
		return
	case err != nil:
		g.log.Warn("pushes: reading the request", "err", err)
		return // the lease runs out and it comes back
	case t.State != flows.TransferPendingPIN:
		done("stale", "the request is "+string(t.State))
		return
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = g.PushUSSD(sctx, p.Phone, p.Text)
	cancel()
	if err == nil {
		done("sent", "")
		return
	}
	if attempts+1 >= pushAttempts || !g.now().Add(pushRetry).Before(p.Expires) {
		g.log.Warn("pushes: giving up on a USSD prompt", "phone", p.Phone, "err", err)
		done("failed", "not accepted: "+err.Error())
		return
	}
	g.metrics.pushes.WithLabelValues("retry").Inc()
	if err := g.db.PushRetry(ctx, p.ID, g.now().Add(pushRetry), err.Error()); err != nil && ctx.Err() == nil {
		g.log.Warn("pushes: rescheduling", "err", err)
	}
}
