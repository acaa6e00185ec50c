package envelope

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
)

// The integrity report (SPEC §9): the gateway sends a nonce (in a
// KindProof or KindNonce envelope); the module — the trusted part, not
// the app — measures the client code and configuration it is given and
// returns a report MACed under the device's attestation key, bound to the
// nonce, the device id and the key version (docs/envelope.md, "Integrity
// report").
const (
	// NonceMin and NonceMax bound an integrity nonce.
	NonceMin = 16
	NonceMax = 32
	// NonceSize is the length NewNonce draws: 128 bits, so that a
	// KindProof with its nonce fits one text SMS.
	NonceSize = 16
	// ReportVersion is the first octet of a report.
	ReportVersion = 1
	// MeasurementSize is a measurement's length (SHA-256).
	MeasurementSize = sha256.Size
	// ReportSize is a report's length: version, measurement, MAC.
	ReportSize = 1 + MeasurementSize + sha256.Size
)

const (
	measureContext = "paygate/envelope/v1 measurement\x00"
	reportContext  = "paygate/envelope/v1 report\x00"
)

// NewNonce draws a NonceSize-octet integrity nonce from r. The gateway
// keeps it (per device, until the report comes or it expires) to give to
// VerifyReport. It returns r's error if r cannot supply it.
func NewNonce(r io.Reader) ([]byte, error) { return draw(r, NonceSize) }

// Component is one named input to a measurement: a piece of client code
// or configuration, e.g. {"app", <code bytes>} or {"config", <file>}.
type Component struct {
	Name string
	Data []byte
}

// Measurement is a SHA-256 digest over a module's components. It prints
// as 64 lowercase hex digits, the form an allow-list is written in.
type Measurement [MeasurementSize]byte

// String returns the measurement as 64 lowercase hex digits.
func (m Measurement) String() string { return hex.EncodeToString(m[:]) }

// MarshalText returns the measurement as 64 lowercase hex digits.
func (m Measurement) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses 64 hex digits.
func (m *Measurement) UnmarshalText(b []byte) error {
	v, err := ParseMeasurement(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMeasurement parses a measurement written as 64 hex digits.
func ParseMeasurement(s string) (Measurement, error) {
	var m Measurement
	if len(s) != 2*MeasurementSize {
		return m, fmt.Errorf("envelope: measurement: want %d hex digits, have %d", 2*MeasurementSize, len(s))
	}
	if _, err := hex.Decode(m[:], []byte(s)); err != nil {
		return Measurement{}, fmt.Errorf("envelope: measurement: not hex")
	}
	return m, nil
}

// Measure computes the measurement of components. The order they are
// given in does not matter: they are hashed sorted by name, each as its
// name and data, both length-prefixed, after a context string (the exact
// encoding is in docs/envelope.md). It returns ErrMalformed for an empty
// list, an empty or repeated name, or a name longer than 255 octets.
func Measure(components ...Component) (Measurement, error) {
	if len(components) == 0 {
		return Measurement{}, ErrMalformed
	}
	cs := slices.Clone(components)
	slices.SortFunc(cs, func(a, b Component) int { return cmp.Compare(a.Name, b.Name) })
	h := sha256.New()
	h.Write([]byte(measureContext))
	var n [8]byte
	binary.BigEndian.PutUint32(n[:4], uint32(len(cs)))
	h.Write(n[:4])
	for i, c := range cs {
		if c.Name == "" || len(c.Name) > 255 || (i > 0 && cs[i-1].Name == c.Name) {
			return Measurement{}, ErrMalformed
		}
		h.Write([]byte{byte(len(c.Name))})
		h.Write([]byte(c.Name))
		binary.BigEndian.PutUint64(n[:], uint64(len(c.Data)))
		h.Write(n[:])
		h.Write(c.Data)
	}
	var m Measurement
	h.Sum(m[:0])
	return m, nil
}

// AllowList is the operators' list of accepted measurements, each with a
// label saying what it is (e.g. "app 2.3.1 / config 7"). Checking a
// report against it is the gateway's policy; the type is here so the
// gateway and tools agree on it. A nil AllowList allows nothing.
type AllowList map[Measurement]string

// Allowed returns the label of m and whether m is on the list.
func (a AllowList) Allowed(m Measurement) (label string, ok bool) {
	label, ok = a[m]
	return label, ok
}

// reportMAC is the report's MAC: HMAC-SHA256 under the attestation key
// over the context, key version, device id, nonce length and nonce, the
// report version and the measurement.
func reportMAC(k *DeviceKey, nonce []byte, m Measurement) []byte {
	mac := hmac.New(sha256.New, k.attest[:])
	mac.Write([]byte(reportContext))
	mac.Write([]byte{k.version})
	mac.Write(k.id[:])
	mac.Write([]byte{byte(len(nonce))})
	mac.Write(nonce)
	mac.Write([]byte{ReportVersion})
	mac.Write(m[:])
	return mac.Sum(nil)
}

// MakeReport returns the integrity report of measurement m for nonce
// under k: ReportVersion, m, then the MAC. It returns ErrKey for an
// invalid key and ErrMalformed for a nonce outside NonceMin..NonceMax.
func MakeReport(k DeviceKey, nonce []byte, m Measurement) ([]byte, error) {
	if !k.valid() {
		return nil, ErrKey
	}
	if !inRange(len(nonce), NonceMin, NonceMax) {
		return nil, ErrMalformed
	}
	r := make([]byte, 0, ReportSize)
	r = append(r, ReportVersion)
	r = append(r, m[:]...)
	return append(r, reportMAC(&k, nonce, m)...), nil
}

// VerifyReport checks report against the nonce the gateway sent and the
// device key, and returns the measurement it vouches for. It returns
// ErrKey for an invalid key, ErrMalformed for a nonce or report of the
// wrong length, ErrVersion for an unknown report version, and ErrAuth
// when the MAC does not verify: a tampered report, another device's or
// another key version's, or one made for another (stale) nonce. Whether
// the measurement is acceptable is the caller's (see AllowList).
func VerifyReport(k DeviceKey, nonce, report []byte) (Measurement, error) {
	if !k.valid() {
		return Measurement{}, ErrKey
	}
	if !inRange(len(nonce), NonceMin, NonceMax) || len(report) != ReportSize {
		return Measurement{}, ErrMalformed
	}
	if report[0] != ReportVersion {
		return Measurement{}, ErrVersion
	}
	var m Measurement
	copy(m[:], report[1:1+MeasurementSize])
	if !hmac.Equal(report[1+MeasurementSize:], reportMAC(&k, nonce, m)) {
		return Measurement{}, ErrAuth
	}
	return m, nil
}
