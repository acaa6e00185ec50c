package smpp

import "fmt"

// Status is a PDU command_status (SMPP 3.4 §5.1.3). The zero value is
// ESME_ROK.
type Status uint32

// Command statuses this package acts on.
const (
	StatusOK             Status = 0x00 // ESME_ROK
	StatusInvMsgLen      Status = 0x01 // ESME_RINVMSGLEN
	StatusInvCmdLen      Status = 0x02 // ESME_RINVCMDLEN
	StatusInvCmdID       Status = 0x03 // ESME_RINVCMDID
	StatusInvBndSts      Status = 0x04 // ESME_RINVBNDSTS
	StatusAlyBnd         Status = 0x05 // ESME_RALYBND
	StatusSysErr         Status = 0x08 // ESME_RSYSERR
	StatusInvSrcAdr      Status = 0x0A // ESME_RINVSRCADR
	StatusInvDstAdr      Status = 0x0B // ESME_RINVDSTADR
	StatusInvMsgID       Status = 0x0C // ESME_RINVMSGID
	StatusBindFail       Status = 0x0D // ESME_RBINDFAIL
	StatusInvPaswd       Status = 0x0E // ESME_RINVPASWD
	StatusInvSysID       Status = 0x0F // ESME_RINVSYSID
	StatusMsgQFul        Status = 0x14 // ESME_RMSGQFUL
	StatusInvSerTyp      Status = 0x15 // ESME_RINVSERTYP
	StatusSubmitFail     Status = 0x45 // ESME_RSUBMITFAIL
	StatusThrottled      Status = 0x58 // ESME_RTHROTTLED
	StatusInvSched       Status = 0x61 // ESME_RINVSCHED
	StatusInvExpiry      Status = 0x62 // ESME_RINVEXPIRY
	StatusRxTAppn        Status = 0x64 // ESME_RX_T_APPN: temporary, the SMSC redelivers
	StatusRxPAppn        Status = 0x65 // ESME_RX_P_APPN: permanent
	StatusRxRAppn        Status = 0x66 // ESME_RX_R_APPN: rejected
	StatusInvOptParStrem Status = 0xC0 // ESME_RINVOPTPARSTREAM
	StatusDeliveryFail   Status = 0xFE // ESME_RDELIVERYFAILURE
	StatusUnknownErr     Status = 0xFF // ESME_RUNKNOWNERR
)

var statusNames = map[Status]string{
	StatusOK: "ESME_ROK", StatusInvMsgLen: "ESME_RINVMSGLEN", StatusInvCmdLen: "ESME_RINVCMDLEN",
	StatusInvCmdID: "ESME_RINVCMDID", StatusInvBndSts: "ESME_RINVBNDSTS", StatusAlyBnd: "ESME_RALYBND",
	StatusSysErr: "ESME_RSYSERR", StatusInvSrcAdr: "ESME_RINVSRCADR", StatusInvDstAdr: "ESME_RINVDSTADR",
	StatusInvMsgID: "ESME_RINVMSGID", StatusBindFail: "ESME_RBINDFAIL", StatusInvPaswd: "ESME_RINVPASWD",
	StatusInvSysID: "ESME_RINVSYSID", StatusMsgQFul: "ESME_RMSGQFUL", StatusInvSerTyp: "ESME_RINVSERTYP",
	StatusSubmitFail: "ESME_RSUBMITFAIL", StatusThrottled: "ESME_RTHROTTLED", StatusInvSched: "ESME_RINVSCHED",
	StatusInvExpiry: "ESME_RINVEXPIRY", StatusRxTAppn: "ESME_RX_T_APPN", StatusRxPAppn: "ESME_RX_P_APPN",
	StatusRxRAppn: "ESME_RX_R_APPN", StatusInvOptParStrem: "ESME_RINVOPTPARSTREAM",
	StatusDeliveryFail: "ESME_RDELIVERYFAILURE", StatusUnknownErr: "ESME_RUNKNOWNERR",
}

// String returns the ESME_ name of the status, or its hex value.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

// Throttling reports whether the SMSC asked us to slow down: the submit
// was not accepted and may be sent again after a pause.
func (s Status) Throttling() bool { return s == StatusThrottled || s == StatusMsgQFul }

// BindRefused reports whether a bind failed on credentials or identity,
// which a reconnect loop should back off from for long.
func (s Status) BindRefused() bool {
	return s == StatusBindFail || s == StatusInvPaswd || s == StatusInvSysID
}

// StatusError is a non-zero command_status answered by the peer. Its
// message names the status and the command only.
type StatusError struct {
	Command CommandID // the request that was refused
	Status  Status
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("smpp: %s refused: %s", e.Command, e.Status)
}

// Temporary reports whether sending the same request later may succeed.
func (e *StatusError) Temporary() bool {
	switch e.Status {
	case StatusThrottled, StatusMsgQFul, StatusSysErr, StatusRxTAppn:
		return true
	}
	return false
}
