package gateway_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/internal/invariant"
	"github.com/paygate/paygate/store"
)

// Moving money end to end (SPEC §5.2, §5.3, §6): real SMPP to the SMSC
// simulator, the bank simulator over HTTP (§8), the gateway's own
// dispatchers and timers. Li Wei (+8613800138000, PGB …0001, 10,000.00)
// pays Wang Fang (+8613900139000, PGB …0002, 5,000.00) and the merchant
// DEMO (PGB …9001, phone +8613500135000).

const (
	liNum    = "+8613800138000"
	wangNum  = "+8613900139000"
	shopNum  = "+8613500135000"
	liPIN    = "482915"
	wangPIN  = "739104"
	liAcct   = "6222020000000001"
	wangAcct = "6222020000000002"
)

var refRE = regexp.MustCompile(`(?:ref |编号)([A-Z0-9]{8})`)

// linked links account to the phone num and sets pin.
func (w *world) linked(num, account, pin string) *phone {
	w.t.Helper()
	p := w.phone(num)
	code := p.link(account, "")
	mustContain(w.t, p.one(code), "Now set your PIN")
	mustContain(w.t, p.one("PIN "+pin+" "+pin), "Your PIN is set")
	return p
}

// moneyWorld is a world with Li and Wang linked and merchant DEMO.
func moneyWorld(t *testing.T, change ...func(*config.Config)) (w *world, li, wang *phone) {
	t.Helper()
	w = newWorld(t, change...)
	li, wang = w.moneySetup()
	return w, li, wang
}

// moneySetup adds the merchant DEMO and links Li's and Wang's phones.
func (w *world) moneySetup() (li, wang *phone) {
	w.t.Helper()
	if err := w.gw.DB().AddMerchant(context.Background(), flows.Merchant{
		Code: "DEMO", Name: "Demo Shop", Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009001"}, Phone: shopNum, Created: time.Now(),
	}); err != nil {
		w.t.Fatal(err)
	}
	return w.linked(liNum, liAcct, liPIN), w.linked(wangNum, wangAcct, wangPIN)
}

// confirm answers a transfer's prompts: the PIN, then the code. It
// returns the code and the reply to it.
func (p *phone) confirm(pin string) (code, reply string) {
	p.w.t.Helper()
	msg := p.one("OK " + pin)
	code = sixDigits.FindString(msg)
	if code == "" || !strings.Contains(msg, "paygate code") && !strings.Contains(msg, "paygate验证码") {
		p.w.t.Fatalf("no code in %q", msg)
	}
	return code, p.one(code)
}

// transfer is the gateway's transfer with reference ref.
func (w *world) transferByRef(ref string) flows.Transfer {
	w.t.Helper()
	all, err := w.gw.DB().Transfers(context.Background(), store.TransferFilter{})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, t := range all {
		if t.Ref == ref {
			return t
		}
	}
	w.t.Fatalf("no transfer %s", ref)
	return flows.Transfer{}
}

func refOf(t *testing.T, text string) string {
	t.Helper()
	m := refRE.FindAllStringSubmatch(text, -1)
	if m == nil {
		t.Fatalf("no reference in %q", text)
	}
	return m[len(m)-1][1] // a replaced prompt is named first
}

func balance(t *testing.T, b *banksim.Bank, number string) int64 {
	t.Helper()
	a, ok := b.Account("PGB", flows.AccountNumber(number))
	if !ok {
		t.Fatalf("no account %s", number)
	}
	return a.Balance
}

// check settles the world and holds I2–I6 over it.
func (w *world) check(phones ...string) {
	w.t.Helper()
	w.checkTexts(w.sim.ReceivedTexts, phones...)
}

// checkTexts is check with the phones' texts as texts reads them (a
// security module reads its phone's sealed texts).
func (w *world) checkTexts(texts func(phone string) []string, phones ...string) {
	w.t.Helper()
	ctx := context.Background()
	var last []error
	deadline := time.Now().Add(20 * time.Second)
	for {
		all, err := w.gw.DB().Transfers(ctx, store.TransferFilter{})
		if err != nil {
			w.t.Fatal(err)
		}
		var received []invariant.SMS
		for _, p := range phones {
			for _, text := range texts(p) {
				received = append(received, invariant.SMS{To: flows.MSISDN(p), Text: text})
			}
		}
		world := invariant.World{Transfers: all, Received: received, Bank: w.bank, Now: w.clock.now()}
		if last = invariant.Check(world); len(last) == 0 {
			w.t.Log(invariant.Summary(world))
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("invariants: %v", last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSendEndToEnd: SEND with PIN and code; both receipts; the bank moved
// the money once; STATUS from both sides; the code replayed changes
// nothing.
func TestSendEndToEnd(t *testing.T) {
	w, li, wang := moneyWorld(t, func(c *config.Config) { c.Fees.Send = config.Fee{Flat: 100} })
	confirm := li.one("SEND 13900139000 500")
	mustContain(t, confirm, "Send 500.00 CNY to W*** F*** (")
	mustContain(t, confirm, "fee 1.00, ref ")
	ref := refOf(t, confirm)
	code, reply := li.confirm(liPIN)
	mustContain(t, reply, "Confirmed: 500.00 CNY to W*** F***, ref "+ref)
	paid := li.expect(1)[0]
	mustContain(t, paid, "Paid 500.00 CNY to W*** F*** (")
	mustContain(t, paid, "fee 1.00, ref "+ref)
	mustContain(t, wang.expect(1)[0], "Received 500.00 CNY from L* W** (")
	tr := w.transferByRef(ref)
	if tr.State != flows.TransferCompleted || tr.BankRef == "" || !strings.Contains(paid, tr.BankRef) {
		t.Fatalf("transfer %+v", tr)
	}
	if li, wang := balance(t, w.bank, liAcct), balance(t, w.bank, wangAcct); li != 1_000_000-50_100 || wang != 500_000+50_000 {
		t.Fatalf("balances %d %d", li, wang)
	}
	mustContain(t, li.one("STATUS "+ref), "paid. Bank ref "+tr.BankRef)
	mustContain(t, wang.one("STATUS "+strings.ToLower(ref)), "Ref "+ref)
	mustContain(t, w.phone("+8613700137000").one("STATUS "+ref), "We found no transfer")
	// S3: the code MO replayed, and the SEND too: no second debit.
	for range 5 {
		mustContain(t, li.one(code), "Ref "+ref+", 500.00 CNY to W*** F***: paid.")
	}
	w.check(liNum, wangNum, shopNum)
	if n := len(w.bank.Postings(tr.ID)); n != 3 { // debit, credit, fee
		t.Fatalf("%d postings", n)
	}
}

// TestPayMerchantChinese: PAY in Chinese; the merchant's phone gets its
// receipt; the statement and balance show it.
func TestPayMerchantChinese(t *testing.T) {
	w, li, _ := moneyWorld(t)
	mustContain(t, li.one("LANG ZH"), "中文")
	confirm := li.one("付款 demo 25.5 桌号7")
	mustContain(t, confirm, "向Demo Shop（DEMO）付款25.50CNY")
	ref := refOf(t, confirm)
	_, reply := li.confirm(liPIN)
	mustContain(t, reply, "已确认")
	mustContain(t, li.expect(1)[0], "已付款25.50CNY给Demo Shop")
	mustContain(t, w.phone(shopNum).expect(1)[0], "Payment received: 25.50 CNY from L* W**")
	mustContain(t, li.one("余额"), "查询PGB ****0001余额")
	mustContain(t, li.one("确认 "+liPIN), "可用余额：9974.50CNY")
	mustContain(t, li.one("明细"), "最近5笔交易")
	mustContain(t, li.one("确认 "+liPIN), "-25.50 ****9001 编号"+ref)
	w.check(liNum, wangNum, shopNum)
}

// Refusals and failures: limits, insufficient funds, a closed account,
// no such payee or merchant.
func TestTransferRefusedAndRejected(t *testing.T) {
	w, li, wang := moneyWorld(t, func(c *config.Config) {
		c.Limits = config.Limits{PerTransfer: 2_000_000, PerDay: 2_500_000}
	})
	mustContain(t, li.one("SEND 13900139000 20000.01"), "over the limit of 20000.00 CNY per transfer")
	mustContain(t, li.one("SEND 13700137000 5"), "has no bank account linked")
	mustContain(t, li.one("PAY NOPE 5"), "There is no merchant with that code")
	mustContain(t, li.one("SEND 13800138000 5"), "your own phone")
	// Wang has 5,000.00: 6,000.00 is refused by the bank.
	ref := refOf(t, wang.one("SEND 13800138000 6000"))
	wang.confirm(wangPIN)
	mustContain(t, wang.expect(1)[0], "Not paid: 6000.00 CNY to L* W**, ref "+ref+". There is not enough money in your account.")
	li.quiet()
	mustContain(t, wang.one("STATUS "+ref), "not paid. There is not enough money")
	// The daily limit: 20,000 then 5,000.01 more is refused; a
	// rejection gave back nothing it had not used.
	li.one("SEND 13900139000 20000")
	li.confirm(liPIN)
	mustContain(t, li.expect(1)[0], "Not paid") // Li has 10,000.00
	li.one("SEND 13900139000 9000")
	li.confirm(liPIN)
	mustContain(t, li.expect(1)[0], "Paid 9000.00")
	wang.expect(1)
	mustContain(t, li.one("SEND 13900139000 16000.01"), "over your daily limit of 25000.00 CNY: 16000.00 CNY left today")
	w.check(liNum, wangNum, shopNum)
}

// Expiry by the timer (nobody writes again), CANCEL, a replacing command,
// RESEND (S2: the old code dies, a code for another transfer fails).
func TestTransferPromptsEnd(t *testing.T) {
	w, li, wang := moneyWorld(t)
	ref := refOf(t, li.one("SEND 13900139000 1"))
	w.clock.add(flows.PendingTTL + time.Second)
	mustContain(t, li.expect(1)[0], "Your SEND of 1.00 CNY to W*** F*** (ref "+ref+") expired after 5 minutes")
	if st := w.transferByRef(ref).State; st != flows.TransferExpired {
		t.Fatalf("state %s", st)
	}
	ref = refOf(t, li.one("SEND 13900139000 2"))
	mustContain(t, li.one("CANCEL"), "Cancelled: SEND of 2.00 CNY")
	if st := w.transferByRef(ref).State; st != flows.TransferCancelled {
		t.Fatalf("state %s", st)
	}
	// A code for one transfer, then the transfer replaced: the old
	// code fails for the new one, whose amount differs.
	li.one("SEND 13900139000 3")
	old := sixDigits.FindString(li.one("OK " + liPIN))
	ref = refOf(t, li.one("SEND 13900139000 4"))
	msg := li.one("OK " + liPIN)
	mustContain(t, msg, "ref "+ref)
	first := sixDigits.FindString(msg)
	mustContain(t, li.one(old), "Wrong PIN or code")
	// RESEND: the first code dies, the second works.
	again := li.one("RESEND")
	mustContain(t, again, "ref "+ref)
	if first != sixDigits.FindString(again) {
		mustContain(t, li.one(first), "Wrong PIN or code")
	}
	mustContain(t, li.one(sixDigits.FindString(again)), "Confirmed: 4.00 CNY")
	mustContain(t, li.expect(1)[0], "Paid 4.00 CNY")
	mustContain(t, wang.expect(1)[0], "Received 4.00 CNY")
	w.check(liNum, wangNum, shopNum)
}

// R13 end to end: the bank commits transfers and then times out, drops
// the connection or errs; every transfer completes once, with receipts.
func TestBankCommitsThenFails(t *testing.T) {
	w, li, wang := moneyWorld(t)
	for _, f := range []banksim.Fault{banksim.FaultDropAfter, banksim.FaultErrorAfter, banksim.FaultDuplicate, banksim.FaultErrorBefore} {
		if err := w.bank.Faults().Script(banksim.RouteTransfer, f, f); err != nil {
			t.Fatal(err)
		}
		ref := refOf(t, li.one("SEND 13900139000 10"))
		li.confirm(liPIN)
		mustContain(t, li.expect(1)[0], "Paid 10.00 CNY to W*** F***")
		mustContain(t, wang.expect(1)[0], "ref "+ref)
	}
	w.check(liNum, wangNum, shopNum)
}

// With the shipped ten-minute dedupe window, a user who pays twice in a
// row sends "OK <PIN>" twice and is answered twice; the SMSC's exact
// duplicates and redeliveries of every MO (R5) make no second anything.
func TestTwoPaymentsInsideTheDedupeWindow(t *testing.T) {
	w, li, wang := moneyWorld(t, func(c *config.Config) { c.DedupeWindow = 10 * time.Minute })
	// A person answers after the SMSC is done redelivering what it
	// lost the acks of (seconds, not the test's 100 ms); a redelivery
	// that comes after the phone moved on is a new message (see
	// store.Tx.RecordInbound).
	settled := func() {
		for w.sim.Pending() > 0 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	for i := range 4 {
		// Exact duplicates first, then lost acknowledgements (a
		// duplicate whose ack is lost is redelivered after the
		// simulator counts it delivered: no way to wait for it).
		if i < 2 {
			w.sim.Faults().SetDuplicates(0.5)
		} else {
			w.sim.Faults().SetDuplicates(0)
			w.sim.Faults().SetLoseAcks(0.3)
		}
		ref := refOf(t, li.one("SEND 13900139000 7"))
		settled()
		msg := li.one("OK " + liPIN)
		settled()
		if r := li.one(sixDigits.FindString(msg)); !strings.Contains(r, "Confirmed") {
			t.Fatalf("%q\nli got %q", r, w.sim.ReceivedTexts(liNum))
		}
		settled()
		mustContain(t, li.expect(1)[0], "fee 0.00, ref "+ref)
		mustContain(t, wang.expect(1)[0], "ref "+ref)
	}
	li.quiet()
	w.check(liNum, wangNum, shopNum)
	if got := balance(t, w.bank, wangAcct); got != 500_000+4*700 {
		t.Fatalf("Wang has %d", got)
	}
}
