package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

func demoMerchant() flows.Merchant {
	return flows.Merchant{
		Code: "DEMO", Name: "Demo Shop",
		Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009001"},
		Phone:   "+8613500135000", Webhook: "https://shop.example/paygate?token=s3cr3t",
		Created: time.UnixMicro(time.Now().UnixMicro()),
	}
}

// Add, list, look up in a step, disable and enable; a code added twice
// is ErrDuplicate and changes nothing; an unknown code is ErrNotFound.
func TestMerchants(t *testing.T) {
	clock := newClock()
	eachRawDB(t, clock.options(), func(t *testing.T, db rawDB) {
		demo := demoMerchant()
		if err := db.AddMerchant(ctx, demo); err != nil {
			t.Fatal(err)
		}
		// Zero Created is now; no phone, no webhook.
		tea := flows.Merchant{Code: "TEA42", Name: "茶馆", Account: flows.AccountRef{Bank: "ICB", Number: "GB33BUKB20201555555555"}}
		if err := db.AddMerchant(ctx, tea); err != nil {
			t.Fatal(err)
		}
		tea.Created = clock.Now()

		again := demoMerchant()
		again.Name = "Impostor"
		if err := db.AddMerchant(ctx, again); !errors.Is(err, store.ErrDuplicate) || !errors.Is(err, flows.ErrDuplicate) {
			t.Fatalf("adding DEMO twice: %v", err)
		}

		list, err := db.Merchants(ctx)
		if err != nil || !reflect.DeepEqual(list, []flows.Merchant{demo, tea}) {
			t.Fatalf("merchants:\n got %#v, %v\nwant %#v", list, err, []flows.Merchant{demo, tea})
		}
		step(t, db.DB, func(tx *store.Tx) error {
			m, err := tx.Merchant(ctx, "DEMO")
			if err != nil || !reflect.DeepEqual(m, demo) {
				return fmt.Errorf("DEMO: %#v, %v", m, err)
			}
			if _, err := tx.Merchant(ctx, "demo"); !errors.Is(err, flows.ErrNotFound) {
				return fmt.Errorf("lower-case code: %v", err)
			}
			if _, err := tx.Merchant(ctx, "NOBODY"); !errors.Is(err, flows.ErrNotFound) {
				return fmt.Errorf("unknown code: %v", err)
			}
			return nil
		})

		for _, disabled := range []bool{true, true, false} { // twice is no error
			if err := db.SetMerchantDisabled(ctx, "DEMO", disabled); err != nil {
				t.Fatal(err)
			}
			step(t, db.DB, func(tx *store.Tx) error {
				m, err := tx.Merchant(ctx, "DEMO") // disabled ones too
				if err != nil || m.Disabled != disabled {
					return fmt.Errorf("after SetMerchantDisabled(%v): %+v, %v", disabled, m, err)
				}
				return nil
			})
		}
		if err := db.SetMerchantDisabled(ctx, "NOBODY", true); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("disabling an unknown merchant: %v", err)
		}
		var masked string
		if err := db.raw.Get(&masked, `SELECT masked FROM merchants WHERE code = 'DEMO'`); err != nil || masked != "****9001" {
			t.Fatalf("masked %q, %v", masked, err)
		}
	})
}

// ValidateMerchant names every field at fault, and AddMerchant refuses
// what it refuses, without quoting an account number or a webhook URL.
func TestValidateMerchant(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *flows.Merchant)
		fields []string // the fields refused, in order
	}{
		{"valid", func(m *flows.Merchant) {}, nil},
		{"no phone, no webhook", func(m *flows.Merchant) { m.Phone, m.Webhook = "", "" }, nil},
		{"http to loopback", func(m *flows.Merchant) { m.Webhook = "http://127.0.0.1:9000/hook" }, nil},
		{"http to localhost", func(m *flows.Merchant) { m.Webhook = "http://localhost/hook" }, nil},
		{"http to ::1", func(m *flows.Merchant) { m.Webhook = "http://[::1]:8080/hook" }, nil},
		{"letters in account", func(m *flows.Merchant) { m.Account.Number = "GB33BUKB20201555555555" }, nil},
		{"chinese name", func(m *flows.Merchant) { m.Name = "小卖部" }, nil},
		{"code too short", func(m *flows.Merchant) { m.Code = "D" }, []string{"code"}},
		{"code too long", func(m *flows.Merchant) { m.Code = strings.Repeat("A", 17) }, []string{"code"}},
		{"code lower case", func(m *flows.Merchant) { m.Code = "demo" }, []string{"code"}},
		{"code with dash", func(m *flows.Merchant) { m.Code = "DE-MO" }, []string{"code"}},
		{"blank name", func(m *flows.Merchant) { m.Name = "  " }, []string{"name"}},
		{"long name", func(m *flows.Merchant) { m.Name = strings.Repeat("x", store.MaxMerchantName+1) }, []string{"name"}},
		{"control in name", func(m *flows.Merchant) { m.Name = "Demo\nShop" }, []string{"name"}},
		{"invalid UTF-8 name", func(m *flows.Merchant) { m.Name = "Demo \xff" }, []string{"name"}},
		{"no bank", func(m *flows.Merchant) { m.Account.Bank = "" }, []string{"bank"}},
		{"lower-case bank", func(m *flows.Merchant) { m.Account.Bank = "pgb" }, []string{"bank"}},
		{"short account", func(m *flows.Merchant) { m.Account.Number = "123" }, []string{"account"}},
		{"account without digits", func(m *flows.Merchant) { m.Account.Number = "ABCDEFGH" }, []string{"account"}},
		{"account with spaces", func(m *flows.Merchant) { m.Account.Number = "6222 0200 0000 9001" }, []string{"account"}},
		{"local phone", func(m *flows.Merchant) { m.Phone = "13700137000" }, []string{"phone"}},
		{"not a phone", func(m *flows.Merchant) { m.Phone = "+86abc" }, []string{"phone"}},
		{"http webhook", func(m *flows.Merchant) { m.Webhook = "http://shop.example/hook" }, []string{"webhook"}},
		{"ftp webhook", func(m *flows.Merchant) { m.Webhook = "ftp://shop.example/hook" }, []string{"webhook"}},
		{"relative webhook", func(m *flows.Merchant) { m.Webhook = "/hook" }, []string{"webhook"}},
		{"webhook with password", func(m *flows.Merchant) { m.Webhook = "https://user:s3cr3t@shop.example/hook" }, []string{"webhook"}},
		{"webhook too long", func(m *flows.Merchant) { m.Webhook = "https://shop.example/" + strings.Repeat("a", 2048) }, []string{"webhook"}},
		{"everything", func(m *flows.Merchant) { *m = flows.Merchant{Phone: "x", Webhook: "x"} },
			[]string{"code", "name", "bank", "account", "phone", "webhook"}},
	}
	db := openDB(t, "sqlite:"+t.TempDir()+"/paygate.db")
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := demoMerchant()
			m.Code = fmt.Sprintf("M%d", i)
			tt.change(&m)
			err := store.ValidateMerchant(m)
			var fields []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *store.FieldError
					if !errors.As(e, &fe) {
						t.Fatalf("%v is not a *FieldError", e)
					}
					fields = append(fields, fe.Field)
				}
			}
			if !reflect.DeepEqual(fields, tt.fields) {
				t.Fatalf("refused %v (%v), want %v", fields, err, tt.fields)
			}
			if err != nil {
				for _, secret := range []string{m.Account.Number.Reveal(), "s3cr3t"} {
					if len(secret) >= 4 && strings.Contains(err.Error(), secret) {
						t.Errorf("the error quotes %q: %v", secret, err)
					}
				}
			}
			addErr := db.AddMerchant(ctx, m)
			if (addErr == nil) != (tt.fields == nil) {
				t.Fatalf("AddMerchant: %v", addErr)
			}
		})
	}
}
