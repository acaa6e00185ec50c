package envelope

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// DeviceIDSize is the length of a device id in octets.
const DeviceIDSize = 8

// MasterKeySize is the length of a device master key in octets (256 bits,
// SPEC §9).
const MasterKeySize = 32

// DeviceID names an enrolled security module. It is public: it travels in
// clear in every envelope header so the gateway can find the key. It
// prints as 16 lowercase hex digits.
type DeviceID [DeviceIDSize]byte

// String returns the id as 16 lowercase hex digits.
func (d DeviceID) String() string { return hex.EncodeToString(d[:]) }

// MarshalText returns the id as 16 lowercase hex digits.
func (d DeviceID) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses 16 hex digits (either case).
func (d *DeviceID) UnmarshalText(b []byte) error {
	id, err := ParseDeviceID(string(b))
	if err != nil {
		return err
	}
	*d = id
	return nil
}

// ParseDeviceID parses a device id written as 16 hex digits (either case).
func ParseDeviceID(s string) (DeviceID, error) {
	var d DeviceID
	if len(s) != 2*DeviceIDSize {
		return d, fmt.Errorf("envelope: device id %q: want %d hex digits", s, 2*DeviceIDSize)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return DeviceID{}, fmt.Errorf("envelope: device id %q: not hex", s)
	}
	return d, nil
}

// Direction is the way an envelope travels. Each direction has its own
// key and its own counter, so a nonce never repeats under one key
// (docs/envelope.md, "Nonce").
type Direction uint8

const (
	// Uplink is phone (module) to gateway: commands, the session hello,
	// integrity reports.
	Uplink Direction = 1
	// Downlink is gateway to phone: replies, the platform proof,
	// integrity nonces.
	Downlink Direction = 2
)

// String returns "uplink", "downlink" or "direction(n)".
func (d Direction) String() string {
	switch d {
	case Uplink:
		return "uplink"
	case Downlink:
		return "downlink"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

func (d Direction) valid() bool { return d == Uplink || d == Downlink }

// The HKDF-SHA256 info labels (docs/envelope.md, "Key schedule"). Each is
// followed in the info string by a zero octet, the key version and the
// device id, so a key is bound to its purpose, its device and its
// generation.
const (
	labelUplink   = "paygate/envelope/v1 uplink"
	labelDownlink = "paygate/envelope/v1 downlink"
	labelAttest   = "paygate/envelope/v1 attest"
)

// MasterKey is a device's 256-bit master key. It prints as "****" in
// every fmt verb and in slog, so a ModuleConfig or an enrolment record
// can be logged without it.
type MasterKey []byte

// ParseMasterKey reads a master key written as 64 hex digits, the form of
// SPEC §1 key files (`openssl rand -hex 32`); surrounding whitespace is
// ignored. The error never contains the key.
func ParseMasterKey(s string) (MasterKey, error) {
	s = strings.TrimSpace(s)
	if len(s) != 2*MasterKeySize {
		return nil, fmt.Errorf("envelope: master key: want %d hex digits, have %d", 2*MasterKeySize, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("envelope: master key: not hex")
	}
	return b, nil
}

// String, GoString, Format, LogValue and MarshalText print "****".
func (MasterKey) String() string               { return mask }
func (MasterKey) GoString() string             { return mask }
func (MasterKey) Format(f fmt.State, _ rune)   { fmt.Fprint(f, mask) }
func (MasterKey) LogValue() slog.Value         { return slog.StringValue(mask) }
func (MasterKey) MarshalText() ([]byte, error) { return []byte(mask), nil }

// mask is what a secret prints as.
const mask = "****"

// ErrKey means a master key, key version or device key is unusable: the
// master key is not 32 octets, the key version is 0 (reserved), or a
// DeviceKey was not made by NewDeviceKey.
var ErrKey = errors.New("envelope: invalid key")

// DeviceKey is the key material of one device under one key version: the
// uplink and downlink AEAD keys and the attestation key, derived from the
// master key by NewDeviceKey. The master key itself is not kept.
//
// A DeviceKey is immutable and safe for concurrent use. It prints its
// device id and key version but never its keys, in every fmt verb and in
// slog. The zero DeviceKey is invalid: every function given one returns
// ErrKey.
type DeviceKey struct {
	id      DeviceID
	version uint8
	up      [32]byte
	down    [32]byte
	attest  [32]byte
}

// NewDeviceKey derives the keys of device id under key version from its
// 32-octet master key. Key version 0 is reserved (it would be
// indistinguishable from an unset one); versions run 1 to 255, and the
// gateway chooses which it accepts (revocation is its policy). It returns
// ErrKey for a master key of another length or version 0.
func NewDeviceKey(id DeviceID, version uint8, master MasterKey) (DeviceKey, error) {
	if len(master) != MasterKeySize || version == 0 {
		return DeviceKey{}, ErrKey
	}
	k := DeviceKey{id: id, version: version}
	prk, err := hkdf.Extract(sha256.New, master, nil)
	if err != nil {
		return DeviceKey{}, ErrKey
	}
	for _, d := range []struct {
		label string
		dst   *[32]byte
	}{
		{labelUplink, &k.up},
		{labelDownlink, &k.down},
		{labelAttest, &k.attest},
	} {
		okm, err := hkdf.Expand(sha256.New, prk, keyInfo(d.label, version, id), 32)
		if err != nil {
			return DeviceKey{}, ErrKey
		}
		copy(d.dst[:], okm)
		clear(okm)
	}
	clear(prk)
	return k, nil
}

// keyInfo is the HKDF info string: label, 0x00, key version, device id.
func keyInfo(label string, version uint8, id DeviceID) string {
	b := make([]byte, 0, len(label)+2+DeviceIDSize)
	b = append(b, label...)
	b = append(b, 0, version)
	b = append(b, id[:]...)
	return string(b)
}

// DeviceID returns the device the key belongs to.
func (k DeviceKey) DeviceID() DeviceID { return k.id }

// Version returns the key version (the master key generation), 1 to 255.
func (k DeviceKey) Version() uint8 { return k.version }

// valid reports whether k came from NewDeviceKey.
func (k DeviceKey) valid() bool { return k.version != 0 }

// aeadKey returns the key for direction d.
func (k *DeviceKey) aeadKey(d Direction) []byte {
	if d == Uplink {
		return k.up[:]
	}
	return k.down[:]
}

// String, GoString, Format and LogValue print the device id and key
// version only.
func (k DeviceKey) String() string {
	return fmt.Sprintf("DeviceKey{device=%s version=%d keys=%s}", k.id, k.version, mask)
}
func (k DeviceKey) GoString() string           { return k.String() }
func (k DeviceKey) Format(f fmt.State, _ rune) { fmt.Fprint(f, k.String()) }
func (k DeviceKey) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device", k.id.String()), slog.Int("version", int(k.version)))
}
