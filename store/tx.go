package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/flows"
)

// Tx is one step's transaction. It implements flows.Tx, and adds the
// inbox and outbox writes the gateway makes in the same transaction. It
// is used by one goroutine and only inside the Step that made it.
type Tx struct {
	db *DB
	q  queryer

	queuedMT   bool // an MT waits in the queue: signal the dispatcher
	queuedBank bool // a bank request waits in the queue: signal its dispatcher
	// queuedPush, queuedWebhook: a USSD push or a webhook event waits.
	queuedPush, queuedWebhook bool
	fastMTs                   []MT // MTs leased at insert: hand them to the dispatcher
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
	for _, c := range []struct {
		queued bool
		ch     chan struct{}
	}{{tx.queuedBank, tx.db.bankSignal}, {tx.queuedPush, tx.db.pushSignal}, {tx.queuedWebhook, tx.db.webhookSignal}} {
		if c.queued {
			select {
			case c.ch <- struct{}{}:
			default:
			}
		}
	}
}

// insertID runs an INSERT and returns the new row's id: on SQLite by
// sqlite3_last_insert_rowid (an exec, much cheaper in go-sqlite3 than a
// query), on PostgreSQL by RETURNING id. An INSERT that inserted nothing
// (ON CONFLICT DO NOTHING) returns sql.ErrNoRows on both.
func (tx *Tx) insertID(ctx context.Context, q string, args ...any) (int64, error) {
	if tx.db.writer != nil {
		res, err := tx.q.ExecContext(ctx, q, args...)
		if err != nil {
			return 0, err
		}
		// The last rowid is the connection's, not the statement's: it is
		// another row's when this statement inserted none.
		if n, err := res.RowsAffected(); err != nil {
			return 0, err
		} else if n == 0 {
			return 0, sql.ErrNoRows
		}
		return res.LastInsertId()
	}
	var id int64
	err := tx.q.QueryRowxContext(ctx, tx.rebind(q+` RETURNING id`), args...).Scan(&id)
	return id, err
}

// subscriberColumns are read by Subscriber, in its Scan's order.
const subscriberColumns = `lang, created_at, pin_hash, stopped, state,
	COALESCE((SELECT id || ' ' || trust || ' ' || why FROM devices WHERE devices.phone = subscribers.phone AND devices.state = 'active'), '')`

// Subscriber implements flows.Tx: one row, its state opened and decoded.
// On PostgreSQL the row stays locked until the step ends, so that steps
// of one phone on several instances run one after the other (SQLite's
// one writer runs every step that way). A state that cannot be opened or
// decoded is an error, never a fresh start: it holds the lockout.
func (tx *Tx) Subscriber(ctx context.Context, phone flows.MSISDN) (flows.Subscriber, error) {
	return tx.db.scanSubscriber(tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT `+subscriberColumns+` FROM subscribers WHERE phone = ?`+tx.db.d.lockRow), string(phone)), phone)
}

// scanSubscriber reads the row of phone's subscriberColumns: its state
// opened and decoded, its device (if any) attached.
func (db *DB) scanSubscriber(row interface{ Scan(...any) error }, phone flows.MSISDN) (flows.Subscriber, error) {
	var (
		lang, pin string
		created   int64
		stopped   int64
		state     []byte
		device    string
	)
	err := row.Scan(&lang, &created, &pin, &stopped, &state, &device)
	if isNoRows(err) {
		return flows.Subscriber{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.Subscriber{}, fmt.Errorf("store: reading subscriber: %w", err)
	}
	s := flows.Subscriber{Phone: phone, Lang: flows.Lang(lang), Created: time.UnixMicro(created), PIN: flows.PINHash(pin), Stopped: stopped != 0}
	if len(state) > 0 {
		if state, err = db.keys.openBytes(state, stateAD(phone)); err != nil {
			return flows.Subscriber{}, fmt.Errorf("store: reading subscriber: %w", err)
		}
	}
	if err := flows.UnmarshalState(state, &s); err != nil {
		return flows.Subscriber{}, fmt.Errorf("store: reading subscriber: %w", err)
	}
	if id, rest, ok := strings.Cut(device, " "); ok {
		trust, why, _ := strings.Cut(rest, " ")
		s.Device = &flows.Device{ID: id, Trust: flows.Trust(trust), Why: why}
	}
	return s, nil
}

// zeroState is the encoding of a subscriber with nothing in its state
// (most phones: they asked for HELP). It is stored as NULL, which costs
// no sealing and no bytes.
var zeroState, _ = flows.MarshalState(flows.Subscriber{})

// stateAD is the additional data a subscriber's state is sealed with: it
// binds the state to its phone and, unlike an account number's (the bare
// phone), to the state column.
func stateAD(phone flows.MSISDN) []byte { return []byte("state\x00" + string(phone)) }

// SaveSubscriber implements flows.Tx: one upsert of every column (the
// creation time only on insert). The state is sealed unless it is zero;
// the lockout columns mirror it for operators.
func (tx *Tx) SaveSubscriber(ctx context.Context, s flows.Subscriber) error {
	b, err := flows.MarshalState(s)
	if err != nil {
		return fmt.Errorf("store: saving subscriber: %w", err)
	}
	var state []byte
	if !bytes.Equal(b, zeroState) {
		state = tx.db.keys.sealBytes(b, stateAD(s.Phone))
	}
	var lockedUntil int64
	if !s.Lock.Until.IsZero() {
		lockedUntil = s.Lock.Until.UnixMicro()
	}
	_, err = tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO subscribers
		(phone, lang, created_at, pin_hash, stopped, failures, locked_until, operator_locked, state, prompt)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (phone) DO UPDATE SET lang = excluded.lang, pin_hash = excluded.pin_hash, stopped = excluded.stopped,
		failures = excluded.failures, locked_until = excluded.locked_until, operator_locked = excluded.operator_locked,
		state = excluded.state, prompt = excluded.prompt`),
		string(s.Phone), string(s.Lang), s.Created.UnixMicro(), s.PIN.Reveal(), boolInt(s.Stopped),
		s.Lock.Failures, lockedUntil, boolInt(s.Lock.Operator), state, s.Prompt())
	if err != nil {
		return fmt.Errorf("store: saving subscriber: %w", err)
	}
	return nil
}

// boolInt is a flag as the INTEGER columns hold it.
func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// QueueSMS implements flows.Tx: the SMS goes in the MT outbox, its text
// sealed when it is sensitive. When the phone has no other MT queued (its
// earlier ones have left), the new MT is leased to this process's
// dispatcher in the same insert and handed to it as soon as the step
// commits (DB.OnQueued): it leaves without waiting for a claim. Otherwise
// it waits its turn in the queue.
func (tx *Tx) QueueSMS(ctx context.Context, sms flows.OutSMS) error {
	// To a phone with a security module, every text goes sealed in an
	// envelope (SPEC §9): the ciphertext needs no sealing at rest.
	text, err := tx.sealFor(ctx, sms.To, envelope.TextMessage(sms.Text))
	if err != nil {
		return fmt.Errorf("store: queueing SMS: %w", err)
	}
	if text != "" {
		sms.Text, sms.Sensitive = text, false
	}
	return tx.queueMT(ctx, sms)
}

// queueMT puts sms in the MT outbox as it is.
func (tx *Tx) queueMT(ctx context.Context, sms flows.OutSMS) error {
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

// RecordInbound records an inbound message unless the same message was
// recorded within window, and reports whether it is new. The same
// message is one with the same identity, recorded while the phone's
// prompt was what it is now (SeenState keeps where each message left
// the phone): a text repeated after the phone moved on is a new message.
// A duplicate writes nothing, so the caller must not act on it again.
func (tx *Tx) RecordInbound(ctx context.Context, in Inbound, window time.Duration) (isNew bool, err error) {
	fp := tx.db.keys.Fingerprint(in.Identity)
	at := in.At.UnixMicro()
	// Insert the fingerprint, or refresh one older than the window or
	// left at another prompt; a fingerprint seen within the window at
	// this prompt changes no row: a duplicate.
	res, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO inbox_seen (fingerprint, seen_at, state)
		VALUES (?, ?, COALESCE((SELECT prompt FROM subscribers WHERE phone = ?), ''))
		ON CONFLICT (fingerprint) DO UPDATE SET seen_at = excluded.seen_at, state = excluded.state
		WHERE inbox_seen.seen_at < ? OR inbox_seen.state <> excluded.state`),
		fp, at, in.Phone, at-window.Microseconds())
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

// ForgetSeen forgets that a message was seen, so that the same text sent
// again is taken as new: for a message whose answer asked the user to
// send it again (its PIN could not be checked) and left the prompt where
// it was.
func (tx *Tx) ForgetSeen(ctx context.Context, in Inbound) error {
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM inbox_seen WHERE fingerprint = ?`),
		tx.db.keys.Fingerprint(in.Identity)); err != nil {
		return fmt.Errorf("store: forgetting inbound: %w", err)
	}
	return nil
}

// SeenState records the prompt a message left the phone at, once the
// step that handled it has saved the phone: a copy arriving while the
// phone is still there is its duplicate (RecordInbound).
func (tx *Tx) SeenState(ctx context.Context, in Inbound) error {
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE inbox_seen
		SET state = COALESCE((SELECT prompt FROM subscribers WHERE phone = ?), '') WHERE fingerprint = ?`),
		in.Phone, tx.db.keys.Fingerprint(in.Identity)); err != nil {
		return fmt.Errorf("store: recording inbound state: %w", err)
	}
	return nil
}
