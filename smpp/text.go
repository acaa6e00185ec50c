package smpp

import (
	"strings"
	"unicode/utf8"
)

// Coding is the SMPP 3.4 data_coding value (SMPP 3.4 §5.2.19). Values
// 0x00–0x0F are SMPP-specific; higher values follow the data coding scheme
// of 3GPP TS 23.038 §4, which DecodeText understands on a best-effort basis.
type Coding byte

// Data codings defined by SMPP 3.4 §5.2.19.
const (
	// CodingDefault is the SMSC default alphabet. Paygate assumes it is the
	// GSM 03.38 7-bit default alphabet (3GPP TS 23.038 §6.2.1), carried
	// unpacked with one septet per octet, as almost all SMSCs expect.
	CodingDefault Coding = 0x00
	// CodingIA5 is IA5 (CCITT T.50), i.e. ASCII.
	CodingIA5 Coding = 0x01
	// CodingBinary8 is "octet unspecified (8-bit binary)".
	CodingBinary8 Coding = 0x02
	// CodingLatin1 is ISO-8859-1.
	CodingLatin1 Coding = 0x03
	// CodingBinary is "octet unspecified (8-bit binary)", the value
	// normally used for binary SMS.
	CodingBinary Coding = 0x04
	// CodingJIS is JIS X 0208-1990.
	CodingJIS Coding = 0x05
	// CodingCyrillic is ISO-8859-5.
	CodingCyrillic Coding = 0x06
	// CodingHebrew is ISO-8859-8.
	CodingHebrew Coding = 0x07
	// CodingUCS2 is UCS-2 (ISO/IEC 10646). Paygate sends and reads it as
	// UTF-16BE, so characters outside the BMP travel as surrogate pairs.
	CodingUCS2 Coding = 0x08
	// CodingPictogram is a pictogram encoding.
	CodingPictogram Coding = 0x09
	// CodingISO2022JP is ISO-2022-JP (music codes).
	CodingISO2022JP Coding = 0x0A
	// CodingKanjiJIS is extended Kanji JIS (X 0212-1990).
	CodingKanjiJIS Coding = 0x0D
	// CodingKSC5601 is KS C 5601.
	CodingKSC5601 Coding = 0x0E
)

// gsm7Esc is the escape to the extension table (3GPP TS 23.038 §6.2.1).
const gsm7Esc = 0x1B

// gsm7Basic is the GSM 7-bit default alphabet (3GPP TS 23.038 §6.2.1).
// Entry 0x1B is the escape; it is never decoded through this table.
var gsm7Basic = [128]rune{
	'@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
	'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\x1b', 'Æ', 'æ', 'ß', 'É',
	' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/',
	'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?',
	'¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O',
	'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
	'¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o',
	'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
}

// gsm7Ext maps the second septet of an escape pair to its character
// (3GPP TS 23.038 §6.2.1.1, default extension table).
var gsm7Ext = map[byte]rune{
	0x0A: '\f', 0x14: '^', 0x28: '{', 0x29: '}', 0x2F: '\\',
	0x3C: '[', 0x3D: '~', 0x3E: ']', 0x40: '|', 0x65: '€',
}

// gsm7Enc maps a character to its septets: the low byte is the septet and a
// set bit 8 means it is preceded by the escape.
var gsm7Enc = func() map[rune]uint16 {
	m := make(map[rune]uint16, 140)
	for i, r := range gsm7Basic {
		if i != gsm7Esc {
			m[r] = uint16(i)
		}
	}
	for b, r := range gsm7Ext {
		m[r] = 0x100 | uint16(b)
	}
	return m
}()

// gsm7Septets returns how many septets r takes in the GSM 7-bit default
// alphabet and its extension table: 1, 2 for an escape pair, or 0 when r
// cannot be represented.
func gsm7Septets(r rune) int {
	v, ok := gsm7Enc[r]
	switch {
	case !ok:
		return 0
	case v&0x100 != 0:
		return 2
	default:
		return 1
	}
}

// appendGSM7Rune appends the septets of r, one per octet, and reports
// whether r is representable.
func appendGSM7Rune(dst []byte, r rune) ([]byte, bool) {
	v, ok := gsm7Enc[r]
	if !ok {
		return dst, false
	}
	if v&0x100 != 0 {
		dst = append(dst, gsm7Esc)
	}
	return append(dst, byte(v)), true
}

// EncodeGSM7 encodes s in the GSM 7-bit default alphabet with its extension
// table (3GPP TS 23.038 §6.2.1), unpacked: one septet per octet, extension
// characters as the escape 0x1B followed by their code. It returns false,
// and no bytes, when s holds a character the alphabet cannot represent
// (including invalid UTF-8). The national language shift tables of TS
// 23.038 §6.2.1.2 are not used: they need a UDH element that not every
// handset honours.
func EncodeGSM7(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		var ok bool
		if out, ok = appendGSM7Rune(out, r); !ok {
			return nil, false
		}
	}
	return out, true
}

// GSM7Len returns the number of septets EncodeGSM7 would produce for s and
// whether s is representable, without allocating.
func GSM7Len(s string) (int, bool) {
	n := 0
	for _, r := range s {
		k := gsm7Septets(r)
		if k == 0 {
			return 0, false
		}
		n += k
	}
	return n, true
}

// DecodeGSM7 decodes unpacked GSM 7-bit septets, one per octet (3GPP TS
// 23.038 §6.2.1). It never fails: an escape followed by a code missing from
// the extension table decodes as that code in the default alphabet, an
// escape followed by another escape or ending the input decodes as a space
// (both as TS 23.038 §6.2.1.1 asks of a receiving entity), and an octet with
// its high bit set, which no septet has, decodes as U+FFFD.
func DecodeGSM7(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 0x80 {
			sb.WriteRune(utf8.RuneError)
			continue
		}
		if c != gsm7Esc {
			sb.WriteRune(gsm7Basic[c])
			continue
		}
		if i+1 >= len(b) {
			sb.WriteByte(' ')
			continue
		}
		i++
		e := b[i]
		switch r, ok := gsm7Ext[e]; {
		case ok:
			sb.WriteRune(r)
		case e >= 0x80:
			sb.WriteRune(utf8.RuneError)
		case e == gsm7Esc:
			sb.WriteByte(' ')
		default:
			sb.WriteRune(gsm7Basic[e])
		}
	}
	return sb.String()
}

// ucs2Units returns how many UTF-16 code units r takes: 2 for characters
// outside the Basic Multilingual Plane, else 1.
func ucs2Units(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// appendUCS2Rune appends r as UTF-16BE. Runes that are not valid Unicode
// scalar values become U+FFFD.
func appendUCS2Rune(dst []byte, r rune) []byte {
	switch {
	case r < 0 || r > utf8.MaxRune || (r >= 0xD800 && r <= 0xDFFF):
		r = utf8.RuneError
	case r >= 0x10000:
		r -= 0x10000
		hi, lo := 0xD800+(r>>10), 0xDC00+(r&0x3FF)
		return append(dst, byte(hi>>8), byte(hi), byte(lo>>8), byte(lo))
	}
	return append(dst, byte(r>>8), byte(r))
}

// EncodeUCS2 encodes s as UTF-16BE, the form SMSCs accept for data_coding
// 0x08 (SMPP 3.4 §5.2.19; 3GPP TS 23.038 §6.2.3). Characters outside the
// Basic Multilingual Plane, such as emoji, become surrogate pairs. Invalid
// UTF-8 in s is encoded as U+FFFD, one per invalid byte.
func EncodeUCS2(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for _, r := range s {
		out = appendUCS2Rune(out, r)
	}
	return out
}

// DecodeUCS2 decodes UTF-16BE (data_coding 0x08). It never fails: a lone
// surrogate, or a trailing odd octet, decodes as U+FFFD.
func DecodeUCS2(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for i := 0; i < len(b); i += 2 {
		if i+1 >= len(b) {
			sb.WriteRune(utf8.RuneError)
			break
		}
		u := rune(b[i])<<8 | rune(b[i+1])
		switch {
		case u < 0xD800 || u > 0xDFFF:
			sb.WriteRune(u)
		case u <= 0xDBFF && i+3 < len(b):
			lo := rune(b[i+2])<<8 | rune(b[i+3])
			if lo >= 0xDC00 && lo <= 0xDFFF {
				sb.WriteRune(0x10000 + (u-0xD800)<<10 + (lo - 0xDC00))
				i += 2
			} else {
				sb.WriteRune(utf8.RuneError)
			}
		default:
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}

// EncodeLatin1 encodes s in ISO-8859-1 (data_coding 0x03). It returns false,
// and no bytes, when s holds a character above U+00FF or invalid UTF-8.
func EncodeLatin1(s string) ([]byte, bool) {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xFF { // Invalid UTF-8 ranges as U+FFFD, which is above too.
			return nil, false
		}
		out = append(out, byte(r))
	}
	return out, true
}

// decodeLatin1 maps each octet to the code point of the same value.
func decodeLatin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/2)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// decodeASCII decodes IA5/ASCII (data_coding 0x01); octets above 0x7F
// become U+FFFD.
func decodeASCII(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
		} else {
			sb.WriteRune(utf8.RuneError)
		}
	}
	return sb.String()
}

// decodeISO88595 decodes ISO-8859-5 (Latin/Cyrillic, data_coding 0x06).
func decodeISO88595(b []byte) string {
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, c := range b {
		var r rune
		switch {
		case c <= 0xA0, c == 0xAD:
			r = rune(c)
		case c == 0xF0:
			r = '№'
		case c == 0xFD:
			r = '§'
		default:
			r = rune(c) - 0xA0 + 0x400
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// decodeISO88598 decodes ISO-8859-8 (Latin/Hebrew, data_coding 0x07).
// Octets the standard leaves unassigned become U+FFFD.
func decodeISO88598(b []byte) string {
	var sb strings.Builder
	sb.Grow(2 * len(b))
	for _, c := range b {
		var r rune
		switch {
		case c <= 0xA0, c >= 0xA2 && c <= 0xBE && c != 0xAA && c != 0xBA:
			r = rune(c)
		case c == 0xAA:
			r = '×'
		case c == 0xBA:
			r = '÷'
		case c == 0xDF:
			r = '\u2017'
		case c >= 0xE0 && c <= 0xFA:
			r = rune(c) - 0xE0 + 0x5D0
		case c == 0xFD:
			r = '\u200E'
		case c == 0xFE:
			r = '\u200F'
		default:
			r = utf8.RuneError
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// decodeOctets is the best effort for 8-bit data whose character set is
// not known: UTF-8 when the octets are valid UTF-8, which is what most
// applications that send text this way use, else ISO-8859-1.
func decodeOctets(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return decodeLatin1(b)
}

// alphabet classifies a data_coding value as GSM 7-bit, UCS-2 or 8-bit
// following the coding groups of 3GPP TS 23.038 §4, for values above the
// SMPP-specific range 0x00–0x0F. Compressed text (TS 23.038 §4 bit 5 in the
// general groups) is reported as 8-bit since it cannot be decoded here.
func alphabet(c Coding) Coding {
	switch {
	case c <= 0x0F:
		return c
	case c <= 0x7F: // General data coding and automatic deletion groups.
		if c&0x20 != 0 {
			return CodingBinary
		}
		switch (c >> 2) & 0x03 {
		case 1:
			return CodingBinary
		case 2:
			return CodingUCS2
		default:
			return CodingDefault
		}
	case c <= 0xBF: // Reserved coding groups.
		return CodingBinary
	case c <= 0xDF: // Message waiting indication, GSM 7-bit.
		return CodingDefault
	case c <= 0xEF: // Message waiting indication, UCS-2.
		return CodingUCS2
	default: // Data coding/message class group.
		if c&0x04 != 0 {
			return CodingBinary
		}
		return CodingDefault
	}
}

// DecodeText decodes an inbound short_message (or message_payload) body
// given its data_coding (SMPP 3.4 §5.2.19). It never fails. GSM 7-bit is
// read unpacked (DecodeGSM7), 0x01 as ASCII, 0x03 as ISO-8859-1, 0x06 as
// ISO-8859-5, 0x07 as ISO-8859-8 and 0x08 as UTF-16BE (DecodeUCS2); values
// from 0x10 up are classified by their TS 23.038 coding group; anything
// else, such as binary or JIS, is read as UTF-8 when valid and as
// ISO-8859-1 otherwise. The user data header, if any, must already have
// been removed (ParseUDH).
func DecodeText(coding Coding, b []byte) string {
	switch alphabet(coding) {
	case CodingDefault:
		return DecodeGSM7(b)
	case CodingIA5:
		return decodeASCII(b)
	case CodingLatin1:
		return decodeLatin1(b)
	case CodingCyrillic:
		return decodeISO88595(b)
	case CodingHebrew:
		return decodeISO88598(b)
	case CodingUCS2:
		return DecodeUCS2(b)
	default:
		return decodeOctets(b)
	}
}

// ChooseCoding returns CodingDefault when every character of s is in the
// GSM 7-bit default alphabet or its extension table, and CodingUCS2
// otherwise (including when s is not valid UTF-8).
func ChooseCoding(s string) Coding {
	if _, ok := GSM7Len(s); ok {
		return CodingDefault
	}
	return CodingUCS2
}
