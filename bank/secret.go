package bank

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
)

// Secret is the HMAC key shared with the bank (SPEC §1 bank.secret_file).
// It prints as [redacted] in every fmt verb, in slog and in text
// encodings.
type Secret []byte

const redacted = "[redacted]"

func (Secret) String() string               { return redacted }
func (Secret) GoString() string             { return redacted }
func (Secret) Format(f fmt.State, _ rune)   { fmt.Fprint(f, redacted) }
func (Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// ReadSecretFile reads a bank secret file: its content, trimmed of
// surrounding whitespace, is the key (SPEC §1). An empty key is an
// error. Errors name the file, never its content.
func ReadSecretFile(path string) (Secret, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bank secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("bank secret: %s: %w", path, errEmptySecret)
	}
	return Secret(b), nil
}

var errEmptySecret = errors.New("empty")
