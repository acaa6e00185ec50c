package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/flows"
)

// MT is an outbox row claimed for sending.
type MT struct {
	ID       int64        `db:"id"`
	Phone    flows.MSISDN `db:"phone"`
	Sender   string       `db:"sender"`
	Body     string       `db:"body"`
	Sealed   []byte       `db:"body_sealed"`
	Bind     string       `db:"bind"`
	Attempts int          `db:"attempts"`
	Created  int64        `db:"created_at"`
}

// Text returns the MT's text, opening it when it is sealed.
func (db *DB) Text(m MT) (string, error) {
	if m.Sealed == nil {
		return m.Body, nil
	}
	b, err := db.keys.openBytes(m.Sealed, []byte(m.Phone))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// claimable selects the queued MTs that are due and are the oldest queued
// MT of their phone: a phone's next MT waits until the one before it has
// left, which keeps each phone's MTs in order across dispatchers.
const claimable = `SELECT id FROM mt_outbox o
	WHERE o.state = 'queued' AND o.next_at <= ? AND o.lease_until < ?
	AND NOT EXISTS (SELECT 1 FROM mt_outbox p WHERE p.phone = o.phone AND p.state = 'queued' AND p.id < o.id)
	ORDER BY o.next_at, o.id LIMIT ?`

const mtColumns = `id, phone, sender, body, body_sealed, bind, attempts, created_at`

// ClaimMT leases up to n due MTs to owner until now+lease, in the
// database on both dialects, so a claim reads only rows nobody holds: on
// PostgreSQL the rows are locked with SKIP LOCKED, so dispatchers in
// several processes never take one row at once; on SQLite the claim is a
// step of the one writer. An expired lease (a crashed process) makes the
// row claimable again. held, the rows this process is sending, are
// skipped as well (a row whose lease ran out while its send is slow).
func (db *DB) ClaimMT(ctx context.Context, owner string, now time.Time, lease time.Duration, n int, held Leases) ([]MT, error) {
	at := now.UnixMicro()
	var rows []MT
	q := db.w.Rebind(`UPDATE mt_outbox SET lease_owner = ?, lease_until = ?
		WHERE id IN (` + claimable + db.d.lockSkip + `) RETURNING ` + mtColumns)
	claim := func(tx *Tx) error {
		rows = rows[:0]
		return tx.q.SelectContext(ctx, &rows, q, owner, now.Add(lease).UnixMicro(), at, at, n)
	}
	if err := db.Step(ctx, claim); err != nil {
		return nil, fmt.Errorf("%w: claiming MTs: %w", ErrUnavailable, err)
	}
	out := rows[:0]
	for _, r := range rows {
		if !held.Has(r.ID) {
			out = append(out, r)
		}
	}
	return out, nil
}

// queuedHandler receives MTs leased at insert (Tx.QueueSMS).
type queuedHandler struct {
	owner string
	lease time.Duration
	fn    func([]MT)
}

// OnQueued makes every MT that a step queues for a phone with nothing
// else queued leave by fn, leased to owner for lease, right after the
// step commits. fn is called on the committing goroutine and must not
// block. Without it every MT goes through ClaimMT.
func (db *DB) OnQueued(owner string, lease time.Duration, fn func([]MT)) {
	db.onQueued.Store(&queuedHandler{owner: owner, lease: lease, fn: fn})
}

// ReleaseLeases ends every lease of the outboxes (MTs, bank requests,
// USSD pushes, webhooks). Call it only when
// no other process uses the database: on SQLite at start, so the MTs and
// bank requests a crashed process held are sent at once rather than when
// their lease runs out.
func (db *DB) ReleaseLeases(ctx context.Context) error {
	return db.Step(ctx, func(tx *Tx) error {
		for _, table := range []string{"mt_outbox", "bank_outbox", "ussd_pushes", "webhooks"} {
			if _, err := tx.q.ExecContext(ctx, `UPDATE `+table+` SET lease_until = 0, lease_owner = '' WHERE lease_until > 0`); err != nil {
				return err
			}
		}
		return nil
	})
}

// Leases are the MTs this process is sending (SQLite's in-memory lease).
type Leases interface {
	Has(id int64) bool
	Len() int
}

// MTSent records that the MT left on bind as parts with these SMSC
// message ids, indexing every lookup key of each id for its receipt.
// keys(id) is smpp.MessageIDKeys. A receipt that was already applied is
// not undone.
func (tx *Tx) MTSent(ctx context.Context, id int64, bind string, ids []string, keys func(string) []string, now time.Time) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE mt_outbox SET
		state = CASE WHEN state = 'queued' THEN 'sent' ELSE state END,
		sent_bind = ?, parts = ?, sent_at = ?, attempts = attempts + 1, lease_until = 0, last_error = ''
		WHERE id = ?`), bind, len(ids), now.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("store: recording MT sent: %w", err)
	}
	for i, mid := range ids {
		for _, k := range keys(mid) {
			if _, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO mt_parts (smsc_key, mt_id, part) VALUES (?, ?, ?)
				ON CONFLICT (smsc_key) DO UPDATE SET mt_id = excluded.mt_id, part = excluded.part, state = 0`), bind+"/"+k, id, i+1); err != nil {
				return fmt.Errorf("store: recording MT parts: %w", err)
			}
		}
	}
	return nil
}

// MTRetry puts the MT back in the queue for another attempt at next.
func (tx *Tx) MTRetry(ctx context.Context, id int64, next time.Time, why string) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE mt_outbox SET attempts = attempts + 1, next_at = ?, lease_until = 0, last_error = ?
		WHERE id = ? AND state = 'queued'`), next.UnixMicro(), truncate(why, 200), id)
	if err != nil {
		return fmt.Errorf("store: rescheduling MT: %w", err)
	}
	return nil
}

// MTFailed ends the MT: it will not be sent. A sealed text is erased.
func (tx *Tx) MTFailed(ctx context.Context, id int64, why string, now time.Time) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE mt_outbox SET state = 'failed', attempts = attempts + 1, lease_until = 0,
		last_error = ?, done_at = ?, body_sealed = NULL WHERE id = ? AND state = 'queued'`), truncate(why, 200), now.UnixMicro(), id)
	if err != nil {
		return fmt.Errorf("store: failing MT: %w", err)
	}
	return nil
}

// MT states after sending, from receipts.
const (
	MTDelivered     = "delivered"
	MTUndeliverable = "undeliverable"
)

// MTReceipt applies a delivery receipt for the part whose SMSC id has
// these lookup keys on bind: state is its smpp.MessageState (2 is
// DELIVERED), final whether that state is final. When every part of the MT has a
// final state, the MT becomes delivered (all parts delivered) or
// undeliverable, and a sealed text is erased. found is false when no sent
// MT has the id (yet).
func (tx *Tx) MTReceipt(ctx context.Context, bind string, keys []string, state int, final bool, now time.Time) (mtID int64, found bool, err error) {
	var part struct {
		MT   int64 `db:"mt_id"`
		Part int   `db:"part"`
	}
	for _, k := range keys {
		err = tx.q.GetContext(ctx, &part, tx.rebind(`SELECT mt_id, part FROM mt_parts WHERE smsc_key = ?`), bind+"/"+k)
		if err == nil {
			found = true
			break
		}
		if !isNoRows(err) {
			return 0, false, fmt.Errorf("store: applying receipt: %w", err)
		}
	}
	if !found {
		return 0, false, nil
	}
	if !final {
		return part.MT, true, nil // intermediate states are not kept
	}
	// A part's state is stored once final: 0 means no final receipt yet.
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE mt_parts SET state = ? WHERE mt_id = ? AND part = ?`), state, part.MT, part.Part); err != nil {
		return 0, false, fmt.Errorf("store: applying receipt: %w", err)
	}
	// The MT's outcome once all its parts have a final state: parts are
	// indexed under up to two keys each, so count distinct part numbers.
	var st struct {
		Parts     int `db:"parts"`
		Final     int `db:"final"`
		Delivered int `db:"delivered"`
	}
	err = tx.q.GetContext(ctx, &st, tx.rebind(`SELECT o.parts AS parts,
		(SELECT COUNT(DISTINCT part) FROM mt_parts WHERE mt_id = o.id AND state > 0) AS final,
		(SELECT COUNT(DISTINCT part) FROM mt_parts WHERE mt_id = o.id AND state = 2) AS delivered
		FROM mt_outbox o WHERE o.id = ?`), part.MT)
	if err != nil {
		return 0, false, fmt.Errorf("store: applying receipt: %w", err)
	}
	if st.Final < st.Parts || st.Parts == 0 {
		return part.MT, true, nil
	}
	outcome := MTUndeliverable
	if st.Delivered == st.Parts {
		outcome = MTDelivered
	}
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE mt_outbox SET state = ?, done_at = ?, body_sealed = NULL WHERE id = ?`),
		outcome, now.UnixMicro(), part.MT); err != nil {
		return 0, false, fmt.Errorf("store: applying receipt: %w", err)
	}
	return part.MT, true, nil
}

// MTState is an outbox row's state, for tests and operators.
type MTState struct {
	ID        int64        `db:"id"`
	Phone     flows.MSISDN `db:"phone"`
	Body      string       `db:"body"`
	State     string       `db:"state"`
	Attempts  int          `db:"attempts"`
	SentBind  string       `db:"sent_bind"`
	Parts     int          `db:"parts"`
	LastError string       `db:"last_error"`
	Sealed    bool         `db:"sealed"` // a sealed text is kept
}

// MTs returns the outbox rows of a phone, oldest first.
func (db *DB) MTs(ctx context.Context, phone flows.MSISDN) ([]MTState, error) {
	var out []MTState
	err := db.r.SelectContext(ctx, &out, db.r.Rebind(`SELECT id, phone, body, state, attempts, sent_bind, parts, last_error,
		CASE WHEN body_sealed IS NULL THEN 0 ELSE 1 END AS sealed
		FROM mt_outbox WHERE phone = ? ORDER BY id`), string(phone))
	return out, err
}

// QueueDepth returns how many MTs wait to be sent.
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM mt_outbox WHERE state = 'queued'`)
	return n, err
}

// InboxCount returns how many inbound messages the inbox holds.
func (db *DB) InboxCount(ctx context.Context) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM inbox`)
	return n, err
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	return s[:n]
}
