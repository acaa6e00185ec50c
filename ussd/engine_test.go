package ussd

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// The dialogue tests drive the menus of SPEC §4 over the real store and
// flows, one phone at a time, and check the screens and what the
// dialogue left in the store: transfers, bank requests, SMS.

// moneyEnv is an English gateway where me is registered with acct1 and
// pin1, with a payee and the merchant DEMOSHOP1234.
func moneyEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, flows.English)
	e.payees()
	e.registered(me, pin1, acct1)
	return e
}

// TestUnregisteredMenu: a phone with no account gets the welcome menu;
// 2 is help (an end screen), 0 exits, anything else is asked again.
func TestUnregisteredMenu(t *testing.T) {
	e := newEnv(t, flows.English)
	s := e.dial(other)
	is(t, s.begin(), en(tWelcome), false)
	is(t, s.send("5"), note(en(tInvalid), en(tWelcome)), false)
	is(t, s.send(""), note(en(tInvalid), en(tWelcome)), false)
	is(t, s.send("2"), en(tHelp), true)
	if st := s.state(); st != "" {
		t.Errorf("the session is still %q after help", st)
	}
	s = e.dial(other)
	s.begin()
	is(t, s.send("0"), en(tBye), true)
}

// TestLinkThenSetPIN: Welcome → 1 → bank → account; the bank is asked
// (nothing waits on it); the code it triggers, typed into the screen,
// binds the account; then the PIN, twice, with a re-prompt for a wrong
// format and for two PINs that differ.
func TestLinkThenSetPIN(t *testing.T) {
	e := newEnv(t, flows.English)
	s := e.dial(me)
	s.begin()
	is(t, s.send("1"), en(tLinkBank), false)
	is(t, s.send("pgb"), en(tLinkAccount, "bank", "PGB"), false)
	is(t, s.send(string(acct1)), en(tLinkCode, "account", "PGB ****0001"), false)
	reqs := e.bank(bankOK)
	if len(reqs) != 1 || reqs[0].Kind != flows.BankVerify || reqs[0].Account != acct1 || reqs[0].Bank != "PGB" {
		t.Fatalf("bank requests %+v, want one verify of PGB %s", reqs, acct1.Masked())
	}
	scr := s.send(e.code(me))
	has(t, scr, "Linked: PGB ****0001 (L* W**)", en(tSetPIN))
	if as := e.accounts(me); len(as) != 1 || as[0].Number != acct1 || !as[0].Default {
		t.Fatalf("accounts %+v", as)
	}
	is(t, s.send("48291"), note(en(tPINFormat), en(tSetPIN)), false)
	is(t, s.send("48291a"), note(en(tPINFormat), en(tSetPIN)), false)
	is(t, s.send(pin1), en(tSetPINAgain), false)
	is(t, s.send(pin2), note(en(tPINsDiffer), en(tSetPIN)), false)
	if e.subscriber(me).PIN != "" {
		t.Fatal("a PIN was set from two that differ")
	}
	is(t, s.send(pin1), en(tSetPINAgain), false)
	scr = s.send(pin1)
	has(t, scr, "Your PIN is set.", "1 Send money")
	if scr.End || s.state() != stMain {
		t.Fatalf("after the PIN: %q, state %q; want the main menu", scr.Text, s.state())
	}
	if ok, _, _ := e.pins.Verify(pin1, e.subscriber(me).PIN); !ok {
		t.Fatal("the PIN stored is not the one typed")
	}
}

// TestSendMoney: payee, amount, a confirmation naming payee, amount, fee
// and reference, the PIN, the code by SMS typed into the next screen,
// and an end screen saying the result comes by SMS; the transfer is
// authorized and in the bank outbox, nothing having waited on the bank.
func TestSendMoney(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	is(t, s.begin(), en(tMain), false)
	is(t, s.send("1"), en(tSendPayee), false)
	is(t, s.send("13900139000"), en(tAmount), false)
	scr := s.send("500")
	tr := e.lastTransfer(me)
	is(t, scr, en(tSendConfirm, "amount", "500.00", "payee", "W*** F***", "phone", "+86139****9000", "fee", "1.00", "ref", tr.Ref), false)
	if tr.State != flows.TransferPendingPIN || tr.Amount != 50000 || tr.Fee != 100 || tr.Payee != string(payee) {
		t.Fatalf("transfer %+v", tr)
	}
	is(t, s.send(pin1), en(tCode), false)
	if tr = e.lastTransfer(me); tr.State != flows.TransferPendingCode {
		t.Fatalf("transfer %s after the PIN, want pending_code", tr.State)
	}
	code := e.code(me)
	if sms := e.smsTo(me); !strings.Contains(sms[len(sms)-1], tr.Ref) {
		t.Errorf("the code SMS %q does not name the transfer %s", sms[len(sms)-1], tr.Ref)
	}
	scr = s.send(code)
	is(t, scr, en(tAuthorized, "amount", "500.00", "payee", "W*** F***", "ref", tr.Ref), true)
	if !strings.Contains(scr.Text, "The result will come by SMS") {
		t.Fatalf("end screen %q", scr.Text)
	}
	if tr = e.lastTransfer(me); tr.State != flows.TransferAuthorized {
		t.Fatalf("transfer %s after the code, want authorized", tr.State)
	}
	reqs := e.bank(bankOK)
	if len(reqs) != 1 || reqs[0].Kind != flows.BankTransfer || reqs[0].ID != tr.ID || reqs[0].Amount != 50000 {
		t.Fatalf("bank requests %+v", reqs)
	}
	if tr = e.lastTransfer(me); tr.State != flows.TransferCompleted {
		t.Fatalf("transfer %s after the bank, want completed", tr.State)
	}
	if sms := e.smsTo(payee); len(sms) != 1 || !strings.Contains(sms[0], "500.00") {
		t.Errorf("payee's SMS %q, want one receipt", sms)
	}
}

// TestWrongPINKeepsOperation: a wrong PIN re-prompts on the same screen
// and leaves the transfer pending (SPEC §5.5); the right one goes on.
func TestWrongPINKeepsOperation(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("1")
	s.send("13900139000")
	confirm := s.send("500")
	tr := e.lastTransfer(me)
	is(t, s.send("000000"), note(en(tWrongAnswer), confirm.Text), false)
	is(t, s.send("48291"), note(en(tPINFormat), confirm.Text), false)
	if got := e.lastTransfer(me); got.ID != tr.ID || got.State != flows.TransferPendingPIN {
		t.Fatalf("after a wrong PIN the transfer is %+v", got)
	}
	if n := e.subscriber(me).Lock.Failures; n != 1 {
		t.Errorf("%d failures counted, want 1", n)
	}
	is(t, s.send(pin1), en(tCode), false)
	// A wrong code, likewise: the same screen, the transfer pending.
	scr := s.send("000000")
	if scr.End || s.state() != stCode || !strings.Contains(scr.Text, "Wrong PIN or code") {
		t.Fatalf("after a wrong code: state %q, screen\n%s", s.state(), scr.Text)
	}
	if got := e.lastTransfer(me); got.ID != tr.ID || got.State != flows.TransferPendingCode {
		t.Fatalf("after a wrong code the transfer is %+v", got)
	}
	tr = e.lastTransfer(me)
	is(t, s.send(e.code(me)), en(tAuthorized, "amount", "500.00", "payee", "W*** F***", "ref", tr.Ref), true)
}

// TestPayMerchant: PAY through the menus, the merchant's name and code
// on the confirmation, the fee on the amount.
func TestPayMerchant(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	is(t, s.send("2"), en(tPayMerchant), false)
	is(t, s.send("demoshop1234"), en(tAmount), false)
	scr := s.send("200")
	tr := e.lastTransfer(me)
	is(t, scr, en(tPayConfirm, "amount", "200.00", "payee", shopName, "merchant", shopCode, "fee", "1.00", "ref", tr.Ref), false)
	s.send(pin1)
	is(t, s.send(e.code(me)), en(tAuthorized, "amount", "200.00", "payee", shopName, "ref", tr.Ref), true)
	if tr = e.lastTransfer(me); tr.State != flows.TransferAuthorized || tr.Kind != flows.OpPay || tr.Payee != shopCode {
		t.Fatalf("transfer %+v", tr)
	}
}

// TestBalanceAndMini: BAL and MINI ask for the PIN, then end saying the
// answer comes by SMS, with the bank request queued (SPEC §4: nothing
// waits on the bank); the answer comes by SMS.
func TestBalanceAndMini(t *testing.T) {
	for _, tt := range []struct {
		choice string
		screen textKey
		kind   flows.BankKind
	}{
		{"3", tBalPIN, flows.BankBalance},
		{"4", tMiniPIN, flows.BankStatement},
	} {
		t.Run(string(tt.kind), func(t *testing.T) {
			e := moneyEnv(t)
			s := e.dial(me)
			s.begin()
			is(t, s.send(tt.choice), en(tt.screen, "account", "PGB ****0001"), false)
			is(t, s.send(pin1), en(tBySMS), true)
			reqs := e.bank(bankOK)
			if len(reqs) != 1 || reqs[0].Kind != tt.kind || reqs[0].Account != acct1 {
				t.Fatalf("bank requests %+v, want one %s of acct1", reqs, tt.kind)
			}
			if sms := e.smsTo(me); len(sms) != 1 || !strings.Contains(sms[0], "PGB ****0001") {
				t.Fatalf("SMS %q, want the bank's answer", sms)
			}
		})
	}
}

// TestMyAccounts: the list marks the default; an account can become the
// default, or be removed with the PIN.
func TestMyAccounts(t *testing.T) {
	e := moneyEnv(t)
	e.step(func(tx *store.Tx) error { return e.addAccounts(tx, me, "6222020000000002") })
	s := e.dial(me)
	s.begin()
	list := "My accounts\n1 PGB ****0001 *\n2 PGB ****0002\n0 Back"
	is(t, s.send("5"), list, false)
	is(t, s.send("3"), note(en(tInvalid), list), false)
	is(t, s.send("2"), en(tAccount, "account", "PGB ****0002"), false)
	is(t, s.send("1"), "Payments now use PGB ****0002.", true)
	if as := e.accounts(me); as[0].Default || !as[1].Default {
		t.Fatalf("accounts %+v, want the second the default", as)
	}

	s = e.dial(me)
	s.begin()
	is(t, s.send("5"), "My accounts\n1 PGB ****0001\n2 PGB ****0002 *\n0 Back", false)
	s.send("2")
	is(t, s.send("2"), en(tUnlinkPIN, "account", "PGB ****0002"), false)
	is(t, s.send("000000"), note(en(tWrongAnswer), en(tUnlinkPIN, "account", "PGB ****0002")), false)
	is(t, s.send(pin1), "Removed: PGB ****0002 is no longer linked to this phone.", true)
	if as := e.accounts(me); len(as) != 1 || as[0].Number != acct1 || !as[0].Default {
		t.Fatalf("accounts %+v, want acct1 alone, the default", as)
	}
}

// TestChangePIN: current, new, new again; a new PIN typed differently
// is asked again; 0 goes back a screen; the old PIN stops working.
func TestChangePIN(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	is(t, s.send("6"), en(tOldPIN), false)
	is(t, s.send(pin1), en(tNewPIN), false)
	is(t, s.send("0"), en(tOldPIN), false)
	is(t, s.send(pin1), en(tNewPIN), false)
	is(t, s.send("12"), note(en(tPINFormat), en(tNewPIN)), false)
	is(t, s.send(pin2), en(tNewPINAgain), false)
	is(t, s.send("739105"), note(en(tPINsDiffer), en(tNewPIN)), false)
	is(t, s.send(pin2), en(tNewPINAgain), false)
	is(t, s.send(pin2), "Your PIN is changed. If you did not do this, call your bank.", true)
	hash := e.subscriber(me).PIN
	if ok, _, _ := e.pins.Verify(pin2, hash); !ok {
		t.Fatal("the new PIN does not check")
	}
	// A wrong current PIN: asked again from the start, nothing changed.
	s = e.dial(me)
	s.begin()
	s.send("6")
	s.send(pin1)
	s.send("836152")
	is(t, s.send("836152"), note(en(tWrongAnswer), en(tOldPIN)), false)
	if e.subscriber(me).PIN != hash {
		t.Fatal("the PIN changed with a wrong current PIN")
	}
	// The old PIN no longer pays.
	s = e.dial(me)
	s.begin()
	s.send("3")
	is(t, s.send(pin1), note(en(tWrongAnswer), en(tBalPIN, "account", "PGB ****0001")), false)
	is(t, s.send(pin2), en(tBySMS), true)
}

// TestLanguage: 7 → 2 switches to Chinese for this session and the next
// (the choice is the phone's, saved by flows), 7 → 1 back to English.
func TestLanguage(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	is(t, s.send("7"), en(tLang), false)
	is(t, s.send("2"), zh(tMain), false)
	is(t, s.send("1"), zh(tSendPayee), false)
	if l := e.subscriber(me).Lang; l != flows.Chinese {
		t.Fatalf("language saved %q", l)
	}
	s = e.dial(me)
	is(t, s.begin(), zh(tMain), false)
	is(t, s.send("3"), zh(tBalPIN, "account", "PGB ****0001"), false)
	is(t, s.send(pin1), zh(tBySMS), true)
	s = e.dial(me)
	s.begin()
	is(t, s.send("7"), zh(tLang), false)
	is(t, s.send("1"), en(tMain), false)
	if l := e.subscriber(me).Lang; l != flows.English {
		t.Fatalf("language saved %q", l)
	}
}

// TestInvalidChoice: an answer that is no choice of a menu shows the
// menu again with a note, in every menu.
func TestInvalidChoice(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	for _, in := range []string{"9", "", "11", "abc", "*", "1 "} {
		want := note(en(tInvalid), en(tMain))
		if in == "1 " {
			want = en(tSendPayee) // answers are trimmed
		}
		is(t, s.send(in), want, false)
	}
	s.send("0")
	s.send("7")
	is(t, s.send("3"), note(en(tInvalid), en(tLang)), false)
}

// TestBackNavigation: 0 goes back one screen everywhere but the main
// menu (where it exits); backing out of a confirmation cancels the
// transfer it made.
func TestBackNavigation(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	steps := []struct{ in, want string }{
		{"1", en(tSendPayee)},
		{"0", en(tMain)},
		{"1", en(tSendPayee)},
		{"13900139000", en(tAmount)},
		{"0", en(tSendPayee)},
		{"0", en(tMain)},
		{"2", en(tPayMerchant)},
		{shopCode, en(tAmount)},
		{"0", en(tPayMerchant)},
		{"0", en(tMain)},
		{"6", en(tOldPIN)},
		{"0", en(tMain)},
		{"7", en(tLang)},
		{"0", en(tMain)},
		{"5", "My accounts\n1 PGB ****0001 *\n0 Back"},
		{"1", en(tAccount, "account", "PGB ****0001 *")},
		{"0", "My accounts\n1 PGB ****0001 *\n0 Back"},
		{"0", en(tMain)},
		{"3", en(tBalPIN, "account", "PGB ****0001")},
		{"0", en(tMain)},
	}
	for i, st := range steps {
		if scr := s.send(st.in); scr.Text != st.want || scr.End {
			t.Fatalf("step %d %q: screen\n%s\nwant\n%s", i, st.in, scr.Text, st.want)
		}
	}
	if p := e.subscriber(me).Pending; p != nil {
		t.Fatalf("BAL left pending after 0: %+v", p)
	}
	s.send("1")
	s.send("13900139000")
	s.send("500")
	tr := e.lastTransfer(me)
	is(t, s.send("0"), en(tAmount), false)
	if got := e.lastTransfer(me); got.ID != tr.ID || got.State != flows.TransferCancelled {
		t.Fatalf("transfer %s after backing out, want cancelled", got.State)
	}
	if sms := e.smsTo(me); len(sms) != 0 {
		t.Errorf("backing out texted %q", sms)
	}
	is(t, s.send("0"), en(tSendPayee), false)
	is(t, s.send("0"), en(tMain), false)
	is(t, s.send("0"), en(tBye), true)
}

// TestPaging: five accounts on a small screen are paged with 98 More
// and 0 Back; every page fits and keeps the menu's 0 option; 0 on a
// later page goes to the page before; a choice works from any page.
func TestPaging(t *testing.T) {
	for _, lang := range []flows.Lang{flows.English, flows.Chinese} {
		t.Run(string(lang), func(t *testing.T) {
			e := newEnv(t, lang)
			e.registered(me, pin1, acct1, "6222020000000002", "6222020000000003", "6222020000000004", "6222020000000005")
			small := Limit{GSM7: 60, UCS2: 30}
			s := e.dial(me, withLimit(small))
			s.begin()
			s.send("5")
			first := s.last
			more, back := text(lang, tMore, nil), text(lang, tBack, nil)
			var seen []string
			for page := 0; ; page++ {
				lines := strings.Split(s.last.Text, "\n")
				if lines[len(lines)-1] != back {
					t.Fatalf("page %d does not end with %q:\n%s", page, back, s.last.Text)
				}
				seen = append(seen, lines[:len(lines)-1]...)
				if !s.paged() {
					break
				}
				if page > 10 {
					t.Fatal("too many pages")
				}
				prev := s.last
				s.send("98")
				if page == 0 {
					// 0 on page 2 is page 1 again; 98 is page 2 again.
					is(t, s.send("0"), prev.Text, false)
					s.send("98")
				}
			}
			all := strings.Join(seen, "\n")
			for i, a := range []string{"PGB ****0001 *", "PGB ****0002", "PGB ****0003", "PGB ****0004", "PGB ****0005"} {
				if !strings.Contains(all, string(rune('1'+i))+" "+a) {
					t.Errorf("account %d (%s) on no page:\n%s", i+1, a, all)
				}
			}
			if strings.Count(all, more) == 0 {
				t.Errorf("no page offered %q", more)
			}
			// A choice from the last page.
			has(t, s.send("5"), "PGB ****0005")
			if s.state() != stAccount {
				t.Fatalf("state %q after choosing 5", s.state())
			}
			is(t, s.send("0"), first.Text, false)
		})
	}
}

// TestSessionTimeout: an answer more than ScreenTTL after its screen,
// or past SessionTTL, gets the timed-out end screen; so does an answer
// to a session the store no longer has.
func TestSessionTimeout(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("1")
	e.clk.Add(61 * time.Second)
	is(t, s.send("13900139000"), en(tTimedOut), true)
	if st := s.state(); st != "" {
		t.Fatalf("a timed-out session is still %q", st)
	}

	// Each screen answered within 60 s, but the session is over 180 s.
	s = e.dial(me)
	s.begin()
	for _, in := range []string{"7", "0", "7"} { // at 54, 106, 158 s
		e.clk.Add(50 * time.Second)
		if scr := s.send(in); scr.End {
			t.Fatalf("ended early: %q", scr.Text)
		}
	}
	e.clk.Add(25 * time.Second) // 185 s
	is(t, s.send("0"), en(tTimedOut), true)

	// An answer to a session swept (or never begun).
	s = e.dial(me)
	is(t, s.send("1"), en(tTimedOut), true)
	s = e.dial(me)
	s.begin()
	e.clk.Add(200 * time.Second)
	if n, err := e.db.ExpireUSSDSessions(ctx, e.now()); err != nil || n != 1 {
		t.Fatalf("swept %d, %v", n, err)
	}
	is(t, s.send("1"), en(tTimedOut), true)
}

// TestUntrustedTransport: on a transport that is not trusted the money
// items are refused up front (SPEC §5.5), and nothing reaches flows.
func TestUntrustedTransport(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me, untrusted)
	s.begin()
	for _, in := range []string{"1", "2", "3", "4"} {
		is(t, s.send(in), note(en(tNoMoney), en(tMain)), false)
		if !strings.Contains(s.last.Text, "not available on this line") {
			t.Fatalf("screen %q", s.last.Text)
		}
	}
	is(t, s.send("7"), en(tLang), false)
	if ts := e.transfers(me); len(ts) != 0 {
		t.Fatalf("transfers %+v", ts)
	}
	if p := e.subscriber(me).Pending; p != nil {
		t.Fatalf("pending %+v", p)
	}
}

// TestUntrustedRefusedAtFirstScreen: changing the PIN and linking an
// account are account changes, which flows refuses from a transport that
// is not trusted; the menus refuse them at their first screen, with the
// refusal flows' answer shows (KeyMoneyUntrusted), instead of collecting
// the PINs or the account number first. The refusal and the menu fit one
// screen.
func TestUntrustedRefusedAtFirstScreen(t *testing.T) {
	refusal := sayFlow(flows.English, flows.KeyMoneyUntrusted, nil)
	e := moneyEnv(t)
	s := e.dial(me, untrusted)
	s.begin()
	is(t, s.send("6"), note(refusal, en(tMain)), false)
	is(t, s.send(pin1), note(en(tInvalid), en(tMain)), false) // not taken as a PIN
	if ok, _, _ := e.pins.Verify(pin1, e.subscriber(me).PIN); !ok {
		t.Fatal("the PIN changed on an untrusted line")
	}

	s = e.dial(other, untrusted)
	is(t, s.begin(), en(tWelcome), false)
	is(t, s.send("1"), note(refusal, en(tWelcome)), false)
	is(t, s.send("2"), en(tHelp), true)
	if n := len(e.bank(bankOK)); n != 0 {
		t.Fatalf("%d bank requests from an untrusted line", n)
	}

	// In Chinese, flows' Chinese words.
	zhEnv := newEnv(t, flows.Chinese)
	s = zhEnv.dial(other, untrusted)
	s.begin()
	is(t, s.send("1"), note(sayFlow(flows.Chinese, flows.KeyMoneyUntrusted, nil), zh(tWelcome)), false)
	zhEnv.registered(me, pin1, acct1)
	s = zhEnv.dial(me, untrusted)
	s.begin()
	is(t, s.send("6"), note(sayFlow(flows.Chinese, flows.KeyMoneyUntrusted, nil), zh(tMain)), false)

	// Removing an account, refused by flows as the menu chooses it:
	// the same words, and no PIN is asked for.
	s = e.dial(me, untrusted)
	s.begin()
	s.send("5")
	s.send("1")
	is(t, s.send("2"), refusal, true)
}

// TestPush: a network-initiated prompt for the operation pending on
// the phone (a SEND made by SMS here): the PIN on the pushed screen — a
// wrong one asked again — then the code by SMS, typed in; or 0 declines
// and cancels (a PAY here).
func TestPush(t *testing.T) {
	e := moneyEnv(t)
	e.smsFrom(me, "SEND 13900139000 20")
	tr := e.lastTransfer(me)
	s, scr := e.push(me, "Send 20.00 CNY to W*** F***?")
	is(t, scr, en(tPushPIN, "text", "Send 20.00 CNY to W*** F***?"), false)
	is(t, s.send("000000"), note(en(tWrongAnswer), scr.Text), false)
	is(t, s.send(pin1), en(tCode), false)
	is(t, s.send(e.code(me)), en(tAuthorized, "amount", "20.00", "payee", "W*** F***", "ref", tr.Ref), true)
	if got := e.lastTransfer(me); got.ID != tr.ID || got.State != flows.TransferAuthorized {
		t.Fatalf("transfer %+v", got)
	}

	e.smsFrom(me, "PAY "+shopCode+" 30")
	tr = e.lastTransfer(me)
	s, _ = e.push(me, "Demo Shop asks you to pay 30.15 CNY")
	is(t, s.send("0"), en(tBye), true)
	if got := e.lastTransfer(me); got.ID != tr.ID || got.State != flows.TransferCancelled {
		t.Fatalf("declined transfer %+v", got)
	}
}

// TestPushNothingPending: a push whose operation ended meanwhile: the
// PIN typed is not checked nor counted, and the session ends.
func TestPushNothingPending(t *testing.T) {
	e := moneyEnv(t)
	s, _ := e.push(me, "Demo Shop asks you to pay 30.15 CNY")
	scr := s.send(pin1)
	if !scr.End {
		t.Fatalf("the session goes on:\n%s", scr.Text)
	}
	if sub := e.subscriber(me); sub.Lock.Failures != 0 || sub.Lock.Pending != 0 {
		t.Fatalf("lock %+v", sub.Lock)
	}
	t.Logf("end screen: %q", scr.Text)
}

// TestRedeliveredBegin: the same begin delivered twice gets the same
// screen and changes nothing.
func TestRedeliveredBegin(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("1")
	is(t, s.begin(), en(tSendPayee), false)
	is(t, s.send("13900139000"), en(tAmount), false)
}

// TestRestart: the session is in the store, so a new process (a
// reopened store, new engines) goes on where the old one was, through
// PIN and code.
func TestRestart(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("1")
	s.send("13900139000")
	e.restart()
	scr := s.send("500")
	tr := e.lastTransfer(me)
	is(t, scr, en(tSendConfirm, "amount", "500.00", "payee", "W*** F***", "phone", "+86139****9000", "fee", "1.00", "ref", tr.Ref), false)
	e.restart()
	is(t, s.send(pin1), en(tCode), false)
	code := e.code(me)
	e.restart()
	is(t, s.send(code), en(tAuthorized, "amount", "500.00", "payee", "W*** F***", "ref", tr.Ref), true)
	if got := e.lastTransfer(me); got.State != flows.TransferAuthorized {
		t.Fatalf("transfer %s", got.State)
	}
}

// TestJoinedInput: an aggregator sends every input so far joined by
// "*"; each callback acts on the new inputs only, and a retried
// callback gets the same screen without acting twice.
func TestJoinedInput(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me, joinedBind)
	is(t, s.begin(), en(tMain), false)
	is(t, s.send("1"), en(tSendPayee), false)
	is(t, s.send("13900139000"), en(tAmount), false)
	is(t, s.resend(), en(tAmount), false)
	scr := s.send("500")
	is(t, s.resend(), scr.Text, false)
	if ts := e.transfers(me); len(ts) != 1 {
		t.Fatalf("%d transfers after a retried callback, want 1", len(ts))
	}
	is(t, s.send(pin1), en(tCode), false)
	is(t, s.resend(), en(tCode), false)
	if n := len(e.smsTo(me)); n != 1 {
		t.Fatalf("%d SMS after a retried PIN callback, want one code", n)
	}
	tr := e.lastTransfer(me)
	is(t, s.send(e.code(me)), en(tAuthorized, "amount", "500.00", "payee", "W*** F***", "ref", tr.Ref), true)

	// Two inputs in one callback (a client that batches) are taken in
	// order.
	s = e.dial(me, joinedBind)
	s.begin()
	s.inputs = append(s.inputs, "7")
	is(t, s.send("0"), en(tMain), false)
}

// TestJoinedShortcut: an aggregator's first callback after a shortcut
// (*384*1*13900139000#) carries the inputs dialled: they walk the menus
// as if typed one by one, and the next callback's new input is its last
// one.
func TestJoinedShortcut(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me, joinedBind)
	is(t, s.begin("1", "13900139000"), en(tAmount), false)
	scr := s.send("500")
	tr := e.lastTransfer(me)
	is(t, scr, en(tSendConfirm, "amount", "500.00", "payee", "W*** F***", "phone", "+86139****9000", "fee", "1.00", "ref", tr.Ref), false)
	is(t, s.resend(), scr.Text, false)
	is(t, s.send(pin1), en(tCode), false)
	is(t, s.send(e.code(me)), en(tAuthorized, "amount", "500.00", "payee", "W*** F***", "ref", tr.Ref), true)

	// A choice that is none, in a shortcut: the menu says so.
	s = e.dial(me, joinedBind)
	is(t, s.begin("9"), note(en(tInvalid), en(tMain)), false)
	is(t, s.send("7"), en(tLang), false)
}

// TestShortcutDial: an SMPP begin names what was dialled; past the
// service code, its inputs walk the menus as an aggregator's do. The
// walk stops at a screen that asks for a PIN or a code: the inputs past
// it are dropped (a dial string is no place for a PIN), and the next
// answer is taken on the screen shown.
func TestShortcutDial(t *testing.T) {
	e := moneyEnv(t)
	dial := (*sess).dialled
	for _, tt := range []struct{ dialled, want string }{
		{"*384#", en(tMain)},
		{"*384*2#", en(tPayMerchant)},
		{"*384*2*" + shopCode + "#", en(tAmount)},
		{"*384*7*2", zh(tMain)}, // no "#": as dialled
		{"*384*9#", note(en(tInvalid), en(tMain))},
		{"*385*2#", en(tMain)}, // another service's code: no inputs
	} {
		s := e.dial(me)
		if got := dial(s, tt.dialled); got.Text != tt.want || got.End {
			t.Errorf("dialled %s: screen\n%s\nwant\n%s", tt.dialled, got.Text, tt.want)
		}
		if tt.dialled == "*384*7*2" {
			s.send("7")
			s.send("1") // back to English for the next cases
		}
	}

	// *384*3*PIN#: the balance asks for the PIN; the one dialled is not
	// taken, nor checked, nor counted.
	s := e.dial(me)
	is(t, dial(s, "*384*3*"+pin1+"#"), en(tBalPIN, "account", "PGB ****0001"), false)
	if reqs := e.bank(bankOK); len(reqs) != 0 {
		t.Fatalf("a dialled PIN reached the bank: %+v", reqs)
	}
	is(t, s.send(pin1), en(tBySMS), true)

	// The same over an aggregator: the PIN dropped but counted, so the
	// next callback's new input is the answer to the PIN screen.
	s = e.dial(me, joinedBind)
	is(t, s.begin("3", "000000"), en(tBalPIN, "account", "PGB ****0001"), false)
	if n := e.subscriber(me).Lock.Failures; n != 0 {
		t.Fatalf("a PIN in a shortcut was checked: %d failures", n)
	}
	is(t, s.send(pin1), en(tBySMS), true)
}

// TestJoinedEndedNotReplayed: an aggregator's session that ended, or
// timed out, stays in the store as ended: a callback that repeats its
// inputs — they may hold a PIN — is told the session is over instead of
// starting a new one with them; the retried last callback gets its end
// screen again. After EndedTTL past its hard end the row is swept.
func TestJoinedEndedNotReplayed(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me, joinedBind)
	s.begin()
	s.send("3")
	end := s.send(pin1)
	is(t, end, en(tBySMS), true)
	if st := s.state(); st != stEnded {
		t.Fatalf("state %q after the end, want %q", st, stEnded)
	}
	is(t, s.resend(), end.Text, true) // the retried last callback
	reqs := e.bank(bankOK)
	if len(reqs) != 1 {
		t.Fatalf("%d bank requests, want the one balance", len(reqs))
	}
	r := s.r
	r.Kind, r.Text = Answer, "3*"+pin1+"*1" // a replay with more inputs
	is(t, s.do(r, "(replay)"), en(tTimedOut), true)
	r.Kind, r.Text = Begin, "" // a replayed first callback
	is(t, s.do(r, "(replay)"), en(tTimedOut), true)
	if n := len(e.bank(bankOK)); n != 0 {
		t.Fatalf("a replay reached the bank %d times", n)
	}
	if p := e.subscriber(me).Pending; p != nil {
		t.Fatalf("a replay left %+v pending", p)
	}

	// Timed out with no callback at the time, then swept at its hard
	// end: the late callback is told so, not taken for a shortcut.
	s = e.dial(me, joinedBind)
	s.begin()
	s.send("3")
	e.clk.Add(200 * time.Second)
	if _, err := e.db.ExpireUSSDSessions(ctx, e.now()); err != nil {
		t.Fatal(err)
	}
	is(t, s.send(pin1), en(tTimedOut), true)
	if p := e.subscriber(me).Pending; p == nil || p.Stage != flows.StagePIN {
		t.Fatalf("pending %+v, want the balance still waiting for its PIN", p)
	}
	if n := e.subscriber(me).Lock.Failures; n != 0 {
		t.Fatalf("%d failures", n)
	}
	// EndedTTL later the store lets it go.
	e.clk.Add(time.Hour)
	if n, err := e.db.ExpireUSSDSessions(ctx, e.now()); err != nil || n != 2 {
		t.Fatalf("swept %d, %v; want the two ended sessions", n, err)
	}
}

// TestAbort: the network ends the session; the next answer is told the
// session is over; a transfer it began stays pending for SMS.
func TestAbort(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("1")
	s.send("13900139000")
	s.send("500")
	s.abort()
	if st := s.state(); st != "" {
		t.Fatalf("state %q after abort", st)
	}
	is(t, s.send(pin1), en(tTimedOut), true)
	if tr := e.lastTransfer(me); tr.State != flows.TransferPendingPIN {
		t.Fatalf("transfer %s", tr.State)
	}
}

// TestResumeAfterSessionEnded: the session ended between the PIN step
// and its check (an abort): the result stands and the screen says it
// comes by SMS.
func TestResumeAfterSessionEnded(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("3")
	r := s.r
	r.Kind, r.Text, r.At = Answer, pin1, e.now()
	var st Step
	e.step(func(tx *store.Tx) (err error) { st, err = e.u.Handle(ctx, tx, r); return err })
	if st.Work == nil {
		t.Fatal("no PIN work")
	}
	s.abort()
	res := e.fl.CheckPIN(st.Work)
	var scr Screen
	e.step(func(tx *store.Tx) (err error) { scr, err = e.u.Resume(ctx, tx, r, st, res); return err })
	is(t, scr, en(tBySMS), true)
	if reqs := e.bank(bankOK); len(reqs) != 1 || reqs[0].Kind != flows.BankBalance {
		t.Fatalf("bank requests %+v", reqs)
	}
}

// TestPINCheckUnavailable: a PIN check that could not run (the pool was
// full) is not counted, and the same screen asks for the PIN again.
func TestPINCheckUnavailable(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("3")
	e.pinResult = func(*flows.PINWork) (flows.PINResult, bool) {
		return flows.PINResult{Err: errors.New("no time")}, true
	}
	scr := s.send(pin1)
	e.pinResult = nil
	if s.state() != stBalPIN || scr.End || !strings.Contains(scr.Text, "nothing was counted") {
		t.Fatalf("state %q, screen\n%s", s.state(), scr.Text)
	}
	if n := e.subscriber(me).Lock.Failures; n != 0 {
		t.Fatalf("%d failures counted", n)
	}
	if strings.Count(scr.Text, en(tBack)) > 1 {
		t.Fatalf("two back options on one screen:\n%s", scr.Text)
	}
	is(t, s.send(pin1), en(tBySMS), true)
}

// TestNoteSurvivesPaging: a note too long to share the first page with
// its screen is paged with it; 98 More shows the rest of that same
// screen. Here the note that the first PIN is set, above the main menu,
// on a screen of 140 characters.
func TestNoteSurvivesPaging(t *testing.T) {
	e := newEnv(t, flows.English)
	e.step(func(tx *store.Tx) error {
		if err := tx.SaveSubscriber(ctx, flows.Subscriber{Phone: me, Created: e.now()}); err != nil {
			return err
		}
		return e.addAccounts(tx, me, acct1)
	})
	s := e.dial(me, withLimit(Limit{GSM7: 140, UCS2: 80}))
	is(t, s.begin(), en(tSetPIN), false)
	s.send(pin1)
	scr := s.send(pin1)
	has(t, scr, "Your PIN is set.", "1 Send money")
	if !s.paged() {
		t.Fatalf("the note and the main menu fit one page of 140:\n%s", scr.Text)
	}
	scr = s.send("98")
	if strings.Contains(scr.Text, en(tInvalid)) || !strings.Contains(scr.Text, "5 My accounts") || strings.Contains(scr.Text, "1 Send money") {
		t.Fatalf("98 More after a paged note shows\n%s\nwant the rest of the main menu", scr.Text)
	}
}

// TestEndPagesLastPage: the last page of a paged end screen ends the
// session, so it must not offer 0 Back.
func TestEndPagesLastPage(t *testing.T) {
	e := newEnv(t, flows.English)
	s := e.dial(other, withLimit(Limit{GSM7: 60, UCS2: 26}))
	s.begin()
	s.send("2")
	s.more()
	if !s.last.End {
		t.Fatalf("the last page of help does not end the session:\n%s", s.last.Text)
	}
	if strings.HasSuffix(s.last.Text, "\n"+en(tBack)) {
		t.Fatalf("an end screen offers 0 Back:\n%s", s.last.Text)
	}
}

// TestBackFromLinkPIN: 0 on the link PIN screen goes back to the account
// number screen, which still names the bank.
func TestBackFromLinkPIN(t *testing.T) {
	e := newEnv(t, flows.English)
	e.registered(me, pin1) // a PIN, no account: linking asks for the PIN
	s := e.dial(me)
	is(t, s.begin(), en(tWelcome), false)
	s.send("1")
	s.send("PGB")
	is(t, s.send(string(acct1)), en(tLinkPIN, "account", "PGB ****0001"), false)
	scr, err := e.event(Request{Kind: Answer, Phone: me, Session: s.r.Session, Bind: s.r.Bind, Trusted: true, Text: "0", At: e.now()})
	if err != nil {
		t.Fatal(err)
	}
	if scr.Text != en(tLinkAccount, "bank", "PGB") {
		t.Fatalf("screen %q, want %q", scr.Text, en(tLinkAccount, "bank", "PGB"))
	}
}

// TestBackFromUnlinkAfterAccountGone: the account being removed went
// away by another channel (the SMS prompt answered); 0 on the PIN screen
// must not fail the step.
func TestBackFromUnlinkAfterAccountGone(t *testing.T) {
	e := moneyEnv(t)
	e.step(func(tx *store.Tx) error { return e.addAccounts(tx, me, "6222020000000002") })
	s := e.dial(me)
	s.begin()
	s.send("5")
	s.send("2")
	s.send("2")
	e.smsFrom(me, "OK "+pin1) // the same prompt, answered by SMS
	if n := len(e.accounts(me)); n != 1 {
		t.Fatalf("%d accounts", n)
	}
	_, err := e.event(Request{Kind: Answer, Phone: me, Session: s.r.Session, Bind: s.r.Bind, Trusted: true, Text: "0", At: e.now()})
	if err != nil {
		t.Fatal(err)
	}
}

// TestTrivialNewPIN: a new PIN too easy to guess, in Change PIN, is
// refused with the reason and asked again, as when setting the first.
func TestTrivialNewPIN(t *testing.T) {
	e := moneyEnv(t)
	s := e.dial(me)
	s.begin()
	s.send("6")
	s.send(pin1)
	s.send("111111")
	scr := s.send("111111")
	if scr.End {
		t.Fatalf("a trivial new PIN ended the session:\n%s", scr.Text)
	}
	if st := s.state(); st != stOldPIN && st != stNewPIN {
		t.Fatalf("state %q after a trivial new PIN", st)
	}
}

// TestFlowRepliesInScreenWords: the flows replies a screen shows quote
// no SMS syntax (OK <PIN>, PIN <new> <new>, Send HELP): a link's, the
// first PIN's, a PIN too easy to guess — refused where it is typed, with
// the reason alone — and a locked phone's.
func TestFlowRepliesInScreenWords(t *testing.T) {
	for _, lang := range []flows.Lang{flows.English, flows.Chinese} {
		t.Run(string(lang), func(t *testing.T) {
			e := newEnv(t, lang)
			screen := func(key textKey, kv ...string) string { return render(lang, key, kv...) }
			check := func(scr Screen) {
				t.Helper()
				if m := smsSyntax.FindString(scr.Text); m != "" {
					t.Fatalf("the screen quotes %q:\n%s", m, scr.Text)
				}
			}
			s := e.dial(me)
			s.begin()
			s.send("1")
			s.send("PGB")
			s.send(string(acct1))
			e.bank(bankOK)
			scr := s.send(e.code(me))
			check(scr)
			linked := sayFlow(lang, flows.KeyLinkedSetPIN, flows.Vars{"account": "PGB ****0001", "holder": "L* W**"})
			is(t, scr, note(linked, screen(tSetPIN)), false)
			trivial := sayFlow(lang, flows.ReasonKey(flows.ReasonPINTrivial), nil)
			is(t, s.send("111111"), note(trivial, screen(tSetPIN)), false)
			is(t, s.send("123456"), note(trivial, screen(tSetPIN)), false)
			s.send(pin1)
			scr = s.send(pin1)
			check(scr)
			has(t, scr, sayFlow(lang, flows.KeyPINSet, nil), screen(tMain)[:10])

			s.send("6")
			s.send(pin1)
			is(t, s.send("111111"), note(trivial, screen(tNewPIN)), false)
			s.send("0")
			s.send("0")

			// Three wrong PINs lock the phone; the next try is told
			// until when, and nothing about SMS commands.
			s.send("3")
			for i := 0; i < 3; i++ {
				check(s.send("000000"))
			}
			s = e.dial(me)
			s.begin()
			scr = s.send("3")
			check(scr)
			if !scr.End {
				t.Fatalf("a locked phone's balance goes on:\n%s", scr.Text)
			}
		})
	}
}

// TestRunMalformedCommand: a command the menus built that flows' grammar
// refuses (the menus' checks let it through) is answered with what was
// wrong alone — flows' reply would add the SMS form of the command — and
// reaches no flow.
func TestRunMalformedCommand(t *testing.T) {
	e := moneyEnv(t)
	for _, tt := range []struct {
		cmd  string
		want flows.Key
	}{
		{"SEND 12 500", flows.ReasonKey(flows.ReasonPhone)},
		{"PAY !! 5", flows.ReasonKey(flows.ReasonMerchant)},
		{"SEND 13900139000 0", flows.ReasonKey(flows.ReasonAmountZero)},
		{"PIN 1 2", flows.ReasonKey(flows.ReasonPINFormat)},
	} {
		var got []flows.OutSMS
		e.step(func(tx *store.Tx) error {
			s := Session{Phone: me, ID: "x", Lang: flows.English, Trusted: true}
			d := &dlg{e: e.u, ctx: ctx, tx: tx, r: Request{Phone: me, At: e.now()}, s: &s}
			got = d.run(tt.cmd)
			if len(got) == 1 {
				if text := d.say(got[0]); smsSyntax.MatchString(text) || text != flows.Text(flows.English, tt.want, d.e.vars) {
					t.Errorf("%q: the screen says %q", tt.cmd, text)
				}
			}
			return nil
		})
		if len(got) != 1 || got[0].Key != tt.want {
			t.Errorf("%q: answers %+v, want one %s", tt.cmd, got, tt.want)
		}
	}
	if ts := e.transfers(me); len(ts) != 0 {
		t.Fatalf("a malformed command made transfers %+v", ts)
	}
}
