package flows

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// request runs StartRequest and, for terminal mode, the PIN check and
// ResumeRequest, as the gateway does.
func (u *user) request(nr NewRequest) RequestOutcome {
	u.t.Helper()
	ctx := context.Background()
	nr.At = u.now
	if nr.Merchant == "" {
		nr.Merchant = "SHOP"
	}
	out, work, err := u.e.StartRequest(ctx, u.tx, nr)
	if err != nil {
		u.t.Fatal(err)
	}
	if work == nil {
		return out
	}
	if out.Err != nil {
		u.t.Fatalf("work and a refusal: %+v", out.Err)
	}
	out, err = u.e.ResumeRequest(ctx, u.tx, out.Request.ID, work, u.e.CheckPIN(work), u.now)
	if err != nil {
		u.t.Fatal(err)
	}
	return out
}

func (u *user) postCode(id, code string) RequestOutcome {
	u.t.Helper()
	out, err := u.e.RequestCode(context.Background(), u.tx, "SHOP", id, OTP(code), u.now)
	if err != nil {
		u.t.Fatal(err)
	}
	return out
}

func refused(t *testing.T, out RequestOutcome, code string) {
	t.Helper()
	if out.Err == nil || out.Err.Code != code {
		t.Fatalf("outcome %+v, want refusal %s", out.Err, code)
	}
}

// TestRequestTerminal: PIN at the terminal, the code by SMS bound to the
// request, a wrong code counted and the request kept, the right code
// authorizing, the same code again answering as it stands, and the
// completed request's webhook event carrying the receipt — never an
// account number.
func TestRequestTerminal(t *testing.T) {
	u := newMoneyUser(t)
	before := len(u.tx.sent)
	out := u.request(NewRequest{Phone: phone, Amount: 1250, Reference: "INV-7", Mode: ModeTerminal, PIN: pin1})
	if out.Err != nil || out.Transfer.State != TransferPendingCode || out.Transfer.Mode != ModeTerminal {
		t.Fatalf("outcome %+v %+v", out.Err, out.Transfer)
	}
	sent := u.tx.sent[before:]
	if len(sent) != 1 || !sent[0].Sensitive || !strings.Contains(sent[0].Text, "cashier") {
		t.Fatalf("sent %+v", sent)
	}
	code := codeRE.FindString(sent[0].Text)
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	refused(t, u.postCode(out.Request.ID, wrong), ReqAuthFailed)
	if u.sub().Lock.Failures != 1 || len(u.tx.failures) != 1 {
		t.Fatalf("failures: phone %d, merchant %d", u.sub().Lock.Failures, len(u.tx.failures))
	}
	got := u.postCode(out.Request.ID, code)
	if got.Err != nil || got.Transfer.State != TransferAuthorized || len(u.tx.bank) != 1 {
		t.Fatalf("right code: %+v %s, bank %d", got.Err, got.Transfer.State, len(u.tx.bank))
	}
	if again := u.postCode(out.Request.ID, code); again.Err != nil || again.Transfer.State != TransferAuthorized {
		t.Fatalf("code again: %+v %s", again.Err, again.Transfer.State)
	}
	if u.sub().Lock.Failures != 0 {
		t.Fatalf("failures after the right code: %d", u.sub().Lock.Failures)
	}
	if len(u.tx.webhooks) != 0 {
		t.Fatalf("webhook before a final state: %+v", u.tx.webhooks)
	}
	u.bank(BankResult{Status: TransferCompleted, BankRef: "B-1"})
	if len(u.tx.webhooks) != 1 {
		t.Fatalf("webhooks %d, want 1", len(u.tx.webhooks))
	}
	ev := u.tx.webhooks[0]
	var body struct {
		ID   string      `json:"id"`
		Type string      `json:"type"`
		Data RequestView `json:"data"`
	}
	if err := json.Unmarshal(ev.Body, &body); err != nil {
		t.Fatal(err)
	}
	if ev.Event != "payment_request.completed" || body.Type != ev.Event || body.ID != ev.ID || ev.Merchant != "SHOP" ||
		body.Data.Receipt == nil || body.Data.Receipt.BankReference != "B-1" || body.Data.Reference != "INV-7" || body.Data.Phone != phone.Shown() {
		t.Fatalf("event %+v body %s", ev, ev.Body)
	}
	for _, secret := range []string{string(acct1), string(shopAcct), pin1, code, string(phone)} {
		if strings.Contains(string(ev.Body), secret) {
			t.Fatalf("webhook body holds %q: %s", secret, ev.Body)
		}
	}
}

// TestRequestPush: the phone is asked by SMS and a queued USSD push; OK
// <PIN> by SMS works as well as the screen; the code may be posted by
// the terminal; CANCEL by the phone ends the request with its webhook.
func TestRequestPush(t *testing.T) {
	u := newMoneyUser(t)
	out := u.request(NewRequest{Phone: phone, Amount: 700, Mode: ModePush})
	if out.Err != nil || out.Transfer.State != TransferPendingPIN || len(u.tx.pushes) != 1 || u.tx.pushes[0].ID != out.Request.ID {
		t.Fatalf("outcome %+v, pushes %+v", out.Err, u.tx.pushes)
	}
	if !strings.Contains(u.tx.sent[len(u.tx.sent)-1].Text, "asks you to pay 7.00 CNY") {
		t.Fatalf("SMS %q", u.tx.sent[len(u.tx.sent)-1].Text)
	}
	refused(t, u.postCode(out.Request.ID, "123456"), ReqConflict)
	code := u.codeFor()
	if got := u.postCode(out.Request.ID, code); got.Err != nil || got.Transfer.State != TransferAuthorized {
		t.Fatalf("code: %+v %s", got.Err, got.Transfer.State)
	}

	second := u.request(NewRequest{Phone: phone, Amount: 300, Mode: ModePush})
	if second.Err != nil {
		t.Fatal(second.Err)
	}
	u.one("CANCEL")
	u.state(second.Request.ID, TransferCancelled)
	if n := len(u.tx.webhooks); n != 1 || u.tx.webhooks[0].Event != "payment_request.cancelled" {
		t.Fatalf("webhooks %+v", u.tx.webhooks)
	}
}

// TestRequestRefusals: what a merchant may not ask is refused before
// anything is made, and an unknown phone gets no record.
func TestRequestRefusals(t *testing.T) {
	u := newMoneyUser(t)
	stranger := MSISDN("+8613100131000")
	refused(t, u.request(NewRequest{Phone: stranger, Amount: 100, Mode: ModePush}), ReqNotReady)
	if _, ok := u.tx.subs[stranger]; ok {
		t.Fatal("a record was made for an unknown phone")
	}
	refused(t, u.request(NewRequest{Merchant: "OLD", Phone: phone, Amount: 100, Mode: ModePush}), ReqForbidden)
	refused(t, u.request(NewRequest{Merchant: "NONE", Phone: phone, Amount: 100, Mode: ModePush}), ReqForbidden)
	refused(t, u.request(NewRequest{Phone: phone, Amount: moneyLimit + 1, Mode: ModePush}), ReqLimit)
	for i := 0; i < 3; i++ {
		if out := u.request(NewRequest{Phone: phone, Amount: 100, Mode: ModePush}); out.Err != nil {
			t.Fatal(out.Err)
		}
	}
	refused(t, u.request(NewRequest{Phone: phone, Amount: 100, Mode: ModePush}), ReqRateLimited)
	u.now = u.now.Add(time.Hour + time.Second)
	if out := u.request(NewRequest{Phone: phone, Amount: 100, Mode: ModePush}); out.Err != nil {
		t.Fatal(out.Err)
	}
	if len(u.tx.transfers) != 4 {
		t.Fatalf("%d transfers, want 4 (the refused made none)", len(u.tx.transfers))
	}
}

// TestRequestTerminalWrongPINs: wrong PINs at the terminal count against
// the phone (the third locks it, 423 with its end) and the merchant,
// whose terminal mode is suspended once the failures reach the rule
// across enough phones; each wrong PIN ends its request.
func TestRequestTerminalWrongPINs(t *testing.T) {
	u := newMoneyUser(t)
	u.e.cfg.Merchants.TerminalFailures, u.e.cfg.Merchants.TerminalPhones = 3, 1
	for i := 1; i <= 3; i++ {
		out := u.request(NewRequest{Phone: phone, Amount: 100, Mode: ModeTerminal, PIN: "111111"})
		if i < 3 {
			refused(t, out, ReqAuthFailed)
		} else {
			refused(t, out, ReqLocked)
			if !out.Err.Until.Equal(u.sub().Lock.Until) || out.Err.Until.IsZero() {
				t.Fatalf("until %v, lock %v", out.Err.Until, u.sub().Lock.Until)
			}
		}
		if out.Transfer.State != TransferCancelled {
			t.Fatalf("request %d is %s, want cancelled", i, out.Transfer.State)
		}
	}
	if _, ok := u.tx.suspended["SHOP"]; !ok {
		t.Fatal("terminal mode not suspended")
	}
	if u.sub().Pending != nil {
		t.Fatalf("pending %+v", u.sub().Pending)
	}
}

// TestPayWebhook: a PAY the phone started tells the merchant's webhook
// when it completes (SPEC §5.3), with the payer's reference as the note.
func TestPayWebhook(t *testing.T) {
	u := newMoneyUser(t)
	u.one("PAY SHOP 30 TABLE-4")
	u.one(u.codeFor())
	if len(u.tx.webhooks) != 0 {
		t.Fatalf("webhook before completion: %+v", u.tx.webhooks)
	}
	u.bank(BankResult{Status: TransferCompleted, BankRef: "B-9"})
	if len(u.tx.webhooks) != 1 {
		t.Fatalf("webhooks %d, want 1", len(u.tx.webhooks))
	}
	ev := u.tx.webhooks[0]
	b := string(ev.Body)
	if ev.Event != "payment.completed" || ev.Merchant != "SHOP" || !strings.Contains(b, `"note":"TABLE-4"`) ||
		!strings.Contains(b, `"bank_reference":"B-9"`) || strings.Contains(b, string(acct1)) {
		t.Fatalf("event %s: %s", ev.Event, b)
	}
}
