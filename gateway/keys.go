package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// readKeyFile reads a key file of SPEC §1: 32 random bytes as 64 hex
// digits. The error names the file, never its content.
func readKeyFile(path string) ([32]byte, error) {
	var k [32]byte
	b, err := os.ReadFile(path)
	if err != nil {
		return k, fmt.Errorf("reading key file %s: %w", path, err)
	}
	b = bytes.TrimSpace(b)
	if len(b) != 64 {
		return k, fmt.Errorf("key file %s: want 64 hex digits, found %d characters", path, len(b))
	}
	if _, err := hex.Decode(k[:], b); err != nil {
		return k, fmt.Errorf("key file %s: not hexadecimal", path)
	}
	if k == [32]byte{} {
		return k, fmt.Errorf("key file %s: all zero", path)
	}
	return k, nil
}

// ensureKeyFile creates a key file with a fresh random key unless it
// exists, readable by its owner only (the sandbox makes its own keys).
func ensureKeyFile(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var k [32]byte
	rand.Read(k[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating key file %s: %w", path, err)
	}
	_, err = fmt.Fprintf(f, "%x\n", k)
	return errors.Join(err, f.Close())
}

// ensureTokenFile makes a token file ("name token" per line, as
// admin.token_file is) with one line for name and a fresh random token,
// readable by its owner only, unless path exists.
func ensureTokenFile(path, name string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var k [24]byte
	rand.Read(k[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating token file %s: %w", path, err)
	}
	_, err = fmt.Fprintf(f, "# operators of the admin API: name token\n%s %x\n", name, k)
	return errors.Join(err, f.Close())
}
