package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
)

// `paygate demo` (SPEC.md §1): a sandbox on free ports in a temporary
// directory, and a scripted day played against it over the same
// interfaces a user, a merchant and an operator have — the virtual
// phones of the sandbox (real SMPP behind them), the merchant API, the
// admin API, a webhook receiver that checks signatures, and the bank
// simulator's control API. Every step checks what came back; the first
// that deviates ends the demo with exit 1, naming its scene, so CI
// running the demo is an end-to-end test.

// demoWait bounds every wait of the demo for something asynchronous: an
// SMS, a USSD screen, a webhook, the sandbox's binds. The whole day takes
// seconds; this only decides how long a broken gateway takes to fail.
const demoWait = 20 * time.Second

// Who plays the day: banksim.DemoAccounts' people, and the sandbox's demo
// merchant (DEMO, whose receipts go to 13500135000).
const (
	demoLiPhone    = "13800138000"
	demoLiAccount  = "6222020000000001"
	demoLiPIN      = "482915"
	demoWangPhone  = "13900139000"
	demoWangAcct   = "6222020000000002"
	demoWangPIN    = "739104"
	demoZhangPhone = "13700137000"
	demoZhangAcct  = "6222020000000003"
	demoZhangPIN   = "251736"
	demoShopPhone  = "13500135000"
	demoMerchant   = "DEMO"
	demoOperator   = "demo-operator"
)

func demoCommand() *command {
	return &command{
		name:    "demo",
		summary: "play a scripted day of payments on an in-process sandbox, checking every step",
		help: "Starts a sandbox — the gateway, an SMSC simulator and a bank simulator —\n" +
			"in-process on free ports, with its data in a temporary directory that is\n" +
			"removed at the end, and plays a day in the life of paygate over real SMPP\n" +
			"and HTTP: two people link their bank accounts by SMS (one in Chinese), send\n" +
			"money, pay a merchant, check balance and statement, use the USSD menu\n" +
			"(*384#); the merchant's terminal asks for payments in push and terminal\n" +
			"mode; a forgotten PIN locks a phone and an operator unlocks it. It prints\n" +
			"each phone's screen, the merchant's terminal, webhooks and the operator's\n" +
			"view as it goes.\n\n" +
			"Every step checks its outcome. The demo exits 0 when the whole day went as\n" +
			"scripted, and 1 naming the scene that deviated otherwise. It never touches\n" +
			"a running `paygate serve`, and the PAYGATE_ config variables do not apply:\n" +
			"the script expects the sandbox's defaults.",
		setup: func(fs *flag.FlagSet) action {
			var opts demoOptions
			fs.BoolVar(&opts.quiet, "quiet", false, "print only the scene headers and the summary")
			fs.BoolVar(&opts.verbose, "verbose", false, "log the gateway at --log-level on stderr (default: only its warnings and errors)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				return runDemo(ctx, env, opts)
			}
		},
	}
}

type demoOptions struct {
	quiet   bool
	verbose bool
	wait    time.Duration // how long to wait for each asynchronous answer; 0 is demoWait
}

// demoScene is one part of the day.
type demoScene struct {
	title string
	play  func(d *demoRun)
}

// runDemo plays the day.
func runDemo(ctx context.Context, env *cmdEnv, opts demoOptions) error {
	return playDemo(ctx, env, opts, demoScenes())
}

// playDemo starts the sandbox, plays scenes and stops it all.
func playDemo(ctx context.Context, env *cmdEnv, opts demoOptions, scenes []demoScene) (err error) {
	began := time.Now()
	if opts.wait <= 0 {
		opts.wait = demoWait
	}
	// $TMPDIR as os.TempDir reads it, but from the command's environment.
	tmp := env.getenv("TMPDIR")
	if tmp == "" {
		tmp = os.TempDir()
	}
	dir, err := os.MkdirTemp(tmp, "paygate-demo-")
	if err != nil {
		return fmt.Errorf("creating the demo's directory: %w", err)
	}
	defer os.RemoveAll(dir)

	// An operator for the admin API (admin.token_file, relative to the
	// sandbox's directory).
	token := randomHex(24)
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte(demoOperator+" "+token+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the operator's token: %w", err)
	}
	log := env.log
	if !opts.verbose {
		log = slog.New(minLevel{log.Handler(), slog.LevelWarn})
	}
	// The defaults, not config.Load's environment: the script expects
	// them (English replies, no fees, CNY).
	cfg := config.Default()
	cfg.Secure.Allow = append(cfg.Secure.Allow, config.AllowedMeasurement{Measurement: phoneMeasurement().String(), Label: "paygate phone reference module v1"})
	sb, err := gateway.StartSandbox(ctx, gateway.SandboxOptions{Dir: dir, HTTPListen: "127.0.0.1:0", Logger: log, Config: &cfg})
	if err != nil {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		if cerr := sb.Close(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("stopping the sandbox: %w", cerr)
		}
	}()
	hooks, err := startDemoHooks()
	if err != nil {
		return err
	}
	defer hooks.close()

	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	base := "http://" + sb.Gateway().HTTPAddr()
	d := &demoRun{
		ctx: ctx, out: env.stdout, quiet: opts.quiet, wait: opts.wait, loc: time.UTC, base: base, hc: hc,
		phones: &phoneClient{base: base, hc: hc}, operator: token, hooks: hooks,
	}
	if b := sb.Bank(); b != nil {
		d.bankURL = b.URL()
	}
	if loc, err := time.LoadLocation(sb.Config().Timezone); err == nil {
		d.loc = loc
	}
	d.li = d.phone("Li", demoLiPhone)
	d.wang = d.phone("Wang", demoWangPhone)
	d.zhang = d.phone("Zhang", demoZhangPhone)
	d.shopPhone = d.phone("Shop", demoShopPhone)
	d.shop = &demoTerminal{d: d}

	d.printf("paygate demo: a day of payments, played over real SMPP and HTTP\n")
	d.printf("  gateway %s, SMSC simulator %s, bank simulator %s\n", base, sb.SMSC().Addr(), d.bankURL)
	d.printf("  Li Wei %s and Wang Fang %s bank at PGB; Zhang Min %s too; Demo Shop (%s) texts receipts to %s\n",
		demoLiPhone, demoWangPhone, demoZhangPhone, demoMerchant, demoShopPhone)
	d.waitReady()
	if d.err != nil {
		return fmt.Errorf("the sandbox did not come up: %w", d.err)
	}

	for i, sc := range scenes {
		d.header(fmt.Sprintf("Scene %d/%d: %s", i+1, len(scenes), sc.title))
		sc.play(d)
		if d.err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted in scene %d (%s)", i+1, sc.title)
			}
			return fmt.Errorf("scene %d (%s): %w", i+1, sc.title, d.err)
		}
	}
	c := d.counts
	d.header(fmt.Sprintf("paygate demo: all %d scenes went as scripted in %.1fs: %d texts sent by phones, %d received, "+
		"%d USSD screens, %d merchant API calls, %d signed webhooks, %d operator calls",
		len(scenes), time.Since(began).Seconds(), c.mo, c.mt, c.screens, c.api, c.hooks, c.admin))
	return nil
}

// demoScenes is the script of the day (SPEC.md §5).
func demoScenes() []demoScene {
	return []demoScene{
		{"The shop opens: an operator gives Demo Shop an API key and a webhook", sceneShopOpens},
		{"Li links his bank account by SMS", sceneLiLinks},
		{"Wang links hers, in Chinese", sceneWangLinks},
		{"Li sends Wang 500.00 CNY by SMS: PIN, then the one-time code", sceneSend},
		{"Li pays Demo Shop 25.50 CNY by SMS", scenePay},
		{"Li checks his balance and mini statement", sceneBalance},
		{"Li sends Wang 20.00 CNY on the USSD menu (*384#)", sceneUSSD},
		{"Demo Shop pushes a payment request to Wang's phone (push mode)", scenePush},
		{"Demo Shop's terminal: Wang's PIN on the keypad, her code by SMS, one digit mistyped", sceneTerminal},
		{"Zhang forgets his PIN: three wrong tries lock the phone; an operator unlocks it", sceneLockout},
		{"STATUS: where is my money?", sceneStatus},
		{"Li's phone gets a security module: the platform proves itself, the module's check passes, Li pays sealed", sceneSecure},
		{"Closing the books: the bank's ledger and the audit log", sceneBooks},
	}
}

// demoRun is the state of one run. Its methods stop at the first failure:
// it is kept in err, and every later step does nothing, so that a scene
// reads as its script and returns the first deviation.
type demoRun struct {
	ctx      context.Context
	out      io.Writer
	quiet    bool
	wait     time.Duration  // see demoWait
	loc      *time.Location // the gateway's timezone, for receipts
	base     string         // the gateway's URL
	bankURL  string         // the bank simulator's
	hc       *http.Client
	phones   *phoneClient
	operator string // the admin API token
	hooks    *demoHooks
	err      error

	li, wang, zhang, shopPhone *demoPhone
	shop                       *demoTerminal

	// What later scenes need of earlier ones.
	sendRef, payRef, ussdRef, pushRef string

	counts struct{ mo, mt, screens, api, hooks, admin int }
}

// fail records the first deviation.
func (d *demoRun) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// check records a deviation, said by format and args, unless ok.
func (d *demoRun) check(ok bool, format string, args ...any) {
	if !ok {
		d.fail(format, args...)
	}
}

func (d *demoRun) printf(format string, args ...any) {
	if !d.quiet {
		fmt.Fprintf(d.out, format, args...)
	}
}

// header starts a scene; it prints in quiet mode too.
func (d *demoRun) header(title string) {
	fmt.Fprintf(d.out, "\n=== %s\n", title)
}

// say prints text under tag, later lines aligned under the first.
func (d *demoRun) say(tag, text string) {
	if d.quiet {
		return
	}
	lines := strings.Split(text, "\n")
	fmt.Fprintf(d.out, "%s %s\n", tag, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(d.out, "%s   %s\n", tag, l)
	}
}

// box prints lines in a frame under tag: a handset's screen, a receipt.
func (d *demoRun) box(tag, title string, lines []string) {
	if d.quiet {
		return
	}
	width := demoCells(title) + 2
	for _, l := range lines {
		width = max(width, demoCells(l))
	}
	top := "┌" + strings.Repeat("─", width+2) + "┐"
	if title != "" {
		top = "┌ " + title + " " + strings.Repeat("─", width-demoCells(title)) + "┐"
	}
	fmt.Fprintf(d.out, "%s %s\n", tag, top)
	for _, l := range lines {
		fmt.Fprintf(d.out, "%s │ %s%s │\n", tag, l, strings.Repeat(" ", width-demoCells(l)))
	}
	fmt.Fprintf(d.out, "%s └%s┘\n", tag, strings.Repeat("─", width+2))
}

// demoCells is the width of s on a terminal: Chinese characters and full-
// width punctuation take two cells.
func demoCells(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Han, r), r >= 0x3000 && r <= 0x303f, r >= 0xff00 && r <= 0xff60, r >= 0xffe0 && r <= 0xffe6:
			n += 2
		default:
			n++
		}
	}
	return n
}

// waitReady waits for /readyz: the bind to the simulator is up.
func (d *demoRun) waitReady() {
	deadline := time.Now().Add(d.wait)
	for d.err == nil {
		status, _, ok := d.call("GET", d.base+"/readyz", "", nil)
		if ok && status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			d.fail("GET /readyz answered %d for %v: the gateway is not bound to its SMSC simulator", status, d.wait)
			return
		}
		select {
		case <-d.ctx.Done():
			d.fail("%w", d.ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// call makes one HTTP request with body as JSON (if not nil) and a
// bearer token (if not ""), and returns the status and the body; ok is
// false, and the demo failed, when there was no answer.
func (d *demoRun) call(method, url, bearer string, body any) (status int, raw []byte, ok bool) {
	if d.err != nil {
		return 0, nil, false
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			d.fail("%s %s: %v", method, url, err)
			return 0, nil, false
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(d.ctx, method, url, rd)
	if err != nil {
		d.fail("%s %s: %v", method, url, err)
		return 0, nil, false
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		d.fail("%s %s: %v", method, url, err)
		return 0, nil, false
	}
	defer resp.Body.Close()
	raw, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		d.fail("%s %s: reading the answer: %v", method, url, err)
		return 0, nil, false
	}
	return resp.StatusCode, raw, true
}

// demoAPIError is the error code of an API answer (SPEC.md §7), or "".
func demoAPIError(raw []byte) (code, message string) {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(raw, &e)
	return e.Error.Code, e.Error.Message
}

// decodeAnswer decodes raw into v, failing the demo if it cannot.
func (d *demoRun) decodeAnswer(what string, raw []byte, v any) {
	if d.err != nil || v == nil {
		return
	}
	if err := json.Unmarshal(raw, v); err != nil {
		d.fail("%s: the answer is not the JSON expected: %v: %.200s", what, err, raw)
	}
}

// --- phones

// demoPhone is one virtual phone of the sandbox: its inbox as read so far
// and its USSD session.
type demoPhone struct {
	d      *demoRun
	name   string
	number string   // local, as its owner types it
	inbox  []string // every text it received, in order
	used   int      // inbox[:used] was matched by an expectation
	// session is the USSD session on screen; after counts its screens.
	session string
	after   int
	// module is the phone's security module once it has one: texts go
	// sealed and sealed replies are opened (and verified) by it.
	module *envelope.Module
	nonce  []byte // the integrity nonce of the last platform proof
}

func (d *demoRun) phone(name, number string) *demoPhone {
	return &demoPhone{d: d, name: name, number: number}
}

// demoMasked is the number as the demo prints it: 138****8000.
func demoMasked(number string) string {
	if len(number) < 8 {
		return number
	}
	return number[:3] + strings.Repeat("*", len(number)-7) + number[len(number)-4:]
}

func (h *demoPhone) smsTag() string  { return "[" + h.name + " " + demoMasked(h.number) + " SMS]" }
func (h *demoPhone) ussdTag() string { return "[" + h.name + " USSD]" }

// sms texts the gateway and waits for a reply holding each of wants, in
// order; it returns those replies.
func (h *demoPhone) sms(text string, wants ...string) []string {
	d := h.d
	if d.err != nil {
		return nil
	}
	d.say(h.smsTag(), "> "+text)
	if h.module != nil {
		b, err := h.module.SealCommand(text)
		if err != nil {
			d.fail("%s's module sealing %q: %v", h.name, text, err)
			return nil
		}
		text = envelope.EncodeText(b)
		d.say(h.smsTag(), "  sealed: "+abbreviate(text, 40))
	}
	var sent struct{}
	if err := d.phones.do(d.ctx, "POST", d.phones.phonePath(h.number, "sms"), map[string]string{"text": text}, http.StatusCreated, &sent); err != nil {
		d.fail("%s texting %q: %v", h.name, text, err)
		return nil
	}
	d.counts.mo++
	return h.expect(wants...)
}

// expect waits for a text holding each of wants, in order, past the
// texts matched so far, and returns them. Texts in between are printed
// and passed over.
func (h *demoPhone) expect(wants ...string) []string {
	var got []string
	for _, want := range wants {
		m, ok := h.await(want)
		if !ok {
			return nil
		}
		got = append(got, m)
	}
	return got
}

// expectOne is expect of one text.
func (h *demoPhone) expectOne(want string) string {
	if got := h.expect(want); len(got) == 1 {
		return got[0]
	}
	return ""
}

func (h *demoPhone) await(want string) (string, bool) {
	d := h.d
	deadline := time.Now().Add(d.wait)
	for d.err == nil {
		for i := h.used; i < len(h.inbox); i++ {
			if strings.Contains(h.inbox[i], want) {
				h.used = i + 1
				return h.inbox[i], true
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			d.fail("%s's phone got no SMS saying %q within %v (its last texts: %q)", h.name, want, d.wait, h.inbox[max(0, len(h.inbox)-3):])
			break
		}
		h.fetch(min(left, maxPollSlice).Round(time.Millisecond))
	}
	return "", false
}

// fetch long-polls the phone's inbox for up to wait and prints what came.
func (h *demoPhone) fetch(wait time.Duration) {
	d := h.d
	q := url.Values{"after": {strconv.Itoa(len(h.inbox))}, "wait": {wait.String()}}
	var got phoneMessages
	if err := d.phones.do(d.ctx, "GET", d.phones.phonePath(h.number, "messages")+"?"+q.Encode(), nil, http.StatusOK, &got); err != nil {
		d.fail("reading %s's texts: %v", h.name, err)
		return
	}
	for _, m := range got.Messages {
		text := m.Text
		if h.module != nil && envelope.IsText(text) {
			text = h.open(text)
		}
		h.inbox = append(h.inbox, text)
		d.counts.mt++
		d.say(h.smsTag(), "< "+text)
	}
}

// demoUSSDScreen is a screen of the sandbox's USSD phone API.
type demoUSSDScreen struct {
	Text    string `json:"text"`
	End     bool   `json:"end"`
	Session string `json:"session"`
}

// dial starts a USSD session with the service code and checks the first
// screen, which must wait for an answer.
func (h *demoPhone) dial(wants ...string) demoUSSDScreen {
	return h.ussd("", false, wants...)
}

// key answers the screen with in and checks the next one: it holds each
// of wants, and ends the session or waits for an answer as end says.
func (h *demoPhone) key(in string, end bool, wants ...string) demoUSSDScreen {
	if in == "" {
		h.d.fail("%s: an empty USSD answer", h.name)
		return demoUSSDScreen{}
	}
	return h.ussd(in, end, wants...)
}

func (h *demoPhone) ussd(in string, end bool, wants ...string) demoUSSDScreen {
	d := h.d
	if d.err != nil {
		return demoUSSDScreen{}
	}
	body := map[string]string{"text": in}
	if in != "" {
		body["session"] = h.session
	}
	var sent ussdSent
	if err := d.phones.do(d.ctx, "POST", d.phones.phonePath(h.number, "ussd"), body, http.StatusCreated, &sent); err != nil {
		d.fail("%s keying %q: %v", h.name, in, err)
		return demoUSSDScreen{}
	}
	d.say(h.ussdTag(), "> "+sent.Text)
	h.session, h.after = sent.Session, sent.After
	return h.screen(end, wants...)
}

// screen waits for the session's next screen and checks it.
func (h *demoPhone) screen(end bool, wants ...string) demoUSSDScreen {
	d := h.d
	sc, ok := h.nextScreen(h.session, h.after)
	if !ok {
		return demoUSSDScreen{}
	}
	h.show(sc)
	for _, w := range wants {
		d.check(strings.Contains(sc.Text, w), "%s's USSD screen does not say %q: %q", h.name, w, sc.Text)
	}
	switch {
	case end && !sc.End:
		d.fail("%s's USSD screen %q waits for an answer; the session should have ended", h.name, sc.Text)
	case !end && sc.End:
		d.fail("%s's USSD session ended with %q; it should have gone on", h.name, sc.Text)
	}
	return sc
}

func (h *demoPhone) show(sc demoUSSDScreen) {
	h.d.counts.screens++
	h.d.box(h.ussdTag(), "", strings.Split(sc.Text, "\n"))
	if sc.End {
		h.d.say(h.ussdTag(), "(session ended)")
	}
}

// nextScreen waits for the first screen past after, of session (of any
// session when it is "").
func (h *demoPhone) nextScreen(session string, after int) (demoUSSDScreen, bool) {
	d := h.d
	deadline := time.Now().Add(d.wait)
	for d.err == nil {
		left := time.Until(deadline)
		if left <= 0 {
			d.fail("%s's phone got no USSD screen within %v", h.name, d.wait)
			break
		}
		q := url.Values{"after": {strconv.Itoa(after)}, "wait": {min(left, maxPollSlice).Round(time.Millisecond).String()}}
		if session != "" {
			q.Set("session", session)
		}
		var got struct {
			Screen *demoUSSDScreen `json:"screen"`
			Next   int             `json:"next"`
		}
		if err := d.phones.do(d.ctx, "GET", d.phones.phonePath(h.number, "ussd")+"?"+q.Encode(), nil, http.StatusOK, &got); err != nil {
			d.fail("reading %s's USSD screen: %v", h.name, err)
			break
		}
		if got.Screen != nil {
			return *got.Screen, true
		}
	}
	return demoUSSDScreen{}, false
}

// screens is how many USSD screens the phone has had, in every session.
func (h *demoPhone) screens() int {
	d := h.d
	if d.err != nil {
		return 0
	}
	var got struct {
		Next int `json:"next"`
	}
	if err := d.phones.do(d.ctx, "GET", d.phones.phonePath(h.number, "ussd"), nil, http.StatusOK, &got); err != nil {
		d.fail("reading %s's USSD screens: %v", h.name, err)
	}
	return got.Next
}

// pushed waits for a network-initiated screen past the first n of the
// phone's screens (SPEC.md §4: a USSD prompt with no session of the
// phone's), checks it and makes its session the one on screen.
func (h *demoPhone) pushed(n int, wants ...string) {
	d := h.d
	if d.err != nil {
		return
	}
	sc, ok := h.nextScreen("", n)
	if !ok {
		return
	}
	h.session = sc.Session
	h.show(sc)
	for _, w := range wants {
		d.check(strings.Contains(sc.Text, w), "%s's pushed USSD screen does not say %q: %q", h.name, w, sc.Text)
	}
	d.check(!sc.End, "%s's pushed USSD screen %q does not wait for the PIN", h.name, sc.Text)
}

var (
	demoCodeRE = regexp.MustCompile(`(?:^|\D)(\d{6})(?:\D|$)`)
	demoRefRE  = regexp.MustCompile(`(?:ref |编号)([A-Z0-9]{8})\b`)
)

// codeIn is the one-time code in text.
func (d *demoRun) codeIn(text string) string {
	if d.err != nil {
		return ""
	}
	m := demoCodeRE.FindStringSubmatch(text)
	if m == nil {
		d.fail("no 6-digit code in %q", text)
		return ""
	}
	return m[1]
}

// refIn is the transfer reference in text (SPEC.md §6).
func (d *demoRun) refIn(text string) string {
	if d.err != nil {
		return ""
	}
	m := demoRefRE.FindStringSubmatch(text)
	if m == nil {
		d.fail("no transfer reference in %q", text)
		return ""
	}
	return m[1]
}

// --- the merchant

// demoTerminal is Demo Shop's system: the merchant API with its key.
type demoTerminal struct {
	d   *demoRun
	key string
}

const demoTerminalTag = "[Shop terminal]"

// demoRequest is a payment request as the merchant API shows it.
type demoRequest struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Reference string `json:"reference"`
	Amount    int64  `json:"amount"`
	Currency  string `json:"currency"`
	Mode      string `json:"mode"`
	Receipt   *struct {
		Reference     string    `json:"reference"`
		Amount        int64     `json:"amount"`
		Fee           int64     `json:"fee"`
		Currency      string    `json:"currency"`
		Merchant      string    `json:"merchant"`
		MerchantName  string    `json:"merchant_name"`
		Payer         string    `json:"payer"`
		Time          time.Time `json:"time"`
		BankReference string    `json:"bank_reference"`
	} `json:"receipt"`
}

// api calls the merchant API; the line it prints says what was asked
// (what) and what came back.
func (t *demoTerminal) api(method, path, what string, body any, wantStatus int, v any) (raw []byte, ok bool) {
	d := t.d
	status, raw, ok := d.call(method, d.base+path, t.key, body)
	if !ok {
		return nil, false
	}
	d.counts.api++
	outcome := ""
	if code, msg := demoAPIError(raw); code != "" {
		outcome = code + ": " + msg
	} else {
		var s struct {
			Status string `json:"status"`
		}
		json.Unmarshal(raw, &s)
		outcome = s.Status
	}
	d.say(demoTerminalTag, fmt.Sprintf("%s %s %s→ %d %s", method, path, what, status, outcome))
	if status != wantStatus {
		d.fail("%s %s: %d %s, want %d", method, path, status, outcome, wantStatus)
		return raw, false
	}
	d.decodeAnswer(method+" "+path, raw, v)
	return raw, d.err == nil
}

// request asks phone for amount (minor units); pin is for terminal mode.
func (t *demoTerminal) request(phone string, amount int64, mode, pin, reference string, wantStatus int, wantState string) demoRequest {
	body := map[string]any{"merchant": demoMerchant, "phone": phone, "amount": amount, "currency": "CNY", "reference": reference, "mode": mode}
	what := fmt.Sprintf("{%s, %s CNY, %s, %s", demoMasked(phone), demoMoney(amount), reference, mode)
	if pin != "" {
		body["pin"] = pin
		what += ", PIN " + strings.Repeat("•", len(pin))
	}
	var v demoRequest
	if _, ok := t.api("POST", "/v1/payment-requests", what+"} ", body, wantStatus, &v); ok && wantState != "" {
		t.d.check(v.Status == wantState, "the payment request is %q, want %q", v.Status, wantState)
	}
	return v
}

// code posts the code the customer read out.
func (t *demoTerminal) code(id, code string, wantStatus int, want string) {
	raw, ok := t.api("POST", "/v1/payment-requests/"+id+"/code", "{code "+code+"} ", map[string]string{"code": code}, wantStatus, nil)
	if !ok {
		return
	}
	var v struct {
		Status string `json:"status"`
	}
	json.Unmarshal(raw, &v)
	got := v.Status
	if c, _ := demoAPIError(raw); c != "" {
		got = c
	}
	t.d.check(got == want, "posting the code: %q, want %q", got, want)
}

// completed long-polls the request until it is final, checks that it
// completed, and prints the receipt the terminal would.
func (t *demoTerminal) completed(id string, amount int64) demoRequest {
	var v demoRequest
	if _, ok := t.api("GET", "/v1/payment-requests/"+id+"?wait=30s", "", nil, http.StatusOK, &v); !ok {
		return v
	}
	d := t.d
	if v.Status != "completed" || v.Receipt == nil {
		d.fail("the payment request is %q with no receipt, want completed", v.Status)
		return v
	}
	r := v.Receipt
	d.check(r.Amount == amount && r.BankReference != "" && r.Reference != "", "the receipt is not the payment's: %+v", *r)
	d.box(demoTerminalTag, "RECEIPT", []string{
		fmt.Sprintf("%s (%s)", r.MerchantName, r.Merchant),
		fmt.Sprintf("Amount  %s %s   fee %s", demoMoney(r.Amount), r.Currency, demoMoney(r.Fee)),
		"Invoice " + v.Reference,
		"Ref     " + r.Reference,
		"Payer   " + r.Payer,
		"Time    " + r.Time.In(d.loc).Format("2006-01-02 15:04:05 MST"),
		"Bank    " + r.BankReference,
	})
	return v
}

// demoMoney formats minor units as the replies do: 12.50.
func demoMoney(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	return fmt.Sprintf("%s%d.%02d", sign, minor/100, minor%100)
}

// --- the operator

const demoOperatorTag = "[Operator]"

// admin calls the admin API as the demo's operator.
func (d *demoRun) admin(method, path string, body any, wantStatus int, v any) bool {
	status, raw, ok := d.call(method, d.base+path, d.operator, body)
	if !ok {
		return false
	}
	d.counts.admin++
	if status != wantStatus {
		code, msg := demoAPIError(raw)
		d.say(demoOperatorTag, fmt.Sprintf("%s %s → %d %s", method, path, status, code))
		d.fail("%s %s: %d %s %s, want %d", method, path, status, code, msg, wantStatus)
		return false
	}
	d.decodeAnswer(method+" "+path, raw, v)
	return d.err == nil
}

// --- webhooks

const demoWebhookTag = "[Shop webhook]"

// demoHooks is Demo Shop's webhook endpoint: it checks each post's
// Paygate-Signature (SPEC.md §7) with the secret the operator got, and
// keeps the events, once each. Safe for concurrent use.
type demoHooks struct {
	ln  net.Listener
	srv *http.Server
	url string

	mu     sync.Mutex
	secret []byte
	events []demoHookEvent
	seen   map[string]bool
	bad    []string // posts refused: what was wrong
	more   chan struct{}
	done   chan struct{}
}

type demoHookEvent struct {
	id, typ string
	data    demoRequest
}

// demoHookMaxAge is how old a signature may be (as the bank API's, §8).
const demoHookMaxAge = 5 * time.Minute

func startDemoHooks() (*demoHooks, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("the shop's webhook receiver: %w", err)
	}
	h := &demoHooks{ln: ln, url: "http://" + ln.Addr().String() + "/paygate/events", seen: map[string]bool{},
		more: make(chan struct{}, 1), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /paygate/events", h.receive)
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(h.done)
		h.srv.Serve(ln)
	}()
	return h, nil
}

func (h *demoHooks) close() {
	h.srv.Close()
	<-h.done
}

func (h *demoHooks) setSecret(s string) {
	h.mu.Lock()
	h.secret = []byte(s)
	h.mu.Unlock()
}

func (h *demoHooks) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if why := verifyDemoWebhook(h.secret, r.Header.Get("Paygate-Signature"), body, time.Now()); why != "" {
		h.bad = append(h.bad, why)
		http.Error(w, why, http.StatusUnauthorized)
		return
	}
	var ev struct {
		ID   string      `json:"id"`
		Type string      `json:"type"`
		Data demoRequest `json:"data"`
	}
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" {
		h.bad = append(h.bad, "an event that is not the JSON expected")
		http.Error(w, "not an event", http.StatusBadRequest)
		return
	}
	if id := r.Header.Get("Paygate-Event-Id"); id != ev.ID {
		h.bad = append(h.bad, fmt.Sprintf("Paygate-Event-Id %q is not the event's id %q", id, ev.ID))
	}
	if !h.seen[ev.ID] { // at least once: a retry is the same event
		h.seen[ev.ID] = true
		h.events = append(h.events, demoHookEvent{id: ev.ID, typ: ev.Type, data: ev.Data})
	}
	select {
	case h.more <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

// verifyDemoWebhook checks header, `t=<unix>,v1=<hex>`, against body: the
// HMAC-SHA256 with secret of "<t>.<body>", made within maxHookAge of
// now. It returns what is wrong, or "".
func verifyDemoWebhook(secret []byte, header string, body []byte, now time.Time) string {
	if len(secret) == 0 {
		return "a post before the shop had its signing secret"
	}
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Sprintf("Paygate-Signature %q is not t=<unix>,v1=<hex>", header)
	}
	if age := now.Sub(time.Unix(t, 0)); age > demoHookMaxAge || age < -demoHookMaxAge {
		return fmt.Sprintf("a signature %v old", age.Round(time.Second))
	}
	mac := hmac.New(sha256.New, secret)
	fmt.Fprintf(mac, "%d.", t)
	mac.Write(body)
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return "a signature that does not verify"
	}
	return ""
}

// webhook waits for the event typ of the payment request id and prints
// it as the shop's system sees it.
func (d *demoRun) webhook(id, typ string) {
	if d.err != nil {
		return
	}
	h := d.hooks
	deadline := time.NewTimer(d.wait)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		bad := append([]string(nil), h.bad...)
		var found *demoHookEvent
		for i := range h.events {
			if e := h.events[i]; e.data.ID == id && e.typ == typ {
				found = &e
			}
		}
		h.mu.Unlock()
		if len(bad) > 0 {
			d.fail("the shop's webhook receiver refused a post: %s", bad[0])
			return
		}
		if found != nil {
			d.counts.hooks++
			d.say(demoWebhookTag, fmt.Sprintf("%s: %s, %s %s CNY from %s, ref %s (signature verified)",
				found.typ, found.data.Reference, found.data.Mode, demoMoney(found.data.Amount), found.data.receiptPayer(), found.data.receiptRef()))
			return
		}
		select {
		case <-h.more:
		case <-deadline.C:
			d.fail("no %s webhook for payment request %s within %v", typ, id, d.wait)
			return
		case <-d.ctx.Done():
			d.fail("%w", d.ctx.Err())
			return
		}
	}
}

func (v demoRequest) receiptPayer() string {
	if v.Receipt == nil {
		return "?"
	}
	return v.Receipt.Payer
}

func (v demoRequest) receiptRef() string {
	if v.Receipt == nil {
		return "?"
	}
	return v.Receipt.Reference
}

// --- the scenes

func sceneShopOpens(d *demoRun) {
	var m struct {
		Name    string `json:"name"`
		Bank    string `json:"bank"`
		Account string `json:"account"`
		Phone   string `json:"phone"`
	}
	if d.admin("GET", "/v1/admin/merchants/"+demoMerchant, nil, http.StatusOK, &m) {
		d.say(demoOperatorTag, fmt.Sprintf("GET /v1/admin/merchants/%s → 200: %s, pays into %s %s, receipts to %s", demoMerchant, m.Name, m.Bank, m.Account, m.Phone))
	}
	var key struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	if d.admin("POST", "/v1/admin/merchants/"+demoMerchant+"/keys", nil, http.StatusCreated, &key) {
		d.check(key.Key != "", "no API key in the answer")
		d.say(demoOperatorTag, fmt.Sprintf("POST /v1/admin/merchants/%s/keys → 201: key %s (shown this once, installed in the terminal)", demoMerchant, key.ID))
		d.shop.key = key.Key
	}
	var hook struct {
		Secret string `json:"secret"`
	}
	path := "/v1/admin/merchants/" + demoMerchant + "/webhook"
	if d.admin("PUT", path, map[string]string{"url": d.hooks.url}, http.StatusOK, &hook) {
		d.check(hook.Secret != "", "no webhook signing secret in the answer")
		d.say(demoOperatorTag, fmt.Sprintf("PUT %s {url %s} → 200: signing secret issued (shown this once)", path, d.hooks.url))
		d.hooks.setSecret(hook.Secret)
	}
}

func sceneLiLinks(d *demoRun) {
	li := d.li
	li.sms("LINK PGB "+demoLiAccount, "We are checking PGB ****0001")
	code := d.codeIn(li.expectOne("paygate code"))
	li.sms(code, "Linked: PGB ****0001 (L* W**)")
	li.sms("PIN "+demoLiPIN+" "+demoLiPIN, "Your PIN is set")
}

func sceneWangLinks(d *demoRun) {
	wang := d.wang
	wang.sms("绑定 PGB "+demoWangAcct, "PGB ****0002")
	code := d.codeIn(wang.expectOne("paygate验证码"))
	wang.sms(code, "已绑定：PGB ****0002")
	wang.sms("密码 "+demoWangPIN+" "+demoWangPIN, "密码已设置")
	wang.sms("语言 中文", "中文")
}

func sceneSend(d *demoRun) {
	li, wang := d.li, d.wang
	confirm := li.sms("SEND "+demoWangPhone+" 500", "Send 500.00 CNY to W*** F***")
	if len(confirm) == 1 {
		d.sendRef = d.refIn(confirm[0])
	}
	code := d.codeIn(demoFirst(li.sms("OK "+demoLiPIN, "paygate code")))
	li.sms(code, "Confirmed: 500.00 CNY to W*** F***, ref "+d.sendRef, "Paid 500.00 CNY to W*** F***")
	wang.expect("转账500.00CNY")
}

func scenePay(d *demoRun) {
	li := d.li
	confirm := li.sms("PAY "+demoMerchant+" 25.50 TABLE7", "Pay 25.50 CNY to Demo Shop (DEMO)")
	if len(confirm) == 1 {
		d.payRef = d.refIn(confirm[0])
	}
	code := d.codeIn(demoFirst(li.sms("OK "+demoLiPIN, "paygate code")))
	li.sms(code, "Confirmed: 25.50 CNY to Demo Shop, ref "+d.payRef, "Paid 25.50 CNY to Demo Shop")
	d.shopPhone.expect("Payment received: 25.50 CNY from L* W**")
}

func sceneBalance(d *demoRun) {
	li := d.li
	li.sms("BAL", "To see the balance of PGB ****0001")
	li.sms("OK "+demoLiPIN, "Balance of PGB ****0001: 9474.50 CNY")
	li.sms("MINI", "last 5 transactions of PGB ****0001")
	mini := demoFirst(li.sms("OK "+demoLiPIN, "Last transactions of PGB ****0001"))
	for _, want := range []string{"ref " + d.sendRef, "ref " + d.payRef} {
		d.check(strings.Contains(mini, want), "the mini statement does not show %q: %q", want, mini)
	}
}

func sceneUSSD(d *demoRun) {
	li, wang := d.li, d.wang
	li.dial("1 Send money", "0 Exit")
	li.key("1", false, "Payee's phone number")
	li.key(demoWangPhone, false, "Amount in CNY")
	confirm := li.key("20", false, "Send 20.00 CNY to W*** F***", "Enter PIN to confirm")
	d.ussdRef = d.refIn(confirm.Text)
	li.key(demoLiPIN, false, "A code is on its way by SMS")
	code := d.codeIn(li.expectOne("ref " + d.ussdRef))
	li.key(code, true, "Confirmed: 20.00 CNY to W*** F***, ref "+d.ussdRef)
	li.expect("Paid 20.00 CNY to W*** F***")
	wang.expect("转账20.00CNY")
}

func scenePush(d *demoRun) {
	wang, shop := d.wang, d.shop
	before := wang.screens()
	req := shop.request(demoWangPhone, 1250, "push", "", "INV-1001", http.StatusCreated, "pending_pin")
	d.pushRef = d.refIn(demoFirst(wang.expect("12.50CNY")))
	wang.pushed(before, "Demo Shop", "12.50CNY")
	wang.key(demoWangPIN, false, "验证码")
	code := d.codeIn(wang.expectOne("paygate验证码"))
	wang.key("0", true)
	d.printf("[Wang] reads the code %s out to the cashier\n", code)
	shop.code(req.ID, code, http.StatusAccepted, "authorized")
	shop.completed(req.ID, 1250)
	wang.expect("已付款12.50CNY给Demo Shop")
	d.shopPhone.expect("Payment received: 12.50 CNY from W*** F***")
	d.webhook(req.ID, "payment_request.completed")
}

func sceneTerminal(d *demoRun) {
	wang, shop := d.wang, d.shop
	req := shop.request(demoWangPhone, 8800, "terminal", demoWangPIN, "INV-1002", http.StatusCreated, "pending_code")
	code := d.codeIn(wang.expectOne("paygate验证码"))
	d.printf("[Wang] reads the code %s out to the cashier\n", code)
	if code != "" {
		wrong := code[:5] + string('0'+(code[5]-'0'+1)%10)
		shop.code(req.ID, wrong, http.StatusUnprocessableEntity, "auth_failed")
		wang.expect("密码或验证码错误")
	}
	shop.code(req.ID, code, http.StatusAccepted, "authorized")
	shop.completed(req.ID, 8800)
	wang.expect("已付款88.00CNY给Demo Shop")
	d.shopPhone.expect("Payment received: 88.00 CNY from W*** F***")
	d.webhook(req.ID, "payment_request.completed")
}

func sceneLockout(d *demoRun) {
	zhang := d.zhang
	zhang.sms("LINK PGB "+demoZhangAcct, "We are checking PGB ****0003")
	code := d.codeIn(zhang.expectOne("paygate code"))
	zhang.sms(code, "Linked: PGB ****0003")
	zhang.sms("PIN "+demoZhangPIN+" "+demoZhangPIN, "Your PIN is set")
	zhang.sms("BAL", "To see the balance of PGB ****0003")
	// Three wrong PINs, each a different one, as a person trying would.
	zhang.sms("OK 908172", "Wrong PIN or code")
	zhang.sms("OK 817263", "Wrong PIN or code")
	zhang.sms("OK 726354", "paygate alert: 3 wrong PIN or code tries in a row")
	zhang.sms("MINI", "This phone is locked")
	d.shop.request(demoZhangPhone, 500, "terminal", demoZhangPIN, "INV-1003", http.StatusLocked, "")

	phone := demoZhangPhone
	var sub struct {
		Lock struct {
			Locked   bool       `json:"locked"`
			Failures int        `json:"failures"`
			Until    *time.Time `json:"until"`
		} `json:"lock"`
	}
	if d.admin("GET", "/v1/admin/subscribers/"+phone, nil, http.StatusOK, &sub) {
		d.check(sub.Lock.Locked && sub.Lock.Failures == 3, "the operator sees the lock as %+v, want locked after 3 failures", sub.Lock)
		until := "?"
		if sub.Lock.Until != nil {
			until = sub.Lock.Until.Format(time.RFC3339)
		}
		d.say(demoOperatorTag, fmt.Sprintf("GET /v1/admin/subscribers/%s → 200: locked %v after %d failures, until %s", phone, sub.Lock.Locked, sub.Lock.Failures, until))
	}
	d.printf("[Zhang] calls the service desk, which checks who he is\n")
	if d.admin("POST", "/v1/admin/subscribers/"+phone+"/unlock", nil, http.StatusOK, &sub) {
		d.check(!sub.Lock.Locked && sub.Lock.Failures == 0, "after the unlock the lock is %+v", sub.Lock)
		d.say(demoOperatorTag, fmt.Sprintf("POST /v1/admin/subscribers/%s/unlock → 200: locked %v, failures %d", phone, sub.Lock.Locked, sub.Lock.Failures))
	}
	zhang.expect("unlocked by our service desk")
	zhang.sms("BAL", "To see the balance of PGB ****0003")
	zhang.sms("OK "+demoZhangPIN, "Balance of PGB ****0003: 0.00 CNY")
}

func sceneStatus(d *demoRun) {
	d.li.sms("STATUS "+d.sendRef, "Ref "+d.sendRef+", 500.00 CNY")
	d.wang.sms("查询 "+d.sendRef, "已完成")
	var found struct {
		Transfers []struct {
			Reference string `json:"reference"`
			Kind      string `json:"kind"`
			State     string `json:"state"`
			Payer     string `json:"payer"`
			Payee     string `json:"payee"`
			Amount    int64  `json:"amount"`
			Mode      string `json:"mode"`
			BankRef   string `json:"bank_reference"`
		} `json:"transfers"`
	}
	path := "/v1/admin/transfers?reference=" + d.pushRef
	if d.admin("GET", path, nil, http.StatusOK, &found) {
		if len(found.Transfers) != 1 || found.Transfers[0].State != "completed" {
			d.fail("the operator finds %+v for %s, want one completed transfer", found.Transfers, d.pushRef)
			return
		}
		t := found.Transfers[0]
		d.say(demoOperatorTag, fmt.Sprintf("GET %s → 200: %s %s %s CNY, %s → %s (%s mode), %s, bank ref %s",
			path, t.Reference, t.Kind, demoMoney(t.Amount), t.Payer, t.Payee, t.Mode, t.State, t.BankRef))
	}
}

func sceneBooks(d *demoRun) {
	status, raw, ok := d.call("GET", d.bankURL+"/sim/accounts", "", nil)
	if !ok {
		return
	}
	d.check(status == http.StatusOK, "the bank's accounts: %d", status)
	var accounts []struct {
		Account string `json:"account"`
		Holder  string `json:"holder"`
		Balance int64  `json:"balance"`
	}
	d.decodeAnswer("the bank's accounts", raw, &accounts)
	// Opening balances, less and plus what the day moved: money moves
	// once, whatever was retried.
	want := map[string]int64{
		demoLiAccount:      1_000_000 - 50_000 - 2_550 - 2_000 - 1_000,
		demoWangAcct:       500_000 + 50_000 + 2_000 - 1_250 - 8_800 + 1_000,
		demoZhangAcct:      0,
		"6222020000009001": 2_550 + 1_250 + 8_800,
	}
	for _, a := range accounts {
		w, mine := want[a.Account]
		if !mine {
			continue
		}
		delete(want, a.Account)
		d.say("[Bank]", fmt.Sprintf("%-10s PGB ****%s %10s CNY", a.Holder, a.Account[len(a.Account)-4:], demoMoney(a.Balance)))
		d.check(a.Balance == w, "%s has %s CNY at the bank, want %s", a.Holder, demoMoney(a.Balance), demoMoney(w))
	}
	d.check(len(want) == 0, "the bank has no accounts %v", want)
	status, raw, ok = d.call("GET", d.bankURL+"/sim/audit", "", nil)
	var audit struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	if ok {
		d.decodeAnswer("the bank's audit", raw, &audit)
		d.check(status == http.StatusOK && audit.OK, "the bank's ledger does not balance: %v", audit.Problems)
		d.say("[Bank]", "GET /sim/audit → the ledger balances: every debit has its credit")
	}
	var log struct {
		Entries []struct {
			Operator string `json:"operator"`
			Action   string `json:"action"`
			Target   string `json:"target"`
			Status   int    `json:"status"`
		} `json:"entries"`
	}
	if d.admin("GET", "/v1/admin/audit?limit=100", nil, http.StatusOK, &log) {
		d.say(demoOperatorTag, fmt.Sprintf("GET /v1/admin/audit → 200: %d calls audited, newest first:", len(log.Entries)))
		for _, e := range log.Entries {
			d.check(e.Operator == demoOperator, "an audit entry by %q, want %q", e.Operator, demoOperator)
			d.say(demoOperatorTag, fmt.Sprintf("  %-18s %-28s %d by %s", e.Action, e.Target, e.Status, e.Operator))
		}
		// Every earlier call is there (this one is written as it answers).
		n := len(log.Entries)
		d.check(n == d.counts.admin-1 || n == d.counts.admin, "%d audit entries for %d operator calls", n, d.counts.admin)
	}
}

// demoFirst is the first of texts, or "".
func demoFirst(texts []string) string {
	if len(texts) == 0 {
		return ""
	}
	return texts[0]
}

// open opens a sealed text with the phone's module: its verified text,
// or what the module made of a proof.
func (h *demoPhone) open(text string) string {
	b, err := envelope.DecodeText(text)
	if err != nil {
		h.d.fail("%s got a malformed sealed text: %v", h.name, err)
		return text
	}
	m, err := h.module.Open(b)
	if err != nil {
		h.d.fail("%s's module refused a sealed text: %v", h.name, err)
		return text
	}
	switch m.Kind {
	case envelope.KindText:
		return "[sealed, verified] " + m.Text
	case envelope.KindProof:
		h.nonce = m.Nonce
		return "[sealed] the platform's proof, verified by the module; integrity nonce " + hex.EncodeToString(m.Nonce)
	}
	return "[sealed] " + m.Kind.String()
}

// sendSealed posts an envelope the module made.
func (h *demoPhone) sendSealed(b []byte, what string) {
	d := h.d
	if d.err != nil {
		return
	}
	d.say(h.smsTag(), "> ["+what+"] "+abbreviate(envelope.EncodeText(b), 40))
	var sent struct{}
	if err := d.phones.do(d.ctx, "POST", d.phones.phonePath(h.number, "sms"), map[string]string{"text": envelope.EncodeText(b)}, http.StatusCreated, &sent); err != nil {
		d.fail("%s sending %s: %v", h.name, what, err)
	}
	d.counts.mo++
}

func sceneSecure(d *demoRun) {
	li := d.li
	var p struct {
		DeviceID    string `json:"device_id"`
		KeyVersion  int    `json:"key_version"`
		MasterKey   string `json:"master_key"`
		PlatformKey string `json:"platform_key"`
	}
	if !d.admin("POST", "/v1/admin/devices", map[string]string{"phone": demoLiPhone}, http.StatusCreated, &p) {
		return
	}
	d.say(demoOperatorTag, "issued security module "+p.DeviceID+" to Li's phone; it is personalised with its key out of band")
	cfg, err := moduleConfig(p.DeviceID, p.KeyVersion, secretString(p.MasterKey), p.PlatformKey)
	if err != nil {
		d.fail("personalising the module: %v", err)
		return
	}
	if li.module, err = envelope.NewModule(cfg); err != nil {
		d.fail("personalising the module: %v", err)
		return
	}
	hello, err := li.module.Hello()
	if err != nil {
		d.fail("the module's hello: %v", err)
		return
	}
	li.sendSealed(hello, "hello: the module's challenge")
	li.expect("the platform's proof, verified by the module")
	if d.err != nil || !li.module.Verified() {
		d.fail("the module did not verify the platform")
		return
	}
	report, err := li.module.Report(li.nonce, phoneComponents(false)...)
	if err != nil {
		d.fail("the module's report: %v", err)
		return
	}
	li.sendSealed(report, "report: the module's measurement of the app, bound to the nonce")
	li.expect("security check passed. Payments are on.")
	li.sms("SEND "+demoWangPhone+" 10", "Send 10.00 CNY to W*** F***")
	code := d.codeIn(demoFirst(li.sms("OK "+demoLiPIN, "paygate code")))
	li.sms(code, "Confirmed: 10.00 CNY to W*** F***", "Paid 10.00 CNY to W*** F***")
	d.wang.expect("转账10.00CNY")
}
