package flows

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// secretWords are the keywords whose arguments are PINs or codes, as the
// fuzz oracle knows them (written out again here, not taken from the
// grammar's tables).
var secretWords = []string{"OK", "PIN", "RESETPIN", "CODE", "确认", "確認", "密码", "密碼", "重置密码", "重置密碼", "验证码", "驗證碼"}

// secretRuns returns the digit runs of text that sit where a PIN or a
// one-time code goes: after a secret keyword, or a message of 4 to 8
// digits alone.
func secretRuns(text string) []string {
	words := strings.Fields(normalize(text))
	if len(words) == 0 {
		return nil
	}
	var in []string
	first := strings.ToUpper(words[0])
	for _, k := range secretWords {
		if first == k {
			in = words[1:]
		} else if rest, ok := strings.CutPrefix(first, k); ok && rest != "" && isASCIIDigit(rest[0]) {
			in = append([]string{rest}, words[1:]...)
		}
	}
	if first == "RESET" && len(words) > 1 && strings.ToUpper(words[1]) == "PIN" {
		in = words[2:]
	}
	if all := strings.Join(words, ""); isDigits(all) && len(all) >= 4 && len(all) <= 8 {
		in = append(words, all)
	}
	var runs []string
	for _, w := range in {
		for _, f := range strings.FieldsFunc(w, func(r rune) bool { return !isASCIIDigit(byte(r)) || r > 0x7f }) {
			runs = append(runs, f)
		}
	}
	return runs
}

// FuzzParse: Parse and Redact never panic; no error, no Command as
// printed or logged, and no redacted text carries a digit run that was in
// a PIN or code position (RELIABILITY R11); errors are well formed and
// have a reply; well-formed commands without secrets read back the same
// from their String. Seeds: testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := Parse(text)
		if (cmd == nil) == (err == nil) {
			t.Fatalf("Parse(%q) = %v, %v: want exactly one", text, cmd, err)
		}
		var printed bytes.Buffer
		log := slog.New(slog.NewJSONHandler(&printed, noTime))
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse(%q) error %T is not *Error", text, err)
			}
			switch e.Code {
			case CodeUsage:
				if _, ok := catalogue[UsageKey(e.Topic)]; !ok {
					t.Errorf("Parse(%q): usage error about %q has no usage text", text, e.Topic)
				}
				if _, ok := catalogue[ReasonKey(e.Reason)]; !ok {
					t.Errorf("Parse(%q): reason %q has no text", text, e.Reason)
				}
			case CodeUnknownCommand:
			default:
				t.Errorf("Parse(%q): code %q", text, e.Code)
			}
			if strings.ContainsAny(err.Error(), "0123456789") {
				t.Errorf("Parse(%q): error has digits: %q", text, err)
			}
			for _, l := range []Lang{English, Chinese} {
				if r := ErrorText(l, err, sampleVars); r == "" || r == Text(l, KeyInternal, nil) {
					t.Errorf("Parse(%q): no reply for %v", text, err)
				}
			}
			fmt.Fprintf(&printed, "%v %+v %#v %s\n", err, err, err, err)
			log.Error("parse", "err", err)
		} else {
			fmt.Fprintf(&printed, "%v %+v %#v %s\n", cmd, cmd, cmd, cmd)
			log.Info("parse", "cmd", cmd)
			switch cmd.(type) {
			case CmdOK, CmdCode, CmdPIN, CmdResetPIN, CmdLink:
			default:
				again, err := Parse(cmd.String())
				if err != nil || again != cmd {
					t.Errorf("Parse(%q) = %#v, but its String %q reads %#v, %v", text, cmd, cmd.String(), again, err)
				}
			}
		}
		red := Redact(text)
		if HasSecret(text) != (red != text) {
			t.Errorf("HasSecret(%q) disagrees with Redact", text)
		}
		for _, run := range secretRuns(text) {
			if strings.Contains(printed.String(), run) {
				t.Errorf("Parse(%q) prints the secret %q:\n%s", text, run, printed.String())
			}
			if strings.Contains(red, run) {
				t.Errorf("Redact(%q) = %q keeps the secret %q", text, red, run)
			}
		}
	})
}
