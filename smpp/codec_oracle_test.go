package smpp

// Differential tests against github.com/fiorix/go-smpp's PDU codec, which
// is kept only as an oracle (see doc.go). Its known defects, each shown
// below: (a) it decodes truncated PDUs without error, (b) it writes
// sm_length modulo 256, (c) it has no data_sm.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutlv"
)

// oracleDecode decodes frame with go-smpp. A panic in go-smpp is returned
// as an error.
func oracleDecode(frame []byte) (b pdu.Body, err error) {
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("go-smpp panicked: %v", r)
		}
	}()
	return pdu.Decode(bytes.NewReader(frame))
}

// oracleEncode serializes a go-smpp PDU.
func oracleEncode(t testing.TB, b pdu.Body) []byte {
	t.Helper()
	var w bytes.Buffer
	if err := b.SerializeTo(&w); err != nil {
		t.Fatalf("go-smpp SerializeTo: %v", err)
	}
	return w.Bytes()
}

// oracleField is one mandatory field of ours under go-smpp's name, with a
// string, byte or []byte value.
type oracleField struct {
	name pdufield.Name
	want any
}

// oracleFields lists the mandatory fields of p that go-smpp decodes.
func oracleFields(p *PDU) []oracleField {
	switch p.Command {
	case BindReceiver, BindTransmitter, BindTransceiver:
		return []oracleField{
			{pdufield.SystemID, p.SystemID},
			{pdufield.Password, p.Password},
			{pdufield.SystemType, p.SystemType},
			{pdufield.InterfaceVersion, p.InterfaceVersion},
			{pdufield.AddrTON, p.AddrRange.TON},
			{pdufield.AddrNPI, p.AddrRange.NPI},
			{pdufield.AddressRange, p.AddrRange.Addr},
		}
	case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		return []oracleField{{pdufield.SystemID, p.SystemID}}
	case SubmitSM, DeliverSM:
		return []oracleField{
			{pdufield.ServiceType, p.ServiceType},
			{pdufield.SourceAddrTON, p.Source.TON},
			{pdufield.SourceAddrNPI, p.Source.NPI},
			{pdufield.SourceAddr, p.Source.Addr},
			{pdufield.DestAddrTON, p.Dest.TON},
			{pdufield.DestAddrNPI, p.Dest.NPI},
			{pdufield.DestinationAddr, p.Dest.Addr},
			{pdufield.ESMClass, p.ESMClass},
			{pdufield.ProtocolID, p.ProtocolID},
			{pdufield.PriorityFlag, p.PriorityFlag},
			{pdufield.ScheduleDeliveryTime, p.ScheduleDeliveryTime},
			{pdufield.ValidityPeriod, p.ValidityPeriod},
			{pdufield.RegisteredDelivery, p.RegisteredDelivery},
			{pdufield.ReplaceIfPresentFlag, p.ReplaceIfPresent},
			{pdufield.DataCoding, p.DataCoding},
			{pdufield.SMDefaultMsgID, p.SMDefaultMsgID},
			{pdufield.SMLength, byte(len(p.ShortMessage))},
			{pdufield.ShortMessage, p.ShortMessage},
		}
	case SubmitSMResp, DeliverSMResp:
		return []oracleField{{pdufield.MessageID, p.MessageID}}
	}
	return nil
}

// oracleDiff lists where go-smpp's view of a PDU differs from ours:
// header, every mandatory field, and the optional parameters (go-smpp
// keeps them in a map, so the last of a repeated tag wins).
func oracleDiff(p *PDU, b pdu.Body) []string {
	var d []string
	h := b.Header()
	if uint32(h.ID) != uint32(p.Command) || uint32(h.Status) != uint32(p.Status) || h.Seq != p.Seq {
		d = append(d, fmt.Sprintf("header: go-smpp id=%#x status=%#x seq=%d, ours %s", uint32(h.ID), uint32(h.Status), h.Seq, p))
	}
	fields := b.Fields()
	for _, f := range oracleFields(p) {
		got, ok := fields[f.name]
		if !ok {
			// go-smpp leaves out a field at the end of a body that has
			// none: only an error response's empty body may do that.
			if s, isStr := f.want.(string); !(isStr && s == "" && p.Command.IsResponse()) {
				d = append(d, fmt.Sprintf("%s: missing in go-smpp, ours %q", f.name, f.want))
			}
			continue
		}
		switch w := f.want.(type) {
		case string:
			if got.String() != w {
				d = append(d, fmt.Sprintf("%s: go-smpp %q, ours %q", f.name, got.String(), w))
			}
		case byte:
			if !bytes.Equal(got.Bytes(), []byte{w}) {
				d = append(d, fmt.Sprintf("%s: go-smpp % x, ours %02x", f.name, got.Bytes(), w))
			}
		case []byte:
			if !bytes.Equal(got.Bytes(), w) {
				d = append(d, fmt.Sprintf("%s: go-smpp % x, ours % x", f.name, got.Bytes(), w))
			}
		}
	}
	want := map[pdutlv.Tag][]byte{}
	for _, t := range p.TLVs {
		want[pdutlv.Tag(t.Tag)] = t.Value
	}
	theirs := b.TLVFields()
	if len(theirs) != len(want) {
		d = append(d, fmt.Sprintf("optional parameters: go-smpp %d tags, ours %d", len(theirs), len(want)))
	}
	for tag, v := range want {
		if got, ok := theirs[tag]; !ok || !bytes.Equal(got.Bytes(), v) {
			d = append(d, fmt.Sprintf("optional parameter %s: go-smpp %v, ours % x", tag.Hex(), got, v))
		}
	}
	return d
}

// oracleCommands are the commands both codecs decode.
var oracleCommands = []CommandID{SubmitSM, DeliverSM, BindTransmitter, BindReceiver, BindTransceiver,
	BindTransmitterResp, BindReceiverResp, BindTransceiverResp, SubmitSMResp, DeliverSMResp}

func oracleDecodes(cmd CommandID) bool {
	for _, c := range oracleCommands {
		if c == cmd {
			return true
		}
	}
	return false
}

// Encode with ours, decode with go-smpp: the same values.
func TestOracleOursEncodeTheirsDecode(t *testing.T) {
	check := func(t *testing.T, p *PDU) {
		t.Helper()
		frame, err := Encode(nil, p)
		if err != nil {
			t.Fatal(err)
		}
		b, err := oracleDecode(frame)
		if err != nil {
			t.Fatalf("go-smpp Decode(% x): %v", frame, err)
		}
		if int(b.Header().Len) != len(frame) {
			t.Errorf("go-smpp command_length %d, frame %d", b.Header().Len, len(frame))
		}
		for _, d := range oracleDiff(p, b) {
			t.Error(d)
		}
	}
	for _, v := range codecVectors {
		if !oracleDecodes(v.pdu.Command) {
			continue
		}
		t.Run(v.name, func(t *testing.T) { check(t, &v.pdu) })
	}
	t.Run("random", func(t *testing.T) {
		rng := rand.New(rand.NewSource(5))
		for i := range 3000 {
			check(t, randomPDU(rng, oracleCommands[i%len(oracleCommands)]))
			if t.Failed() {
				t.FailNow()
			}
		}
	})
	// Header-only PDUs: go-smpp has no fields for them.
	for _, cmd := range []CommandID{EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack} {
		p := &PDU{Command: cmd, Status: StatusInvCmdID, Seq: 77}
		frame, _ := Encode(nil, p)
		b, err := oracleDecode(frame)
		if err != nil {
			t.Fatalf("%s: go-smpp: %v", cmd, err)
		}
		if d := oracleDiff(p, b); len(d) > 0 {
			t.Errorf("%s: %v", cmd, d)
		}
	}
}

// Encode with go-smpp, decode with ours: the same values, and our encoder
// writes the very same octets.
func TestOracleTheirsEncodeOursDecode(t *testing.T) {
	set := func(b pdu.Body, kv ...any) pdu.Body {
		for i := 0; i < len(kv); i += 2 {
			if err := b.Fields().Set(kv[i].(pdufield.Name), kv[i+1]); err != nil {
				panic(err)
			}
		}
		return b
	}
	withStatus := func(b pdu.Body, s Status) pdu.Body { b.Header().Status = pdu.Status(s); return b }
	submit := func(tlvs pdutlv.Fields) pdu.Body {
		return set(pdu.NewSubmitSM(tlvs),
			pdufield.ServiceType, "USSD",
			pdufield.SourceAddrTON, 1, pdufield.SourceAddrNPI, 1, pdufield.SourceAddr, "254700000001",
			pdufield.DestAddrTON, 1, pdufield.DestAddrNPI, 1, pdufield.DestinationAddr, "254711222333",
			pdufield.ESMClass, 0x40, pdufield.ProtocolID, 0, pdufield.PriorityFlag, 1,
			pdufield.ScheduleDeliveryTime, "", pdufield.ValidityPeriod, "000001000000000R",
			pdufield.RegisteredDelivery, pdufield.FinalDeliveryReceipt, pdufield.ReplaceIfPresentFlag, 0,
			pdufield.DataCoding, 8, pdufield.SMDefaultMsgID, 0,
			pdufield.ShortMessage, []byte{0, 'H', 0, 'i'})
	}
	cases := []struct {
		name string
		body pdu.Body
	}{
		{"bind_transceiver", set(pdu.NewBindTransceiver(), pdufield.SystemID, "paygate", pdufield.Password, "secret",
			pdufield.SystemType, "VMA", pdufield.InterfaceVersion, 0x34,
			pdufield.AddrTON, 1, pdufield.AddrNPI, 1, pdufield.AddressRange, "^2547")},
		{"bind_transmitter", set(pdu.NewBindTransmitter(), pdufield.SystemID, "abcdefghijklmno", pdufield.Password, "12345678",
			pdufield.InterfaceVersion, 0x34)},
		{"bind_receiver_defaults", pdu.NewBindReceiver()},
		{"bind_transceiver_resp", set(pdu.NewBindTransceiverResp(), pdufield.SystemID, "SMSC")},
		{"bind_transmitter_resp_error", withStatus(set(pdu.NewBindTransmitterResp(), pdufield.SystemID, ""), StatusInvPaswd)},
		{"submit_sm", submit(nil)},
		{"submit_sm_payload", set(submit(pdutlv.Fields{pdutlv.TagMessagePayload: []byte("a long payload")}),
			pdufield.ShortMessage, []byte{})},
		{"submit_sm_ussd_service_op", submit(pdutlv.Fields{pdutlv.TagUssdServiceOp: []byte{2}})},
		{"submit_sm_254", set(pdu.NewSubmitSM(nil), pdufield.ShortMessage, bytes.Repeat([]byte{'x'}, 254))},
		{"submit_sm_resp", set(pdu.NewSubmitSMResp(), pdufield.MessageID, "msg-0001")},
		{"deliver_sm", set(pdu.NewDeliverSM(), pdufield.ServiceType, "USSD",
			pdufield.SourceAddrTON, 1, pdufield.SourceAddrNPI, 1, pdufield.SourceAddr, "254711222333",
			pdufield.DestinationAddr, "*384#", pdufield.ShortMessage, []byte("*384#"))},
		{"deliver_sm_receipt", set(pdu.NewDeliverSM(), pdufield.ESMClass, 0x04,
			pdufield.ShortMessage, []byte("id:msg-0001 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD err:000 text:"))},
		{"deliver_sm_resp", pdu.NewDeliverSMResp()},
		{"enquire_link", pdu.NewEnquireLink()},
		{"enquire_link_resp", pdu.NewEnquireLinkResp()},
		{"unbind", pdu.NewUnbind()},
		{"unbind_resp", pdu.NewUnbindResp()},
		{"generic_nack", withStatus(pdu.NewGenericNACK(), StatusInvCmdID)},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.body.Header().Seq = uint32(1000 + i)
			frame := oracleEncode(t, c.body)
			p, err := Decode(frame)
			if err != nil {
				t.Fatalf("Decode(% x): %v", frame, err)
			}
			for _, d := range oracleDiff(p, c.body) {
				t.Error(d)
			}
			ours, err := Encode(nil, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.TLVs) <= 1 && !bytes.Equal(ours, frame) {
				t.Errorf("our encoding differs from go-smpp's:\n ours   % x\n go-smpp % x", ours, frame)
			}
		})
	}
}

// Defect (a): go-smpp decodes a deliver_sm cut short without error,
// silently dropping the missing fields; ours refuses every such cut.
func TestOracleDefectTruncatedDeliverSM(t *testing.T) {
	var v codecVector
	for _, v = range codecVectors {
		if v.name == "deliver_sm_ussd" {
			break
		}
	}
	full := v.frame()

	// Cut inside destination_addr: "*3" of "*384#".
	cut := withLength(full[:16+5+15+2+2])
	theirs, err := oracleDecode(cut)
	if err != nil {
		t.Fatalf("go-smpp refused the truncated deliver_sm (%v); defect (a) is gone, update this test", err)
	}
	if _, ok := theirs.Fields()[pdufield.DestinationAddr]; ok {
		t.Errorf("go-smpp kept a destination_addr")
	}
	if _, ok := theirs.Fields()[pdufield.ShortMessage]; ok {
		t.Errorf("go-smpp kept a short_message")
	}
	t.Logf("go-smpp accepts a %d-octet deliver_sm cut inside destination_addr: source_addr=%q, no destination_addr, no short_message",
		len(cut), theirs.Fields()[pdufield.SourceAddr])
	_, err = Decode(cut)
	var de *DecodeError
	if !errors.As(err, &de) || de.Status != StatusInvCmdLen {
		t.Fatalf("ours: %v, want *DecodeError ESME_RINVCMDLEN", err)
	}

	// Every cut before the optional parameters.
	accepted := 0
	for n := HeaderLen + 1; n < v.tlvAt; n++ {
		cut := withLength(full[:n])
		if _, err := oracleDecode(cut); err == nil {
			accepted++
		}
		if p, err := Decode(cut); err == nil {
			t.Errorf("ours decoded a deliver_sm cut at %d: %+v", n, p)
		}
	}
	if accepted == 0 {
		t.Fatal("go-smpp refused every truncated deliver_sm")
	}
	t.Logf("of %d truncations of a deliver_sm before its TLVs, go-smpp accepted %d, ours none", v.tlvAt-HeaderLen-1, accepted)
}

// go-smpp also takes octets after a header-only PDU as optional
// parameters, and ignores 1 to 3 stray octets at the end of any body.
func TestOracleDefectTrailingOctets(t *testing.T) {
	for _, f := range [][]byte{
		frameOf(EnquireLink, 0, 7, vecHex("0000 0000")),
		frameOf(SubmitSMResp, 0, 7, cstrOf("id"), []byte{0xFF}),
		frameOf(BindTransceiver, 0, 7, cstrOf("paygate"), cstrOf("pw"), cstrOf(""), bindTail, []byte{1, 2, 3}),
	} {
		if _, err := oracleDecode(f); err != nil {
			t.Errorf("go-smpp refused % x: %v", f, err)
		}
		var de *DecodeError
		if _, err := Decode(f); !errors.As(err, &de) {
			t.Errorf("ours accepted % x", f)
		}
	}
}

// Defect (b): go-smpp sets sm_length to len(short_message) modulo 256, so
// a 300-octet message goes out claiming 44; ours refuses to encode it.
func TestOracleDefectSMLength(t *testing.T) {
	for _, n := range []int{256, 300, 511} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			msg := bytes.Repeat([]byte{'A'}, n)
			b := pdu.NewSubmitSM(nil)
			if err := b.Fields().Set(pdufield.ShortMessage, msg); err != nil {
				t.Fatal(err)
			}
			frame := oracleEncode(t, b)
			if got := int(frame[smLengthOffset]); got == n || got != n%256 {
				t.Fatalf("go-smpp wrote sm_length %d for %d octets; defect (b) changed, update this test", got, n)
			}
			if int(binary.BigEndian.Uint32(frame)) != len(frame) || len(frame) != smLengthOffset+1+n {
				t.Fatalf("go-smpp frame of %d octets", len(frame))
			}
			t.Logf("go-smpp: short_message of %d octets sent with sm_length %d", n, frame[smLengthOffset])

			_, err := Encode(nil, &PDU{Command: SubmitSM, ShortMessage: msg})
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("ours encoded a %d-octet short_message: %v", n, err)
			}
			// Reading go-smpp's frame, ours does not take a wrong message:
			// the octets past sm_length are not a valid TLV stream, or
			// sm_length is above 254.
			p, err := Decode(frame)
			var de *DecodeError
			if !errors.As(err, &de) || (de.Status != StatusInvOptParStrem && de.Status != StatusInvMsgLen) {
				t.Fatalf("ours decoded go-smpp's frame: %+v, %v", p, err)
			}
		})
	}
	// At 255 octets go-smpp's sm_length is right but outside SMPP 3.4's
	// 0 to 254; both our encoder and our decoder refuse it.
	b := pdu.NewSubmitSM(nil)
	msg := bytes.Repeat([]byte{'A'}, 255)
	b.Fields().Set(pdufield.ShortMessage, msg)
	frame := oracleEncode(t, b)
	if frame[smLengthOffset] != 255 {
		t.Fatalf("go-smpp sm_length %d for 255 octets", frame[smLengthOffset])
	}
	var de *DecodeError
	if _, err := Decode(frame); !errors.As(err, &de) || de.Status != StatusInvMsgLen {
		t.Fatalf("ours decoded a 255-octet short_message: %v", err)
	}
	if _, err := Encode(nil, &PDU{Command: SubmitSM, ShortMessage: msg}); err == nil {
		t.Fatal("ours encoded a 255-octet short_message")
	}
}

// Defect (c): go-smpp has no data_sm or data_sm_resp.
func TestOracleDefectNoDataSM(t *testing.T) {
	for _, v := range codecVectors {
		if v.pdu.Command != DataSM && v.pdu.Command != DataSMResp {
			continue
		}
		frame, err := Encode(nil, &v.pdu)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(frame); err != nil {
			t.Fatalf("%s: ours: %v", v.name, err)
		}
		_, err = oracleDecode(frame)
		if err == nil || !strings.Contains(err.Error(), "not implemented") {
			t.Fatalf("%s: go-smpp: %v, want 'not implemented'", v.name, err)
		}
	}
}

// oracleDiff itself notices a difference in every field it compares.
func TestOracleDiffDetectsMismatch(t *testing.T) {
	for _, v := range codecVectors {
		if !oracleDecodes(v.pdu.Command) || v.decodeOnly || v.emptyBodyOK { // go-smpp has no fields to compare in an empty body
			continue
		}
		b, err := oracleDecode(v.frame())
		if err != nil {
			t.Fatal(err)
		}
		if d := oracleDiff(&v.pdu, b); len(d) != 0 {
			t.Fatalf("%s: %v", v.name, d)
		}
		for i := range oracleFields(&v.pdu) {
			f := b.Fields()
			name := oracleFields(&v.pdu)[i].name
			saved := f[name]
			f[name] = pdufield.New(name, []byte("\xEEdifferent\x00"))
			if d := oracleDiff(&v.pdu, b); len(d) == 0 {
				t.Errorf("%s: changing %s went unnoticed", v.name, name)
			}
			f[name] = saved
		}
		q := v.pdu
		q.Seq++
		if d := oracleDiff(&q, b); len(d) == 0 {
			t.Errorf("%s: a different seq went unnoticed", v.name)
		}
		q = v.pdu
		q.TLVs = append(TLVs{{Tag: 0x1400, Value: []byte{1}}}, q.TLVs...)
		if d := oracleDiff(&q, b); len(d) == 0 {
			t.Errorf("%s: an extra optional parameter went unnoticed", v.name)
		}
	}
}
