package gateway_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// TestS4CanariesNeverLeak is RELIABILITY S4 over real SMPP and the bank
// simulator over HTTP: many phones, each with its own canary account
// numbers (opened at the bank with the phone on file) and canary PINs,
// run complete interactions at once — LINK and its code (with RESEND and
// the dead code), PIN set and changes right and wrong, a second LINK
// confirmed with the PIN, UNLINK with a wrong then the right PIN,
// RESETPIN with its code, malformed commands carrying the secrets, the
// same in Chinese — while the bank fails some verify requests (so that
// the connector's retries log). Every code the phones receive joins the
// canaries. Then no PIN, code, wrong guess or full account number may
// appear in the gateway's logs (JSON, debug level), the simulators'
// logs, the metrics, or any byte of any file in the data directory
// (database, WAL, shared memory) — as ASCII, UTF-16, full-width digits
// or hex — and every code SMS must have been stored sealed (empty body)
// and its sealed text erased once delivered.
//
// Meanwhile other phones do it all on USSD screens, over SMPP
// (ussd_service_op) and over the aggregator callback (POST /ussd, whose
// every request repeats the session's inputs, PINs and codes included):
// link with the code typed on a screen, the first PIN (twice, once
// differing), a SEND with a wrong then the right PIN and the code typed,
// a PIN change. The PINs typed wait between screens in the USSD session
// rows, which the store seals (migration 0007): no canary of theirs may
// be found in clear either.
func TestS4CanariesNeverLeak(t *testing.T) {
	const phones = 100
	const ussdPhones = 8 // over each USSD transport
	// The hash cost has nothing to do with what is stored or logged. At
	// the shipped argon2id cost (19 MiB, ~70 ms a check under -race, one
	// per core) the ~1,400 PIN checks of this test would take minutes on
	// two cores, and PIN steps would wait in the pool past the SMSC's
	// response timeout. The shipped cost is BenchmarkPINVerify's.

	seed := uint64(time.Now().UnixNano())
	t.Logf("canary seed %d", seed)
	canon := newCanaries(seed)
	cw := newCanaryWorld(t)

	// The USSD phones send money to this one; its link code is counted
	// with the others (it is stored sealed too).
	const payeeNum = "8613970000000"
	if err := cw.bank.Open(banksim.Account{Bank: "PGB", Number: "6222029700000001", Holder: "Canary Payee",
		Phone: "+" + payeeNum, Balance: 100_000}); err != nil {
		t.Fatal(err)
	}
	payee := cw.phone(payeeNum)
	payeeCode := payee.link("6222029700000001", "")
	canon.code(payeeCode, payeeNum)
	mustContain(t, payee.one(payeeCode), "Linked: PGB ****0001")

	// Every phone gets its canaries and its accounts at the bank.
	cps := make([]*canaryPhone, phones)
	for i := range cps {
		cp := &canaryPhone{
			sim:   cw.sim,
			num:   fmt.Sprintf("861395%07d", 2000000+i),
			canon: canon,
		}
		for j := range cp.pins {
			cp.pins[j] = canon.pin(fmt.Sprintf("phone %d PIN %d", i, j+1))
		}
		for j := range cp.wrong {
			cp.wrong[j] = canon.pin(fmt.Sprintf("phone %d wrong guess %d", i, j+1))
		}
		for j := range cp.accts {
			cp.accts[j] = canon.account(fmt.Sprintf("phone %d account %d", i, j+1))
			if err := cw.bank.Open(banksim.Account{Bank: "PGB", Number: flows.AccountNumber(cp.accts[j]),
				Holder: "Canary Holder", Phone: flows.MSISDN("+" + cp.num), Balance: 100_000}); err != nil {
				t.Fatal(err)
			}
		}
		cps[i] = cp
	}
	ups := make([]*ussdCanary, 2*ussdPhones)
	for i := range ups {
		u := &ussdCanary{cw: cw, num: fmt.Sprintf("861396%07d", 3000000+i), http: i%2 == 1, payee: "+" + payeeNum, canon: canon}
		for j := range u.pins {
			u.pins[j] = canon.pin(fmt.Sprintf("USSD phone %d PIN %d", i, j+1))
		}
		for j := range u.wrong {
			u.wrong[j] = canon.pin(fmt.Sprintf("USSD phone %d wrong guess %d", i, j+1))
		}
		u.acct = canon.account(fmt.Sprintf("USSD phone %d account", i))
		if err := cw.bank.Open(banksim.Account{Bank: "PGB", Number: flows.AccountNumber(u.acct),
			Holder: "Canary Holder", Phone: flows.MSISDN("+" + u.num), Balance: 100_000}); err != nil {
			t.Fatal(err)
		}
		ups[i] = u
	}
	// The bank fails some verify requests, each fault followed by two
	// good answers (the breaker stays closed): the connector retries and
	// logs each retry at debug with its error.
	var script []banksim.Fault
	for _, f := range []banksim.Fault{banksim.FaultErrorBefore, banksim.FaultDropBefore, banksim.FaultErrorAfter,
		banksim.FaultBadSignature, banksim.FaultStaleSignature, banksim.FaultDropAfter, banksim.FaultDuplicate} {
		for range 3 {
			script = append(script, f, banksim.FaultNone, banksim.FaultNone)
		}
	}
	if err := cw.bank.Faults().Script(banksim.RouteVerify, script...); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	var wg sync.WaitGroup
	for _, cp := range cps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp.run()
		}()
	}
	for _, u := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u.run()
		}()
	}
	// Senders that are not phones cannot be answered, and are logged.
	for i := range 3 {
		if _, err := cw.sim.InjectText("PAYGATE"+fmt.Sprint(i), "3030", "OK "+cps[i].pins[0], false); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	flowsRun := 0
	for _, cp := range cps {
		if cp.err != nil {
			t.Error(cp.err)
			cw.explain(t, cp.num)
		}
		flowsRun += cp.flows
	}
	ussdScreens := 0
	for _, u := range ups {
		if u.err != nil {
			t.Error(u.err)
		}
		ussdScreens += u.screens
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d phones ran %d flows, %d phones %d USSD screens, in %v; %d canaries (%d codes received)", phones, flowsRun,
		len(ups), ussdScreens, time.Since(start).Round(time.Millisecond), canon.count(), canon.codes.Load())
	if flowsRun < 1000 {
		t.Fatalf("%d flows, want at least 1,000", flowsRun)
	}
	if inj := cw.bank.Faults().Injected(); len(inj) == 0 {
		t.Fatal("the bank injected no faults")
	}

	// Every MT leaves and its receipt comes back: nothing queued, nothing
	// sent and waiting for its receipt.
	cw.waitOutboxFinal(t)
	for _, cp := range cps {
		if got := cw.sim.ReceivedTexts(cp.num); len(got) > cp.seen {
			t.Fatalf("%s: %d unexpected texts, the first %.200q", cp.num, len(got)-cp.seen, got[cp.seen])
		}
	}
	for _, u := range ups {
		if _, sms := u.mts(); len(sms) > u.sms {
			t.Fatalf("%s: %d unexpected texts, the first %.200q", u.num, len(sms)-u.sms, sms[u.sms])
		}
	}

	// What the phones got: a code only in its own code SMS, never a PIN
	// or a full account number — on no USSD screen either.
	got := map[string][]string{}
	for _, cp := range cps {
		got[cp.num] = cp.texts
	}
	for _, u := range ups {
		got[u.num] = u.texts
	}
	for num, texts := range got {
		for _, text := range texts {
			code := ""
			if isCodeSMS(text) {
				code = sixDigits.FindString(text)
			}
			for _, hit := range canon.find([]byte(text)) {
				if hit.value != code {
					t.Errorf("%s received %.200q: it holds %s", num, text, hit.what)
				}
			}
		}
	}

	resp, err := http.Get("http://" + cw.gw.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(metrics), "paygate_") {
		t.Fatalf("no paygate metrics: %.200q", metrics)
	}
	places := map[string][]byte{"metrics (names and labels)": metricLabels(metrics)}
	cw.readDataDir(t, "live", places)
	if len(places["live paygate.db-wal"]) == 0 {
		t.Fatal("no WAL to look in: the database was not written")
	}

	cw.stop()
	cw.readDataDir(t, "closed", places)
	places["gateway logs"] = []byte(cw.logs.String())
	places["SMSC simulator logs"] = []byte(cw.simLogs.String())
	places["bank simulator logs"] = []byte(cw.bankLogs.String())
	if !strings.Contains(cw.logs.String(), "bank request retrying") {
		t.Fatalf("the gateway did not log the bank's faults: %.300q", cw.logs.String())
	}
	names := make([]string, 0, len(places))
	for name := range places {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b := places[name]
		hits := canon.find(b)
		for i, hit := range hits {
			if i == 5 {
				t.Errorf("%s: %d more", name, len(hits)-i)
				break
			}
			t.Errorf("%s holds %s (%s) in clear: …%q…", name, hit.what, hit.enc, context40(b, hit.at))
		}
		if len(hits) == 0 {
			t.Logf("%s: %d bytes, no canary", name, len(b))
		}
	}
	for _, name := range []string{"gateway logs", "SMSC simulator logs", "bank simulator logs"} {
		if i := strings.Index(strings.ToLower(string(places[name])), "panic"); i >= 0 {
			t.Errorf("%s mention a panic: …%q…", name, context40(places[name], i))
		}
	}
	cw.checkOutboxRows(t, int(canon.codes.Load()))
	cw.checkUSSDRows(t, 2*ussdPhones)
}

// canaryPhone is one handset of the S4 test, driven from its own
// goroutine: it records its first failure instead of stopping the test.
type canaryPhone struct {
	sim   *smsc.Server
	num   string // as the SMSC writes it: international, no "+"
	canon *canaries
	pins  [5]string
	wrong [4]string
	accts [3]string

	seen  int
	texts []string
	flows int
	err   error
}

// run is the phone's script: about 30 complete interactions.
func (c *canaryPhone) run() {
	p, a, w := c.pins, c.accts, c.wrong
	l4 := func(acct string) string { return "PGB ****" + acct[len(acct)-4:] }

	// LINK: a code, a fresh one by RESEND; the first is dead now.
	c.say("LINK PGB "+a[0], "We are checking "+l4(a[0]))
	dead := c.code()
	fresh := c.codeAfter("RESEND")
	c.say(dead, "Wrong PIN or code")
	c.flow()
	c.say(fresh, "Linked: "+l4(a[0])+" (C***** H*****). Now set your PIN")
	c.flow()
	c.say("PIN "+p[0]+" "+p[1], "not the same") // malformed: no PIN set
	c.flow()
	c.say("PIN "+p[0]+" "+p[0], "Your PIN is set")
	c.flow()
	c.say("PIN "+p[1]+" "+p[1], "You have a PIN already")
	c.flow()
	c.say("PIN "+p[0]+" "+p[1]+" "+p[1], "Your PIN is changed")
	c.flow()
	c.say("PIN "+p[0]+" "+p[2]+" "+p[2], "Wrong PIN or code") // the old PIN
	c.flow()

	// A second account, confirmed with the PIN; a wrong code first.
	c.say("LINK PGB "+a[1], "send OK <PIN>")
	c.say("OK "+p[1], "We are checking "+l4(a[1]))
	code := c.code()
	c.say(w[0], "Wrong PIN or code")
	c.flow()
	c.say(code, "Linked: "+l4(a[1]))
	c.flow()
	c.say("ACCOUNTS", "1 "+l4(a[0])+" (default); 2 "+l4(a[1]))
	c.flow()
	c.say("DEFAULT 2", "Payments now use "+l4(a[1]))
	c.flow()

	// UNLINK: a wrong PIN, then the right one.
	c.say("UNLINK 2", "To remove "+l4(a[1]))
	c.say("OK "+p[0], "Wrong PIN or code")
	c.flow()
	c.say("OK "+p[1], "Removed: "+l4(a[1]))
	c.flow()

	// RESETPIN: the bank confirms the phone, a code, the new PIN.
	c.say("RESETPIN", "We are checking this phone with your bank for "+l4(a[0]))
	code = c.code()
	c.say(code, "Now send your new PIN")
	c.say("PIN "+p[2]+" "+p[2], "Your PIN is changed")
	c.flow()

	// Malformed commands and answers to nothing, carrying secrets.
	for _, m := range []struct{ text, want string }{
		{"OK " + p[2] + " " + p[2], "OK <PIN>"},
		{"OK " + p[2][:2] + " " + p[2][2:4] + " " + p[2][4:], "OK <PIN>"},
		{"PIN 5821 9374", "not the same"},
		{"PIN " + p[2] + " " + p[3] + " " + p[3] + " " + p[3], "PIN <"},
		{"LINK PGB " + a[2] + "!", "LINK <bank> <account>"},
		{"LINK " + a[2], "LINK <bank> <account>"},
		{"LINK PGB" + a[2], "LINK <bank> <account>"},
		{"xyzzy " + p[2], ""},
		{code + " " + code, ""},
		{"HELP " + p[2], ""},
		{w[1], "Nothing is waiting"},
		{"OK " + p[2], "Nothing is waiting"},
		{"ＯＫ " + fullWidth(p[2]), "Nothing is waiting"},
		{"CANCEL " + p[2], ""},
	} {
		c.say(m.text, m.want)
		c.flow()
	}

	// The same in Chinese.
	c.say("密码 "+p[2]+" "+p[3]+" "+p[3], "密码已修改")
	c.flow()
	c.say("绑定 PGB "+a[2], "确认 <密码>")
	c.say("确认 "+p[3], "正在向银行核实")
	code = c.code()
	c.say(w[2], "密码或验证码错误")
	c.flow()
	c.say(code, "已绑定")
	c.flow()
	c.say("解绑 2", "解绑")
	c.say("确认 "+p[2], "密码或验证码错误")
	c.flow()
	c.say("确认 "+p[3], "已解绑")
	c.flow()
	c.say("绑定 PGB "+a[2]+"#", "")
	c.flow()
	c.say("密码 "+p[3]+" "+p[4], "")
	c.flow()
	c.say("确认 "+p[3]+" "+w[3], "")
	c.flow()
	c.say("密码 "+p[3]+" "+p[4]+" "+p[4], "密码已修改")
	c.flow()
}

func (c *canaryPhone) flow() {
	if c.err == nil {
		c.flows++
	}
}

func (c *canaryPhone) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("%s: "+format, append([]any{c.num}, args...)...)
	}
}

// say sends text and returns the one reply, which must contain want.
func (c *canaryPhone) say(text, want string) string {
	if c.err != nil {
		return ""
	}
	if _, err := c.sim.InjectText(c.num, "3030", text, false); err != nil {
		c.fail("%v", err)
		return ""
	}
	got := c.next(text)

	if c.err == nil && !strings.Contains(got, want) {
		c.fail("%.80q answered %.200q, want %q", text, got, want)
	}
	return got
}

// code waits for the next text, an SMS carrying a code, and returns the
// code.
func (c *canaryPhone) code() string { return c.codeIn(c.next("(a code)")) }

// codeAfter sends text, whose reply is an SMS carrying a code.
func (c *canaryPhone) codeAfter(text string) string { return c.codeIn(c.say(text, "")) }

func (c *canaryPhone) codeIn(msg string) string {
	if c.err != nil {
		return ""
	}
	code := sixDigits.FindString(msg)
	if !isCodeSMS(msg) || code == "" {
		c.fail("no code in %.200q", msg)
	}
	return code
}

// next waits for the next text to the phone.
func (c *canaryPhone) next(after string) string {
	if c.err != nil {
		return ""
	}
	// Generous: on a loaded 2-core machine the scripted bank faults can
	// cluster, open the connector's breaker (30 s) and hold verifies back
	// until it closes. This test is about leaks, not latency.
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	defer cancel()
	for {
		mts := len(c.sim.Received(c.num))
		if got := c.sim.ReceivedTexts(c.num); len(got) > c.seen {
			text := got[c.seen]
			c.seen++
			c.texts = append(c.texts, text)
			if isCodeSMS(text) {
				c.canon.code(sixDigits.FindString(text), c.num)
			}
			return text
		}
		if _, err := c.sim.WaitReceived(ctx, c.num, mts+1); err != nil {
			c.fail("no reply to %.80q: %v", after, err)
			return ""
		}
	}
}

func isCodeSMS(text string) bool {
	return strings.Contains(text, "paygate code") || strings.Contains(text, "paygate验证码")
}

// fullWidth writes ASCII digits as full-width ones (U+FF10…), as some
// handsets type them.
func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r - '0' + '０')
	}
	return b.String()
}

// canaries are the secrets of the test: 6-digit ones (PINs, codes, wrong
// guesses) and account numbers, each with what it is.
type canaries struct {
	mu    sync.Mutex
	rng   *rand.Rand
	short map[string]string
	long  map[string]string
	codes atomic.Int64
}

func newCanaries(seed uint64) *canaries {
	return &canaries{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), short: map[string]string{}, long: map[string]string{}}
}

// pin draws a new 6-digit canary the gateway accepts as a PIN: not
// trivial, not drawn before.
func (c *canaries) pin(what string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		p := fmt.Sprintf("%06d", 100000+c.rng.IntN(900000))
		if _, dup := c.short[p]; dup || flows.ValidatePIN(p, 6) != nil {
			continue
		}
		c.short[p] = what
		return p
	}
}

// account draws a new account number of 16 to 19 digits.
func (c *canaries) account(what string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		n := 16 + c.rng.IntN(4)
		var b strings.Builder
		b.WriteString("62")
		for b.Len() < n {
			b.WriteByte(byte('0' + c.rng.IntN(10)))
		}
		if _, dup := c.long[b.String()]; !dup {
			c.long[b.String()] = what
			return b.String()
		}
	}
}

// code adds a one-time code a phone received.
func (c *canaries) code(code, phone string) {
	if len(code) != 6 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, known := c.short[code]; !known {
		c.short[code] = "the code sent to " + phone
	}
	c.codes.Add(1)
}

func (c *canaries) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.short) + len(c.long)
}

// hit is a canary found in some bytes.
type hit struct {
	value, what, enc string
	at               int
}

// find looks for every canary in b. Digits are read in runs — as ASCII,
// as UTF-16 of either byte order, as full-width UTF-8 and as the hex of
// ASCII — and a 6-digit canary counts when it is a whole run (a PIN is
// not found inside a longer number, such as a timestamp), an account
// number anywhere in a run.
func (c *canaries) find(b []byte) []hit {
	c.mu.Lock()
	defer c.mu.Unlock()
	var hits []hit
	check := func(run []byte, at int, enc string) {
		if len(run) == 6 {
			if what, ok := c.short[string(run)]; ok {
				hits = append(hits, hit{string(run), what, enc, at})
			}
		}
		for n := 16; n <= 19 && n <= len(run); n++ {
			for i := 0; i+n <= len(run); i++ {
				if what, ok := c.long[string(run[i:i+n])]; ok {
					hits = append(hits, hit{string(run[i : i+n]), what, enc, at})
				}
			}
		}
	}
	digitRuns(b, check)
	return hits
}

// digitRuns calls fn with every maximal run of decimal digits in b in
// each encoding, and where it starts.
func digitRuns(b []byte, fn func(run []byte, at int, enc string)) {
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	// runs scans b with a decoder that reads one digit of width w at i.
	runs := func(start, w int, enc string, digit func(i int) (byte, bool)) {
		var run []byte
		at := 0
		for i := start; ; i += w {
			d, ok := byte(0), false
			if i+w <= len(b) {
				d, ok = digit(i)
			}
			if ok {
				if len(run) == 0 {
					at = i
				}
				run = append(run, d)
				continue
			}
			if len(run) >= 6 {
				fn(run, at, enc)
			}
			run = run[:0:0]
			if i+w > len(b) {
				return
			}
		}
	}
	ascii := func(i int) (byte, bool) { return b[i], isDigit(b[i]) }
	runs(0, 1, "ASCII", ascii)
	for off := range 2 {
		runs(off, 2, "UTF-16BE", func(i int) (byte, bool) { return b[i+1], b[i] == 0 && isDigit(b[i+1]) })
		runs(off, 2, "UTF-16LE", func(i int) (byte, bool) { return b[i], b[i+1] == 0 && isDigit(b[i]) })
		runs(off, 2, "hex of ASCII", func(i int) (byte, bool) { return b[i+1], b[i] == '3' && isDigit(b[i+1]) })
	}
	for off := range 3 {
		runs(off, 3, "full-width", func(i int) (byte, bool) {
			return b[i+2] - 0x90 + '0', b[i] == 0xEF && b[i+1] == 0xBC && b[i+2] >= 0x90 && b[i+2] <= 0x99
		})
	}
}

func context40(b []byte, at int) string {
	lo, hi := max(0, at-40), min(len(b), at+40)
	return string(b[lo:hi])
}

// metricLabels keeps what a metric could leak through: comments, names
// and labels, not the sample values (floats whose digits are noise).
func metricLabels(text []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(text), "\n") {
		if !strings.HasPrefix(line, "#") {
			if i := strings.LastIndexByte(line, ' '); i >= 0 {
				line = line[:i]
			}
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

// canaryWorld is a world whose gateway and simulators log JSON at debug
// level into buffers the test reads.
type canaryWorld struct {
	*world
	dir                     string
	logs, simLogs, bankLogs *lockedBuffer
}

func newCanaryWorld(t *testing.T) *canaryWorld {
	t.Helper()
	cw := &canaryWorld{logs: &lockedBuffer{}, simLogs: &lockedBuffer{}, bankLogs: &lockedBuffer{}}
	jsonLog := func(b *lockedBuffer) *slog.Logger {
		return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cw.world = newWorldWith(t, worldOptions{
		// A generous response timeout: on a slow machine a redelivered
		// MO would be a new message under the tests' 1 ms dedupe window.
		sim: smsc.Config{RetryInterval: 100 * time.Millisecond, ResponseTimeout: 30 * time.Second,
			DLR: true, Logger: jsonLog(cw.simLogs)},
		noDemo: true, log: jsonLog(cw.logs), bankLog: jsonLog(cw.bankLogs),
		// The hash cost changes nothing of what is stored or logged; the
		// shipped cost under -race would queue checks past the SMSC's
		// patience.
		pinHash: flows.Argon2Params{Time: 1, MemoryKiB: 256, Threads: 1, KeyLen: 32},
	}, withUSSDHTTP(t, true))
	cw.dir = cw.world.dir
	return cw
}

// readDataDir reads every file in the data directory into places, its
// name prefixed.
func (cw *canaryWorld) readDataDir(t *testing.T, prefix string, places map[string][]byte) {
	t.Helper()
	entries, err := os.ReadDir(cw.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cw.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		places[prefix+" "+e.Name()] = b
	}
}

func (cw *canaryWorld) openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(cw.dir, "paygate.db")+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// explain logs what the gateway did for a phone whose test failed: its
// bank requests and its MTs, in order.
func (cw *canaryWorld) explain(t *testing.T, num string) {
	t.Helper()
	db := cw.openDB(t)
	defer db.Close()
	rows, err := db.Query(`SELECT kind, state, attempts, last_error, created_at, done_at, next_at FROM bank_outbox
		WHERE phone = ? ORDER BY created_at`, "+"+num)
	if err != nil {
		t.Log(err)
		return
	}
	for rows.Next() {
		var kind, state, lastErr string
		var attempts int
		var created, done, next int64
		if err := rows.Scan(&kind, &state, &attempts, &lastErr, &created, &done, &next); err != nil {
			t.Log(err)
			break
		}
		t.Logf("  bank %s %s attempts %d created %s done +%v next +%v: %q", kind, state, attempts,
			time.UnixMicro(created).Format("15:04:05.000"), time.Duration(done-created)*time.Microsecond,
			time.Duration(next-created)*time.Microsecond, lastErr)
	}
	rows.Close()
	rows, err = db.Query(`SELECT state, attempts, last_error, created_at, sent_at, body = '' FROM mt_outbox
		WHERE phone = ? ORDER BY id`, "+"+num)
	if err != nil {
		t.Log(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var state, lastErr string
		var attempts int
		var created, sent int64
		var sealed bool
		if err := rows.Scan(&state, &attempts, &lastErr, &created, &sent, &sealed); err != nil {
			t.Log(err)
			return
		}
		t.Logf("  mt %s attempts %d created %s sent +%v sealed %v: %q", state, attempts,
			time.UnixMicro(created).Format("15:04:05.000"), time.Duration(sent-created)*time.Microsecond, sealed, lastErr)
	}
}

// waitOutboxFinal waits until every MT has left and has its receipt.
func (cw *canaryWorld) waitOutboxFinal(t *testing.T) {
	t.Helper()
	db := cw.openDB(t)
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		depth, err := cw.gw.DB().QueueDepth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var waiting int
		if err := db.QueryRow(`SELECT COUNT(*) FROM mt_outbox WHERE state IN ('queued', 'sent')`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if depth == 0 && waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d MTs queued, %d queued or waiting for a receipt", depth, waiting)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkUSSDRows: the USSD sessions over POST /ussd are kept as ended
// (want: two a phone), and every session row is sealed: no JSON, no
// field name of ussd.Session in its state.
func (cw *canaryWorld) checkUSSDRows(t *testing.T, want int) {
	t.Helper()
	db := cw.openDB(t)
	defer db.Close()
	rows, err := db.Query(`SELECT state FROM ussd_sessions`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var state []byte
		if err := rows.Scan(&state); err != nil {
			t.Fatal(err)
		}
		n++
		// Sealed bytes start with a random nonce, so a first byte of
		// '{' proves nothing (1 row in 256); JSON as a whole does.
		if json.Valid(state) || bytes.Contains(state, []byte(`"state"`)) {
			t.Errorf("a USSD session row is not sealed: %.80q", state)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Errorf("%d USSD session rows, want the %d ended sessions of the aggregator", n, want)
	}
}

// checkOutboxRows: every SMS carrying a code was stored sealed, with no
// body, and its sealed text is gone now that it is delivered; the bank
// outbox keeps no request it has answered.
func (cw *canaryWorld) checkOutboxRows(t *testing.T, codes int) {
	t.Helper()
	db := cw.openDB(t)
	defer db.Close()
	rows, err := db.Query(`SELECT state, body = '', body_sealed IS NOT NULL, COUNT(*) FROM mt_outbox GROUP BY 1, 2, 3`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	sealedBodies := 0
	for rows.Next() {
		var state string
		var empty, sealed bool
		var n int
		if err := rows.Scan(&state, &empty, &sealed, &n); err != nil {
			t.Fatal(err)
		}
		t.Logf("mt_outbox: state %s, empty body %v, sealed text kept %v: %d", state, empty, sealed, n)
		if sealed {
			t.Errorf("%d MTs in state %s keep their sealed text", n, state)
		}
		if state != "delivered" {
			t.Errorf("%d MTs in state %s", n, state)
		}
		if empty {
			sealedBodies += n
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if sealedBodies != codes {
		t.Errorf("%d MTs stored without a clear body, %d code SMS received", sealedBodies, codes)
	}
	var kept int
	if err := db.QueryRow(`SELECT COUNT(*) FROM bank_outbox WHERE payload IS NOT NULL`).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != 0 {
		t.Errorf("%d bank requests keep their sealed payload", kept)
	}
}

// ussdCanary is a handset of the S4 test that does everything on USSD
// screens, over SMPP or over POST /ussd, from its own goroutine: it
// records its first failure instead of stopping the test.
type ussdCanary struct {
	cw    *canaryWorld
	num   string // international, no "+"
	http  bool   // POST /ussd, else SMPP
	payee string
	canon *canaries
	pins  [3]string
	wrong [2]string
	acct  string

	n       int      // sessions dialled
	session []byte   // SMPP: the session TLV
	inputs  []string // HTTP: the session's inputs so far
	screens int      // screens seen
	sms     int      // SMS seen
	texts   []string // every screen and SMS, for the leak check
	err     error
}

// run is the phone's script.
func (u *ussdCanary) run() {
	p, w, a := u.pins, u.wrong, u.acct
	l4 := "PGB ****" + a[len(a)-4:]

	// Link, the code typed on the next screen (a wrong one first).
	u.dial("Welcome to paygate")
	u.say("1", "Bank code")
	u.say("PGB", "Account number at PGB")
	u.say(a, "We are checking "+l4)
	code := u.code()
	u.say(w[0], "Wrong PIN or code")
	u.say(code, "Linked: "+l4, "Set your paygate PIN")
	// The first PIN: twice, once differing.
	u.say(p[0], "Enter the same PIN again")
	u.say(p[1], "The two PINs differ")
	u.say(p[0], "Enter the same PIN again")
	u.say(p[0], "Your PIN is set", "1 Send money")
	// SEND: a wrong PIN, the right one, the code typed.
	u.say("1", "Payee's phone number")
	u.say(u.payee, "Amount in CNY")
	u.say("5", "Send 5.00 CNY to C***** P****")
	u.say(w[1], "Wrong PIN or code")
	u.say(p[0], "A code is on its way by SMS")
	code = u.code()
	u.end(code, "Confirmed: 5.00 CNY to C***** P****")
	u.nextSMS("Paid 5.00 CNY to C***** P****")
	// Change the PIN.
	u.dial("1 Send money")
	u.say("6", "Current PIN")
	u.say(p[0], "New PIN")
	u.say(p[2], "New PIN again")
	u.end(p[2], "Your PIN is changed")
}

func (u *ussdCanary) fail(format string, args ...any) {
	if u.err == nil {
		transport := "SMPP"
		if u.http {
			transport = "HTTP"
		}
		u.err = fmt.Errorf("%s (USSD over %s): "+format, append([]any{u.num, transport}, args...)...)
	}
}

// dial starts a session; its first screen must say want.
func (u *ussdCanary) dial(want string) {
	if u.err != nil {
		return
	}
	u.n++
	u.inputs = nil
	u.session = []byte{0x40 + byte(u.n), 0x02}
	u.check("(dial)", u.send(smpp.USSDPSSRIndication, "*384#"), false, want)
}

// say answers the screen with in; the next screen goes on and says want.
func (u *ussdCanary) say(in string, want ...string) {
	if u.err != nil {
		return
	}
	u.check(in, u.send(smpp.USSDUSSRConfirm, in), false, want...)
}

// end answers the screen with in; the next screen ends the session.
func (u *ussdCanary) end(in string, want ...string) {
	if u.err != nil {
		return
	}
	u.check(in, u.send(smpp.USSDUSSRConfirm, in), true, want...)
}

// send sends one input (SMPP: ussd_service_op op; HTTP: a callback with
// every input so far) and returns the next screen.
func (u *ussdCanary) send(op byte, in string) ussdScreen {
	if !u.http {
		u.cw.sim.InjectUSSD(u.num, "*384#", op, smpp.TagITSSessionInfo, u.session, in)
		return u.nextScreen(in)
	}
	if op == smpp.USSDUSSRConfirm {
		u.inputs = append(u.inputs, in)
	}
	code, body, err := postUSSD(u.cw.gw.HTTPAddr(), ussdToken, fmt.Sprintf("canary-%s-%d", u.num, u.n), "+"+u.num, strings.Join(u.inputs, "*"))
	switch {
	case err != nil:
		u.fail("%v", err)
		return ussdScreen{}
	case code != http.StatusOK || len(body) < 4:
		u.fail("callback answered %d %.200q", code, body)
		return ussdScreen{}
	}
	u.screens++
	u.texts = append(u.texts, body)
	return ussdScreen{text: body[4:], end: strings.HasPrefix(body, "END ")}
}

func (u *ussdCanary) check(in string, sc ussdScreen, end bool, want ...string) {
	if u.err != nil {
		return
	}
	if sc.end != end {
		u.fail("after %.20q the screen %.200q ends %v, want %v", in, sc.text, sc.end, end)
		return
	}
	for _, w := range want {
		if !strings.Contains(sc.text, w) {
			u.fail("after %.20q the screen %.200q does not say %q", in, sc.text, w)
			return
		}
	}
}

// ussdScreen is a USSD screen: its text and whether it ends the session.
type ussdScreen struct {
	text string
	end  bool
}

// mts splits what the SMSC simulator delivered to the phone into USSD
// screens and SMS (reassembled).
func (u *ussdCanary) mts() (screens []ussdScreen, sms []string) {
	r := smpp.NewReassembler(smpp.ReassemblerConfig{})
	for _, mt := range u.cw.sim.Received(u.num) {
		d := smpp.NewDelivery("", mt.PDU)
		if mt.PDU.ServiceType == "USSD" {
			op, _ := mt.PDU.TLVs.Uint(smpp.TagUSSDServiceOp)
			screens = append(screens, ussdScreen{text: d.Text(), end: byte(op) == smpp.USSDPSSRResponse})
			continue
		}
		if d.Parts == 1 {
			sms = append(sms, d.Text())
			continue
		}
		if parts, done, err := r.Add(mt.PDU.Source.Addr, u.num, d.Concat, d.Payload); err == nil && done {
			sms = append(sms, smpp.DecodeText(d.Coding, bytes.Join(parts, nil)))
		}
	}
	return screens, sms
}

// wait waits until ready says so, or fails.
func (u *ussdCanary) wait(what string, ready func() bool) bool {
	// As generous as canaryPhone.next: the bank's faults can hold a
	// verify back for the breaker's 30 s.
	ctx, cancel := context.WithTimeout(context.Background(), 75*time.Second)
	defer cancel()
	for {
		n := len(u.cw.sim.Received(u.num))
		if ready() {
			return true
		}
		if _, err := u.cw.sim.WaitReceived(ctx, u.num, n+1); err != nil {
			u.fail("no %s: %v", what, err)
			return false
		}
	}
}

// nextScreen waits for the SMPP screen after in.
func (u *ussdCanary) nextScreen(in string) ussdScreen {
	var sc ussdScreen
	u.wait(fmt.Sprintf("screen after %.20q", in), func() bool {
		screens, _ := u.mts()
		if len(screens) <= u.screens {
			return false
		}
		sc = screens[u.screens]
		u.screens++
		u.texts = append(u.texts, sc.text)
		return true
	})
	return sc
}

// nextSMS waits for the next SMS, which must say want, and returns it.
func (u *ussdCanary) nextSMS(want string) string {
	if u.err != nil {
		return ""
	}
	var text string
	u.wait("SMS", func() bool {
		_, sms := u.mts()
		if len(sms) <= u.sms {
			return false
		}
		text = sms[u.sms]
		u.sms++
		u.texts = append(u.texts, text)
		if isCodeSMS(text) {
			u.canon.code(sixDigits.FindString(text), u.num)
		}
		return true
	})
	if u.err == nil && !strings.Contains(text, want) {
		u.fail("SMS %.200q, want %q", text, want)
	}
	return text
}

// code waits for the next SMS, one carrying a code, and returns the code.
func (u *ussdCanary) code() string {
	text := u.nextSMS("")
	code := sixDigits.FindString(text)
	if u.err == nil && (!isCodeSMS(text) || code == "") {
		u.fail("no code in %.200q", text)
	}
	return code
}
