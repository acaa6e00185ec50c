package smpp

import (
	"errors"
	"fmt"
)

// Information element identifiers for concatenated short messages
// (3GPP TS 23.040 §9.2.3.24.1 and §9.2.3.24.8).
const (
	ieiConcat8  = 0x00
	ieiConcat16 = 0x08
)

// ErrMalformedUDH is wrapped by every error ParseUDH returns.
var ErrMalformedUDH = errors.New("smpp: malformed user data header")

// UDH is what ParseUDH extracts from a user data header (3GPP TS 23.040
// §9.2.3.24). Only the concatenation information elements are interpreted.
type UDH struct {
	// Concat reports whether the header holds a concatenation information
	// element; Ref, Ref16, Total and Seq are meaningful only when it does.
	Concat bool
	// Ref is the concatenated short message reference number.
	Ref uint16
	// Ref16 is true for the 16-bit reference element (IEI 0x08) and false
	// for the 8-bit one (IEI 0x00).
	Ref16 bool
	// Total is the number of parts in the message (1–255).
	Total uint8
	// Seq is the 1-based number of this part (1–Total).
	Seq uint8
}

// ParseUDH splits a short_message whose esm_class has UDHI (0x40) set into
// its user data header and payload (SMPP 3.4 §5.2.12; 3GPP TS 23.040
// §9.2.3.24). The first octet is the header length (UDHL). Information
// elements other than concatenation are skipped; when a concatenation
// element repeats, the last one wins, as TS 23.040 §9.2.3.24 prescribes.
// The payload aliases sm. For GSM 7-bit carried unpacked the payload is the
// septets after the header; fill bits are the SMSC's concern.
//
// It returns an error wrapping ErrMalformedUDH when sm is empty, UDHL runs
// past sm, an element's length runs past the header, a concatenation
// element has the wrong length, Total is 0, or Seq is 0 or above Total.
func ParseUDH(sm []byte) (UDH, []byte, error) {
	var h UDH
	if len(sm) == 0 {
		return h, nil, fmt.Errorf("%w: empty short_message", ErrMalformedUDH)
	}
	udhl := int(sm[0])
	if udhl > len(sm)-1 {
		return h, nil, fmt.Errorf("%w: UDHL %d exceeds the %d octets that follow", ErrMalformedUDH, udhl, len(sm)-1)
	}
	hdr, payload := sm[1:1+udhl], sm[1+udhl:]
	for i := 0; i < len(hdr); {
		if len(hdr)-i < 2 {
			return UDH{}, nil, fmt.Errorf("%w: truncated information element at offset %d", ErrMalformedUDH, i)
		}
		iei, iedl := hdr[i], int(hdr[i+1])
		i += 2
		if iedl > len(hdr)-i {
			return UDH{}, nil, fmt.Errorf("%w: element 0x%02X length %d exceeds header", ErrMalformedUDH, iei, iedl)
		}
		data := hdr[i : i+iedl]
		i += iedl
		switch iei {
		case ieiConcat8:
			if iedl != 3 {
				return UDH{}, nil, fmt.Errorf("%w: 8-bit concatenation element length %d, want 3", ErrMalformedUDH, iedl)
			}
			h = UDH{Concat: true, Ref: uint16(data[0]), Total: data[1], Seq: data[2]}
		case ieiConcat16:
			if iedl != 4 {
				return UDH{}, nil, fmt.Errorf("%w: 16-bit concatenation element length %d, want 4", ErrMalformedUDH, iedl)
			}
			h = UDH{Concat: true, Ref16: true, Ref: uint16(data[0])<<8 | uint16(data[1]), Total: data[2], Seq: data[3]}
		}
	}
	if h.Concat {
		if h.Total == 0 {
			return UDH{}, nil, fmt.Errorf("%w: concatenation total is 0", ErrMalformedUDH)
		}
		if h.Seq == 0 || h.Seq > h.Total {
			return UDH{}, nil, fmt.Errorf("%w: concatenation sequence %d outside 1..%d", ErrMalformedUDH, h.Seq, h.Total)
		}
	}
	return h, payload, nil
}

// appendConcatUDH appends a user data header holding one concatenation
// element (3GPP TS 23.040 §9.2.3.24.1 or, with ref16, §9.2.3.24.8).
func appendConcatUDH(dst []byte, ref uint16, ref16 bool, total, seq uint8) []byte {
	if ref16 {
		return append(dst, 6, ieiConcat16, 4, byte(ref>>8), byte(ref), total, seq)
	}
	return append(dst, 5, ieiConcat8, 3, byte(ref), total, seq)
}
