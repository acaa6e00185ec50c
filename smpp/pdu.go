package smpp

import "fmt"

// CommandID identifies a PDU type (SMPP 3.4 §5.1.2.1).
type CommandID uint32

// Command ids used by this package.
const (
	GenericNack         CommandID = 0x80000000
	BindReceiver        CommandID = 0x00000001
	BindReceiverResp    CommandID = 0x80000001
	BindTransmitter     CommandID = 0x00000002
	BindTransmitterResp CommandID = 0x80000002
	QuerySM             CommandID = 0x00000003
	QuerySMResp         CommandID = 0x80000003
	SubmitSM            CommandID = 0x00000004
	SubmitSMResp        CommandID = 0x80000004
	DeliverSM           CommandID = 0x00000005
	DeliverSMResp       CommandID = 0x80000005
	Unbind              CommandID = 0x00000006
	UnbindResp          CommandID = 0x80000006
	ReplaceSM           CommandID = 0x00000007
	ReplaceSMResp       CommandID = 0x80000007
	CancelSM            CommandID = 0x00000008
	CancelSMResp        CommandID = 0x80000008
	BindTransceiver     CommandID = 0x00000009
	BindTransceiverResp CommandID = 0x80000009
	Outbind             CommandID = 0x0000000B
	EnquireLink         CommandID = 0x00000015
	EnquireLinkResp     CommandID = 0x80000015
	SubmitMulti         CommandID = 0x00000021
	SubmitMultiResp     CommandID = 0x80000021
	AlertNotification   CommandID = 0x00000102
	DataSM              CommandID = 0x00000103
	DataSMResp          CommandID = 0x80000103
)

const respBit = 0x80000000

// IsResponse reports whether id is a response (or generic_nack).
func (id CommandID) IsResponse() bool { return id&respBit != 0 }

// Response returns the response id of a request id.
func (id CommandID) Response() CommandID { return id | respBit }

var commandNames = map[CommandID]string{
	GenericNack: "generic_nack", BindReceiver: "bind_receiver", BindReceiverResp: "bind_receiver_resp",
	BindTransmitter: "bind_transmitter", BindTransmitterResp: "bind_transmitter_resp",
	QuerySM: "query_sm", QuerySMResp: "query_sm_resp", SubmitSM: "submit_sm", SubmitSMResp: "submit_sm_resp",
	DeliverSM: "deliver_sm", DeliverSMResp: "deliver_sm_resp", Unbind: "unbind", UnbindResp: "unbind_resp",
	ReplaceSM: "replace_sm", ReplaceSMResp: "replace_sm_resp", CancelSM: "cancel_sm", CancelSMResp: "cancel_sm_resp",
	BindTransceiver: "bind_transceiver", BindTransceiverResp: "bind_transceiver_resp", Outbind: "outbind",
	EnquireLink: "enquire_link", EnquireLinkResp: "enquire_link_resp", SubmitMulti: "submit_multi",
	SubmitMultiResp: "submit_multi_resp", AlertNotification: "alert_notification", DataSM: "data_sm", DataSMResp: "data_sm_resp",
}

// String returns the SMPP name of the command, or its hex value.
func (id CommandID) String() string {
	if s, ok := commandNames[id]; ok {
		return s
	}
	return fmt.Sprintf("command_0x%08x", uint32(id))
}

// HeaderLen is the length of the PDU header (SMPP 3.4 §3.2).
const HeaderLen = 16

// MaxSeq is the largest sequence number; numbering wraps to 1 after it
// (SMPP 3.4 §5.1.2.4 allows 0x00000001 to 0x7FFFFFFF).
const MaxSeq = 0x7FFFFFFF

// Address is a TON/NPI/address triple.
type Address struct {
	TON  byte
	NPI  byte
	Addr string
}

// PDU is one decoded SMPP PDU. It is a flat struct: which fields are
// meaningful depends on Command (see the encoders in codec.go). A PDU is
// not safe for concurrent mutation.
type PDU struct {
	Command CommandID
	Status  Status
	Seq     uint32

	// bind_* requests; bind_*_resp carries SystemID.
	SystemID         string
	Password         string
	SystemType       string
	InterfaceVersion byte
	AddrRange        Address

	// submit_sm, deliver_sm, data_sm.
	ServiceType          string
	Source               Address
	Dest                 Address
	ESMClass             byte
	ProtocolID           byte
	PriorityFlag         byte
	ScheduleDeliveryTime string
	ValidityPeriod       string
	RegisteredDelivery   byte
	ReplaceIfPresent     byte
	DataCoding           byte
	SMDefaultMsgID       byte
	ShortMessage         []byte

	// submit_sm_resp, data_sm_resp, deliver_sm_resp.
	MessageID string

	// Optional parameters, in wire order.
	TLVs TLVs
}

// String describes the PDU for logs without any payload or password.
func (p *PDU) String() string {
	return fmt.Sprintf("%s seq=%d status=%s", p.Command, p.Seq, p.Status)
}
