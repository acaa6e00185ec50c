package gateway_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp/smsc"
)

// clock is a test clock: real time plus an offset the test moves, so
// that 5-minute expiries and 24-hour locks pass at once while timers and
// leases still see time go by.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// world is a gateway bound to an SMSC simulator and to the bank
// simulator (over HTTP, SPEC §8) with its demo accounts, on a test clock.
type world struct {
	t     *testing.T
	sim   *smsc.Server
	bank  *banksim.Bank
	cfg   config.Config
	dir   string // the gateway's data directory
	opts  worldOptions
	clock *clock
	gw    *gateway.Gateway
}

// worldOptions change a world from the defaults.
type worldOptions struct {
	sim    smsc.Config // the SMSC simulator's configuration
	noDemo bool        // the bank starts with no accounts
	// Loggers of the gateway and the bank simulator; nil discards.
	log, bankLog *slog.Logger
	// pinHash are the gateway's argon2id parameters; zero: the shipped ones.
	pinHash flows.Argon2Params
	// sandbox runs the gateway as the sandbox (gateway.Options.Sandbox).
	sandbox bool
}

func newWorld(t *testing.T, change ...func(*config.Config)) *world {
	t.Helper()
	return newWorldWith(t, worldOptions{}, change...)
}

// newWorldSim is newWorld with an SMSC simulator configured by simCfg.
func newWorldSim(t *testing.T, simCfg smsc.Config, change ...func(*config.Config)) *world {
	t.Helper()
	return newWorldWith(t, worldOptions{sim: simCfg}, change...)
}

// newWorldWith is newWorld with opts.
func newWorldWith(t *testing.T, opts worldOptions, change ...func(*config.Config)) *world {
	t.Helper()
	if opts.sim.RetryInterval == 0 {
		opts.sim.RetryInterval = 100 * time.Millisecond
	}
	sim, err := smsc.Listen(opts.sim)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	cfg := testConfig(t, dir, sim.Addr(), 100)
	secretFile := filepath.Join(dir, "bank.secret")
	if err := os.WriteFile(secretFile, []byte("bank-test-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := bank.ReadSecretFile(secretFile)
	if err != nil {
		t.Fatal(err)
	}
	bcfg := banksim.Config{Secret: secret, Code: "PGB", Currency: "CNY", Logger: opts.bankLog}
	if !opts.noDemo {
		bcfg.Accounts = banksim.DemoAccounts("PGB")
	}
	b, err := banksim.New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := banksim.Listen("127.0.0.1:0", b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg.Bank = config.DefaultBank()
	cfg.Bank.URL = config.SecretURL(srv.URL())
	cfg.Bank.SecretFile = secretFile
	cfg.Timezone = "UTC"
	// A user repeats texts (OK <PIN>, ACCOUNTS) within minutes; with the
	// default window a repeat is the same message, answered once (SPEC
	// §5.5, tested in TestRedeliveredAndDuplicatedAnsweredOnce). These
	// tests are about the flows.
	cfg.DedupeWindow = time.Millisecond
	for _, f := range change {
		f(&cfg)
	}
	w := &world{t: t, sim: sim, bank: b, cfg: cfg, dir: dir, opts: opts, clock: &clock{}}
	w.start()
	return w
}

func (w *world) start() {
	w.t.Helper()
	gw, err := gateway.New(context.Background(), gateway.Options{
		Config: w.cfg, Now: w.clock.now, Logger: w.opts.log, PINHash: w.opts.pinHash, Sandbox: w.opts.sandbox,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	w.gw = gw
	w.t.Cleanup(w.stop)
	waitBound(w.t, gw)
}

func (w *world) stop() {
	if w.gw == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.gw.Close(ctx)
	w.gw = nil
}

// phone is one handset in the world.
type phone struct {
	w    *world
	num  string // as the SMSC writes it: international, no "+"
	seen int
}

func (w *world) phone(num string) *phone {
	return &phone{w: w, num: strings.TrimPrefix(num, "+")}
}

// send texts the short code and waits for n replies, which it returns.
func (p *phone) send(text string, n int) []string {
	p.w.t.Helper()
	if _, err := p.w.sim.InjectText(p.num, "3030", text, false); err != nil {
		p.w.t.Fatal(err)
	}
	return p.expect(n)
}

// expect waits for n more texts to the phone.
func (p *phone) expect(n int) []string {
	p.w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := p.w.sim.ReceivedTexts(p.num)
		if len(got) >= p.seen+n {
			out := got[p.seen : p.seen+n]
			p.seen += n
			return out
		}
		if time.Now().After(deadline) {
			p.w.t.Fatalf("%s: %d more texts, want %d; the last: %q", p.num, len(got)-p.seen, n, got[max(0, len(got)-3):])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// quiet checks that no further text arrives for a while.
func (p *phone) quiet() {
	p.w.t.Helper()
	time.Sleep(150 * time.Millisecond)
	if got := p.w.sim.ReceivedTexts(p.num); len(got) != p.seen {
		p.w.t.Fatalf("%s: unexpected texts %q", p.num, got[p.seen:])
	}
}

// one sends text and returns its one reply.
func (p *phone) one(text string) string {
	p.w.t.Helper()
	return p.send(text, 1)[0]
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

// link runs LINK for account up to the code and returns the code.
func (p *phone) link(account string, withPIN string) string {
	p.w.t.Helper()
	if withPIN != "" {
		mustContain(p.w.t, p.one("LINK PGB "+account), "send OK <PIN>")
		mustContain(p.w.t, p.one("OK "+withPIN), "We are checking PGB ****")
	} else {
		mustContain(p.w.t, p.one("LINK PGB "+account), "We are checking PGB ****")
	}
	msg := p.expect(1)[0]
	code := sixDigits.FindString(msg)
	if code == "" || !strings.Contains(msg, "paygate code") {
		p.w.t.Fatalf("no code in %q", msg)
	}
	return code
}

func mustContain(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("reply %q does not contain %q", got, want)
	}
}

// TestLinkEndToEnd: over real SMPP and the bank simulator over HTTP, a
// phone links an account, sets a PIN, links a second one with its PIN,
// lists and switches them, unlinks one, resets its PIN; an account whose
// phone on file differs is refused; bad commands get helpful replies.
func TestLinkEndToEnd(t *testing.T) {
	w := newWorld(t)
	li := w.phone("+8613800138000") // the bank has 6222020000000001 and …0002? only …0001 on this phone

	mustContain(t, li.one("LINK PGB 6222020000000002"), "We are checking PGB ****0002")
	mustContain(t, li.expect(1)[0], "did not confirm PGB ****0002 for this phone")
	mustContain(t, li.one("LINK PGB 6222020099999999"), "We are checking")
	mustContain(t, li.expect(1)[0], "did not confirm PGB ****9999")

	code := li.link("6222020000000001", "")
	mustContain(t, li.one("PIN 482915 482915"), "no linked bank account") // the code first
	mustContain(t, li.one(code), "Linked: PGB ****0001 (L* W**). Now set your PIN")
	mustContain(t, li.one("PIN 111111 111111"), "too easy to guess")
	mustContain(t, li.one("PIN 482915 482916"), "not the same")
	mustContain(t, li.one("PIN 482915 482915"), "Your PIN is set")
	mustContain(t, li.one("ACCOUNTS"), "Your accounts: 1 PGB ****0001 (default)")

	// A second account on this phone: Wang Fang's phone is on file for
	// …0002, so the bank refuses; open one for Li Wei.
	if err := w.bank.Open(banksim.Account{Bank: "PGB", Number: "6222020000000011", Holder: "Li Wei", Phone: "+8613800138000"}); err != nil {
		t.Fatal(err)
	}
	code = li.link("6222020000000011", "482915")
	mustContain(t, li.one(code), "Linked: PGB ****0011")
	mustContain(t, li.one("ACCOUNTS"), "1 PGB ****0001 (default); 2 PGB ****0011")
	mustContain(t, li.one("DEFAULT 2"), "Payments now use PGB ****0011")
	mustContain(t, li.one("DEFAULT 4"), "There is no account 4: you have 2")
	mustContain(t, li.one("UNLINK 2"), "To remove PGB ****0011")
	mustContain(t, li.one("OK 482915"), "Removed: PGB ****0011")
	mustContain(t, li.one("ACCOUNTS"), "1 PGB ****0001 (default)")

	// RESETPIN: the bank confirms the phone, a code, a new PIN.
	mustContain(t, li.one("RESETPIN"), "We are checking this phone with your bank for PGB ****0001")
	code = sixDigits.FindString(li.expect(1)[0])
	mustContain(t, li.one(code), "Now send your new PIN")
	mustContain(t, li.one("PIN 739104 739104"), "Your PIN is changed")
	mustContain(t, li.one("PIN 482915 581937 581937"), "Wrong PIN or code")
	mustContain(t, li.one("PIN 739104 581937 581937"), "Your PIN is changed")

	// Helpful answers.
	mustContain(t, li.one("LINK PGB"), "LINK <bank> <account>")
	mustContain(t, li.one("OK 581937"), "Nothing is waiting")
	mustContain(t, li.one("CANCEL"), "nothing to cancel")
}

// TestLinkChinese: the same flow in Chinese.
func TestLinkChinese(t *testing.T) {
	w := newWorld(t)
	wang := w.phone("+8613900139000")
	mustContain(t, wang.one("绑定 PGB 6222020000000002"), "正在向银行核实PGB ****0002")
	msg := wang.expect(1)[0]
	mustContain(t, msg, "paygate验证码")
	mustContain(t, wang.one(sixDigits.FindString(msg)), "已绑定：PGB ****0002（W*** F***）")
	mustContain(t, wang.one("密码 482915 482915"), "密码已设置")
	mustContain(t, wang.one("账户"), "第1个：PGB ****0002（默认）")
	mustContain(t, wang.one("语言 中文"), "已改为中文回复")
	mustContain(t, wang.one("账户 3"), "没有第3个账户")
}

// TestCodeRulesEndToEnd: RELIABILITY S2 for link codes, over SMPP: a code
// expires at 5 minutes + 1 s, is single use, fails for another LINK, and
// RESEND kills the old one without resetting the counter.
func TestCodeRulesEndToEnd(t *testing.T) {
	w := newWorld(t)
	li := w.phone("+8613800138000")
	code := li.link("6222020000000001", "")
	w.clock.add(5*time.Minute + time.Second)
	mustContain(t, li.one(code), "expired after 5 minutes")

	old := li.link("6222020000000001", "")
	mustContain(t, li.one("RESEND"), "paygate code")
	fresh := sixDigits.FindString(li.w.sim.ReceivedTexts(li.num)[li.seen-1])
	if fresh == old {
		t.Skip("the same code drawn twice")
	}
	mustContain(t, li.one(old), "Wrong PIN or code")
	mustContain(t, li.one(fresh), "Linked: PGB ****0001")
	mustContain(t, li.one(fresh), "That code was used already") // not a failure
	mustContain(t, li.one("PIN 482915 482915"), "Your PIN is set")

	// A code for one LINK fails for another.
	if err := w.bank.Open(banksim.Account{Bank: "PGB", Number: "6222020000000012", Holder: "Li Wei", Phone: "+8613800138000"}); err != nil {
		t.Fatal(err)
	}
	if err := w.bank.Open(banksim.Account{Bank: "PGB", Number: "6222020000000013", Holder: "Li Wei", Phone: "+8613800138000"}); err != nil {
		t.Fatal(err)
	}
	first := li.link("6222020000000012", "482915")
	li.link("6222020000000013", "482915")
	mustContain(t, li.one(first), "Wrong PIN or code") // 2nd failure in a row
	mustContain(t, li.one("ACCOUNTS"), "1 PGB ****0001 (default)")
}

// TestUntrustedBindRefused: RELIABILITY S6: on an untrusted bind, money
// and account commands are refused and nothing counts; a spoofed sender
// on a trusted bind cannot finish a LINK without the code.
func TestUntrustedBindRefused(t *testing.T) {
	w := newWorld(t, func(c *config.Config) { c.SMSC[0].Trusted = false })
	li := w.phone("+8613800138000")
	for _, text := range []string{"LINK PGB 6222020000000001", "SEND 13900139000 5", "PAY SHOP01 5", "BAL", "OK 482915", "PIN 482915 482915", "123456", "STOP"} {
		mustContain(t, li.one(text), "cannot be made through the network")
	}
	mustContain(t, li.one("HELP"), "Commands:")
	if got := w.bank.Stats(); got.Requests != 0 {
		t.Fatalf("the bank was asked %d times", got.Requests)
	}
}

// TestSpoofedSenderWithoutCode: a spoofed sender on a trusted bind can
// start a LINK but never finish it without the code the real phone got;
// its guesses lock the phone rather than link it.
func TestSpoofedSenderWithoutCode(t *testing.T) {
	w := newWorld(t)
	li := w.phone("+8613800138000")
	li.link("6222020000000001", "")
	for i, guess := range []string{"000000", "123456", "999999"} {
		got := li.one(guess)
		if i < 2 {
			mustContain(t, got, "Wrong PIN or code")
		} else {
			mustContain(t, got, "locked until")
		}
	}
	mustContain(t, li.one("ACCOUNTS"), "no linked bank account")
}
