package bank

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paygate/paygate/flows"
)

// Connector is a bank as the gateway sees it (SPEC.md §8). Every method
// blocks until the bank answers, ctx ends or the connector gives up, and
// is safe for concurrent use.
//
// Errors: a *FinalError when the bank refused the request (a 4xx other
// than 429), ErrCircuitOpen when the call sent nothing because the bank is
// considered down, an error wrapping ErrUnknown when no final answer came,
// ErrInvalidRequest for a request the connector will not send.
type Connector interface {
	// Verify asks whether an account exists and whether the phone is
	// the one on file for it (SPEC §5.1).
	Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error)
	// Transfer asks the bank to move money once. req.ID is the
	// idempotency key: calling Transfer again with the same request,
	// after any error, never moves the money twice. A rejection by the
	// bank (insufficient funds, unknown account) is a result with Status
	// StatusRejected, not an error.
	Transfer(ctx context.Context, req TransferRequest) (TransferResult, error)
	// TransferStatus asks what became of transfer id: its final result,
	// or ErrNotReceived when the bank never received it (then sending it
	// again with the same id is safe).
	TransferStatus(ctx context.Context, id string) (TransferResult, error)
	// Balance returns an account's available balance.
	Balance(ctx context.Context, account Account) (Balance, error)
	// Statement returns at most limit of an account's latest entries,
	// newest first.
	Statement(ctx context.Context, account Account, limit int) ([]Entry, error)
}

// Account names an account at a bank.
type Account struct {
	Bank   string              // the bank's code, such as "PGB"
	Number flows.AccountNumber // prints masked
}

// String prints the account with its number masked.
func (a Account) String() string { return a.Bank + ":" + a.Number.Masked() }

// VerifyRequest asks whether Account at Bank exists and belongs to Phone.
type VerifyRequest struct {
	Bank    string
	Account flows.AccountNumber
	Phone   flows.MSISDN // E.164
}

// VerifyResult is the bank's answer to a VerifyRequest. A bank may leave
// HolderName empty when the phone does not match.
type VerifyResult struct {
	Exists       bool
	PhoneMatches bool
	HolderName   string
}

// TransferRequest is one transfer (SPEC §8 POST /v1/transfers): the
// bank debits Amount+Fee from Debit, credits Amount to Credit and Fee to
// its fee account. Amounts are minor units.
type TransferRequest struct {
	ID        string // the transfer's globally unique id: the idempotency key
	Reference string // the short reference the user sees (SPEC §6)
	Debit     Account
	Credit    Account
	Amount    int64
	Fee       int64
	Currency  string // ISO 4217
	Narrative string
}

// Transfer statuses (SPEC §8).
const (
	StatusCompleted = "completed"
	StatusRejected  = "rejected"
)

// TransferResult is the bank's final answer about a transfer.
type TransferResult struct {
	ID            string
	Status        string // StatusCompleted or StatusRejected
	BankReference string
	Reason        string // why it was rejected, a short code such as "insufficient_funds"
}

// Balance is an account's available balance in minor units.
type Balance struct {
	Available int64
	Currency  string
}

// Entry is one line of a statement.
type Entry struct {
	Time        time.Time
	Amount      int64               // minor units; negative for a debit
	Counterpart flows.AccountNumber // the other account; prints masked
	Reference   string              // the transfer's short reference
}

// Errors of a Connector.
var (
	// ErrUnknown wraps the error of a call that got no final answer: a
	// timeout, a dropped connection, a 5xx, a 429 or an answer whose
	// signature does not hold, until ctx ended, the attempts ran out or
	// the breaker opened. For a transfer the bank may or may not have
	// applied it: keep it unknown and ask again later, with
	// TransferStatus or Transfer with the same request. For the other
	// calls nothing changed at the bank and asking again is safe.
	ErrUnknown = errors.New("bank: outcome unknown")
	// ErrNotReceived is TransferStatus's answer for a transfer the bank
	// never received (404).
	ErrNotReceived = errors.New("bank: transfer not received")
	// ErrCircuitOpen is returned, without sending anything, while the
	// circuit breaker is open after repeated failures. From Transfer it
	// means "not sent by this call", unlike ErrUnknown.
	ErrCircuitOpen = errors.New("bank: circuit open, bank considered down")
	// ErrInvalidRequest wraps a request the connector refuses to send
	// (an empty id, a non-positive amount, …); nothing was sent.
	ErrInvalidRequest = errors.New("bank: invalid request")

	// errBreakerOpened is why a call that had sent something stopped:
	// it is not ErrCircuitOpen, which means nothing was sent.
	errBreakerOpened = errors.New("the circuit breaker opened")
)

// FinalError is a bank's refusal of a request: a signed 4xx answer other
// than 429 (SPEC §8 "other 4xx answers are final errors"). It is never
// retried; Hooks.FinalError hears of it so that operators are alerted.
// Its text carries the method, the status and the bank's error code, but
// not the bank's free-text message, which might echo an account number.
type FinalError struct {
	Method string // "verify", "transfer", "transfer_status", "balance" or "statement"
	Status int    // HTTP status
	Code   string // the bank's error code ({"error":{"code"}}), sanitised; may be empty
}

func (e *FinalError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("bank: %s refused: %d", e.Method, e.Status)
	}
	return fmt.Sprintf("bank: %s refused: %d %s", e.Method, e.Status, e.Code)
}

// Methods, as they appear in FinalError.Method and hook labels.
const (
	MethodVerify         = "verify"
	MethodTransfer       = "transfer"
	MethodTransferStatus = "transfer_status"
	MethodBalance        = "balance"
	MethodStatement      = "statement"
)
