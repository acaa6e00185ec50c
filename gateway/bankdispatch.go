package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/internal/crashpoint"
	"github.com/paygate/paygate/store"
)

// The bank dispatcher sends the bank outbox (ARCHITECTURE.md, Money): it
// claims queued requests with a lease, calls the connector, and feeds
// each answer back as a flow step (flows.Engine.HandleBankResult) in the
// same transaction that marks the request done. A crash between the call
// and the step leaves the request queued: it is sent again when its lease
// ends — safe, for every request is idempotent at the bank (verify,
// balance and statement change nothing; a transfer carries its id as the
// idempotency key, SPEC §8).
//
// Verify, balance and statement are retried with backoff while the bank
// does not answer, until the request expires; then the flow is told it
// Failed. A final refusal (*bank.FinalError) is Failed at once.
//
// A transfer never expires: once authorized it is sent until the bank
// gives a final answer (SPEC §6). An outcome that is not final — a
// timeout, a dropped connection, a 5xx, the call's deadline — makes the
// transfer unknown: the flow is told (sent → unknown) and the same
// request, with the same id, goes again after a backoff capped at
// transferRetryCap, so that an unknown is resolved soon after the bank
// recovers (RELIABILITY.md I5, R13). An open circuit breaker sent
// nothing: the transfer is retried without becoming unknown. A refusal
// proves nothing was moved only when the bank judged the body itself (400,
// 422); any other refusal is checked with a status inquiry first, since
// an earlier attempt — this process's or a crashed one's — may have got
// through. A transfer the bank refused for good, or that cannot be sent
// at all, is Failed (the flow rejects it, reason "bank_error"), logged at
// Error level with its id; operators are alerted by
// paygate_bank_final_errors_total (the bank's refusals, counted by the
// connector's hooks) and paygate_bank_outbox_total{result="failed"}.

const (
	bankLease      = 30 * time.Second // how long a claimed request is ours
	bankBatch      = 64               // requests claimed at once
	bankConcurrent = 32               // requests in flight at once
	bankPoll       = time.Second      // claim this often without a signal
	bankCallLimit  = 20 * time.Second // one call's deadline, retries inside the connector included
	// queryRetryCap is the longest pause between attempts of a verify,
	// balance or statement request.
	queryRetryCap = 30 * time.Second
	// transferRetryCap is the longest pause between attempts of a
	// transfer: with the call limit and the breaker's cool-down, an
	// unknown transfer is asked again well within I5's 2 minutes of the
	// bank's recovery.
	transferRetryCap = 15 * time.Second
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

// verdict is what the dispatcher does with the outcome of one call.
type verdict int

const (
	// verdictAnswer: apply the result and end the request.
	verdictAnswer verdict = iota
	// verdictRetry: nothing the flow needs to hear; ask again later.
	verdictRetry
	// verdictUnknown: a transfer's outcome is unknown; tell the flow and
	// ask again later.
	verdictUnknown
	// verdictLeave: shutting down; the lease runs out and the next run
	// sends it.
	verdictLeave
)

// Results of paygate_bank_outbox_total.
const (
	resultAnswered = "answered" // the bank's answer applied
	resultFailed   = "failed"   // the flow told no answer will come
	resultRetry    = "retry"    // asked again later
	resultUnknown  = "unknown"  // a transfer's outcome unknown; asked again later
)

// send makes one request and applies its outcome.
func (d *bankDispatcher) send(ctx context.Context, j store.BankJob) {
	req := j.Request
	res, err := d.call(ctx, req)
	crashpoint.Hit(crashpoint.AfterBankRequest)
	now := d.g.now()
	var v verdict
	if req.Kind == flows.BankTransfer {
		v = d.judgeTransfer(ctx, j, err)
	} else {
		v = d.judgeQuery(ctx, j, now, err)
	}
	switch v {
	case verdictLeave:
		return
	case verdictRetry, verdictUnknown:
		d.retry(ctx, j, now, v == verdictUnknown, err)
		return
	}
	if err != nil {
		res = flows.BankResult{Failed: true}
	}
	res.ID, res.Phone, res.Kind = req.ID, req.Phone, req.Kind
	result := resultAnswered
	if res.Failed {
		result = resultFailed
	}
	err = d.g.db.Step(ctx, func(tx *store.Tx) error {
		if err := tx.BankDone(ctx, req.ID); err != nil {
			return err
		}
		return d.g.engine.HandleBankResult(ctx, tx, res, now)
	})
	crashpoint.Hit(crashpoint.AfterBankAnswer)
	if err != nil {
		if ctx.Err() == nil {
			d.g.log.Warn("bank outbox: applying the answer; it will be asked again", "kind", req.Kind, "id", req.ID, "err", err)
		}
		return
	}
	d.g.metrics.bankJobs.WithLabelValues(string(req.Kind), result).Inc()
}

// judgeQuery decides on the outcome of a verify, balance or statement
// request: answered, refused (answer Failed), unanswered before it
// expired (answer Failed), or to be asked again.
func (d *bankDispatcher) judgeQuery(ctx context.Context, j store.BankJob, now time.Time, err error) verdict {
	req := j.Request
	switch {
	case err == nil:
		return verdictAnswer
	case refusedForGood(err):
		d.g.log.Error("bank outbox: request refused; the flow is told it failed", "kind", req.Kind, "id", req.ID, "err", err)
		return verdictAnswer
	case ctx.Err() != nil:
		return verdictLeave
	case !now.Before(req.Expires):
		d.g.log.Warn("bank outbox: no answer before the request expired", "kind", req.Kind, "id", req.ID, "attempts", j.Attempts+1, "err", err)
		return verdictAnswer
	}
	return verdictRetry
}

// judgeTransfer decides on the outcome of a transfer. Only a final
// answer or a refusal for good ends it; ErrUnknown is checked before
// *bank.FinalError because the connector wraps both when a refusal came
// after an attempt that may have got through.
func (d *bankDispatcher) judgeTransfer(ctx context.Context, j store.BankJob, err error) verdict {
	req := j.Request
	switch {
	case err == nil:
		return verdictAnswer
	case ctx.Err() != nil:
		return verdictLeave
	case errors.Is(err, bank.ErrUnknown):
		return verdictUnknown
	case errors.Is(err, bank.ErrCircuitOpen):
		return verdictRetry // nothing was sent
	case refusedForGood(err):
		d.g.log.Error("bank outbox: transfer refused for good; it is rejected and operators must look",
			"id", req.ID, "attempts", j.Attempts+1, "err", err)
		return verdictAnswer
	}
	return verdictUnknown
}

// refusedForGood reports whether err ends a request without an answer:
// the bank refused it (a final 4xx), the connector will not send it, or
// there is no bank.
func refusedForGood(err error) bool {
	var final *bank.FinalError
	return errors.As(err, &final) || errors.Is(err, bank.ErrInvalidRequest) || errors.Is(err, errNoBank)
}

// retry puts the request back in the queue with backoff. For a transfer
// whose outcome is unknown the same step tells the flow (sent → unknown;
// the engine ignores repeats).
func (d *bankDispatcher) retry(ctx context.Context, j store.BankJob, now time.Time, unknown bool, cause error) {
	req := j.Request
	limit := queryRetryCap
	if req.Kind == flows.BankTransfer {
		limit = transferRetryCap
	}
	next := now.Add(retryDelay(j.Attempts, limit))
	if !req.Expires.IsZero() && next.After(req.Expires) {
		next = req.Expires
	}
	result := resultRetry
	if unknown {
		result = resultUnknown
		d.g.log.Warn("bank outbox: transfer outcome unknown; it will be asked again with the same id",
			"id", req.ID, "attempts", j.Attempts+1, "next", next, "err", cause)
	}
	err := d.g.db.Step(ctx, func(tx *store.Tx) error {
		if err := tx.BankRetry(ctx, req.ID, next, cause.Error()); err != nil || !unknown {
			return err
		}
		res := flows.BankResult{ID: req.ID, Phone: req.Phone, Kind: req.Kind, Status: flows.TransferUnknown}
		return d.g.engine.HandleBankResult(ctx, tx, res, now)
	})
	if err != nil {
		if ctx.Err() == nil {
			d.g.log.Warn("bank outbox: recording a retry", "kind", req.Kind, "id", req.ID, "err", err)
		}
		return
	}
	d.g.metrics.bankJobs.WithLabelValues(string(req.Kind), result).Inc()
}

var errNoBank = errors.New("no bank connector is configured")

// call makes req at the bank, within bankCallLimit.
func (d *bankDispatcher) call(ctx context.Context, req flows.BankRequest) (flows.BankResult, error) {
	if d.g.bank == nil {
		return flows.BankResult{}, errNoBank
	}
	cctx, cancel := context.WithTimeout(ctx, bankCallLimit)
	defer cancel()
	account := bank.Account{Bank: req.Bank, Number: req.Account}
	switch req.Kind {
	case flows.BankVerify:
		v, err := d.g.bank.Verify(cctx, bank.VerifyRequest{Bank: req.Bank, Account: req.Account, Phone: req.Phone})
		if err != nil {
			return flows.BankResult{}, err
		}
		return flows.BankResult{Exists: v.Exists, PhoneMatches: v.PhoneMatches, Holder: v.HolderName}, nil
	case flows.BankTransfer:
		return d.transfer(cctx, req)
	case flows.BankBalance:
		b, err := d.g.bank.Balance(cctx, account)
		if err != nil {
			return flows.BankResult{}, err
		}
		return flows.BankResult{Available: flows.Amount(b.Available), Currency: b.Currency}, nil
	case flows.BankStatement:
		limit := req.Limit
		if limit <= 0 {
			limit = flows.MiniEntries
		}
		entries, err := d.g.bank.Statement(cctx, account, min(limit, bank.MaxStatement))
		if err != nil {
			return flows.BankResult{}, err
		}
		res := flows.BankResult{Entries: make([]flows.StatementEntry, 0, len(entries))}
		for _, e := range entries {
			res.Entries = append(res.Entries, flows.StatementEntry{
				Time: e.Time, Amount: flows.Amount(e.Amount), Counterpart: e.Counterpart.Masked(), Reference: e.Reference,
			})
		}
		return res, nil
	}
	return flows.BankResult{}, fmt.Errorf("%w: unknown request kind %q", bank.ErrInvalidRequest, req.Kind)
}

// transfer sends a transfer (SPEC §8 POST /v1/transfers, the transfer id
// as the Idempotency-Key) and returns the bank's final answer. A refusal
// that does not prove the transfer was never applied (anything but 400
// and 422: the bank judged the body) is checked with GET
// /v1/transfers/{id}: the bank's result for the id when it has one, the
// refusal when it never received the id, and an error wrapping
// bank.ErrUnknown when the inquiry did not say.
func (d *bankDispatcher) transfer(ctx context.Context, req flows.BankRequest) (flows.BankResult, error) {
	tr := bank.TransferRequest{
		ID: req.ID, Reference: req.Reference,
		Debit:  bank.Account{Bank: req.Bank, Number: req.Account},
		Credit: bank.Account{Bank: req.Credit.Bank, Number: req.Credit.Number},
		Amount: int64(req.Amount), Fee: int64(req.Fee),
		Currency: d.g.cfg.Currency, Narrative: req.Narrative,
	}
	r, err := d.g.bank.Transfer(ctx, tr)
	var final *bank.FinalError
	if errors.As(err, &final) && !errors.Is(err, bank.ErrUnknown) && !judgedBody(final.Status) {
		var ierr error
		r, ierr = d.g.bank.TransferStatus(ctx, req.ID)
		switch {
		case errors.Is(ierr, bank.ErrNotReceived):
			return flows.BankResult{}, err // never received: the refusal stands
		case ierr != nil:
			return flows.BankResult{}, fmt.Errorf("%w: transfer %s refused (%w), and the inquiry did not settle it: %w",
				bank.ErrUnknown, req.ID, err, ierr)
		}
		err = nil
	}
	if err != nil {
		return flows.BankResult{}, err
	}
	switch r.Status {
	case bank.StatusCompleted:
		return flows.BankResult{Status: flows.TransferCompleted, BankRef: r.BankReference}, nil
	case bank.StatusRejected:
		return flows.BankResult{Status: flows.TransferRejected, BankRef: r.BankReference, Reason: r.Reason}, nil
	}
	// The connector returns only final answers; anything else is not one.
	return flows.BankResult{}, fmt.Errorf("%w: transfer %s: the answer's status is not final", bank.ErrUnknown, req.ID)
}

// judgedBody reports whether a refusal with HTTP status means the bank
// judged the request's body and recorded nothing (SPEC §8): a bank never
// applies an id it answered so. Other refusals (401, 403, 404, 409, …)
// say nothing about an earlier attempt.
func judgedBody(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusUnprocessableEntity
}
