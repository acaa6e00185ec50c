package envelope

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Kind is the first octet of every envelope plaintext and says what
// follows (docs/envelope.md, "Messages"). It travels encrypted, so an
// observer of the SMS cannot tell a command from a handshake except by
// its length.
type Kind uint8

const (
	// KindText is a SPEC §3 command (uplink) or its reply (downlink):
	// non-empty UTF-8 text.
	KindText Kind = 0x01
	// KindHello opens a session (uplink): the module's platform
	// challenge, ChallengeMin..ChallengeMax octets.
	KindHello Kind = 0x02
	// KindProof answers a hello (downlink): the 64-octet Ed25519 platform
	// signature, optionally followed by an integrity nonce of
	// NonceMin..NonceMax octets.
	KindProof Kind = 0x03
	// KindNonce asks for an integrity report outside a session start
	// (downlink): a nonce of NonceMin..NonceMax octets.
	KindNonce Kind = 0x04
	// KindReport answers a nonce (uplink): a ReportSize-octet report.
	KindReport Kind = 0x05
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindText:
		return "text"
	case KindHello:
		return "hello"
	case KindProof:
		return "proof"
	case KindNonce:
		return "nonce"
	case KindReport:
		return "report"
	}
	return fmt.Sprintf("kind(0x%02x)", uint8(k))
}

// direction returns the direction a kind may travel in (0 for both) and
// whether the kind is known.
func (k Kind) direction() (Direction, bool) {
	switch k {
	case KindText:
		return 0, true
	case KindHello, KindReport:
		return Uplink, true
	case KindProof, KindNonce:
		return Downlink, true
	}
	return 0, false
}

// Message is an envelope plaintext, decoded. Only the fields of its Kind
// are set; the others are empty. Byte slices returned by ParseMessage
// are fresh copies.
type Message struct {
	Kind      Kind
	Text      string // KindText
	Challenge []byte // KindHello
	Signature []byte // KindProof
	Nonce     []byte // KindProof (optional), KindNonce
	Report    []byte // KindReport
}

// TextMessage returns a KindText message.
func TextMessage(s string) Message { return Message{Kind: KindText, Text: s} }

// HelloMessage returns a KindHello message carrying challenge.
func HelloMessage(challenge []byte) Message { return Message{Kind: KindHello, Challenge: challenge} }

// ProofMessage returns a KindProof message: the platform signature and,
// if nonce is not empty, an integrity nonce.
func ProofMessage(sig, nonce []byte) Message {
	return Message{Kind: KindProof, Signature: sig, Nonce: nonce}
}

// NonceMessage returns a KindNonce message.
func NonceMessage(nonce []byte) Message { return Message{Kind: KindNonce, Nonce: nonce} }

// ReportMessage returns a KindReport message.
func ReportMessage(report []byte) Message { return Message{Kind: KindReport, Report: report} }

// Marshal encodes m as an envelope plaintext. It returns ErrMalformed when
// m breaks its kind's rules (an unknown kind, empty or invalid UTF-8 text,
// a field of the wrong length, a field of another kind set) and
// ErrTooLarge when the encoding is longer than MaxPlaintext.
func (m Message) Marshal() ([]byte, error) {
	if !m.wellFormed() {
		return nil, ErrMalformed
	}
	var body []byte
	var n int
	switch m.Kind {
	case KindText:
		n = len(m.Text)
	case KindHello:
		body = m.Challenge
	case KindProof:
		n = len(m.Signature) + len(m.Nonce)
	case KindNonce:
		body = m.Nonce
	case KindReport:
		body = m.Report
	}
	if 1+n+len(body) > MaxPlaintext {
		return nil, ErrTooLarge
	}
	out := make([]byte, 0, 1+n+len(body))
	out = append(out, byte(m.Kind))
	switch m.Kind {
	case KindText:
		out = append(out, m.Text...)
	case KindProof:
		out = append(append(out, m.Signature...), m.Nonce...)
	default:
		out = append(out, body...)
	}
	return out, nil
}

// wellFormed reports whether m follows its kind's rules.
func (m Message) wellFormed() bool {
	switch m.Kind {
	case KindText:
		return m.Text != "" && utf8.ValidString(m.Text) &&
			len(m.Challenge)+len(m.Signature)+len(m.Nonce)+len(m.Report) == 0
	case KindHello:
		return inRange(len(m.Challenge), ChallengeMin, ChallengeMax) &&
			m.Text == "" && len(m.Signature)+len(m.Nonce)+len(m.Report) == 0
	case KindProof:
		return len(m.Signature) == SignatureSize && (len(m.Nonce) == 0 || inRange(len(m.Nonce), NonceMin, NonceMax)) &&
			m.Text == "" && len(m.Challenge)+len(m.Report) == 0
	case KindNonce:
		return inRange(len(m.Nonce), NonceMin, NonceMax) &&
			m.Text == "" && len(m.Challenge)+len(m.Signature)+len(m.Report) == 0
	case KindReport:
		return len(m.Report) == ReportSize &&
			m.Text == "" && len(m.Challenge)+len(m.Signature)+len(m.Nonce) == 0
	}
	return false
}

func inRange(n, lo, hi int) bool { return lo <= n && n <= hi }

// ParseMessage decodes an envelope plaintext. It returns ErrMalformed for
// anything Marshal would not have produced, so a message that parses
// marshals back to exactly p.
func ParseMessage(p []byte) (Message, error) {
	if len(p) < 1 || len(p) > MaxPlaintext {
		return Message{}, ErrMalformed
	}
	m := Message{Kind: Kind(p[0])}
	body := p[1:]
	switch m.Kind {
	case KindText:
		m.Text = string(body)
	case KindHello:
		m.Challenge = bytes.Clone(body)
	case KindProof:
		if len(body) < SignatureSize {
			return Message{}, ErrMalformed
		}
		m.Signature = bytes.Clone(body[:SignatureSize])
		if len(body) > SignatureSize {
			m.Nonce = bytes.Clone(body[SignatureSize:])
		}
	case KindNonce:
		m.Nonce = bytes.Clone(body)
	case KindReport:
		m.Report = bytes.Clone(body)
	default:
		return Message{}, ErrMalformed
	}
	if !m.wellFormed() {
		return Message{}, ErrMalformed
	}
	return m, nil
}

// SealMessage marshals m and seals it for direction d under k with
// counter. Besides Seal's errors it returns ErrMalformed for a message
// that breaks its kind's rules or may not travel in direction d (a hello
// or report goes uplink only; a proof or nonce downlink only).
func SealMessage(k DeviceKey, d Direction, counter uint64, m Message) ([]byte, error) {
	if !kindAllowed(m.Kind, d) {
		return nil, ErrMalformed
	}
	p, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	return Seal(k, d, counter, p)
}

// OpenMessage opens envelope b received in direction d and decodes its
// message. It returns Open's errors with a zero Header; or, when the
// envelope authenticated but its plaintext is not a message allowed in
// direction d, the header and ErrMessage — the sender did spend that
// counter, so a caller keeping counters accepts it all the same.
func OpenMessage(k DeviceKey, d Direction, b []byte) (Header, Message, error) {
	p, err := Open(k, d, b)
	if err != nil {
		return Header{}, Message{}, err
	}
	h, _ := Parse(b) // Open parsed it already
	m, err := ParseMessage(p)
	if err != nil || !kindAllowed(m.Kind, d) {
		return h, Message{}, ErrMessage
	}
	return h, m, nil
}

// Receive is the whole receiving rule of one side, for the gateway
// (d = Uplink) and the module (d = Downlink) alike: parse the header,
// check that k is its device and key version (ErrKeyMismatch), refuse a
// counter not greater than last (ErrReplay) before any decryption, then
// open and decode as OpenMessage does.
//
// The returned header has a non-zero Counter exactly when the envelope
// authenticated — with a nil error, or with ErrMessage — and then the
// caller must store that counter as its new last, in the same
// transaction that acts on the message (SPEC §9). On every other error
// the header is zero and nothing may change.
func Receive(k DeviceKey, d Direction, last uint64, b []byte) (Header, Message, error) {
	h, err := Parse(b)
	if err != nil {
		return Header{}, Message{}, err
	}
	if !k.valid() || !d.valid() {
		return Header{}, Message{}, ErrKey
	}
	if h.DeviceID != k.id || h.KeyVersion != k.version {
		return Header{}, Message{}, ErrKeyMismatch
	}
	if !Accept(last, h.Counter) {
		return Header{}, Message{}, ErrReplay
	}
	return OpenMessage(k, d, b)
}

func kindAllowed(k Kind, d Direction) bool {
	dir, ok := k.direction()
	return ok && (dir == 0 || dir == d)
}
