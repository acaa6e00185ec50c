package envelope

import "errors"

// The errors a received envelope, message, proof or report can fail with.
// They say what kind of failure it was and never where: no offset, no
// octet, nothing that helps an attacker steer a forgery. Callers match
// them with errors.Is.
var (
	// ErrMalformed means the input is not a well-formed envelope,
	// text carriage, message or report: too short, too long, a zero
	// counter, an unknown message kind, a bad length or alphabet.
	ErrMalformed = errors.New("envelope: malformed")
	// ErrVersion means the format version octet is not one this package
	// speaks (only FormatVersion). A newer module may be talking.
	ErrVersion = errors.New("envelope: unknown format version")
	// ErrMessage means an envelope authenticated but its plaintext is not
	// a valid message for its direction (OpenMessage, Module.Open). Only
	// the holder of the direction's key can cause it, so it points at a
	// faulty peer, not an attacker; the counter counts as spent.
	ErrMessage = errors.New("envelope: authentic envelope with an invalid message")
	// ErrKeyMismatch means the key given is not the header's: another
	// device id or another key version. The header is public, so saying
	// so leaks nothing; it usually means the caller looked up the wrong
	// key.
	ErrKeyMismatch = errors.New("envelope: key does not match header")
	// ErrAuth means authentication failed: a bad AEAD tag (tampered
	// header or ciphertext, wrong key, wrong direction) or a bad report
	// MAC (tampered, another device, a stale nonce).
	ErrAuth = errors.New("envelope: authentication failed")
	// ErrReplay means a counter not greater than the last accepted one.
	ErrReplay = errors.New("envelope: counter replayed or out of order")
	// ErrPlatform means a platform proof did not verify: a bad
	// signature, or a proof with no challenge outstanding.
	ErrPlatform = errors.New("envelope: platform proof refused")
	// ErrCounter means Seal was given counter 0 (reserved: it is the
	// "nothing accepted yet" value of Accept) or a module's counter is
	// exhausted and its key version must be rotated.
	ErrCounter = errors.New("envelope: counter out of range")
	// ErrTooLarge means a plaintext or message larger than MaxPlaintext.
	ErrTooLarge = errors.New("envelope: too large")
)
