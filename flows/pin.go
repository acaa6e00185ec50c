package flows

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// PIN storage (SPEC §5.5: "a salted memory-hard hash plus a pepper kept
// outside the database").
//
// A stored PIN is argon2id(HMAC-SHA256(pepper, pin), salt), written as a
// PHC string: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash> (unpadded
// standard base64). Why each part:
//
//   - The pepper (keys.pepper_file, 32 random bytes) is mixed in first, as
//     an HMAC key. It lives in a file, never in the database, so a stolen
//     database alone is useless: without the pepper no PIN can be tested
//     offline, not even the 10⁴–10⁶ a short PIN allows (RELIABILITY.md,
//     performance note). This is the protection that matters for PINs.
//   - argon2id (RFC 9106) makes each guess cost memory and time once the
//     pepper is stolen too; the per-PIN salt makes every phone its own
//     brute force. With 10⁶ PINs at most, this slows an attacker down —
//     about 6 core-hours per 6-digit PIN at the defaults — rather than
//     stopping one.
//   - The parameters travel in the encoding, so they can be raised later:
//     old hashes still verify, and Verify says when one should be
//     rewritten with the current parameters (needsRehash).

// Argon2Params are the argon2id cost parameters of a PINHasher.
type Argon2Params struct {
	Time      uint32 // passes over the memory (t), at least 1
	MemoryKiB uint32 // memory in KiB (m), at least 8 × Threads
	Threads   uint8  // lanes (p); 1 keeps one check on one core
	KeyLen    uint32 // bytes of hash output, 16 to 64
}

// DefaultArgon2 is OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane).
// One lane keeps a PIN check on one core of a 2-core box, so hashing
// never takes the whole machine; on the AMD EPYC the project is measured
// on, one Verify takes about 21 ms and allocates 19 MiB (BenchmarkPINVerify):
// about 45 checks per second per core. Raising it later is a config
// change: the parameters are in each encoding.
var DefaultArgon2 = Argon2Params{Time: 2, MemoryKiB: 19 * 1024, Threads: 1, KeyLen: 32}

// PepperSize is the size of the pepper: keys.pepper_file holds 32 random
// bytes (SPEC §1).
const PepperSize = 32

// saltSize is the size of a new hash's salt.
const saltSize = 16

// Bounds on the parameters Verify accepts from a stored hash: a tampered
// or corrupt row must not make a check allocate gigabytes or run for
// minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 64
	maxThreads   = 16
	minKeyLen    = 16
	maxKeyLen    = 64
	minSaltLen   = 8
	maxSaltLen   = 64
)

func (p Argon2Params) valid() bool {
	return p.Time >= 1 && p.Time <= maxTime && p.Threads >= 1 && p.Threads <= maxThreads &&
		p.MemoryKiB >= 8*uint32(p.Threads) && p.MemoryKiB <= maxMemoryKiB &&
		p.KeyLen >= minKeyLen && p.KeyLen <= maxKeyLen
}

// PINHash is a stored PIN: the PHC encoding described above. It holds no
// PIN, but with the pepper it allows an offline search of every PIN, so it
// prints with its salt and hash masked ("$argon2id$v=19$m=19456,t=2,p=1$****")
// in every fmt verb, in slog and in text or JSON encodings; Reveal gives
// the encoding to the store.
type PINHash string

// Reveal returns the full encoding, for the store to write.
func (h PINHash) Reveal() string { return string(h) }

// masked is the encoding with its salt and hash replaced by Mask.
func (h PINHash) masked() string {
	if s := string(h); strings.Count(s, "$") == 5 {
		return s[:strings.LastIndexByte(s[:strings.LastIndexByte(s, '$')], '$')+1] + Mask
	}
	return Mask
}

// String, GoString, Format, LogValue and MarshalText print the encoding
// with salt and hash masked.
func (h PINHash) String() string               { return h.masked() }
func (h PINHash) GoString() string             { return h.masked() }
func (h PINHash) Format(f fmt.State, _ rune)   { fmt.Fprint(f, h.masked()) }
func (h PINHash) LogValue() slog.Value         { return slog.StringValue(h.masked()) }
func (h PINHash) MarshalText() ([]byte, error) { return []byte(h.masked()), nil }

// ErrPINHash is returned (wrapped) by Verify for a stored hash it cannot
// read: not an argon2id PHC string, or parameters out of bounds.
var ErrPINHash = errors.New("flows: unreadable PIN hash")

// PINHasher hashes and checks PINs with a pepper and argon2id parameters.
// It is safe for concurrent use. Each call runs argon2id on the calling
// goroutine and allocates Params.MemoryKiB: callers bound how many run at
// once (a worker pool of one per core at most), and never call it inside
// the single writer's transaction (ARCHITECTURE.md, Scale).
type PINHasher struct {
	pepper []byte
	params Argon2Params
	mu     sync.Mutex // guards rand
	rand   io.Reader
}

// NewPINHasher returns a PINHasher with the pepper (exactly PepperSize
// bytes: the decoded content of keys.pepper_file; a 64-byte argument is
// most likely the hex text, not decoded), the parameters new hashes get,
// and the source of salts (crypto/rand.Reader in production). It keeps a
// copy of the pepper.
func NewPINHasher(pepper []byte, params Argon2Params, rand io.Reader) (*PINHasher, error) {
	if len(pepper) != PepperSize {
		return nil, fmt.Errorf("flows: PIN pepper is %d bytes, want %d", len(pepper), PepperSize)
	}
	if !params.valid() {
		return nil, fmt.Errorf("flows: argon2id parameters out of bounds: t=%d m=%d p=%d keylen=%d",
			params.Time, params.MemoryKiB, params.Threads, params.KeyLen)
	}
	if rand == nil {
		return nil, errors.New("flows: PIN hasher needs a random source")
	}
	return &PINHasher{pepper: append([]byte(nil), pepper...), params: params, rand: rand}, nil
}

// Params returns the parameters new hashes get.
func (h *PINHasher) Params() Argon2Params { return h.params }

// Hash returns the encoding of pin with a fresh salt. It does not judge
// the PIN: call ValidatePIN first. The error is the random source's.
func (h *PINHasher) Hash(pin PIN) (PINHash, error) {
	salt := make([]byte, saltSize)
	h.mu.Lock()
	_, err := io.ReadFull(h.rand, salt)
	h.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("flows: reading a PIN salt: %w", err)
	}
	key := h.derive(pin, salt, h.params)
	return PINHash(encodePHC(h.params, salt, key)), nil
}

// Verify reports whether pin is the PIN of stored, comparing in constant
// time, and whether stored should be replaced by Hash(pin) because its
// parameters or sizes differ from the current ones (needsRehash, only
// when ok). A stored hash it cannot read is an error wrapping ErrPINHash,
// never a false "wrong PIN": the caller must not count it as a failure.
func (h *PINHasher) Verify(pin PIN, stored PINHash) (ok, needsRehash bool, err error) {
	p, salt, want, err := decodePHC(string(stored))
	if err != nil {
		return false, false, err
	}
	got := h.derive(pin, salt, p)
	ok = subtle.ConstantTimeCompare(got, want) == 1
	clear(got)
	needsRehash = ok && (p != h.params || len(salt) != saltSize)
	return ok, needsRehash, nil
}

// derive is argon2id over the peppered pre-hash of pin.
func (h *PINHasher) derive(pin PIN, salt []byte, p Argon2Params) []byte {
	mac := hmac.New(sha256.New, h.pepper)
	mac.Write([]byte(pin.Reveal()))
	pre := mac.Sum(nil)
	key := argon2.IDKey(pre, salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	clear(pre)
	return key
}

// String, GoString, Format and LogValue describe the hasher without its
// pepper (fmt would otherwise print the unexported bytes).
func (h *PINHasher) String() string {
	return fmt.Sprintf("PINHasher{argon2id m=%d,t=%d,p=%d pepper=%s}",
		h.params.MemoryKiB, h.params.Time, h.params.Threads, Mask)
}
func (h *PINHasher) GoString() string           { return h.String() }
func (h *PINHasher) Format(f fmt.State, _ rune) { fmt.Fprint(f, h.String()) }
func (h *PINHasher) LogValue() slog.Value       { return slog.StringValue(h.String()) }

var b64 = base64.RawStdEncoding

func encodePHC(p Argon2Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decodePHC reads an encoding written by encodePHC, with bounds on every
// part. Its errors never quote the encoding.
func decodePHC(s string) (p Argon2Params, salt, key []byte, err error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrPINHash, what) }
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, bad("not an argon2id PHC string")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, bad("unsupported argon2 version")
	}
	var m, t, th uint64
	kvs := strings.Split(parts[3], ",")
	if len(kvs) != 3 {
		return p, nil, nil, bad("malformed parameters")
	}
	for i, dst := range []*uint64{&m, &t, &th} {
		val, found := strings.CutPrefix(kvs[i], "mtp"[i:i+1]+"=")
		n, perr := strconv.ParseUint(val, 10, 32)
		if !found || perr != nil {
			return p, nil, nil, bad("malformed parameters")
		}
		*dst = n
	}
	if th > maxThreads {
		return p, nil, nil, bad("parameters out of bounds")
	}
	salt, err1 := b64.Strict().DecodeString(parts[4])
	key, err2 := b64.Strict().DecodeString(parts[5])
	if err1 != nil || err2 != nil {
		return p, nil, nil, bad("malformed base64")
	}
	p = Argon2Params{Time: uint32(t), MemoryKiB: uint32(m), Threads: uint8(th), KeyLen: uint32(len(key))}
	if !p.valid() || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return Argon2Params{}, nil, nil, bad("parameters out of bounds")
	}
	return p, salt, key, nil
}

// DeriveKey derives a 32-byte key for one purpose from a master secret
// with HKDF-SHA256 (RFC 5869), so that one key file can serve several
// uses without one use's key telling anything about another's. Purposes
// are fixed strings such as "paygate otp v1" (the Codes key, from the
// pepper) or "paygate fingerprint v1". The master must be at least 32
// bytes.
func DeriveKey(master []byte, purpose string) ([]byte, error) {
	if len(master) < 32 {
		return nil, fmt.Errorf("flows: master key is %d bytes, want at least 32", len(master))
	}
	return hkdf.Key(sha256.New, master, nil, purpose, 32)
}

// Trivial PINs (SPEC §5.5: "trivial PINs (all same, sequences) refused").

// ReasonPINTrivial: a new PIN is too easy to guess (ValidatePIN).
const ReasonPINTrivial Reason = "pin_trivial"

// pinTrivialMessage is the user-safe message of ReasonPINTrivial, without
// digits (Error's rule).
const pinTrivialMessage = "that PIN is too easy to guess: no repeated or sequential digits and no common PIN"

// commonPINs are well-known PINs that the pattern rules below do not
// catch: keypad shapes (2580 is the middle column, 147258 two columns),
// and numbers chosen for their meaning in Chinese (520 "I love you", 1314
// "for a lifetime"). Patterns catch the rest of the usual top lists:
// 1234, 1111, 0000, 1212, 123123, 121212, 112112, 654321.
var commonPINs = map[string]bool{
	"1004": true, "2000": true, "1122": true, "2580": true, "0852": true, "1314": true,
	"5201": true, "1379": true, "7410": true, "1470": true,
	"11223": true, "13579": true, "52013": true,
	"112233": true, "147258": true, "258369": true, "369258": true, "147369": true,
	"159753": true, "357159": true, "789456": true, "456123": true, "520131": true,
	"131452": true, "201314": true, "666888": true, "888666": true, "102030": true,
	"100200": true, "110110": true, "998877": true, "778899": true, "654123": true,
}

// ValidatePIN checks a new PIN before it is set (SPEC §5.5): exactly
// length ASCII digits (length is config pin_length, 4 to 6) and not
// trivial — one digit repeated, a run of digits with a constant step
// (1234, 654321, 8901 with wrap-around, 2468), a short block repeated
// (1212, 123123, 520520), or a PIN in a small list of common ones. It
// returns a CodeUsage *Error about KwPIN with ReasonPINFormat or
// ReasonPINTrivial; its message never quotes the PIN. A length outside 4
// to 6 is a configuration bug and returns a plain error.
func ValidatePIN(pin string, length int) error {
	if length < 4 || length > 6 {
		return fmt.Errorf("flows: PIN length %d is not 4 to 6", length)
	}
	if len(pin) != length || !isDigits(pin) {
		return usage(KwPIN, ReasonPINFormat)
	}
	if trivialPIN(pin) {
		msg := pinTrivialMessage
		if syn := synopsis[KwPIN]; syn != "" {
			msg += "; the form is " + syn
		}
		return &Error{Code: CodeUsage, Topic: KwPIN, Reason: ReasonPINTrivial, Message: msg}
	}
	return nil
}

// trivialPIN reports whether pin (ASCII digits) is trivial, as
// ValidatePIN says.
func trivialPIN(pin string) bool {
	if commonPINs[pin] {
		return true
	}
	// A constant step mod 10: 0 is one digit repeated, ±1 a sequence.
	step := (pin[1] - pin[0] + 10) % 10
	progression := true
	for i := 2; i < len(pin); i++ {
		if (pin[i]-pin[i-1]+10)%10 != step {
			progression = false
			break
		}
	}
	if progression {
		return true
	}
	// A block of up to half the length, repeated to fill it.
	for period := 1; period <= len(pin)/2; period++ {
		if len(pin)%period == 0 && strings.Repeat(pin[:period], len(pin)/period) == pin {
			return true
		}
	}
	return false
}
