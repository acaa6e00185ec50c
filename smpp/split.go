package smpp

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Errors returned by Split and SplitAs.
var (
	// ErrTooManyParts means the text needs more than MaxParts parts.
	ErrTooManyParts = errors.New("smpp: text needs more than 255 parts")
	// ErrInvalidUTF8 means the text is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("smpp: text is not valid UTF-8")
	// ErrNotRepresentable means the text holds a character the requested
	// coding cannot represent.
	ErrNotRepresentable = errors.New("smpp: text not representable in coding")
	// ErrUnsupportedCoding means SplitAs cannot encode to the coding.
	ErrUnsupportedCoding = errors.New("smpp: unsupported coding for outbound text")
	// ErrRefTooLarge means an 8-bit reference was asked for with ref > 255.
	ErrRefTooLarge = errors.New("smpp: reference does not fit the 8-bit concatenation element")
)

// MaxParts is the most parts a concatenated message can have: the total
// is one octet (3GPP TS 23.040 §9.2.3.24.1).
const MaxParts = 255

// partLimits returns, in octets of unpacked payload, the single-part
// capacity and the per-part capacity after a concatenation header.
//
// A short message carries 140 octets of user data (3GPP TS 23.040 §9.2.3.16),
// which is 160 septets in GSM 7-bit. The 8-bit reference header takes 6
// octets (48 bits, 7 septets with fill) and the 16-bit one 7 octets (56
// bits, 8 septets), leaving 153/152 septets, 67/66 UCS-2 code units or
// 134/133 Latin-1 octets. GSM 7-bit travels unpacked over SMPP, one septet
// per octet, so a part is at most 7+152 or 6+153 = 159 octets.
func partLimits(c Coding, ref16 bool) (single, multi int) {
	switch c {
	case CodingDefault:
		if ref16 {
			return 160, 152
		}
		return 160, 153
	case CodingUCS2:
		if ref16 {
			return 140, 132
		}
		return 140, 134
	default: // One octet per character.
		if ref16 {
			return 140, 133
		}
		return 140, 134
	}
}

// runeCost returns how many payload octets r takes in c, or 0 when c
// cannot represent r.
func runeCost(c Coding, r rune) int {
	switch c {
	case CodingDefault:
		return gsm7Septets(r)
	case CodingUCS2:
		return 2 * ucs2Units(r)
	default:
		if r > 0xFF {
			return 0
		}
		return 1
	}
}

// appendRune appends r encoded in c; r is known to be representable.
func appendRune(dst []byte, c Coding, r rune) []byte {
	switch c {
	case CodingDefault:
		dst, _ = appendGSM7Rune(dst, r)
		return dst
	case CodingUCS2:
		return appendUCS2Rune(dst, r)
	default:
		return append(dst, byte(r))
	}
}

// Split encodes s for submit_sm in the coding ChooseCoding picks and, when
// it does not fit one short message, cuts it into concatenated parts. See
// SplitAs.
func Split(s string, ref uint16, ref16 bool) (Coding, [][]byte, error) {
	c := ChooseCoding(s)
	parts, err := SplitAs(c, s, ref, ref16)
	return c, parts, err
}

// SplitAs encodes s in coding c (CodingDefault as unpacked GSM 7-bit,
// CodingUCS2 as UTF-16BE, or CodingLatin1) and returns the short_message
// octets of each part.
//
// A text that fits one short message (160 GSM septets, 70 UCS-2 code units,
// 140 Latin-1 octets) is returned as a single part without a header, and
// the caller sends it with esm_class UDHI clear. Otherwise every part starts
// with a concatenation user data header (3GPP TS 23.040 §9.2.3.24.1 with an
// 8-bit reference, or §9.2.3.24.8 with a 16-bit one when ref16 is set), and
// the caller must set UDHI (0x40) in esm_class (SMPP 3.4 §5.2.12) and send
// the parts with the same data_coding. Parts carry at most 153/152 septets,
// 67/66 code units or 134/133 octets. A part never ends inside a GSM escape
// pair or a UTF-16 surrogate pair, so each part also decodes on its own.
//
// It fails with ErrInvalidUTF8, ErrNotRepresentable, ErrUnsupportedCoding,
// ErrRefTooLarge (ref > 255 without ref16, checked only when a header is
// needed) or ErrTooManyParts (more than MaxParts), in which case it
// returns no parts. The part count is checked before any part is built.
func SplitAs(c Coding, s string, ref uint16, ref16 bool) ([][]byte, error) {
	switch c {
	case CodingDefault, CodingUCS2, CodingLatin1:
	default:
		return nil, fmt.Errorf("%w: 0x%02X", ErrUnsupportedCoding, byte(c))
	}
	if !utf8.ValidString(s) {
		return nil, ErrInvalidUTF8
	}
	single, multi := partLimits(c, ref16)

	// First pass: total size and representability, without allocating.
	total := 0
	for _, r := range s {
		k := runeCost(c, r)
		if k == 0 {
			return nil, fmt.Errorf("%w: %q in coding 0x%02X", ErrNotRepresentable, r, byte(c))
		}
		total += k
	}
	if total <= single {
		part := make([]byte, 0, total)
		for _, r := range s {
			part = appendRune(part, c, r)
		}
		return [][]byte{part}, nil
	}
	if !ref16 && ref > 0xFF {
		return nil, fmt.Errorf("%w: %d", ErrRefTooLarge, ref)
	}

	// Second pass: count parts, cutting only between characters.
	n, used := 1, 0
	for _, r := range s {
		k := runeCost(c, r)
		if used+k > multi {
			n++
			used = 0
			if n > MaxParts {
				return nil, ErrTooManyParts
			}
		}
		used += k
	}

	// Third pass: build the parts.
	udhLen := 6
	if ref16 {
		udhLen = 7
	}
	parts := make([][]byte, 0, n)
	var part []byte
	used = multi + 1 // Force a new part for the first character.
	for _, r := range s {
		k := runeCost(c, r)
		if used+k > multi {
			if part != nil {
				parts = append(parts, part)
			}
			part = make([]byte, 0, udhLen+multi)
			part = appendConcatUDH(part, ref, ref16, uint8(n), uint8(len(parts)+1))
			used = 0
		}
		part = appendRune(part, c, r)
		used += k
	}
	parts = append(parts, part)
	return parts, nil
}
