package envelope

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Carriage is how an envelope rides in an SMS (docs/envelope.md,
// "Carriages").
type Carriage uint8

const (
	// Binary is the envelope's octets as 8-bit data (SMPP data_coding 4):
	// 140 octets a message, 134 a part when concatenated (6-octet UDH).
	Binary Carriage = 1
	// Text is TextMarker then the envelope in unpadded standard base64
	// (RFC 4648 §4), for paths that only carry GSM-7 text: 160 septets a
	// message, 153 a part when concatenated.
	Text Carriage = 2
)

// String returns "binary", "text" or "carriage(n)".
func (c Carriage) String() string {
	switch c {
	case Binary:
		return "binary"
	case Text:
		return "text"
	}
	return fmt.Sprintf("carriage(%d)", uint8(c))
}

// TextMarker starts every text-carried envelope. No SPEC §3 command
// starts with it, so the gateway can tell an envelope from a command
// before the grammar runs.
const TextMarker = "#"

// The text alphabet is unpadded standard base64: A–Z, a–z, 0–9, '+' and
// '/', plus the marker '#'. Every one of these is in the GSM 03.38 basic
// character set, needs no escape, and has the same code as in ASCII, so
// it also survives SMSCs that carry GSM-7 as ASCII, Latin-1 or IA5, and
// a UCS-2 re-encoding. base64url's '_' is in the GSM basic set but at
// 0x11, not 0x5F, and gets mangled by such SMSCs, hence not base64url;
// no base85 alphabet avoids GSM escapes and non-ASCII codes.
var textEncoding = base64.RawStdEncoding.Strict()

// maxTextLen is the longest text DecodeText looks at: the marker and the
// encoding of a MaxSize envelope, plus room for surrounding whitespace.
const maxTextLen = len(TextMarker) + (MaxSize*4+2)/3 + 16

// EncodeText returns envelope b in the text carriage: TextMarker then b
// in unpadded standard base64. Its length is TextLen(len(b)).
func EncodeText(b []byte) string {
	var sb strings.Builder
	sb.Grow(TextLen(len(b)))
	sb.WriteString(TextMarker)
	sb.WriteString(textEncoding.EncodeToString(b))
	return sb.String()
}

// TextLen is the number of characters (= GSM-7 septets) EncodeText makes
// of an n-octet envelope: 1 + ⌈4n/3⌉.
func TextLen(n int) int { return len(TextMarker) + (4*n+2)/3 }

// IsText reports whether s looks like a text-carried envelope: its first
// character, after leading spaces and line breaks, is TextMarker. Use it
// to route a message; DecodeText still decides.
func IsText(s string) bool {
	return strings.HasPrefix(strings.TrimLeft(s, textSpace), TextMarker)
}

// textSpace is what DecodeText trims around the text: an SMSC or handset
// may add trailing padding or a line break. Inside the text it is refused.
const textSpace = " \r\n"

// DecodeText returns the envelope octets carried in s. It trims spaces,
// CRs and LFs at both ends, then requires TextMarker followed by
// canonical unpadded standard base64 and nothing else (no inner
// whitespace, no '=', unused trailing bits zero), so one envelope has
// exactly one text form. It returns ErrMalformed otherwise, without
// looking past the length cap. The result is not yet parsed: hand it to
// Parse or Open.
func DecodeText(s string) ([]byte, error) {
	if len(s) > maxTextLen {
		return nil, ErrMalformed
	}
	s = strings.Trim(s, textSpace)
	body, ok := strings.CutPrefix(s, TextMarker)
	if !ok || body == "" {
		return nil, ErrMalformed
	}
	for i := 0; i < len(body); i++ {
		if !isTextAlphabet(body[i]) {
			return nil, ErrMalformed
		}
	}
	b, err := textEncoding.DecodeString(body)
	if err != nil {
		return nil, ErrMalformed
	}
	return b, nil
}

func isTextAlphabet(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/'
}

// SMS sizes (3GPP TS 23.040 §9.2.3.16, §9.2.3.24.1), with the 6-octet
// 8-bit-reference concatenation header the gateway uses.
const (
	smsOctets       = 140 // one 8-bit message
	smsPartOctets   = 134 // one 8-bit part of a concatenated message
	smsSeptets      = 160 // one GSM-7 message
	smsPartSeptets  = 153 // one GSM-7 part of a concatenated message
	maxConcatenated = 255
)

// EnvelopeCapacity returns the longest envelope, in octets, that fits in
// parts SMS (1..255) with carriage c, or 0 for another carriage or count.
func EnvelopeCapacity(c Carriage, parts int) int {
	if parts < 1 || parts > maxConcatenated {
		return 0
	}
	switch c {
	case Binary:
		if parts == 1 {
			return smsOctets
		}
		return parts * smsPartOctets
	case Text:
		chars := smsSeptets
		if parts > 1 {
			chars = parts * smsPartSeptets
		}
		return (chars - len(TextMarker)) * 3 / 4
	}
	return 0
}

// TextCapacity returns the longest UTF-8 command or reply, in octets,
// that fits in a KindText envelope in parts SMS with carriage c: the
// envelope capacity less Overhead and the kind octet. One SMS carries
// 105 octets of text in the binary carriage and 84 in the text carriage
// (docs/envelope.md, "Sizes"). It returns 0 for an unknown carriage or a
// count outside 1..255.
func TextCapacity(c Carriage, parts int) int {
	n := EnvelopeCapacity(c, parts) - Overhead - 1
	if n < 0 {
		return 0
	}
	return min(n, MaxPlaintext-1)
}
