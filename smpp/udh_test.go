package smpp

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseUDH(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    UDH
		payload []byte
	}{
		{"8-bit", []byte{0x05, 0x00, 0x03, 0x2A, 0x03, 0x02, 'h', 'i'},
			UDH{Concat: true, Ref: 0x2A, Total: 3, Seq: 2}, []byte("hi")},
		{"16-bit", []byte{0x06, 0x08, 0x04, 0xBE, 0xEF, 0x02, 0x02, 'x'},
			UDH{Concat: true, Ref: 0xBEEF, Ref16: true, Total: 2, Seq: 2}, []byte("x")},
		{"empty payload", []byte{0x05, 0x00, 0x03, 0x01, 0x01, 0x01},
			UDH{Concat: true, Ref: 1, Total: 1, Seq: 1}, []byte{}},
		{"empty header", []byte{0x00, 'a'}, UDH{}, []byte("a")},
		{"port addressing only", []byte{0x06, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0xAA},
			UDH{}, []byte{0xAA}},
		{"ports then concat", []byte{0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x01, 'p'},
			UDH{Concat: true, Ref: 7, Total: 2, Seq: 1}, []byte("p")},
		{"unknown zero-length IE", []byte{0x07, 0x70, 0x00, 0x00, 0x03, 0x09, 0x04, 0x04, 'z'},
			UDH{Concat: true, Ref: 9, Total: 4, Seq: 4}, []byte("z")},
		{"last concat wins", []byte{0x0B, 0x00, 0x03, 0x01, 0x02, 0x01, 0x08, 0x04, 0x00, 0x05, 0x03, 0x03},
			UDH{Concat: true, Ref: 5, Ref16: true, Total: 3, Seq: 3}, []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := ParseUDH(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.want || !bytes.Equal(payload, tt.payload) {
				t.Fatalf("got %+v % x, want %+v % x", h, payload, tt.want, tt.payload)
			}
		})
	}
}

func TestParseUDHMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"UDHL beyond buffer", []byte{0x05, 0x00, 0x03, 0x01}},
		{"UDHL 255 short buffer", []byte{0xFF, 0x00}},
		{"IE header truncated", []byte{0x01, 0x00}},
		{"IE length beyond header", []byte{0x03, 0x00, 0x03, 0x01, 0x02, 0x01, 'x'}},
		{"IE length beyond header, payload follows", []byte{0x02, 0x70, 0x05, 1, 2, 3, 4, 5}},
		{"8-bit concat length 2", []byte{0x04, 0x00, 0x02, 0x01, 0x01}},
		{"16-bit concat length 3", []byte{0x05, 0x08, 0x03, 0x00, 0x01, 0x01}},
		{"total 0", []byte{0x05, 0x00, 0x03, 0x01, 0x00, 0x00}},
		{"seq 0", []byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x00}},
		{"seq > total", []byte{0x05, 0x00, 0x03, 0x01, 0x02, 0x03}},
		{"16-bit seq > total", []byte{0x06, 0x08, 0x04, 0x00, 0x01, 0x02, 0x03}},
		{"valid then malformed", []byte{0x07, 0x00, 0x03, 0x01, 0x02, 0x01, 0x70, 0x09}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, payload, err := ParseUDH(tt.in)
			if !errors.Is(err, ErrMalformedUDH) {
				t.Fatalf("err = %v, want ErrMalformedUDH", err)
			}
			if h != (UDH{}) || payload != nil {
				t.Fatalf("returned %+v % x with an error", h, payload)
			}
		})
	}
}

func TestAppendConcatUDHRoundTrip(t *testing.T) {
	for _, ref16 := range []bool{false, true} {
		for _, total := range []uint8{1, 2, 255} {
			for _, seq := range []uint8{1, total} {
				ref := uint16(0xAB)
				if ref16 {
					ref = 0xABCD
				}
				b := appendConcatUDH(nil, ref, ref16, total, seq)
				h, payload, err := ParseUDH(append(b, 'q'))
				want := UDH{Concat: true, Ref: ref, Ref16: ref16, Total: total, Seq: seq}
				if err != nil || h != want || string(payload) != "q" {
					t.Errorf("% x: %+v %q %v", b, h, payload, err)
				}
			}
		}
	}
}
