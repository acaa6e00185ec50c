package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/paygate/paygate/flows"
)

// QueueBank implements flows.Tx: the request goes in the bank outbox,
// sealed and bound to its id (it holds an account number), due at once.
// After the step commits, BankSignal tells the dispatcher. An id already
// in the outbox changes nothing and returns an error wrapping
// ErrDuplicate; the transaction stays usable.
func (tx *Tx) QueueBank(ctx context.Context, r flows.BankRequest) error {
	if r.ID == "" {
		return errors.New("store: queueing bank request: empty id")
	}
	b, err := flows.MarshalBankRequest(r)
	if err != nil {
		return fmt.Errorf("store: queueing bank request: %w", err)
	}
	at := tx.db.now().UnixMicro()
	res, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO bank_outbox (id, phone, kind, payload, state, next_at, created_at)
		VALUES (?, ?, ?, ?, 'queued', ?, ?) ON CONFLICT (id) DO NOTHING`),
		r.ID, string(r.Phone), string(r.Kind), tx.db.keys.sealBytes(b, []byte(r.ID)), at, at)
	if err != nil {
		if tx.db.d.duplicate(err) {
			return fmt.Errorf("store: queueing bank request %s: %w", r.ID, ErrDuplicate)
		}
		return fmt.Errorf("store: queueing bank request: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: queueing bank request: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: queueing bank request %s: %w", r.ID, ErrDuplicate)
	}
	tx.queuedBank = true
	return nil
}

// BankDone ends the bank request id: its answer (or the dispatcher's
// giving up) is applied by the step that calls it, and it will not be
// sent again. The sealed request is erased. A request already done is
// left as it is (an answer applied twice); an unknown id returns
// flows.ErrNotFound.
func (tx *Tx) BankDone(ctx context.Context, id string) error {
	res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE bank_outbox SET state = 'done', payload = NULL, done_at = ?, lease_owner = '', lease_until = 0
		WHERE id = ? AND state = 'queued'`), tx.db.now().UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("store: ending bank request: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: ending bank request: %w", err)
	} else if n > 0 {
		return nil
	}
	var one int
	err = tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT 1 FROM bank_outbox WHERE id = ?`), id).Scan(&one)
	if isNoRows(err) {
		return flows.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: ending bank request: %w", err)
	}
	return nil
}

// BankSignal is sent on (without blocking) after a commit that queued a
// bank request, so a dispatcher in this process can claim it at once.
func (db *DB) BankSignal() <-chan struct{} { return db.bankSignal }

// BankJob is a bank request claimed for sending.
type BankJob struct {
	Request flows.BankRequest
	// Attempts counts the sends that failed before (BankRetry).
	Attempts int
}

// claimedBank is a bank outbox row as ClaimBank reads it.
type claimedBank struct {
	ID       string `db:"id"`
	Kind     string `db:"kind"`
	Payload  []byte `db:"payload"`
	Attempts int    `db:"attempts"`
	NextAt   int64  `db:"next_at"`
	Created  int64  `db:"created_at"`
}

// ClaimBank leases up to limit due bank requests, oldest first, to owner
// until now+lease (now is the store's clock), and returns them opened. As
// with ClaimMT the lease is in the database on both dialects: on
// PostgreSQL the rows are claimed FOR UPDATE SKIP LOCKED, so dispatchers
// in several processes never take one row at once; on SQLite the claim
// is a step of the one writer. A row under a live lease is not claimed;
// an expired lease (a crashed dispatcher) makes it claimable again. A row
// that cannot be opened is logged and left leased, so that it does not
// hold up the others; it comes back, and is logged again, when its lease
// runs out.
//
// In the same step, the transfers among the claimed requests (kind
// transfer, whose id is the transfer's) move from authorized to sent
// (SPEC §6); those already sent, unknown or answered stay as they are.
func (db *DB) ClaimBank(ctx context.Context, owner string, lease time.Duration, limit int) ([]BankJob, error) {
	now := db.now()
	at := now.UnixMicro()
	var rows []claimedBank
	q := db.w.Rebind(`UPDATE bank_outbox SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM bank_outbox WHERE state = 'queued' AND next_at <= ? AND lease_until < ?
		ORDER BY next_at, created_at, id LIMIT ?` + db.d.lockSkip + `)
		RETURNING id, kind, payload, attempts, next_at, created_at`)
	err := db.Step(ctx, func(tx *Tx) error {
		rows = rows[:0]
		if err := tx.q.SelectContext(ctx, &rows, q, owner, now.Add(lease).UnixMicro(), at, at, limit); err != nil {
			return err
		}
		var transfers []string
		for _, r := range rows {
			if r.Kind == string(flows.BankTransfer) {
				transfers = append(transfers, r.ID)
			}
		}
		return tx.markSent(ctx, transfers, now)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: claiming bank requests: %w", ErrUnavailable, err)
	}
	// RETURNING promises no order.
	slices.SortFunc(rows, func(a, b claimedBank) int {
		return cmp.Or(cmp.Compare(a.NextAt, b.NextAt), cmp.Compare(a.Created, b.Created), cmp.Compare(a.ID, b.ID))
	})
	jobs := make([]BankJob, 0, len(rows))
	for _, r := range rows {
		b, err := db.keys.openBytes(r.Payload, []byte(r.ID))
		if err != nil {
			db.log.Error("store: bank request cannot be opened", "id", r.ID, "err", err)
			continue
		}
		req, err := flows.UnmarshalBankRequest(b)
		if err != nil {
			db.log.Error("store: bank request cannot be decoded", "id", r.ID, "err", err)
			continue
		}
		jobs = append(jobs, BankJob{Request: req, Attempts: r.Attempts})
	}
	return jobs, nil
}

// BankRetry puts the bank request id back in the queue for another
// attempt at next, ending its lease and counting the failed attempt.
// errText is kept for operators: it must hold no secret (no account
// number). A request already done is left as it is.
func (tx *Tx) BankRetry(ctx context.Context, id string, next time.Time, errText string) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE bank_outbox SET attempts = attempts + 1, next_at = ?, lease_owner = '', lease_until = 0,
		last_error = ? WHERE id = ? AND state = 'queued'`), next.UnixMicro(), truncate(errText, 200), id)
	if err != nil {
		return fmt.Errorf("store: rescheduling bank request: %w", err)
	}
	return nil
}

// BankState is a bank outbox row's state, for tests and operators.
type BankState struct {
	ID         string         `db:"id"`
	Phone      flows.MSISDN   `db:"phone"`
	Kind       flows.BankKind `db:"kind"`
	State      string         `db:"state"` // "queued", or "done" once its answer is applied
	Attempts   int            `db:"attempts"`
	LeaseOwner string         `db:"lease_owner"`
	LastError  string         `db:"last_error"`
	// Sealed: the sealed request is still held; it is erased once done.
	Sealed bool `db:"sealed"`
}

// BankRequests returns the bank outbox rows of a phone, oldest first.
func (db *DB) BankRequests(ctx context.Context, phone flows.MSISDN) ([]BankState, error) {
	var out []BankState
	err := db.r.SelectContext(ctx, &out, db.r.Rebind(`SELECT id, phone, kind, state, attempts, lease_owner, last_error,
		CASE WHEN payload IS NULL THEN 0 ELSE 1 END AS sealed
		FROM bank_outbox WHERE phone = ? ORDER BY created_at, id`), string(phone))
	return out, err
}

// BankQueueDepth returns how many bank requests wait for an answer.
func (db *DB) BankQueueDepth(ctx context.Context) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM bank_outbox WHERE state = 'queued'`)
	return n, err
}
