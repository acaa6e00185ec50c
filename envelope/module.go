package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"math"
)

// ModuleConfig personalises a Module, as a SIM applet is at issuance
// (SPEC §9), and restores its counters.
type ModuleConfig struct {
	DeviceID   DeviceID
	KeyVersion uint8             // 1..255
	MasterKey  MasterKey         // 32 octets; NewModule keeps only the derived keys
	Platform   ed25519.PublicKey // the gateway's platform key
	// Rand is where challenges come from; nil means crypto/rand. Tests
	// give a fixed stream to make a session reproducible.
	Rand io.Reader
	// Uplink is the last uplink counter used and Downlink the last
	// downlink counter accepted, as persisted (0 for a fresh module).
	Uplink, Downlink uint64
}

// Module is the phone side of the secure channel: the reference security
// module that `paygate phone`, the demo and tests speak. It seals
// commands, opens replies (refusing any counter not greater than the last
// accepted), opens a session with a platform challenge and verifies the
// platform's proof, and answers integrity nonces.
//
// Every method that spends or accepts a counter changes the counters;
// whoever keeps the module across restarts stores Counters after each
// call and before the envelope leaves, so a counter is never used twice.
// A Module is not safe for concurrent use.
type Module struct {
	key      DeviceKey
	platform ed25519.PublicKey
	rand     io.Reader
	up       uint64 // last uplink counter used
	down     uint64 // last downlink counter accepted
	pending  []byte // the challenge of the hello awaiting its proof
	verified bool   // a proof verified since the last hello
}

// NewModule returns a module personalised by c. It returns ErrKey for a
// bad master key, key version 0 or a platform key that is not an Ed25519
// public key.
func NewModule(c ModuleConfig) (*Module, error) {
	k, err := NewDeviceKey(c.DeviceID, c.KeyVersion, c.MasterKey)
	if err != nil {
		return nil, err
	}
	if len(c.Platform) != ed25519.PublicKeySize {
		return nil, ErrKey
	}
	r := c.Rand
	if r == nil {
		r = rand.Reader
	}
	return &Module{
		key:      k,
		platform: bytes.Clone(c.Platform),
		rand:     r,
		up:       c.Uplink,
		down:     c.Downlink,
	}, nil
}

// DeviceID returns the module's device id.
func (m *Module) DeviceID() DeviceID { return m.key.id }

// KeyVersion returns the key version the module seals with.
func (m *Module) KeyVersion() uint8 { return m.key.version }

// Counters returns the last uplink counter used and the last downlink
// counter accepted: the state to persist.
func (m *Module) Counters() (uplink, downlink uint64) { return m.up, m.down }

// Verified reports whether the platform has proved itself since the last
// Hello. A module should send no money command before it has; Module
// leaves that decision to its caller so tests can exercise the gateway's
// refusals.
func (m *Module) Verified() bool { return m.verified }

// seal spends the next uplink counter on msg.
func (m *Module) seal(msg Message) ([]byte, error) {
	if m.up == math.MaxUint64 {
		return nil, ErrCounter // rotate the key version
	}
	p, err := msg.Marshal()
	if err != nil {
		return nil, err
	}
	m.up++
	return Seal(m.key, Uplink, m.up, p)
}

// SealCommand returns the uplink envelope carrying command text (a SPEC
// §3 command, UTF-8). It returns ErrMalformed for empty or invalid UTF-8
// text, ErrTooLarge for text longer than MaxPlaintext-1, and ErrCounter
// once the uplink counter is exhausted. The envelope is binary; carry it
// with EncodeText on GSM-7-only paths.
func (m *Module) SealCommand(text string) ([]byte, error) {
	return m.seal(TextMessage(text))
}

// Hello starts a session: it draws a fresh challenge, forgets any earlier
// one and any earlier verification, and returns the KindHello envelope
// to send. It returns the random source's error if it fails.
func (m *Module) Hello() ([]byte, error) {
	ch, err := NewChallenge(m.rand)
	if err != nil {
		return nil, err
	}
	env, err := m.seal(HelloMessage(ch))
	if err != nil {
		return nil, err
	}
	m.pending, m.verified = ch, false
	return env, nil
}

// Open opens a downlink envelope with Receive and returns its message.
// In order, it refuses: a malformed envelope or unknown version (ErrMalformed,
// ErrVersion); one for another device or key version (ErrKeyMismatch); a
// counter not greater than the last accepted (ErrReplay) — before any
// decryption; a bad tag (ErrAuth). Once the envelope authenticates its
// counter is accepted, whatever follows: a plaintext that is not a
// downlink message (ErrMessage); a KindProof whose signature does not
// verify over the outstanding challenge, or with no challenge outstanding
// (ErrPlatform). A verified proof uses up the challenge and sets
// Verified; its integrity nonce, if any, is in the message for Report.
func (m *Module) Open(b []byte) (Message, error) {
	h, msg, err := Receive(m.key, Downlink, m.down, b)
	if h.Counter != 0 {
		m.down = h.Counter // authentic: the gateway spent it
	}
	if err != nil {
		return Message{}, err
	}
	if msg.Kind == KindProof {
		ch := m.pending
		m.pending = nil
		if ch == nil || !VerifyPlatform(m.platform, m.key.id, ch, msg.Signature) {
			return Message{}, ErrPlatform
		}
		m.verified = true
	}
	return msg, nil
}

// Report measures components and returns the uplink KindReport envelope
// answering the gateway's integrity nonce. It returns ErrMalformed for a
// nonce outside NonceMin..NonceMax or components Measure refuses, and
// ErrCounter once the uplink counter is exhausted.
func (m *Module) Report(nonce []byte, components ...Component) ([]byte, error) {
	meas, err := Measure(components...)
	if err != nil {
		return nil, err
	}
	r, err := MakeReport(m.key, nonce, meas)
	if err != nil {
		return nil, err
	}
	return m.seal(ReportMessage(r))
}
