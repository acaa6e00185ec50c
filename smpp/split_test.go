package smpp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkParts verifies the structural promises of SplitAs for text s split
// into parts in coding c: sizes, headers, greedy cuts on character
// boundaries, and that the payloads decode back to s.
func checkParts(t *testing.T, c Coding, s string, ref uint16, ref16 bool, parts [][]byte) {
	t.Helper()
	single, multi := partLimits(c, ref16)
	if len(parts) == 0 || len(parts) > MaxParts {
		t.Fatalf("%d parts", len(parts))
	}
	if len(parts) == 1 {
		if len(parts[0]) > single {
			t.Fatalf("single part of %d octets exceeds %d", len(parts[0]), single)
		}
		if got := DecodeText(c, parts[0]); got != s {
			t.Fatalf("single part decodes to %q, want %q", got, s)
		}
		return
	}
	var joined []byte
	var texts []string
	for i, p := range parts {
		if c == CodingDefault && len(p) > 160 || c != CodingDefault && len(p) > 140 {
			t.Fatalf("part %d is %d octets", i+1, len(p))
		}
		h, payload, err := ParseUDH(p)
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		want := UDH{Concat: true, Ref: ref, Ref16: ref16, Total: uint8(len(parts)), Seq: uint8(i + 1)}
		if h != want {
			t.Fatalf("part %d header %+v, want %+v", i+1, h, want)
		}
		if len(payload) > multi {
			t.Fatalf("part %d payload %d octets, limit %d", i+1, len(payload), multi)
		}
		// Each part must decode on its own: no cut escape or surrogate.
		pt := DecodeText(c, payload)
		if strings.ContainsRune(pt, utf8.RuneError) && !strings.ContainsRune(s, utf8.RuneError) {
			t.Fatalf("part %d decodes with U+FFFD: %q", i+1, pt)
		}
		if c == CodingDefault && len(payload) > 0 && payload[len(payload)-1] == gsm7Esc {
			t.Fatalf("part %d ends with an escape", i+1)
		}
		texts = append(texts, pt)
		joined = append(joined, payload...)
	}
	if got := DecodeText(c, joined); got != s {
		t.Fatalf("joined parts decode to %q, want %q", got, s)
	}
	if got := strings.Join(texts, ""); got != s {
		t.Fatalf("parts decoded one by one give %q, want %q", got, s)
	}
	// Greedy: the first character of each next part did not fit.
	for i := 0; i+1 < len(parts); i++ {
		r, _ := utf8.DecodeRuneInString(texts[i+1])
		used := len(parts[i]) - int(parts[i][0]) - 1
		if used+runeCost(c, r) <= multi {
			t.Fatalf("part %d has room for %q (%d of %d used)", i+1, r, used, multi)
		}
	}
}

func TestSplitLimits(t *testing.T) {
	tests := []struct {
		name  string
		s     string
		ref16 bool
		want  Coding
		parts int
		sizes []int // Payload octets per part, if checked.
	}{
		{"empty", "", false, CodingDefault, 1, []int{0}},
		{"gsm 160", strings.Repeat("a", 160), false, CodingDefault, 1, []int{160}},
		{"gsm 161", strings.Repeat("a", 161), false, CodingDefault, 2, []int{153, 8}},
		{"gsm 161 ref16", strings.Repeat("a", 161), true, CodingDefault, 2, []int{152, 9}},
		{"gsm 306", strings.Repeat("a", 306), false, CodingDefault, 2, []int{153, 153}},
		{"gsm 307", strings.Repeat("a", 307), false, CodingDefault, 3, []int{153, 153, 1}},
		{"gsm 304 ref16", strings.Repeat("a", 304), true, CodingDefault, 2, []int{152, 152}},
		{"gsm 80 euro", strings.Repeat("€", 80), false, CodingDefault, 1, []int{160}},
		{"gsm 81 euro", strings.Repeat("€", 81), false, CodingDefault, 2, []int{152, 10}},
		{"gsm 81 euro ref16", strings.Repeat("€", 81), true, CodingDefault, 2, []int{152, 10}},
		{"escape at cut", strings.Repeat("a", 152) + "€" + strings.Repeat("b", 10), false, CodingDefault, 2, []int{152, 12}},
		{"escape at cut ref16", strings.Repeat("a", 151) + "{" + strings.Repeat("b", 10), true, CodingDefault, 2, []int{151, 12}},
		{"escape fits exactly", strings.Repeat("a", 151) + "€" + strings.Repeat("b", 10), false, CodingDefault, 2, []int{153, 10}},
		{"ucs2 70", strings.Repeat("中", 70), false, CodingUCS2, 1, []int{140}},
		{"ucs2 71", strings.Repeat("中", 71), false, CodingUCS2, 2, []int{134, 8}},
		{"ucs2 71 ref16", strings.Repeat("中", 71), true, CodingUCS2, 2, []int{132, 10}},
		{"emoji 35", strings.Repeat("😀", 35), false, CodingUCS2, 1, []int{140}},
		{"emoji 36", strings.Repeat("😀", 36), false, CodingUCS2, 2, []int{132, 12}},
		{"emoji 36 ref16", strings.Repeat("😀", 36), true, CodingUCS2, 2, []int{132, 12}},
		{"surrogate at cut", strings.Repeat("x", 66) + "😀" + strings.Repeat("y", 10) + "é", false, CodingUCS2, 2, []int{132, 26}},
		{"surrogate fits exactly", strings.Repeat("x", 65) + "😀" + strings.Repeat("y", 10) + "ç", false, CodingUCS2, 2, []int{134, 22}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, parts, err := Split(tt.s, 0x42, tt.ref16)
			if err != nil {
				t.Fatal(err)
			}
			if c != tt.want || len(parts) != tt.parts {
				t.Fatalf("coding %#x, %d parts; want %#x, %d", c, len(parts), tt.want, tt.parts)
			}
			for i, want := range tt.sizes {
				udh := 0
				if len(parts) > 1 {
					udh = int(parts[i][0]) + 1
				}
				if got := len(parts[i]) - udh; got != want {
					t.Errorf("part %d payload %d octets, want %d", i+1, got, want)
				}
			}
			checkParts(t, c, tt.s, 0x42, tt.ref16, parts)
		})
	}
}

func TestSplitHeaders(t *testing.T) {
	s := strings.Repeat("z", 200)
	_, parts, err := Split(s, 0xA7, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x05, 0x00, 0x03, 0xA7, 0x02, 0x01}; !bytes.Equal(parts[0][:6], want) {
		t.Errorf("8-bit header % x, want % x", parts[0][:6], want)
	}
	if want := []byte{0x05, 0x00, 0x03, 0xA7, 0x02, 0x02}; !bytes.Equal(parts[1][:6], want) {
		t.Errorf("8-bit header % x, want % x", parts[1][:6], want)
	}
	_, parts, err = Split(s, 0xBEEF, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0x06, 0x08, 0x04, 0xBE, 0xEF, 0x02, 0x01}; !bytes.Equal(parts[0][:7], want) {
		t.Errorf("16-bit header % x, want % x", parts[0][:7], want)
	}
	if want := []byte{0x06, 0x08, 0x04, 0xBE, 0xEF, 0x02, 0x02}; !bytes.Equal(parts[1][:7], want) {
		t.Errorf("16-bit header % x, want % x", parts[1][:7], want)
	}
}

func TestSplitErrors(t *testing.T) {
	long := strings.Repeat("a", 161)
	tests := []struct {
		name  string
		c     Coding
		s     string
		ref   uint16
		ref16 bool
		want  error
	}{
		{"invalid utf8", CodingUCS2, "ab\xffc", 1, false, ErrInvalidUTF8},
		{"gsm unrepresentable", CodingDefault, "smile 😀", 1, false, ErrNotRepresentable},
		{"latin1 unrepresentable", CodingLatin1, "€", 1, false, ErrNotRepresentable},
		{"binary", CodingBinary, "x", 1, false, ErrUnsupportedCoding},
		{"ia5", CodingIA5, "x", 1, false, ErrUnsupportedCoding},
		{"ref too large", CodingDefault, long, 256, false, ErrRefTooLarge},
		{"256 parts gsm", CodingDefault, strings.Repeat("a", 153*255+1), 1, false, ErrTooManyParts},
		{"256 parts gsm16", CodingDefault, strings.Repeat("a", 152*255+1), 1, true, ErrTooManyParts},
		{"256 parts ucs2", CodingUCS2, strings.Repeat("中", 67*255+1), 1, false, ErrTooManyParts},
		{"256 parts emoji16", CodingUCS2, strings.Repeat("😀", 33*255+1), 1, true, ErrTooManyParts},
		{"huge", CodingUCS2, strings.Repeat("😀", 1<<20), 1, true, ErrTooManyParts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, err := SplitAs(tt.c, tt.s, tt.ref, tt.ref16)
			if !errors.Is(err, tt.want) || parts != nil {
				t.Fatalf("SplitAs = %d parts, %v; want %v", len(parts), err, tt.want)
			}
		})
	}
	// A short text needs no header, so any reference is fine.
	if parts, err := SplitAs(CodingDefault, "short", 0xFFFF, false); err != nil || len(parts) != 1 {
		t.Errorf("short text with large ref: %d parts, %v", len(parts), err)
	}
}

func TestSplit255Parts(t *testing.T) {
	for _, tc := range []struct {
		c     Coding
		s     string
		ref16 bool
	}{
		{CodingDefault, strings.Repeat("a", 153*255), false},
		{CodingDefault, strings.Repeat("a", 152*255), true},
		{CodingUCS2, strings.Repeat("中", 67*255), false},
		{CodingUCS2, strings.Repeat("😀", 33*255), true},
		{CodingLatin1, strings.Repeat("é", 134*255), false},
		{CodingLatin1, strings.Repeat("é", 133*255), true},
	} {
		parts, err := SplitAs(tc.c, tc.s, 7, tc.ref16)
		if err != nil || len(parts) != 255 {
			t.Fatalf("coding %#x: %d parts, %v", tc.c, len(parts), err)
		}
		checkParts(t, tc.c, tc.s, 7, tc.ref16, parts)
	}
}

func TestSplitAsLatin1AndForcedUCS2(t *testing.T) {
	s := strings.Repeat("Olá, café ", 20)
	parts, err := SplitAs(CodingLatin1, s, 9, false)
	if err != nil {
		t.Fatal(err)
	}
	checkParts(t, CodingLatin1, s, 9, false, parts)
	if len(parts) != 2 || len(parts[0]) != 140 {
		t.Errorf("Latin-1: %d parts, first %d octets", len(parts), len(parts[0]))
	}
	// A GSM-representable text may be forced to UCS-2.
	parts, err = SplitAs(CodingUCS2, "plain", 1, false)
	if err != nil || !bytes.Equal(parts[0], EncodeUCS2("plain")) {
		t.Errorf("forced UCS-2: % x, %v", parts, err)
	}
}
