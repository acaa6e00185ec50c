package flows

import (
	"bytes"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"regexp"
	"testing"
	"time"
)

var (
	authCodeKey = bytes.Repeat([]byte{0xB3}, 32)
	authT0      = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	authSendOp  = Operation{
		Kind: OpSend, Phone: "+8613800138000", Amount: 50000, Fee: 100, Payee: "+8613900139000",
		Bank: "PGB", Account: "6222020012345678", Transfer: "01JNQ8V6Z3M5R4T2X9K7B1C0DE",
	}
)

func newAuthCodes(t testing.TB) *Codes {
	t.Helper()
	c, err := NewCodes(authCodeKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// authBytesReader serves b, then fails.
type authBytesReader struct{ b []byte }

func (r *authBytesReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errors.New("exhausted")
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// Codes are 6 digits, uniform: 4 random bytes, drawn again past the last
// whole block of 10^6 (4,294,000,000 and up).
func TestCodeDraw(t *testing.T) {
	for _, c := range []struct {
		name string
		rand []byte
		want OTP
	}{
		{"zero", []byte{0, 0, 0, 0}, "000000"},
		{"small", []byte{0, 0, 0, 7}, "000007"},
		{"modulo", []byte{0x00, 0x0F, 0x42, 0x40 + 5}, "000005"},    // 1,000,005
		{"last accepted", []byte{0xFF, 0xF1, 0x3D, 0x7F}, "999999"}, // 4,293,999,999
		{"first refused, then drawn again", []byte{0xFF, 0xF1, 0x3D, 0x80, 0, 0, 0, 42}, "000042"},
		{"max refused", []byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0x30, 0x39}, "012345"},
	} {
		t.Run(c.name, func(t *testing.T) {
			codes, _ := NewCodes(authCodeKey, &authBytesReader{c.rand})
			_, code, err := codes.Issue(authSendOp, authT0)
			if err != nil || code.Reveal() != string(c.want) {
				t.Errorf("Issue = %q, %v; want %q", code.Reveal(), err, c.want.Reveal())
			}
		})
	}
	codes, _ := NewCodes(authCodeKey, &authBytesReader{})
	if _, _, err := codes.Issue(authSendOp, authT0); err == nil {
		t.Error("Issue with a failing random source: no error")
	}
	live := newAuthCodes(t)
	six := regexp.MustCompile(`^[0-9]{6}$`)
	for range 100 {
		_, code, _ := live.Issue(authSendOp, authT0)
		if !six.MatchString(code.Reveal()) {
			t.Fatalf("code %q", code.Reveal())
		}
	}
}

// S2 at this level: a code is accepted once, for its operation only,
// within 5 minutes.
func TestCodeCheck(t *testing.T) {
	codes := newAuthCodes(t)
	ch, code, err := codes.Issue(authSendOp, authT0)
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Issued.Equal(authT0) || !ch.Expires.Equal(authT0.Add(5*time.Minute)) || ch.Sends != 1 || !ch.Used.IsZero() {
		t.Fatalf("challenge %+v", ch)
	}
	used, res := codes.Check(ch, code, authSendOp, authT0.Add(time.Minute))
	if res != CodeAccepted || !used.Used.Equal(authT0.Add(time.Minute)) {
		t.Fatalf("first check: %v, %+v", res, used)
	}
	other := func(f func(*Operation)) Operation { op := authSendOp; f(&op); return op }
	wrongCode := otherCode(code)
	otherKey, _ := NewCodes(bytes.Repeat([]byte{1}, 32), rand.Reader)

	for _, c := range []struct {
		name  string
		codes *Codes
		ch    Challenge
		code  OTP
		op    Operation
		at    time.Duration // after authT0
		want  CodeResult
	}{
		{"right code at once", codes, ch, code, authSendOp, 0, CodeAccepted},
		{"right code at 5 min exactly", codes, ch, code, authSendOp, 5 * time.Minute, CodeAccepted},
		{"right code at 5 min + 1 s", codes, ch, code, authSendOp, 5*time.Minute + time.Second, CodeExpired},
		{"right code at 5 min + 1 µs", codes, ch, code, authSendOp, 5*time.Minute + time.Microsecond, CodeExpired},
		{"wrong code after expiry", codes, ch, wrongCode, authSendOp, time.Hour, CodeExpired},
		{"wrong code", codes, ch, wrongCode, authSendOp, time.Minute, CodeWrong},
		{"not digits", codes, ch, "abcdef", authSendOp, time.Minute, CodeWrong},
		{"five digits", codes, ch, OTP(code.Reveal()[:5]), authSendOp, time.Minute, CodeWrong},
		{"empty", codes, ch, "", authSendOp, time.Minute, CodeWrong},
		{"other transfer", codes, ch, code, other(func(o *Operation) { o.Transfer = "01JNQ8V6Z3M5R4T2X9K7B1C0DF" }), time.Minute, CodeWrong},
		{"changed amount", codes, ch, code, other(func(o *Operation) { o.Amount++ }), time.Minute, CodeWrong},
		{"changed fee", codes, ch, code, other(func(o *Operation) { o.Fee = 0 }), time.Minute, CodeWrong},
		{"other payee", codes, ch, code, other(func(o *Operation) { o.Payee = "+8613900139001" }), time.Minute, CodeWrong},
		{"other account", codes, ch, code, other(func(o *Operation) { o.Account = "6222020012345679" }), time.Minute, CodeWrong},
		{"other bank", codes, ch, code, other(func(o *Operation) { o.Bank = "XYZ" }), time.Minute, CodeWrong},
		{"other phone", codes, ch, code, other(func(o *Operation) { o.Phone = "+8613800138001" }), time.Minute, CodeWrong},
		{"other kind", codes, ch, code, other(func(o *Operation) { o.Kind = OpPay }), time.Minute, CodeWrong},
		{"other key", otherKey, ch, code, authSendOp, time.Minute, CodeWrong},
		{"no digest stored", codes, Challenge{Expires: authT0.Add(CodeTTL)}, code, authSendOp, time.Minute, CodeWrong},
		{"reused", codes, used, code, authSendOp, 2 * time.Minute, CodeUsed},
		{"reused after expiry", codes, used, code, authSendOp, 24 * time.Hour, CodeUsed},
		{"reused for a changed amount", codes, used, code, other(func(o *Operation) { o.Amount++ }), 2 * time.Minute, CodeWrong},
		{"wrong code after use", codes, used, wrongCode, authSendOp, 2 * time.Minute, CodeWrong},
	} {
		t.Run(c.name, func(t *testing.T) {
			next, res := c.codes.Check(c.ch, c.code, c.op, authT0.Add(c.at))
			if res != c.want {
				t.Fatalf("Check = %v, want %v", res, c.want)
			}
			if res.Failure() != (c.want == CodeWrong) {
				t.Errorf("%v.Failure() = %v", res, res.Failure())
			}
			if res == CodeAccepted {
				if !next.Used.Equal(authT0.Add(c.at)) {
					t.Errorf("accepted, Used = %v", next.Used)
				}
			} else if !next.Used.Equal(c.ch.Used) {
				t.Errorf("%v changed Used to %v", res, next.Used)
			}
		})
	}
}

// RESEND: a fresh code replaces the old, which dies; the send count and
// the lockout counter go on; each code spends the phone's budget.
func TestCodeResend(t *testing.T) {
	codes, _ := NewCodes(authCodeKey, mrand.NewChaCha8([32]byte{7}))
	var lock Lock
	var budget CodeBudget
	now := authT0

	budget, ok := budget.Spend(now)
	first, oldCode, _ := codes.Issue(authSendOp, now)
	if !ok {
		t.Fatal("first code refused")
	}
	wrong := otherCode(oldCode)
	for range 2 {
		if _, res := codes.Check(first, wrong, authSendOp, now); res != CodeWrong {
			t.Fatalf("wrong code: %v", res)
		}
		lock, _ = lock.Fail(now)
	}

	now = now.Add(2 * time.Minute)
	budget, ok = budget.Spend(now)
	second, newCode, err := codes.Resend(first, authSendOp, now)
	if !ok || err != nil || newCode == oldCode {
		t.Fatal(ok, err, newCode == oldCode)
	}
	if second.Sends != 2 || !second.Issued.Equal(now) || !second.Expires.Equal(now.Add(CodeTTL)) {
		t.Errorf("resent challenge %+v", second)
	}
	if lock.Failures != 2 {
		t.Errorf("RESEND reset the failures to %d", lock.Failures)
	}
	if _, res := codes.Check(second, oldCode, authSendOp, now); res != CodeWrong {
		t.Errorf("the old code after RESEND: %v, want wrong", res)
	}
	if next, ev := lock.Fail(now); ev != EventLocked || !next.Locked(now) {
		t.Errorf("3rd failure, counting across RESEND: %v, %+v", ev, next)
	}
	if _, res := codes.Check(second, newCode, authSendOp, now); res != CodeAccepted {
		t.Errorf("the new code: %v", res)
	}

	// Resends keep spending: 5 codes in the hour, the 6th refused.
	ch := second
	for i := 3; i <= 6; i++ {
		now = now.Add(time.Minute)
		var ok bool
		budget, ok = budget.Spend(now)
		if ok != (i <= CodesPerHour) {
			t.Fatalf("code %d in the hour: allowed %v", i, ok)
		}
		if ok {
			ch, _, _ = codes.Resend(ch, authSendOp, now)
		}
	}
	if ch.Sends != 5 {
		t.Errorf("Sends = %d after 5 codes", ch.Sends)
	}

	used, _ := codes.Check(second, newCode, authSendOp, now)
	if _, _, err := codes.Resend(used, authSendOp, now); !errors.Is(err, ErrChallengeUsed) {
		t.Errorf("Resend of an accepted challenge: %v", err)
	}
}

func TestCodeBudget(t *testing.T) {
	at := func(mins ...int) CodeBudget {
		var b CodeBudget
		for _, m := range mins {
			b.Sent = append(b.Sent, authT0.Add(time.Duration(m)*time.Minute))
		}
		return b
	}
	for _, c := range []struct {
		name   string
		b      CodeBudget
		now    time.Duration
		allow  bool
		nextAt time.Duration
		kept   int // times kept after Spend
	}{
		{"none sent", CodeBudget{}, 0, true, 0, 1},
		{"four in the hour", at(0, 10, 20, 30), 40 * time.Minute, true, 40 * time.Minute, 5},
		{"sixth in the hour", at(0, 10, 20, 30, 40), 50 * time.Minute, false, 60 * time.Minute, 5},
		{"sixth a microsecond before the first leaves", at(0, 10, 20, 30, 40), time.Hour - time.Microsecond, false, 60 * time.Minute, 5},
		{"sixth as the first leaves the window", at(0, 10, 20, 30, 40), time.Hour, true, time.Hour, 5},
		{"old ones pruned", at(0, 1, 2, 3, 4), 3 * time.Hour, true, 3 * time.Hour, 1},
		{"rolling, not per clock hour", at(50, 55, 56, 57, 58), 65 * time.Minute, false, 110 * time.Minute, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := authT0.Add(c.now)
			if got := c.b.Allow(now); got != c.allow {
				t.Errorf("Allow = %v", got)
			}
			if got := c.b.NextAt(now); !got.Equal(authT0.Add(c.nextAt)) {
				t.Errorf("NextAt = +%v, want +%v", got.Sub(authT0), c.nextAt)
			}
			before := len(c.b.Sent)
			next, ok := c.b.Spend(now)
			if ok != c.allow || len(next.Sent) != c.kept {
				t.Errorf("Spend = %d kept, %v; want %d, %v", len(next.Sent), ok, c.kept, c.allow)
			}
			if len(c.b.Sent) != before {
				t.Error("Spend changed its receiver")
			}
		})
	}
}

// The encoding tells apart operations that a plain concatenation would
// not, and changes with every field.
func TestOperationEncoding(t *testing.T) {
	pairs := [][2]Operation{
		{{Payee: "ab", Bank: "c"}, {Payee: "a", Bank: "bc"}},
		{{Bank: "PGB", Account: "1234"}, {Bank: "PGB1", Account: "234"}},
		{{Kind: "send", Phone: "+86"}, {Kind: "send+86"}},
		{{Amount: 1}, {Fee: 1}},
		{{Transfer: "x"}, {Account: "x"}},
		{{}, {Amount: -1}},
	}
	for _, p := range pairs {
		if bytes.Equal(p[0].encode(nil), p[1].encode(nil)) {
			t.Errorf("%+v and %+v encode alike", p[0], p[1])
		}
	}
}

// otherCode returns a 6-digit code that is not c.
func otherCode(c OTP) OTP {
	if c.Reveal() == "000000" {
		return "000001"
	}
	return "000000"
}

// BenchmarkCodeCheck is the cost of one code check: an HMAC, cheap
// enough to run inside the writer.
func BenchmarkCodeCheck(b *testing.B) {
	codes := newAuthCodes(b)
	ch, code, _ := codes.Issue(authSendOp, authT0)
	b.ReportAllocs()
	for b.Loop() {
		codes.Check(ch, code, authSendOp, authT0)
	}
}
