package ussd

// The test harness: a real store on SQLite in a temporary directory, the
// real flows engine with cheap argon2 parameters, a clock the tests move,
// and a dialogue helper that runs each event as the gateway does — one
// step for Handle, the PIN work outside any step, a second step for
// Resume.

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

var (
	update = flag.Bool("update", false, "rewrite testdata/screens.golden")
)

var ctx = context.Background()

// t0 is when every test starts.
var t0 = time.Date(2026, 11, 21, 9, 30, 0, 0, time.UTC)

const (
	me          flows.MSISDN        = "+8613800138000" // the phone under test
	other       flows.MSISDN        = "+8613700137001" // a second phone (unregistered)
	payee       flows.MSISDN        = "+8613900139000" // has an account: may receive money
	shopPhone   flows.MSISDN        = "+8613500135000"
	acct1       flows.AccountNumber = "6222020000000001"
	payeeAcct   flows.AccountNumber = "6222020000000099"
	pin1                            = "482915"
	pin2                            = "739104"
	shortCode                       = "3030"
	serviceCode                     = "*384#"
	shopCode                        = "DEMOSHOP1234"
	shopName                        = "Demo Shop"
)

// Fixed keys: a restarted engine must check the PINs and codes of the
// one before it.
var (
	pepper  = bytes.Repeat([]byte{7}, flows.PepperSize)
	codeKey = bytes.Repeat([]byte{9}, 32)
	dataKey = [32]byte{1}
	argon2  = flows.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32}
)

// clock is the tests' time; the store and the requests read it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// noLeases: this process sends nothing itself.
type noLeases struct{}

func (noLeases) Has(int64) bool { return false }
func (noLeases) Len() int       { return 0 }

// env is one gateway as far as USSD goes: store, flows, ussd, clock.
type env struct {
	t    testing.TB
	path string
	clk  *clock
	lang flows.Lang
	db   *store.DB
	fl   *flows.Engine
	pins *flows.PINHasher
	u    *Engine

	sms      map[flows.MSISDN][]string // every SMS sent so far, per phone
	sessions int
	// pinResult, when set, replaces the PIN work's result (a check that
	// could not run in time).
	pinResult func(*flows.PINWork) (flows.PINResult, bool)
}

// newEnv opens a fresh store whose phones read lang unless they chose.
func newEnv(t testing.TB, lang flows.Lang) *env {
	t.Helper()
	e := &env{t: t, path: filepath.Join(t.TempDir(), "p.db"), clk: &clock{now: t0}, lang: lang, sms: map[flows.MSISDN][]string{}}
	e.open()
	if _, err := e.db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	return e
}

// open opens the store on e.path and builds the engines over it.
func (e *env) open() {
	e.t.Helper()
	db, err := store.Open(ctx, "sqlite:"+e.path, store.Options{Keys: store.Keys{DataKey: dataKey}, Now: e.clk.Now})
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
	if e.pins, err = flows.NewPINHasher(pepper, argon2, rand.Reader); err != nil {
		e.t.Fatal(err)
	}
	codes, err := flows.NewCodes(codeKey, rand.Reader)
	if err != nil {
		e.t.Fatal(err)
	}
	e.fl, err = flows.NewEngine(flows.EngineConfig{
		DefaultLang: e.lang, ShortCode: shortCode, Country: "86", Currency: "CNY",
		PINs: e.pins, Codes: codes,
		Limits:  flows.Limits{PerTransfer: 5_000_000, PerDay: 10_000_000},
		SendFee: flows.Fee{Flat: 100}, PayFee: flows.Fee{Percent: 0.5},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.u, err = New(Config{
		Flows: e.fl, ServiceCode: serviceCode, ShortCode: shortCode, Currency: "CNY", Country: "86",
		PINLength: 6, DefaultLang: e.lang, SessionTTL: 180 * time.Second, ScreenTTL: 60 * time.Second,
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// restart closes the store and opens it again with new engines: what a
// process restart (or another instance) sees.
func (e *env) restart() {
	e.t.Helper()
	if err := e.db.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *env) now() time.Time { return e.clk.Now() }

// step runs fn in one step; a panic in it fails the test with its stack
// (the store would turn it into an error).
func (e *env) step(fn func(tx *store.Tx) error) {
	e.t.Helper()
	if err := e.try(fn); err != nil {
		e.t.Fatal(err)
	}
}

// try is step returning the error.
func (e *env) try(fn func(tx *store.Tx) error) error {
	var panicked string
	err := e.db.Step(ctx, func(tx *store.Tx) (err error) {
		defer func() {
			if r := recover(); r != nil {
				panicked = fmt.Sprintf("panic: %v\n%s", r, debug.Stack())
				err = fmt.Errorf("step panicked")
			}
		}()
		return fn(tx)
	})
	if panicked != "" {
		return fmt.Errorf("%s", panicked)
	}
	return err
}

// registered gives phone a PIN and one account per number, the first
// the default, as if it had linked them through the menus.
func (e *env) registered(phone flows.MSISDN, pin string, numbers ...flows.AccountNumber) {
	e.t.Helper()
	hash, err := e.pins.Hash(flows.PIN(pin))
	if err != nil {
		e.t.Fatal(err)
	}
	e.step(func(tx *store.Tx) error {
		if err := tx.SaveSubscriber(ctx, flows.Subscriber{Phone: phone, Created: e.now(), PIN: hash}); err != nil {
			return err
		}
		return e.addAccounts(tx, phone, numbers...)
	})
}

func (e *env) addAccounts(tx *store.Tx, phone flows.MSISDN, numbers ...flows.AccountNumber) error {
	old, err := tx.Accounts(ctx, phone)
	if err != nil {
		return err
	}
	for i, n := range numbers {
		a := flows.Account{Bank: "PGB", Number: n, Holder: "L* W**", Default: len(old) == 0 && i == 0, Linked: e.now()}
		if err := tx.SaveAccount(ctx, phone, &a); err != nil {
			return err
		}
	}
	return nil
}

// payees adds the phone money is sent to (an account, no PIN) and the
// merchant DEMOSHOP1234.
func (e *env) payees() {
	e.t.Helper()
	e.step(func(tx *store.Tx) error {
		if err := tx.SaveSubscriber(ctx, flows.Subscriber{Phone: payee, Created: e.now()}); err != nil {
			return err
		}
		a := flows.Account{Bank: "PGB", Number: payeeAcct, Holder: "W*** F***", Default: true, Linked: e.now()}
		return tx.SaveAccount(ctx, payee, &a)
	})
	err := e.db.AddMerchant(ctx, flows.Merchant{Code: shopCode, Name: shopName, Phone: shopPhone,
		Account: flows.AccountRef{Bank: "PGB", Number: "6222020000009001"}})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) accounts(phone flows.MSISDN) []flows.Account {
	e.t.Helper()
	var as []flows.Account
	e.step(func(tx *store.Tx) (err error) { as, err = tx.Accounts(ctx, phone); return err })
	return as
}

func (e *env) subscriber(phone flows.MSISDN) flows.Subscriber {
	e.t.Helper()
	var s flows.Subscriber
	e.step(func(tx *store.Tx) (err error) { s, err = tx.Subscriber(ctx, phone); return err })
	return s
}

// transfers returns phone's transfers, newest first.
func (e *env) transfers(phone flows.MSISDN) []flows.Transfer {
	e.t.Helper()
	ts, err := e.db.Transfers(ctx, store.TransferFilter{Payer: phone})
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

// lastTransfer is phone's newest transfer.
func (e *env) lastTransfer(phone flows.MSISDN) flows.Transfer {
	e.t.Helper()
	ts := e.transfers(phone)
	if len(ts) == 0 {
		e.t.Fatal("no transfer")
	}
	return ts[0]
}

// drainSMS takes every SMS out of the MT outbox, as sent, into e.sms.
func (e *env) drainSMS() {
	e.t.Helper()
	for {
		ms, err := e.db.ClaimMT(ctx, "t", e.now(), time.Hour, 100, noLeases{})
		if err != nil {
			e.t.Fatal(err)
		}
		if len(ms) == 0 {
			return
		}
		e.step(func(tx *store.Tx) error {
			for _, m := range ms {
				id := fmt.Sprint("m", m.ID)
				if err := tx.MTSent(ctx, m.ID, m.Bind, []string{id}, func(s string) []string { return []string{s} }, e.now()); err != nil {
					return err
				}
			}
			return nil
		})
		for _, m := range ms {
			text, err := e.db.Text(m)
			if err != nil {
				e.t.Fatal(err)
			}
			e.sms[m.Phone] = append(e.sms[m.Phone], text)
		}
	}
}

// smsTo returns the SMS phone got so far.
func (e *env) smsTo(phone flows.MSISDN) []string {
	e.drainSMS()
	return e.sms[phone]
}

var codeSMS = regexp.MustCompile(`(?:code |验证码)(\d{6})`)

// code returns the latest one-time code texted to phone.
func (e *env) code(phone flows.MSISDN) string {
	e.t.Helper()
	texts := e.smsTo(phone)
	for i := len(texts) - 1; i >= 0; i-- {
		if m := codeSMS.FindStringSubmatch(texts[i]); m != nil {
			return m[1]
		}
	}
	e.t.Fatalf("no code texted to %s in %q", phone.Masked(), texts)
	return ""
}

// bankOK is the bank's yes to anything: the account is the phone's, the
// transfer went through, a balance and a statement.
func bankOK(r flows.BankRequest) flows.BankResult {
	return flows.BankResult{Exists: true, PhoneMatches: true, Holder: "Li Wei", Status: flows.TransferCompleted, BankRef: "BK1",
		Available: 1234567, Entries: []flows.StatementEntry{{Time: t0, Amount: -50000, Counterpart: "W*** F***", Reference: "ABCDEFGH"}}}
}

// bank answers every queued bank request with answer and returns the
// requests.
func (e *env) bank(answer func(flows.BankRequest) flows.BankResult) []flows.BankRequest {
	e.t.Helper()
	jobs, err := e.db.ClaimBank(ctx, "t", time.Hour, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	var reqs []flows.BankRequest
	for _, j := range jobs {
		r := j.Request
		reqs = append(reqs, r)
		res := answer(r)
		res.ID, res.Phone, res.Kind = r.ID, r.Phone, r.Kind
		e.step(func(tx *store.Tx) error {
			if err := e.fl.HandleBankResult(ctx, tx, res, e.now()); err != nil {
				return err
			}
			return tx.BankDone(ctx, r.ID)
		})
	}
	return reqs
}

// smsFrom runs text through flows as an SMS from phone on a trusted bind.
func (e *env) smsFrom(phone flows.MSISDN, text string) {
	e.t.Helper()
	in := flows.InboundSMS{From: phone, To: shortCode, Bind: "smsc", Trusted: true, Text: text, At: e.now()}
	var w *flows.PINWork
	e.step(func(tx *store.Tx) (err error) { w, err = e.fl.HandleSMS(ctx, tx, in); return err })
	if w != nil {
		res := e.fl.CheckPIN(w)
		e.step(func(tx *store.Tx) error { return e.fl.ResumeSMS(ctx, tx, in, w, res) })
	}
}

// sess is one USSD dialogue of a phone.
type sess struct {
	e      *env
	r      Request // the template of each event
	inputs []string
	last   Screen // the screen shown last
	// seen is called with each screen (the golden recorder, the checks).
	seen func(s *sess, in string, scr Screen)
}

// sessOpt sets up a session: untrusted, a joined transport, a limit.
type sessOpt func(*sess)

func untrusted(s *sess)                              { s.r.Trusted = false }
func joinedBind(s *sess)                             { s.r.Bind, s.r.Joined = "http", true }
func withLimit(l Limit) sessOpt                      { return func(s *sess) { s.r.Limit = l } }
func onScreen(f func(*sess, string, Screen)) sessOpt { return func(s *sess) { s.seen = f } }

// dial makes a new session of phone on a trusted SMSC bind.
func (e *env) dial(phone flows.MSISDN, opts ...sessOpt) *sess {
	e.sessions++
	s := &sess{e: e, r: Request{Phone: phone, Session: fmt.Sprintf("s%02d", e.sessions), Bind: "smsc-ussd", Trusted: true}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// begin dials the service code (a joined transport: with text, the
// inputs of a shortcut).
func (s *sess) begin(text ...string) Screen {
	s.e.t.Helper()
	r := s.r
	r.Kind, r.Text = Begin, serviceCode
	label := "(dial)"
	if r.Joined {
		r.Text = strings.Join(text, "*")
		s.inputs = append(s.inputs, text...)
		if r.Text != "" {
			label = "(dial) " + r.Text
		}
	}
	return s.do(r, label)
}

// dialled dials text on a transport that names what was dialled (SMPP):
// a shortcut such as *384*1#.
func (s *sess) dialled(text string) Screen {
	s.e.t.Helper()
	r := s.r
	r.Kind, r.Text = Begin, text
	return s.do(r, "(dial) "+text)
}

// send answers the screen with in (a joined transport sends every input
// so far).
func (s *sess) send(in string) Screen {
	s.e.t.Helper()
	r := s.r
	r.Kind, r.Text = Answer, in
	if r.Joined {
		s.inputs = append(s.inputs, in)
		r.Text = strings.Join(s.inputs, "*")
	}
	return s.do(r, in)
}

// resend delivers the last event again (a retried callback).
func (s *sess) resend() Screen {
	s.e.t.Helper()
	r := s.r
	r.Kind, r.Text = Answer, strings.Join(s.inputs, "*")
	return s.do(r, "(again)")
}

// abort ends the session from the network side.
func (s *sess) abort() {
	s.e.t.Helper()
	r := s.r
	r.Kind = Abort
	s.do(r, "(abort)")
}

// do runs one event as the gateway does and returns the screen.
func (s *sess) do(r Request, label string) Screen {
	s.e.t.Helper()
	s.e.clk.Add(2 * time.Second)
	r.At = s.e.now()
	scr, err := s.e.event(r)
	if err != nil {
		s.e.t.Fatalf("%s: %v", label, err)
	}
	if r.Kind != Abort {
		checkScreen(s.e.t, label, scr, r.Limit)
	}
	s.last = scr
	if s.seen != nil {
		s.seen(s, label, scr)
	}
	return scr
}

// paged reports whether the last screen offers 98 More.
func (s *sess) paged() bool {
	return strings.Contains(s.last.Text, "\n"+text(flows.English, tMore, nil)) || strings.Contains(s.last.Text, "\n"+text(flows.Chinese, tMore, nil))
}

// more pages forward to the last page and returns how many pages it
// turned.
func (s *sess) more() int {
	s.e.t.Helper()
	n := 0
	for ; s.paged(); n++ {
		if n > 20 {
			s.e.t.Fatal("98 More never ends")
		}
		s.send("98")
	}
	return n
}

// event runs r: Handle in a step, the PIN work if asked, Resume in a
// second step.
func (e *env) event(r Request) (Screen, error) {
	var st Step
	err := e.try(func(tx *store.Tx) (err error) { st, err = e.u.Handle(ctx, tx, r); return err })
	if err != nil || st.Work == nil {
		return st.Screen, err
	}
	res := e.fl.CheckPIN(st.Work)
	if e.pinResult != nil {
		if r, ok := e.pinResult(st.Work); ok {
			res = r
		}
	}
	var scr Screen
	err = e.try(func(tx *store.Tx) (err error) { scr, err = e.u.Resume(ctx, tx, r, st, res); return err })
	return scr, err
}

// push opens a network-initiated session asking for the PIN of the
// operation pending on phone.
func (e *env) push(phone flows.MSISDN, text string, opts ...sessOpt) (*sess, Screen) {
	e.t.Helper()
	s := e.dial(phone, opts...)
	e.clk.Add(2 * time.Second)
	p := Push{Phone: phone, Session: s.r.Session, Bind: s.r.Bind, Trusted: s.r.Trusted, Text: text, At: e.now(), Limit: s.r.Limit}
	var scr Screen
	e.step(func(tx *store.Tx) (err error) { scr, err = e.u.Push(ctx, tx, p); return err })
	checkScreen(e.t, "(push)", scr, p.Limit)
	s.last = scr
	if s.seen != nil {
		s.seen(s, "(push)", scr)
	}
	return s, scr
}

// state is where the session stands in the store, "" when it ended.
func (s *sess) state() State {
	s.e.t.Helper()
	var st State
	s.e.step(func(tx *store.Tx) error {
		ss, err := load(ctx, tx, s.r.Phone, s.r.Session)
		if err == nil {
			st = ss.State
			return nil
		}
		if errors.Is(err, flows.ErrNotFound) {
			return nil
		}
		return err
	})
	return st
}

// checkScreen holds what every screen must: it fits the limit as
// encoded, has no unfilled placeholder and is not empty (an end screen
// may be, after an abort).
func checkScreen(t testing.TB, label string, scr Screen, l Limit) {
	t.Helper()
	if l == (Limit{}) {
		l = DefaultLimit
	}
	n, gsm := Measure(scr.Text)
	if gsm && n > l.GSM7 || !gsm && n > l.UCS2 {
		t.Errorf("after %q: screen of %d (gsm7 %v) over the limit %+v:\n%s", label, n, gsm, l, scr.Text)
	}
	if strings.ContainsAny(scr.Text, "{}") {
		t.Errorf("after %q: unfilled placeholder in %q", label, scr.Text)
	}
	if strings.TrimSpace(scr.Text) == "" {
		t.Errorf("after %q: empty screen", label)
	}
	for _, secret := range []string{pin1, pin2, string(acct1), string(payeeAcct)} {
		if containsSecret(scr.Text, secret) {
			t.Errorf("after %q: the screen shows a secret: %q", label, scr.Text)
		}
	}
}

// containsSecret reports whether text shows secret other than as an
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

// is fails unless scr is want (and ends when end says so).
func is(t testing.TB, scr Screen, want string, end bool) {
	t.Helper()
	if scr.Text != want || scr.End != end {
		t.Fatalf("screen (end %v):\n%s\nwant (end %v):\n%s", scr.End, scr.Text, end, want)
	}
}

// has fails unless scr holds every part.
func has(t testing.TB, scr Screen, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(scr.Text, p) {
			t.Fatalf("screen\n%s\nlacks %q", scr.Text, p)
		}
	}
}

// en and zh render a screen text as the engine does, with the test
// configuration's values.
func en(key textKey, kv ...string) string { return render(flows.English, key, kv...) }
func zh(key textKey, kv ...string) string { return render(flows.Chinese, key, kv...) }

func render(lang flows.Lang, key textKey, kv ...string) string {
	v := flows.Vars{"pin_length": "6", "currency": "CNY", "service_code": serviceCode, "short_code": shortCode}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = kv[i+1]
	}
	return text(lang, key, v)
}

// note is a screen with a note above it.
func note(n, screen string) string { return n + "\n" + screen }
