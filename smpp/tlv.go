package smpp

import "encoding/binary"

// Tag is an optional parameter tag (SMPP 3.4 §5.3.2).
type Tag uint16

// Optional parameter tags used by this package and its callers.
const (
	TagUserMessageReference Tag = 0x0204
	TagSourcePort           Tag = 0x020A
	TagDestinationPort      Tag = 0x020B
	TagSarMsgRefNum         Tag = 0x020C
	TagSarTotalSegments     Tag = 0x020E
	TagSarSegmentSeqnum     Tag = 0x020F
	TagSCInterfaceVersion   Tag = 0x0210
	TagMessagePayload       Tag = 0x0424
	TagMessageState         Tag = 0x0427
	TagReceiptedMessageID   Tag = 0x001E
	TagNetworkErrorCode     Tag = 0x0423
	TagUSSDServiceOp        Tag = 0x0501
	TagITSSessionInfo       Tag = 0x1383
)

// TLV is one optional parameter.
type TLV struct {
	Tag   Tag
	Value []byte
}

// TLVs is a PDU's optional parameters in wire order.
type TLVs []TLV

// Get returns the value of the first TLV with tag, and whether it exists.
func (ts TLVs) Get(tag Tag) ([]byte, bool) {
	for _, t := range ts {
		if t.Tag == tag {
			return t.Value, true
		}
	}
	return nil, false
}

// Set replaces the value of tag, or appends it.
func (ts *TLVs) Set(tag Tag, value []byte) {
	for i := range *ts {
		if (*ts)[i].Tag == tag {
			(*ts)[i].Value = value
			return
		}
	}
	*ts = append(*ts, TLV{Tag: tag, Value: value})
}

// Uint returns the big-endian integer value of a 1, 2 or 4 octet TLV.
func (ts TLVs) Uint(tag Tag) (uint32, bool) {
	v, ok := ts.Get(tag)
	if !ok {
		return 0, false
	}
	switch len(v) {
	case 1:
		return uint32(v[0]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(v)), true
	case 4:
		return binary.BigEndian.Uint32(v), true
	}
	return 0, false
}

// SetUint8 sets a one-octet TLV.
func (ts *TLVs) SetUint8(tag Tag, v uint8) { ts.Set(tag, []byte{v}) }

// SetUint16 sets a two-octet TLV.
func (ts *TLVs) SetUint16(tag Tag, v uint16) {
	ts.Set(tag, binary.BigEndian.AppendUint16(nil, v))
}
