package envelope

import (
	"crypto/ed25519"
	"io"
)

// The platform proof (SPEC §9): at session start the module sends a
// random challenge in a KindHello envelope; the gateway signs it with its
// Ed25519 platform key and returns the signature in a KindProof envelope;
// the module, which holds the platform's public key from personalisation,
// refuses a platform whose signature does not verify. After that the
// per-device AEAD authenticates every envelope, with no signature per SMS.
const (
	// ChallengeMin and ChallengeMax bound a platform challenge.
	ChallengeMin = 16
	ChallengeMax = 32
	// ChallengeSize is the length NewChallenge draws: 128 bits, so a
	// KindProof answer with an integrity nonce still fits one text SMS.
	ChallengeSize = 16
	// SignatureSize is an Ed25519 signature's length.
	SignatureSize = ed25519.SignatureSize
)

// proofContext separates the signed message from anything else the
// platform key might ever sign (docs/envelope.md, "Platform proof").
const proofContext = "paygate/envelope/v1 platform proof\x00"

// NewChallenge draws a ChallengeSize-octet challenge from r (crypto/rand's
// Reader in production; a fixed stream in tests). It returns r's error if
// r cannot supply it.
func NewChallenge(r io.Reader) ([]byte, error) { return draw(r, ChallengeSize) }

func draw(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// proofMessage is what the platform signs: the context, the device id,
// then the challenge.
func proofMessage(id DeviceID, challenge []byte) []byte {
	m := make([]byte, 0, len(proofContext)+DeviceIDSize+len(challenge))
	m = append(m, proofContext...)
	m = append(m, id[:]...)
	return append(m, challenge...)
}

// ProveChallenge signs challenge for device id with the platform key
// (pure Ed25519, deterministic). It returns ErrMalformed for a challenge
// outside ChallengeMin..ChallengeMax and ErrKey for a private key of the
// wrong length; it never panics on its inputs.
func ProveChallenge(priv ed25519.PrivateKey, id DeviceID, challenge []byte) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, ErrKey
	}
	if !inRange(len(challenge), ChallengeMin, ChallengeMax) {
		return nil, ErrMalformed
	}
	return ed25519.Sign(priv, proofMessage(id, challenge)), nil
}

// VerifyPlatform reports whether sig is the platform's proof over
// challenge for device id. Any input of the wrong length is false, never
// a panic.
func VerifyPlatform(pub ed25519.PublicKey, id DeviceID, challenge, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != SignatureSize ||
		!inRange(len(challenge), ChallengeMin, ChallengeMax) {
		return false
	}
	return ed25519.Verify(pub, proofMessage(id, challenge), sig)
}
