package flows

import (
	"errors"
	"testing"
)

func TestParseAmount(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Amount
		why  Reason // "" when it parses
	}{
		{"whole", "500", 50000, ""},
		{"one decimal", "500.5", 50050, ""},
		{"two decimals", "500.50", 50050, ""},
		{"thousands", "1,000", 100000, ""},
		{"thousands and decimals", "1,234,567.89", 123456789, ""},
		{"cents", "0.01", 1, ""},
		{"leading point", ".5", 50, ""},
		{"trailing point", "5.", 500, ""},
		{"leading zeros", "0500", 50000, ""},
		{"largest", "92233720368547758.07", 9223372036854775807, ""},
		{"zero", "0", 0, ReasonAmountZero},
		{"zero with decimals", "0.00", 0, ReasonAmountZero},
		{"negative", "-5", 0, ReasonAmountZero},
		{"negative garbage", "-x", 0, ReasonAmount},
		{"three decimals", "500.505", 0, ReasonAmountDecimals},
		{"overflow", "92233720368547758.08", 0, ReasonAmountTooLarge},
		{"huge", "99999999999999999999999999", 0, ReasonAmountTooLarge},
		{"empty", "", 0, ReasonAmount},
		{"point alone", ".", 0, ReasonAmount},
		{"two points", "1.2.3", 0, ReasonAmount},
		{"letters", "abc", 0, ReasonAmount},
		{"digits and letters", "500x", 0, ReasonAmount},
		{"plus sign", "+500", 0, ReasonAmount},
		{"exponent", "1e3", 0, ReasonAmount},
		{"short group", "1,00", 0, ReasonAmount},
		{"long group", "1,0000", 0, ReasonAmount},
		{"long first group", "1000,000", 0, ReasonAmount},
		{"empty first group", ",100", 0, ReasonAmount},
		{"comma in decimals", "1.000,50", 0, ReasonAmount},
		{"comma at end", "100,", 0, ReasonAmount},
		{"space", "1 000", 0, ReasonAmount},
		{"full-width digits are Parse's job", "５００", 0, ReasonAmount},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAmount(tt.in)
			if tt.why == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseAmount(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeUsage || e.Reason != tt.why {
				t.Fatalf("ParseAmount(%q) = %d, %#v; want a usage error for %s", tt.in, got, err, tt.why)
			}
		})
	}
}

func TestAmountString(t *testing.T) {
	for a, want := range map[Amount]string{
		0: "0.00", 1: "0.01", 50: "0.50", 50050: "500.50", 100000: "1000.00",
		-1: "-0.01", -50050: "-500.50",
		9223372036854775807:  "92233720368547758.07",
		-9223372036854775808: "-92233720368547758.08",
	} {
		if got := a.String(); got != want {
			t.Errorf("Amount(%d).String() = %q, want %q", int64(a), got, want)
		}
	}
}
