package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paygate/paygate/flows"
)

// USSD sessions are kept as sealed bytes: the store knows nothing of the
// dialogue engine's types (package ussd encodes them; the gateway adapts).

// ussdAD binds a session's sealed state to its phone and session id.
func ussdAD(phone flows.MSISDN, id string) []byte {
	return []byte("ussd\x00" + string(phone) + "\x00" + id)
}

// USSDSession returns the opened state of the session (phone, id), or
// flows.ErrNotFound.
func (tx *Tx) USSDSession(ctx context.Context, phone flows.MSISDN, id string) ([]byte, error) {
	var sealed []byte
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT state FROM ussd_sessions WHERE phone = ? AND session_id = ?`+tx.db.d.lockRow),
		string(phone), id).Scan(&sealed)
	if isNoRows(err) {
		return nil, flows.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: reading USSD session: %w", err)
	}
	b, err := tx.db.keys.openBytes(sealed, ussdAD(phone, id))
	if err != nil {
		return nil, fmt.Errorf("store: reading USSD session: %w", err)
	}
	return b, nil
}

// SaveUSSDSession inserts or replaces the session (phone, id) with state,
// sealed, living until expires.
func (tx *Tx) SaveUSSDSession(ctx context.Context, phone flows.MSISDN, id string, state []byte, expires time.Time) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO ussd_sessions (phone, session_id, state, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (phone, session_id) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at`),
		string(phone), id, tx.db.keys.sealBytes(state, ussdAD(phone, id)), expires.UnixMicro())
	if err != nil {
		return fmt.Errorf("store: saving USSD session: %w", err)
	}
	return nil
}

// EndUSSDSession deletes the session (phone, id), if there is one.
func (tx *Tx) EndUSSDSession(ctx context.Context, phone flows.MSISDN, id string) error {
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM ussd_sessions WHERE phone = ? AND session_id = ?`), string(phone), id); err != nil {
		return fmt.Errorf("store: ending USSD session: %w", err)
	}
	return nil
}

// ExpireUSSDSessions deletes the sessions past their end at now and
// returns how many.
func (db *DB) ExpireUSSDSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM ussd_sessions WHERE expires_at < ?`), now.UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: expiring USSD sessions: %w", err)
	}
	return n, nil
}

// USSDSessions counts the sessions live at now.
func (db *DB) USSDSessions(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, db.r.Rebind(`SELECT COUNT(*) FROM ussd_sessions WHERE expires_at >= ?`), now.UnixMicro())
	return n, err
}
