package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/paygate/paygate/flows"
)

// Limits of a merchant's fields (ValidateMerchant).
const (
	MaxMerchantName = 40   // characters: the name goes in SMS replies
	maxWebhookLen   = 2048 // bytes
)

// FieldError is a value ValidateMerchant refuses. Field names it as the
// command line's flags and the admin API do: "code", "name", "bank",
// "account", "phone", "webhook". Reason says what is wrong without
// quoting a secret: never the account number, never the webhook URL
// (its query may hold a token).
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return "merchant " + e.Field + ": " + e.Reason }

// ValidateMerchant checks what AddMerchant keeps of m and returns every
// problem, joined (errors.Join), each a *FieldError; nil when m is fine.
// Values are checked as given, not normalized:
//   - Code: 2 to 16 upper-case letters or digits (what PAY names);
//   - Name: not blank, at most MaxMerchantName characters of valid
//     UTF-8, no control characters;
//   - Account.Bank: 2 to 11 upper-case letters or digits, and
//     Account.Number: 4 to 34 upper-case letters or digits with at least
//     one digit — the forms LINK accepts (SPEC §3);
//   - Phone: "" or E.164 ("+8613700137000");
//   - Webhook: "" or an https:// URL, or an http:// URL to a loopback
//     host (SPEC §7: the sandbox's), without user or password.
func ValidateMerchant(m flows.Merchant) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if !isCode(m.Code, 2, 16) {
		bad("code", "%q is not 2 to 16 upper-case letters or digits", m.Code)
	}
	switch n := utf8.RuneCountInString(m.Name); {
	case strings.TrimSpace(m.Name) == "":
		bad("name", "is empty")
	case !utf8.ValidString(m.Name) || strings.IndexFunc(m.Name, unicode.IsControl) >= 0:
		bad("name", "has characters that are not printable text")
	case n > MaxMerchantName:
		bad("name", "has %d characters, more than %d", n, MaxMerchantName)
	}
	if !isCode(m.Account.Bank, 2, 11) {
		bad("bank", "%q is not a bank code of 2 to 11 upper-case letters or digits", m.Account.Bank)
	}
	if n := m.Account.Number.Reveal(); !isCode(n, 4, 34) || strings.IndexAny(n, "0123456789") < 0 {
		bad("account", "is not an account number of 4 to 34 digits or upper-case letters")
	}
	if m.Phone != "" {
		if p, err := flows.ParseMSISDN(string(m.Phone), ""); err != nil || p != m.Phone || !strings.HasPrefix(string(m.Phone), "+") {
			bad("phone", "%q is not a phone number in E.164 form such as +8613700137000", m.Phone)
		}
	}
	if m.Webhook != "" {
		if reason := webhookProblem(m.Webhook); reason != "" {
			bad("webhook", "%s", reason)
		}
	}
	return errors.Join(errs...)
}

// isCode reports whether s is lo to hi upper-case ASCII letters or
// digits.
func isCode(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// webhookProblem says what is wrong with a webhook URL, or "" if
// nothing is. It never quotes the URL.
func webhookProblem(raw string) string {
	if len(raw) > maxWebhookLen {
		return fmt.Sprintf("is longer than %d bytes", maxWebhookLen)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "is not an absolute URL such as https://shop.example/paygate"
	}
	if u.User != nil {
		return "has a user or password in it: the webhook is signed (SPEC §7), it needs no credentials"
	}
	switch u.Scheme {
	case "https":
		return ""
	case "http":
		if isLoopback(u.Hostname()) {
			return ""
		}
		return "is http:// to a host that is not loopback: use https:// (http:// only to 127.0.0.1, ::1 or localhost)"
	}
	return "is not an https:// URL"
}

// isLoopback reports whether host names this machine: localhost, or an
// address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// merchantAD is the additional data a merchant's account number is
// sealed with: it binds the number to the merchant's code and table.
func merchantAD(code string) []byte { return []byte("merchant\x00" + code) }

// merchantColumns are read by merchantRow.
const merchantColumns = `code, name, bank, number_sealed, phone, webhook, disabled, created_at, terminal_suspended`

type merchantRow struct {
	Code     string `db:"code"`
	Name     string `db:"name"`
	Bank     string `db:"bank"`
	Sealed   []byte `db:"number_sealed"`
	Phone    string `db:"phone"`
	Webhook  string `db:"webhook"`
	Disabled int64  `db:"disabled"`
	Created  int64  `db:"created_at"`
	// Suspended: when terminal mode was suspended, 0 when it is not.
	Suspended int64 `db:"terminal_suspended"`
}

// merchant turns a row into a flows.Merchant, opening its number.
func (db *DB) merchant(r merchantRow) (flows.Merchant, error) {
	number, err := db.keys.openBytes(r.Sealed, merchantAD(r.Code))
	if err != nil {
		return flows.Merchant{}, fmt.Errorf("store: reading merchant %s: %w", r.Code, err)
	}
	return flows.Merchant{
		Code: r.Code, Name: r.Name,
		Account: flows.AccountRef{Bank: r.Bank, Number: flows.AccountNumber(number)},
		Phone:   flows.MSISDN(r.Phone), Webhook: r.Webhook, Disabled: r.Disabled != 0,
		Created: fromMicros(r.Created), TerminalSuspended: fromMicros(r.Suspended),
	}, nil
}

// Merchant implements flows.Tx: the merchant with code, disabled or not,
// or flows.ErrNotFound. Codes are matched exactly: PAY upper-cases them.
func (tx *Tx) Merchant(ctx context.Context, code string) (flows.Merchant, error) {
	var r merchantRow
	err := tx.q.GetContext(ctx, &r, tx.rebind(`SELECT `+merchantColumns+` FROM merchants WHERE code = ?`), code)
	if isNoRows(err) {
		return flows.Merchant{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.Merchant{}, fmt.Errorf("store: reading merchant %s: %w", code, err)
	}
	return tx.db.merchant(r)
}

// AddMerchant adds m, its account number sealed and bound to its code,
// created at m.Created or, when that is zero, now. A merchant ValidateMerchant
// refuses returns its error as is (joined *FieldError); a code already
// taken changes nothing and returns an error wrapping ErrDuplicate.
func (db *DB) AddMerchant(ctx context.Context, m flows.Merchant) error {
	if err := ValidateMerchant(m); err != nil {
		return err
	}
	created := m.Created
	if created.IsZero() {
		created = db.now()
	}
	sealed := db.keys.sealBytes([]byte(m.Account.Number.Reveal()), merchantAD(m.Code))
	return db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO merchants (code, name, bank, number_sealed, masked, phone, webhook, disabled, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO NOTHING`),
			m.Code, m.Name, m.Account.Bank, sealed, m.Account.Number.Masked(), string(m.Phone), m.Webhook, boolInt(m.Disabled), created.UnixMicro())
		if err != nil {
			return fmt.Errorf("store: adding merchant %s: %w", m.Code, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: adding merchant %s: %w", m.Code, err)
		} else if n == 0 {
			return fmt.Errorf("store: adding merchant %s: the code is taken: %w", m.Code, ErrDuplicate)
		}
		return nil
	})
}

// Merchants returns every merchant, disabled ones too, by code, their
// account numbers opened.
func (db *DB) Merchants(ctx context.Context) ([]flows.Merchant, error) {
	var rows []merchantRow
	if err := db.r.SelectContext(ctx, &rows, `SELECT `+merchantColumns+` FROM merchants ORDER BY code`); err != nil {
		return nil, fmt.Errorf("store: reading merchants: %w", err)
	}
	out := make([]flows.Merchant, 0, len(rows))
	for _, r := range rows {
		m, err := db.merchant(r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// SetMerchantDisabled disables the merchant with code (PAY to it is
// refused) or enables it again. Setting what is already set is not an
// error; no merchant code returns an error wrapping flows.ErrNotFound.
func (db *DB) SetMerchantDisabled(ctx context.Context, code string, disabled bool) error {
	return db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE merchants SET disabled = ? WHERE code = ?`), boolInt(disabled), code)
		if err != nil {
			return fmt.Errorf("store: changing merchant %s: %w", code, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: changing merchant %s: %w", code, err)
		} else if n == 0 {
			return fmt.Errorf("store: no merchant %s: %w", code, flows.ErrNotFound)
		}
		return nil
	})
}
