package gateway

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
)

// ParseMerchant normalizes what an operator types and names every field
// it refuses, in the order of the fields.
func TestParseMerchant(t *testing.T) {
	cfg := config.Default()
	cfg.Bank = config.DefaultBank()
	tests := []struct {
		name   string
		in     MerchantInput
		want   flows.Merchant
		fields []string
	}{
		{"normalized",
			MerchantInput{Code: " demo ", Name: " Demo   Shop ", Account: "6222-0200 0000-9001", Phone: "137 0013 7000", Webhook: " https://shop.example/hook "},
			flows.Merchant{Code: "DEMO", Name: "Demo Shop", Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009001"},
				Phone: "+8613700137000", Webhook: "https://shop.example/hook"}, nil},
		{"other bank, international phone",
			MerchantInput{Code: "TEA", Name: "茶", Bank: "icb", Account: "gb33bukb20201555555555", Phone: "+447911123456"},
			flows.Merchant{Code: "TEA", Name: "茶", Account: flows.AccountRef{Bank: "ICB", Number: "GB33BUKB20201555555555"}, Phone: "+447911123456"}, nil},
		{"bad phone", MerchantInput{Code: "TEA", Name: "Tea", Account: "12345678", Phone: "12x"}, flows.Merchant{}, []string{"phone"}},
		{"extension is no phone", MerchantInput{Code: "TEA", Name: "Tea", Account: "12345678", Phone: "13700137000x1"}, flows.Merchant{}, []string{"phone"}},
		{"everything", MerchantInput{Phone: "x", Webhook: "http://example.com"}, flows.Merchant{},
			[]string{"code", "name", "account", "phone", "webhook"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMerchant(cfg, tt.in)
			var fields []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					var fe *FieldError
					if !errors.As(e, &fe) {
						t.Fatalf("%v is not a *FieldError", e)
					}
					fields = append(fields, fe.Field)
				}
			}
			if !reflect.DeepEqual(fields, tt.fields) || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, refused %v (%v)\nwant %#v, refused %v", got, fields, err, tt.want, tt.fields)
			}
			if err != nil && strings.Contains(err.Error(), "example.com") {
				t.Errorf("the webhook URL is quoted: %v", err)
			}
		})
	}
}
