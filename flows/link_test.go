package flows

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// user drives one phone through the engine with a fake store and a
// clock the test moves.
type user struct {
	t   *testing.T
	e   *Engine
	tx  *fakeTx
	now time.Time
}

const (
	acct1 AccountNumber = "6222020000000001"
	acct2 AccountNumber = "6222020000000002"
	pin1                = "482915"
	pin2                = "739104"
)

func newUser(t *testing.T) *user {
	return &user{t: t, e: newTestEngine(t, EngineConfig{DefaultLang: English}), tx: newFakeTx(), now: t0}
}

// sms sends text and returns the replies' texts.
func (u *user) sms(text string) []string {
	u.t.Helper()
	in := inbound(text, true)
	in.At = u.now
	var texts []string
	for _, o := range run(u.t, u.e, u.tx, in) {
		texts = append(texts, o.Text)
	}
	return texts
}

// one sends text and returns its one reply.
func (u *user) one(text string) string {
	u.t.Helper()
	r := u.sms(text)
	if len(r) != 1 {
		u.t.Fatalf("%q: %d replies %q, want 1", Redact(text), len(r), r)
	}
	return r[0]
}

// bank answers the oldest unanswered bank request.
func (u *user) bank(r BankResult) []OutSMS {
	u.t.Helper()
	if len(u.tx.bank) == 0 {
		u.t.Fatal("no bank request queued")
	}
	req := u.tx.bank[0]
	u.tx.bank = u.tx.bank[1:]
	r.ID, r.Phone, r.Kind = req.ID, req.Phone, req.Kind
	before := len(u.tx.sent)
	if err := u.e.HandleBankResult(context.Background(), u.tx, r, u.now); err != nil {
		u.t.Fatal(err)
	}
	return u.tx.sent[before:]
}

var codeRE = regexp.MustCompile(`\b\d{6}\b`)

// verified answers the bank request as the bank does for the phone's own
// account and returns the code texted.
func (u *user) verified() string {
	u.t.Helper()
	out := u.bank(BankResult{Exists: true, PhoneMatches: true, Holder: "Zhang San"})
	if len(out) != 1 || !out[0].Sensitive {
		u.t.Fatalf("after verify: %+v, want one sensitive SMS", out)
	}
	code := codeRE.FindString(out[0].Text)
	if code == "" {
		u.t.Fatalf("no code in %q", out[0].Text)
	}
	return code
}

func (u *user) sub() Subscriber { return u.tx.subs[phone] }

func (u *user) is(got string, key Key, kv ...string) {
	u.t.Helper()
	v := Vars{"pin_length": "6"}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = kv[i+1]
	}
	if want := Text(English, key, v); got != want {
		u.t.Errorf("reply %q\nwant %s: %q", got, key, want)
	}
}

// linked links acct1 as the phone's first account and sets pin1.
func (u *user) linked() {
	u.t.Helper()
	u.is(u.one("LINK PGB "+string(acct1)), KeyLinkChecking, "account", "PGB ****0001")
	code := u.verified()
	u.is(u.one(code), KeyLinkedSetPIN, "account", "PGB ****0001", "holder", "Z**** S**")
	u.is(u.one("PIN "+pin1+" "+pin1), KeyPINSet)
}

func TestLinkFirstAccountThenPIN(t *testing.T) {
	u := newUser(t)
	u.is(u.one("LINK PGB 6222-0200-0000-0001"), KeyLinkChecking, "account", "PGB ****0001")
	req := u.tx.bank[0]
	if req.Kind != BankVerify || req.Bank != "PGB" || req.Account != acct1 || req.Phone != phone || req.Expires != t0.Add(PendingTTL) {
		t.Fatalf("bank request %+v", req)
	}
	u.is(u.one("OK "+pin1), KeyAnswerWait) // nothing to answer yet; no failure
	u.now = u.now.Add(time.Second)
	code := u.verified()
	if st := u.sub().Pending; st == nil || st.Stage != StageCode || st.Holder != "Z**** S**" {
		t.Fatalf("pending %+v", st)
	}
	u.is(u.one("PIN "+pin1+" "+pin1), KeyAccountNone) // not linked before the code
	u.is(u.one(code), KeyLinkedSetPIN, "account", "PGB ****0001", "holder", "Z**** S**")
	as := u.tx.accounts[phone]
	if len(as) != 1 || !as[0].Default || as[0].Number != acct1 || as[0].Holder != "Z**** S**" {
		t.Fatalf("accounts %+v", as)
	}
	if got := u.one("PIN 123456 123456"); !strings.HasPrefix(got, Text(English, ReasonKey(ReasonPINTrivial), nil)) {
		t.Errorf("trivial PIN: %q", got)
	}
	u.is(u.one("PIN "+pin1+" "+pin1), KeyPINSet)
	if ok, _, err := u.e.cfg.PINs.Verify(pin1, u.sub().PIN); !ok || err != nil {
		t.Fatalf("stored PIN does not verify: %v %v", ok, err)
	}
	u.is(u.one("PIN "+pin2+" "+pin2), KeyPINHaveOne)
	u.is(u.one(code), KeyLinkDone, "account", "PGB ****0001") // the used code again: status, no failure
	if f := u.sub().Lock.Failures; f != 0 {
		t.Errorf("%d failures after a re-presented code", f)
	}
	u.is(u.one("ACCOUNTS"), KeyAccountList, "list", "1 PGB ****0001 (default)")
}

func TestLinkOnActivePhoneNeedsPIN(t *testing.T) {
	u := newUser(t)
	u.linked()
	u.is(u.one("LINK PGB "+string(acct2)), KeyLinkAskPIN, "account", "PGB ****0002")
	if len(u.tx.bank) != 0 {
		t.Fatal("bank asked before the PIN")
	}
	u.is(u.one("123456"), KeyAnswerWantPIN)
	u.is(u.one("OK "+pin2), KeyAuthFailed)
	if p := u.sub().Pending; p == nil || p.Stage != StagePIN {
		t.Fatalf("a wrong PIN dropped the prompt: %+v", p)
	}
	u.is(u.one("OK "+pin1), KeyLinkChecking, "account", "PGB ****0002")
	if u.sub().Lock.Failures != 0 {
		t.Errorf("a right PIN left %d failures", u.sub().Lock.Failures)
	}
	code := u.verified()
	u.is(u.one(code), KeyLinked, "account", "PGB ****0002", "holder", "Z**** S**")
	u.is(u.one("ACCOUNTS"), KeyAccountList, "list", "1 PGB ****0001 (default); 2 PGB ****0002")
	u.is(u.one("DEFAULT 2"), KeyDefaultSet, "account", "PGB ****0002")
	u.is(u.one("DEFAULT 3"), KeyAccountNoSuch, "n", "3", "count", "2")
	u.is(u.one("LINK PGB "+string(acct2)), KeyLinkAlready, "account", "PGB ****0002")

	u.is(u.one("UNLINK 2"), KeyUnlinkAskPIN, "account", "PGB ****0002")
	u.is(u.one("OK "+pin1), KeyUnlinked, "account", "PGB ****0002")
	as := u.tx.accounts[phone]
	if len(as) != 1 || as[0].Number != acct1 || !as[0].Default {
		t.Fatalf("after unlinking the default: %+v", as)
	}
}

func TestLinkRefusedByBank(t *testing.T) {
	for _, r := range []BankResult{{Exists: false}, {Exists: true, PhoneMatches: false}} {
		u := newUser(t)
		u.one("LINK PGB " + string(acct1))
		out := u.bank(r)
		if len(out) != 1 {
			t.Fatalf("%d replies", len(out))
		}
		u.is(out[0].Text, KeyLinkRefused, "account", "PGB ****0001")
		if u.sub().Pending != nil || len(u.tx.accounts[phone]) != 0 {
			t.Fatal("refused link left state")
		}
	}
	u := newUser(t)
	u.one("LINK PGB " + string(acct1))
	out := u.bank(BankResult{Failed: true})
	u.is(out[0].Text, KeyBankUnavailable, "what", "LINK of PGB ****0001")
}

func TestStaleBankAnswerIgnored(t *testing.T) {
	u := newUser(t)
	u.one("LINK PGB " + string(acct1))
	u.is(u.one("CANCEL"), KeyCancelled, "what", "LINK of PGB ****0001")
	if out := u.bank(BankResult{Exists: true, PhoneMatches: true}); len(out) != 0 {
		t.Fatalf("an answer for a cancelled LINK sent %+v", out)
	}
}

func TestNewCommandReplacesPrompt(t *testing.T) {
	u := newUser(t)
	u.one("LINK PGB " + string(acct1))
	got := u.one("LINK PGB " + string(acct2))
	if !strings.HasPrefix(got, "Your pending LINK of PGB ****0001 was cancelled. We are checking PGB ****0002") {
		t.Fatalf("reply %q does not say the first LINK was replaced", got)
	}
	// The first LINK's answer finds its prompt gone.
	if out := u.bank(BankResult{Exists: true, PhoneMatches: true}); len(out) != 0 {
		t.Fatalf("stale answer sent %+v", out)
	}
}

// TestCodeRules: SPEC §5.5 and RELIABILITY S2 for link codes.
func TestCodeRules(t *testing.T) {
	t.Run("expiry at 5 min + 1 s", func(t *testing.T) {
		u := newUser(t)
		u.one("LINK PGB " + string(acct1))
		code := u.verified()
		u.now = u.now.Add(CodeTTL + time.Second)
		u.is(u.one(code), KeyExpired, "what", "LINK of PGB ****0001")
		if len(u.tx.accounts[phone]) != 0 || u.sub().Lock.Failures != 0 {
			t.Fatal("an expired code linked or counted")
		}
	})
	t.Run("accepted at 5 min exactly", func(t *testing.T) {
		u := newUser(t)
		u.one("LINK PGB " + string(acct1))
		code := u.verified()
		u.now = u.now.Add(CodeTTL)
		u.is(u.one(code), KeyLinkedSetPIN, "account", "PGB ****0001", "holder", "Z**** S**")
	})
	t.Run("another operation's code", func(t *testing.T) {
		u := newUser(t)
		u.one("LINK PGB " + string(acct1))
		code1 := u.verified()
		u.one("LINK PGB " + string(acct2))
		u.verified()
		u.is(u.one(code1), KeyAuthFailed)
		if u.sub().Lock.Failures != 1 || len(u.tx.accounts[phone]) != 0 {
			t.Fatal("the first LINK's code was not a failure for the second")
		}
	})
	t.Run("resend kills the old code, resets nothing", func(t *testing.T) {
		u := newUser(t)
		u.one("LINK PGB " + string(acct1))
		old := u.verified()
		u.is(u.one("000000"), KeyAuthFailed)
		out := run(t, u.e, u.tx, InboundSMS{From: phone, To: shortCode, Bind: "carrier-a", Trusted: true, Text: "RESEND", At: u.now})
		if len(out) != 1 || !out[0].Sensitive {
			t.Fatalf("RESEND: %+v", out)
		}
		fresh := codeRE.FindString(out[0].Text)
		if fresh == old {
			t.Skip("the same code drawn twice (1 in a million)")
		}
		u.is(u.one(old), KeyAuthFailed)
		if f := u.sub().Lock.Failures; f != 2 {
			t.Fatalf("failures %d, want 2: RESEND must not reset the counter", f)
		}
		if s := u.sub().Pending.Challenge.Sends; s != 2 {
			t.Errorf("sends %d", s)
		}
		u.is(u.one(fresh), KeyLinkedSetPIN, "account", "PGB ****0001", "holder", "Z**** S**")
	})
	t.Run("five codes an hour", func(t *testing.T) {
		u := newUser(t)
		u.one("LINK PGB " + string(acct1))
		u.verified()
		for range CodesPerHour - 1 {
			u.now = u.now.Add(time.Minute)
			if r := u.sms("RESEND"); len(r) != 1 || codeRE.FindString(r[0]) == "" {
				t.Fatalf("RESEND: %q", r)
			}
		}
		u.now = u.now.Add(time.Minute)
		u.is(u.one("RESEND"), KeyCodeBudget, "what", "LINK of PGB ****0001", "time", "2026-11-21 10:30 UTC")
		if u.sub().Pending != nil {
			t.Fatal("the LINK outlived its code budget")
		}
	})
}

// TestLockout: RELIABILITY S1 in the flows: the counter is shared by PIN
// and code; 3 → 24 h; the end of the lock does not reset it; 5 warns, 6
// locks until an operator unlocks; replies identical for PIN and code.
func TestLockout(t *testing.T) {
	u := newUser(t)
	u.linked()
	u.one("LINK PGB " + string(acct2))
	wrongPIN := u.one("OK " + pin2)
	u.one("OK " + pin1)
	u.verified()
	wrongCode := u.one("000000")
	if wrongPIN != wrongCode {
		t.Fatalf("wrong PIN %q and wrong code %q differ", wrongPIN, wrongCode)
	}
	until := u.now.Add(LockFor)
	u.is(u.one("000001"), KeyAuthFailed)
	u.is(u.one("000002"), KeyAuthLocked, "until", "2026-11-22 09:30 UTC") // 3rd: alert, locked
	if u.sub().Pending != nil {
		t.Error("the lock left the prompt pending")
	}
	// Locked: refused without checking or counting; HELP, LANG, STATUS, STOP answer.
	// The notice goes at most once a minute; a flood makes no SMS flood.
	for _, text := range []string{"OK " + pin1, "123456", "LINK PGB 6222020000000009", "PIN " + pin1 + " " + pin2 + " " + pin2, "RESETPIN", "UNLINK 1", "BAL", "SEND 13900139000 5", "RESEND"} {
		u.now = u.now.Add(NoticeEvery)
		u.is(u.one(text), KeyLocked, "until", "2026-11-22 09:30 UTC")
		if r := u.sms(text); len(r) != 0 {
			t.Errorf("a second refusal within a minute answered %q", r)
		}
	}
	u.is(u.one("HELP"), KeyHelp)
	u.is(u.one("STATUS T7K2QXM4"), KeyStatusNotFound)
	if f := u.sub().Lock.Failures; f != 3 {
		t.Fatalf("failures %d while locked, want 3", f)
	}
	// The lock ends at until exactly; the counter does not reset.
	u.now = until
	u.is(u.one("PIN "+pin2+" "+pin1+" "+pin1), KeyAuthFailed) // 4th
	u.is(u.one("PIN "+pin2+" "+pin1+" "+pin1), KeyAuthLastWarning)
	u.is(u.one("PIN "+pin2+" "+pin1+" "+pin1), KeyAuthOperatorLocked)
	u.now = u.now.Add(365 * 24 * time.Hour)
	u.is(u.one("UNLINK 1"), KeyLockedOperator)
	// Only an operator unlocks.
	if err := u.e.OperatorUnlock(context.Background(), u.tx, phone, u.now); err != nil {
		t.Fatal(err)
	}
	u.is(u.tx.sent[len(u.tx.sent)-1].Text, KeyUnlocked)
	u.is(u.one("PIN "+pin1+" "+pin2+" "+pin2), KeyPINChanged)
	if l := u.sub().Lock; l.Failures != 0 || l.Locked(u.now) {
		t.Fatalf("lock %+v after unlock and a success", l)
	}
}

// TestPINAttemptsInFlight: with no failures, at most 3 PIN attempts are
// reserved at once; a 4th is told to wait and costs no hashing.
func TestPINAttemptsInFlight(t *testing.T) {
	u := newUser(t)
	u.linked()
	u.one("UNLINK 1")
	var works []*PINWork
	for range 3 {
		w, err := u.e.HandleSMS(context.Background(), u.tx, InboundSMS{From: phone, To: shortCode, Trusted: true, Text: "OK " + pin2, At: u.now})
		if err != nil || w == nil {
			t.Fatalf("attempt not reserved: %v %v", w, err)
		}
		works = append(works, w)
	}
	u.is(u.one("OK "+pin1), KeyAuthBusy)
	if r := u.sms("OK " + pin1); len(r) != 0 {
		t.Errorf("a second busy notice within a minute: %q", r)
	}
	// The three wrong answers lock the phone; the right one never ran.
	for _, w := range works {
		in := InboundSMS{From: phone, To: shortCode, Trusted: true, Text: "OK " + pin2, At: u.now}
		if err := u.e.ResumeSMS(context.Background(), u.tx, in, w, u.e.CheckPIN(w)); err != nil {
			t.Fatal(err)
		}
	}
	if !u.sub().Lock.Locked(u.now) || u.sub().Lock.Pending != 0 {
		t.Fatalf("lock %+v", u.sub().Lock)
	}
	if len(u.tx.accounts[phone]) != 1 {
		t.Fatal("unlinked")
	}
}

func TestResetPIN(t *testing.T) {
	u := newUser(t)
	u.linked()
	u.is(u.one("RESETPIN"), KeyResetChecking, "account", "PGB ****0001")
	req := u.tx.bank[0]
	if req.Account != acct1 || req.Kind != BankVerify {
		t.Fatalf("request %+v", req)
	}
	code := u.verified()
	u.is(u.one(code), KeyResetAskPIN)
	u.is(u.one(code), KeyResetAskPIN) // again: status, no failure
	u.is(u.one("PIN "+pin2+" "+pin2), KeyPINChanged)
	u.is(u.one("PIN "+pin1+" 581937 581937"), KeyAuthFailed) // the old PIN is dead
	u.is(u.one("PIN "+pin2+" "+pin1+" "+pin1), KeyPINChanged)
	u.is(u.one(code), KeyResetDone)
	if f := u.sub().Lock.Failures; f != 0 {
		t.Errorf("failures %d", f)
	}
}

func TestResetPINRefused(t *testing.T) {
	u := newUser(t)
	u.linked()
	u.one("RESETPIN")
	out := u.bank(BankResult{Exists: true, PhoneMatches: false})
	u.is(out[0].Text, KeyResetRefused, "account", "PGB ****0001")
}

func TestStopRefusesPayments(t *testing.T) {
	u := newUser(t)
	u.linked()
	u.one("LINK PGB " + string(acct2))
	u.is(u.one("STOP"), KeyStopped)
	if !u.sub().Stopped || u.sub().Pending != nil {
		t.Fatalf("after STOP: %+v", u.sub())
	}
	u.is(u.one("SEND 13900139000 5"), KeyStoppedRefused)
	u.is(u.one("PAY SHOP01 5"), KeyStoppedRefused)
}

// TestUntrustedBindChangesNothing: RELIABILITY S6 in the flows.
func TestUntrustedBindChangesNothing(t *testing.T) {
	u := newUser(t)
	u.linked()
	u.one("UNLINK 1")
	before := u.sub()
	for _, text := range []string{"OK " + pin2, "OK " + pin1, "000000", "SEND 13900139000 5", "PAY SHOP01 5", "BAL", "MINI", "LINK PGB 6222020000000009", "PIN " + pin2 + " " + pin1 + " " + pin1, "RESETPIN", "UNLINK 1", "DEFAULT 1", "STOP", "CANCEL", "RESEND"} {
		in := inbound(text, false)
		in.At = u.now
		out := run(t, u.e, u.tx, in)
		if len(out) != 1 {
			t.Fatalf("%q: %d replies", Redact(text), len(out))
		}
		u.is(out[0].Text, KeyMoneyUntrusted)
	}
	after := u.sub()
	if after.Lock != before.Lock || after.Stopped || after.Pending == nil || len(u.tx.bank) != 0 || len(u.tx.accounts[phone]) != 1 {
		t.Fatalf("an untrusted bind changed state: %+v", after)
	}
}

func TestChineseLinkFlow(t *testing.T) {
	u := newUser(t)
	got := u.one("绑定 PGB " + string(acct1))
	if want := Text(Chinese, KeyLinkChecking, Vars{"account": "PGB ****0001"}); got != want {
		t.Fatalf("reply %q, want %q", got, want)
	}
	out := u.bank(BankResult{Exists: true, PhoneMatches: true, Holder: "张三"})
	if len(out) != 1 || !strings.Contains(out[0].Text, "paygate验证码") {
		t.Fatalf("code SMS not in the language of the LINK: %+v", out)
	}
	code := codeRE.FindString(out[0].Text)
	got = u.one(code)
	if want := Text(Chinese, KeyLinkedSetPIN, Vars{"account": "PGB ****0001", "holder": "张*", "pin_length": "6"}); got != want {
		t.Fatalf("reply %q, want %q", got, want)
	}
}

func TestMaskName(t *testing.T) {
	for in, want := range map[string]string{
		"Zhang San": "Z**** S**", "  li   si ": "l* s*", "张三丰": "张**", "": "", "A": "A",
	} {
		if got := MaskName(in); got != want {
			t.Errorf("MaskName(%q) = %q, want %q", in, got, want)
		}
	}
}
