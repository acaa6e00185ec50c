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

// Merchant payment requests (SPEC §5.4), the failures at merchants'
// terminals, and the USSD push outbox.

type requestRow struct {
	ID        string `db:"id"`
	Merchant  string `db:"merchant"`
	Phone     string `db:"phone"`
	Mode      string `db:"mode"`
	Reference string `db:"reference"`
	Created   int64  `db:"created_at"`
	Expires   int64  `db:"expires_at"`
}

const requestColumns = `id, merchant, phone, mode, reference, created_at, expires_at`

func (r requestRow) request() flows.PaymentRequest {
	return flows.PaymentRequest{
		ID: r.ID, Merchant: r.Merchant, Phone: flows.MSISDN(r.Phone), Mode: flows.RequestMode(r.Mode),
		Reference: r.Reference, Created: fromMicros(r.Created), Expires: fromMicros(r.Expires),
	}
}

// CreateRequest implements flows.Tx. An id already taken returns an error
// wrapping ErrDuplicate.
func (tx *Tx) CreateRequest(ctx context.Context, r flows.PaymentRequest) error {
	res, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO payment_requests (`+requestColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		r.ID, r.Merchant, string(r.Phone), string(r.Mode), r.Reference, micros(r.Created), micros(r.Expires))
	if err != nil {
		return fmt.Errorf("store: creating payment request: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: creating payment request: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: creating payment request: %w", ErrDuplicate)
	}
	return nil
}

// Request implements flows.Tx.
func (tx *Tx) Request(ctx context.Context, id string) (flows.PaymentRequest, error) {
	var r requestRow
	err := tx.q.GetContext(ctx, &r, tx.rebind(`SELECT `+requestColumns+` FROM payment_requests WHERE id = ?`), id)
	if isNoRows(err) {
		return flows.PaymentRequest{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.PaymentRequest{}, fmt.Errorf("store: reading payment request: %w", err)
	}
	return r.request(), nil
}

// RecentRequests implements flows.Tx.
func (tx *Tx) RecentRequests(ctx context.Context, merchant string, phone flows.MSISDN, since time.Time) (int, error) {
	var n int
	err := tx.q.GetContext(ctx, &n, tx.rebind(`SELECT COUNT(*) FROM payment_requests WHERE merchant = ? AND phone = ? AND created_at >= ?`),
		merchant, string(phone), micros(since))
	if err != nil {
		return 0, fmt.Errorf("store: counting payment requests: %w", err)
	}
	return n, nil
}

// MerchantFailure implements flows.Tx.
func (tx *Tx) MerchantFailure(ctx context.Context, merchant string, phone flows.MSISDN, at, since time.Time) (failures, phones int, err error) {
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO merchant_failures (merchant, phone, at) VALUES (?, ?, ?)`),
		merchant, string(phone), micros(at)); err != nil {
		return 0, 0, fmt.Errorf("store: recording a merchant's failure: %w", err)
	}
	var c struct {
		Failures int `db:"failures"`
		Phones   int `db:"phones"`
	}
	if err := tx.q.GetContext(ctx, &c, tx.rebind(`SELECT COUNT(*) AS failures, COUNT(DISTINCT phone) AS phones
		FROM merchant_failures WHERE merchant = ? AND at >= ?`), merchant, micros(since)); err != nil {
		return 0, 0, fmt.Errorf("store: counting a merchant's failures: %w", err)
	}
	return c.Failures, c.Phones, nil
}

// SuspendTerminal implements flows.Tx: a merchant already suspended
// keeps the time it was suspended first.
func (tx *Tx) SuspendTerminal(ctx context.Context, merchant string, at time.Time) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE merchants SET terminal_suspended = ? WHERE code = ? AND terminal_suspended = 0`),
		micros(at), merchant)
	if err != nil {
		return fmt.Errorf("store: suspending terminal mode: %w", err)
	}
	return nil
}

// SetTerminalSuspended suspends the terminal mode of the merchant with
// code (an operator's decision), or lifts its suspension and forgets the
// failures that led to it. No merchant code returns an error wrapping
// flows.ErrNotFound.
func (db *DB) SetTerminalSuspended(ctx context.Context, code string, suspended bool) error {
	return db.Step(ctx, func(tx *Tx) error {
		at := int64(0)
		if suspended {
			at = db.now().UnixMicro()
		}
		res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE merchants SET terminal_suspended = ? WHERE code = ?`), at, code)
		if err != nil {
			return fmt.Errorf("store: changing merchant %s: %w", code, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: changing merchant %s: %w", code, err)
		} else if n == 0 {
			return fmt.Errorf("store: no merchant %s: %w", code, flows.ErrNotFound)
		}
		if !suspended {
			if _, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM merchant_failures WHERE merchant = ?`), code); err != nil {
				return fmt.Errorf("store: changing merchant %s: %w", code, err)
			}
		}
		return nil
	})
}

// QueueWebhook implements flows.Tx: the event waits in the webhook
// outbox, due now. An event id already queued changes nothing.
func (tx *Tx) QueueWebhook(ctx context.Context, ev flows.WebhookEvent) error {
	if ev.ID == "" || ev.Merchant == "" {
		return errors.New("store: queueing webhook: no id or merchant")
	}
	_, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO webhooks (id, merchant, event, request, body, created_at, next_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		ev.ID, ev.Merchant, ev.Event, ev.Request, ev.Body, micros(ev.Created), micros(ev.Created))
	if err != nil {
		return fmt.Errorf("store: queueing webhook: %w", err)
	}
	tx.queuedWebhook = true
	return nil
}

// QueuePush implements flows.Tx: the prompt waits in the push outbox,
// due now. A request already queued changes nothing.
func (tx *Tx) QueuePush(ctx context.Context, p flows.USSDPush) error {
	_, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO ussd_pushes (id, phone, text, created_at, expires_at, next_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		p.ID, string(p.Phone), p.Text, micros(p.Created), micros(p.Expires), micros(p.Created))
	if err != nil {
		return fmt.Errorf("store: queueing USSD push: %w", err)
	}
	tx.queuedPush = true
	return nil
}

// PushSignal receives when a step queued a USSD push.
func (db *DB) PushSignal() <-chan struct{} { return db.pushSignal }

// WebhookSignal receives when a step queued a webhook event.
func (db *DB) WebhookSignal() <-chan struct{} { return db.webhookSignal }

type pushRow struct {
	ID       string `db:"id"`
	Phone    string `db:"phone"`
	Text     string `db:"text"`
	Created  int64  `db:"created_at"`
	Expires  int64  `db:"expires_at"`
	Attempts int    `db:"attempts"`
	NextAt   int64  `db:"next_at"`
}

// PushJob is a claimed USSD push and how often it was tried before.
type PushJob struct {
	flows.USSDPush
	Attempts int
}

// ClaimPushes leases up to limit due pushes to owner until now+lease, as
// ClaimBank does: FOR UPDATE SKIP LOCKED on PostgreSQL, a step of the one
// writer on SQLite. Pushes past their expiry are ended unsent instead.
func (db *DB) ClaimPushes(ctx context.Context, owner string, lease time.Duration, limit int) ([]PushJob, error) {
	now := db.now()
	at := now.UnixMicro()
	var rows []pushRow
	q := db.w.Rebind(`UPDATE ussd_pushes SET lease_owner = ?, lease_until = ?
		WHERE id IN (SELECT id FROM ussd_pushes WHERE done_at = 0 AND next_at <= ? AND lease_until < ?
		ORDER BY next_at, id LIMIT ?` + db.d.lockSkip + `)
		RETURNING id, phone, text, created_at, expires_at, attempts, next_at`)
	err := db.Step(ctx, func(tx *Tx) error {
		rows = rows[:0]
		if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE ussd_pushes SET done_at = ?, last_error = 'expired'
			WHERE done_at = 0 AND expires_at < ?`), at, at); err != nil {
			return err
		}
		return tx.q.SelectContext(ctx, &rows, q, owner, now.Add(lease).UnixMicro(), at, at, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: claiming USSD pushes: %w", ErrUnavailable, err)
	}
	slices.SortFunc(rows, func(a, b pushRow) int { return cmp.Or(cmp.Compare(a.NextAt, b.NextAt), cmp.Compare(a.ID, b.ID)) })
	jobs := make([]PushJob, 0, len(rows))
	for _, r := range rows {
		jobs = append(jobs, PushJob{USSDPush: flows.USSDPush{
			ID: r.ID, Phone: flows.MSISDN(r.Phone), Text: r.Text, Created: fromMicros(r.Created), Expires: fromMicros(r.Expires),
		}, Attempts: r.Attempts})
	}
	return jobs, nil
}

// PushDone ends the push id: sent, or given up with errText (no secret).
func (db *DB) PushDone(ctx context.Context, id, errText string) error {
	return db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE ussd_pushes SET done_at = ?, lease_owner = '', lease_until = 0, last_error = ?
			WHERE id = ?`), db.now().UnixMicro(), truncate(errText, 200), id)
		return err
	})
}

// PushRetry puts the push id back for another attempt at next.
func (db *DB) PushRetry(ctx context.Context, id string, next time.Time, errText string) error {
	return db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE ussd_pushes SET attempts = attempts + 1, next_at = ?, lease_owner = '',
			lease_until = 0, last_error = ? WHERE id = ? AND done_at = 0`), next.UnixMicro(), truncate(errText, 200), id)
		return err
	})
}

// RequestState returns the payment request with id, its transfer and its
// merchant, read outside any step (the API's GET and long-poll), or
// flows.ErrNotFound.
func (db *DB) RequestState(ctx context.Context, id string) (flows.PaymentRequest, flows.Transfer, flows.Merchant, error) {
	var req requestRow
	err := db.r.GetContext(ctx, &req, db.r.Rebind(`SELECT `+requestColumns+` FROM payment_requests WHERE id = ?`), id)
	if isNoRows(err) {
		return flows.PaymentRequest{}, flows.Transfer{}, flows.Merchant{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.PaymentRequest{}, flows.Transfer{}, flows.Merchant{}, fmt.Errorf("%w: reading payment request: %w", ErrUnavailable, err)
	}
	var tr transferRow
	if err := db.r.GetContext(ctx, &tr, db.r.Rebind(`SELECT `+transferColumns+` FROM transfers WHERE id = ?`), id); err != nil {
		return flows.PaymentRequest{}, flows.Transfer{}, flows.Merchant{}, fmt.Errorf("%w: reading payment request's transfer: %w", ErrUnavailable, err)
	}
	t, err := db.transfer(tr)
	if err != nil {
		return flows.PaymentRequest{}, flows.Transfer{}, flows.Merchant{}, err
	}
	var mr merchantRow
	if err := db.r.GetContext(ctx, &mr, db.r.Rebind(`SELECT `+merchantColumns+` FROM merchants WHERE code = ?`), req.Merchant); err != nil {
		return flows.PaymentRequest{}, flows.Transfer{}, flows.Merchant{}, fmt.Errorf("%w: reading payment request's merchant: %w", ErrUnavailable, err)
	}
	m, err := db.merchant(mr)
	if err != nil {
		return flows.PaymentRequest{}, flows.Transfer{}, flows.Merchant{}, err
	}
	return req.request(), t, m, nil
}
