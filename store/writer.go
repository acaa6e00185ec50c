package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// writer is SQLite's group commit: one goroutine owns the only write
// connection and runs the steps that are waiting as one transaction, each
// inside its own savepoint, with one fsync for all of them.
type writer struct {
	db       *DB
	reqs     chan *stepReq
	maxBatch int
	quit     chan struct{}
	wg       sync.WaitGroup

	// mu orders sends against close: after close no request enters reqs,
	// so the loop's final drain answers every request that did.
	mu     sync.RWMutex
	closed bool

	// Prepared once on the one connection: through sqlite3_exec they
	// would be parsed again for every step.
	savepoint, rollbackTo, release *sql.Stmt
}

type stepReq struct {
	ctx  context.Context
	fn   func(*Tx) error
	done chan error
	tx   *Tx
}

var reqPool = sync.Pool{New: func() any { return &stepReq{done: make(chan error, 1)} }}

func newWriter(db *DB, maxBatch int) (*writer, error) {
	w := &writer{db: db, reqs: make(chan *stepReq, 4096), maxBatch: maxBatch, quit: make(chan struct{})}
	for q, stmt := range map[string]**sql.Stmt{"SAVEPOINT step": &w.savepoint, "ROLLBACK TO step": &w.rollbackTo, "RELEASE step": &w.release} {
		var err error
		if *stmt, err = db.w.Prepare(q); err != nil {
			return nil, fmt.Errorf("%w: preparing %s: %w", ErrUnavailable, q, err)
		}
	}
	w.wg.Add(1)
	go w.loop()
	return w, nil
}

func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	w.wg.Wait()
	w.savepoint.Close()
	w.rollbackTo.Close()
	w.release.Close()
}

func (w *writer) do(ctx context.Context, fn func(*Tx) error) error {
	r := reqPool.Get().(*stepReq)
	r.ctx, r.fn = ctx, fn
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		reqPool.Put(r)
		return fmt.Errorf("%w: closed", ErrUnavailable)
	}
	select {
	case w.reqs <- r:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		reqPool.Put(r)
		return ctx.Err()
	}
	// The step runs even if ctx ends now: its result must be read.
	err := <-r.done
	r.ctx, r.fn, r.tx = nil, nil, nil
	reqPool.Put(r)
	return err
}

func (w *writer) loop() {
	defer w.wg.Done()
	batch := make([]*stepReq, 0, w.maxBatch)
	for {
		select {
		case r := <-w.reqs:
			batch = append(batch[:0], r)
		case <-w.quit:
			// Finish what is queued, then stop.
			for {
				select {
				case r := <-w.reqs:
					w.run([]*stepReq{r})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < w.maxBatch {
			select {
			case r := <-w.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		w.run(batch)
	}
}

// run commits one batch. A step whose fn fails is rolled back to its
// savepoint and gets its own error; the others commit together. If the
// commit itself fails, every step in the batch gets that error.
func (w *writer) run(batch []*stepReq) {
	sqltx, err := w.db.w.Beginx()
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	errs := make([]error, len(batch))
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := sqltx.Stmt(w.savepoint).Exec(); err != nil {
			errs[i] = fmt.Errorf("%w: %w", ErrUnavailable, err)
			continue
		}
		r.tx = &Tx{db: w.db, q: uncancellable{sqltx}}
		if err := runStep(r.tx, r.fn); err != nil {
			errs[i] = err
			r.tx = nil
			if _, rerr := sqltx.Stmt(w.rollbackTo).Exec(); rerr != nil {
				// The transaction is unusable: fail the whole batch.
				sqltx.Rollback()
				for _, r := range batch {
					r.done <- fmt.Errorf("%w: %w", ErrUnavailable, rerr)
				}
				return
			}
		}
		if _, err := sqltx.Stmt(w.release).Exec(); err != nil && errs[i] == nil {
			errs[i] = fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if err := sqltx.Commit(); err != nil {
		err = fmt.Errorf("%w: committing: %w", ErrUnavailable, err)
		for _, r := range batch {
			r.done <- err
		}
		return
	}
	w.db.steps.Add(int64(len(batch)))
	w.db.commits.Add(1)
	for i, r := range batch {
		if errs[i] == nil && r.tx != nil {
			r.tx.committed()
		}
		r.done <- errs[i]
	}
}
