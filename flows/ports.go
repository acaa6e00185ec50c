package flows

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Tx lookups that find nothing.
var ErrNotFound = errors.New("flows: not found")

// Tx is the store as one flow step sees it: every read and write goes to
// the same database transaction, committed by the caller after the step
// returns without error. Effects (OutSMS) leave only after that commit.
// A Tx is used by one goroutine.
type Tx interface {
	// Subscriber returns the record of a phone, or ErrNotFound.
	Subscriber(ctx context.Context, phone MSISDN) (Subscriber, error)
	// SaveSubscriber inserts or updates a phone's record.
	SaveSubscriber(ctx context.Context, s Subscriber) error
	// QueueSMS puts an SMS in the MT outbox; it is sent after commit,
	// in order with the phone's other SMS.
	QueueSMS(ctx context.Context, sms OutSMS) error
}

// Clock tells the time; flows never call time.Now themselves.
type Clock func() time.Time

// Subscriber is what the gateway knows of a phone.
type Subscriber struct {
	Phone MSISDN
	Lang  Lang // reply language; "" means the default
	// Created is when the phone first wrote to the gateway.
	Created time.Time
}

// OutSMS is an SMS for the MT outbox.
type OutSMS struct {
	To   MSISDN
	From string // the short code
	Text string
	// Bind is the SMSC bind the reply should leave on (the one the MO came
	// on); "" lets the dispatcher route it.
	Bind string
	// Sensitive marks a text that carries a one-time code: it is stored
	// encrypted and erased once delivered or expired.
	Sensitive bool
}

// InboundSMS is one text from a phone, whole (reassembled) and decoded.
type InboundSMS struct {
	From MSISDN
	To   string // the address it was sent to (the short code)
	Bind string // the SMSC bind it came on
	// Trusted is the bind's trusted flag: money commands only from
	// trusted binds (SPEC §5.5).
	Trusted bool
	Text    string
	At      time.Time
}
