package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"sync"

	"github.com/paygate/paygate/flows"
)

// Keys are the secrets the store needs. DataKey (keys.data_key_file) is
// never stored; the keys actually used are derived from it with HKDF, one
// per purpose.
type Keys struct {
	DataKey [32]byte
}

type keyring struct {
	seal        cipher.AEAD
	fingerprint []byte
	macs        sync.Pool // of HMAC-SHA256 keyed with fingerprint
	account     []byte    // HMAC key of account fingerprints
	apiKey      []byte    // HMAC key of merchants' API key digests
}

func newKeyring(k Keys) (*keyring, error) {
	if k.DataKey == [32]byte{} {
		return nil, errors.New("store: data key is all zero")
	}
	sealKey, err := hkdf.Key(sha256.New, k.DataKey[:], nil, "paygate store seal v1", 32)
	if err != nil {
		return nil, err
	}
	fpKey, err := hkdf.Key(sha256.New, k.DataKey[:], nil, "paygate inbox fingerprint v1", 32)
	if err != nil {
		return nil, err
	}
	// Account fingerprints have a key of their own: they live as long as
	// the link, and must never compare equal to an inbox fingerprint.
	accountKey, err := hkdf.Key(sha256.New, k.DataKey[:], nil, "paygate account fingerprint v1", 32)
	if err != nil {
		return nil, err
	}
	apiKey, err := hkdf.Key(sha256.New, k.DataKey[:], nil, "paygate api key v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	kr := &keyring{seal: aead, fingerprint: fpKey, account: accountKey, apiKey: apiKey}
	kr.macs.New = func() any { return hmac.New(sha256.New, kr.fingerprint) }
	return kr, nil
}

// sealBytes encrypts b with AES-256-GCM; ad binds it to its row.
func (k *keyring) sealBytes(b, ad []byte) []byte {
	nonce := make([]byte, k.seal.NonceSize(), k.seal.NonceSize()+len(b)+k.seal.Overhead())
	rand.Read(nonce)
	return k.seal.Seal(nonce, nonce, b, ad)
}

func (k *keyring) openBytes(sealed, ad []byte) ([]byte, error) {
	n := k.seal.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("store: sealed value too short")
	}
	b, err := k.seal.Open(nil, sealed[:n], sealed[n:], ad)
	if err != nil {
		return nil, fmt.Errorf("store: opening sealed value: %w", err)
	}
	return b, nil
}

// Fingerprint returns the keyed HMAC-SHA256 of an inbound message's
// identity: equal for redeliveries of one message, useless to anyone
// without the data key (a PIN in the text cannot be guessed from it).
func (k *keyring) Fingerprint(identity []byte) []byte {
	m := k.macs.Get().(hash.Hash)
	m.Reset()
	m.Write(identity)
	sum := m.Sum(nil)
	k.macs.Put(m)
	return sum
}

// accountFingerprint returns the keyed HMAC-SHA256 of a bank account
// (bank code and number): equal for the same account linked again, so a
// unique index can refuse it, and useless without the data key to anyone
// trying to guess numbers. Linking is rare: a fresh HMAC is cheap enough.
func (k *keyring) accountFingerprint(bank string, number flows.AccountNumber) []byte {
	m := hmac.New(sha256.New, k.account)
	m.Write([]byte(bank))
	m.Write([]byte{0})
	m.Write([]byte(number.Reveal()))
	return m.Sum(nil)
}
