package flows

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// PINs and codes go.
		{"ok", "OK 482915", "OK ****"},
		{"ok lower", "ok 482915", "ok ****"},
		{"ok glued", "OK482915", "OK ****"},
		{"ok malformed", "OK 48291500", "OK ****"},
		{"ok extra", "OK 482915 482915", "OK **** ****"},
		{"ok chinese", "确认 482915", "确认 ****"},
		{"ok chinese glued", "确认482915", "确认 ****"},
		{"ok traditional", "確認 482915", "確認 ****"},
		{"ok full-width", "ＯＫ　４８２９１５", "OK ****"},
		{"ok arabic-indic", "OK ٤٨٢٩١٥", "OK ****"},
		{"pin set", "PIN 482915 482915", "PIN **** ****"},
		{"pin change", "pin 111111 482915 482915", "pin **** **** ****"},
		{"pin mismatch", "PIN 482915 482916", "PIN **** ****"},
		{"pin chinese", "密码 482915 482915", "密码 **** ****"},
		{"pin chinese glued", "密码482915 482915", "密码 **** ****"},
		{"resetpin args", "RESETPIN 482915", "RESETPIN ****"},
		{"reset pin words args", "reset pin 482915", "reset pin ****"},
		{"resetpin chinese args", "重置密码 482915 482915", "重置密码 **** ****"},
		{"code", "731904", Mask},
		{"code padded", " 731904\n", Mask},
		{"code grouped", "731 904", Mask},
		{"code full-width", "７３１９０４", Mask},
		{"code keyword", "CODE 731904", "CODE ****"},
		{"code keyword chinese", "验证码731904", "验证码 ****"},
		{"pin alone", "4829", Mask},
		{"eight digits alone", "48291573", Mask},
		// Account numbers keep their last 4.
		{"link", "LINK PGB 6222020012345678", "LINK PGB ****5678"},
		{"link grouped", "LINK PGB 6222 0200 1234 5678", "LINK PGB **** **** **** ****"},
		{"link chinese", "绑定 PGB 6222020012345678", "绑定 PGB ****5678"},
		{"link without bank", "LINK 6222020012345678", "LINK ****5678"},
		{"link numeric first", "LINK 62220200 12345678", "LINK ****0200 ****5678"},
		// Misplaced secrets in malformed or unknown texts.
		{"bal with pin", "BAL 482915", "BAL ****"},
		{"unknown with pin", "0K 482915", "0K ****"},
		{"sentence with pin", "my pin is 4829 thanks", "my pin is **** thanks"},
		{"glued in a word", "my pin:4829", "my pin:****"},
		{"keyword and colon", "pin:4829", "pin ****"},
		{"lang with pin", "LANG EN 4829", "LANG EN ****"},
		{"help tail", "HELP OK 482915", "HELP OK ****"},
		{"stop tail", "STOP 482915", "STOP ****"},
		{"status with a code", "STATUS 482915", "STATUS ****"},
		{"unknown with card", "card 6222020012345678", "card ****5678"},
		{"malformed send keeps phone", "SEND 13800138000 5000 x", "SEND 13800138000 **** x"},
		// Everything else stays as it was.
		{"send", "SEND 13800138000 500", "SEND 13800138000 500"},
		{"send large amount", "send 13800138000 482915", "send 13800138000 482915"},
		{"send full-width", "ＳＥＮＤ　１３８００１３８０００　５００", "ＳＥＮＤ　１３８００１３８０００　５００"},
		{"send chinese", "转账 +8613800138000 1,000.50", "转账 +8613800138000 1,000.50"},
		{"malformed send", "SEND 13800138000", "SEND 13800138000"},
		{"pay numeric ref", "PAY SHOP01 250 482915", "PAY SHOP01 250 482915"},
		{"help", "HELP", "HELP"},
		{"help topic", "帮助 转账", "帮助 转账"},
		{"bal", "BAL", "BAL"},
		{"ok alone", "OK", "OK"},
		{"phone alone", "13800138000", "13800138000"},
		{"short number", "123", "123"},
		{"hello", "hello there", "hello there"},
		{"empty", "", ""},
		{"status", "STATUS T7K2QXM4", "STATUS T7K2QXM4"},
		{"default", "DEFAULT 2", "DEFAULT 2"},
		{"already redacted", "OK ****", "OK ****"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in)
			if got != tt.want {
				t.Fatalf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if HasSecret(tt.in) != (got != tt.in) {
				t.Errorf("HasSecret(%q) = %v, but Redact changed it: %v", tt.in, HasSecret(tt.in), got != tt.in)
			}
			if again := Redact(got); again != got {
				t.Errorf("Redact is not idempotent: %q → %q", got, again)
			}
		})
	}
}

// TestRedactCanaries pushes canary secrets through every secret position
// in every spelling and checks that none survives.
func TestRedactCanaries(t *testing.T) {
	canaries := []string{"482915", "7319", "90817", "602233"}
	wide := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if r >= '0' && r <= '9' {
				r += '０' - '0'
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	forms := []string{"OK %s", "ok%s", "确认 %s", "確認%s", "PIN %s %s", "PIN %s %s %s", "密码%s %s",
		"RESETPIN %s", "reset pin %s", "重置密码 %s", "CODE %s", "验证码 %s", "%s", " %s ",
		"BAL %s", "MINI %s", "ACCOUNTS %s", "RESEND %s", "STOP %s", "CANCEL %s", "HELP %s",
		"LANG %s", "STATUS x %s", "UNLINK %s", "DEFAULT %s", "hello %s", "x%sx"}
	for _, c := range canaries {
		for _, f := range forms {
			for _, in := range []string{strings.ReplaceAll(f, "%s", c), wide(strings.ReplaceAll(f, "%s", c))} {
				out := Redact(in)
				if strings.Contains(out, c) || strings.Contains(out, wide(c)) {
					t.Errorf("Redact(%q) = %q keeps the canary", in, out)
				}
			}
		}
	}
}
