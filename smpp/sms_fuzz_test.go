package smpp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/fiorix/go-smpp/smpp/encoding"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
)

// Seeds for every fuzz target live in testdata/fuzz/<FuzzName>/.

func FuzzDecodeGSM7(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		out := DecodeGSM7(b)
		if !utf8.ValidString(out) {
			t.Fatalf("DecodeGSM7(% x) = %q: not UTF-8", b, out)
		}
		if strings.ContainsRune(out, gsm7Esc) {
			t.Fatalf("DecodeGSM7(% x) = %q: contains the escape", b, out)
		}
		if n := utf8.RuneCountInString(out); n > len(b) {
			t.Fatalf("DecodeGSM7(% x): %d characters from %d octets", b, n, len(b))
		}
		if enc, ok := EncodeGSM7(out); ok {
			if again := DecodeGSM7(enc); again != out {
				t.Fatalf("re-decode of %q gives %q", out, again)
			}
		}
		// Well-formed input (go-smpp's own validity check) must round-trip
		// exactly and agree with go-smpp.
		if len(encoding.ValidateGSM7Buffer(b)) == 0 {
			enc, ok := EncodeGSM7(out)
			if !ok || !bytes.Equal(enc, b) {
				t.Fatalf("EncodeGSM7(DecodeGSM7(% x)) = % x, %v", b, enc, ok)
			}
			if len(b) > 0 {
				if theirs := string(pdutext.GSM7(b).Decode()); theirs != out {
					t.Fatalf("DecodeGSM7(% x) = %q, go-smpp %q", b, out, theirs)
				}
			}
		}
	})
}

func FuzzDecodeUCS2(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		out := DecodeUCS2(b)
		if !utf8.ValidString(out) {
			t.Fatalf("DecodeUCS2(% x) = %q: not UTF-8", b, out)
		}
		if want := ucs2Oracle(b); out != want {
			t.Fatalf("DecodeUCS2(% x) = %q, unicode/utf16 %q", b, out, want)
		}
		if !strings.ContainsRune(out, utf8.RuneError) {
			if enc := EncodeUCS2(out); !bytes.Equal(enc, b) {
				t.Fatalf("EncodeUCS2(DecodeUCS2(% x)) = % x", b, enc)
			}
		}
		if s := string(b); utf8.ValidString(s) {
			if got := DecodeUCS2(EncodeUCS2(s)); got != s {
				t.Fatalf("UCS-2 round trip of %q gives %q", s, got)
			}
		}
	})
}

func FuzzParseUDH(f *testing.F) {
	f.Fuzz(func(t *testing.T, sm []byte) {
		h, payload, err := ParseUDH(sm)
		if err != nil {
			if !errors.Is(err, ErrMalformedUDH) || h != (UDH{}) || payload != nil {
				t.Fatalf("ParseUDH(% x) = %+v, % x, %v", sm, h, payload, err)
			}
			return
		}
		if len(payload) != len(sm)-1-int(sm[0]) || !bytes.HasSuffix(sm, payload) {
			t.Fatalf("ParseUDH(% x): payload % x", sm, payload)
		}
		if !h.Concat {
			if h != (UDH{}) {
				t.Fatalf("ParseUDH(% x) = %+v without concatenation", sm, h)
			}
			return
		}
		if h.Total == 0 || h.Seq == 0 || h.Seq > h.Total || !h.Ref16 && h.Ref > 0xFF {
			t.Fatalf("ParseUDH(% x) = %+v", sm, h)
		}
		re := append(appendConcatUDH(nil, h.Ref, h.Ref16, h.Total, h.Seq), payload...)
		h2, p2, err := ParseUDH(re)
		if err != nil || h2 != h || !bytes.Equal(p2, payload) {
			t.Fatalf("re-encoded % x parses as %+v % x %v", re, h2, p2, err)
		}
	})
}

// formatReceipt writes r in the layout of SMPP 3.4 Appendix B.
func formatReceipt(r Receipt) string {
	date := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Format("060102150405")
	}
	return fmt.Sprintf("id:%s sub:%03d dlvrd:%03d submit date:%s done date:%s stat:%s err:%s text:%s",
		r.ID, r.Sub, r.Dlvrd, date(r.Submitted), date(r.Done), r.Stat, r.Err, r.Text)
}

func FuzzParseReceipt(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReceipt(s)
		if err != nil {
			if !errors.Is(err, ErrNotReceipt) || r != (Receipt{}) {
				t.Fatalf("ParseReceipt(%q) = %+v, %v", s, r, err)
			}
			return
		}
		for _, v := range []string{r.ID, r.Stat, r.Err} {
			if strings.ContainsAny(v, " \t\r\n\x00") {
				t.Fatalf("ParseReceipt(%q): value %q has white space", s, v)
			}
		}
		if st, _ := ParseMessageState(r.Stat); st != r.State {
			t.Fatalf("ParseReceipt(%q): state %v for stat %q", s, r.State, r.Stat)
		}
		if r.Sub < 0 || r.Dlvrd < 0 {
			t.Fatalf("ParseReceipt(%q): negative count", s)
		}
		for _, d := range []time.Time{r.Submitted, r.Done} {
			if !d.IsZero() && d.Year() > 9999 {
				t.Fatalf("ParseReceipt(%q): date %v", s, d)
			}
		}
		// Written back in canonical form, the receipt parses the same.
		inRange := func(d time.Time) bool { return d.IsZero() || d.Year() >= 2000 && d.Year() < 2100 }
		if inRange(r.Submitted) && inRange(r.Done) {
			canon := formatReceipt(r)
			r2, err := ParseReceipt(canon)
			if err != nil || r2 != r {
				t.Fatalf("ParseReceipt(%q)\n = %+v\ncanonical %q\n = %+v, %v", s, r, canon, r2, err)
			}
		}
		n := NormalizeMessageID(r.ID)
		if NormalizeMessageID(n) != n {
			t.Fatalf("NormalizeMessageID not idempotent on %q", r.ID)
		}
		if SameMessageID(r.ID, r.ID) != (n != "") {
			t.Fatalf("SameMessageID(%q, itself) wrong", r.ID)
		}
	})
}

func FuzzSameMessageID(f *testing.F) {
	f.Fuzz(func(t *testing.T, a, b string) {
		same := SameMessageID(a, b)
		if same != SameMessageID(b, a) {
			t.Fatalf("SameMessageID(%q, %q) not symmetric", a, b)
		}
		na, nb := NormalizeMessageID(a), NormalizeMessageID(b)
		if na != "" && na == nb && !same {
			t.Fatalf("SameMessageID(%q, %q) false for equal normal forms", a, b)
		}
		if na == "" && same {
			t.Fatalf("SameMessageID(%q, %q) true for an empty id", a, b)
		}
		if d, ok := MessageIDHexToDecimal(a); ok && strings.ContainsAny(na, "abcdef") {
			if !SameMessageID(a, d) {
				t.Fatalf("SameMessageID(%q, %q) false for its decimal form", a, d)
			}
		}
	})
}

func FuzzSplitRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, ref uint16, ref16 bool) {
		splitRoundTrip(t, s, ref, ref16)
		// Short inputs rarely need several parts: repeat them until they do.
		if len(s) > 0 && len(s) < 200 {
			splitRoundTrip(t, strings.Repeat(s, 1+int(ref%2000)/len(s)), ref, ref16)
		}
	})
}

// splitRoundTrip checks that s splits, reassembles in reverse order and
// decodes back to itself, or fails with the error its input calls for.
func splitRoundTrip(t *testing.T, s string, ref uint16, ref16 bool) {
	t.Helper()
	c, parts, err := Split(s, ref, ref16)
	switch {
	case !utf8.ValidString(s):
		if !errors.Is(err, ErrInvalidUTF8) {
			t.Fatalf("Split of invalid UTF-8: %v", err)
		}
		return
	case errors.Is(err, ErrTooManyParts):
		return
	case errors.Is(err, ErrRefTooLarge):
		if ref16 || ref <= 0xFF {
			t.Fatalf("ErrRefTooLarge for ref %d ref16 %v", ref, ref16)
		}
		return
	case err != nil:
		t.Fatalf("Split(%q): %v", s, err)
	}
	if c != ChooseCoding(s) {
		t.Fatalf("coding %#x, ChooseCoding %#x", c, ChooseCoding(s))
	}
	checkParts(t, c, s, ref, ref16, parts)
	if len(parts) == 1 {
		return
	}
	r := NewReassembler(ReassemblerConfig{})
	for i := len(parts) - 1; i >= 0; i-- {
		h, payload, err := ParseUDH(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		got, done, err := r.Add("src", "dst", h, payload)
		if err != nil || done != (i == 0) {
			t.Fatalf("Add part %d: done=%v err=%v", i+1, done, err)
		}
		if done {
			if text := DecodeText(c, bytes.Join(got, nil)); text != s {
				t.Fatalf("reassembled %q, want %q", text, s)
			}
		}
	}
}
