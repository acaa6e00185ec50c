package envelope

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// gsmBasic is the GSM 03.38 basic character set (3GPP TS 23.038 §6.2.1),
// typed here from the standard, independently of the smpp package: code →
// character; 0x1B is the escape to the extension table.
var gsmBasic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', 0x1B, 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// TestTextAlphabetIsGSMBasic: every character the text carriage can
// produce is in the GSM 03.38 basic set, is not the escape, and sits at
// the same code as in ASCII, so it costs one septet and survives SMSCs
// that treat GSM-7 as ASCII or Latin-1.
func TestTextAlphabetIsGSMBasic(t *testing.T) {
	alphabet := TextMarker + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	if len(alphabet) != 65 {
		t.Fatalf("alphabet of %d characters", len(alphabet))
	}
	for _, r := range alphabet {
		if r >= 128 || gsmBasic[r] != r || r == 0x1B {
			t.Errorf("%q is not the GSM 03.38 basic character at ASCII code %#x", r, r)
		}
	}
	// And every character EncodeText emits, over all octet values, is one of them.
	all := make([]byte, 256*3)
	for i := range all {
		all[i] = byte(i * 7)
	}
	for i := 0; i < 3; i++ {
		for _, r := range EncodeText(all[i:]) {
			if !strings.ContainsRune(alphabet, r) {
				t.Fatalf("EncodeText emitted %q", r)
			}
		}
	}
	// The doc's argument against base85: only 83 printable characters
	// are both GSM-basic and at their ASCII code.
	same := 0
	for c := 0x20; c < 0x7f; c++ {
		if gsmBasic[c] == rune(c) {
			same++
		}
	}
	if same != 83 {
		t.Errorf("%d printable characters are GSM-basic at their ASCII code; the doc says 83", same)
	}
	// The alternatives refused in the doc: base64url's '_' and the
	// padding are not at their ASCII codes / not needed.
	if gsmBasic['_'] == '_' {
		t.Errorf("'_' is at its ASCII code in GSM 03.38: revisit the doc")
	}
}

func TestTextRoundTrip(t *testing.T) {
	for n := 1; n <= 300; n++ {
		b := seq(byte(n), n)
		s := EncodeText(b)
		if len(s) != TextLen(n) || !strings.HasPrefix(s, TextMarker) || !IsText(s) {
			t.Fatalf("%d octets: %q (TextLen %d)", n, s, TextLen(n))
		}
		got, err := DecodeText(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%d octets: %x, %v", n, got, err)
		}
		// Surrounding spaces and line breaks added on the way are tolerated.
		if got, err = DecodeText(" \r\n" + s + "\r\n  "); err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%d octets padded: %v", n, err)
		}
	}
}

func TestDecodeTextRefuses(t *testing.T) {
	good := EncodeText(seq(1, 40)) // 40 octets: '#' and 54 characters, the last 'A' with 4 unused bits
	for _, tc := range []struct{ name, in string }{
		{"empty", ""},
		{"marker only", TextMarker},
		{"no marker", good[1:]},
		{"other marker", "*" + good[1:]},
		{"inner space", good[:10] + " " + good[10:]},
		{"inner newline", good[:10] + "\n" + good[10:]},
		{"inner CR", good[:10] + "\r" + good[10:]},
		{"padding", good + "=="},
		{"base64url", strings.NewReplacer("+", "-", "/", "_").Replace(EncodeText([]byte{0xfb, 0xff, 0xbf}))},
		{"non-canonical last character", good[:len(good)-1] + "B"},
		{"length 1 mod 4", good + "AAA"},
		{"non-ASCII", good + "é"},
		{"too long", TextMarker + strings.Repeat("A", maxTextLen)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := DecodeText(tc.in); !errors.Is(err, ErrMalformed) || b != nil {
				t.Fatalf("decoded to %x, %v", b, err)
			}
		})
	}
	if !strings.HasSuffix(good, "A") || len(good)%4 != 3 {
		t.Fatalf("the non-canonical case assumes %q ends in a character with unused bits", good)
	}
}

// TestSizes checks the capacities docs/envelope.md states, by sealing
// messages of exactly that size and one octet more.
func TestSizes(t *testing.T) {
	for _, tc := range []struct {
		c     Carriage
		parts int
		want  int
		limit int // envelope octets (binary) or characters (text) available
	}{
		{Binary, 1, 105, 140},
		{Binary, 2, 233, 2 * 134},
		{Binary, 3, 367, 3 * 134},
		{Text, 1, 84, 160},
		{Text, 2, 193, 2 * 153},
		{Text, 3, 308, 3 * 153},
	} {
		got := TextCapacity(tc.c, tc.parts)
		if got != tc.want {
			t.Errorf("TextCapacity(%v, %d) = %d, want %d", tc.c, tc.parts, got, tc.want)
		}
		size := func(n int) int {
			env := mustSeal(t, testKey(t), Uplink, 1, TextMessage(strings.Repeat("x", n)))
			if tc.c == Text {
				return len(EncodeText(env))
			}
			return len(env)
		}
		if s := size(got); s > tc.limit {
			t.Errorf("%v×%d: %d octets of text take %d, over %d", tc.c, tc.parts, got, s, tc.limit)
		}
		if s := size(got + 1); s <= tc.limit {
			t.Errorf("%v×%d: %d octets of text take only %d: capacity understated", tc.c, tc.parts, got+1, s)
		}
	}
	if TextCapacity(Binary, 255) != MaxPlaintext-1 || EnvelopeCapacity(Binary, 255) != MaxSize {
		t.Errorf("255 binary parts: %d, %d", TextCapacity(Binary, 255), EnvelopeCapacity(Binary, 255))
	}
	for _, bad := range []int{0, -1, 256} {
		if TextCapacity(Binary, bad) != 0 || TextCapacity(Text, bad) != 0 {
			t.Errorf("%d parts has a capacity", bad)
		}
	}
	if TextCapacity(0, 1) != 0 {
		t.Error("carriage 0 has a capacity")
	}
	// The session messages each fit one SMS in either carriage.
	k := testKey(t)
	sig := make([]byte, SignatureSize)
	for _, tc := range []struct {
		name string
		d    Direction
		m    Message
		size int
	}{
		{"hello", Uplink, HelloMessage(make([]byte, ChallengeSize)), 51},
		{"proof with nonce", Downlink, ProofMessage(sig, make([]byte, NonceSize)), 115},
		{"nonce", Downlink, NonceMessage(make([]byte, NonceSize)), 51},
		{"report", Uplink, ReportMessage(make([]byte, ReportSize)), 100},
	} {
		env := mustSeal(t, k, tc.d, 1, tc.m)
		if len(env) != tc.size || len(env) > 140 || len(EncodeText(env)) > 160 {
			t.Errorf("%s: %d octets, %d characters", tc.name, len(env), len(EncodeText(env)))
		}
	}
}
