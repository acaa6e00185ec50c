package flows

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	digitRuns = regexp.MustCompile(`[0-9]+`)
	refRE     = regexp.MustCompile(`(?:ref |编号)([` + refAlphabet + `]{8})`)
)

// FuzzDialogue drives one phone through a dialogue of arbitrary texts
// (the input, one text per line, at most 16), with the bank confirming
// every account after each text, and holds RELIABILITY R11 for the flows
// of this issue:
//
//   - no panic, and every step either replies, asks for PIN work, or is
//     a refusal inside the notice interval;
//   - no account is linked unless the text that linked it is the exact
//     one-time code the phone was sent for that LINK (no path to a
//     binding without the code);
//   - the PIN never changes except by a text carrying the current PIN,
//     or a first PIN, or a new PIN after a RESETPIN code;
//   - no reply that is not a code SMS carries the PIN, a code or the full
//     account number;
//   - no transfer reaches the bank unless the text that authorized it is
//     the exact code the phone was sent for that transfer (its SMS names
//     the reference), sent after the PIN was accepted for it, and the
//     bank request moves exactly the amount and fee the transfer holds.
//
// Seeds: the flows of the tests (testdata/fuzz/FuzzDialogue) and below.
func FuzzDialogue(f *testing.F) {
	f.Add("LINK PGB 6222020000000001\n000000\n482915")
	f.Add("LINK PGB 6222020000000001\nRESEND\nCANCEL\nOK 482915")
	f.Add("PIN 482915 482915\nUNLINK 1\nOK 482915\nOK 000000")
	f.Add("RESETPIN\n123456\nPIN 739104 739104\nPIN 482915 739104 739104")
	f.Add("绑定 PGB 6222020000000002\n确认 482915\n密码 482915 739104 739104\nSTOP\nDEFAULT 1")
	f.Add("SEND 13900139000 500\nOK 482915\n000000\nRESEND\nSTATUS ACDEFGHJ")
	f.Add("PAY SHOP 12.5 INV 1\nOK 482915\nSEND 13900139000 1\nCANCEL\nBAL\nOK 482915\nMINI")
	f.Add("转账 13900139000 1,000\n确认 482915\n123456\n余额")
	f.Fuzz(func(t *testing.T, input string) {
		lines := strings.Split(input, "\n")
		if len(lines) > 16 {
			lines = lines[:16]
		}
		e := testEngine()
		tx := newFakeTx()
		// A phone with one account and a PIN, so that every command has
		// something to act on.
		pin := PIN("482915")
		hash, err := e.cfg.PINs.Hash(pin)
		if err != nil {
			t.Fatal(err)
		}
		tx.subs[phone] = Subscriber{Phone: phone, Created: t0, PIN: hash}
		tx.accounts[phone] = []Account{{ID: 1, Bank: "PGB", Number: acct1, Default: true, Linked: t0}}
		tx.lastID = 1
		tx.accounts[payee] = []Account{{ID: 2, Bank: "PGB", Number: payeeAcct, Holder: "W*** F***", Default: true}}
		tx.merchants["SHOP"] = Merchant{Code: "SHOP", Name: "Shop", Account: AccountRef{"PGB", shopAcct}, Phone: shopPhone}
		var codes []string             // every code the phone was sent
		codeRef := map[string]string{} // a transfer code → the reference its SMS named
		now := t0
		for _, text := range lines {
			now = now.Add(7 * time.Second)
			before := len(tx.accounts[phone])
			oldPIN := tx.subs[phone].PIN
			wasResetting := func() bool {
				p := tx.subs[phone].Pending
				return p != nil && p.Kind == OpResetPIN && p.Stage == StageNewPIN && !p.Expired(now)
			}()
			in := InboundSMS{From: phone, To: shortCode, Bind: "carrier-a", Trusted: true, Text: text, At: now}
			out := run(t, e, tx, in)
			// The bank confirms whatever was asked.
			for len(tx.bank) > 0 {
				r := tx.bank[0]
				tx.bank = tx.bank[1:]
				if r.Kind == BankTransfer {
					tr := tx.transfers[r.ID]
					authorized := false
					for c, ref := range codeRef {
						if ref == r.Reference && strings.Contains(normalize(strings.TrimSpace(text)), c) {
							authorized = true
						}
					}
					if !authorized || tr.Ref != r.Reference {
						t.Fatalf("%q sent transfer %s to the bank without its code (%v)", text, r.Reference, codeRef)
					}
					if tr.Amount != r.Amount || tr.Fee != r.Fee || tr.Debit.Number != r.Account || tr.Credit != r.Credit || r.Amount <= 0 {
						t.Fatalf("bank request %+v for transfer %+v", r, tr)
					}
				}
				n := len(tx.sent)
				err := e.HandleBankResult(context.Background(), tx, BankResult{ID: r.ID, Phone: r.Phone, Kind: r.Kind, Exists: true, PhoneMatches: true, Holder: "Li Wei",
					Status: TransferCompleted, BankRef: "B1", Available: 100}, now)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, tx.sent[n:]...)
			}
			for _, o := range out {
				if o.Sensitive {
					if c := codeRE.FindString(o.Text); c != "" {
						codes = append(codes, c)
						if m := refRE.FindStringSubmatch(o.Text); m != nil {
							codeRef[c] = m[1]
						}
					}
					continue
				}
				for _, secret := range append([]string{pin.Reveal(), acct1.Reveal(), acct2.Reveal()}, codes...) {
					if containsSecret(o.Text, secret) {
						t.Fatalf("reply %q to %q carries a secret", o.Text, text)
					}
				}
			}
			if after := len(tx.accounts[phone]); after > before {
				digits := strings.TrimSpace(text)
				ok := false
				for _, c := range codes {
					if strings.Contains(normalize(digits), c) {
						ok = true
					}
				}
				if !ok {
					t.Fatalf("%q linked an account without a code the phone was sent (%v)", text, codes)
				}
			}
			if newPIN := tx.subs[phone].PIN; newPIN != oldPIN {
				carriesOld := false
				if oldPIN != "" {
					for _, w := range digitRuns.FindAllString(normalize(text), -1) {
						if ok, _, _ := e.cfg.PINs.Verify(PIN(w), oldPIN); ok {
							carriesOld = true
						}
					}
				}
				if !carriesOld && !wasResetting && oldPIN != "" {
					t.Fatalf("%q changed the PIN without the old one or a RESETPIN code", text)
				}
				if ok, _, _ := e.cfg.PINs.Verify(pin, newPIN); !ok {
					for _, w := range digitRuns.FindAllString(normalize(text), -1) {
						if ok, _, _ := e.cfg.PINs.Verify(PIN(w), newPIN); ok {
							pin = PIN(w)
						}
					}
				}
			}
		}
	})
}

// containsSecret reports whether text carries secret other than as an
// amount the user typed ("482915.00": an amount may be any digits).
func containsSecret(text, secret string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], secret)
		if j < 0 {
			return false
		}
		end := i + j + len(secret)
		if !strings.HasPrefix(text[end:], ".") {
			return true
		}
		i = end
	}
}
