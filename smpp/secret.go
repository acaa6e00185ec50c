package smpp

import (
	"fmt"
	"log/slog"
)

// Secret is a password that prints masked in logs, errors and %v.
type Secret string

const masked = "[redacted]"

func (Secret) String() string             { return masked }
func (Secret) GoString() string           { return masked }
func (Secret) LogValue() slog.Value       { return slog.StringValue(masked) }
func (Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, masked) }
