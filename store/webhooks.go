package store

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/paygate/paygate/flows"
)

// Merchants' webhooks (SPEC §7): the URL and signing secret of each
// merchant, and the webhook outbox the dispatcher drains. Tx.QueueWebhook
// (requests.go) puts the events in.

// WebhookSecretPrefix starts every webhook signing secret. The HMAC key
// of the signatures is the whole secret as shown, prefix included.
const WebhookSecretPrefix = "whsec_"

// webhookSecretAD is the additional data a merchant's webhook secret is
// sealed with: it binds the secret to the merchant's code and to its
// column, so that it cannot be moved to another merchant's row nor taken
// for the account number (merchantAD).
func webhookSecretAD(code string) []byte { return []byte("webhook_secret\x00" + code) }

// ValidateWebhook checks a webhook URL as ValidateMerchant does: nil,
// or a *FieldError of field "webhook" that does not quote the URL. It is
// the syntax only (https://, or http:// to a loopback host, no user or
// password); where the URL may lead is the gateway's to check.
func ValidateWebhook(raw string) error {
	if reason := webhookProblem(raw); reason != "" {
		return &FieldError{Field: "webhook", Reason: reason}
	}
	return nil
}

// SetMerchantWebhook sets the webhook URL of the merchant with code and
// gives it a fresh signing secret, which it returns: the only time the
// secret is shown, for it is stored sealed. Events already queued and
// not yet delivered are signed with the new secret. url "" removes the
// webhook and its secret and returns "". A URL ValidateWebhook refuses
// returns its *FieldError and changes nothing; no merchant with code
// returns an error wrapping flows.ErrNotFound.
func (db *DB) SetMerchantWebhook(ctx context.Context, code, url string) (secret string, err error) {
	var sealed any // NULL when the webhook is removed
	if url != "" {
		if err := ValidateWebhook(url); err != nil {
			return "", err
		}
		b := make([]byte, 32)
		rand.Read(b)
		secret = WebhookSecretPrefix + hex.EncodeToString(b)
		sealed = db.keys.sealBytes([]byte(secret), webhookSecretAD(code))
	}
	err = db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE merchants SET webhook = ?, webhook_secret = ? WHERE code = ?`), url, sealed, code)
		if err != nil {
			return fmt.Errorf("store: setting the webhook of merchant %s: %w", code, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: setting the webhook of merchant %s: %w", code, err)
		} else if n == 0 {
			return fmt.Errorf("store: no merchant %s: %w", code, flows.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// MerchantWebhook returns the webhook URL of the merchant with code and
// its signing secret opened (the HMAC key: the secret as
// SetMerchantWebhook showed it). url is "" when the merchant has no
// webhook; secret is nil when none was set (a URL given to AddMerchant
// gets none: SetMerchantWebhook makes it). No merchant returns an error
// wrapping flows.ErrNotFound. The URL may hold a token in its query:
// neither it nor the secret may be logged.
func (db *DB) MerchantWebhook(ctx context.Context, code string) (url string, secret []byte, err error) {
	var r struct {
		URL    string `db:"webhook"`
		Sealed []byte `db:"webhook_secret"`
	}
	err = db.r.GetContext(ctx, &r, db.r.Rebind(`SELECT webhook, webhook_secret FROM merchants WHERE code = ?`), code)
	if isNoRows(err) {
		return "", nil, fmt.Errorf("store: no merchant %s: %w", code, flows.ErrNotFound)
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: reading the webhook of merchant %s: %w", ErrUnavailable, code, err)
	}
	if r.Sealed != nil {
		if secret, err = db.keys.openBytes(r.Sealed, webhookSecretAD(code)); err != nil {
			return "", nil, fmt.Errorf("store: reading the webhook secret of merchant %s: %w", code, err)
		}
	}
	return r.URL, secret, nil
}

// WebhookJob is a claimed webhook event and how many times it was posted
// before.
type WebhookJob struct {
	flows.WebhookEvent
	Attempts int
}

type webhookRow struct {
	ID       string `db:"id"`
	Merchant string `db:"merchant"`
	Event    string `db:"event"`
	Request  string `db:"request"`
	Body     []byte `db:"body"`
	Created  int64  `db:"created_at"`
	Attempts int    `db:"attempts"`
	NextAt   int64  `db:"next_at"`
}

// ClaimWebhooks leases up to limit due, undelivered events, the longest
// due first, to owner until now+lease (now is the store's clock), as
// ClaimBank does: on PostgreSQL the rows are claimed FOR UPDATE SKIP
// LOCKED, so dispatchers in several processes never take one event at
// once; on SQLite the claim is a step of the one writer. An event under
// a live lease is not claimed; an expired lease (a dispatcher that
// crashed or stopped mid-post) makes it claimable again. A failure of the
// database wraps ErrUnavailable.
func (db *DB) ClaimWebhooks(ctx context.Context, owner string, lease time.Duration, limit int) ([]WebhookJob, error) {
	now := db.now()
	at := now.UnixMicro()
	var rows []webhookRow
	q := db.w.Rebind(`UPDATE webhooks SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM webhooks WHERE delivered_at = 0 AND next_at <= ? AND lease_until < ?
		ORDER BY next_at, id LIMIT ?` + db.d.lockSkip + `)
		RETURNING id, merchant, event, request, body, created_at, attempts, next_at`)
	err := db.Step(ctx, func(tx *Tx) error {
		rows = rows[:0]
		return tx.q.SelectContext(ctx, &rows, q, owner, now.Add(lease).UnixMicro(), at, at, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: claiming webhooks: %w", ErrUnavailable, err)
	}
	// RETURNING promises no order.
	slices.SortFunc(rows, func(a, b webhookRow) int { return cmp.Or(cmp.Compare(a.NextAt, b.NextAt), cmp.Compare(a.ID, b.ID)) })
	jobs := make([]WebhookJob, 0, len(rows))
	for _, r := range rows {
		jobs = append(jobs, WebhookJob{WebhookEvent: flows.WebhookEvent{
			ID: r.ID, Merchant: r.Merchant, Event: r.Event, Request: r.Request, Body: r.Body, Created: fromMicros(r.Created),
		}, Attempts: r.Attempts})
	}
	return jobs, nil
}

// WebhookDelivered ends the event id: the merchant's server answered it
// with status (2xx). The attempt is counted. An event already ended is
// left as it is; an unknown id returns an error wrapping
// flows.ErrNotFound.
func (db *DB) WebhookDelivered(ctx context.Context, id string, status int) error {
	return db.endWebhook(ctx, id, status, "", true)
}

// WebhookUndeliverable ends the event id without delivering it, for a
// reason no retry can change (the merchant has no webhook URL, or no
// signing secret): reason is kept for operators (Webhooks) and must hold
// no secret, nor the URL. An event already ended is left as it is; an
// unknown id returns an error wrapping flows.ErrNotFound.
func (db *DB) WebhookUndeliverable(ctx context.Context, id, reason string) error {
	return db.endWebhook(ctx, id, 0, reason, false)
}

func (db *DB) endWebhook(ctx context.Context, id string, status int, errText string, attempted bool) error {
	add := 0
	if attempted {
		add = 1
	}
	return db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE webhooks SET delivered_at = ?, last_status = ?, last_error = ?,
			attempts = attempts + ?, lease_owner = '', lease_until = 0 WHERE id = ? AND delivered_at = 0`),
			db.now().UnixMicro(), status, truncate(errText, 200), add, id)
		if err != nil {
			return fmt.Errorf("store: ending webhook %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: ending webhook %s: %w", id, err)
		} else if n > 0 {
			return nil
		}
		var one int
		err = tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT 1 FROM webhooks WHERE id = ?`), id).Scan(&one)
		if isNoRows(err) {
			return fmt.Errorf("store: no webhook %s: %w", id, flows.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: ending webhook %s: %w", id, err)
		}
		return nil // ended before
	})
}

// WebhookRetry puts the event id back for another attempt at next,
// ending its lease and counting the failed attempt: status is the HTTP
// status the merchant's server answered (0: none, the post failed) and
// errText what went wrong, kept for operators. errText must hold no
// secret and not the URL (its query may hold a token). An event already
// ended is left as it is.
func (db *DB) WebhookRetry(ctx context.Context, id string, next time.Time, status int, errText string) error {
	return db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE webhooks SET attempts = attempts + 1, next_at = ?, last_status = ?, last_error = ?,
			lease_owner = '', lease_until = 0 WHERE id = ? AND delivered_at = 0`), next.UnixMicro(), status, truncate(errText, 200), id)
		if err != nil {
			return fmt.Errorf("store: rescheduling webhook %s: %w", id, err)
		}
		return nil
	})
}

// States of a webhook event (WebhookState.State).
const (
	WebhookStateQueued        = "queued"        // waiting for its next attempt, or being posted
	WebhookStateDelivered     = "delivered"     // the merchant's server answered 2xx
	WebhookStateUndeliverable = "undeliverable" // ended without delivery (WebhookUndeliverable)
)

// webhookStateColumns are read by Webhooks.
const webhookStateColumns = `id, merchant, event, request, body, created_at, attempts, next_at, lease_owner, delivered_at, last_status, last_error`

// WebhookState is a webhook outbox row, for operators and tests.
type WebhookState struct {
	ID       string
	Merchant string
	Event    string
	Request  string
	Body     []byte
	Created  time.Time
	// Attempts counts the posts made: failed ones and the one delivered.
	Attempts int
	// NextAt is when the event is due (again) while it is queued.
	NextAt     time.Time
	LeaseOwner string
	// Ended is when it was delivered or given up; zero while queued.
	Ended time.Time
	// LastStatus is the HTTP status of the last answer (0: none).
	LastStatus int
	// LastError says why the last attempt failed, or why the event was
	// given up.
	LastError string
	// State is WebhookStateQueued, WebhookStateDelivered or
	// WebhookStateUndeliverable.
	State string
}

// Webhooks returns the webhook events of the merchant with code, oldest
// first.
func (db *DB) Webhooks(ctx context.Context, merchant string) ([]WebhookState, error) {
	var rows []struct {
		webhookRow
		Lease     string `db:"lease_owner"`
		Ended     int64  `db:"delivered_at"`
		Status    int    `db:"last_status"`
		LastError string `db:"last_error"`
	}
	err := db.r.SelectContext(ctx, &rows, db.r.Rebind(`SELECT `+webhookStateColumns+` FROM webhooks
		WHERE merchant = ? ORDER BY created_at, id`), merchant)
	if err != nil {
		return nil, fmt.Errorf("%w: reading webhooks: %w", ErrUnavailable, err)
	}
	out := make([]WebhookState, 0, len(rows))
	for _, r := range rows {
		s := WebhookState{
			ID: r.ID, Merchant: r.Merchant, Event: r.Event, Request: r.Request, Body: r.Body,
			Created: fromMicros(r.Created), Attempts: r.Attempts, NextAt: fromMicros(r.NextAt), LeaseOwner: r.Lease,
			Ended: fromMicros(r.Ended), LastStatus: r.Status, LastError: r.LastError, State: WebhookStateQueued,
		}
		if r.Ended != 0 {
			s.State = WebhookStateUndeliverable
			if r.Status >= 200 && r.Status < 300 {
				s.State = WebhookStateDelivered
			}
			s.NextAt = time.Time{}
		}
		out = append(out, s)
	}
	return out, nil
}

// WebhookQueueDepth returns how many webhook events wait for delivery.
func (db *DB) WebhookQueueDepth(ctx context.Context) (int, error) {
	var n int
	err := db.r.GetContext(ctx, &n, `SELECT COUNT(*) FROM webhooks WHERE delivered_at = 0`)
	return n, err
}
