package store

import (
	"context"
	"fmt"
	"time"
)

// AddPart durably keeps part seq of total of the concatenated inbound
// message pk (sealed: a part may carry a PIN) and, once every part is
// held, returns their payloads in order and complete true — again on
// every call until ForgetParts. It is the storage of the gateway's
// smpp.PartStore.
func (db *DB) AddPart(ctx context.Context, pk string, seq, total int, payload []byte) ([][]byte, bool, error) {
	var parts [][]byte
	complete := false
	err := db.Step(ctx, func(tx *Tx) error {
		sealed := db.keys.sealBytes(payload, []byte(fmt.Sprintf("%s#%d", pk, seq)))
		if _, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO msg_parts (part_key, seq, total, payload, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (part_key, seq) DO NOTHING`), pk, seq, total, sealed, db.now().UnixMicro()); err != nil {
			return fmt.Errorf("store: keeping message part: %w", err)
		}
		var rows []struct {
			Seq     int    `db:"seq"`
			Payload []byte `db:"payload"`
		}
		if err := tx.q.SelectContext(ctx, &rows, tx.rebind(`SELECT seq, payload FROM msg_parts WHERE part_key = ? ORDER BY seq`), pk); err != nil {
			return fmt.Errorf("store: reading message parts: %w", err)
		}
		if len(rows) < total {
			return nil
		}
		parts = make([][]byte, total)
		for _, r := range rows {
			if r.Seq < 1 || r.Seq > total {
				continue
			}
			b, err := db.keys.openBytes(r.Payload, []byte(fmt.Sprintf("%s#%d", pk, r.Seq)))
			if err != nil {
				return err
			}
			parts[r.Seq-1] = b
		}
		complete = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return parts, complete, nil
}

// ForgetParts drops the parts of a handled message.
func (db *DB) ForgetParts(ctx context.Context, pk string) error {
	return db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM msg_parts WHERE part_key = ?`), pk)
		return err
	})
}

// ExpireParts drops parts of messages whose other parts never came,
// older than before, and returns how many it dropped.
func (db *DB) ExpireParts(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM msg_parts WHERE created_at < ?`), before.UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// ExpireSeen drops inbound fingerprints older than the dedupe window.
func (db *DB) ExpireSeen(ctx context.Context, before time.Time) error {
	return db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM inbox_seen WHERE seen_at < ?`), before.UnixMicro())
		return err
	})
}

// ExpireSealed erases the sealed text of sensitive MTs created before
// before (the caller passes now minus the code's lifetime: the code in it
// is dead). One already sent keeps its row, its text erased, whether or
// not a receipt ever came (SPEC §3: "erased once delivered or expired");
// one still queued and not being sent fails as expired, for a dead code is
// not worth sending. It returns how many rows it erased.
func (db *DB) ExpireSealed(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	now := db.now().UnixMicro()
	err := db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE mt_outbox SET body_sealed = NULL,
			state = CASE WHEN state = 'queued' THEN 'failed' ELSE state END,
			last_error = CASE WHEN state = 'queued' THEN 'expired: the code it carried is dead' ELSE last_error END,
			done_at = CASE WHEN state = 'queued' THEN ? ELSE done_at END
			WHERE body_sealed IS NOT NULL AND created_at < ? AND (state <> 'queued' OR lease_until < ?)`),
			now, before.UnixMicro(), now)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
