package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/store"
)

// FieldError is a merchant's field refused by ParseMerchant: Field names
// it as the command line's flags do ("code", "name", "bank", "account",
// "phone", "webhook"), Reason says what is wrong without quoting an
// account number or a webhook URL.
type FieldError = store.FieldError

// merchantFields are the fields of MerchantInput as FieldError names
// them, in order.
var merchantFields = []string{"code", "name", "bank", "account", "phone", "webhook"}

// MerchantInput is a merchant as an operator writes it
// (`paygate merchants add`): ParseMerchant normalizes and checks it.
type MerchantInput struct {
	Code    string // any case: PAY codes are upper case
	Name    string
	Bank    string // "" for the config's bank.code
	Account string // spaces and dashes allowed, as on a bank card
	Phone   string // local (read with the config's country) or international; "" for none
	Webhook string // https://, or http:// to loopback; "" for none
}

// ParseMerchant turns in into the merchant to add under cfg: code and
// bank upper-cased (bank defaults to cfg's bank.code), the name's spaces
// collapsed, spaces and dashes dropped from the account number and the
// phone, the phone read with cfg's country and kept in E.164. Then
// store.ValidateMerchant checks the result. What it refuses comes back
// as every problem joined (errors.Join), each a *FieldError, in the
// order of MerchantInput's fields.
func ParseMerchant(cfg config.Config, in MerchantInput) (flows.Merchant, error) {
	bank := strings.TrimSpace(in.Bank)
	if bank == "" {
		bank = cfg.Bank.Code
	}
	account := strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(in.Account))
	m := flows.Merchant{
		Code:    strings.ToUpper(strings.TrimSpace(in.Code)),
		Name:    strings.Join(strings.Fields(in.Name), " "),
		Account: flows.AccountRef{Bank: strings.ToUpper(bank), Number: flows.AccountNumber(strings.ToUpper(account))},
		Webhook: strings.TrimSpace(in.Webhook),
	}
	var errs []error
	if p := strings.NewReplacer(" ", "", "-", "").Replace(in.Phone); p != "" {
		phone, err := flows.ParseMSISDN(p, cfg.Country)
		if err != nil || !phoneRE.MatchString(p) {
			errs = append(errs, &FieldError{Field: "phone", Reason: fmt.Sprintf(
				"%q is not a phone number (local numbers are read with country code %s)", in.Phone, cfg.Country)})
			phone = "" // told: not to be checked again
		}
		m.Phone = phone
	}
	if err := store.ValidateMerchant(m); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = append(errs, j.Unwrap()...)
		} else {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		// In the order of the fields, as ValidateMerchant reports them.
		rank := func(e error) int {
			var fe *FieldError
			if !errors.As(e, &fe) {
				return len(merchantFields)
			}
			return slices.Index(merchantFields, fe.Field)
		}
		slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(rank(a), rank(b)) })
		return flows.Merchant{}, errors.Join(errs...)
	}
	return m, nil
}

// Merchants is the store of a gateway's config opened for the merchant
// commands of the command line (`paygate merchants`), apart from any
// running gateway: on SQLite the two share the database file, and a
// gateway sees a change at its next PAY. Its methods are safe for
// concurrent use.
type Merchants struct {
	db *store.DB
}

// OpenMerchants opens the store of cfg (database, keys.data_key_file).
// It creates nothing and migrates nothing: a data key file or SQLite
// database file that does not exist is an error wrapping fs.ErrNotExist,
// and a database that lacks migrations an error asking for
// `paygate migrate`. Errors name the config key they are about.
func OpenMerchants(ctx context.Context, cfg config.Config, log *slog.Logger) (*Merchants, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dataKey, err := readKeyFile(cfg.Keys.DataKeyFile)
	if err != nil {
		return nil, fmt.Errorf("keys.data_key_file: %w", err)
	}
	dsn := cfg.Database.Reveal()
	if path, ok := sqliteFile(dsn); ok {
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("database: %s does not exist: %w", path, fs.ErrNotExist)
			}
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	db, err := store.Open(ctx, dsn, store.Options{Keys: store.Keys{DataKey: dataKey}, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	todo, err := db.Unapplied(ctx)
	if err == nil && len(todo) > 0 {
		err = fmt.Errorf("%s lacks %d migration(s) (%s): run `paygate migrate` (or `paygate serve`, which migrates) first",
			cfg.Database, len(todo), strings.Join(todo, ", "))
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("database: %w", err), db.Close())
	}
	return &Merchants{db: db}, nil
}

// sqliteFile returns the file of a SQLite DSN as store.Open reads it
// ("sqlite:PATH" or a bare path), and false for PostgreSQL or an
// in-memory or file: URI database.
func sqliteFile(dsn string) (string, bool) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return "", false
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return "", false
	}
	return path, true
}

// Add adds m (see store.DB.AddMerchant): a code already taken returns an
// error wrapping flows.ErrDuplicate; an invalid m, joined *FieldError.
func (s *Merchants) Add(ctx context.Context, m flows.Merchant) error {
	return s.db.AddMerchant(ctx, m)
}

// List returns every merchant, disabled ones too, by code.
func (s *Merchants) List(ctx context.Context) ([]flows.Merchant, error) {
	return s.db.Merchants(ctx)
}

// SetDisabled disables the merchant with code, so that PAY to it is
// refused, or enables it again; no such merchant returns an error
// wrapping flows.ErrNotFound.
func (s *Merchants) SetDisabled(ctx context.Context, code string, disabled bool) error {
	return s.db.SetMerchantDisabled(ctx, code, disabled)
}

// Close closes the store.
func (s *Merchants) Close() error { return s.db.Close() }
