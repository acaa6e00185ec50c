package envelope

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// vectors reads testdata/vectors.txt: name → value (hex-decoded except
// text_* entries, which are kept as text).
func vectors(tb testing.TB) map[string][]byte {
	tb.Helper()
	f, err := os.Open("testdata/vectors.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	v := map[string][]byte{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok {
			tb.Fatalf("vectors.txt: bad line %q", line)
		}
		if strings.HasPrefix(name, "text_") {
			v[name] = []byte(value)
			continue
		}
		b, err := hex.DecodeString(value)
		if err != nil {
			tb.Fatalf("vectors.txt: %s: %v", name, err)
		}
		v[name] = b
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return v
}

// The vector inputs, also used by the other tests.
var (
	testMaster   = seq(0x00, 32)
	testDevice   = DeviceID{1, 2, 3, 4, 5, 6, 7, 8}
	testPlatform = ed25519.NewKeyFromSeed(seq(0x80, 32))
	testNonce    = seq(0xd0, 16)
	testChal     = seq(0xc0, 16)
	testParts    = []Component{
		{Name: "app", Data: []byte("paygate-module 1.0")},
		{Name: "config", Data: []byte("short_code=3030")},
	}
)

// seq returns n octets counting up from start.
func seq(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// mustKey derives a key or fails the test.
func mustKey(tb testing.TB, id DeviceID, version uint8, master []byte) DeviceKey {
	tb.Helper()
	k, err := NewDeviceKey(id, version, master)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// testKey is the vectors' device key, version 1.
func testKey(tb testing.TB) DeviceKey { return mustKey(tb, testDevice, 1, testMaster) }

// mustSeal seals a message or fails the test.
func mustSeal(tb testing.TB, k DeviceKey, d Direction, counter uint64, m Message) []byte {
	tb.Helper()
	b, err := SealMessage(k, d, counter, m)
	if err != nil {
		tb.Fatalf("SealMessage(%v, %d, %v): %v", d, counter, m.Kind, err)
	}
	return b
}

// newTestModule is a module personalised with the vector inputs and a
// reproducible random source.
func newTestModule(tb testing.TB) *Module {
	tb.Helper()
	m, err := NewModule(ModuleConfig{
		DeviceID:   testDevice,
		KeyVersion: 1,
		MasterKey:  testMaster,
		Platform:   testPlatform.Public().(ed25519.PublicKey),
		Rand:       rand.NewChaCha8([32]byte{'t', 'e', 's', 't'}),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// flip returns a copy of b with bit i (0 = the top bit of b[0]) inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i/8] ^= 0x80 >> (i % 8)
	return c
}
