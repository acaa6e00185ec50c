package flows

import (
	"errors"
	"strings"
)

// ErrorCode says what kind of failure an *Error is. Codes are stable: the
// edges map them to an SMS reply, a USSD screen or an HTTP status.
type ErrorCode string

// Error codes.
const (
	// CodeUsage: a known command, written wrongly. Topic names the
	// command and Reason what was wrong.
	CodeUsage ErrorCode = "usage"
	// CodeUnknownCommand: no command starts this text. Reason is
	// ReasonEmpty, ReasonBareNumber or "".
	CodeUnknownCommand ErrorCode = "unknown_command"
)

// Reason says what exactly was wrong with a command; each has a reply text
// (ReasonKey).
type Reason string

// Reasons for CodeUsage and CodeUnknownCommand.
const (
	ReasonMissing        Reason = "missing"         // an argument is missing
	ReasonExtra          Reason = "extra"           // more arguments than the command takes
	ReasonPhone          Reason = "phone"           // not a phone number
	ReasonAmount         Reason = "amount"          // not an amount
	ReasonAmountZero     Reason = "amount_zero"     // zero or negative
	ReasonAmountDecimals Reason = "amount_decimals" // more than 2 decimals
	ReasonAmountTooLarge Reason = "amount_large"    // does not fit in an Amount
	ReasonMerchant       Reason = "merchant"        // not a merchant code
	ReasonRef            Reason = "ref"             // payment reference too long
	ReasonPINFormat      Reason = "pin_format"      // a PIN is not 4 to 6 digits
	ReasonPINMismatch    Reason = "pin_mismatch"    // the new PIN and its repetition differ
	ReasonCodeFormat     Reason = "code_format"     // a one-time code is not 6 digits
	ReasonNumber         Reason = "number"          // not an account's position, 1 to MaxAccounts
	ReasonLang           Reason = "lang"            // not a language on offer
	ReasonTopic          Reason = "topic"           // HELP about something that is not a command
	ReasonBank           Reason = "bank"            // not a bank code
	ReasonAccount        Reason = "account"         // not an account number
	ReasonTransferRef    Reason = "transfer_ref"    // not a transfer reference
	ReasonEmpty          Reason = "empty"           // nothing but spaces
	ReasonBareNumber     Reason = "bare_number"     // digits alone, not a 6-digit code
)

// Error is the error flows return: a code, and a message that is safe to
// show anyone — it never quotes the input, so it can carry no PIN, code
// or account number (SPEC §3; RELIABILITY R11), and it has no digits.
// Topic and Reason pick the localized reply (see Reply).
type Error struct {
	Code    ErrorCode
	Topic   Keyword // the command concerned, "" if none
	Reason  Reason  // what was wrong, "" if nothing more precise
	Message string  // user-safe English
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(string(e.Code))
	if e.Topic != "" {
		b.WriteString(": " + string(e.Topic))
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// ErrorCodeOf returns the code of the *Error in err's chain, or "" when
// there is none.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// reasonMessages are the English messages of Error, digit-free.
var reasonMessages = map[Reason]string{
	ReasonMissing:        "something is missing",
	ReasonExtra:          "there is too much after the command",
	ReasonPhone:          "that is not a phone number",
	ReasonAmount:         "that is not an amount",
	ReasonAmountZero:     "the amount must be more than zero",
	ReasonAmountDecimals: "the amount has too many decimals",
	ReasonAmountTooLarge: "the amount is too large",
	ReasonMerchant:       "that is not a merchant code",
	ReasonRef:            "the reference is too long",
	ReasonPINFormat:      "a PIN is four to six digits",
	ReasonPINMismatch:    "the new PIN and its repetition differ",
	ReasonPINTrivial:     pinTrivialMessage,
	ReasonCodeFormat:     "a one-time code is six digits",
	ReasonNumber:         "that is not the position of an account",
	ReasonLang:           "that language is not offered",
	ReasonTopic:          "there is no help on that",
	ReasonBank:           "that is not a bank code",
	ReasonAccount:        "that is not an account number",
	ReasonTransferRef:    "that is not a transfer reference",
	ReasonEmpty:          "the message is empty",
	ReasonBareNumber:     "digits alone answer a one-time code prompt, with six digits",
}

// usage returns a CodeUsage error about kw ("" when the caller fills it).
func usage(kw Keyword, r Reason) *Error {
	msg := reasonMessages[r]
	if syn := synopsis[kw]; syn != "" {
		msg += "; the form is " + syn
	}
	return &Error{Code: CodeUsage, Topic: kw, Reason: r, Message: msg}
}

// unknown returns a CodeUnknownCommand error.
func unknown(r Reason) *Error {
	msg := "unknown command"
	if m := reasonMessages[r]; m != "" {
		msg += ": " + m
	}
	return &Error{Code: CodeUnknownCommand, Reason: r, Message: msg}
}

// withTopic returns a copy of a usage error from a helper (ParseAmount)
// about command kw.
func withTopic(err error, kw Keyword) error {
	var e *Error
	if errors.As(err, &e) && e.Topic == "" {
		return usage(kw, e.Reason)
	}
	return err
}
