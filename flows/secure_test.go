package flows

import (
	"context"
	"strings"
	"testing"
	"time"
)

// Tests of the secure channel as flows see it (SPEC §9): the envelope
// policy, the device's trust, enrolment, trust notices and refused
// envelopes.

const (
	devID    = "0123456789abcdef"
	otherDev = "fedcba9876543210"
)

func TestParseEnvelopePolicy(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   EnvelopePolicy
		string string
	}{
		{"", EnvelopePolicy{Mode: EnvelopesOptional}, "optional"},
		{"optional", EnvelopePolicy{Mode: EnvelopesOptional}, "optional"},
		{"  optional ", EnvelopePolicy{Mode: EnvelopesOptional}, "optional"},
		{"required", EnvelopePolicy{Mode: EnvelopesRequired}, "required"},
		{" required\n", EnvelopePolicy{Mode: EnvelopesRequired}, "required"},
		{"above:500", EnvelopePolicy{Mode: EnvelopesAbove, Above: 50000}, "above:500.00"},
		{"above:500.00", EnvelopePolicy{Mode: EnvelopesAbove, Above: 50000}, "above:500.00"},
		{"above:0.01", EnvelopePolicy{Mode: EnvelopesAbove, Above: 1}, "above:0.01"},
		{"above:1,000.5", EnvelopePolicy{Mode: EnvelopesAbove, Above: 100050}, "above:1000.50"},
	} {
		got, err := ParseEnvelopePolicy(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseEnvelopePolicy(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if s := got.String(); s != tc.string {
			t.Errorf("ParseEnvelopePolicy(%q).String() = %q, want %q", tc.in, s, tc.string)
		}
		if again, err := ParseEnvelopePolicy(got.String()); err != nil || again != got {
			t.Errorf("%q does not read back: %+v, %v", got.String(), again, err)
		}
	}
	for _, bad := range []string{
		"above:", "above:0", "above:-5", "above:5.005", "above:abc", "above:500 CNY",
		"above 500", "above", "above500", "sometimes", "requires", "optional:1", ":500",
	} {
		if p, err := ParseEnvelopePolicy(bad); err == nil {
			t.Errorf("ParseEnvelopePolicy(%q) = %+v, want an error", bad, p)
		} else if !strings.Contains(err.Error(), "secure.envelopes") {
			t.Errorf("ParseEnvelopePolicy(%q): error %q does not name the setting", bad, err)
		}
	}
	if s := (EnvelopePolicy{}).String(); s != "optional" {
		t.Errorf("zero policy prints %q, want optional", s)
	}
}

func TestEnvelopePolicyRequires(t *testing.T) {
	above500 := EnvelopePolicy{Mode: EnvelopesAbove, Above: 50000}
	for _, tc := range []struct {
		p    EnvelopePolicy
		a    Amount
		want bool
	}{
		{EnvelopePolicy{}, 1, false},
		{EnvelopePolicy{}, 1 << 60, false},
		{EnvelopePolicy{Mode: EnvelopesOptional}, 99999999, false},
		{EnvelopePolicy{Mode: EnvelopesRequired}, 1, true},
		{EnvelopePolicy{Mode: EnvelopesRequired}, 99999999, true},
		{above500, 1, false},
		{above500, 49999, false},
		{above500, 50000, false}, // strictly above
		{above500, 50001, true},
		{above500, 1 << 60, true},
	} {
		if got := tc.p.Requires(tc.a); got != tc.want {
			t.Errorf("%s.Requires(%s) = %v, want %v", tc.p, tc.a, got, tc.want)
		}
	}
}

// newSecureUser is newMoneyUser whose engine has the envelope policy
// policy and whose phone has a device of trust tr (none when tr is "").
func newSecureUser(t *testing.T, policy string, tr Trust) *user {
	t.Helper()
	u := newMoneyUser(t)
	p, err := ParseEnvelopePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	u.e.cfg.Envelopes = p // the engine is this user's own
	if tr != "" {
		s := u.tx.subs[phone]
		s.Device = &Device{ID: devID, Trust: tr}
		u.tx.subs[phone] = s
	}
	return u
}

// sealedSMS sends text as a module's sealed command and returns the
// replies' texts.
func (u *user) sealedSMS(text string) []string {
	u.t.Helper()
	in := inbound(text, true)
	in.At, in.Sealed = u.now, true
	var texts []string
	for _, o := range run(u.t, u.e, u.tx, in) {
		texts = append(texts, o.Text)
	}
	return texts
}

func (u *user) sealedOne(text string) string {
	u.t.Helper()
	r := u.sealedSMS(text)
	if len(r) != 1 {
		u.t.Fatalf("sealed %q: %d replies %q, want 1", Redact(text), len(r), r)
	}
	return r[0]
}

// noTransfer fails unless the phone has no prompt and no transfer was
// made.
func (u *user) noTransfer() {
	u.t.Helper()
	if len(u.tx.transfers) != 0 || u.sub().Pending != nil {
		u.t.Fatalf("transfers %v, prompt %+v; want none", u.tx.transfers, u.sub().Pending)
	}
}

func TestSecureRequiredRefusesPlainPayments(t *testing.T) {
	u := newSecureUser(t, "required", TrustGood)
	u.is(u.one("SEND 13900139000 500"), KeySecureRequired)
	u.noTransfer()
	u.is(u.one("PAY SHOP 1"), KeySecureRequired)
	u.noTransfer()
	if len(u.tx.bank) != 0 || u.sub().Lock.Failures != 0 {
		t.Fatalf("a refusal reached the bank or counted: %v, %+v", u.tx.bank, u.sub().Lock)
	}
	// Balance and help are no payments.
	u.is(u.one("BAL"), KeyBalAskPIN, "account", "PGB ****0001")
	u.is(u.one("HELP"), KeyHelp)
	u.one("CANCEL")

	// Sealed, the same SEND goes through to the end.
	r := u.sealedOne("SEND 13900139000 500")
	tr := u.pendingTransfer()
	u.is(r, KeySendConfirm, "amount", "500.00", "currency", "CNY", "payee", "W*** F***", "phone", "+86139****9000",
		"fee", "1.00", "ref", tr.Ref)
	before := len(u.tx.sent)
	codes := u.sealedSMS("OK " + pin1)
	if len(codes) != 1 || !u.tx.sent[before].Sensitive {
		t.Fatalf("sealed OK: %q, want one code SMS", codes)
	}
	u.is(u.sealedOne(codeRE.FindString(codes[0])), KeyAuthorized, "amount", "500.00", "currency", "CNY", "payee", "W*** F***", "ref", tr.Ref)
	u.state(tr.ID, TransferAuthorized)

	// A sealed PAY too.
	r = u.sealedOne("PAY SHOP 200")
	if !strings.HasPrefix(r, "Pay 200.00") {
		t.Fatalf("sealed PAY: %q", r)
	}
}

// A plaintext answer to a sealed payment's prompt is refused where
// envelopes are required: the PIN and the code must come sealed too.
func TestSecureRequiredRefusesPlainAnswers(t *testing.T) {
	u := newSecureUser(t, "required", TrustGood)
	u.sealedOne("SEND 13900139000 500")
	tr := u.pendingTransfer()
	u.is(u.one("OK "+pin1), KeySecureRequired)
	u.state(tr.ID, TransferPendingPIN)
	if p := u.sub().Pending; p == nil || p.ID != tr.ID || p.Stage != StagePIN {
		t.Fatalf("the prompt after a refused plain OK: %+v", p)
	}
	if l := u.sub().Lock; l.Failures != 0 || l.Pending != 0 {
		t.Fatalf("a refused plain OK touched the lockout: %+v", l)
	}
	before := len(u.tx.sent)
	codes := u.sealedSMS("OK " + pin1)
	if len(codes) != 1 || !u.tx.sent[before].Sensitive {
		t.Fatalf("sealed OK: %q", codes)
	}
	code := codeRE.FindString(codes[0])
	u.is(u.one(code), KeySecureRequired) // the code in clear: refused, not spent
	u.state(tr.ID, TransferPendingCode)
	if len(u.tx.bank) != 0 || u.sub().Lock.Failures != 0 {
		t.Fatalf("a plain code reached the bank or counted: %v %+v", u.tx.bank, u.sub().Lock)
	}
	u.is(u.sealedOne(code), KeyAuthorized, "amount", "500.00", "currency", "CNY", "payee", "W*** F***", "ref", tr.Ref)
	u.state(tr.ID, TransferAuthorized)

	// Under optional, a plain answer to a sealed prompt is fine.
	v := newSecureUser(t, "optional", TrustGood)
	v.sealedOne("SEND 13900139000 500")
	tr = v.pendingTransfer()
	v.one(v.codeFor())
	v.state(tr.ID, TransferAuthorized)
}

func TestSecureAbove(t *testing.T) {
	u := newSecureUser(t, "above:100", TrustGood)
	if r := u.one("SEND 13900139000 50"); !strings.HasPrefix(r, "Send 50.00") {
		t.Fatalf("plain SEND of 50 under above:100: %q", r)
	}
	small := u.pendingTransfer()
	u.one(u.codeFor())
	u.state(small.ID, TransferAuthorized)
	if r := u.one("SEND 13900139000 100"); !strings.HasPrefix(r, "Send 100.00") { // not above
		t.Fatalf("plain SEND of 100 under above:100: %q", r)
	}
	u.one("CANCEL")
	n := len(u.tx.transfers)
	u.is(u.one("SEND 13900139000 150"), KeySecureRequired)
	u.is(u.one("SEND 13900139000 100.01"), KeySecureRequired)
	u.is(u.one("PAY SHOP 150"), KeySecureRequired)
	if len(u.tx.transfers) != n || u.sub().Pending != nil {
		t.Fatalf("refused payments made transfers: %d, want %d", len(u.tx.transfers), n)
	}
	if r := u.sealedOne("SEND 13900139000 150"); !strings.HasPrefix(r, "Send 150.00") {
		t.Fatalf("sealed SEND of 150 under above:100: %q", r)
	}
	// Its prompt answered in clear: refused, as the amount is above.
	u.is(u.one("OK "+pin1), KeySecureRequired)
	// A small sealed SEND may be answered in clear.
	u.sealedOne("SEND 13900139000 20")
	tr := u.pendingTransfer()
	u.one(u.codeFor())
	u.state(tr.ID, TransferAuthorized)
}

// A phone with no security module is not concerned by the policy.
func TestSecurePolicyIgnoresPhonesWithoutDevice(t *testing.T) {
	for _, policy := range []string{"optional", "above:1", "required"} {
		t.Run(policy, func(t *testing.T) {
			u := newSecureUser(t, policy, "")
			u.one("SEND 13900139000 500")
			tr := u.pendingTransfer()
			u.one(u.codeFor())
			u.state(tr.ID, TransferAuthorized)
			if r := u.one("PAY SHOP 200"); !strings.HasPrefix(r, "Pay 200.00") {
				t.Fatalf("PAY: %q", r)
			}
		})
	}
}

// A device whose integrity is not established disables payments, sealed
// or not; balance still asks for the PIN and goes to the bank.
func TestSecureTrustRefusesPayments(t *testing.T) {
	for _, tc := range []struct {
		trust Trust
		why   Key
	}{
		{TrustNone, KeySecureWhyNone},
		{TrustPending, KeySecureWhyPending},
		{TrustFailed, KeySecureWhyFailed},
		{TrustMissing, KeySecureWhyMissing},
	} {
		t.Run(string(tc.trust), func(t *testing.T) {
			for _, policy := range []string{"optional", "required"} {
				u := newSecureUser(t, policy, tc.trust)
				why := Text(English, tc.why, nil)
				u.is(u.sealedOne("SEND 13900139000 500"), KeySecureOff, "why", why)
				u.is(u.sealedOne("PAY SHOP 5"), KeySecureOff, "why", why)
				u.noTransfer()
				plain := KeySecureOff
				if policy == "required" {
					plain = KeySecureRequired // the policy is checked first
				}
				u.is(u.one("SEND 13900139000 500"), plain, "why", why)
				u.is(u.one("PAY SHOP 5"), plain, "why", why)
				u.noTransfer()
				if !strings.Contains(Text(English, KeySecureOff, Vars{"why": why}), why) {
					t.Fatal("the off text does not quote why")
				}
				u.is(u.sealedOne("BAL"), KeyBalAskPIN, "account", "PGB ****0001")
				if r := u.sealedSMS("OK " + pin1); len(r) != 0 {
					t.Fatalf("OK to BAL: %q, want the bank asked", r)
				}
				if n := len(u.tx.bank); n != 1 || u.tx.bank[0].Kind != BankBalance {
					t.Fatalf("bank requests %+v, want one balance", u.tx.bank)
				}
				out := u.bank(BankResult{Available: 123456, Currency: "CNY"})
				u.is(out[0].Text, KeyBalance, "account", "PGB ****0001", "amount", "1234.56", "currency", "CNY", "time", "2026-11-21 09:30 UTC")
				u.is(u.one("MINI"), KeyMiniAskPIN, "account", "PGB ****0001")
			}
		})
	}
}

// The trust may change while a payment waits for its PIN or code: the
// answer is checked again.
func TestSecureTrustCheckedOnAnswer(t *testing.T) {
	u := newSecureUser(t, "optional", TrustGood)
	u.one("SEND 13900139000 500")
	tr := u.pendingTransfer()
	u.tx.setTrust(phone, TrustFailed)
	u.is(u.one("OK "+pin1), KeySecureOff, "why", Text(English, KeySecureWhyFailed, nil))
	u.state(tr.ID, TransferPendingPIN)
	u.tx.setTrust(phone, TrustGood)
	code := u.codeFor()
	u.tx.setTrust(phone, TrustMissing)
	u.is(u.one(code), KeySecureOff, "why", Text(English, KeySecureWhyMissing, nil))
	u.state(tr.ID, TransferPendingCode)
	if len(u.tx.bank) != 0 {
		t.Fatalf("bank requests %+v", u.tx.bank)
	}
	u.tx.setTrust(phone, TrustGood)
	u.one(code)
	u.state(tr.ID, TransferAuthorized)
}

// enrol runs Engine.Enrol for device and returns what it queued.
func (u *user) enrol(device string, trusted bool) []OutSMS {
	u.t.Helper()
	in := inbound("ENROL", trusted)
	in.At, in.Sealed = u.now, true
	before := len(u.tx.sent)
	if err := u.e.Enrol(context.Background(), u.tx, in, device); err != nil {
		u.t.Fatalf("Enrol: %v", err)
	}
	return u.tx.sent[before:]
}

func (u *user) enrolOne(device string, trusted bool) OutSMS {
	u.t.Helper()
	out := u.enrol(device, trusted)
	if len(out) != 1 {
		u.t.Fatalf("Enrol queued %+v, want one SMS", out)
	}
	if out[0].To != phone || out[0].Sensitive {
		u.t.Fatalf("Enrol reply %+v", out[0])
	}
	return out[0]
}

// enrolCode enrols device up to its code and returns the code.
func (u *user) enrolCode(device string) string {
	u.t.Helper()
	u.is(u.enrolOne(device, true).Text, KeyEnrolAskPIN, "device", device)
	before := len(u.tx.sent)
	code := u.codeFor()
	sms := u.tx.sent[before]
	v, ok := MatchText(English, KeyCodeEnrol, sms.Text)
	if !ok || v["device"] != device || v["code"] != code || !sms.Sensitive || sms.To != phone {
		u.t.Fatalf("enrolment code SMS %+v (%v)", sms, v)
	}
	return code
}

func TestEnrol(t *testing.T) {
	u := newUser(t)
	u.tx.issueDevice(devID)
	// A new phone: no account, no PIN.
	u.is(u.enrolOne(devID, true).Text, KeyEnrolFirst)
	// An account but no PIN yet.
	u.is(u.one("LINK PGB "+string(acct1)), KeyLinkChecking, "account", "PGB ****0001")
	u.one(u.verified())
	u.is(u.enrolOne(devID, true).Text, KeyEnrolFirst)
	if p := u.sub().Pending; p != nil {
		t.Fatalf("a refused enrolment left a prompt %+v", p)
	}
	u.is(u.one("PIN "+pin1+" "+pin1), KeyPINSet)
	// From an untrusted bind: refused, nothing asked.
	u.is(u.enrolOne(devID, false).Text, KeyMoneyUntrusted)
	if p := u.sub().Pending; p != nil {
		t.Fatalf("an untrusted enrolment left a prompt %+v", p)
	}

	u.is(u.enrolOne(devID, true).Text, KeyEnrolAskPIN, "device", devID)
	p := u.sub().Pending
	if p == nil || p.Kind != OpEnrol || p.Stage != StagePIN || p.Payee != devID {
		t.Fatalf("enrolment prompt %+v", p)
	}
	u.is(u.one("OK "+pin2), KeyAuthFailed) // a wrong PIN counts
	if f := u.sub().Lock.Failures; f != 1 {
		t.Fatalf("%d failures after a wrong PIN", f)
	}
	before := len(u.tx.sent)
	code := u.codeFor()
	sms := u.tx.sent[before]
	if v, ok := MatchText(English, KeyCodeEnrol, sms.Text); !ok || v["device"] != devID || v["code"] != code {
		t.Fatalf("code SMS %q does not name the device", sms.Text)
	}
	if u.sub().Device != nil {
		t.Fatal("enrolled before the code")
	}
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	u.is(u.one(wrong), KeyAuthFailed)
	if f := u.sub().Lock.Failures; f != 1 { // the right PIN reset it; the wrong code counts
		t.Fatalf("%d failures after a wrong code, want 1", f)
	}
	if u.sub().Device != nil || !u.tx.issued[devID] {
		t.Fatal("a wrong code enrolled the device")
	}
	u.is(u.one(code), KeyEnrolled, "device", devID)
	if d := u.sub().Device; d == nil || d.ID != devID || d.Trust != TrustNone {
		t.Fatalf("device after enrolment %+v", d)
	}
	if u.tx.issued[devID] || u.sub().Pending != nil || u.sub().Lock.Failures != 0 {
		t.Fatalf("after enrolment: issued %v, prompt %+v, lock %+v", u.tx.issued, u.sub().Pending, u.sub().Lock)
	}
	// The code again: the status, no failure.
	u.is(u.one(code), KeyEnrolled, "device", devID)
	if f := u.sub().Lock.Failures; f != 0 {
		t.Fatalf("a re-presented code counted: %d", f)
	}

	// The same id again: it is enrolled already.
	code = u.enrolCode(devID)
	u.is(u.one(code), KeyEnrolGone, "device", devID)
	if d := u.sub().Device; d == nil || d.ID != devID {
		t.Fatalf("device %+v", d)
	}
	// An id never issued.
	code = u.enrolCode(otherDev)
	u.is(u.one(code), KeyEnrolGone, "device", otherDev)
}

// The enrolment code is bound to its device: the prompt changed to name
// another device, the code no longer fits.
func TestEnrolCodeBoundToDevice(t *testing.T) {
	u := newMoneyUser(t)
	u.tx.issueDevice(devID)
	u.tx.issueDevice(otherDev)
	code := u.enrolCode(devID)
	s := u.tx.subs[phone]
	s.Pending.Payee = otherDev
	u.tx.subs[phone] = s
	u.is(u.one(code), KeyAuthFailed)
	if u.sub().Device != nil || !u.tx.issued[otherDev] || !u.tx.issued[devID] {
		t.Fatalf("a code for %s enrolled: device %+v", devID, u.sub().Device)
	}
	s = u.tx.subs[phone]
	s.Pending.Payee = devID
	u.tx.subs[phone] = s
	u.is(u.one(code), KeyEnrolled, "device", devID)
}

// Enrolment is refused while the phone is locked, and CANCEL ends it.
func TestEnrolLockedAndCancelled(t *testing.T) {
	u := newMoneyUser(t)
	u.tx.issueDevice(devID)
	u.enrolOne(devID, true)
	u.is(u.one("CANCEL"), KeyCancelled, "what", "enrolment of security module "+devID)
	if u.sub().Pending != nil {
		t.Fatal("prompt after CANCEL")
	}
	s := u.tx.subs[phone]
	s.Lock.Operator = true
	u.tx.subs[phone] = s
	u.is(u.enrolOne(devID, true).Text, KeyLockedOperator)
	if u.sub().Pending != nil {
		t.Fatal("a locked phone got an enrolment prompt")
	}
}

func TestDeviceTrustNotices(t *testing.T) {
	on := Text(English, KeySecureOn, nil)
	off := func(why Key) string {
		return Text(English, KeySecureOff, Vars{"why": Text(English, why, nil), "pin_length": "6"})
	}
	for _, tc := range []struct {
		from, to Trust
		want     string // "" for no SMS
	}{
		{TrustNone, TrustGood, on},
		{TrustPending, TrustGood, on},
		{TrustFailed, TrustGood, on},
		{TrustMissing, TrustGood, on},
		{TrustGood, TrustGood, ""},
		{TrustGood, TrustFailed, off(KeySecureWhyFailed)},
		{TrustPending, TrustFailed, off(KeySecureWhyFailed)},
		{TrustNone, TrustFailed, off(KeySecureWhyFailed)},
		{TrustPending, TrustMissing, off(KeySecureWhyMissing)},
		{TrustGood, TrustMissing, off(KeySecureWhyMissing)},
		{TrustGood, TrustPending, ""},
		{TrustNone, TrustPending, ""},
		{TrustFailed, TrustPending, ""},
		{TrustGood, TrustNone, ""},
		{TrustPending, TrustNone, ""},
	} {
		t.Run(string(tc.from)+"-"+string(tc.to), func(t *testing.T) {
			tx := newFakeTx()
			tx.subs[phone] = Subscriber{Phone: phone, Created: t0.Add(-time.Hour), Device: &Device{ID: devID, Trust: tc.to}}
			err := testEngine().DeviceTrust(context.Background(), tx, phone, tc.from, Device{ID: devID, Trust: tc.to, Why: "for operators"}, t0)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.want == "" && len(tx.sent) != 0:
				t.Fatalf("sent %+v, want nothing", tx.sent)
			case tc.want == "":
			case len(tx.sent) != 1:
				t.Fatalf("sent %+v, want one SMS", tx.sent)
			case tx.sent[0].Text != tc.want || tx.sent[0].To != phone || tx.sent[0].From != shortCode || tx.sent[0].Sensitive:
				t.Fatalf("sent %+v\nwant %q", tx.sent[0], tc.want)
			case strings.Contains(tx.sent[0].Text, "for operators"):
				t.Fatalf("the operators' why reached the phone: %q", tx.sent[0].Text)
			}
		})
	}
	// In the phone's language.
	tx := newFakeTx()
	tx.subs[phone] = Subscriber{Phone: phone, Lang: Chinese, Created: t0}
	if err := testEngine().DeviceTrust(context.Background(), tx, phone, TrustPending, Device{ID: devID, Trust: TrustGood}, t0); err != nil {
		t.Fatal(err)
	}
	if len(tx.sent) != 1 || tx.sent[0].Text != Text(Chinese, KeySecureOn, nil) {
		t.Fatalf("sent %+v, want the Chinese text", tx.sent)
	}
}

func TestEnvelopeRefused(t *testing.T) {
	e := testEngine()
	refused := func(tx *fakeTx, at time.Time) []OutSMS {
		t.Helper()
		in := inbound("#AAAA", true)
		in.At = at
		before := len(tx.sent)
		if err := e.EnvelopeRefused(context.Background(), tx, in); err != nil {
			t.Fatal(err)
		}
		return tx.sent[before:]
	}
	// A phone never seen: nothing sent, nothing recorded.
	tx := newFakeTx()
	if out := refused(tx, t0); len(out) != 0 || len(tx.subs) != 0 || tx.saves != 0 {
		t.Fatalf("for an unknown phone: sent %+v, subscribers %v", out, tx.subs)
	}

	tx.subs[phone] = Subscriber{Phone: phone, Created: t0.Add(-time.Hour)}
	want := Text(English, KeyEnvelopeRefused, nil)
	out := refused(tx, t0)
	if len(out) != 1 || out[0].Text != want || out[0].To != phone {
		t.Fatalf("first refusal: %+v", out)
	}
	for _, d := range []time.Duration{0, time.Second, NoticeEvery - time.Second} {
		if out := refused(tx, t0.Add(d)); len(out) != 0 {
			t.Fatalf("refusal at +%v: %+v, want no notice within NoticeEvery", d, out)
		}
	}
	if out := refused(tx, t0.Add(NoticeEvery)); len(out) != 1 || out[0].Text != want {
		t.Fatalf("refusal after NoticeEvery: %+v", out)
	}
	if out := refused(tx, t0.Add(NoticeEvery+30*time.Second)); len(out) != 0 {
		t.Fatalf("second burst: %+v", out)
	}
	// 1,000 replays in a minute make at most one SMS.
	n := 0
	for i := range 1000 {
		n += len(refused(tx, t0.Add(10*time.Minute+time.Duration(i)*50*time.Millisecond)))
	}
	if n != 1 {
		t.Fatalf("%d notices for 1000 replays in 50s, want 1", n)
	}
	// Nothing else changed.
	if s := tx.subs[phone]; s.Pending != nil || s.Lock.Failures != 0 || s.Device != nil {
		t.Fatalf("subscriber %+v", s)
	}
}
