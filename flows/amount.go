package flows

import (
	"math"
	"strconv"
	"strings"
)

// Amount is a sum of money in minor units of the configured currency,
// which has 2 decimals (SPEC §1 currency, §2): 500.50 is Amount(50050).
type Amount int64

// String writes the amount with its 2 decimals and no grouping: "1000.50".
func (a Amount) String() string {
	sign := ""
	u := uint64(a)
	if a < 0 {
		sign, u = "-", uint64(-(a+1))+1 // -MinInt64 does not fit in int64
	}
	frac := strconv.FormatUint(u%100, 10)
	if len(frac) == 1 {
		frac = "0" + frac
	}
	return sign + strconv.FormatUint(u/100, 10) + "." + frac
}

// ParseAmount reads an amount as a user writes it (SPEC §2): "500",
// "500.5", "500.50", "1,000", "1,000.50"; ".5" and "5." are read too.
// Thousands separators must group by three. The text must be ASCII
// digits already (Parse normalizes full-width and other digits first).
// It refuses, with a usage *Error whose Reason says why (Topic left for
// the caller): a sign or anything but digits, separators and one point
// (ReasonAmount), zero or a negative amount (ReasonAmountZero), more than
// 2 decimals (ReasonAmountDecimals), and amounts that do not fit in an
// Amount (ReasonAmountTooLarge). Limits from config are the flows' job.
func ParseAmount(s string) (Amount, error) {
	if rest, neg := strings.CutPrefix(s, "-"); neg {
		if _, err := ParseAmount(rest); err == nil {
			return 0, usage("", ReasonAmountZero) // a negative number
		}
		return 0, usage("", ReasonAmount)
	}
	whole, frac, _ := strings.Cut(s, ".")
	if (whole == "" && frac == "") || !isDigits(frac) {
		return 0, usage("", ReasonAmount)
	}
	if strings.Contains(whole, ",") {
		groups := strings.Split(whole, ",")
		if len(groups[0]) < 1 || len(groups[0]) > 3 || !isDigits(groups[0]) {
			return 0, usage("", ReasonAmount)
		}
		for _, g := range groups[1:] {
			if len(g) != 3 || !isDigits(g) {
				return 0, usage("", ReasonAmount)
			}
		}
		whole = strings.ReplaceAll(whole, ",", "")
	}
	if !isDigits(whole) {
		return 0, usage("", ReasonAmount)
	}
	if len(frac) > 2 {
		return 0, usage("", ReasonAmountDecimals)
	}
	frac += strings.Repeat("0", 2-len(frac))
	var v int64
	for _, r := range whole + frac {
		d := int64(r - '0')
		if v > (math.MaxInt64-d)/10 {
			return 0, usage("", ReasonAmountTooLarge)
		}
		v = v*10 + d
	}
	if v == 0 {
		return 0, usage("", ReasonAmountZero)
	}
	return Amount(v), nil
}

// isDigits reports whether s is only ASCII digits; "" is.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
