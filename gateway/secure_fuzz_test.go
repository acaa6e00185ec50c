package gateway

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/smpp"
)

// FuzzInboundEnvelope feeds the gateway's first look at an inbound
// message — envelope or plain command — arbitrary user data under any
// data_coding, then opens what it took for an envelope with a device's
// key: nothing panics; a text is an envelope exactly when it starts with
// the marker, and then has one text form; only the genuine envelope (or
// an exact copy) ever authenticates, and a refused one moves no counter.
func FuzzInboundEnvelope(f *testing.F) {
	id := envelope.DeviceID{1, 2, 3, 4, 5, 6, 7, 8}
	master := envelope.MasterKey(bytes.Repeat([]byte{0x42}, 32))
	key, err := envelope.NewDeviceKey(id, 1, master)
	if err != nil {
		f.Fatal(err)
	}
	genuine, err := envelope.SealMessage(key, envelope.Uplink, 7, envelope.TextMessage("SEND 13900139000 5"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(byte(smpp.CodingBinary), genuine)
	f.Add(byte(smpp.CodingDefault), []byte(envelope.EncodeText(genuine)))
	f.Add(byte(smpp.CodingDefault), []byte("SEND 13900139000 5"))
	f.Add(byte(smpp.CodingUCS2), smpp.EncodeUCS2(envelope.EncodeText(genuine)))
	f.Add(byte(0xF4), genuine[:20])
	f.Fuzz(func(t *testing.T, coding byte, payload []byte) {
		d := &Delivery{Coding: smpp.Coding(coding), Payload: payload}
		text := d.Text()
		raw, sealed, derr := envelopeOf(d, text)
		if !binaryCoding(d.Coding) && sealed != strings.HasPrefix(strings.TrimSpace(text), envelope.TextMarker) {
			t.Fatalf("text %q taken as envelope: %v", text, sealed)
		}
		if !sealed {
			return
		}
		if derr == nil && !binaryCoding(d.Coding) && envelope.EncodeText(raw) != strings.TrimSpace(text) {
			t.Fatalf("text %q has a second form %q", text, envelope.EncodeText(raw))
		}
		if derr != nil {
			return
		}
		const last = 6
		h, m, err := envelope.Receive(key, envelope.Uplink, last, raw)
		if !bytes.Equal(raw, genuine) {
			if err == nil || h.Counter != 0 || errors.Is(err, envelope.ErrMessage) {
				t.Fatalf("a forgery authenticated: %x → %v %v", raw, m, err)
			}
			return
		}
		if err != nil || m.Text != "SEND 13900139000 5" || h.Counter != 7 {
			t.Fatalf("the genuine envelope: %v %v %v", h, m, err)
		}
	})
}

// Delivery is smpp.Delivery, for the fuzz target's brevity.
type Delivery = smpp.Delivery
