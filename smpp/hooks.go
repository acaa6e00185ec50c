package smpp

import "time"

// Direction says whether a PDU was read or written.
type Direction int

// Directions of a PDU.
const (
	Inbound Direction = iota
	Outbound
)

func (d Direction) String() string {
	if d == Inbound {
		return "in"
	}
	return "out"
}

// Hooks receive events for metrics. Every field may be nil. Hooks are
// called synchronously from the session's goroutines and must not block.
type Hooks struct {
	// PDU is called for every PDU read from or written to the wire.
	PDU func(bind string, dir Direction, cmd CommandID, status Status)
	// Bind is called when a bind comes up (up=true) or goes down; err is
	// why it went down or why binding failed.
	Bind func(bind string, mode BindMode, up bool, err error)
	// Window is called when the number of unacknowledged submits changes.
	Window func(bind string, inUse, size int)
	// Throttled is called when the SMSC answers a submit with
	// ESME_RTHROTTLED or ESME_RMSGQFUL, with the pause chosen.
	Throttled func(bind string, status Status, pause time.Duration)
	// Submit is called when a submit_sm ends: with its latency from the
	// first write to the final answer, and its result (nil, a
	// *StatusError, or an error wrapping ErrUnknownOutcome).
	Submit func(bind string, latency time.Duration, err error)
	// LateResponse is called when a response arrives for a request that
	// already ended in a timeout. Ref is the caller's reference given to
	// Submit.
	LateResponse func(bind string, ref string, resp *PDU)
	// Unexpected is called for a response that matches none of our
	// requests; it is dropped.
	Unexpected func(bind string, resp *PDU)
}
