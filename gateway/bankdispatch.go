package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// The bank dispatcher sends the bank outbox (ARCHITECTURE.md, Money): it
// claims queued requests with a lease, calls the connector, and feeds
// each answer back as a flow step (flows.Engine.HandleBankResult) in the
// same transaction that marks the request done. A request the bank did
// not answer is retried with backoff until it expires, and then reported
// Failed; a final refusal (*bank.FinalError) is Failed at once. A crash
// between the call and the step leaves the request queued: it is sent
// again when its lease ends — safe, for every request is idempotent at
// the bank (verify, balance and statement change nothing; a transfer
// carries its id as the idempotency key).

const (
	bankLease      = 30 * time.Second // how long a claimed request is ours
	bankBatch      = 64               // requests claimed at once
	bankConcurrent = 32               // requests in flight at once
	bankPoll       = time.Second      // claim this often without a signal
	bankCallLimit  = 20 * time.Second // one call's deadline, retries inside the connector included
)

type bankDispatcher struct {
	g     *Gateway
	owner string
	slots chan struct{}
	wg    sync.WaitGroup
}

func newBankDispatcher(g *Gateway) *bankDispatcher {
	host, _ := os.Hostname()
	return &bankDispatcher{
		g:     g,
		owner: fmt.Sprintf("bank/%s/%d/%x", host, os.Getpid(), rand.Uint32()),
		slots: make(chan struct{}, bankConcurrent),
	}
}

// run claims and sends until ctx ends, then waits for the calls under way.
func (d *bankDispatcher) run(ctx context.Context) {
	defer d.wg.Wait()
	t := time.NewTicker(bankPoll)
	defer t.Stop()
	for {
		d.claim(ctx)
		select {
		case <-ctx.Done():
			return
		case <-d.g.db.BankSignal():
		case <-t.C:
		}
	}
}

func (d *bankDispatcher) claim(ctx context.Context) {
	for ctx.Err() == nil {
		jobs, err := d.g.db.ClaimBank(ctx, d.owner, bankLease, bankBatch)
		if err != nil {
			if ctx.Err() == nil {
				d.g.log.Warn("bank outbox: claiming", "err", err)
			}
			return
		}
		for _, j := range jobs {
			select {
			case d.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			d.wg.Add(1)
			go func() {
				defer func() { <-d.slots; d.wg.Done() }()
				d.send(ctx, j)
			}()
		}
		if len(jobs) < bankBatch {
			return
		}
	}
}

// send makes one request and applies its outcome.
func (d *bankDispatcher) send(ctx context.Context, j store.BankJob) {
	req := j.Request
	res, err := d.call(ctx, req)
	now := d.g.now()
	var final *bank.FinalError
	switch {
	case err == nil:
	case errors.As(err, &final) || errors.Is(err, bank.ErrInvalidRequest) || errors.Is(err, errNoBank):
		d.g.log.Error("bank outbox: request refused; the flow is told it failed", "kind", req.Kind, "id", req.ID, "err", err)
		res = flows.BankResult{Failed: true}
	case ctx.Err() != nil:
		return // shutting down: the lease runs out and the next run sends it
	case !now.Before(req.Expires):
		d.g.log.Warn("bank outbox: no answer before the request expired", "kind", req.Kind, "id", req.ID, "attempts", j.Attempts+1, "err", err)
		res = flows.BankResult{Failed: true}
	default:
		next := now.Add(retryDelay(j.Attempts, 30*time.Second))
		if next.After(req.Expires) {
			next = req.Expires
		}
		d.g.metrics.bankJobs.WithLabelValues(string(req.Kind), "retry").Inc()
		if rerr := d.g.db.BankRetry(ctx, req.ID, next, err.Error()); rerr != nil && ctx.Err() == nil {
			d.g.log.Warn("bank outbox: recording a retry", "id", req.ID, "err", rerr)
		}
		return
	}
	res.ID, res.Phone, res.Kind = req.ID, req.Phone, req.Kind
	result := "answered"
	if res.Failed {
		result = "failed"
	}
	err = d.g.db.Step(ctx, func(tx *store.Tx) error {
		if err := tx.BankDone(ctx, req.ID); err != nil {
			return err
		}
		return d.g.engine.HandleBankResult(ctx, tx, res, now)
	})
	if err != nil {
		if ctx.Err() == nil {
			d.g.log.Warn("bank outbox: applying the answer; it will be asked again", "id", req.ID, "err", err)
		}
		return
	}
	d.g.metrics.bankJobs.WithLabelValues(string(req.Kind), result).Inc()
}

var errNoBank = errors.New("no bank connector is configured")

// call makes req at the bank.
func (d *bankDispatcher) call(ctx context.Context, req flows.BankRequest) (flows.BankResult, error) {
	if d.g.bank == nil {
		return flows.BankResult{}, errNoBank
	}
	cctx, cancel := context.WithTimeout(ctx, bankCallLimit)
	defer cancel()
	switch req.Kind {
	case flows.BankVerify:
		v, err := d.g.bank.Verify(cctx, bank.VerifyRequest{Bank: req.Bank, Account: req.Account, Phone: req.Phone})
		if err != nil {
			return flows.BankResult{}, err
		}
		return flows.BankResult{Exists: v.Exists, PhoneMatches: v.PhoneMatches, Holder: v.HolderName}, nil
	}
	return flows.BankResult{}, fmt.Errorf("%w: unknown request kind %q", bank.ErrInvalidRequest, req.Kind)
}
