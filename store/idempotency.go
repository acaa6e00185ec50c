package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Idempotency-Key records (SPEC §7): the first request a caller sends
// with a key is answered and its answer kept; the same key with the same
// request replays that answer, with another request it is refused. A
// record is per scope — "merchant:CODE" or "operator:NAME" — so that the
// keys of different callers never meet. The request is kept only as a
// keyed hash (a body may hold a PIN) and the answer sealed (it may hold a
// new API key or webhook secret).

var (
	// ErrIdempotencyConflict is a key used before with another request
	// (another method, path or body).
	ErrIdempotencyConflict = errors.New("store: idempotency key used with another request")
	// ErrIdempotencyInProgress is a key whose first request is still
	// being answered.
	ErrIdempotencyInProgress = errors.New("store: idempotency key in use by a request still being answered")
)

const (
	// IdempotencyTTL is how long an answer is kept for replay; the janitor
	// sweeps older records (ExpireIdempotency), and a record older than
	// this counts as absent even before it is swept.
	IdempotencyTTL = 24 * time.Hour
	// IdempotencyLease is how long a first request may stay unanswered
	// before its key may be claimed again: longer than any HTTP answer
	// takes (the server's write timeout is 60 s), so that only a request
	// whose process died loses its claim.
	IdempotencyLease = 2 * time.Minute
)

// StoredResponse is an answer kept for replay.
type StoredResponse struct {
	Status int                 `json:"status"`
	Header map[string][]string `json:"header,omitempty"`
	Body   []byte              `json:"body,omitempty"`
}

// idempotencyAD binds a sealed answer to its record.
func idempotencyAD(scope, key string) []byte {
	return []byte("idempotency\x00" + scope + "\x00" + key)
}

// idempotencyHash is the keyed hash of a request kept in body_hash. Its
// key is derived from the API key digest key under a label that no API
// key can be (they all begin "pk_"), so it is never a stored digest.
func (db *DB) idempotencyHash(request []byte) []byte {
	m := hmac.New(sha256.New, db.apiKeyDigest("idempotency request v1"))
	m.Write(request)
	return m.Sum(nil)
}

// ClaimIdempotency claims key in scope for request (the bytes that must
// be equal for a replay: the gateway passes method, path and body).
// It returns:
//   - nil and nil: the caller is first and must answer, then call
//     FinishIdempotency with the answer (or ReleaseIdempotency when there
//     is nothing to keep);
//   - the stored answer: the same request was answered before;
//   - ErrIdempotencyConflict: the key was used with another request;
//   - ErrIdempotencyInProgress: the first request is still being
//     answered (for less than IdempotencyLease);
//   - an error wrapping ErrUnavailable when the database fails.
//
// A record older than IdempotencyTTL, or unanswered for longer than
// IdempotencyLease, is claimed afresh.
func (db *DB) ClaimIdempotency(ctx context.Context, scope, key string, request []byte) (*StoredResponse, error) {
	hash := db.idempotencyHash(request)
	now := db.now()
	var (
		sealed []byte
		found  bool
	)
	err := db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO idempotency (scope, idem_key, body_hash, status, created_at)
			VALUES (?, ?, ?, 0, ?) ON CONFLICT DO NOTHING`), scope, key, hash, now.UnixMicro())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 1 {
			return nil
		}
		var row struct {
			Hash     []byte `db:"body_hash"`
			Status   int    `db:"status"`
			Response []byte `db:"response"`
			Created  int64  `db:"created_at"`
		}
		if err := tx.q.GetContext(ctx, &row, tx.rebind(`SELECT body_hash, status, response, created_at
			FROM idempotency WHERE scope = ? AND idem_key = ?`+tx.db.d.lockRow), scope, key); err != nil {
			return err
		}
		created := time.UnixMicro(row.Created)
		stale := now.Sub(created) >= IdempotencyTTL
		if !stale && !hmac.Equal(row.Hash, hash) {
			return ErrIdempotencyConflict
		}
		if !stale && row.Status != 0 {
			sealed, found = row.Response, true
			return nil
		}
		if !stale && now.Sub(created) < IdempotencyLease {
			return ErrIdempotencyInProgress
		}
		// Expired, or abandoned by a process that died: claim it again.
		_, err = tx.q.ExecContext(ctx, tx.rebind(`UPDATE idempotency SET body_hash = ?, status = 0, response = NULL, created_at = ?
			WHERE scope = ? AND idem_key = ?`), hash, now.UnixMicro(), scope, key)
		return err
	})
	switch {
	case errors.Is(err, ErrIdempotencyConflict), errors.Is(err, ErrIdempotencyInProgress):
		return nil, err
	case err != nil && !errors.Is(err, ErrUnavailable):
		return nil, fmt.Errorf("%w: claiming an idempotency key: %w", ErrUnavailable, err)
	case err != nil:
		return nil, fmt.Errorf("store: claiming an idempotency key: %w", err)
	case !found:
		return nil, nil
	}
	b, err := db.keys.openBytes(sealed, idempotencyAD(scope, key))
	if err != nil {
		return nil, fmt.Errorf("store: reading an idempotent answer: %w", err)
	}
	var resp StoredResponse
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("store: reading an idempotent answer: %w", err)
	}
	return &resp, nil
}

// FinishIdempotency keeps resp as the answer to key in scope, which the
// caller claimed. resp.Status must not be 0.
func (db *DB) FinishIdempotency(ctx context.Context, scope, key string, resp StoredResponse) error {
	if resp.Status == 0 {
		return errors.New("store: an idempotent answer needs a status")
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	sealed := db.keys.sealBytes(b, idempotencyAD(scope, key))
	err = db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE idempotency SET status = ?, response = ? WHERE scope = ? AND idem_key = ? AND status = 0`),
			resp.Status, sealed, scope, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: keeping an idempotent answer: %w", err)
	}
	return nil
}

// ReleaseIdempotency forgets the claim on key in scope when its request
// left nothing to replay (the caller failed before answering, or answered
// "try again later"), so that the same request may run again at once.
// An answered record is kept.
func (db *DB) ReleaseIdempotency(ctx context.Context, scope, key string) error {
	err := db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM idempotency WHERE scope = ? AND idem_key = ? AND status = 0`), scope, key)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: releasing an idempotency key: %w", err)
	}
	return nil
}

// ExpireIdempotency deletes the records created before before (the
// janitor passes now minus IdempotencyTTL) and returns how many.
func (db *DB) ExpireIdempotency(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM idempotency WHERE created_at < ?`), before.UnixMicro())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: expiring idempotency keys: %w", err)
	}
	return n, nil
}
