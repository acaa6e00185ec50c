package envelope

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestPlatformProof(t *testing.T) {
	pub := testPlatform.Public().(ed25519.PublicKey)
	sig, err := ProveChallenge(testPlatform, testDevice, testChal)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != SignatureSize || !VerifyPlatform(pub, testDevice, testChal, sig) {
		t.Fatal("a fresh proof does not verify")
	}
	for _, n := range []int{ChallengeMin, ChallengeMax} {
		ch := seq(9, n)
		s, err := ProveChallenge(testPlatform, testDevice, ch)
		if err != nil || !VerifyPlatform(pub, testDevice, ch, s) {
			t.Fatalf("challenge of %d octets: %v", n, err)
		}
	}

	otherDevice := testDevice
	otherDevice[3] ^= 0x10
	otherPub := ed25519.NewKeyFromSeed(seq(0x81, 32)).Public().(ed25519.PublicKey)
	for _, tc := range []struct {
		name string
		pub  ed25519.PublicKey
		id   DeviceID
		ch   []byte
		sig  []byte
	}{
		{"other device", pub, otherDevice, testChal, sig},
		{"other challenge", pub, testDevice, seq(0xc1, 16), sig},
		{"other platform key", otherPub, testDevice, testChal, sig},
		{"tampered signature", pub, testDevice, testChal, flip(sig, 100)},
		{"truncated signature", pub, testDevice, testChal, sig[:63]},
		{"no signature", pub, testDevice, testChal, nil},
		{"short challenge", pub, testDevice, testChal[:15], sig},
		{"long challenge", pub, testDevice, seq(0, 33), sig},
		{"no public key", nil, testDevice, testChal, sig},
		{"short public key", pub[:31], testDevice, testChal, sig},
		// Domain separation: the platform key signing the bare challenge
		// (as some other protocol might) is no proof.
		{"no context", pub, testDevice, testChal, ed25519.Sign(testPlatform, testChal)},
		{"no device id", pub, testDevice, testChal, ed25519.Sign(testPlatform, append([]byte(proofContext), testChal...))},
	} {
		if VerifyPlatform(tc.pub, tc.id, tc.ch, tc.sig) {
			t.Errorf("%s: verified", tc.name)
		}
	}
	for i := 0; i < 8*len(sig); i++ {
		if VerifyPlatform(pub, testDevice, testChal, flip(sig, i)) {
			t.Fatalf("signature with bit %d flipped verified", i)
		}
	}

	if _, err := ProveChallenge(testPlatform, testDevice, testChal[:15]); !errors.Is(err, ErrMalformed) {
		t.Errorf("short challenge: %v", err)
	}
	if _, err := ProveChallenge(testPlatform[:10], testDevice, testChal); !errors.Is(err, ErrKey) {
		t.Errorf("short private key: %v", err)
	}
}

func TestNewChallengeAndNonce(t *testing.T) {
	ch, err := NewChallenge(bytes.NewReader(seq(0, 64)))
	if err != nil || !bytes.Equal(ch, seq(0, ChallengeSize)) {
		t.Fatalf("%x %v", ch, err)
	}
	n, err := NewNonce(bytes.NewReader(seq(5, 64)))
	if err != nil || !bytes.Equal(n, seq(5, NonceSize)) {
		t.Fatalf("%x %v", n, err)
	}
	if _, err := NewChallenge(bytes.NewReader(seq(0, 15))); err == nil {
		t.Error("a short random source gave a challenge")
	}
	if _, err := NewNonce(bytes.NewReader(nil)); err == nil {
		t.Error("an empty random source gave a nonce")
	}
}
