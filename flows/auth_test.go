package flows

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"strings"
	"testing"
	"unicode"
)

// TestAuthSecretsNeverPrinted prints and logs every value and error of
// the authentication core made from a canary PIN, code, account, pepper
// and key, every way there is, and looks for them (SPEC §3; RELIABILITY
// S4; STYLE: secrets redact themselves).
func TestAuthSecretsNeverPrinted(t *testing.T) {
	const pin, code, acct = "482915", "731904", "6222020012345678"
	pepper := bytes.Repeat([]byte{0xC7}, PepperSize)
	key := bytes.Repeat([]byte{0xB3}, 32)
	h, _ := NewPINHasher(pepper, authParams, authFixedReader{0x5A})
	codes, _ := NewCodes(key, &authBytesReader{[]byte{0x00, 0x0B, 0x2B, 0x00}}) // 731904
	op := authSendOp
	op.Account = acct
	stored, _ := h.Hash(pin)
	ch, issued, _ := codes.Issue(op, authT0)
	if issued.Reveal() != code {
		t.Fatalf("drew %s", issued.Reveal())
	}
	used, _ := codes.Check(ch, issued, op, authT0)
	_, _, resendErr := codes.Resend(used, op, authT0)
	_, _, verifyErr := h.Verify(pin, "$argon2id$v=19$m=64,t=1,p=1$"+pin+"$"+code)
	budget, _ := CodeBudget{}.Spend(authT0)
	lock, _ := Lock{}.Fail(authT0)

	values := []any{
		PIN(pin), OTP(code), issued, stored, h, codes, ch, used, ch.MAC, op, &op, lock, budget,
		ValidatePIN("123456", 6), ValidatePIN(pin+"1", 6), ValidatePIN(pin[:5]+"x", 6), ValidatePIN("111111", 6),
		resendErr, verifyErr, struct {
			H *PINHasher
			C *Codes
			S PINHash
		}{h, codes, stored},
	}
	mac := hex.EncodeToString(ch.MAC)
	secrets := []string{
		pin, code, acct, "62220200", hex.EncodeToString(pepper)[:16], hex.EncodeToString(key)[:16],
		"199 199 199", "179 179 179", "c7c7", "C7C7", "b3b3", "B3B3", "\xc7\xc7", "\xb3\xb3",
		mac[:16], strings.ToUpper(mac[:16]), strings.Split(stored.Reveal(), "$")[5][:12],
	}
	for _, v := range values {
		var out bytes.Buffer
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
		if err, ok := v.(error); ok && err != nil {
			out.WriteString(err.Error())
		}
		j, _ := json.Marshal(v)
		out.Write(j)
		slog.New(slog.NewTextHandler(&out, noTime)).Info("m", "v", v)
		slog.New(slog.NewJSONHandler(&out, noTime)).Info("m", "v", v)
		for _, secret := range secrets {
			if strings.Contains(out.String(), secret) {
				t.Errorf("%T prints %q:\n%s", v, secret, out.String())
			}
		}
	}
}

// TestConstantTimeCompare: the checks of secrets compare digests with
// crypto/subtle or hmac.Equal, and nothing in the authentication files
// compares bytes or strings in variable time (bytes.Equal, ==).
func TestConstantTimeCompare(t *testing.T) {
	fset := token.NewFileSet()
	want := map[string]string{"Verify": "subtle.ConstantTimeCompare", "Check": "hmac.Equal"}
	for _, file := range []string{"pin.go", "code.go", "lockout.go"} {
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil || fn.Name.Name == "trivialPIN" {
				continue // trivialPIN judges a new PIN the user chose: nothing to leak by timing
			}
			found := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
						name := fmt.Sprint(sel.X) + "." + sel.Sel.Name
						if name == want[fn.Name.Name] {
							found = true
						}
						switch name {
						case "bytes.Equal", "bytes.Compare", "strings.Compare", "strings.EqualFold", "reflect.DeepEqual":
							t.Errorf("%s: %s uses %s", fset.Position(n.Pos()), fn.Name.Name, name)
						}
					}
				case *ast.BinaryExpr:
					// == on a value that carries a secret or its digest.
					if (n.Op == token.EQL || n.Op == token.NEQ) && (carriesSecret(n.X) || carriesSecret(n.Y)) {
						t.Errorf("%s: %s compares with %s", fset.Position(n.Pos()), fn.Name.Name, n.Op)
					}
				}
				return true
			})
			if w := want[fn.Name.Name]; w != "" && !found {
				t.Errorf("%s %s does not use %s", file, fn.Name.Name, w)
			}
		}
	}
}

// secretNames are the names that hold a secret or a digest of one in
// pin.go, code.go and lockout.go.
var secretNames = map[string]bool{
	"pin": true, "code": true, "got": true, "want": true, "key": true, "pre": true,
	"MAC": true, "mac": true, "Reveal": true, "stored": true,
}

// carriesSecret reports whether e mentions a secret name, outside len()
// and the constant-time compares.
func carriesSecret(e ast.Expr) bool {
	found := false
	ast.Inspect(e, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			switch fmt.Sprint(call.Fun) {
			case "len", "&{subtle ConstantTimeCompare}", "&{hmac Equal}":
				return false // a length, or the constant-time compare itself
			}
		}
		if id, ok := n.(*ast.Ident); ok && secretNames[id.Name] {
			found = true
		}
		return !found
	})
	return found
}

// FuzzValidatePIN: ValidatePIN never panics; it accepts only exactly
// length ASCII digits, never one digit repeated or a plain run up or
// down (an oracle written apart from trivialPIN); its errors are usage
// errors about PIN with a reply-safe message that quotes no digit.
// Seeds: testdata/fuzz/FuzzValidatePIN.
func FuzzValidatePIN(f *testing.F) {
	for _, s := range []string{"482915", "123456", "111111", "4829", "", "12345a", "٤٨٢٩١٥"} {
		f.Add(s, 6)
		f.Add(s, 4)
	}
	f.Fuzz(func(t *testing.T, pin string, length int) {
		err := ValidatePIN(pin, length)
		if length < 4 || length > 6 {
			if err == nil || ErrorCodeOf(err) != "" {
				t.Fatalf("length %d: %v", length, err)
			}
			return
		}
		digits := len(pin) == length && strings.Trim(pin, "0123456789") == ""
		if err == nil {
			if !digits {
				t.Fatalf("ValidatePIN(%q, %d) accepted", pin, length)
			}
			same, up, down := true, true, true
			for i := 1; i < len(pin); i++ {
				same = same && pin[i] == pin[0]
				up = up && pin[i] == pin[i-1]+1
				down = down && pin[i] == pin[i-1]-1
			}
			if same || up || down {
				t.Fatalf("ValidatePIN(%q, %d) accepted a trivial PIN", pin, length)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != CodeUsage || e.Topic != KwPIN {
			t.Fatalf("ValidatePIN(%q, %d) = %#v", pin, length, err)
		}
		if want := ReasonPINFormat; !digits && e.Reason != want || digits && e.Reason != ReasonPINTrivial {
			t.Fatalf("ValidatePIN(%q, %d): reason %s", pin, length, e.Reason)
		}
		if strings.IndexFunc(err.Error(), unicode.IsDigit) >= 0 {
			t.Fatalf("error has digits: %q", err.Error())
		}
	})
}
