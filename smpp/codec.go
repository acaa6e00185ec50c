package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Maximum sizes of C-octet strings including the terminating NUL
// (SMPP 3.4 §4). Addresses in data_sm may be 65 octets; we accept that
// size for every address field on decode and enforce 21 on encode of
// submit_sm and deliver_sm.
const (
	maxSystemID    = 16
	maxPassword    = 9
	maxSystemType  = 13
	maxAddrRange   = 41
	maxServiceType = 6
	maxAddrShort   = 21
	maxAddrLong    = 65
	maxTime        = 17
	maxMessageID   = 65

	// MaxShortMessage is the largest short_message (SMPP 3.4 §5.2.22);
	// longer payloads go in message_payload.
	MaxShortMessage = 254
)

// DecodeError is a PDU whose body does not follow SMPP 3.4. Status is the
// command_status to answer a request with.
type DecodeError struct {
	Command CommandID
	Status  Status
	Reason  string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("smpp: malformed %s: %s", e.Command, e.Reason)
}

// ErrUnknownCommand is returned by Decode for a command id this package
// does not decode. The header fields of the returned PDU are valid.
var ErrUnknownCommand = errors.New("smpp: unknown command id")

// errShortFrame is a frame shorter than a header.
var errShortFrame = errors.New("smpp: frame shorter than a header")

// Decode decodes one whole frame (header included, exactly command_length
// octets). Every field is bounded by the frame: a truncated body, an
// unterminated or overlong C-octet string, an sm_length past the end, a
// TLV past the end, or trailing octets where none may be, is a
// *DecodeError. The returned PDU shares no memory with frame.
func Decode(frame []byte) (*PDU, error) {
	if len(frame) < HeaderLen {
		return nil, errShortFrame
	}
	if l := binary.BigEndian.Uint32(frame); int(l) != len(frame) || l < HeaderLen {
		return nil, fmt.Errorf("smpp: command_length %d does not match frame of %d octets", l, len(frame))
	}
	p := &PDU{
		Command: CommandID(binary.BigEndian.Uint32(frame[4:])),
		Status:  Status(binary.BigEndian.Uint32(frame[8:])),
		Seq:     binary.BigEndian.Uint32(frame[12:]),
	}
	d := decoder{b: frame[HeaderLen:], cmd: p.Command}
	switch p.Command {
	case BindReceiver, BindTransmitter, BindTransceiver:
		p.SystemID = d.cstring(maxSystemID, "system_id")
		p.Password = d.cstring(maxPassword, "password")
		p.SystemType = d.cstring(maxSystemType, "system_type")
		p.InterfaceVersion = d.byte("interface_version")
		p.AddrRange = d.address(maxAddrRange, "address_range")
		d.end()
	case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		if d.empty() && p.Status != StatusOK {
			break
		}
		p.SystemID = d.cstring(maxSystemID, "system_id")
		p.TLVs = d.tlvs()
	case SubmitSM, DeliverSM:
		p.ServiceType = d.cstring(maxServiceType, "service_type")
		p.Source = d.address(maxAddrLong, "source_addr")
		p.Dest = d.address(maxAddrLong, "destination_addr")
		p.ESMClass = d.byte("esm_class")
		p.ProtocolID = d.byte("protocol_id")
		p.PriorityFlag = d.byte("priority_flag")
		p.ScheduleDeliveryTime = d.cstring(maxTime, "schedule_delivery_time")
		p.ValidityPeriod = d.cstring(maxTime, "validity_period")
		p.RegisteredDelivery = d.byte("registered_delivery")
		p.ReplaceIfPresent = d.byte("replace_if_present_flag")
		p.DataCoding = d.byte("data_coding")
		p.SMDefaultMsgID = d.byte("sm_default_msg_id")
		n := int(d.byte("sm_length"))
		if n > MaxShortMessage {
			d.fail(StatusInvMsgLen, "sm_length %d above %d", n, MaxShortMessage)
		}
		p.ShortMessage = d.bytes(n, "short_message")
		p.TLVs = d.tlvs()
	case DataSM:
		p.ServiceType = d.cstring(maxServiceType, "service_type")
		p.Source = d.address(maxAddrLong, "source_addr")
		p.Dest = d.address(maxAddrLong, "destination_addr")
		p.ESMClass = d.byte("esm_class")
		p.RegisteredDelivery = d.byte("registered_delivery")
		p.DataCoding = d.byte("data_coding")
		p.TLVs = d.tlvs()
	case SubmitSMResp, DeliverSMResp, DataSMResp:
		// An error response may omit the body (SMPP 3.4 §4.4.2).
		if d.empty() && (p.Status != StatusOK || p.Command == DeliverSMResp) {
			break
		}
		p.MessageID = d.cstring(maxMessageID, "message_id")
		if p.Command == DataSMResp {
			p.TLVs = d.tlvs()
		} else {
			d.end()
		}
	case EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack:
		d.end()
	case AlertNotification:
		// Informational; answered by nothing and not acted on. Its body
		// is not needed.
	default:
		return p, ErrUnknownCommand
	}
	if d.err != nil {
		return p, d.err
	}
	return p, nil
}

type decoder struct {
	b   []byte
	cmd CommandID
	err error
}

func (d *decoder) fail(status Status, format string, args ...any) {
	if d.err == nil {
		d.err = &DecodeError{Command: d.cmd, Status: status, Reason: fmt.Sprintf(format, args...)}
	}
	d.b = nil
}

func (d *decoder) empty() bool { return len(d.b) == 0 }

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail(StatusInvCmdLen, "truncated at %s", field)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) cstring(max int, field string) string {
	if d.err != nil {
		return ""
	}
	limit := min(max, len(d.b))
	i := bytes.IndexByte(d.b[:limit], 0)
	if i < 0 {
		if len(d.b) < max {
			d.fail(StatusInvCmdLen, "truncated at %s", field)
		} else {
			d.fail(StatusInvMsgLen, "%s longer than %d octets", field, max-1)
		}
		return ""
	}
	s := string(d.b[:i])
	d.b = d.b[i+1:]
	return s
}

func (d *decoder) address(max int, field string) Address {
	ton := d.byte(field + "_ton")
	npi := d.byte(field + "_npi")
	return Address{TON: ton, NPI: npi, Addr: d.cstring(max, field)}
}

func (d *decoder) bytes(n int, field string) []byte {
	if d.err != nil {
		return nil
	}
	if n > len(d.b) {
		d.fail(StatusInvMsgLen, "%s of %d octets past the end of the PDU", field, n)
		return nil
	}
	if n == 0 {
		return nil
	}
	v := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) tlvs() TLVs {
	var ts TLVs
	for d.err == nil && len(d.b) > 0 {
		if len(d.b) < 4 {
			d.fail(StatusInvOptParStrem, "truncated optional parameter header")
			return nil
		}
		tag := Tag(binary.BigEndian.Uint16(d.b))
		n := int(binary.BigEndian.Uint16(d.b[2:]))
		if n > len(d.b)-4 {
			d.fail(StatusInvOptParStrem, "optional parameter 0x%04X of %d octets past the end of the PDU", uint16(tag), n)
			return nil
		}
		ts = append(ts, TLV{Tag: tag, Value: bytes.Clone(d.b[4 : 4+n])})
		d.b = d.b[4+n:]
	}
	return ts
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) > 0 {
		d.fail(StatusInvCmdLen, "%d unexpected octets after the body", len(d.b))
	}
}

// EncodeError is a PDU that cannot be put on the wire as given.
type EncodeError struct {
	Command CommandID
	Reason  string
}

func (e *EncodeError) Error() string {
	return fmt.Sprintf("smpp: cannot encode %s: %s", e.Command, e.Reason)
}

// Encode appends the wire form of p, header included, to buf. It refuses
// fields that do not fit their SMPP 3.4 sizes; sm_length is always the
// length of ShortMessage, at most MaxShortMessage.
func Encode(buf []byte, p *PDU) ([]byte, error) {
	if buf == nil {
		n := 128 + len(p.ShortMessage)
		for _, t := range p.TLVs {
			n += 4 + len(t.Value)
		}
		buf = make([]byte, 0, n)
	}
	start := len(buf)
	buf = binary.BigEndian.AppendUint32(buf, 0) // command_length, set below
	buf = binary.BigEndian.AppendUint32(buf, uint32(p.Command))
	buf = binary.BigEndian.AppendUint32(buf, uint32(p.Status))
	buf = binary.BigEndian.AppendUint32(buf, p.Seq)
	e := encoder{b: buf, cmd: p.Command}
	switch p.Command {
	case BindReceiver, BindTransmitter, BindTransceiver:
		e.cstring(p.SystemID, maxSystemID, "system_id")
		e.cstring(p.Password, maxPassword, "password")
		e.cstring(p.SystemType, maxSystemType, "system_type")
		e.b = append(e.b, p.InterfaceVersion)
		e.address(p.AddrRange, maxAddrRange, "address_range")
	case BindReceiverResp, BindTransmitterResp, BindTransceiverResp:
		e.cstring(p.SystemID, maxSystemID, "system_id")
		e.tlvs(p.TLVs)
	case SubmitSM, DeliverSM:
		if len(p.ShortMessage) > MaxShortMessage {
			e.fail("short_message of %d octets; use message_payload above %d", len(p.ShortMessage), MaxShortMessage)
		}
		e.cstring(p.ServiceType, maxServiceType, "service_type")
		e.address(p.Source, maxAddrShort, "source_addr")
		e.address(p.Dest, maxAddrShort, "destination_addr")
		e.b = append(e.b, p.ESMClass, p.ProtocolID, p.PriorityFlag)
		e.cstring(p.ScheduleDeliveryTime, maxTime, "schedule_delivery_time")
		e.cstring(p.ValidityPeriod, maxTime, "validity_period")
		e.b = append(e.b, p.RegisteredDelivery, p.ReplaceIfPresent, p.DataCoding, p.SMDefaultMsgID, byte(len(p.ShortMessage)))
		e.b = append(e.b, p.ShortMessage...)
		e.tlvs(p.TLVs)
	case DataSM:
		e.cstring(p.ServiceType, maxServiceType, "service_type")
		e.address(p.Source, maxAddrLong, "source_addr")
		e.address(p.Dest, maxAddrLong, "destination_addr")
		e.b = append(e.b, p.ESMClass, p.RegisteredDelivery, p.DataCoding)
		e.tlvs(p.TLVs)
	case SubmitSMResp, DataSMResp:
		// An error response has no body (SMPP 3.4 §4.4.2, §4.7.2).
		if p.Status != StatusOK {
			break
		}
		e.cstring(p.MessageID, maxMessageID, "message_id")
		if p.Command == DataSMResp {
			e.tlvs(p.TLVs)
		}
	case DeliverSMResp:
		e.cstring(p.MessageID, maxMessageID, "message_id") // unused: NULL
	case EnquireLink, EnquireLinkResp, Unbind, UnbindResp, GenericNack:
	default:
		e.fail("unsupported command")
	}
	if e.err != nil {
		return buf[:start], e.err
	}
	binary.BigEndian.PutUint32(e.b[start:], uint32(len(e.b)-start))
	return e.b, nil
}

type encoder struct {
	b   []byte
	cmd CommandID
	err error
}

func (e *encoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = &EncodeError{Command: e.cmd, Reason: fmt.Sprintf(format, args...)}
	}
}

func (e *encoder) cstring(s string, max int, field string) {
	if len(s) > max-1 {
		e.fail("%s longer than %d octets", field, max-1)
	}
	if strings.IndexByte(s, 0) >= 0 {
		e.fail("%s contains NUL", field)
	}
	e.b = append(e.b, s...)
	e.b = append(e.b, 0)
}

func (e *encoder) address(a Address, max int, field string) {
	e.b = append(e.b, a.TON, a.NPI)
	e.cstring(a.Addr, max, field)
}

func (e *encoder) tlvs(ts TLVs) {
	for _, t := range ts {
		if len(t.Value) > 0xFFFF {
			e.fail("optional parameter 0x%04X longer than 65535 octets", uint16(t.Tag))
			return
		}
		e.b = binary.BigEndian.AppendUint16(e.b, uint16(t.Tag))
		e.b = binary.BigEndian.AppendUint16(e.b, uint16(len(t.Value)))
		e.b = append(e.b, t.Value...)
	}
}
