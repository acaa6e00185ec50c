package flows

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// One-time codes (SPEC §5.5): 6 digits from a CSPRNG, valid 5 minutes,
// single use, bound to the exact operation, at most 5 per phone per hour.
//
// What is stored is not the code but a digest: HMAC-SHA256 under a key
// the gateway holds (Codes), over the operation's canonical encoding and
// the code. Checking a code recomputes the digest from what the user sent
// and the operation now pending; any change — another transfer, another
// payee, a changed amount — gives another digest, so the code fails for
// it. A database row alone does not give the code away: without the key
// its 10⁶ candidates cannot be tested.

// Rules of one-time codes.
const (
	CodeDigits   = 6                // SPEC §5.5
	CodeTTL      = 5 * time.Minute  // a code is accepted until Expires, inclusive
	CodesPerHour = 5                // codes sent to one phone in any rolling hour
	CodeWindow   = time.Hour        // the rolling window of CodesPerHour
	codeSpace    = 1_000_000        // 10^CodeDigits
	codeKeyMin   = 32               // bytes of key at least
	codeDomain   = "paygate otp v1" // first field of every encoding
)

// OpKind names what a code authorizes. It is part of the binding: a LINK
// code never authorizes a SEND, whatever else matches.
type OpKind string

// Operations a one-time code can authorize.
const (
	OpSend     OpKind = "send"     // SEND (SPEC §5.2)
	OpPay      OpKind = "pay"      // PAY (SPEC §5.3)
	OpRequest  OpKind = "request"  // a merchant payment request (SPEC §5.4)
	OpLink     OpKind = "link"     // LINK (SPEC §5.1)
	OpResetPIN OpKind = "resetpin" // RESETPIN (SPEC §3)
)

// Operation is what a one-time code is bound to: every field that, if it
// changed, makes it another operation. Fields an operation does not have
// stay zero (a LINK has no amount or payee).
type Operation struct {
	Kind     OpKind
	Phone    MSISDN        // the phone the code is sent to and comes from
	Amount   Amount        // minor units; the amount the user confirmed
	Fee      Amount        // the fee the user was shown
	Payee    string        // E.164 phone or merchant code
	Bank     string        // bank code of the account debited or linked
	Account  AccountNumber // the account debited or linked
	Transfer string        // the transfer's (or request's) globally unique id
}

// encode is the canonical encoding of o: a domain tag, then every field
// in a fixed order, strings with a 4-byte big-endian length before them
// and amounts as 8-byte big-endian integers, so that no two different
// operations encode alike ("ab"+"c" and "a"+"bc" differ).
func (o Operation) encode(b []byte) []byte {
	str := func(s string) {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str(codeDomain)
	str(string(o.Kind))
	str(string(o.Phone))
	b = binary.BigEndian.AppendUint64(b, uint64(o.Amount))
	b = binary.BigEndian.AppendUint64(b, uint64(o.Fee))
	str(o.Payee)
	str(o.Bank)
	str(o.Account.Reveal())
	str(o.Transfer)
	return b
}

// CodeMAC is the stored digest of a code and its operation. It prints
// masked: with the key, a digest lets the code be found.
type CodeMAC []byte

// String, GoString, Format, LogValue and MarshalText print Mask.
func (CodeMAC) String() string               { return Mask }
func (CodeMAC) GoString() string             { return Mask }
func (CodeMAC) Format(f fmt.State, _ rune)   { fmt.Fprint(f, Mask) }
func (CodeMAC) LogValue() slog.Value         { return slog.StringValue(Mask) }
func (CodeMAC) MarshalText() ([]byte, error) { return []byte(Mask), nil }

// Challenge is a one-time code as stored: the digest of the code and its
// Operation, when it stops being accepted, and whether it was. It is a
// plain value: Codes computes the next one, the store keeps it with the
// pending operation (one Challenge per operation; a new one replaces
// the old).
type Challenge struct {
	MAC     CodeMAC
	Issued  time.Time
	Expires time.Time // Issued + CodeTTL
	// Used is when the code was accepted; zero while it has not been.
	Used time.Time
	// Sends counts the codes sent for this operation: 1, plus one per
	// RESEND. It is carried from code to code, never reset.
	Sends int
}

// CodeResult is what Check says of a code.
type CodeResult int

// Check results. Only CodeWrong is a failure for the lockout counter.
const (
	// CodeAccepted: the right code for this operation, in time, first
	// use. The operation may proceed; the Challenge is now used.
	CodeAccepted CodeResult = iota + 1
	// CodeWrong: not the code of this operation — mistyped, another
	// operation's, or this operation changed. A failure (Lock.Fail).
	CodeWrong
	// CodeExpired: the challenge is past Expires and was never accepted;
	// whether the code was right is not told. Not a failure: the operation is dead.
	CodeExpired
	// CodeUsed: the code was accepted before and is presented again for
	// the same operation (a duplicate SMS, a retried API call). Not a
	// failure: answer with the operation's status (SPEC §5.5).
	CodeUsed
)

var codeResultNames = [...]string{"", "accepted", "wrong", "expired", "used"}

func (r CodeResult) String() string {
	if r > 0 && int(r) < len(codeResultNames) {
		return codeResultNames[r]
	}
	return "CodeResult(" + fmt.Sprint(int(r)) + ")"
}

// Failure reports whether r counts as a failed attempt (only CodeWrong).
func (r CodeResult) Failure() bool { return r == CodeWrong }

// ErrChallengeUsed is returned by Resend for a challenge that was
// accepted: its operation is no longer waiting for a code.
var ErrChallengeUsed = errors.New("flows: the one-time code was already accepted")

// Codes issues and checks one-time codes under a key. It is safe for
// concurrent use; it does no I/O but read its random source.
type Codes struct {
	key  []byte
	mu   sync.Mutex // guards rand
	rand io.Reader
}

// NewCodes returns Codes that digest under key (at least 32 bytes, e.g.
// DeriveKey(pepper, "paygate otp v1"); changing it kills every pending
// code) and draw codes from rand (crypto/rand.Reader in production). It
// keeps a copy of the key.
func NewCodes(key []byte, rand io.Reader) (*Codes, error) {
	if len(key) < codeKeyMin {
		return nil, fmt.Errorf("flows: code key is %d bytes, want at least %d", len(key), codeKeyMin)
	}
	if rand == nil {
		return nil, errors.New("flows: codes need a random source")
	}
	return &Codes{key: append([]byte(nil), key...), rand: rand}, nil
}

// Issue draws a fresh code for op and returns its Challenge (valid until
// now + CodeTTL) and the code, to be sent in a Sensitive SMS. It does not
// look at the phone's CodeBudget: the caller spends it first. The error
// is the random source's.
func (c *Codes) Issue(op Operation, now time.Time) (Challenge, OTP, error) {
	return c.issue(op, now, 1)
}

// Resend is RESEND (SPEC §3): a fresh code for the same operation, whose
// Challenge the caller stores in place of old — the old code dies with
// it. It resets nothing: Sends goes on counting, the lockout counter
// (Lock) is not the Challenge's, and the new code spends the phone's
// CodeBudget like any other. An accepted old challenge returns
// ErrChallengeUsed.
func (c *Codes) Resend(old Challenge, op Operation, now time.Time) (Challenge, OTP, error) {
	if !old.Used.IsZero() {
		return old, "", ErrChallengeUsed
	}
	return c.issue(op, now, old.Sends+1)
}

func (c *Codes) issue(op Operation, now time.Time, sends int) (Challenge, OTP, error) {
	code, err := c.draw()
	if err != nil {
		return Challenge{}, "", err
	}
	ch := Challenge{MAC: c.mac(code, op), Issued: now, Expires: now.Add(CodeTTL), Sends: sends}
	return ch, code, nil
}

// draw returns CodeDigits uniformly random digits: 4 random bytes, drawn
// again when they fall in the last incomplete block of 10^6 (so that no
// code is likelier than another).
func (c *Codes) draw() (OTP, error) {
	const limit = (1 << 32) / codeSpace * codeSpace
	var b [4]byte
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if _, err := io.ReadFull(c.rand, b[:]); err != nil {
			return "", fmt.Errorf("flows: drawing a one-time code: %w", err)
		}
		if n := binary.BigEndian.Uint32(b[:]); n < limit {
			return OTP(fmt.Sprintf("%0*d", CodeDigits, n%codeSpace)), nil
		}
	}
}

// mac is the digest of code bound to op.
func (c *Codes) mac(code OTP, op Operation) CodeMAC {
	m := hmac.New(sha256.New, c.key)
	m.Write(op.encode(make([]byte, 0, 128)))
	s := code.Reveal()
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(s)))
	m.Write(n[:])
	m.Write([]byte(s))
	return m.Sum(nil)
}

// Check judges code, sent for op at now, against the stored ch, and
// returns the Challenge to store (Used set when accepted) and the result:
//
//   - ch already accepted: CodeUsed if code and op are the ones accepted
//     (whenever it comes back), else CodeWrong;
//   - now after ch.Expires: CodeExpired (whether the code was right is not told);
//   - the digest of code and op differs from ch's: CodeWrong;
//   - else CodeAccepted.
//
// Digests are compared in constant time. A code that is not 6 ASCII
// digits is CodeWrong like any other wrong code. Check does not count
// failures: the caller gives CodeWrong to the phone's Lock.
func (c *Codes) Check(ch Challenge, code OTP, op Operation, now time.Time) (Challenge, CodeResult) {
	match := hmac.Equal(c.mac(code, op), ch.MAC) // false for another length
	switch {
	case !ch.Used.IsZero():
		if match {
			return ch, CodeUsed
		}
		return ch, CodeWrong
	case now.After(ch.Expires):
		return ch, CodeExpired
	case !match:
		return ch, CodeWrong
	}
	ch.Used = now
	return ch, CodeAccepted
}

// String, GoString, Format and LogValue describe Codes without the key
// (fmt would otherwise print the unexported bytes).
func (c *Codes) String() string               { return "Codes{key=" + Mask + "}" }
func (c *Codes) GoString() string             { return c.String() }
func (c *Codes) Format(f fmt.State, _ rune)   { fmt.Fprint(f, c.String()) }
func (c *Codes) LogValue() slog.Value         { return slog.StringValue(c.String()) }
func (c *Codes) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// CodeBudget is the rate of codes to one phone (SPEC §5.5: at most 5 per
// phone per hour, rolling): the times codes were sent to it within the
// last CodeWindow, oldest first. Issue and Resend both spend it. The zero
// value is a phone that was sent nothing.
type CodeBudget struct {
	Sent []time.Time
}

// live returns the times of b still inside the window at now.
func (b CodeBudget) live(now time.Time) []time.Time {
	cut := now.Add(-CodeWindow)
	i := 0
	for i < len(b.Sent) && !b.Sent[i].After(cut) {
		i++
	}
	return b.Sent[i:]
}

// Allow reports whether a code may be sent at now.
func (b CodeBudget) Allow(now time.Time) bool { return len(b.live(now)) < CodesPerHour }

// Spend records a code sent at now and returns the budget to store,
// pruned of times older than the window; ok is false, and nothing
// recorded, when CodesPerHour codes were already sent in the last hour.
func (b CodeBudget) Spend(now time.Time) (next CodeBudget, ok bool) {
	live := b.live(now)
	if len(live) >= CodesPerHour {
		return CodeBudget{Sent: slices.Clone(live)}, false
	}
	return CodeBudget{Sent: append(slices.Clone(live), now)}, true
}

// NextAt returns when the next code may be sent: now if one may be,
// else when the oldest code in the window leaves it (for the reply "try
// again after …").
func (b CodeBudget) NextAt(now time.Time) time.Time {
	live := b.live(now)
	if len(live) < CodesPerHour {
		return now
	}
	return live[len(live)-CodesPerHour].Add(CodeWindow)
}
