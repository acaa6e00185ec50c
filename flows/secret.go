package flows

import (
	"fmt"
	"log/slog"
)

// Mask is what a secret prints as, and what Redact puts in its place. It
// has a fixed length so that it does not tell how long the secret was.
const Mask = "****"

// PIN is a phone's static PIN as typed (SPEC §5.5). It prints as Mask in
// every fmt verb, in slog and in text or JSON encodings; Reveal gives the
// digits to the code that hashes or checks them.
type PIN string

// Reveal returns the PIN in clear. Call it only to hash or check it.
func (p PIN) Reveal() string { return string(p) }

// String, GoString, Format, LogValue and MarshalText print Mask.
func (PIN) String() string               { return Mask }
func (PIN) GoString() string             { return Mask }
func (PIN) Format(f fmt.State, _ rune)   { fmt.Fprint(f, Mask) }
func (PIN) LogValue() slog.Value         { return slog.StringValue(Mask) }
func (PIN) MarshalText() ([]byte, error) { return []byte(Mask), nil }

// OTP is a one-time code as typed by the user (SPEC §5.5). It prints as
// Mask everywhere; Reveal gives the digits to the code that checks them.
type OTP string

// Reveal returns the code in clear. Call it only to check it.
func (c OTP) Reveal() string { return string(c) }

// String, GoString, Format, LogValue and MarshalText print Mask.
func (OTP) String() string               { return Mask }
func (OTP) GoString() string             { return Mask }
func (OTP) Format(f fmt.State, _ rune)   { fmt.Fprint(f, Mask) }
func (OTP) LogValue() slog.Value         { return slog.StringValue(Mask) }
func (OTP) MarshalText() ([]byte, error) { return []byte(Mask), nil }

// AccountNumber is a full bank account number (SPEC §2). It prints masked
// (see Masked) in every fmt verb, in slog and in text or JSON encodings;
// Reveal gives it to the code that encrypts it or sends it to the bank.
type AccountNumber string

// Reveal returns the account number in clear.
func (a AccountNumber) Reveal() string { return string(a) }

// Masked returns the number as it may be shown (SPEC §2): Mask and the
// last 4 characters, "****1234", or only Mask when the number is shorter
// than 8 characters and its last 4 would be half of it.
func (a AccountNumber) Masked() string { return maskAccount(string(a)) }

// String, GoString, Format, LogValue and MarshalText print Masked.
func (a AccountNumber) String() string               { return a.Masked() }
func (a AccountNumber) GoString() string             { return a.Masked() }
func (a AccountNumber) Format(f fmt.State, _ rune)   { fmt.Fprint(f, a.Masked()) }
func (a AccountNumber) LogValue() slog.Value         { return slog.StringValue(a.Masked()) }
func (a AccountNumber) MarshalText() ([]byte, error) { return []byte(a.Masked()), nil }

func maskAccount(s string) string {
	if len(s) < 8 {
		return Mask
	}
	return Mask + s[len(s)-4:]
}
