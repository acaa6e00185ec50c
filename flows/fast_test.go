package flows

import "testing"

// The fast path for E.164 input answers as the full parse does, and takes
// the common numbers.
func TestFastE164AgreesWithFullParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		fast bool // the fast path should take it
	}{
		{"+8613800138000", true}, {"+254712345678", true}, {"+14155552671", true}, {"+447911123456", true},
		{"+33612345678", true}, {"+4915112345678", true}, {"+919876543210", true}, {"+5511987654321", true},
		{"+390612345678", false}, // Italian leading zero: full parse
		{"+861380013800", true}, {"+86138001380001234", false}, {"+999123456789", false},
		{"+0123456789", false}, {"+12", false}, {"+8613800138000x", false},
	} {
		fast, ok := fastE164(c.in)
		if ok != c.fast {
			t.Errorf("%s: fast path took it: %v, want %v", c.in, ok, c.fast)
		}
		full, err := parseFull(c.in, "86")
		if ok && (err != nil || fast != full) {
			t.Errorf("%s: fast %q, full %q (%v)", c.in, fast, full, err)
		}
	}
}

func BenchmarkParseMSISDN(b *testing.B) {
	for range b.N {
		ParseMSISDN("+8613800138000", "86")
	}
}
