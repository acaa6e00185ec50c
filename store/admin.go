package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/flows"
)

// What the admin API (SPEC §7) reads and writes apart from the flows:
// the audit log, and read-only views of subscribers, merchants and
// transfers taken outside any step (they never wait on the writer).

// AuditEntry is one admin action: who (the operator's name from
// admin.token_file, "" when the caller was not recognized), what (an
// action such as "merchant.create"), on what (a phone, a merchant code, a
// key id), and the HTTP status it ended with. Detail says more in a few
// words. None of it may hold a secret: the gateway writes no token, API
// key, account number, webhook secret or webhook query here.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Operator string
	Action   string
	Target   string
	Status   int
	Detail   string
}

// Lengths the audit columns are cut to: a caller that is refused still
// gets a row, and must not be able to write a novel.
const (
	maxAuditName   = 64
	maxAuditTarget = 128
	maxAuditDetail = 512
)

// clip cuts s to at most n bytes on a rune boundary, invalid UTF-8 made
// valid first.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Audit appends e to the audit log, at e.At or, when it is zero, now.
// Its fields are cut to the columns' lengths.
func (db *DB) Audit(ctx context.Context, e AuditEntry) error {
	at := e.At
	if at.IsZero() {
		at = db.now()
	}
	err := db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO audit (at, operator, action, target, status, detail) VALUES (?, ?, ?, ?, ?, ?)`),
			at.UnixMicro(), clip(e.Operator, maxAuditName), clip(e.Action, maxAuditName), clip(e.Target, maxAuditTarget),
			e.Status, clip(e.Detail, maxAuditDetail))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: writing the audit log: %w", err)
	}
	return nil
}

// AuditFilter selects entries of the audit log. Zero fields select
// everything.
type AuditFilter struct {
	Operator string // only this operator's
	Action   string // only this action
	Target   string // only on this target
	Before   int64  // only entries with an id below this one (paging back)
	Limit    int    // at most this many; 0 is 100
}

// AuditLog returns the entries f selects, newest first.
func (db *DB) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	for _, c := range []struct {
		col, v string
	}{{"operator", f.Operator}, {"action", f.Action}, {"target", f.Target}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	if f.Before > 0 {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := `SELECT id, at, operator, action, target, status, detail FROM audit`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q, args = q+` ORDER BY id DESC LIMIT ?`, append(args, f.Limit)
	var rows []struct {
		ID       int64  `db:"id"`
		At       int64  `db:"at"`
		Operator string `db:"operator"`
		Action   string `db:"action"`
		Target   string `db:"target"`
		Status   int    `db:"status"`
		Detail   string `db:"detail"`
	}
	if err := db.r.SelectContext(ctx, &rows, db.r.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("store: reading the audit log: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{ID: r.ID, At: time.UnixMicro(r.At), Operator: r.Operator, Action: r.Action,
			Target: r.Target, Status: r.Status, Detail: r.Detail}
	}
	return out, nil
}

// LinkedAccount is an account linked to a phone as operators see it: its
// number masked, never opened.
type LinkedAccount struct {
	ID      int64
	Bank    string
	Masked  string // "****3445"
	Holder  string // already masked
	Default bool
	Linked  time.Time
}

// LookupSubscriber returns the record of phone (its state opened: the
// lockout, the pending prompt) and its linked accounts, oldest first, for
// operators. It reads outside any step and locks nothing; no record is
// flows.ErrNotFound. The record holds the PIN hash: callers show none
// of it.
func (db *DB) LookupSubscriber(ctx context.Context, phone flows.MSISDN) (flows.Subscriber, []LinkedAccount, error) {
	// As Tx.Subscriber reads it, without the row lock.
	s, err := db.scanSubscriber(db.r.QueryRowxContext(ctx, db.r.Rebind(`SELECT `+subscriberColumns+` FROM subscribers WHERE phone = ?`), string(phone)), phone)
	if err != nil {
		return flows.Subscriber{}, nil, err
	}
	var rows []struct {
		ID      int64  `db:"id"`
		Bank    string `db:"bank"`
		Masked  string `db:"masked"`
		Holder  string `db:"holder"`
		Default int64  `db:"is_default"`
		Linked  int64  `db:"linked_at"`
	}
	err = db.r.SelectContext(ctx, &rows, db.r.Rebind(`SELECT id, bank, masked, holder, is_default, linked_at
		FROM accounts WHERE phone = ? ORDER BY id`), string(phone))
	if err != nil {
		return flows.Subscriber{}, nil, fmt.Errorf("store: reading accounts: %w", err)
	}
	accounts := make([]LinkedAccount, len(rows))
	for i, r := range rows {
		accounts[i] = LinkedAccount{ID: r.ID, Bank: r.Bank, Masked: r.Masked, Holder: r.Holder, Default: r.Default != 0, Linked: time.UnixMicro(r.Linked)}
	}
	return s, accounts, nil
}

// MerchantByCode returns the merchant with code, disabled or not, read
// outside any step; none is flows.ErrNotFound.
func (db *DB) MerchantByCode(ctx context.Context, code string) (flows.Merchant, error) {
	var r merchantRow
	err := db.r.GetContext(ctx, &r, db.r.Rebind(`SELECT `+merchantColumns+` FROM merchants WHERE code = ?`), code)
	if isNoRows(err) {
		return flows.Merchant{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.Merchant{}, fmt.Errorf("store: reading merchant %s: %w", code, err)
	}
	return db.merchant(r)
}

// TransferByReference returns the transfer with the short reference ref
// (SPEC §6), read outside any step; none is flows.ErrNotFound.
func (db *DB) TransferByReference(ctx context.Context, ref string) (flows.Transfer, error) {
	var r transferRow
	err := db.r.GetContext(ctx, &r, db.r.Rebind(`SELECT `+transferColumns+` FROM transfers WHERE ref = ?`), ref)
	if isNoRows(err) {
		return flows.Transfer{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.Transfer{}, fmt.Errorf("store: reading transfer %s: %w", ref, err)
	}
	return db.transfer(r)
}
