package flows

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// TransferState is where a transfer stands (SPEC §6).
type TransferState string

// Transfer states (SPEC §6).
const (
	TransferPendingPIN  TransferState = "pending_pin"  // waiting for OK <PIN>
	TransferPendingCode TransferState = "pending_code" // waiting for the one-time code
	TransferAuthorized  TransferState = "authorized"   // PIN and code right; in the bank outbox
	TransferSent        TransferState = "sent"         // handed to the bank, no answer yet
	TransferCompleted   TransferState = "completed"    // the bank moved the money
	TransferRejected    TransferState = "rejected"     // the bank refused it (or a final error)
	TransferCancelled   TransferState = "cancelled"    // CANCEL, replaced, STOP, a lock
	TransferExpired     TransferState = "expired"      // no answer to a prompt within 5 minutes
	TransferUnknown     TransferState = "unknown"      // the bank did not answer; resolved by inquiry
)

// TransferStates lists every state, in the order of SPEC §6.
func TransferStates() []TransferState {
	return []TransferState{TransferPendingPIN, TransferPendingCode, TransferAuthorized, TransferSent,
		TransferCompleted, TransferRejected, TransferCancelled, TransferExpired, TransferUnknown}
}

// transitions are the moves a transfer may make. Once authorized it can
// only end at the bank: completed or rejected, through sent or unknown.
// The outbox may report a result before the claim's "sent" is seen, so an
// authorized transfer may end directly.
var transitions = map[TransferState][]TransferState{
	TransferPendingPIN:  {TransferPendingCode, TransferCancelled, TransferExpired},
	TransferPendingCode: {TransferAuthorized, TransferCancelled, TransferExpired},
	TransferAuthorized:  {TransferSent, TransferUnknown, TransferCompleted, TransferRejected},
	TransferSent:        {TransferUnknown, TransferCompleted, TransferRejected},
	TransferUnknown:     {TransferSent, TransferCompleted, TransferRejected},
}

// Final reports whether s is an end state.
func (s TransferState) Final() bool {
	switch s {
	case TransferCompleted, TransferRejected, TransferCancelled, TransferExpired:
		return true
	}
	return false
}

// Pending reports whether s waits for the user (PIN or code).
func (s TransferState) Pending() bool { return s == TransferPendingPIN || s == TransferPendingCode }

// Debits reports whether a transfer in s counts against the daily limit:
// authorized, or at or past the bank, and not refused.
func (s TransferState) Debits() bool {
	switch s {
	case TransferAuthorized, TransferSent, TransferUnknown, TransferCompleted:
		return true
	}
	return false
}

// ErrTransition is returned by Transfer.Move for a move SPEC §6 does not
// allow.
var ErrTransition = errors.New("flows: transfer state change not allowed")

// CanMove reports whether a transfer may go from s to to.
func (s TransferState) CanMove(to TransferState) bool {
	return slices.Contains(transitions[s], to)
}

// AccountRef names an account at a bank.
type AccountRef struct {
	Bank   string
	Number AccountNumber
}

// Label is how a reply names the account: "PGB ****0001".
func (a AccountRef) Label() string { return a.Bank + " " + a.Number.Masked() }

// Transfer is one money movement (SPEC §5.2, §5.3, §6), from the payer's
// default account to the payee's.
type Transfer struct {
	ID   string // globally unique; the bank's Idempotency-Key
	Ref  string // the short reference the user sees (TransferRefLen characters)
	Kind OpKind // OpSend or OpPay

	Payer MSISDN
	Debit AccountRef // the payer's account
	// Payee is the E.164 phone (SEND) or merchant code (PAY) as the
	// code is bound to it.
	Payee string
	// PayeePhone is the phone that gets the payee's receipt: the payee
	// (SEND) or the merchant's phone (PAY, "" when it has none).
	PayeePhone MSISDN
	PayeeName  string     // masked (MaskName) or the merchant's name
	Credit     AccountRef // the payee's account
	Amount     Amount
	Fee        Amount
	Narrative  string // PAY's reference, "" for none

	State   TransferState
	Reason  string // rejected: why, a short code such as "insufficient_funds"
	BankRef string // completed: the bank's reference

	Created time.Time
	Updated time.Time
	// Expires is when a pending transfer expires unanswered (Created
	// plus PendingTTL).
	Expires time.Time
	Bind    string // the bind the payer's command came on
	Lang    Lang   // the payer's reply language when it started
	// Mode: the transfer is a merchant's payment request (SPEC §5.4),
	// its id the request's; "" when the payer started it.
	Mode RequestMode
}

// Move changes t's state to to at now, or returns ErrTransition.
func (t *Transfer) Move(to TransferState, now time.Time) error {
	if !t.State.CanMove(to) {
		return fmt.Errorf("%w: %s %s → %s", ErrTransition, t.Ref, t.State, to)
	}
	t.State, t.Updated = to, now
	return nil
}

// Total is what the payer's account is debited: amount plus fee.
func (t *Transfer) Total() Amount { return t.Amount + t.Fee }

// Operation is what the transfer's one-time code is bound to.
func (t *Transfer) Operation() Operation {
	return Operation{Kind: t.Kind, Phone: t.Payer, Amount: t.Amount, Fee: t.Fee, Payee: t.Payee,
		Bank: t.Debit.Bank, Account: t.Debit.Number, Transfer: t.ID}
}

// refAlphabet has no look-alikes: no 0/O, 1/I/L, no 5/S or 8/B pairs
// left ambiguous on a small screen (SPEC §6).
const refAlphabet = "ACDEFGHJKMNPQRTUVWXY234679"

// NewTransferRef returns a random short reference: TransferRefLen
// characters of refAlphabet (26^8 ≈ 2·10^11 of them), from crypto/rand.
func NewTransferRef() string {
	var b [TransferRefLen]byte
	rand.Read(b[:])
	for i := range b {
		// 256 = 9·26 + 22: reject the top to keep the draw uniform.
		for b[i] >= 26*9 {
			var one [1]byte
			rand.Read(one[:])
			b[i] = one[0]
		}
		b[i] = refAlphabet[int(b[i])%len(refAlphabet)]
	}
	return string(b[:])
}

// ValidTransferRef reports whether ref could be a reference
// NewTransferRef made.
func ValidTransferRef(ref string) bool {
	if len(ref) != TransferRefLen {
		return false
	}
	for i := 0; i < len(ref); i++ {
		if !containsByte(refAlphabet, ref[i]) {
			return false
		}
	}
	return true
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// Merchant is a business phones pay with PAY (SPEC §5.3).
type Merchant struct {
	Code     string // upper case, as PAY names it
	Name     string // shown to payers
	Account  AccountRef
	Phone    MSISDN // gets a receipt per payment; "" for none
	Webhook  string // https URL told of payments (the API's webhooks)
	Disabled bool   // PAY refused
	Created  time.Time
	// TerminalSuspended is when the merchant's terminal mode was
	// suspended after repeated failures across phones (SPEC §5.5); zero
	// when it is not. An operator lifts it.
	TerminalSuspended time.Time
}

// Fee is a fee rule: Flat plus Percent of the amount, rounded half up to
// a minor unit.
type Fee struct {
	Flat    Amount
	Percent float64 // 0.5 is half a percent
}

// Of returns the fee on amount.
func (f Fee) Of(amount Amount) Amount {
	return f.Flat + Amount(math.Floor(float64(amount)*f.Percent/100+0.5))
}

// Limits cap what a phone may send (SPEC §5.5), in minor units. Zero is no
// limit.
type Limits struct {
	PerTransfer Amount
	PerDay      Amount // summed over the payer's transfers of the local day
}

// StatementEntry is one line of MINI.
type StatementEntry struct {
	Time        time.Time
	Amount      Amount // negative for a debit
	Counterpart string // masked
	Reference   string
}
