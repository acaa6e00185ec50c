package envelope

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	k := testKey(t)
	for _, d := range []Direction{Uplink, Downlink} {
		for _, n := range []int{1, 2, 3, 84, 105, 106, 500, MaxPlaintext} {
			for _, c := range []Carriage{Binary, Text} {
				t.Run(fmt.Sprintf("%v/%d/%v", d, n, c), func(t *testing.T) {
					pt := bytes.Repeat([]byte{0xa5}, n)
					pt[0] = byte(n)
					env, err := Seal(k, d, uint64(n)<<8|7, pt)
					if err != nil {
						t.Fatal(err)
					}
					if len(env) != n+Overhead {
						t.Fatalf("envelope of %d octets for %d of plaintext", len(env), n)
					}
					wire := env
					if c == Text {
						s := EncodeText(env)
						if len(s) != TextLen(len(env)) {
							t.Fatalf("text of %d characters, TextLen says %d", len(s), TextLen(len(env)))
						}
						if wire, err = DecodeText(s); err != nil {
							t.Fatal(err)
						}
					}
					h, err := Parse(wire)
					if err != nil {
						t.Fatal(err)
					}
					if h != (Header{Version: 1, KeyVersion: 1, DeviceID: testDevice, Counter: uint64(n)<<8 | 7}) {
						t.Fatalf("header %+v", h)
					}
					got, err := Open(k, d, wire)
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("Open: %x, %v", got, err)
					}
				})
			}
		}
	}
}

func TestMessagesRoundTripBothWays(t *testing.T) {
	k := testKey(t)
	sig := bytes.Repeat([]byte{7}, SignatureSize)
	report := bytes.Repeat([]byte{9}, ReportSize)
	for _, tc := range []struct {
		d Direction
		m Message
	}{
		{Uplink, TextMessage("SEND 13800138000 500")},
		{Uplink, TextMessage("转账 13800138000 500")},
		{Downlink, TextMessage("Sent CNY 5.00 to ****8000. Ref T7K2QXM4")},
		{Uplink, HelloMessage(seq(1, ChallengeMin))},
		{Uplink, HelloMessage(seq(1, ChallengeMax))},
		{Downlink, ProofMessage(sig, nil)},
		{Downlink, ProofMessage(sig, seq(3, NonceMax))},
		{Downlink, NonceMessage(seq(4, NonceMin))},
		{Uplink, ReportMessage(report)},
	} {
		t.Run(fmt.Sprintf("%v/%v", tc.d, tc.m.Kind), func(t *testing.T) {
			for _, c := range []Carriage{Binary, Text} {
				env := mustSeal(t, k, tc.d, 42, tc.m)
				if c == Text {
					var err error
					if env, err = DecodeText(EncodeText(env)); err != nil {
						t.Fatal(err)
					}
				}
				h, m, err := OpenMessage(k, tc.d, env)
				if err != nil || h.Counter != 42 {
					t.Fatalf("%v: %+v %v", c, h, err)
				}
				if fmt.Sprint(m) != fmt.Sprint(tc.m) {
					t.Fatalf("%v: got %+v, want %+v", c, m, tc.m)
				}
			}
		})
	}
}

func TestParse(t *testing.T) {
	k := testKey(t)
	good := mustSeal(t, k, Uplink, 0x0102030405060708, TextMessage("BAL"))
	withCounter := func(c uint64) []byte {
		b := bytes.Clone(good)
		binary.BigEndian.PutUint64(b[10:], c)
		return b
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"version only", []byte{1}, ErrMalformed},
		{"version 0", append([]byte{0}, good[1:]...), ErrVersion},
		{"version 2", append([]byte{2}, good[1:]...), ErrVersion},
		{"version 2 short", []byte{2}, ErrVersion},
		{"header only", good[:HeaderSize], ErrMalformed},
		{"one short of the minimum", good[:MinSize-1], ErrMalformed},
		{"key version 0", append([]byte{1, 0}, good[2:]...), ErrMalformed},
		{"counter 0", withCounter(0), ErrMalformed},
		{"too long", append(bytes.Clone(good), make([]byte, MaxSize)...), ErrMalformed},
		{"minimum", good[:MinSize], nil},
		{"counter max", withCounter(math.MaxUint64), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Parse(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if err != nil && h != (Header{}) {
				t.Fatalf("header %+v with an error", h)
			}
		})
	}
	h, err := Parse(good)
	if err != nil || h.Counter != 0x0102030405060708 || h.DeviceID != testDevice || h.KeyVersion != 1 || h.Version != 1 {
		t.Fatalf("%+v %v", h, err)
	}
}

func TestSealRefuses(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct {
		name    string
		k       DeviceKey
		d       Direction
		counter uint64
		pt      []byte
		want    error
	}{
		{"zero key", DeviceKey{}, Uplink, 1, []byte{1}, ErrKey},
		{"direction 0", k, 0, 1, []byte{1}, ErrKey},
		{"direction 3", k, 3, 1, []byte{1}, ErrKey},
		{"counter 0", k, Uplink, 0, []byte{1}, ErrCounter},
		{"empty", k, Uplink, 1, nil, ErrMalformed},
		{"too large", k, Uplink, 1, make([]byte, MaxPlaintext+1), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := Seal(tc.k, tc.d, tc.counter, tc.pt); !errors.Is(err, tc.want) || b != nil {
				t.Fatalf("%x, %v; want %v", b, err, tc.want)
			}
		})
	}
	if _, err := SealMessage(k, Downlink, 1, HelloMessage(testChal)); !errors.Is(err, ErrMalformed) {
		t.Errorf("downlink hello: %v", err)
	}
	if _, err := SealMessage(k, Uplink, 1, ProofMessage(make([]byte, 64), nil)); !errors.Is(err, ErrMalformed) {
		t.Errorf("uplink proof: %v", err)
	}
	for _, bad := range []string{"", "\xff\xfe"} {
		if _, err := SealMessage(k, Uplink, 1, TextMessage(bad)); !errors.Is(err, ErrMalformed) {
			t.Errorf("text %q: %v", bad, err)
		}
	}
}

func TestNewDeviceKeyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		version uint8
		master  []byte
	}{
		{"version 0", 0, testMaster},
		{"short master", 1, testMaster[:31]},
		{"long master", 1, append(bytes.Clone(testMaster), 0)},
		{"no master", 1, nil},
	} {
		if _, err := NewDeviceKey(testDevice, tc.version, tc.master); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

// TestKeysDistinct: the two directions, the attestation key, key
// versions and devices never share a key.
func TestKeysDistinct(t *testing.T) {
	other := testDevice
	other[7] ^= 1
	seen := map[[32]byte]string{}
	for _, k := range []DeviceKey{
		testKey(t),
		mustKey(t, testDevice, 2, testMaster),
		mustKey(t, other, 1, testMaster),
		mustKey(t, testDevice, 1, seq(1, 32)),
	} {
		for name, key := range map[string][32]byte{"up": k.up, "down": k.down, "attest": k.attest} {
			label := fmt.Sprintf("%s %d %s", k.id, k.version, name)
			if prev, dup := seen[key]; dup {
				t.Errorf("%s and %s share a key", label, prev)
			}
			seen[key] = label
		}
	}
}

func TestAEADNonceUnique(t *testing.T) {
	seen := map[[AEADNonceSize]byte]bool{}
	for _, d := range []Direction{Uplink, Downlink} {
		for _, c := range []uint64{1, 2, 255, 256, 1 << 32, math.MaxUint64 - 1, math.MaxUint64} {
			n := AEADNonce(d, c)
			if seen[n] {
				t.Fatalf("nonce %x repeats", n)
			}
			seen[n] = true
		}
	}
	if n := AEADNonce(Downlink, 0x0102030405060708); fmt.Sprintf("%x", n) != "020000000102030405060708" {
		t.Fatalf("nonce %x", n)
	}
}

// TestTamper: any single bit flipped anywhere, any truncation and any
// extension is refused, and no plaintext comes back with the error.
func TestTamper(t *testing.T) {
	k := testKey(t)
	env := mustSeal(t, k, Uplink, 1, TextMessage("SEND 13800138000 500"))
	for i := 0; i < 8*len(env); i++ {
		pt, err := Open(k, Uplink, flip(env, i))
		if err == nil || pt != nil {
			t.Fatalf("bit %d flipped: opened to %q", i, pt)
		}
		var want []error
		switch off := i / 8; {
		case off == 0:
			want = []error{ErrVersion}
		case off < 10:
			want = []error{ErrKeyMismatch, ErrMalformed} // key version 0 is malformed
		case off < HeaderSize:
			want = []error{ErrAuth, ErrMalformed} // counter 1 → 0 is malformed
		default:
			want = []error{ErrAuth}
		}
		if !slicesContainsErr(want, err) {
			t.Fatalf("bit %d flipped: %v, want one of %v", i, err, want)
		}
	}
	for n := 0; n < len(env); n++ {
		if pt, err := Open(k, Uplink, env[:n]); err == nil || pt != nil {
			t.Fatalf("truncated to %d: opened", n)
		}
	}
	for _, tail := range [][]byte{{0}, {0xff}, env[HeaderSize:], bytes.Repeat([]byte{1}, 16)} {
		if pt, err := Open(k, Uplink, append(bytes.Clone(env), tail...)); !errors.Is(err, ErrAuth) || pt != nil {
			t.Fatalf("extended by %x: %q, %v", tail, pt, err)
		}
	}
	// The tag swapped for another envelope's, and two envelopes spliced.
	other := mustSeal(t, k, Uplink, 2, TextMessage("SEND 13800138000 900"))
	spliced := append(bytes.Clone(env[:len(env)-TagSize]), other[len(other)-TagSize:]...)
	if _, err := Open(k, Uplink, spliced); !errors.Is(err, ErrAuth) {
		t.Fatalf("foreign tag: %v", err)
	}
	spliced = append(bytes.Clone(other[:HeaderSize]), env[HeaderSize:]...)
	if _, err := Open(k, Uplink, spliced); !errors.Is(err, ErrAuth) {
		t.Fatalf("foreign header: %v", err)
	}
}

func slicesContainsErr(want []error, err error) bool {
	for _, w := range want {
		if errors.Is(err, w) {
			return true
		}
	}
	return false
}

// TestWrongKeys: another master key, the other direction, another device
// and another key version are all refused.
func TestWrongKeys(t *testing.T) {
	k := testKey(t)
	env := mustSeal(t, k, Uplink, 5, TextMessage("BAL"))
	other := testDevice
	other[0] ^= 0xff
	kOther := mustKey(t, other, 1, testMaster) // same master, other device
	kV2 := mustKey(t, testDevice, 2, testMaster)

	// rehead rewrites the clear header as an attacker could.
	rehead := func(id DeviceID, version uint8) []byte {
		b := bytes.Clone(env)
		b[1] = version
		copy(b[2:10], id[:])
		return b
	}
	for _, tc := range []struct {
		name string
		k    DeviceKey
		d    Direction
		env  []byte
		want error
	}{
		{"other master key", mustKey(t, testDevice, 1, seq(0x40, 32)), Uplink, env, ErrAuth},
		{"other direction", k, Downlink, env, ErrAuth},
		{"other device's key", kOther, Uplink, env, ErrKeyMismatch},
		{"header moved to the other device", kOther, Uplink, rehead(other, 1), ErrAuth},
		{"other key version", kV2, Uplink, env, ErrKeyMismatch},
		{"header moved to key version 2", kV2, Uplink, rehead(testDevice, 2), ErrAuth},
		{"zero key", DeviceKey{}, Uplink, env, ErrKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if pt, err := Open(tc.k, tc.d, tc.env); !errors.Is(err, tc.want) || pt != nil {
				t.Fatalf("%q, %v; want %v", pt, err, tc.want)
			}
		})
	}
	if _, err := Open(k, Uplink, env); err != nil {
		t.Fatalf("the untouched envelope: %v", err)
	}
}

func TestAccept(t *testing.T) {
	for _, tc := range []struct {
		last, got uint64
		want      bool
	}{
		{0, 1, true},
		{0, 0, false},
		{1, 1, false},
		{2, 1, false},
		{1, 2, true},
		{41, 1000, true},
		{math.MaxUint64 - 1, math.MaxUint64, true},
		{math.MaxUint64, math.MaxUint64, false},
		{math.MaxUint64, 1, false},
	} {
		if got := Accept(tc.last, tc.got); got != tc.want {
			t.Errorf("Accept(%d, %d) = %v", tc.last, tc.got, got)
		}
	}
}

// TestReplayS3 is RELIABILITY.md S3 at the envelope layer, on the
// gateway's side (Receive, uplink): counters delivered out of order,
// duplicated and replayed are accepted exactly when greater than the last
// accepted one — every old or equal counter is refused — and a
// successful envelope replayed 100 times is refused 100 times.
func TestReplayS3(t *testing.T) {
	k := testKey(t)
	const n = 300
	envs := make([][]byte, n+1)
	for c := 1; c <= n; c++ {
		envs[c] = mustSeal(t, k, Uplink, uint64(c), TextMessage(fmt.Sprintf("SEND 13800138000 %d", c)))
	}
	r := rand.New(rand.NewPCG(1, 2))
	var last uint64
	accepted, refused := 0, 0
	for range 5 * n {
		c := uint64(1 + r.IntN(n))
		h, m, err := Receive(k, Uplink, last, envs[c])
		switch {
		case c > last:
			if err != nil || h.Counter != c || m.Text != fmt.Sprintf("SEND 13800138000 %d", c) {
				t.Fatalf("counter %d after %d: %+v %v", c, last, h, err)
			}
			last = h.Counter
			accepted++
		default:
			if !errors.Is(err, ErrReplay) || h != (Header{}) || m.Kind != 0 {
				t.Fatalf("counter %d after %d accepted: %v", c, last, err)
			}
			refused++
		}
	}
	if accepted == 0 || refused == 0 {
		t.Fatalf("accepted %d, refused %d: the test exercised nothing", accepted, refused)
	}
	// Every counter ever sent is now old or equal: all refused.
	for c := 1; c <= n; c++ {
		if uint64(c) > last {
			continue
		}
		if _, _, err := Receive(k, Uplink, last, envs[c]); !errors.Is(err, ErrReplay) {
			t.Fatalf("old counter %d accepted after %d: %v", c, last, err)
		}
	}
	// One successful MO replayed 100 times.
	last = 0
	h, _, err := Receive(k, Uplink, last, envs[7])
	if err != nil {
		t.Fatal(err)
	}
	last = h.Counter
	for i := range 100 {
		if _, _, err := Receive(k, Uplink, last, envs[7]); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay %d: %v", i, err)
		}
	}
}

// TestReceiveAuthenticBadMessage: an authentic envelope whose plaintext
// is not a message for its direction is refused with ErrMessage, but its
// counter is reported as spent.
func TestReceiveAuthenticBadMessage(t *testing.T) {
	k := testKey(t)
	for name, pt := range map[string][]byte{
		"unknown kind":               {0x7f, 'x'},
		"hello downlink":             append([]byte{byte(KindHello)}, testChal...),
		"invalid UTF-8":              {byte(KindText), 0xff},
		"empty text":                 {byte(KindText)},
		"short proof":                append([]byte{byte(KindProof)}, make([]byte, 63)...),
		"proof with a 1-octet nonce": append([]byte{byte(KindProof)}, make([]byte, 65)...),
	} {
		env, err := Seal(k, Downlink, 9, pt)
		if err != nil {
			t.Fatal(err)
		}
		h, m, err := Receive(k, Downlink, 3, env)
		if !errors.Is(err, ErrMessage) || h.Counter != 9 || m.Kind != 0 {
			t.Errorf("%s: %+v %+v %v", name, h, m, err)
		}
	}
}

func TestDeviceKeyRedacted(t *testing.T) {
	k := testKey(t)
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("key", "k", k)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("key", "k", k)
	out := logs.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		out += fmt.Sprintf(verb, k) + fmt.Sprintf(verb, []DeviceKey{k}) + fmt.Sprintf(verb, struct{ K DeviceKey }{k})
	}
	for _, secret := range [][]byte{k.up[:], k.down[:], k.attest[:], testMaster} {
		for _, form := range []string{fmt.Sprintf("%x", secret), fmt.Sprintf("%X", secret), fmt.Sprint(secret[:4]), string(secret[:8])} {
			if strings.Contains(out, form) {
				t.Fatalf("key material %s printed in:\n%s", form, out)
			}
		}
	}
	if !strings.Contains(out, testDevice.String()) {
		t.Errorf("the device id should print: %s", out)
	}
}

func TestDeviceID(t *testing.T) {
	id, err := ParseDeviceID("0102030405060708")
	if err != nil || id != testDevice || id.String() != "0102030405060708" {
		t.Fatalf("%v %v", id, err)
	}
	if id, err = ParseDeviceID("0102030405060A0B"); err != nil || id.String() != "0102030405060a0b" {
		t.Fatalf("upper case: %v %v", id, err)
	}
	for _, bad := range []string{"", "01020304050607", "010203040506070809", "01020304050607zz"} {
		if _, err := ParseDeviceID(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	var d DeviceID
	if err := d.UnmarshalText([]byte("0102030405060708")); err != nil || d != testDevice {
		t.Fatal(d, err)
	}
}

func TestMasterKeyRedacted(t *testing.T) {
	mk, err := ParseMasterKey(" " + fmt.Sprintf("%x", testMaster) + "\n")
	if err != nil || !bytes.Equal(mk, testMaster) {
		t.Fatalf("%v", err)
	}
	for _, bad := range []string{"", "00", fmt.Sprintf("%x", testMaster)[:63] + "g", fmt.Sprintf("%x", testMaster) + "00"} {
		if _, err := ParseMasterKey(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	cfg := ModuleConfig{DeviceID: testDevice, KeyVersion: 1, MasterKey: mk}
	var logs strings.Builder
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("cfg", "cfg", cfg, "key", mk)
	out := logs.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		out += fmt.Sprintf(verb, cfg) + fmt.Sprintf(verb, mk)
	}
	for _, form := range []string{fmt.Sprintf("%x", testMaster[:8]), fmt.Sprint(testMaster[:4]), "AAECAwQF"} {
		if strings.Contains(out, form) {
			t.Fatalf("master key (%s) printed in:\n%s", form, out)
		}
	}
}
