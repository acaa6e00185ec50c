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

	// Accounts returns the bank accounts linked to a phone, in the order
	// they were linked (oldest first); none is not an error.
	Accounts(ctx context.Context, phone MSISDN) ([]Account, error)
	// SaveAccount links a (with a.ID 0: its new id is set) or updates
	// its Default and Holder. The number is stored encrypted.
	SaveAccount(ctx context.Context, phone MSISDN, a *Account) error
	// DeleteAccount unlinks the account with id from phone.
	DeleteAccount(ctx context.Context, phone MSISDN, id int64) error
	// QueueBank puts a request in the bank outbox; it is sent after
	// commit and its answer comes back as a BankResult.
	QueueBank(ctx context.Context, r BankRequest) error

	// CreateTransfer stores a new transfer. An id or reference already
	// taken returns an error wrapping ErrDuplicate and leaves the
	// transaction usable (the step draws another reference).
	CreateTransfer(ctx context.Context, t Transfer) error
	// UpdateTransfer stores t's State, Reason, BankRef, Updated and
	// Expires (a code prompt runs from when the code was sent);
	// ErrNotFound when there is no transfer t.ID.
	UpdateTransfer(ctx context.Context, t Transfer) error
	// Transfer returns the transfer with id, or ErrNotFound.
	Transfer(ctx context.Context, id string) (Transfer, error)
	// TransferByRef returns the transfer with the short reference ref,
	// or ErrNotFound.
	TransferByRef(ctx context.Context, ref string) (Transfer, error)
	// Spent sums the Amount of payer's transfers created at or after
	// since whose state Debits (authorized, sent, unknown, completed).
	Spent(ctx context.Context, payer MSISDN, since time.Time) (Amount, error)
	// Merchant returns the merchant with code (upper case), disabled or
	// not, or ErrNotFound.
	Merchant(ctx context.Context, code string) (Merchant, error)

	// CreateRequest stores a new payment request (its transfer is
	// created apart, with the same id).
	CreateRequest(ctx context.Context, r PaymentRequest) error
	// Request returns the payment request with id, or ErrNotFound.
	Request(ctx context.Context, id string) (PaymentRequest, error)
	// RecentRequests counts merchant's payment requests to phone created
	// at or after since.
	RecentRequests(ctx context.Context, merchant string, phone MSISDN, since time.Time) (int, error)
	// MerchantFailure records a failed authentication at merchant's
	// terminal for phone at at, and returns the merchant's failures at
	// or after since and how many phones they were for.
	MerchantFailure(ctx context.Context, merchant string, phone MSISDN, at, since time.Time) (failures, phones int, err error)
	// SuspendTerminal suspends merchant's terminal mode from at.
	SuspendTerminal(ctx context.Context, merchant string, at time.Time) error
	// QueueWebhook puts an event in the webhook outbox.
	QueueWebhook(ctx context.Context, ev WebhookEvent) error
	// QueuePush puts a USSD prompt in the push outbox.
	QueuePush(ctx context.Context, p USSDPush) error

	// EnrolDevice makes the issued device id phone's security module
	// (the phone's earlier one, if any, is revoked); ErrNotFound when id
	// is not an issued device any more (revoked, or enrolled).
	EnrolDevice(ctx context.Context, id string, phone MSISDN, at time.Time) error
}

// ErrDuplicate is returned by Tx writes of something that already
// exists (a transfer id or reference).
var ErrDuplicate = errors.New("flows: already exists")

// Clock tells the time; flows never call time.Now themselves.
type Clock func() time.Time

// Subscriber is what the gateway knows of a phone. Its linked accounts
// are read apart (Tx.Accounts): most commands do not need them.
type Subscriber struct {
	Phone MSISDN
	Lang  Lang // reply language; "" means the default
	// Created is when the phone first wrote to the gateway.
	Created time.Time
	// PIN is the stored PIN; "" until one is set.
	PIN PINHash
	// Lock is the lockout state shared by PIN and code (SPEC §5.5).
	Lock Lock
	// Codes is the rate of one-time codes sent to the phone.
	Codes CodeBudget
	// Stopped: the user sent STOP; payments are refused until an
	// operator unblocks the phone.
	Stopped bool
	// Pending is the one pending prompt, nil when there is none.
	Pending *Pending
	// Last is the latest operation whose code was accepted, kept so
	// that the same code presented again gets its status (SPEC §5.5).
	Last *Pending
	// Noticed is when the phone was last told that an attempt was
	// refused unchecked (locked, or a PIN check already in flight):
	// such notices go at most once per NoticeEvery, so a flood of
	// guesses does not become a flood of SMS to the phone's owner.
	Noticed time.Time
	// Device is the phone's enrolled security module, nil when it has
	// none (SPEC §9). Read with the record; SaveSubscriber ignores it.
	Device *Device
}

// Prompt names where the phone's prompt stands — its id and stage, ""
// for none — for the inbox's duplicate check: an identical text is the
// same message only while the phone's prompt is where the first copy
// left it (SPEC §5.5). The store mirrors it in a column.
func (s Subscriber) Prompt() string {
	if s.Pending == nil {
		return ""
	}
	return s.Pending.ID + "/" + string(s.Pending.Stage)
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
	// Key and Vars are what Text was made from ("" for a text made
	// otherwise): a screen channel renders its own text from them.
	Key  Key
	Vars Vars
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
	// Sealed: Text came in a secure envelope that authenticated under
	// the phone's device key (SPEC §9).
	Sealed bool
}
