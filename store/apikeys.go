package store

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/flows"
)

// Merchants' API keys (SPEC §7). A key is "pk_" + a 10-character public
// id + "_" + 32 random characters (160 bits); only its id and a keyed
// hash are stored, so a copy of the database holds no usable key.

// apiKeyEncoding is the alphabet of keys: base32 without padding, lower
// case.
var apiKeyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// APIKey is a stored key as operators see it: never the key itself.
type APIKey struct {
	ID       string    `db:"id"` // the key's public part, "pk_xxxxxxxxxx"
	Merchant string    `db:"merchant"`
	Created  time.Time `db:"-"`
	Revoked  time.Time `db:"-"`
}

// ErrBadKey is an API key that is malformed, unknown or revoked.
var ErrBadKey = errors.New("store: no such API key")

// apiKeyDigest is the keyed hash of key kept in api_keys.hash.
func (db *DB) apiKeyDigest(key string) []byte {
	m := hmac.New(sha256.New, db.keys.apiKey)
	m.Write([]byte(key))
	return m.Sum(nil)
}

// AddAPIKey makes a new API key for the merchant with code and returns it:
// the only time it is seen whole. No merchant code returns an error
// wrapping flows.ErrNotFound.
func (db *DB) AddAPIKey(ctx context.Context, code string) (key string, id string, err error) {
	var b [26]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	enc := apiKeyEncoding.EncodeToString(b[:]) // 42 characters
	id = "pk_" + enc[:10]
	key = id + "_" + enc[10:]
	err = db.Step(ctx, func(tx *Tx) error {
		var n int
		if err := tx.q.GetContext(ctx, &n, tx.rebind(`SELECT COUNT(*) FROM merchants WHERE code = ?`), code); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("store: no merchant %s: %w", code, flows.ErrNotFound)
		}
		_, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO api_keys (id, merchant, hash, created_at) VALUES (?, ?, ?, ?)`),
			id, code, db.apiKeyDigest(key), db.now().UnixMicro())
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("store: adding API key: %w", err)
	}
	return key, id, nil
}

// MerchantByKey returns the code of the merchant whose live key key is,
// or ErrBadKey. The lookup is by the key's keyed hash, so it takes the
// same time whichever part of a wrong key is wrong.
func (db *DB) MerchantByKey(ctx context.Context, key string) (string, error) {
	if !strings.HasPrefix(key, "pk_") || len(key) > 64 {
		return "", ErrBadKey
	}
	var code string
	err := db.r.GetContext(ctx, &code, db.r.Rebind(`SELECT merchant FROM api_keys WHERE hash = ? AND revoked_at = 0`), db.apiKeyDigest(key))
	if isNoRows(err) {
		return "", ErrBadKey
	}
	if err != nil {
		return "", fmt.Errorf("%w: reading API keys: %w", ErrUnavailable, err)
	}
	return code, nil
}

// APIKeys returns the merchant's keys, revoked ones too, oldest first.
func (db *DB) APIKeys(ctx context.Context, code string) ([]APIKey, error) {
	var rows []struct {
		ID       string `db:"id"`
		Merchant string `db:"merchant"`
		Created  int64  `db:"created_at"`
		Revoked  int64  `db:"revoked_at"`
	}
	err := db.r.SelectContext(ctx, &rows, db.r.Rebind(`SELECT id, merchant, created_at, revoked_at FROM api_keys WHERE merchant = ? ORDER BY created_at, id`), code)
	if err != nil {
		return nil, fmt.Errorf("store: reading API keys: %w", err)
	}
	out := make([]APIKey, 0, len(rows))
	for _, r := range rows {
		out = append(out, APIKey{ID: r.ID, Merchant: r.Merchant, Created: fromMicros(r.Created), Revoked: fromMicros(r.Revoked)})
	}
	return out, nil
}

// RevokeAPIKey revokes the merchant's key with the public id; revoking a
// revoked key changes nothing. No such key of that merchant returns an
// error wrapping flows.ErrNotFound.
func (db *DB) RevokeAPIKey(ctx context.Context, code, id string) error {
	return db.Step(ctx, func(tx *Tx) error {
		var n int
		if err := tx.q.GetContext(ctx, &n, tx.rebind(`SELECT COUNT(*) FROM api_keys WHERE id = ? AND merchant = ?`), id, code); err != nil {
			return fmt.Errorf("store: revoking API key: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: no API key %s of merchant %s: %w", id, code, flows.ErrNotFound)
		}
		_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE api_keys SET revoked_at = ? WHERE id = ? AND merchant = ? AND revoked_at = 0`),
			db.now().UnixMicro(), id, code)
		return err
	})
}
