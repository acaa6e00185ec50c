package flows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestSecretsRedactThemselves logs and prints secrets every way there is
// and looks for the raw value (STYLE: secrets redact themselves).
func TestSecretsRedactThemselves(t *testing.T) {
	const pin, code, acct = "482915", "731904", "6222020012345678"
	values := []any{
		PIN(pin), OTP(code), AccountNumber(acct),
		CmdOK{PIN: pin}, CmdCode{Code: code}, CmdPIN{Old: pin, New: pin, Confirm: pin},
		CmdLink{Bank: "PGB", Account: acct},
		&CmdOK{PIN: pin}, []PIN{pin}, map[string]OTP{"c": code},
		struct{ P PIN }{pin},
	}
	for _, v := range values {
		var out bytes.Buffer
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
		j, _ := json.Marshal(v)
		out.Write(j)
		slog.New(slog.NewTextHandler(&out, noTime)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&out, noTime)).Info("m", "v", v)
		for _, secret := range []string{pin, code, acct, "4829", "7319", "62220200"} {
			if strings.Contains(out.String(), secret) {
				t.Errorf("%T prints %q:\n%s", v, secret, out.String())
			}
		}
	}
	if PIN(pin).Reveal() != pin || OTP(code).Reveal() != code || AccountNumber(acct).Reveal() != acct {
		t.Error("Reveal does not give the value back")
	}
}

// noTime leaves the time out of log lines: its digits could match.
var noTime = &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}}

func TestSendLogsPayeeMasked(t *testing.T) {
	var out bytes.Buffer
	c := CmdSend{Payee: "13800138000", Amount: 50000}
	slog.New(slog.NewJSONHandler(&out, noTime)).Info("m", "cmd", c)
	slog.New(slog.NewTextHandler(&out, noTime)).Info("m", "cmd", c)
	if strings.Contains(out.String(), "13800138000") || !strings.Contains(out.String(), "*******8000 500.00") {
		t.Errorf("logged %s", out.String())
	}
}

func TestAccountMasked(t *testing.T) {
	for in, want := range map[AccountNumber]string{
		"6222020012345678": "****5678", "12345678": "****5678", "1234567": "****", "": "****",
	} {
		if got := in.Masked(); got != want {
			t.Errorf("%q.Masked() = %q, want %q", in.Reveal(), got, want)
		}
		if got := fmt.Sprint(in); got != want {
			t.Errorf("Sprint = %q, want %q", got, want)
		}
	}
}
