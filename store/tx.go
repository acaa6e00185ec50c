package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paygate/paygate/flows"
)

// Tx is one step's transaction. It implements flows.Tx, and adds the
// inbox and outbox writes the gateway makes in the same transaction. It
// is used by one goroutine and only inside the Step that made it.
type Tx struct {
	db *DB
	q  queryer

	queuedMT bool // an MT waits in the queue: signal the dispatcher
	fastMTs  []MT // MTs leased at insert: hand them to the dispatcher
}

var _ flows.Tx = (*Tx)(nil)

func (tx *Tx) rebind(q string) string { return tx.db.w.Rebind(q) }

// committed runs after the step's transaction committed.
func (tx *Tx) committed() {
	if len(tx.fastMTs) > 0 {
		tx.db.onQueued.Load().fn(tx.fastMTs)
	}
	if tx.queuedMT {
		select {
		case tx.db.outboxSignal <- struct{}{}:
		default:
		}
	}
}

// insertID runs an INSERT and returns the new row's id: on SQLite by
// sqlite3_last_insert_rowid (an exec, much cheaper in go-sqlite3 than a
// query), on PostgreSQL by RETURNING id.
func (tx *Tx) insertID(ctx context.Context, q string, args ...any) (int64, error) {
	if tx.db.writer != nil {
		res, err := tx.q.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	}
	var id int64
	err := tx.q.QueryRowxContext(ctx, tx.rebind(q+` RETURNING id`), args...).Scan(&id)
	return id, err
}

// Subscriber implements flows.Tx.
func (tx *Tx) Subscriber(ctx context.Context, phone flows.MSISDN) (flows.Subscriber, error) {
	var lang string
	var created int64
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT lang, created_at FROM subscribers WHERE phone = ?`), string(phone)).Scan(&lang, &created)
	if isNoRows(err) {
		return flows.Subscriber{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.Subscriber{}, fmt.Errorf("store: reading subscriber: %w", err)
	}
	return flows.Subscriber{Phone: phone, Lang: flows.Lang(lang), Created: time.UnixMicro(created)}, nil
}

// SaveSubscriber implements flows.Tx.
func (tx *Tx) SaveSubscriber(ctx context.Context, s flows.Subscriber) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO subscribers (phone, lang, created_at) VALUES (?, ?, ?)
		ON CONFLICT (phone) DO UPDATE SET lang = excluded.lang`), string(s.Phone), string(s.Lang), s.Created.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: saving subscriber: %w", err)
	}
	return nil
}

// QueueSMS implements flows.Tx: the SMS goes in the MT outbox, its text
// sealed when it is sensitive. When the phone has no other MT queued (its
// earlier ones have left), the new MT is leased to this process's
// dispatcher in the same insert and handed to it as soon as the step
// commits (DB.OnQueued): it leaves without waiting for a claim. Otherwise
// it waits its turn in the queue.
func (tx *Tx) QueueSMS(ctx context.Context, sms flows.OutSMS) error {
	body, sealed := sms.Text, []byte(nil)
	if sms.Sensitive {
		body, sealed = "", tx.db.keys.sealBytes([]byte(sms.Text), []byte(sms.To))
	}
	now := tx.db.now()
	at := now.UnixMicro()
	owner, leaseUntil, fast := "", int64(0), false
	if o := tx.db.onQueued.Load(); o != nil {
		var busy int
		err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT COUNT(*) FROM (SELECT 1 FROM mt_outbox WHERE phone = ? AND state = 'queued' LIMIT 1) q`), string(sms.To)).Scan(&busy)
		if err != nil {
			return fmt.Errorf("store: queueing SMS: %w", err)
		}
		if busy == 0 {
			owner, leaseUntil, fast = o.owner, now.Add(o.lease).UnixMicro(), true
		}
	}
	id, err := tx.insertID(ctx, `INSERT INTO mt_outbox (phone, sender, body, body_sealed, bind, state, next_at, lease_owner, lease_until, created_at)
		VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`, string(sms.To), sms.From, body, sealed, sms.Bind, at, owner, leaseUntil, at)
	if err != nil {
		return fmt.Errorf("store: queueing SMS: %w", err)
	}
	if fast {
		tx.fastMTs = append(tx.fastMTs, MT{ID: id, Phone: sms.To, Sender: sms.From, Body: body, Sealed: sealed, Bind: sms.Bind, Created: at})
	} else {
		tx.queuedMT = true
	}
	return nil
}

// Inbound is an inbound message as the inbox records it.
type Inbound struct {
	Bind     string
	Phone    string
	Dest     string
	Text     string // redacted: no PIN or code in clear
	Identity []byte // smpp.Delivery.Identity; only its keyed hash is stored
	At       time.Time
}

// RecordInbound records an inbound message unless the same message (same
// identity) was recorded within window, and reports whether it is new.
// A duplicate writes nothing, so the caller must not act on it again.
func (tx *Tx) RecordInbound(ctx context.Context, in Inbound, window time.Duration) (isNew bool, err error) {
	fp := tx.db.keys.Fingerprint(in.Identity)
	at := in.At.UnixMicro()
	// Insert the fingerprint, or refresh one older than the window; a
	// fingerprint seen within the window changes no row: a duplicate.
	res, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO inbox_seen (fingerprint, seen_at) VALUES (?, ?)
		ON CONFLICT (fingerprint) DO UPDATE SET seen_at = excluded.seen_at WHERE inbox_seen.seen_at < ?`),
		fp, at, at-window.Microseconds())
	if err != nil {
		return false, fmt.Errorf("store: recording inbound: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fmt.Errorf("store: recording inbound: %w", err)
	} else if n == 0 {
		return false, nil // seen within the window: a duplicate
	}
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO inbox (bind, phone, dest, text, fingerprint, received_at) VALUES (?, ?, ?, ?, ?, ?)`),
		in.Bind, in.Phone, in.Dest, in.Text, fp, at); err != nil {
		return false, fmt.Errorf("store: recording inbound: %w", err)
	}
	return true, nil
}
