package smpp

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"
)

// esm_class bits (SMPP 3.4 §5.2.12).
const (
	esmUDHI        = 0x40 // the user data begins with a user data header
	esmTypeMask    = 0x3C
	esmReceipt     = 0x04 // SMSC delivery receipt
	esmIntermedRcp = 0x20 // intermediate delivery notification
)

// Delivery is an inbound deliver_sm or data_sm handed to a Handler: one
// whole message, reassembled when it came in parts.
type Delivery struct {
	Bind string // Config.Name of the bind it came on
	// PDU is the deliver_sm or data_sm; for a message that came in parts,
	// the one whose arrival completed it.
	PDU *PDU
	// Coding is the data_coding of the user data.
	Coding Coding
	// Payload is the whole message's user data without any UDH: from
	// short_message, or message_payload when short_message is empty, and
	// the parts joined in order for a concatenated message.
	Payload []byte
	// Parts is the number of parts the message came in (1 if not
	// concatenated); Concat is their concatenation header.
	Parts  int
	Concat UDH
	// USSDSession is the TLV that carries the carrier's USSD session id on
	// this bind (Config.USSDSession).
	USSDSession Tag
}

// NewDelivery makes the Delivery of one deliver_sm or data_sm received on
// bind, splitting its user data into UDH and payload. A UDH that does not
// parse leaves the user data whole as the payload: the message is still
// handed up and answered.
func NewDelivery(bind string, p *PDU) *Delivery {
	d := &Delivery{Bind: bind, PDU: p, Coding: Coding(p.DataCoding), Parts: 1, USSDSession: TagITSSessionInfo}
	ud := p.ShortMessage
	if len(ud) == 0 {
		ud, _ = p.TLVs.Get(TagMessagePayload)
	}
	d.Payload = ud
	if p.ESMClass&esmUDHI != 0 {
		if h, payload, err := ParseUDH(ud); err == nil {
			d.Payload = payload
			if h.Concat && h.Total > 1 {
				d.Concat = h
				d.Parts = int(h.Total)
			}
		}
	}
	return d
}

// Text returns the message decoded by its data_coding.
func (d *Delivery) Text() string { return DecodeText(d.Coding, d.Payload) }

// IsReceipt reports whether the message is an SMSC delivery receipt or
// intermediate notification rather than a message from a phone.
func (d *Delivery) IsReceipt() bool {
	t := d.PDU.ESMClass & esmTypeMask
	return t == esmReceipt || t == esmIntermedRcp
}

// Receipt returns the delivery receipt the message carries: from the
// receipted_message_id and message_state TLVs where present (SMPP 3.4
// §5.3.2.12, §5.3.2.35), filled in or replaced by the Appendix B text.
func (d *Delivery) Receipt() (Receipt, bool) {
	if !d.IsReceipt() {
		return Receipt{}, false
	}
	r, err := ParseReceipt(d.Text())
	textOK := err == nil
	if id, ok := d.PDU.TLVs.Get(TagReceiptedMessageID); ok {
		r.ID = string(bytes.TrimRight(id, "\x00"))
		if st, ok := d.PDU.TLVs.Uint(TagMessageState); ok {
			r.State = MessageState(st)
		}
		return r, r.ID != ""
	}
	return r, textOK && r.ID != ""
}

// USSD is the USSD part of a message (SPEC §4): the ussd_service_op and
// the carrier's session id, in the TLV the bind names.
type USSD struct {
	Op      byte
	Session []byte
}

// USSD operations (ussd_service_op, SMPP 3.4 §5.3.2.44 as used by
// carriers' USSD gateways).
const (
	USSDPSSRIndication byte = 0x01 // the user dialled a service code
	USSDUSSRRequest    byte = 0x02 // we ask and wait for an answer
	USSDPSSRResponse   byte = 0x11 // we answer and end the session (17)
	USSDUSSRConfirm    byte = 0x12 // the user answered (18)
)

// USSD returns the message's USSD operation and session id, read from
// the bind's session TLV (d.USSDSession). ok is false for a message that
// is not USSD.
func (d *Delivery) USSD() (USSD, bool) {
	op, ok := d.PDU.TLVs.Uint(TagUSSDServiceOp)
	if !ok && !strings.EqualFold(d.PDU.ServiceType, "USSD") {
		return USSD{}, false
	}
	s, _ := d.PDU.TLVs.Get(d.USSDSession)
	return USSD{Op: byte(op), Session: s}, true
}

// SetUSSD makes p a USSD message: service_type "USSD", ussd_service_op op,
// and the session id echoed back unchanged in sessionTag.
func (p *PDU) SetUSSD(op byte, sessionTag Tag, session []byte) {
	p.ServiceType = "USSD"
	p.TLVs.SetUint8(TagUSSDServiceOp, op)
	if session != nil {
		p.TLVs.Set(sessionTag, session)
	}
}

// identityTLVs are the optional parameters that tell one message from
// another besides its user data: SAR concatenation, and the USSD
// operation and session.
var identityTLVs = []Tag{
	TagSarMsgRefNum, TagSarTotalSegments, TagSarSegmentSeqnum,
	TagUSSDServiceOp, TagITSSessionInfo, TagUserMessageReference,
}

// Identity returns a canonical encoding of what makes this message this
// message — bind, source, destination, data_coding, the concatenation
// reference and part count, the payload (the whole message's, for one
// that came in parts) and the identityTLVs — and nothing that changes
// when an SMSC delivers the same message again (sequence number, other
// TLVs). Two deliveries with equal identities are one message delivered
// twice. It may contain a PIN or a code in clear: keep it out of logs and
// store only a keyed hash of it.
func (d *Delivery) Identity() []byte {
	p := d.PDU
	b := make([]byte, 0, 64+len(d.Payload))
	field := func(v []byte) []byte {
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		return append(b, v...)
	}
	b = field([]byte(d.Bind))
	b = append(b, p.Source.TON, p.Source.NPI)
	b = field([]byte(p.Source.Addr))
	b = append(b, p.Dest.TON, p.Dest.NPI)
	b = field([]byte(p.Dest.Addr))
	b = append(b, p.DataCoding, p.ESMClass&esmUDHI, byte(d.Parts))
	if d.Parts > 1 {
		b = binary.BigEndian.AppendUint16(b, d.Concat.Ref)
	}
	b = field(d.Payload)
	for _, tag := range identityTLVs {
		if v, ok := p.TLVs.Get(tag); ok {
			b = binary.BigEndian.AppendUint16(b, uint16(tag))
			b = field(v)
		}
	}
	return b
}

// PartStore keeps the parts of concatenated messages between their
// deliveries. The client acknowledges a part ESME_ROK as soon as AddPart
// returns without error, so a store that must survive a restart (the
// gateway's) persists the part before it returns. A completed message's
// parts stay until Forget, which the client calls only once the Handler
// accepted the message: a refused message completes again when the SMSC
// delivers its last part again, and a crash between the two cannot lose
// parts that were acknowledged. Implementations are safe for concurrent
// use.
type PartStore interface {
	// AddPart records part seq of the message key. Once every part is
	// held it returns their payloads in order and complete true (again on
	// every later call until Forget). A part it already holds is not an
	// error.
	AddPart(ctx context.Context, key PartKey, seq uint8, payload []byte) (parts [][]byte, complete bool, err error)
	// Forget drops the parts of a message that has been handled.
	Forget(ctx context.Context, key PartKey) error
}

// MemoryParts is the default PartStore: a Reassembler in memory, which a
// restart empties. Completed messages wait for Forget up to the
// reassembly timeout.
type MemoryParts struct {
	r       *Reassembler
	timeout time.Duration
	now     func() time.Time

	mu   sync.Mutex
	done map[PartKey]completed
}

type completed struct {
	parts [][]byte
	at    time.Time
}

// NewMemoryParts returns a PartStore over a Reassembler built from cfg.
func NewMemoryParts(cfg ReassemblerConfig) *MemoryParts {
	r := NewReassembler(cfg)
	return &MemoryParts{r: r, timeout: r.timeout, now: r.now, done: map[PartKey]completed{}}
}

// AddPart implements PartStore.
func (m *MemoryParts) AddPart(_ context.Context, key PartKey, seq uint8, payload []byte) ([][]byte, bool, error) {
	now := m.now()
	m.mu.Lock()
	for k, c := range m.done {
		if now.Sub(c.at) > m.timeout {
			delete(m.done, k)
		}
	}
	if c, ok := m.done[key]; ok {
		m.mu.Unlock()
		return c.parts, true, nil
	}
	m.mu.Unlock()
	parts, complete, err := m.r.Add(key.Source, key.Destination, UDH{Concat: true, Ref: key.Ref, Ref16: key.Ref16, Total: key.Total, Seq: seq}, payload)
	if complete {
		m.mu.Lock()
		m.done[key] = completed{parts: parts, at: now}
		m.mu.Unlock()
	}
	return parts, complete, err
}

// Forget implements PartStore.
func (m *MemoryParts) Forget(_ context.Context, key PartKey) error {
	m.mu.Lock()
	delete(m.done, key)
	m.mu.Unlock()
	return nil
}

// partKey is the PartStore key of a concatenated delivery: the addresses
// with their TON and NPI, the reference and the part count.
func partKey(d *Delivery) PartKey {
	addr := func(a Address) string { return fmt.Sprintf("%d.%d.%s", a.TON, a.NPI, a.Addr) }
	return PartKey{
		Source: addr(d.PDU.Source), Destination: addr(d.PDU.Dest),
		Ref: d.Concat.Ref, Ref16: d.Concat.Ref16, Total: d.Concat.Total,
	}
}
