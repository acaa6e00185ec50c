package smpp

import "encoding/binary"

// Delivery is an inbound deliver_sm or data_sm handed to a Handler.
type Delivery struct {
	Bind string // Config.Name of the bind it came on
	PDU  *PDU
}

// identityTLVs are the optional parameters that tell one message from
// another: the payload when it travels outside short_message, SAR
// concatenation, and the USSD operation and session.
var identityTLVs = []Tag{
	TagMessagePayload, TagSarMsgRefNum, TagSarTotalSegments, TagSarSegmentSeqnum,
	TagUSSDServiceOp, TagITSSessionInfo, TagUserMessageReference,
}

// Identity returns a canonical encoding of what makes this message this
// message — bind, source, destination, data_coding, the UDH indicator,
// short_message (with its UDH, so concatenation reference and part
// number count) and the identityTLVs — and nothing that changes when an
// SMSC delivers the same message again (sequence number, other TLVs).
// Two deliveries with equal identities are one message delivered twice.
// It may contain a PIN or a code in clear: keep it out of logs and store
// only a keyed hash of it.
func (d *Delivery) Identity() []byte {
	p := d.PDU
	b := make([]byte, 0, 64+len(p.ShortMessage))
	field := func(v []byte) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...)
	}
	b = field([]byte(d.Bind))
	b = append(b, p.Source.TON, p.Source.NPI)
	b = field([]byte(p.Source.Addr))
	b = append(b, p.Dest.TON, p.Dest.NPI)
	b = field([]byte(p.Dest.Addr))
	b = append(b, p.DataCoding, p.ESMClass&esmUDHI)
	b = field(p.ShortMessage)
	for _, tag := range identityTLVs {
		if v, ok := p.TLVs.Get(tag); ok {
			b = binary.BigEndian.AppendUint16(b, uint16(tag))
			b = field(v)
		}
	}
	return b
}

// esm_class bits (SMPP 3.4 §5.2.12).
const (
	esmUDHI    = 0x40 // short_message begins with a user data header
	esmReceipt = 0x04 // the message is an SMSC delivery receipt
)
