package envelope

import (
	"bytes"
	"errors"
	"testing"
)

func TestMessageEncoding(t *testing.T) {
	sig := seq(0x40, SignatureSize)
	for _, tc := range []struct {
		m    Message
		want []byte
	}{
		{TextMessage("BAL"), []byte("\x01BAL")},
		{HelloMessage(testChal), append([]byte{2}, testChal...)},
		{ProofMessage(sig, nil), append([]byte{3}, sig...)},
		{ProofMessage(sig, testNonce), append(append([]byte{3}, sig...), testNonce...)},
		{NonceMessage(testNonce), append([]byte{4}, testNonce...)},
		{ReportMessage(seq(0, ReportSize)), append([]byte{5}, seq(0, ReportSize)...)},
	} {
		b, err := tc.m.Marshal()
		if err != nil || !bytes.Equal(b, tc.want) {
			t.Errorf("%v: %x %v", tc.m.Kind, b, err)
			continue
		}
		m, err := ParseMessage(b)
		if err != nil {
			t.Errorf("%v: %v", tc.m.Kind, err)
			continue
		}
		if again, _ := m.Marshal(); !bytes.Equal(again, b) {
			t.Errorf("%v does not survive a round trip", tc.m.Kind)
		}
	}
}

func TestMessageRefuses(t *testing.T) {
	sig := seq(0x40, SignatureSize)
	for name, m := range map[string]Message{
		"zero":                {},
		"unknown kind":        {Kind: 9, Text: "x"},
		"empty text":          TextMessage(""),
		"invalid UTF-8":       TextMessage("\xc3"),
		"text with a nonce":   {Kind: KindText, Text: "x", Nonce: testNonce},
		"short challenge":     HelloMessage(seq(0, 15)),
		"long challenge":      HelloMessage(seq(0, 33)),
		"short signature":     ProofMessage(sig[:63], nil),
		"short proof nonce":   ProofMessage(sig, seq(0, 15)),
		"long proof nonce":    ProofMessage(sig, seq(0, 33)),
		"proof with text":     {Kind: KindProof, Signature: sig, Text: "x"},
		"short nonce":         NonceMessage(seq(0, 15)),
		"nonce with report":   {Kind: KindNonce, Nonce: testNonce, Report: seq(0, ReportSize)},
		"short report":        ReportMessage(seq(0, ReportSize-1)),
		"hello with nonce":    {Kind: KindHello, Challenge: testChal, Nonce: testNonce},
		"report with challng": {Kind: KindReport, Report: seq(0, ReportSize), Challenge: testChal},
	} {
		if b, err := m.Marshal(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: marshalled to %x, %v", name, b, err)
		}
	}
	if _, err := TextMessage(string(make([]byte, MaxPlaintext))).Marshal(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("huge text: %v", err)
	}
	for name, p := range map[string][]byte{
		"empty":          nil,
		"kind 0":         {0, 'x'},
		"kind 6":         {6, 'x'},
		"text empty":     {1},
		"proof short":    append([]byte{3}, sig[:63]...),
		"report long":    append([]byte{5}, seq(0, ReportSize+1)...),
		"hello too long": append([]byte{2}, seq(0, 33)...),
	} {
		if m, err := ParseMessage(p); !errors.Is(err, ErrMalformed) || m.Kind != 0 {
			t.Errorf("%s: parsed to %+v, %v", name, m, err)
		}
	}
}

func TestKindStrings(t *testing.T) {
	for k, want := range map[Kind]string{KindText: "text", KindHello: "hello", KindProof: "proof", KindNonce: "nonce", KindReport: "report", 0x42: "kind(0x42)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
	for d, want := range map[Direction]string{Uplink: "uplink", Downlink: "downlink", 7: "direction(7)"} {
		if d.String() != want {
			t.Errorf("%d: %q", d, d.String())
		}
	}
	for c, want := range map[Carriage]string{Binary: "binary", Text: "text", 9: "carriage(9)"} {
		if c.String() != want {
			t.Errorf("%d: %q", c, c.String())
		}
	}
}
