package smpp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
)

// vecHex decodes a hex vector written with any whitespace between octets;
// "#" starts a comment that runs to the end of the line.
func vecHex(s string) []byte {
	var digits strings.Builder
	for line := range strings.Lines(s) {
		line, _, _ = strings.Cut(line, "#")
		for _, f := range strings.Fields(line) {
			digits.WriteString(f)
		}
	}
	b, err := hex.DecodeString(digits.String())
	if err != nil {
		panic(fmt.Sprintf("bad hex vector %q: %v", s, err))
	}
	return b
}

// codecVector is one hand-assembled SMPP 3.4 frame and the PDU it carries.
// Each vector's layout is spelt out field by field in its hex string; the
// command_length in the first word was counted by hand and is checked
// against the vector's length by TestCodecVectorsWellFormed.
type codecVector struct {
	name string
	hex  string
	pdu  PDU
	// decodeOnly: the frame is a valid alternative form that Encode does
	// not produce (an error response without a body); Encode(pdu) must
	// still decode back to pdu.
	decodeOnly bool
	// tlvAt is the frame offset where the optional parameters begin, for
	// a vector that has any: cutting the frame at a TLV boundary leaves a
	// valid PDU with fewer optional parameters.
	tlvAt int
	// emptyBodyOK: the header alone is a valid PDU of this command and
	// status (error responses; deliver_sm_resp).
	emptyBodyOK bool
}

func (v codecVector) frame() []byte { return vecHex(v.hex) }

var codecVectors = []codecVector{
	{
		name: "bind_transceiver",
		hex: `00000027 00000009 00000000 00000001
			70617967617465 00   # system_id "paygate"
			736563726574 00     # password "secret"
			564d41 00           # system_type "VMA"
			34                  # interface_version 3.4
			01 01 00            # addr_ton, addr_npi, address_range ""`,
		pdu: PDU{Command: BindTransceiver, Seq: 1, SystemID: "paygate", Password: "secret",
			SystemType: "VMA", InterfaceVersion: 0x34, AddrRange: Address{TON: 1, NPI: 1}},
	},
	{
		name: "bind_transmitter_max_lengths",
		hex: `0000002e 00000002 00000000 00000002
			6162636465666768696a6b6c6d6e6f 00   # system_id, 15 octets
			3132333435363738 00                 # password, 8 octets
			00                                  # system_type ""
			34 00 00 00`,
		pdu: PDU{Command: BindTransmitter, Seq: 2, SystemID: "abcdefghijklmno", Password: "12345678",
			InterfaceVersion: 0x34},
	},
	{
		name: "bind_receiver_address_range",
		hex: `00000020 00000001 00000000 00000003
			7278 00          # system_id "rx"
			7077 00          # password "pw"
			00               # system_type ""
			34
			01 01 5e32353437 00   # address_range "^2547"`,
		pdu: PDU{Command: BindReceiver, Seq: 3, SystemID: "rx", Password: "pw", InterfaceVersion: 0x34,
			AddrRange: Address{TON: 1, NPI: 1, Addr: "^2547"}},
	},
	{
		name: "bind_transceiver_resp_with_sc_interface_version",
		hex: `0000001a 80000009 00000000 00000001
			534d5343 00       # system_id "SMSC"
			0210 0001 34      # sc_interface_version 3.4`,
		pdu: PDU{Command: BindTransceiverResp, Seq: 1, SystemID: "SMSC",
			TLVs: TLVs{{Tag: TagSCInterfaceVersion, Value: []byte{0x34}}}},
		tlvAt: 21,
	},
	{
		name: "bind_transmitter_resp",
		hex:  `00000015 80000002 00000000 00000002 534d5343 00`,
		pdu:  PDU{Command: BindTransmitterResp, Seq: 2, SystemID: "SMSC"},
	},
	{
		name:        "bind_receiver_resp_error_empty_body",
		hex:         `00000010 80000001 0000000d 00000003`,
		pdu:         PDU{Command: BindReceiverResp, Status: StatusBindFail, Seq: 3},
		decodeOnly:  true,
		emptyBodyOK: true,
	},
	{
		name:        "bind_transceiver_resp_error_null_system_id",
		hex:         `00000011 80000009 0000000e 00000004 00`,
		pdu:         PDU{Command: BindTransceiverResp, Status: StatusInvPaswd, Seq: 4},
		emptyBodyOK: true,
	},
	{
		name: "submit_sm_ussd_tlvs",
		hex: `00000044 00000004 00000000 00000010
			55535344 00                         # service_type "USSD"
			01 01 323534373030303030303031 00   # source "254700000001"
			01 01 3132333435 00                 # destination "12345"
			00 00 00                            # esm_class, protocol_id, priority_flag
			00 00                               # schedule_delivery_time, validity_period
			01 00 00 00                         # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
			00                                  # sm_length 0
			0424 0005 68656c6c6f                # message_payload "hello"
			0501 0001 02                        # ussd_service_op 2`,
		pdu: PDU{Command: SubmitSM, Seq: 0x10, ServiceType: "USSD",
			Source: Address{TON: 1, NPI: 1, Addr: "254700000001"}, Dest: Address{TON: 1, NPI: 1, Addr: "12345"},
			RegisteredDelivery: 1,
			TLVs: TLVs{{Tag: TagMessagePayload, Value: []byte("hello")},
				{Tag: TagUSSDServiceOp, Value: []byte{2}}}},
		tlvAt: 54,
	},
	{
		name: "submit_sm_text_validity",
		hex: `0000004c 00000004 00000000 00000011
			00                                  # service_type ""
			05 00 50617947617465 00             # source alphanumeric "PayGate"
			01 01 323534373131323232333333 00   # destination "254711222333"
			00 00 01                            # priority_flag 1
			00                                  # schedule_delivery_time ""
			30303030303130303030303030303052 00 # validity_period "000001000000000R"
			01 00 00 00
			08 4869207468657265                 # sm_length 8, "Hi there"`,
		pdu: PDU{Command: SubmitSM, Seq: 0x11, Source: Address{TON: 5, Addr: "PayGate"},
			Dest: Address{TON: 1, NPI: 1, Addr: "254711222333"}, PriorityFlag: 1,
			ValidityPeriod: "000001000000000R", RegisteredDelivery: 1, ShortMessage: []byte("Hi there")},
	},
	{
		name: "deliver_sm_ussd",
		hex: `00000046 00000005 00000000 00000020
			55535344 00                         # service_type "USSD"
			01 01 323534373131323232333333 00   # source "254711222333"
			00 00 2a33383423 00                 # destination "*384#"
			00 00 00 00 00 00 00 00 00
			05 2a33383423                       # sm_length 5, "*384#"
			0501 0001 01                        # ussd_service_op 1 (PSSR indication)
			1383 0002 0400                      # its_session_info`,
		pdu: PDU{Command: DeliverSM, Seq: 0x20, ServiceType: "USSD",
			Source: Address{TON: 1, NPI: 1, Addr: "254711222333"}, Dest: Address{Addr: "*384#"},
			ShortMessage: []byte("*384#"),
			TLVs: TLVs{{Tag: TagUSSDServiceOp, Value: []byte{1}},
				{Tag: TagITSSessionInfo, Value: []byte{4, 0}}}},
		tlvAt: 59,
	},
	{
		name:        "deliver_sm_resp",
		hex:         `00000011 80000005 00000000 00000020 00`,
		pdu:         PDU{Command: DeliverSMResp, Seq: 0x20},
		emptyBodyOK: true,
	},
	{
		name:        "deliver_sm_resp_empty_body",
		hex:         `00000010 80000005 00000000 00000021`,
		pdu:         PDU{Command: DeliverSMResp, Seq: 0x21},
		decodeOnly:  true,
		emptyBodyOK: true,
	},
	{
		name: "submit_sm_resp",
		hex:  `00000019 80000004 00000000 00000010 6d73672d30303031 00`,
		pdu:  PDU{Command: SubmitSMResp, Seq: 0x10, MessageID: "msg-0001"},
	},
	{
		name:        "submit_sm_resp_throttled_empty_body",
		hex:         `00000010 80000004 00000058 00000011`,
		pdu:         PDU{Command: SubmitSMResp, Status: StatusThrottled, Seq: 0x11},
		emptyBodyOK: true,
	},
	{
		name: "data_sm",
		hex: `00000035 00000103 00000000 00000030
			00                                  # service_type ""
			01 01 323534373131323232333333 00   # source "254711222333"
			05 00 50617947617465 00             # destination "PayGate"
			00 00 08                            # esm_class, registered_delivery, data_coding UCS2
			0424 0004 00480069                  # message_payload "Hi" in UCS2`,
		pdu: PDU{Command: DataSM, Seq: 0x30, Source: Address{TON: 1, NPI: 1, Addr: "254711222333"},
			Dest: Address{TON: 5, Addr: "PayGate"}, DataCoding: 8,
			TLVs: TLVs{{Tag: TagMessagePayload, Value: []byte{0, 'H', 0, 'i'}}}},
		tlvAt: 45,
	},
	{
		name: "data_sm_resp",
		hex:  `00000019 80000103 00000000 00000030 616263 00 0425 0001 00`,
		pdu: PDU{Command: DataSMResp, Seq: 0x30, MessageID: "abc",
			TLVs: TLVs{{Tag: 0x0425, Value: []byte{0}}}},
		tlvAt: 20,
	},
	{
		name:        "data_sm_resp_error_empty_body",
		hex:         `00000010 80000103 000000fe 00000031`,
		pdu:         PDU{Command: DataSMResp, Status: StatusDeliveryFail, Seq: 0x31},
		emptyBodyOK: true,
	},
	{name: "enquire_link", hex: `00000010 00000015 00000000 00000007`, pdu: PDU{Command: EnquireLink, Seq: 7}},
	{name: "enquire_link_resp", hex: `00000010 80000015 00000000 00000007`, pdu: PDU{Command: EnquireLinkResp, Seq: 7}},
	{name: "unbind", hex: `00000010 00000006 00000000 00000008`, pdu: PDU{Command: Unbind, Seq: 8}},
	{name: "unbind_resp", hex: `00000010 80000006 00000000 00000008`, pdu: PDU{Command: UnbindResp, Seq: 8}},
	{
		name: "generic_nack",
		hex:  `00000010 80000000 00000003 00000009`,
		pdu:  PDU{Command: GenericNack, Status: StatusInvCmdID, Seq: 9},
	},
}

// normPDU makes nil and empty slices compare equal.
func normPDU(p *PDU) PDU {
	q := *p
	if len(q.ShortMessage) == 0 {
		q.ShortMessage = nil
	}
	if len(q.TLVs) == 0 {
		q.TLVs = nil
	} else {
		ts := make(TLVs, len(q.TLVs))
		for i, t := range q.TLVs {
			if len(t.Value) == 0 {
				t.Value = nil
			}
			ts[i] = t
		}
		q.TLVs = ts
	}
	return q
}

func pduEqual(a, b *PDU) bool { return reflect.DeepEqual(normPDU(a), normPDU(b)) }

// withLength returns a copy of frame with command_length set to its length.
func withLength(frame []byte) []byte {
	f := bytes.Clone(frame)
	if len(f) >= 4 {
		binary.BigEndian.PutUint32(f, uint32(len(f)))
	}
	return f
}

// frameOf builds a frame from a header and body octets.
func frameOf(cmd CommandID, status Status, seq uint32, body ...[]byte) []byte {
	f := make([]byte, HeaderLen, 64)
	binary.BigEndian.PutUint32(f[4:], uint32(cmd))
	binary.BigEndian.PutUint32(f[8:], uint32(status))
	binary.BigEndian.PutUint32(f[12:], seq)
	for _, b := range body {
		f = append(f, b...)
	}
	return withLength(f)
}

func TestCodecVectorsWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range codecVectors {
		if seen[v.name] {
			t.Errorf("duplicate vector name %s", v.name)
		}
		seen[v.name] = true
		f := v.frame()
		if got := binary.BigEndian.Uint32(f); int(got) != len(f) {
			t.Errorf("%s: hand-counted command_length %d, vector has %d octets", v.name, got, len(f))
		}
		if got := CommandID(binary.BigEndian.Uint32(f[4:])); got != v.pdu.Command {
			t.Errorf("%s: command_id %s, want %s", v.name, got, v.pdu.Command)
		}
	}
}

func TestCodecDecodeVectors(t *testing.T) {
	for _, v := range codecVectors {
		t.Run(v.name, func(t *testing.T) {
			frame := v.frame()
			p, err := Decode(frame)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !pduEqual(p, &v.pdu) {
				t.Fatalf("Decode:\n got %+v\nwant %+v", *p, v.pdu)
			}
		})
	}
}

func TestCodecEncodeVectors(t *testing.T) {
	for _, v := range codecVectors {
		t.Run(v.name, func(t *testing.T) {
			got, err := Encode(nil, &v.pdu)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if v.decodeOnly {
				// Encode writes the body that the vector omits; it must
				// mean the same PDU.
				if bytes.Equal(got, v.frame()) {
					t.Fatalf("decodeOnly vector is what Encode writes; drop the flag")
				}
				back, err := Decode(got)
				if err != nil || !pduEqual(back, &v.pdu) {
					t.Fatalf("Decode(Encode(pdu)) = %+v, %v; want %+v", back, err, v.pdu)
				}
				return
			}
			if want := v.frame(); !bytes.Equal(got, want) {
				t.Fatalf("Encode:\n got % x\nwant % x", got, want)
			}
		})
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, v := range codecVectors {
		t.Run(v.name, func(t *testing.T) {
			// decode -> encode -> decode
			p, err := Decode(v.frame())
			if err != nil {
				t.Fatal(err)
			}
			b, err := Encode(nil, p)
			if err != nil {
				t.Fatalf("Encode(Decode(frame)): %v", err)
			}
			if !v.decodeOnly && !bytes.Equal(b, v.frame()) {
				t.Fatalf("Encode(Decode(frame)) = % x, want % x", b, v.frame())
			}
			q, err := Decode(b)
			if err != nil || !pduEqual(p, q) {
				t.Fatalf("Decode(Encode(Decode(frame))) = %+v, %v; want %+v", q, err, p)
			}
			// encode -> decode
			b, err = Encode(nil, &v.pdu)
			if err != nil {
				t.Fatal(err)
			}
			q, err = Decode(b)
			if err != nil || !pduEqual(q, &v.pdu) {
				t.Fatalf("Decode(Encode(pdu)) = %+v, %v; want %+v", q, err, v.pdu)
			}
		})
	}
}

// roundTripCommands are the commands Encode writes.
var roundTripCommands = []CommandID{BindReceiver, BindTransmitter, BindTransceiver, BindReceiverResp,
	BindTransmitterResp, BindTransceiverResp, SubmitSM, DeliverSM, DataSM, SubmitSMResp,
	DeliverSMResp, DataSMResp, EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack}

// randomPDU fills a PDU of cmd at random, every field inside the limits
// Encode enforces.
func randomPDU(rng *rand.Rand, cmd CommandID) *PDU {
	str := func(max int) string {
		b := make([]byte, rng.Intn(max))
		for i := range b {
			b[i] = byte(1 + rng.Intn(255)) // any octet but NUL
		}
		return string(b)
	}
	u8 := func() byte { return byte(rng.Intn(256)) }
	addr := func(max int) Address { return Address{TON: u8(), NPI: u8(), Addr: str(max)} }
	tlvs := func() TLVs {
		var ts TLVs
		for range rng.Intn(4) {
			v := make([]byte, rng.Intn(300))
			rng.Read(v)
			ts = append(ts, TLV{Tag: Tag(rng.Intn(0x10000)), Value: v})
		}
		return ts
	}
	p := &PDU{Command: cmd, Status: Status(rng.Intn(3)), Seq: rng.Uint32()}
	switch cmd {
	case BindReceiver, BindTransmitter, BindTransceiver:
		p.SystemID, p.Password, p.SystemType = str(maxSystemID), str(maxPassword), str(maxSystemType)
		p.InterfaceVersion = u8()
		p.AddrRange = addr(maxAddrRange)
	case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		p.SystemID, p.TLVs = str(maxSystemID), tlvs()
	case SubmitSM, DeliverSM:
		p.ServiceType, p.Source, p.Dest = str(maxServiceType), addr(maxAddrShort), addr(maxAddrShort)
		p.ESMClass, p.ProtocolID, p.PriorityFlag = u8(), u8(), u8()
		p.ScheduleDeliveryTime, p.ValidityPeriod = str(maxTime), str(maxTime)
		p.RegisteredDelivery, p.ReplaceIfPresent, p.DataCoding, p.SMDefaultMsgID = u8(), u8(), u8(), u8()
		p.ShortMessage = make([]byte, rng.Intn(MaxShortMessage+1))
		rng.Read(p.ShortMessage)
		p.TLVs = tlvs()
	case DataSM:
		p.ServiceType, p.Source, p.Dest = str(maxServiceType), addr(maxAddrLong), addr(maxAddrLong)
		p.ESMClass, p.RegisteredDelivery, p.DataCoding = u8(), u8(), u8()
		p.TLVs = tlvs()
	case SubmitSMResp, DeliverSMResp:
		p.MessageID = str(maxMessageID)
	case DataSMResp:
		p.MessageID, p.TLVs = str(maxMessageID), tlvs()
	}
	if (cmd == SubmitSMResp || cmd == DataSMResp) && p.Status != StatusOK {
		p.MessageID, p.TLVs = "", nil // an error response has no body
	}
	return p
}

// TestCodecRoundTripRandom encodes and decodes randomly filled PDUs of
// every command Encode supports.
func TestCodecRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(34))
	for i := range 2000 {
		p := randomPDU(rng, roundTripCommands[i%len(roundTripCommands)])
		b, err := Encode(nil, p)
		if err != nil {
			t.Fatalf("#%d Encode(%+v): %v", i, p, err)
		}
		q, err := Decode(b)
		if err != nil {
			t.Fatalf("#%d Decode(Encode(%+v)): %v", i, p, err)
		}
		if !pduEqual(p, q) {
			t.Fatalf("#%d round trip:\n got %+v\nwant %+v", i, q, p)
		}
	}
}

// validPrefix reports whether the first n octets of v's frame (with
// command_length patched) are themselves a valid PDU: the header alone
// where an empty body is allowed, or a cut at a TLV boundary.
func validPrefix(v codecVector, n int) bool {
	if n == HeaderLen && v.emptyBodyOK {
		return true
	}
	if v.tlvAt == 0 || n < v.tlvAt {
		return false
	}
	f := v.frame()
	for at := v.tlvAt; at <= n; at += 4 + int(binary.BigEndian.Uint16(f[at+2:])) {
		if at == n {
			return true
		}
	}
	return false
}

func TestCodecEveryProperPrefixFails(t *testing.T) {
	for _, v := range codecVectors {
		t.Run(v.name, func(t *testing.T) {
			full := v.frame()
			want, err := Decode(full)
			if err != nil {
				t.Fatal(err)
			}
			for n := 0; n < len(full); n++ {
				prefix := withLength(full[:n])
				p, err := decodeNoPanic(t, prefix)
				if validPrefix(v, n) {
					// A shorter but complete PDU: the same fields with
					// fewer optional parameters (or none of the body).
					if err != nil {
						t.Errorf("prefix %d: valid shorter PDU refused: %v", n, err)
						continue
					}
					if n > HeaderLen {
						w := *want
						k := 0
						for at := v.tlvAt; at < n; at += 4 + int(binary.BigEndian.Uint16(full[at+2:])) {
							k++
						}
						w.TLVs = want.TLVs[:k]
						if !pduEqual(p, &w) {
							t.Errorf("prefix %d: got %+v, want %+v", n, p, w)
						}
					}
					continue
				}
				if err == nil {
					t.Errorf("prefix of %d/%d octets decoded without error: %+v", n, len(full), p)
					continue
				}
				if n < HeaderLen {
					if p != nil {
						t.Errorf("prefix %d: PDU returned for a frame shorter than a header", n)
					}
					continue
				}
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Errorf("prefix %d: error %T %v, want *DecodeError", n, err, err)
					continue
				}
				if de.Command != v.pdu.Command {
					t.Errorf("prefix %d: DecodeError.Command %s, want %s", n, de.Command, v.pdu.Command)
				}
				if de.Status == StatusOK {
					t.Errorf("prefix %d: DecodeError with ESME_ROK", n)
				}
				if p == nil || p.Command != v.pdu.Command || p.Seq != v.pdu.Seq || p.Status != v.pdu.Status {
					t.Errorf("prefix %d: header not returned with the error: %+v", n, p)
				}
			}
		})
	}
}

func decodeNoPanic(t testing.TB, frame []byte) (p *PDU, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Decode(% x) panicked: %v", frame, r)
		}
	}()
	return Decode(frame)
}

var (
	nul        = []byte{0}
	bindTail   = vecHex("34 00 00 00") // interface_version, addr_ton, addr_npi, address_range ""
	smAfterDst = vecHex("00 00 00 00 00 00 00 00 00")
)

func cstrOf(s string) []byte { return append([]byte(s), 0) }

func TestCodecDecodeMalformed(t *testing.T) {
	smHead := [][]byte{cstrOf(""), {1, 1}, cstrOf("254700000001"), {1, 1}, cstrOf("12345"), smAfterDst}
	cases := []struct {
		name   string
		frame  []byte
		status Status
	}{
		{"system_id_16_octets", frameOf(BindTransceiver, 0, 1,
			cstrOf("abcdefghijklmnop"), cstrOf("pw"), cstrOf(""), bindTail), StatusInvMsgLen},
		{"system_id_40_octets", frameOf(BindTransmitter, 0, 1,
			cstrOf(strings.Repeat("x", 40)), cstrOf("pw"), cstrOf(""), bindTail), StatusInvMsgLen},
		{"system_id_unterminated", frameOf(BindReceiver, 0, 1, []byte("paygate")), StatusInvCmdLen},
		{"password_9_octets", frameOf(BindTransceiver, 0, 1,
			cstrOf("paygate"), cstrOf("123456789"), cstrOf(""), bindTail), StatusInvMsgLen},
		{"password_unterminated", frameOf(BindTransceiver, 0, 1, cstrOf("paygate"), []byte("secret")), StatusInvCmdLen},
		{"system_type_13_octets", frameOf(BindTransceiver, 0, 1,
			cstrOf("paygate"), cstrOf("pw"), cstrOf("ABCDEFGHIJKLM"), bindTail), StatusInvMsgLen},
		{"address_range_41_octets", frameOf(BindTransceiver, 0, 1,
			cstrOf("paygate"), cstrOf("pw"), cstrOf(""), []byte{0x34, 1, 1}, cstrOf(strings.Repeat("9", 41))), StatusInvMsgLen},
		{"bind_missing_address_range", frameOf(BindTransceiver, 0, 1,
			cstrOf("paygate"), cstrOf("pw"), cstrOf(""), []byte{0x34, 1, 1}), StatusInvCmdLen},
		{"bind_trailing_octet", frameOf(BindTransceiver, 0, 1,
			cstrOf("paygate"), cstrOf("pw"), cstrOf(""), bindTail, []byte{0}), StatusInvCmdLen},
		{"bind_resp_ok_without_body", frameOf(BindTransceiverResp, StatusOK, 1), StatusInvCmdLen},
		{"bind_resp_system_id_16_octets", frameOf(BindTransceiverResp, 0, 1, cstrOf("SMSCSMSCSMSCSMSC")), StatusInvMsgLen},
		{"service_type_6_octets", frameOf(SubmitSM, 0, 1, cstrOf("USSDXX"), []byte{1, 1}, cstrOf("1")), StatusInvMsgLen},
		{"source_addr_65_octets", frameOf(DeliverSM, 0, 1, cstrOf(""), []byte{1, 1}, cstrOf(strings.Repeat("1", 65))), StatusInvMsgLen},
		{"validity_17_octets", frameOf(SubmitSM, 0, 1, cstrOf(""), []byte{1, 1}, cstrOf("1"), []byte{1, 1}, cstrOf("2"),
			[]byte{0, 0, 0}, cstrOf(""), cstrOf("000001000000000R0")), StatusInvMsgLen},
		{"sm_length_past_body", frameOf(SubmitSM, 0, 1, append(smHead, []byte{9}, []byte("Hi there"))...), StatusInvMsgLen},
		{"sm_length_255_past_body", frameOf(DeliverSM, 0, 1, append(smHead, []byte{255}, []byte("x"))...), StatusInvMsgLen},
		{"sm_length_255_with_255_octets", frameOf(DeliverSM, 0, 1, append(smHead, []byte{255}, bytes.Repeat([]byte{'x'}, 255))...), StatusInvMsgLen},
		{"sm_length_missing", frameOf(SubmitSM, 0, 1, smHead[:5]...), StatusInvCmdLen},
		{"tlv_length_past_body", frameOf(SubmitSM, 0, 1, append(smHead, []byte{0}, vecHex("0424 0006 68656c6c6f"))...), StatusInvOptParStrem},
		{"tlv_length_ffff", frameOf(DeliverSM, 0, 1, append(smHead, []byte{0}, vecHex("0501 ffff 01"))...), StatusInvOptParStrem},
		{"tlv_header_truncated", frameOf(SubmitSM, 0, 1, append(smHead, []byte{0}, vecHex("0501 00"))...), StatusInvOptParStrem},
		{"tlv_after_good_tlv_truncated", frameOf(DataSM, 0, 1, cstrOf(""), []byte{1, 1}, cstrOf("1"), []byte{1, 1}, cstrOf("2"),
			[]byte{0, 0, 0}, vecHex("0424 0001 41 0501 0002 01")), StatusInvOptParStrem},
		{"data_sm_resp_tlv_past_body", frameOf(DataSMResp, 0, 1, cstrOf("abc"), vecHex("0425 0002 00")), StatusInvOptParStrem},
		{"enquire_link_trailing_octets", frameOf(EnquireLink, 0, 7, vecHex("0000 0000")), StatusInvCmdLen},
		{"enquire_link_resp_trailing_octet", frameOf(EnquireLinkResp, 0, 7, nul), StatusInvCmdLen},
		{"unbind_trailing_octet", frameOf(Unbind, 0, 7, nul), StatusInvCmdLen},
		{"unbind_resp_trailing_octet", frameOf(UnbindResp, 0, 7, nul), StatusInvCmdLen},
		{"generic_nack_trailing_octet", frameOf(GenericNack, 3, 7, nul), StatusInvCmdLen},
		{"submit_sm_resp_ok_without_body", frameOf(SubmitSMResp, StatusOK, 1), StatusInvCmdLen},
		{"submit_sm_resp_message_id_unterminated", frameOf(SubmitSMResp, StatusOK, 1, []byte("abc")), StatusInvCmdLen},
		{"submit_sm_resp_message_id_65_octets", frameOf(SubmitSMResp, StatusOK, 1, cstrOf(strings.Repeat("m", 65))), StatusInvMsgLen},
		{"submit_sm_resp_trailing_octets", frameOf(SubmitSMResp, StatusOK, 1, cstrOf("abc"), vecHex("0425 0001 00")), StatusInvCmdLen},
		{"deliver_sm_resp_trailing_octet", frameOf(DeliverSMResp, StatusOK, 1, cstrOf(""), nul), StatusInvCmdLen},
		{"data_sm_resp_ok_without_body", frameOf(DataSMResp, StatusOK, 1), StatusInvCmdLen},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := CommandID(binary.BigEndian.Uint32(c.frame[4:]))
			p, err := decodeNoPanic(t, c.frame)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode = %+v, %v; want *DecodeError", p, err)
			}
			if de.Command != cmd || de.Status != c.status {
				t.Fatalf("DecodeError{Command: %s, Status: %s} (%v), want %s, %s", de.Command, de.Status, err, cmd, c.status)
			}
			if p == nil || p.Command != cmd || p.Seq != binary.BigEndian.Uint32(c.frame[12:]) {
				t.Fatalf("header not returned with the error: %+v", p)
			}
		})
	}
}

// The largest fields SMPP 3.4 allows decode; the octet more is refused
// above.
func TestCodecDecodeLimits(t *testing.T) {
	f := frameOf(BindTransceiver, 0, 1, cstrOf("abcdefghijklmno"), cstrOf("12345678"), cstrOf("ABCDEFGHIJKL"),
		[]byte{0x34, 1, 1}, cstrOf(strings.Repeat("9", 40)))
	p, err := Decode(f)
	if err != nil || p.SystemID != "abcdefghijklmno" || p.Password != "12345678" ||
		p.SystemType != "ABCDEFGHIJKL" || len(p.AddrRange.Addr) != 40 {
		t.Fatalf("Decode = %+v, %v", p, err)
	}
	long := strings.Repeat("1", 64)
	f = frameOf(DataSM, 0, 1, cstrOf("ABCDE"), []byte{1, 1}, cstrOf(long), []byte{1, 1}, cstrOf(long), []byte{0, 0, 0})
	if p, err = Decode(f); err != nil || p.Source.Addr != long || p.Dest.Addr != long || p.ServiceType != "ABCDE" {
		t.Fatalf("Decode(data_sm) = %+v, %v", p, err)
	}
	msg := bytes.Repeat([]byte{0xA5}, MaxShortMessage)
	f = frameOf(DeliverSM, 0, 1, cstrOf(""), []byte{1, 1}, cstrOf("1"), []byte{1, 1}, cstrOf("2"), smAfterDst,
		[]byte{MaxShortMessage}, msg)
	if p, err = Decode(f); err != nil || !bytes.Equal(p.ShortMessage, msg) {
		t.Fatalf("Decode(deliver_sm with 254-octet short_message) = %+v, %v", p, err)
	}
	f = frameOf(SubmitSMResp, 0, 1, cstrOf(strings.Repeat("m", 64)))
	if p, err = Decode(f); err != nil || len(p.MessageID) != 64 {
		t.Fatalf("Decode(submit_sm_resp with 64-octet message_id) = %+v, %v", p, err)
	}
}

func TestCodecDecodeUnknownCommand(t *testing.T) {
	for _, cmd := range []CommandID{0x00000099, 0x7FFFFFFF, QuerySM, QuerySMResp, ReplaceSM, CancelSM,
		SubmitMulti, SubmitMultiResp, Outbind, 0x80000103 + 1} {
		t.Run(cmd.String(), func(t *testing.T) {
			f := frameOf(cmd, 0x12345678, 0x0A0B0C0D, []byte("anything\x00"))
			p, err := decodeNoPanic(t, f)
			if !errors.Is(err, ErrUnknownCommand) {
				t.Fatalf("err = %v, want ErrUnknownCommand", err)
			}
			if p == nil || p.Command != cmd || p.Status != 0x12345678 || p.Seq != 0x0A0B0C0D {
				t.Fatalf("header fields not filled: %+v", p)
			}
		})
	}
}

func TestCodecDecodeBadLength(t *testing.T) {
	good := vecHex(`00000010 00000015 00000000 00000007`)
	for _, c := range []struct {
		name  string
		frame []byte
	}{
		{"nil", nil},
		{"15_octets", good[:15]},
		{"length_larger_than_frame", vecHex(`00000011 00000015 00000000 00000007`)},
		{"length_smaller_than_frame", vecHex(`00000010 00000015 00000000 00000007 00`)},
		{"length_zero", vecHex(`00000000 00000015 00000000 00000007`)},
		{"length_ffffffff", vecHex(`ffffffff 00000015 00000000 00000007`)},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := decodeNoPanic(t, c.frame)
			if err == nil {
				t.Fatalf("Decode = %+v, want an error", p)
			}
			if p != nil {
				t.Fatalf("PDU %+v returned for a frame whose length is wrong", p)
			}
		})
	}
}

func TestCodecDecodeSharesNoMemory(t *testing.T) {
	for _, v := range codecVectors {
		f := v.frame()
		p, err := Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		for i := HeaderLen; i < len(f); i++ {
			f[i] ^= 0xFF
		}
		if !pduEqual(p, &v.pdu) {
			t.Errorf("%s: decoded PDU changed with the frame: %+v", v.name, p)
		}
	}
}

func TestCodecEncodeRefuses(t *testing.T) {
	sm := func(n int) []byte { return bytes.Repeat([]byte{'A'}, n) }
	cases := []struct {
		name string
		pdu  PDU
	}{
		{"submit_sm_short_message_255", PDU{Command: SubmitSM, ShortMessage: sm(255)}},
		{"submit_sm_short_message_300", PDU{Command: SubmitSM, ShortMessage: sm(300)}},
		{"deliver_sm_short_message_256", PDU{Command: DeliverSM, ShortMessage: sm(256)}},
		{"deliver_sm_short_message_511", PDU{Command: DeliverSM, ShortMessage: sm(511)}},
		{"system_id_nul", PDU{Command: BindTransceiver, SystemID: "pay\x00gate"}},
		{"password_nul", PDU{Command: BindTransmitter, SystemID: "paygate", Password: "\x00"}},
		{"system_type_nul", PDU{Command: BindReceiver, SystemType: "V\x00"}},
		{"address_range_nul", PDU{Command: BindReceiver, AddrRange: Address{Addr: "25\x004"}}},
		{"bind_resp_system_id_nul", PDU{Command: BindTransceiverResp, SystemID: "a\x00"}},
		{"service_type_nul", PDU{Command: SubmitSM, ServiceType: "\x00"}},
		{"source_addr_nul", PDU{Command: SubmitSM, Source: Address{Addr: "2547\x00"}}},
		{"destination_addr_nul", PDU{Command: DeliverSM, Dest: Address{Addr: "\x00254"}}},
		{"schedule_delivery_time_nul", PDU{Command: SubmitSM, ScheduleDeliveryTime: "0\x00"}},
		{"validity_period_nul", PDU{Command: SubmitSM, ValidityPeriod: "000001000000000\x00"}},
		{"data_sm_source_nul", PDU{Command: DataSM, Source: Address{Addr: "1\x002"}}},
		{"message_id_nul", PDU{Command: SubmitSMResp, MessageID: "id\x00"}},
		{"deliver_sm_resp_message_id_nul", PDU{Command: DeliverSMResp, MessageID: "\x00"}},
		{"data_sm_resp_message_id_nul", PDU{Command: DataSMResp, MessageID: "\x00"}},
		{"system_id_16", PDU{Command: BindTransceiver, SystemID: "abcdefghijklmnop"}},
		{"password_9", PDU{Command: BindTransceiver, Password: "123456789"}},
		{"system_type_13", PDU{Command: BindTransceiver, SystemType: "ABCDEFGHIJKLM"}},
		{"address_range_41", PDU{Command: BindTransceiver, AddrRange: Address{Addr: strings.Repeat("9", 41)}}},
		{"bind_resp_system_id_16", PDU{Command: BindReceiverResp, SystemID: "abcdefghijklmnop"}},
		{"service_type_6", PDU{Command: SubmitSM, ServiceType: "USSDXX"}},
		{"submit_sm_source_21", PDU{Command: SubmitSM, Source: Address{Addr: strings.Repeat("1", 21)}}},
		{"deliver_sm_dest_21", PDU{Command: DeliverSM, Dest: Address{Addr: strings.Repeat("1", 21)}}},
		{"data_sm_source_65", PDU{Command: DataSM, Source: Address{Addr: strings.Repeat("1", 65)}}},
		{"schedule_delivery_time_17", PDU{Command: SubmitSM, ScheduleDeliveryTime: "000001000000000R0"}},
		{"validity_period_17", PDU{Command: DeliverSM, ValidityPeriod: "000001000000000R0"}},
		{"message_id_65", PDU{Command: SubmitSMResp, MessageID: strings.Repeat("m", 65)}},
		{"tlv_65536", PDU{Command: SubmitSM, TLVs: TLVs{{Tag: TagMessagePayload, Value: make([]byte, 0x10000)}}}},
		{"data_sm_resp_tlv_65536", PDU{Command: DataSMResp, TLVs: TLVs{{Tag: 0x0425, Value: make([]byte, 0x10000)}}}},
		{"query_sm_unsupported", PDU{Command: QuerySM}},
		{"alert_notification_unsupported", PDU{Command: AlertNotification}},
		{"unknown_command", PDU{Command: 0x00000099}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := []byte("prefix")
			out, err := Encode(buf, &c.pdu)
			var ee *EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("Encode = % x, %v; want *EncodeError", out, err)
			}
			if ee.Command != c.pdu.Command {
				t.Fatalf("EncodeError.Command = %s, want %s", ee.Command, c.pdu.Command)
			}
			if string(out) != "prefix" {
				t.Fatalf("Encode left %q in buf, want it as it was", out)
			}
		})
	}
}

func TestCodecEncodeLimitsAccepted(t *testing.T) {
	for _, p := range []PDU{
		{Command: BindTransceiver, SystemID: "abcdefghijklmno", Password: "12345678", SystemType: "ABCDEFGHIJKL",
			AddrRange: Address{Addr: strings.Repeat("9", 40)}},
		{Command: SubmitSM, ServiceType: "USSDX", Source: Address{Addr: strings.Repeat("1", 20)},
			Dest: Address{Addr: strings.Repeat("2", 20)}, ScheduleDeliveryTime: "000001000000000R",
			ValidityPeriod: "000001000000000R", ShortMessage: make([]byte, MaxShortMessage),
			TLVs: TLVs{{Tag: TagMessagePayload, Value: make([]byte, 0xFFFF)}}},
		{Command: DataSM, Source: Address{Addr: strings.Repeat("1", 64)}, Dest: Address{Addr: strings.Repeat("2", 64)}},
		{Command: SubmitSMResp, MessageID: strings.Repeat("m", 64)},
	} {
		b, err := Encode(nil, &p)
		if err != nil {
			t.Fatalf("Encode(%s at its limits): %v", p.Command, err)
		}
		q, err := Decode(b)
		if err != nil || !pduEqual(q, &p) {
			t.Fatalf("Decode(Encode(%s at its limits)) = %v", p.Command, err)
		}
	}
}

// smLengthOffset is where sm_length sits in an encoded submit_sm or
// deliver_sm whose C-strings are all empty: header, service_type (1),
// two addresses (2+1 each), three octets, two times (1 each), four octets.
const smLengthOffset = HeaderLen + 1 + 3 + 3 + 3 + 1 + 1 + 4

func TestCodecSMLengthOnWire(t *testing.T) {
	for _, cmd := range []CommandID{SubmitSM, DeliverSM} {
		for _, n := range []int{0, 1, 140, 254} {
			t.Run(fmt.Sprintf("%s_%d", cmd, n), func(t *testing.T) {
				msg := make([]byte, n)
				for i := range msg {
					msg[i] = byte(i)
				}
				p := &PDU{Command: cmd, Seq: 1, ShortMessage: msg}
				b, err := Encode(nil, p)
				if err != nil {
					t.Fatal(err)
				}
				if got := int(b[smLengthOffset]); got != n {
					t.Fatalf("sm_length on the wire = %d, want %d", got, n)
				}
				if len(b) != smLengthOffset+1+n {
					t.Fatalf("frame of %d octets, want %d", len(b), smLengthOffset+1+n)
				}
				if !bytes.Equal(b[smLengthOffset+1:], msg) {
					t.Fatal("short_message octets differ")
				}
				q, err := Decode(b)
				if err != nil || !pduEqual(p, q) {
					t.Fatalf("Decode = %+v, %v", q, err)
				}
			})
		}
	}
}

func TestCodecEncodeAppends(t *testing.T) {
	v := codecVectors[0]
	buf := append(make([]byte, 0, 4), "abc"...)
	out, err := Encode(buf, &v.pdu)
	if err != nil {
		t.Fatal(err)
	}
	if string(out[:3]) != "abc" || !bytes.Equal(out[3:], v.frame()) {
		t.Fatalf("Encode appended % x", out)
	}
	// A second PDU after the first: command_length is the second's own.
	out, err = Encode(out, &PDU{Command: EnquireLink, Seq: 9})
	if err != nil {
		t.Fatal(err)
	}
	if tail := out[3+len(v.frame()):]; !bytes.Equal(tail, vecHex(`00000010 00000015 00000000 00000009`)) {
		t.Fatalf("second PDU % x", tail)
	}
}

func TestCodecErrorStrings(t *testing.T) {
	de := &DecodeError{Command: SubmitSM, Status: StatusInvMsgLen, Reason: "x"}
	if s := de.Error(); !strings.Contains(s, "submit_sm") {
		t.Errorf("DecodeError.Error() = %q", s)
	}
	ee := &EncodeError{Command: DataSM, Reason: "y"}
	if s := ee.Error(); !strings.Contains(s, "data_sm") {
		t.Errorf("EncodeError.Error() = %q", s)
	}
	// Encode errors never echo field contents (passwords end up in logs).
	_, err := Encode(nil, &PDU{Command: BindTransceiver, Password: "hunter2-secret"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("Encode error %v", err)
	}
}
