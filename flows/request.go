package flows

import "time"

// RequestMode says how the customer confirms a merchant's payment
// request (SPEC §5.4).
type RequestMode string

// Request modes.
const (
	// ModePush: the phone gets a network-initiated USSD prompt asking for
	// the PIN; the code goes by SMS and the customer reads it to the
	// terminal, which posts it.
	ModePush RequestMode = "push"
	// ModeTerminal: the terminal posts the PIN with the request, then the
	// code the customer got by SMS.
	ModeTerminal RequestMode = "terminal"
)

// Valid reports whether m is a mode of SPEC §5.4.
func (m RequestMode) Valid() bool { return m == ModePush || m == ModeTerminal }

// PaymentRequest is a merchant's request that a phone pay it (SPEC §5.4).
// Its transfer (a PAY, with the same ID) holds its state.
type PaymentRequest struct {
	ID        string // the transfer's id
	Merchant  string // the merchant's code
	Phone     MSISDN // the payer
	Mode      RequestMode
	Reference string // the merchant's own reference, as it posted it
	Created   time.Time
	Expires   time.Time
}

// WebhookEvent is an event for a merchant's webhook (SPEC §7), queued by
// the step that makes it and posted after the commit, signed, until the
// merchant's server answers 2xx.
type WebhookEvent struct {
	ID       string // unique: the receiver dedupes on it
	Merchant string
	Event    string // "payment_request.completed", ...
	Request  string // the payment request's id
	Body     []byte // the JSON posted, as it is signed
	Created  time.Time
}

// USSDPush is a network-initiated USSD prompt (SPEC §4, §5.4) asking the
// phone for the PIN of its pending operation, queued by the step that
// makes the operation and sent after the commit.
type USSDPush struct {
	ID      string // the payment request's id
	Phone   MSISDN
	Text    string // the prompt's opening lines, in the phone's language
	Created time.Time
	Expires time.Time // not sent after this
}
