package flows

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

const (
	payee      MSISDN        = "+8613900139000"
	payeeAcct  AccountNumber = "6222020000000002"
	shopPhone  MSISDN        = "+8613700137000"
	shopAcct   AccountNumber = "6222020000009001"
	moneyLimit               = 5000000
)

// newMoneyUser is a user with acct1 linked and pin1 set, a payee with an
// account, a merchant SHOP and a disabled merchant OLD.
func newMoneyUser(t *testing.T) *user {
	u := &user{t: t, tx: newFakeTx(), now: t0}
	u.e = newTestEngine(t, EngineConfig{
		DefaultLang: English, Currency: "CNY",
		Limits:  Limits{PerTransfer: moneyLimit, PerDay: 2 * moneyLimit},
		SendFee: Fee{Flat: 100}, PayFee: Fee{Percent: 0.5},
	})
	u.linked()
	u.tx.accounts[payee] = []Account{{ID: 900, Bank: "PGB", Number: payeeAcct, Holder: "W*** F***", Default: true}}
	u.tx.merchants["SHOP"] = Merchant{Code: "SHOP", Name: "Demo Shop", Account: AccountRef{"PGB", shopAcct}, Phone: shopPhone}
	u.tx.merchants["OLD"] = Merchant{Code: "OLD", Name: "Old Shop", Account: AccountRef{"PGB", shopAcct}, Disabled: true}
	return u
}

// pending returns the phone's one pending transfer row.
func (u *user) pendingTransfer() Transfer {
	u.t.Helper()
	p := u.sub().Pending
	if p == nil {
		u.t.Fatal("no pending prompt")
	}
	t, ok := u.tx.transfers[p.ID]
	if !ok {
		u.t.Fatalf("no transfer %s", p.ID)
	}
	return t
}

func (u *user) state(id string, want TransferState) {
	u.t.Helper()
	if got := u.tx.transfers[id].State; got != want {
		u.t.Fatalf("transfer state %s, want %s", got, want)
	}
}

// codeFor answers OK <PIN> and returns the code texted.
func (u *user) codeFor() string {
	u.t.Helper()
	before := len(u.tx.sent)
	r := u.sms("OK " + pin1)
	if len(r) != 1 || !u.tx.sent[before].Sensitive {
		u.t.Fatalf("OK: %q, want one code SMS", r)
	}
	code := codeRE.FindString(r[0])
	if code == "" {
		u.t.Fatalf("no code in %q", r[0])
	}
	return code
}

func TestSendCompletesWithBothReceipts(t *testing.T) {
	u := newMoneyUser(t)
	u.is(u.one("SEND 13900139000 500"), KeySendConfirm, "amount", "500.00", "currency", "CNY",
		"payee", "W*** F***", "phone", "+86139****9000", "fee", "1.00", "ref", u.pendingTransfer().Ref)
	tr := u.pendingTransfer()
	if tr.State != TransferPendingPIN || tr.Amount != 50000 || tr.Fee != 100 || tr.Payee != string(payee) ||
		tr.Debit != (AccountRef{"PGB", acct1}) || tr.Credit != (AccountRef{"PGB", payeeAcct}) || !ValidTransferRef(tr.Ref) {
		t.Fatalf("transfer %+v", tr)
	}
	code := u.codeFor()
	if sms := u.tx.sent[len(u.tx.sent)-1].Text; !strings.Contains(sms, "500.00 CNY to W*** F***, ref "+tr.Ref) {
		t.Fatalf("code SMS does not name amount, payee and ref: %q", sms)
	}
	u.state(tr.ID, TransferPendingCode)
	u.is(u.one(code), KeyAuthorized, "amount", "500.00", "currency", "CNY", "payee", "W*** F***", "ref", tr.Ref)
	u.state(tr.ID, TransferAuthorized)
	if u.sub().Pending != nil {
		t.Fatal("prompt left after authorization")
	}
	req := u.tx.bank[len(u.tx.bank)-1]
	if req.Kind != BankTransfer || req.ID != tr.ID || req.Reference != tr.Ref || req.Amount != 50000 || req.Fee != 100 ||
		req.Account != acct1 || req.Credit.Number != payeeAcct || !req.Expires.IsZero() {
		t.Fatalf("bank request %+v", req)
	}
	// The same code again: the status, no failure, no second request.
	queued := len(u.tx.bank)
	if r := u.one(code); !strings.Contains(r, tr.Ref) || u.sub().Lock.Failures != 0 || len(u.tx.bank) != queued {
		t.Fatalf("replayed code: %q, lock %+v", r, u.sub().Lock)
	}
	u.now = u.now.Add(time.Second)
	u.tx.bank = u.tx.bank[len(u.tx.bank)-1:]
	out := u.bank(BankResult{Status: TransferCompleted, BankRef: "B42"})
	if len(out) != 2 || out[0].To != phone || out[1].To != payee {
		t.Fatalf("receipts %+v", out)
	}
	u.is(out[0].Text, KeyReceiptPayer, "amount", "500.00", "currency", "CNY", "payee", "W*** F***", "phone", "+86139****9000",
		"fee", "1.00", "ref", tr.Ref, "time", "2026-11-21 09:30 UTC", "bankref", "B42")
	u.is(out[1].Text, KeyReceiptPayee, "amount", "500.00", "currency", "CNY", "payee", "Z**** S**", "phone", "+86138****8000",
		"ref", tr.Ref, "time", "2026-11-21 09:30 UTC")
	u.state(tr.ID, TransferCompleted)
	if got := u.tx.transfers[tr.ID].BankRef; got != "B42" {
		t.Fatalf("bank ref %q", got)
	}
	// The outbox may deliver an answer twice: nothing more happens.
	before := len(u.tx.sent)
	if err := u.e.HandleBankResult(context.Background(), u.tx, BankResult{ID: tr.ID, Phone: phone, Kind: BankTransfer, Status: TransferCompleted}, u.now); err != nil || len(u.tx.sent) != before {
		t.Fatalf("second answer: %v, %d SMS", err, len(u.tx.sent)-before)
	}
	// STATUS from the payer and the payee; not from a stranger.
	u.is(u.one("STATUS "+strings.ToLower(tr.Ref)), KeyStatus, "ref", tr.Ref, "amount", "500.00", "currency", "CNY",
		"payee", "W*** F***", "state", Text(English, KeyStateCompleted, Vars{"bankref": "B42"}))
	for _, from := range []MSISDN{payee, "+8613600136000"} {
		in := inbound("STATUS "+tr.Ref, true)
		in.From, in.At = from, u.now
		r := run(t, u.e, u.tx, in)
		if found := !strings.Contains(r[0].Text, Text(English, KeyStatusNotFound, nil)); found != (from == payee) {
			t.Fatalf("STATUS from %s: %q", from, r[0].Text)
		}
	}
	u.is(u.one("STATUS ABCDEFGH"), KeyStatusNotFound)
}

func TestPayMerchant(t *testing.T) {
	u := newMoneyUser(t)
	u.is(u.one("PAY NOSUCH 10"), KeyPayNoMerchant)
	u.is(u.one("PAY old 10"), KeyPayDisabled, "merchant", "OLD")
	r := u.one("PAY shop 200 INV-7")
	tr := u.pendingTransfer()
	u.is(r, KeyPayConfirm, "amount", "200.00", "currency", "CNY", "payee", "Demo Shop", "merchant", "SHOP", "fee", "1.00", "ref", tr.Ref)
	if tr.Narrative != "INV-7" || tr.PayeePhone != shopPhone || tr.Credit.Number != shopAcct {
		t.Fatalf("transfer %+v", tr)
	}
	code := u.codeFor()
	u.one(code)
	out := u.bank(BankResult{Status: TransferCompleted, BankRef: "B1"})
	if len(out) != 2 || out[1].To != shopPhone || out[1].Bind != "" || !strings.HasPrefix(out[1].Text, "Payment received: 200.00 CNY from Z**** S**") {
		t.Fatalf("receipts %+v", out)
	}
}

func TestTransferRejectedInPlainWords(t *testing.T) {
	for _, c := range []struct {
		r      BankResult
		reason Key
	}{
		{BankResult{Status: TransferRejected, Reason: "insufficient_funds"}, KeyReasonFunds},
		{BankResult{Status: TransferRejected, Reason: "account_closed"}, KeyReasonAccount},
		{BankResult{Failed: true}, KeyReasonBank},
	} {
		u := newMoneyUser(t)
		u.one("SEND 13900139000 500")
		tr := u.pendingTransfer()
		u.one(u.codeFor())
		out := u.bank(c.r)
		if len(out) != 1 || out[0].To != phone {
			t.Fatalf("%+v: %+v", c.r, out)
		}
		u.is(out[0].Text, KeyRejected, "amount", "500.00", "currency", "CNY", "payee", "W*** F***", "ref", tr.Ref,
			"reason", Text(English, c.reason, nil))
		u.state(tr.ID, TransferRejected)
	}
}

func TestTransferUnknownThenResolved(t *testing.T) {
	u := newMoneyUser(t)
	u.one("SEND 13900139000 500")
	tr := u.pendingTransfer()
	u.one(u.codeFor())
	req := u.tx.bank[len(u.tx.bank)-1]
	for range 2 { // told unknown twice: one move
		if err := u.e.HandleBankResult(context.Background(), u.tx, BankResult{ID: req.ID, Phone: phone, Kind: BankTransfer, Status: TransferUnknown}, u.now); err != nil {
			t.Fatal(err)
		}
	}
	u.state(tr.ID, TransferUnknown)
	u.is(u.one("STATUS "+tr.Ref), KeyStatus, "ref", tr.Ref, "amount", "500.00", "currency", "CNY", "payee", "W*** F***",
		"state", Text(English, KeyStateInFlight, nil))
	u.tx.bank = u.tx.bank[len(u.tx.bank)-1:]
	if out := u.bank(BankResult{Status: TransferCompleted, BankRef: "B9"}); len(out) != 2 {
		t.Fatalf("receipts %+v", out)
	}
	u.state(tr.ID, TransferCompleted)
}

func TestTransferLimits(t *testing.T) {
	u := newMoneyUser(t)
	u.is(u.one("SEND 13900139000 50000.01"), KeyLimitTransfer, "amount", "50000.01", "limit", "50000.00", "currency", "CNY")
	for range 2 {
		u.one("SEND 13900139000 50000")
		u.one(u.codeFor())
	}
	u.is(u.one("SEND 13900139000 0.01"), KeyLimitDay, "limit", "100000.00", "left", "0.00", "currency", "CNY")
	// A rejected transfer gives its share back; the next local day
	// starts again.
	u.bank(BankResult{Status: TransferRejected, Reason: "insufficient_funds"})
	u.is(u.one("SEND 13900139000 50000.01"), KeyLimitTransfer, "amount", "50000.01", "limit", "50000.00", "currency", "CNY")
	if r := u.one("SEND 13900139000 50000"); !strings.HasPrefix(r, "Send 50000.00") {
		t.Fatalf("after a rejection: %q", r)
	}
	u.one(u.codeFor())
	u.bank(BankResult{Status: TransferCompleted})
	u.is(u.one("SEND 13900139000 1"), KeyLimitDay, "limit", "100000.00", "left", "0.00", "currency", "CNY")
	u.now = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	if r := u.one("SEND 13900139000 1"); !strings.HasPrefix(r, "Send 1.00") {
		t.Fatalf("next day: %q", r)
	}
}

func TestSendRefusals(t *testing.T) {
	u := newMoneyUser(t)
	u.is(u.one("SEND 13800138000 5"), KeySendSelf)
	u.is(u.one("SEND 13600136000 5"), KeySendNoPayee, "phone", "+86136****6000")
	if len(u.tx.transfers) != 0 {
		t.Fatalf("refusals made transfers: %v", u.tx.transfers)
	}
	// No PIN yet, stopped, no account.
	v := newMoneyUser(t)
	v.one("STOP")
	v.is(v.one("SEND 13900139000 5"), KeyStoppedRefused)
	w := &user{t: t, e: u.e, tx: newFakeTx(), now: t0}
	w.is(w.one("PAY SHOP 5"), KeyAccountNone)
}

// Every way a prompt ends ends its transfer: CANCEL, a new command,
// STOP, expiry (timer or late answer), a lock.
func TestPendingTransferEnds(t *testing.T) {
	u := newMoneyUser(t)
	u.one("SEND 13900139000 5")
	first := u.pendingTransfer()
	u.is(u.one("CANCEL"), KeyCancelled, "what", "SEND of 5.00 CNY to W*** F*** (ref "+first.Ref+")")
	u.state(first.ID, TransferCancelled)

	u.one("SEND 13900139000 6")
	second := u.pendingTransfer()
	if r := u.one("PAY SHOP 7"); !strings.HasPrefix(r, "Your pending SEND of 6.00 CNY to W*** F*** (ref "+second.Ref+") was cancelled. Pay 7.00") {
		t.Fatalf("replaced: %q", r)
	}
	u.state(second.ID, TransferCancelled)
	third := u.pendingTransfer()
	u.one("STOP")
	u.state(third.ID, TransferCancelled)

	v := newMoneyUser(t)
	v.one("SEND 13900139000 8")
	timed := v.pendingTransfer()
	v.codeFor()
	// The timer: not before the code's time is up.
	if err := v.e.ExpireTransfer(context.Background(), v.tx, timed.ID, v.now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	v.state(timed.ID, TransferPendingCode)
	v.now = v.tx.transfers[timed.ID].Expires.Add(time.Second)
	before := len(v.tx.sent)
	if err := v.e.ExpireTransfer(context.Background(), v.tx, timed.ID, v.now); err != nil {
		t.Fatal(err)
	}
	v.state(timed.ID, TransferExpired)
	if n := len(v.tx.sent) - before; n != 1 || !strings.Contains(v.tx.sent[before].Text, "expired") {
		t.Fatalf("expiry notice: %d SMS", n)
	}
	if v.sub().Pending != nil {
		t.Fatal("expired prompt kept")
	}
	// A late answer without the timer: expired too.
	v.one("SEND 13900139000 9")
	late := v.pendingTransfer()
	v.now = v.now.Add(PendingTTL + time.Second)
	v.is(v.one("OK "+pin1), KeyExpired, "what", "SEND of 9.00 CNY to W*** F*** (ref "+late.Ref+")")
	v.state(late.ID, TransferExpired)

	// Three wrong PINs lock the phone and end the transfer.
	w := newMoneyUser(t)
	w.one("SEND 13900139000 10")
	locked := w.pendingTransfer()
	for range 3 {
		w.one("OK " + pin2)
	}
	w.state(locked.ID, TransferCancelled)
}

// S2 for transfers: a code works only for its own transfer, as stored.
func TestTransferCodeBinding(t *testing.T) {
	u := newMoneyUser(t)
	u.one("SEND 13900139000 500")
	first := u.pendingTransfer()
	code1 := u.codeFor()
	u.one("SEND 13900139000 600") // replaces it
	second := u.pendingTransfer()
	code2 := u.codeFor()
	if code1 == code2 {
		t.Skip("the two random codes collided")
	}
	u.is(u.one(code1), KeyAuthFailed)
	u.state(first.ID, TransferCancelled)
	u.state(second.ID, TransferPendingCode)
	// The stored amount changed under the prompt: the code no longer
	// fits (what the user confirmed is not what would be sent).
	tampered := u.tx.transfers[second.ID]
	tampered.Amount++
	u.tx.transfers[second.ID] = tampered
	u.is(u.one(code2), KeyAuthFailed)
	u.state(second.ID, TransferPendingCode)
	tampered.Amount--
	u.tx.transfers[second.ID] = tampered
	u.is(u.one(code2), KeyAuthorized, "amount", "600.00", "currency", "CNY", "payee", "W*** F***", "ref", second.Ref)
	if n := len(u.tx.bank); n != 1 {
		t.Fatalf("%d bank requests", n)
	}
}

func TestBalanceAndMini(t *testing.T) {
	u := newMoneyUser(t)
	u.is(u.one("BAL"), KeyBalAskPIN, "account", "PGB ****0001")
	if r := u.sms("OK " + pin1); len(r) != 0 {
		t.Fatalf("OK answered before the bank: %q", r)
	}
	req := u.tx.bank[0]
	if req.Kind != BankBalance || req.Account != acct1 || req.Expires != u.now.Add(bankTTL) {
		t.Fatalf("request %+v", req)
	}
	out := u.bank(BankResult{Available: 123456, Currency: "CNY"})
	u.is(out[0].Text, KeyBalance, "account", "PGB ****0001", "amount", "1234.56", "currency", "CNY", "time", "2026-11-21 09:30 UTC")

	u.is(u.one("MINI"), KeyMiniAskPIN, "account", "PGB ****0001")
	u.sms("OK " + pin1)
	if req := u.tx.bank[0]; req.Kind != BankStatement || req.Limit != MiniEntries {
		t.Fatalf("request %+v", req)
	}
	out = u.bank(BankResult{Entries: []StatementEntry{
		{Time: t0, Amount: -50100, Counterpart: "****0002", Reference: "T7K2QXM4"},
		{Time: t0.Add(-24 * time.Hour), Amount: 100000, Counterpart: "****0009", Reference: "ACDEFGHJ"},
	}})
	if want := "Last transactions of PGB ****0001: 11-21 -501.00 ****0002 ref T7K2QXM4; 11-20 +1000.00 ****0009 ref ACDEFGHJ."; out[0].Text != want {
		t.Fatalf("mini %q\nwant %q", out[0].Text, want)
	}
	u.one("MINI")
	u.sms("OK " + pin1)
	u.is(u.bank(BankResult{Failed: true})[0].Text, KeyBankUnavailable, "what", "mini statement request")
}

func TestReceiptInPayeeLanguage(t *testing.T) {
	u := newMoneyUser(t)
	u.tx.subs[payee] = Subscriber{Phone: payee, Lang: Chinese, Created: t0}
	u.one("SEND 13900139000 5")
	u.one(u.codeFor())
	out := u.bank(BankResult{Status: TransferCompleted, BankRef: "B1"})
	if TextLang(out[0].Text) == Chinese || TextLang(out[1].Text) != Chinese {
		t.Fatalf("receipts %q", []string{out[0].Text, out[1].Text})
	}
}

func TestTransferStateMachine(t *testing.T) {
	all := TransferStates()
	for _, from := range all {
		for _, to := range all {
			tr := Transfer{State: from}
			err := tr.Move(to, t0)
			if ok := err == nil; ok != from.CanMove(to) || (!ok && !errors.Is(err, ErrTransition)) {
				t.Errorf("%s → %s: %v", from, to, err)
			}
			if from.Final() && err == nil {
				t.Errorf("%s is final but moved to %s", from, to)
			}
		}
	}
	seen := map[string]bool{}
	for range 1000 {
		r := NewTransferRef()
		if !ValidTransferRef(r) || seen[r] {
			t.Fatalf("ref %q", r)
		}
		seen[r] = true
	}
	for _, bad := range []string{"", "T7K2QXM", "T7K2QXM40", "O0I1L5S8", "t7k2qxm4"} {
		if ValidTransferRef(bad) {
			t.Errorf("%q valid", bad)
		}
	}
	if f := (Fee{Flat: 100, Percent: 0.5}); f.Of(50000) != 350 || f.Of(1) != 100 || (Fee{Percent: 0.5}).Of(100) != 1 {
		t.Fatalf("fees %d %d", f.Of(50000), f.Of(1))
	}
}

func TestParseReceipt(t *testing.T) {
	u := newMoneyUser(t)
	u.tx.subs[payee] = Subscriber{Phone: payee, Lang: Chinese, Created: t0}
	u.one("PAY SHOP 5")
	u.one(u.codeFor())
	u.one("SEND 13900139000 5")
	tr := u.pendingTransfer()
	u.one(u.codeFor())
	u.tx.bank = u.tx.bank[1:]
	out := u.bank(BankResult{Status: TransferCompleted, BankRef: "B1"})
	for i, want := range []ReceiptSide{ReceiptPayer, ReceiptPayee} {
		if ref, side, ok := ParseReceipt(out[i].Text); !ok || ref != tr.Ref || side != want {
			t.Errorf("%q: %q %v %v", out[i].Text, ref, side, ok)
		}
	}
	for _, s := range u.tx.sent[:len(u.tx.sent)-2] {
		if _, _, ok := ParseReceipt(s.Text); ok {
			t.Errorf("not a receipt: %q", s.Text)
		}
	}
}

// A reply read back by its template gives back what filled it (load
// tools and checkers read the gateway's SMS so).
func TestMatchText(t *testing.T) {
	for _, tc := range []struct {
		key  Key
		vars Vars
		want map[string]string
	}{
		{KeySendConfirm, Vars{"amount": "1.05", "currency": "CNY", "payee": "B*** H***", "phone": "+86139****0001", "fee": "0.00", "ref": "T7K2QXM4"},
			map[string]string{"amount": "1.05", "ref": "T7K2QXM4"}},
		{KeyCodeSend, Vars{"code": "123456", "amount": "1.05", "currency": "CNY", "payee": "B*** H***", "ref": "T7K2QXM4", "time": "2026-11-21 17:03 CST"},
			map[string]string{"code": "123456", "ref": "T7K2QXM4"}},
		{KeyAuthorized, Vars{"amount": "1.05", "currency": "CNY", "payee": "B*** H***", "ref": "T7K2QXM4"},
			map[string]string{"ref": "T7K2QXM4"}},
		{KeyCodeLink, Vars{"code": "654321", "account": "PGB ****0001", "time": "2026-11-21 17:03 CST"},
			map[string]string{"code": "654321"}},
	} {
		t.Run(string(tc.key), func(t *testing.T) {
			text := Text(English, tc.key, tc.vars)
			got, ok := MatchText(English, tc.key, text)
			if !ok {
				t.Fatalf("%q does not match its own template", text)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if _, ok := MatchText(English, tc.key, text+" and more"); ok {
				t.Errorf("a longer text matches")
			}
		})
	}
}
