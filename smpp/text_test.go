package smpp

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
	"golang.org/x/text/encoding/charmap"
)

// gsm7Repertoire lists every character EncodeGSM7 accepts, the default
// alphabet first and the extension table after it.
func gsm7Repertoire() []rune {
	var rs []rune
	for i, r := range gsm7Basic {
		if i != gsm7Esc {
			rs = append(rs, r)
		}
	}
	for _, r := range "\f^{}\\[~]|€" {
		rs = append(rs, r)
	}
	return rs
}

func TestGSM7Tables(t *testing.T) {
	if got := len(gsm7Enc); got != 127+10 {
		t.Fatalf("gsm7Enc has %d entries, want 137", got)
	}
	for i, r := range gsm7Basic {
		if i == gsm7Esc {
			continue
		}
		b, ok := EncodeGSM7(string(r))
		if !ok || !bytes.Equal(b, []byte{byte(i)}) {
			t.Errorf("EncodeGSM7(%q) = % x, %v; want %02x", r, b, ok, i)
		}
		if got := DecodeGSM7([]byte{byte(i)}); got != string(r) {
			t.Errorf("DecodeGSM7(%02x) = %q, want %q", i, got, r)
		}
	}
	for code, r := range gsm7Ext {
		b, ok := EncodeGSM7(string(r))
		if !ok || !bytes.Equal(b, []byte{gsm7Esc, code}) {
			t.Errorf("EncodeGSM7(%q) = % x, %v; want 1b %02x", r, b, ok, code)
		}
	}
}

func TestEncodeGSM7(t *testing.T) {
	tests := []struct {
		in   string
		want []byte
		ok   bool
	}{
		{"", []byte{}, true},
		{"Hello", []byte("Hello"), true},
		{"@£$¥", []byte{0x00, 0x01, 0x02, 0x03}, true},
		{"a\nb\rc", []byte{'a', 0x0A, 'b', 0x0D, 'c'}, true},
		{"€5", []byte{0x1B, 0x65, '5'}, true},
		{"{x}", []byte{0x1B, 0x28, 'x', 0x1B, 0x29}, true},
		{"\f", []byte{0x1B, 0x0A}, true},
		{"^|~\\[]", []byte{0x1B, 0x14, 0x1B, 0x40, 0x1B, 0x3D, 0x1B, 0x2F, 0x1B, 0x3C, 0x1B, 0x3E}, true},
		{"ΔΦΓΛΩΠΨΣΘΞ", []byte{0x10, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A}, true},
		{"Ç", []byte{0x09}, true},
		{"ç", nil, false},    // Only the capital is in the table.
		{"`", nil, false},    // Backtick is not in the alphabet.
		{"\x1b", nil, false}, // The escape is not a character.
		{"\t", nil, false},
		{"😀", nil, false},
		{"ok 中", nil, false},
		{"\xff", nil, false},
		{"\uFFFD", nil, false},
	}
	for _, tt := range tests {
		got, ok := EncodeGSM7(tt.in)
		if ok != tt.ok || !bytes.Equal(got, tt.want) || (ok && got == nil) {
			t.Errorf("EncodeGSM7(%q) = % x, %v; want % x, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		n, lok := GSM7Len(tt.in)
		if lok != tt.ok || (ok && n != len(got)) {
			t.Errorf("GSM7Len(%q) = %d, %v; want %d, %v", tt.in, n, lok, len(got), tt.ok)
		}
	}
}

func TestDecodeGSM7(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{nil, ""},
		{[]byte("Hello"), "Hello"},
		{[]byte{0x1B, 0x65}, "€"},
		{[]byte{'a', 0x1B}, "a "},                  // Dangling escape: space.
		{[]byte{0x1B, 0x1B, 'x'}, " x"},            // Escape to a future table: space.
		{[]byte{0x1B, 0x41}, "A"},                  // Unknown extension: default table.
		{[]byte{0x1B, 0x00}, "@"},                  // Unknown extension: default table.
		{[]byte{0x1B, 0x0D}, "\r"},                 // CR2 is reserved: default table.
		{[]byte{0x80, 'A', 0xFF}, "\uFFFDA\uFFFD"}, // No septet has the high bit.
		{[]byte{0x1B, 0x80, 'A'}, "\uFFFDA"},
		{[]byte{0x1B, 0x1B, 0x1B}, "  "},
	}
	for _, tt := range tests {
		if got := DecodeGSM7(tt.in); got != tt.want {
			t.Errorf("DecodeGSM7(% x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func randomFrom(rng *rand.Rand, rs []rune, n int) string {
	var sb strings.Builder
	for range n {
		sb.WriteRune(rs[rng.IntN(len(rs))])
	}
	return sb.String()
}

// TestGSM7AgainstGoSMPP compares with go-smpp's pdutext.GSM7 (unpacked) on
// representable text, where both must agree byte for byte.
func TestGSM7AgainstGoSMPP(t *testing.T) {
	rep := gsm7Repertoire()
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := []string{string(rep)}
	for range 500 {
		inputs = append(inputs, randomFrom(rng, rep, rng.IntN(200)+1))
	}
	for _, s := range inputs {
		ours, ok := EncodeGSM7(s)
		if !ok {
			t.Fatalf("EncodeGSM7(%q) failed", s)
		}
		theirs := pdutext.GSM7(s).Encode()
		if !bytes.Equal(ours, theirs) {
			t.Fatalf("EncodeGSM7(%q) = % x, go-smpp % x", s, ours, theirs)
		}
		if got, want := DecodeGSM7(ours), string(pdutext.GSM7(ours).Decode()); got != want || got != s {
			t.Fatalf("DecodeGSM7 = %q, go-smpp %q, original %q", got, want, s)
		}
	}
}

// TestGoSMPPGSM7Defects records where go-smpp's GSM7 codec is unusable on
// bad input, which is why DecodeGSM7 and EncodeGSM7 do not copy it.
func TestGoSMPPGSM7Defects(t *testing.T) {
	// Unrepresentable text: go-smpp returns the UTF-8 input unchanged, which
	// an SMSC would read as GSM septets; EncodeGSM7 reports failure.
	in := "abc😀"
	if got := pdutext.GSM7(in).Encode(); !bytes.Equal(got, []byte(in)) {
		t.Errorf("go-smpp GSM7 encode of %q = % x; defect fixed upstream?", in, got)
	}
	if _, ok := EncodeGSM7(in); ok {
		t.Errorf("EncodeGSM7(%q) succeeded", in)
	}
	// Dangling escape, unknown extension, high-bit octet: go-smpp returns
	// the raw octets as "text", not valid UTF-8 in two of the cases.
	for _, b := range [][]byte{{'a', 0x1B}, {0x1B, 0x41}, {0x80, 'A'}} {
		theirs := pdutext.GSM7(b).Decode()
		if !bytes.Equal(theirs, b) {
			t.Errorf("go-smpp GSM7 decode of % x = % x; defect fixed upstream?", b, theirs)
		}
		if ours := DecodeGSM7(b); !utf8.ValidString(ours) || strings.ContainsRune(ours, 0x1B) {
			t.Errorf("DecodeGSM7(% x) = %q", b, ours)
		}
	}
}

func TestUCS2(t *testing.T) {
	tests := []struct {
		s string
		b []byte
	}{
		{"", nil},
		{"A", []byte{0x00, 0x41}},
		{"é€", []byte{0x00, 0xE9, 0x20, 0xAC}},
		{"中文", []byte{0x4E, 0x2D, 0x65, 0x87}},
		{"😀", []byte{0xD8, 0x3D, 0xDE, 0x00}},
		{"a\U0010FFFF", []byte{0x00, 0x61, 0xDB, 0xFF, 0xDF, 0xFF}},
		{"\uFFFD", []byte{0xFF, 0xFD}},
	}
	for _, tt := range tests {
		if got := EncodeUCS2(tt.s); !bytes.Equal(got, tt.b) {
			t.Errorf("EncodeUCS2(%q) = % x, want % x", tt.s, got, tt.b)
		}
		if got := DecodeUCS2(tt.b); got != tt.s {
			t.Errorf("DecodeUCS2(% x) = %q, want %q", tt.b, got, tt.s)
		}
	}
	if got := EncodeUCS2("a\xffb"); !bytes.Equal(got, []byte{0, 'a', 0xFF, 0xFD, 0, 'b'}) {
		t.Errorf("EncodeUCS2 of invalid UTF-8 = % x", got)
	}
}

func TestDecodeUCS2Malformed(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte{0x00}, "\uFFFD"},
		{[]byte{0x00, 0x41, 0x00}, "A\uFFFD"},
		{[]byte{0xD8, 0x3D}, "\uFFFD"},                          // High surrogate at end.
		{[]byte{0xD8, 0x3D, 0x00, 0x41}, "\uFFFDA"},             // High then non-low.
		{[]byte{0xDE, 0x00, 0x00, 0x41}, "\uFFFDA"},             // Lone low surrogate.
		{[]byte{0xD8, 0x3D, 0xD8, 0x3D, 0xDE, 0x00}, "\uFFFD😀"}, // High, then a pair.
		{[]byte{0xD8, 0x3D, 0xDE}, "\uFFFD\uFFFD"},              // Pair cut mid-unit.
	}
	for _, tt := range tests {
		if got := DecodeUCS2(tt.in); got != tt.want {
			t.Errorf("DecodeUCS2(% x) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// ucs2Oracle decodes with the standard library's unicode/utf16.
func ucs2Oracle(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	s := string(utf16.Decode(u))
	if len(b)%2 == 1 {
		s += "\uFFFD"
	}
	return s
}

func TestUCS2AgainstOracles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			// Bias towards surrogates so pairs and strays both occur.
			if i%2 == 0 && rng.IntN(2) == 0 {
				b[i] = 0xD8 + byte(rng.IntN(8))
			} else {
				b[i] = byte(rng.Uint32())
			}
		}
		ours := DecodeUCS2(b)
		if want := ucs2Oracle(b); ours != want {
			t.Fatalf("DecodeUCS2(% x) = %q, unicode/utf16 %q", b, ours, want)
		}
	}
	// go-smpp agrees on well-formed UTF-16 (see TestGoSMPPUCS2Defects for
	// malformed input).
	for range 500 {
		rs := make([]rune, rng.IntN(30))
		for i := range rs {
			switch rng.IntN(3) {
			case 0:
				rs[i] = rune(rng.IntN(0xD800))
			case 1:
				rs[i] = 0xE000 + rune(rng.IntN(0x2000))
			default:
				rs[i] = 0x10000 + rune(rng.IntN(0x100000))
			}
		}
		b := EncodeUCS2(string(rs))
		if ours, theirs := DecodeUCS2(b), string(pdutext.UCS2(b).Decode()); ours != theirs || ours != string(rs) {
			t.Fatalf("DecodeUCS2(% x) = %q, go-smpp %q, want %q", b, ours, theirs, string(rs))
		}
	}
	for _, s := range []string{"héllo", "中文短信", "👨‍👩‍👧‍👦🇰🇪", "\U0001F600\u00e9"} {
		if ours, theirs := EncodeUCS2(s), pdutext.UCS2(s).Encode(); !bytes.Equal(ours, theirs) {
			t.Errorf("EncodeUCS2(%q) = % x, go-smpp % x", s, ours, theirs)
		}
	}
}

// TestGoSMPPUCS2Defects records that go-smpp's UCS2 decoder (x/text
// v0.3.6 UTF-16) emits one U+FFFD for two adjacent lone low surrogates,
// where Unicode and unicode/utf16 give one per unpaired surrogate.
func TestGoSMPPUCS2Defects(t *testing.T) {
	b := []byte{0xDC, 0x58, 0xDF, 0x21}
	if theirs := string(pdutext.UCS2(b).Decode()); theirs != "\uFFFD" {
		t.Errorf("go-smpp UCS2 decode of % x = %q; defect fixed upstream?", b, theirs)
	}
	if ours := DecodeUCS2(b); ours != "\uFFFD\uFFFD" || ours != ucs2Oracle(b) {
		t.Errorf("DecodeUCS2(% x) = %q", b, ours)
	}
}

func latin1Table() []byte {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	return all
}

// TestLatin1 checks ISO-8859-1 against go-smpp's pdutext.Latin1, which is
// really Windows-1252: the two differ in 0x80–0x9F, where SMPP 3.4
// §5.2.19 (ISO-8859-1) has C1 controls and go-smpp has € and typographic
// punctuation (and U+FFFD for 0x81, 0x8D, 0x8F, 0x90, 0x9D).
func TestLatin1(t *testing.T) {
	all := latin1Table()
	s := DecodeText(CodingLatin1, all)
	theirs := []rune(string(pdutext.Latin1(all).Decode()))
	for i, r := range []rune(s) {
		if r != rune(i) {
			t.Errorf("Latin-1 %#x decoded as %U", i, r)
		}
		if (i < 0x80 || i >= 0xA0) && theirs[i] != r {
			t.Errorf("Latin-1 %#x: ours %U, go-smpp %U", i, r, theirs[i])
		}
	}
	if theirs[0x80] != '€' {
		t.Errorf("go-smpp Latin1 0x80 = %U; now ISO-8859-1 upstream?", theirs[0x80])
	}
	b, ok := EncodeLatin1(s)
	if !ok || !bytes.Equal(b, all) {
		t.Errorf("EncodeLatin1 round trip failed")
	}
	for _, bad := range []string{"€", "\xff", "a中"} {
		if _, ok := EncodeLatin1(bad); ok {
			t.Errorf("EncodeLatin1(%q) succeeded", bad)
		}
	}
}

// TestISO8859AgainstCharmap compares ISO-8859-5 and -8 with x/text's
// charmaps (which go-smpp's ISO88595 uses). Those leave 0x80–0x9F
// undefined (U+FFFD); DecodeText keeps them as the C1 controls, like
// ISO-8859-1.
func TestISO8859AgainstCharmap(t *testing.T) {
	all := latin1Table()
	for _, tc := range []struct {
		c  Coding
		cm *charmap.Charmap
	}{{CodingCyrillic, charmap.ISO8859_5}, {CodingHebrew, charmap.ISO8859_8}} {
		want, err := tc.cm.NewDecoder().Bytes(all)
		if err != nil {
			t.Fatal(err)
		}
		gr, wr := []rune(DecodeText(tc.c, all)), []rune(string(want))
		if len(gr) != 256 || len(wr) != 256 {
			t.Fatalf("coding %#x: %d runes, charmap %d", tc.c, len(gr), len(wr))
		}
		for i := range gr {
			if i >= 0x80 && i < 0xA0 {
				if gr[i] != rune(i) {
					t.Errorf("coding %#x octet %#x: got %U, want C1 control", tc.c, i, gr[i])
				}
			} else if gr[i] != wr[i] {
				t.Errorf("coding %#x octet %#x: got %U, charmap %U", tc.c, i, gr[i], wr[i])
			}
		}
	}
	theirs := []rune(string(pdutext.ISO88595(all).Decode()))
	for i, r := range []rune(DecodeText(CodingCyrillic, all)) {
		if (i < 0x80 || i >= 0xA0) && theirs[i] != r {
			t.Errorf("ISO-8859-5 %#x: ours %U, go-smpp %U", i, r, theirs[i])
		}
	}
}

func TestDecodeText(t *testing.T) {
	ucs := EncodeUCS2("Привет 😀")
	tests := []struct {
		c    Coding
		in   []byte
		want string
	}{
		{CodingDefault, []byte{0x1B, 0x65, 0x31, 0x30}, "€10"},
		{CodingIA5, []byte("plain\x80"), "plain\uFFFD"},
		{CodingLatin1, []byte{0x63, 0x61, 0x66, 0xE9}, "café"},
		{CodingBinary, []byte("utf-8 ✓"), "utf-8 ✓"},
		{CodingBinary8, []byte{0xE9, 0x41}, "éA"},
		{CodingUCS2, ucs, "Привет 😀"},
		{CodingCyrillic, []byte{0xBF, 0xE0, 0xD8}, "При"},
		{CodingHebrew, []byte{0xE9, 0xF9}, "\u05D9\u05E9"},
		{0x10, []byte{0x1B, 0x65}, "€"},     // Class 0 (flash), GSM 7-bit.
		{0x18, ucs, "Привет 😀"},             // Class 0, UCS-2.
		{0x14, []byte("data"), "data"},      // Class 0, 8-bit.
		{0x24, []byte{0xE9}, "é"},           // Compressed: raw best effort.
		{0x48, ucs, "Привет 😀"},             // Automatic deletion, UCS-2.
		{0xC0, []byte("MWI"), "MWI"},        // MWI discard, GSM 7-bit.
		{0xE0, ucs, "Привет 😀"},             // MWI store, UCS-2.
		{0xF0, []byte{0x00, 0x41}, "@A"},    // Class 0, GSM 7-bit.
		{0xF5, []byte{0x00, 0x41}, "\x00A"}, // Class 1, 8-bit.
		{0x90, []byte("x"), "x"},            // Reserved group.
		{CodingKSC5601, []byte{0xB0, 0xA1}, "°¡"},
	}
	for _, tt := range tests {
		if got := DecodeText(tt.c, tt.in); got != tt.want {
			t.Errorf("DecodeText(%#x, % x) = %q, want %q", tt.c, tt.in, got, tt.want)
		}
	}
	for c := range 256 {
		for _, in := range [][]byte{nil, {0xFF}, {0x1B}, {0xD8, 0x00, 0x41}} {
			if got := DecodeText(Coding(c), in); !utf8.ValidString(got) {
				t.Errorf("DecodeText(%#x, % x) = %q: not UTF-8", c, in, got)
			}
		}
	}
}

func TestChooseCoding(t *testing.T) {
	tests := []struct {
		in   string
		want Coding
	}{
		{"", CodingDefault},
		{"Pay KES 100 to 0712345678", CodingDefault},
		{"Balance: €12 {ok} [x] ~ | ^ \\", CodingDefault},
		{"Ç", CodingDefault},
		{"ç", CodingUCS2},
		{"Привет", CodingUCS2},
		{"中文", CodingUCS2},
		{"ok 👍", CodingUCS2},
		{"tab\there", CodingUCS2},
		{"bad \xff", CodingUCS2},
	}
	for _, tt := range tests {
		if got := ChooseCoding(tt.in); got != tt.want {
			t.Errorf("ChooseCoding(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}
