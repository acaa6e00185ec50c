package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/internal/crashpoint"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
)

// Outbox sending policy.
const (
	leaseFor    = time.Minute // the database lease of a claimed or handed-over MT
	pollEvery   = 200 * time.Millisecond
	sendTimeout = 30 * time.Second // one attempt: bind wait, throttling, window, answer
	maxAttempts = 12               // then the MT fails
	retryCap    = 5 * time.Minute
)

// dispatcher sends the MT outbox: MTs handed over as their step commits
// (a phone's only queued MT), and due MTs it claims (each phone's oldest
// first, so a phone's MTs keep their order); it sends each on its bind
// and records the outcomes, many per step. It sends at least once: an MT whose
// submit outcome is unknown is sent again, because a reply lost is worse
// than a reply twice.
type dispatcher struct {
	g     *Gateway
	owner string
	slots chan struct{}

	mu   sync.Mutex
	held map[int64]bool // MTs being sent by this process (skipped by claims)
	wake chan struct{}

	sends    sync.WaitGroup
	stopOnce sync.Once
	stopping chan struct{}

	outcomes     chan *outcome
	recorderStop chan struct{}
	recorderDone chan struct{}
	// runDone is closed when run has returned, its sends done.
	runDone chan struct{}

	fastMu sync.Mutex
	fast   []store.MT // MTs leased at insert, waiting for a slot
}

// queued takes MTs a step leased to this dispatcher as it queued them
// (store.DB.OnQueued). It runs on the committing goroutine: it only
// appends and wakes the loop.
func (d *dispatcher) queued(mts []store.MT) {
	d.fastMu.Lock()
	d.fast = append(d.fast, mts...)
	d.fastMu.Unlock()
	d.kick()
}

// sendQueued starts sending the MTs handed over by queued, waiting for
// free slots; it reports false when stopping.
func (d *dispatcher) sendQueued() bool {
	for {
		d.fastMu.Lock()
		batch := d.fast
		d.fast = nil
		d.fastMu.Unlock()
		if len(batch) == 0 {
			return true
		}
		for _, m := range batch {
			d.mu.Lock()
			d.held[m.ID] = true
			d.mu.Unlock()
			select {
			case d.slots <- struct{}{}:
			case <-d.stopping:
				return false // leased in the database: sent after the lease or a restart
			}
			d.sends.Add(1)
			go d.send(m)
		}
	}
}

func newDispatcher(g *Gateway, n int) *dispatcher {
	host, _ := os.Hostname()
	return &dispatcher{
		g:        g,
		owner:    fmt.Sprintf("%s/%d/%x", host, os.Getpid(), rand.Uint32()),
		slots:    make(chan struct{}, n),
		held:     map[int64]bool{},
		wake:     make(chan struct{}, 1),
		stopping: make(chan struct{}),

		outcomes:     make(chan *outcome, 1024),
		recorderStop: make(chan struct{}),
		recorderDone: make(chan struct{}),
		runDone:      make(chan struct{}),
	}
}

// Has and Len make the held set a store.Leases.
func (d *dispatcher) Has(id int64) bool { d.mu.Lock(); defer d.mu.Unlock(); return d.held[id] }
func (d *dispatcher) Len() int          { d.mu.Lock(); defer d.mu.Unlock(); return len(d.held) }

func (d *dispatcher) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// run claims and sends until stop, and records outcomes until every send
// has ended.
func (d *dispatcher) run(ctx context.Context) {
	go d.recorder()
	defer close(d.runDone)
	defer func() {
		d.sends.Wait()
		close(d.recorderStop)
		<-d.recorderDone
	}()
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-d.stopping:
			return
		case <-ctx.Done():
			return
		case <-d.g.db.OutboxSignal():
		case <-d.wake:
		case <-t.C:
		}
		if !d.sendQueued() {
			return
		}
		for d.claimAndSend(ctx) {
		}
	}
}

// claimAndSend claims as many due MTs as there are free slots and starts
// sending them; it reports whether it filled every slot (more may wait).
func (d *dispatcher) claimAndSend(ctx context.Context) bool {
	free := cap(d.slots) - len(d.slots)
	if free == 0 {
		return false
	}
	rows, err := d.g.db.ClaimMT(ctx, d.owner, d.g.now(), leaseFor, free, d)
	if err != nil {
		if ctx.Err() == nil {
			d.g.log.Warn("outbox: cannot claim", "err", err)
		}
		return false
	}
	for _, m := range rows {
		d.mu.Lock()
		if d.held[m.ID] {
			d.mu.Unlock()
			continue
		}
		d.held[m.ID] = true
		d.mu.Unlock()
		select {
		case d.slots <- struct{}{}:
		case <-d.stopping:
			d.release(m.ID)
			return false
		}
		d.sends.Add(1)
		go d.send(m)
	}
	return len(rows) == free
}

func (d *dispatcher) release(id int64) {
	d.mu.Lock()
	delete(d.held, id)
	d.mu.Unlock()
}

// stop stops claiming and waits for the sends under way (or ctx). It
// waits for run to return rather than on the sends' WaitGroup itself:
// run may still be adding a send, and a Wait concurrent with an Add from
// zero is a race.
func (d *dispatcher) stop(ctx context.Context) {
	d.stopOnce.Do(func() { close(d.stopping) })
	select {
	case <-d.runDone:
	case <-ctx.Done():
	}
}

// route picks the bind for an MT (SPEC §3): the one its MO came in on,
// else the longest matching route prefix, else the first bound SMSC.
func (d *dispatcher) route(m store.MT) *bind {
	if b, ok := d.g.byName[m.Bind]; ok && b.client.Bound() {
		return b
	}
	best := -1
	var pick *bind
	for _, r := range d.g.cfg.Routes {
		if strings.HasPrefix(string(m.Phone), r.Prefix) && len(r.Prefix) > best {
			if b, ok := d.g.byName[r.SMSC]; ok && b.client.Bound() {
				best, pick = len(r.Prefix), b
			}
		}
	}
	if pick != nil {
		return pick
	}
	for _, b := range d.g.binds {
		if b.client.Bound() {
			return b
		}
	}
	return nil
}

// send makes one attempt at an MT and records its outcome.
func (d *dispatcher) send(m store.MT) {
	defer d.sends.Done()
	defer func() { <-d.slots }()
	defer d.kick() // the phone's next MT may now be due
	defer d.release(m.ID)

	ctx := d.g.ctx
	now := d.g.now()
	b := d.route(m)
	if b == nil {
		d.record(ctx, m, func(tx *store.Tx) error {
			return tx.MTRetry(ctx, m.ID, now.Add(time.Second), "no SMSC bound")
		}, "", "retry")
		return
	}
	text, err := d.g.db.Text(m)
	if err != nil {
		d.record(ctx, m, func(tx *store.Tx) error { return tx.MTFailed(ctx, m.ID, "text cannot be opened", now) }, b.cfg.Name, "failed")
		return
	}
	crashpoint.Hit(crashpoint.BeforeMTSubmit)
	sctx, cancel := context.WithTimeout(ctx, sendTimeout)
	ids, err := b.client.SubmitText(sctx, smpp.Text{
		Source:  smpp.Address{TON: 3, NPI: 0, Addr: m.Sender}, // a short code: network specific
		Dest:    destAddress(string(m.Phone)),
		Body:    text,
		Receipt: b.cfg.Receipts,
	}, strconv.FormatInt(m.ID, 10))
	cancel()
	now = d.g.now()
	var se *smpp.StatusError
	var pe *smpp.PartialError
	switch {
	case err == nil:
		d.record(ctx, m, func(tx *store.Tx) error {
			return tx.MTSent(ctx, m.ID, b.cfg.Name, ids, smpp.MessageIDKeys, now)
		}, b.cfg.Name, "sent")
		d.applyEarly(ctx, b.cfg.Name, ids)
	case errors.Is(err, smpp.ErrClientClosed) || ctx.Err() != nil:
		// Shutting down: the lease ends and the MT stays queued.
		d.record(context.Background(), m, func(tx *store.Tx) error {
			return tx.MTRetry(context.Background(), m.ID, now, "gateway stopped")
		}, b.cfg.Name, "retry")
	case errors.As(err, &pe):
		// Some parts reached the phone: sending again would repeat them.
		d.record(ctx, m, func(tx *store.Tx) error { return tx.MTFailed(ctx, m.ID, err.Error(), now) }, b.cfg.Name, "failed")
	case errors.As(err, &se) && !se.Temporary(), m.Attempts+1 >= maxAttempts:
		d.record(ctx, m, func(tx *store.Tx) error { return tx.MTFailed(ctx, m.ID, err.Error(), now) }, b.cfg.Name, "failed")
	default:
		// Temporary, unknown outcome, or no bind in time: again later.
		next := now.Add(retryDelay(m.Attempts, retryCap))
		d.record(ctx, m, func(tx *store.Tx) error { return tx.MTRetry(ctx, m.ID, next, err.Error()) }, b.cfg.Name, "retry")
	}
}

// record queues an MT's outcome for the recorder, which commits many
// outcomes in one step, and waits until it is committed (the MT's lease,
// in memory and in the database, keeps it from a second send until then).
func (d *dispatcher) record(ctx context.Context, m store.MT, fn func(tx *store.Tx) error, bind, result string) {
	d.g.metrics.mts.WithLabelValues(bind, result).Inc()
	o := &outcome{id: m.ID, fn: fn, done: make(chan struct{})}
	select {
	case d.outcomes <- o:
		<-o.done
	case <-d.recorderDone:
	}
}

// outcome is one MT's result waiting to be committed.
type outcome struct {
	id   int64
	fn   func(tx *store.Tx) error
	done chan struct{}
}

// recorder commits outcomes in batches: one step for all that are
// waiting. While the store is unavailable it retries, so an outcome is not
// lost; an outcome whose own writes fail is logged and dropped (its lease
// expires and it is claimed again).
func (d *dispatcher) recorder() {
	defer close(d.recorderDone)
	batch := make([]*outcome, 0, 256)
	for {
		var o *outcome
		select {
		case o = <-d.outcomes:
		case <-d.recorderStop:
			return
		}
		batch = append(batch[:0], o)
	fill:
		for len(batch) < cap(batch) {
			select {
			case o := <-d.outcomes:
				batch = append(batch, o)
			default:
				break fill
			}
		}
		for attempt := 0; ; attempt++ {
			err := d.g.db.Step(context.Background(), func(tx *store.Tx) error {
				for _, o := range batch {
					if err := o.fn(tx); err != nil {
						if errors.Is(err, store.ErrUnavailable) {
							return err
						}
						d.g.log.Error("outbox: outcome not recorded", "mt", o.id, "err", err)
					}
				}
				return nil
			})
			if err == nil || !errors.Is(err, store.ErrUnavailable) {
				break
			}
			select {
			case <-time.After(min(time.Duration(attempt+1)*100*time.Millisecond, 5*time.Second)):
			case <-d.recorderStop:
				return
			}
		}
		for _, o := range batch {
			close(o.done)
		}
	}
}

// applyEarly applies receipts that arrived before the MT was recorded.
func (d *dispatcher) applyEarly(ctx context.Context, bind string, ids []string) {
	for _, id := range ids {
		keys := smpp.MessageIDKeys(id)
		if st, ok := d.g.early.take(bind, keys); ok {
			if _, err := d.g.applyReceipt(ctx, bind, keys, st); err != nil {
				d.g.log.Warn("outbox: early receipt not applied", "err", err)
			}
		}
	}
}

// retryDelay is the pause after attempts+1 failed attempts of an outbox
// row (an MT, a bank request, a webhook): doubling from firstRetry,
// capped at limit, with jitter (between half and all of it) so that
// retries of many rows spread out.
func retryDelay(attempts int, limit time.Duration) time.Duration {
	d := firstRetry << min(attempts, 30)
	if d <= 0 || d > limit {
		d = limit
	}
	return d/2 + rand.N(d/2+1)
}

// firstRetry is retryDelay's pause after a first failed attempt.
const firstRetry = time.Second

// destAddress is an E.164 number as SMPP carries it: TON 1, NPI 1,
// without the "+".
func destAddress(phone string) smpp.Address {
	if strings.HasPrefix(phone, "+") {
		return smpp.Address{TON: 1, NPI: 1, Addr: phone[1:]}
	}
	return smpp.Address{TON: 0, NPI: 1, Addr: phone}
}
