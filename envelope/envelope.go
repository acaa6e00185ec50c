package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
)

// The envelope (SPEC §9, docs/envelope.md "Envelope"):
//
//	offset size field
//	0      1    format version, FormatVersion
//	1      1    key version, 1..255
//	2      8    device id
//	10     8    counter, big-endian, 1..2^64-1
//	18     n+16 AES-256-GCM ciphertext of an n-octet plaintext, then the tag
//
// The 18-octet header is the associated data; the nonce is derived from
// the direction and the counter.
const (
	// FormatVersion is the only format version this package speaks.
	FormatVersion = 1
	// HeaderSize is the length of the clear header.
	HeaderSize = 18
	// TagSize is the length of the AES-GCM tag.
	TagSize = 16
	// Overhead is what an envelope adds to its plaintext.
	Overhead = HeaderSize + TagSize
	// MinPlaintext is the shortest plaintext: a message is at least its
	// kind octet.
	MinPlaintext = 1
	// MinSize is the length of the shortest envelope.
	MinSize = Overhead + MinPlaintext
	// MaxSize caps an envelope at what 255 concatenated 8-bit parts carry
	// (255 × 134 octets); Parse refuses anything longer before looking
	// further, and nothing here allocates past it.
	MaxSize = 255 * 134
	// MaxPlaintext is the longest plaintext Seal accepts.
	MaxPlaintext = MaxSize - Overhead
	// AEADNonceSize is the AES-GCM nonce length.
	AEADNonceSize = 12
)

// Header is the clear part of an envelope. Parse reads it without any
// key, so the gateway can find the device's key and check the counter
// first.
type Header struct {
	Version    uint8    // format version; always FormatVersion once parsed
	KeyVersion uint8    // master key generation, 1..255
	DeviceID   DeviceID // the sending or receiving module
	Counter    uint64   // strictly increasing per device, key version and direction; never 0
}

// Parse reads the header of envelope b. It is cheap and needs no key. It
// returns ErrVersion when the first octet is not FormatVersion, and
// ErrMalformed when b is shorter than MinSize or longer than MaxSize, or
// the key version or counter is 0. A header that parses says nothing
// about authenticity: only Open does.
func Parse(b []byte) (Header, error) {
	if len(b) == 0 {
		return Header{}, ErrMalformed
	}
	if b[0] != FormatVersion {
		return Header{}, ErrVersion
	}
	if len(b) < MinSize || len(b) > MaxSize {
		return Header{}, ErrMalformed
	}
	h := Header{
		Version:    b[0],
		KeyVersion: b[1],
		Counter:    binary.BigEndian.Uint64(b[10:18]),
	}
	copy(h.DeviceID[:], b[2:10])
	if h.KeyVersion == 0 || h.Counter == 0 {
		return Header{}, ErrMalformed
	}
	return h, nil
}

// appendHeader appends the encoded header.
func (h Header) append(b []byte) []byte {
	b = append(b, h.Version, h.KeyVersion)
	b = append(b, h.DeviceID[:]...)
	return binary.BigEndian.AppendUint64(b, h.Counter)
}

// AEADNonce returns the 12-octet AES-GCM nonce of an envelope with counter c
// travelling in direction d: d, three zero octets, then c big-endian.
// It is exported for other implementations' tests and the doc's vectors.
func AEADNonce(d Direction, c uint64) [AEADNonceSize]byte {
	var n [AEADNonceSize]byte
	n[0] = byte(d)
	binary.BigEndian.PutUint64(n[4:], c)
	return n
}

// Seal encrypts plaintext for direction d under k with counter, and
// returns the envelope. The caller owns the counter: it must be greater
// than every counter sealed before under k in direction d, and must be
// stored as used before the envelope leaves (else a crash could reuse
// it, and a reused counter is a reused nonce). Seal is deterministic and
// safe for concurrent use.
//
// It returns ErrKey for an invalid key or direction, ErrCounter for
// counter 0, ErrMalformed for an empty plaintext and ErrTooLarge for one
// longer than MaxPlaintext.
func Seal(k DeviceKey, d Direction, counter uint64, plaintext []byte) ([]byte, error) {
	if !k.valid() || !d.valid() {
		return nil, ErrKey
	}
	if counter == 0 {
		return nil, ErrCounter
	}
	if len(plaintext) < MinPlaintext {
		return nil, ErrMalformed
	}
	if len(plaintext) > MaxPlaintext {
		return nil, ErrTooLarge
	}
	aead, err := newAEAD(&k, d)
	if err != nil {
		return nil, err
	}
	h := Header{Version: FormatVersion, KeyVersion: k.version, DeviceID: k.id, Counter: counter}
	out := make([]byte, 0, Overhead+len(plaintext))
	out = h.append(out)
	n := AEADNonce(d, counter)
	return aead.Seal(out, n[:], plaintext, out[:HeaderSize]), nil
}

// Open authenticates and decrypts envelope b, received in direction d,
// with k, and returns the plaintext. It checks the header as Parse does,
// then that k is the header's device and key version (ErrKeyMismatch),
// then the tag (ErrAuth). On any error it returns no plaintext at all.
//
// Open does not check the counter against the last accepted one: that
// state is the caller's (see Accept and Module). It is safe for
// concurrent use.
func Open(k DeviceKey, d Direction, b []byte) ([]byte, error) {
	h, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if !k.valid() || !d.valid() {
		return nil, ErrKey
	}
	if h.DeviceID != k.id || h.KeyVersion != k.version {
		return nil, ErrKeyMismatch
	}
	aead, err := newAEAD(&k, d)
	if err != nil {
		return nil, err
	}
	n := AEADNonce(d, h.Counter)
	pt, err := aead.Open(nil, n[:], b[HeaderSize:], b[:HeaderSize])
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

func newAEAD(k *DeviceKey, d Direction) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.aeadKey(d))
	if err != nil {
		return nil, ErrKey
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, ErrKey
	}
	return aead, nil
}

// Accept is the replay rule: an envelope whose authenticated counter is
// got may be accepted after one with counter last only if got > last.
// last is 0 before anything was accepted (counters start at 1). The
// caller stores got as the new last in the same transaction that acts on
// the envelope (SPEC §9).
func Accept(last, got uint64) bool { return got > last }
