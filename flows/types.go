package flows

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// MSISDN is a phone number in E.164 form, "+8613800138000".
type MSISDN string

// ParseMSISDN normalizes a phone number written in full international form
// (+86…, 0086…) or locally ("13800138000", "0712345678"), reading local
// numbers in the country of the calling code country ("86"). It refuses
// anything that is not a possible number of that plan.
func ParseMSISDN(s, country string) (MSISDN, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if m, ok := fastE164(s); ok {
		return m, nil
	}
	return parseFull(s, country)
}

// parseFull is ParseMSISDN without the fast path.
func parseFull(s, country string) (MSISDN, error) {
	region := ""
	if !strings.HasPrefix(s, "+") {
		var cc int
		fmt.Sscanf(country, "%d", &cc)
		region = phonenumbers.GetRegionCodeForCountryCode(cc)
		if region == "" || region == "ZZ" {
			return "", fmt.Errorf("flows: unknown country calling code %q", country)
		}
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsPossibleNumber(n) {
		return "", fmt.Errorf("flows: %q is not a phone number", s)
	}
	return MSISDN(phonenumbers.Format(n, phonenumbers.E164)), nil
}

// fastE164 accepts a number already in E.164 form ("+" and 8 to 15
// digits) when its country calling code exists and its length is possible
// there — the same answer as the full parse, which is much slower, for
// the form SMSCs send. Anything else goes to the full parse.
func fastE164(s string) (MSISDN, bool) {
	if len(s) < 9 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return "", false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	for ccLen := 1; ccLen <= 3; ccLen++ {
		cc, national := s[1:1+ccLen], s[1+ccLen:]
		code := 0
		for _, c := range cc {
			code = code*10 + int(c-'0')
		}
		if r := phonenumbers.GetRegionCodeForCountryCode(code); r == "" || r == "ZZ" {
			continue
		}
		if national == "" || national[0] == '0' {
			return "", false // a leading zero (Italy) needs the full parse
		}
		var nn uint64
		for _, c := range national {
			nn = nn*10 + uint64(c-'0')
		}
		c32 := int32(code)
		n := &phonenumbers.PhoneNumber{CountryCode: &c32, NationalNumber: &nn}
		if !phonenumbers.IsPossibleNumber(n) {
			return "", false
		}
		return MSISDN(s), true
	}
	return "", false
}

// Masked returns the number with all but its last 4 digits hidden.
func (m MSISDN) Masked() string {
	s := string(m)
	if len(s) <= 4 {
		return "****"
	}
	return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
}

// Shown is how a reply shows another person's number: the country code
// and the first digits kept, the middle masked, the last 4 kept
// ("+86139****9000"), as payment apps show it. Short numbers show as
// Masked.
func (m MSISDN) Shown() string {
	s := string(m)
	if len(s) < 12 {
		return m.Masked()
	}
	return s[:6] + strings.Repeat("*", len(s)-10) + s[len(s)-4:]
}

// LogValue logs the number masked (STYLE.md: phone numbers log masked
// except the last 4 digits).
func (m MSISDN) LogValue() slog.Value { return slog.StringValue(m.Masked()) }

// Lang is a reply language.
type Lang string

// Reply languages (SPEC §1 language, §3 LANG).
const (
	English Lang = "en"
	Chinese Lang = "zh"
)

// Valid reports whether l is a supported language.
func (l Lang) Valid() bool { return l == English || l == Chinese }
