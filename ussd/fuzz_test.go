package ussd

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// Fuzz modes: bits of the first argument.
const (
	fuzzUntrusted = 1 << iota // the transport is not trusted
	fuzzJoined                // an aggregator: inputs joined by "*"
	fuzzPush                  // the dialogue opens with a merchant's push
	fuzzChinese               // the phone chose Chinese
	fuzzSmall                 // a small screen: everything pages
	fuzzShortcut              // the first line is dialled with the service code (*384*…#)
)

// Fuzz script tokens, one a line; any other line is typed as is.
const (
	tokCode    = "@" // the harness types the latest code texted to the phone
	tokBank    = "$" // the bank answers every request queued (yes to all)
	tokTimeout = "~" // 61 s pass
	tokAbort   = "!" // the network ends the session
	tokRedial  = "^" // a new session
)

var refSMS = regexp.MustCompile(`(?:ref |编号)([A-Z0-9]{8})`)

// FuzzDialogue drives a session of a registered phone (PIN 482915, one
// account) with a SEND pending (made by SMS) through arbitrary inputs —
// the script, one input a line, at most 24, with the tokens above — and
// holds RELIABILITY R11 for USSD:
//
//   - no step panics or fails, and every screen fits its limit, fills
//     its placeholders and shows no PIN, code or account number;
//   - no transfer reaches the bank (authorized or later) unless that
//     transfer's own one-time code, as texted for it, was typed into the
//     dialogue — the fuzzer cannot know a code, so only the harness's "@"
//     types one — and no code is texted for a transfer unless the PIN was
//     typed;
//   - no account is linked unless a link code texted to the phone was
//     typed.
//
// Each iteration is a new phone on a store shared by the iterations of a
// process (SQLite in a temporary directory), so an iteration costs a few
// steps, not a migration.
func FuzzDialogue(f *testing.F) {
	seeds := []struct {
		mode   byte
		script string
	}{
		{0, "1\n13900139000\n500\n482915\n@"},
		{0, "1\n13900139000\n500\n000000\n482915\n111111\n@\n$"},
		{fuzzPush, "482915\n@\n$"},
		{fuzzPush, "000000\n000000\n000000\n482915\n@"},
		{fuzzPush, "0"},
		{0, "2\nDEMOSHOP1234\n12.50\n0\n0\n0\n3\n482915\n$"},
		{fuzzJoined, "1\n13900139000\n500\n482915\n@"},
		{fuzzJoined, "1*13900139000*500\n482915"},
		{fuzzUntrusted, "1\n2\n3\n4\n6\n482915\n739104\n739104"},
		{0, "5\n1\n2\n482915\n^\n1\nPGB\n6222020000000001\n482915\n$\n@"},
		{0, "5\n1\n2\n482915\n^\n1\nPGB\n6222020000000001\n0\n6222020000000001\n482915\n$\n0"},
		{0, "6\n482915\n739104\n739104\n^\n3\n739104"},
		{0, "7\n2\n1\n13900139000\n~\n500"},
		{fuzzSmall, "5\n98\n0\n98\n98\n1\n0\n0\n98\n0"},
		{fuzzSmall | fuzzChinese, "98\n98\n1\n13900139000\n100\n482915\n@\n98"},
		{0, "4\n482915\n$"},
		{fuzzChinese, "1\n13900139000\n100\n482915\n@"},
		{0, "1\n13900139000\n100\n482915\n!\n@"},
		{fuzzShortcut, "1*13900139000*100*482915\n482915\n@"},
		{fuzzShortcut | fuzzJoined, "1*13900139000*100*482915*000000\n482915\n@"},
		{fuzzShortcut | fuzzJoined, "3*482915\n482915\n$"},
		{fuzzShortcut | fuzzUntrusted, "6*482915*739104*739104"},
	}
	for _, s := range seeds {
		f.Add(s.mode, s.script)
	}
	e := newEnv(f, flows.English)
	e.payees()
	hash, err := e.pins.Hash(pin1)
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, mode byte, script string) {
		e.t = t
		n++
		phone := flows.MSISDN(fmt.Sprintf("+861380%07d", n))
		account := flows.AccountNumber(fmt.Sprintf("62220201%08d", n))
		lang := flows.Lang("")
		if mode&fuzzChinese != 0 {
			lang = flows.Chinese
		}
		e.step(func(tx *store.Tx) error {
			if err := tx.SaveSubscriber(ctx, flows.Subscriber{Phone: phone, Created: e.now(), PIN: hash, Lang: lang}); err != nil {
				return err
			}
			return e.addAccounts(tx, phone, account)
		})
		e.smsFrom(phone, "SEND 13900139000 100")

		var screens []string
		opts := []sessOpt{onScreen(func(_ *sess, _ string, scr Screen) { screens = append(screens, scr.Text) })}
		if mode&fuzzUntrusted != 0 {
			opts = append(opts, untrusted)
		}
		if mode&fuzzJoined != 0 {
			opts = append(opts, joinedBind)
		}
		if mode&fuzzSmall != 0 {
			opts = append(opts, withLimit(Limit{GSM7: 60, UCS2: 30}))
		}
		lines := strings.Split(script, "\n")
		if len(lines) > 24 {
			lines = lines[:24]
		}
		typed := map[string]bool{} // every answer the phone gave
		var s *sess
		switch {
		case mode&fuzzPush != 0:
			s, _ = e.push(phone, "Pay 1.00 CNY to W*** F***", opts...)
		case mode&fuzzShortcut != 0:
			// A shortcut's inputs: typed, as far as the dialogue goes.
			s = e.dial(phone, opts...)
			for _, part := range strings.Split(lines[0], "*") {
				typed[strings.TrimSpace(part)] = true
			}
			if s.r.Joined {
				s.begin(strings.Split(lines[0], "*")...)
			} else {
				s.dialled("*384*" + lines[0] + "#")
			}
			lines = lines[1:]
		default:
			s = e.dial(phone, opts...)
			s.begin()
		}

		for _, in := range lines {
			switch in {
			case tokCode:
				if c := lastCode(e, phone); c != "" {
					typed[c] = true
					s.send(c)
				}
			case tokBank:
				e.bank(bankOK)
			case tokTimeout:
				e.clk.Add(61 * time.Second)
			case tokAbort:
				s.abort()
			case tokRedial:
				s = e.dial(phone, opts...)
				s.begin()
			default:
				for _, part := range strings.Split(in, "*") {
					typed[strings.TrimSpace(part)] = true
				}
				typed[strings.TrimSpace(in)] = true
				s.send(in)
			}
		}
		e.bank(bankOK) // whatever reached the bank completes

		// What was texted: each transfer's code by its reference, the
		// link codes.
		codeOf := map[string]string{}
		var linkCodes []string
		for _, text := range e.smsTo(phone) {
			c := codeSMS.FindStringSubmatch(text)
			if c == nil {
				continue
			}
			if r := refSMS.FindStringSubmatch(text); r != nil {
				codeOf[r[1]] = c[1]
			} else {
				linkCodes = append(linkCodes, c[1])
			}
		}
		// No screen showed a code or the phone's account number.
		for _, scr := range screens {
			for _, secret := range append(append([]string{string(account)}, linkCodes...), mapValues(codeOf)...) {
				if containsSecret(scr, secret) {
					t.Fatalf("a screen shows a secret:\n%s\n(script %q)", scr, script)
				}
			}
		}
		for _, tr := range e.transfers(phone) {
			code, texted := codeOf[tr.Ref]
			if texted && !typed[pin1] {
				t.Fatalf("the code of %s was texted, but the PIN was never typed (script %q)", tr.Ref, script)
			}
			if !tr.State.Debits() && tr.State != flows.TransferRejected {
				continue
			}
			if !texted || !typed[code] {
				t.Fatalf("transfer %s is %s without its code typed (texted %v, script %q)", tr.Ref, tr.State, texted, script)
			}
		}
		if as := e.accounts(phone); len(as) > 1 || len(as) == 1 && as[0].Number != account {
			linked := false
			for _, c := range linkCodes {
				linked = linked || typed[c]
			}
			if !linked {
				t.Fatalf("an account was linked without a link code typed (script %q)", script)
			}
		}
		delete(e.sms, phone)
	})
}

// lastCode is the latest code texted to phone, "" for none.
func lastCode(e *env, phone flows.MSISDN) string {
	texts := e.smsTo(phone)
	for i := len(texts) - 1; i >= 0; i-- {
		if m := codeSMS.FindStringSubmatch(texts[i]); m != nil {
			return m[1]
		}
	}
	return ""
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
