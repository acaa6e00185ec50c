package gateway

import (
	"cmp"
	"errors"
	"fmt"
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
