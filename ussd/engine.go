package ussd

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/flows"
)

// Config configures an Engine.
type Config struct {
	// Flows runs the commands the menus build: every rule of SPEC §5
	// (limits, lockout, codes, trusted binds) is the same as by SMS.
	Flows       *flows.Engine
	ServiceCode string // ussd_code, "*384#"
	ShortCode   string
	Currency    string
	Country     string // for payees' numbers typed without a country code
	PINLength   int
	DefaultLang flows.Lang
	// Measure returns a text's length as encoded and whether it is
	// GSM-7 (else UCS-2 units); nil: GSM-7 with its extension table,
	// else UTF-16 units.
	Measure func(string) (n int, gsm7 bool)
	// SessionTTL bounds a session (default 180 s), ScreenTTL the wait
	// for an answer to one screen (default 60 s) — SPEC §4.
	SessionTTL, ScreenTTL time.Duration
	// EndedTTL is how long a session of a joined transport (an
	// aggregator's callback, whose every request repeats the session's
	// inputs) is kept past its hard end, live or ended (default 1 hour):
	// a late or replayed request on it is told the session is over, and
	// its inputs — which may hold a PIN — are never taken for a new
	// session's shortcut dial.
	EndedTTL time.Duration
}

// Engine is the USSD dialogue engine: it takes dialogue events, runs the
// menus of SPEC §4 over the flows engine inside the caller's
// transaction, and returns the next screen. It keeps no state of its own:
// a session lives in the store (Tx), so any instance can answer any step.
type Engine struct {
	cfg  Config
	vars flows.Vars
}

// New returns an Engine for cfg.
func New(cfg Config) (*Engine, error) {
	if cfg.Flows == nil {
		return nil, errors.New("ussd: no flows engine")
	}
	if cfg.PINLength == 0 {
		cfg.PINLength = 6
	}
	if !cfg.DefaultLang.Valid() {
		cfg.DefaultLang = flows.English
	}
	if cfg.Measure == nil {
		cfg.Measure = Measure
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 180 * time.Second
	}
	if cfg.ScreenTTL <= 0 {
		cfg.ScreenTTL = 60 * time.Second
	}
	if cfg.EndedTTL <= 0 {
		cfg.EndedTTL = time.Hour
	}
	if cfg.Currency == "" {
		cfg.Currency = "CNY"
	}
	return &Engine{cfg: cfg, vars: flows.Vars{
		"pin_length": strconv.Itoa(cfg.PINLength), "currency": cfg.Currency,
		"service_code": cfg.ServiceCode, "short_code": cfg.ShortCode,
	}}, nil
}

// Step is a dialogue step's outcome: the next screen, or PIN work the
// caller must run (flows.Engine.CheckPIN, on its bounded pool, outside
// the transaction) and hand to Resume in a second step.
type Step struct {
	Screen Screen
	Work   *flows.PINWork
	cmd    flows.InboundSMS // the command that asked for Work
}

// Push is a network-initiated prompt (SPEC §4, §5.4): a session the
// gateway opens with the phone, asking for the PIN of the operation
// pending on it.
type Push struct {
	Phone   flows.MSISDN
	Session string
	Bind    string
	Trusted bool
	Text    string // what is asked: merchant and amount
	At      time.Time
	Limit   Limit
}

// dlg is one step of one session.
type dlg struct {
	e   *Engine
	ctx context.Context
	tx  Tx
	r   Request
	s   *Session

	end     bool   // the session ends with endText
	endText string // the end screen
	work    *flows.PINWork
	cmd     flows.InboundSMS

	// The phone's record and accounts, read once a step (profile);
	// loaded is cleared when a command may have changed them.
	sub    flows.Subscriber
	accts  []flows.Account
	loaded bool
}

// Handle takes one event in the caller's transaction: it loads or starts
// the session, acts on the input, saves the session (or ends it) and
// returns the next screen or PIN work.
//
// A new session's first event may carry a shortcut dial's inputs
// (*384*1*2#: "1" then "2"): an SMPP begin names what was dialled, an
// aggregator's first callback has them as its text. They walk the menus
// as if typed one by one, up to the first screen that asks for a PIN or
// a code: a dial string is no place for a secret (the network keeps it),
// and the screen that asks is shown instead.
func (e *Engine) Handle(ctx context.Context, tx Tx, r Request) (Step, error) {
	if r.Limit == (Limit{}) {
		r.Limit = DefaultLimit
	}
	d := &dlg{e: e, ctx: ctx, tx: tx, r: r}
	if r.Kind == Abort {
		return d.abort()
	}
	s, err := load(ctx, tx, r.Phone, r.Session)
	switch {
	case errors.Is(err, flows.ErrNotFound):
		if r.Kind == Answer && !r.Joined {
			// An answer with no session: it timed out (and was
			// swept), or the push it answers has ended.
			return Step{Screen: Screen{End: true, Text: text(e.cfg.DefaultLang, tTimedOut, e.vars)}}, nil
		}
		// A dial, or an aggregator's first callback: an aggregator's
		// session that ended or timed out is still in the store
		// (EndedTTL), so this is no replay of an old session's inputs.
		if s, err = d.start(); err != nil {
			return Step{}, err
		}
		d.s = &s
		in := d.shortcut()
		if err := d.inputs(in, true); err != nil {
			return Step{}, err
		}
		if r.Joined {
			// Inputs past a PIN screen are dropped, but counted: the
			// next callback's new input is its last one.
			s.Inputs = len(in)
		}
		return d.done()
	case err != nil:
		return Step{}, err
	}
	d.s = &s
	if s.State == stEnded {
		// An aggregator's session that is over: the retried last
		// callback gets its end screen again; anything else is told
		// the session is over. Nothing is replayed.
		if r.Joined && len(joined(r.Text)) == s.Inputs && s.EndText != "" {
			return Step{Screen: Screen{End: true, Text: s.EndText}}, nil
		}
		return Step{Screen: Screen{End: true, Text: text(s.Lang, tTimedOut, e.vars)}}, nil
	}
	if r.At.After(s.Expires) || r.At.Sub(s.ScreenAt) > e.cfg.ScreenTTL {
		d.finish(text(s.Lang, tTimedOut, e.vars))
		return d.done()
	}
	if r.Kind == Begin {
		return d.done() // the begin again (a redelivery): the same screen
	}
	in := []string{r.Text}
	if r.Joined {
		all := joined(r.Text)
		if len(all) <= s.Inputs {
			return d.done() // a retried callback: the same screen
		}
		in = all[s.Inputs:]
	}
	if err := d.inputs(in, false); err != nil {
		return Step{}, err
	}
	return d.done()
}

// joined splits an aggregator's text into the session's inputs.
func joined(text string) []string {
	if text == "" {
		return nil
	}
	return strings.Split(text, "*")
}

// shortcut returns the inputs a new session's first event carries: an
// aggregator's text ("1*2"), or what an SMPP begin dialled past the
// service code ("*384*1*2#" for *384#).
func (d *dlg) shortcut() []string {
	if d.r.Joined {
		return joined(d.r.Text)
	}
	base := strings.TrimSuffix(d.e.cfg.ServiceCode, "#")
	if d.r.Kind != Begin || base == "" {
		return nil
	}
	rest, ok := strings.CutPrefix(strings.TrimSpace(d.r.Text), base+"*")
	if !ok {
		return nil
	}
	return joined(strings.TrimSuffix(rest, "#"))
}

// abort ends the session from the network's side: no screen. An
// aggregator's session is kept as ended (see Config.EndedTTL).
func (d *dlg) abort() (Step, error) {
	r := d.r
	if !r.Joined {
		return Step{Screen: Screen{End: true}}, d.tx.EndUSSDSession(d.ctx, r.Phone, r.Session)
	}
	s, err := load(d.ctx, d.tx, r.Phone, r.Session)
	switch {
	case errors.Is(err, flows.ErrNotFound):
		return Step{Screen: Screen{End: true}}, nil
	case err != nil:
		return Step{}, err
	}
	d.s = &s
	if s.State == stEnded {
		return Step{Screen: Screen{End: true}}, nil
	}
	return Step{Screen: Screen{End: true}}, d.close("")
}

// Resume is the second step of a Handle that returned Work: res is its
// result. It records the attempt through flows and returns the screen.
func (e *Engine) Resume(ctx context.Context, tx Tx, r Request, st Step, res flows.PINResult) (Screen, error) {
	if r.Limit == (Limit{}) {
		r.Limit = DefaultLimit
	}
	d := &dlg{e: e, ctx: ctx, tx: tx, r: r}
	s, err := load(ctx, tx, r.Phone, r.Session)
	gone := errors.Is(err, flows.ErrNotFound)
	if err != nil && !gone {
		return Screen{}, err
	}
	gone = gone || s.State == stEnded
	answers, err := e.cfg.Flows.ResumeScreen(ctx, tx, st.cmd, st.Work, res)
	if err != nil {
		return Screen{}, err
	}
	if gone {
		// The session ended meanwhile: the result stands; the user
		// hears of it by SMS, where flows sends what matters.
		return Screen{End: true, Text: text(e.cfg.DefaultLang, tBySMS, e.vars)}, nil
	}
	d.s = &s
	d.answered(answers)
	step, err := d.done()
	return step.Screen, err
}

// Unavailable is the end screen of a step that failed (the store down),
// in lang.
func Unavailable(lang flows.Lang) string { return text(lang, tUnavailable, nil) }

// Push opens a network-initiated session asking for the PIN of the
// operation pending on the phone; the answer goes on as a PIN screen.
func (e *Engine) Push(ctx context.Context, tx Tx, p Push) (Screen, error) {
	d := &dlg{e: e, ctx: ctx, tx: tx, r: Request{Kind: Begin, Phone: p.Phone, Session: p.Session, Bind: p.Bind, Trusted: p.Trusted, At: p.At, Limit: p.Limit}}
	if d.r.Limit == (Limit{}) {
		d.r.Limit = DefaultLimit
	}
	s, err := d.start()
	if err != nil {
		return Screen{}, err
	}
	d.s = &s
	s.Op, s.Vars = "push", flows.Vars{"text": p.Text}
	d.show(stPushPIN, "")
	step, err := d.done()
	return step.Screen, err
}

// start makes a new session and picks its first screen: the main menu
// for a registered phone, the welcome menu for one with no account, and
// setting a PIN first for one bound but with no PIN (SPEC §4).
func (d *dlg) start() (Session, error) {
	r := d.r
	s := Session{
		Phone: r.Phone, ID: r.Session, Bind: r.Bind, Trusted: r.Trusted, Lang: d.e.cfg.DefaultLang,
		Started: r.At, ScreenAt: r.At, Expires: r.At.Add(d.e.cfg.SessionTTL),
	}
	d.s = &s
	sub, accts, err := d.profile()
	if err != nil {
		return s, err
	}
	if sub.Lang.Valid() {
		s.Lang = sub.Lang
	}
	switch {
	case len(accts) == 0:
		s.State = stWelcome
	case sub.PIN == "":
		s.State = stSetPIN
	default:
		s.State = stMain
	}
	return s, nil
}

func (d *dlg) profile() (flows.Subscriber, []flows.Account, error) {
	if d.loaded {
		return d.sub, d.accts, nil
	}
	sub, err := d.tx.Subscriber(d.ctx, d.r.Phone)
	if errors.Is(err, flows.ErrNotFound) {
		return flows.Subscriber{Phone: d.r.Phone}, nil, nil
	}
	if err != nil {
		return sub, nil, err
	}
	accts, err := d.tx.Accounts(d.ctx, d.r.Phone)
	if err != nil {
		return sub, nil, err
	}
	d.sub, d.accts, d.loaded = sub, accts, true
	return sub, accts, nil
}

// inputs takes answers in order until one needs PIN work or ends the
// session; a shortcut's stop at a screen that asks for a PIN or a code.
func (d *dlg) inputs(in []string, shortcut bool) error {
	for _, t := range in {
		if d.end || d.work != nil || shortcut && d.s.State.secret() {
			break
		}
		d.s.Inputs++
		if err := d.input(strings.TrimSpace(t)); err != nil {
			return err
		}
	}
	return nil
}

// done saves or ends the session and renders the screen.
func (d *dlg) done() (Step, error) {
	s := d.s
	if d.end {
		if pages := d.e.pages(d.endText, s.Lang, d.r.Limit, ""); len(pages) > 1 {
			// Too long for one end screen: paged, the last one ends.
			d.end, s.EndText, s.State, s.Page, s.Note = false, d.endText, stEndPages, 0, ""
		} else {
			return Step{Screen: Screen{End: true, Text: d.endText}}, d.close(d.endText)
		}
	}
	step := Step{Work: d.work, cmd: d.cmd}
	if d.work == nil {
		text, last := d.render()
		step.Screen = Screen{Text: text, End: last}
		s.ScreenAt = d.r.At
	}
	if step.Screen.End {
		return step, d.close(step.Screen.Text)
	}
	if err := d.save(*s); err != nil {
		return Step{}, err
	}
	return step, nil
}

// close ends the session, whose last screen was last. An aggregator's
// session is kept as ended, with nothing of what it collected, until
// EndedTTL past its hard end: every callback repeats the session's
// inputs, and an ended session's must never start a new one.
func (d *dlg) close(last string) error {
	s := d.s
	if !d.r.Joined {
		return d.tx.EndUSSDSession(d.ctx, s.Phone, s.ID)
	}
	return d.save(Session{
		Phone: s.Phone, ID: s.ID, Bind: s.Bind, Lang: s.Lang, State: stEnded, EndText: last,
		Started: s.Started, ScreenAt: d.r.At, Expires: s.Expires, Inputs: s.Inputs,
	})
}

// save writes s; the store keeps an aggregator's session EndedTTL past
// its hard end (see close).
func (d *dlg) save(s Session) error {
	keep := s.Expires
	if d.r.Joined {
		keep = keep.Add(d.e.cfg.EndedTTL)
	}
	return save(d.ctx, d.tx, s, keep)
}

// show moves to state with note above its screen.
func (d *dlg) show(state State, note string) {
	d.s.State, d.s.Page, d.s.Note = state, 0, note
}

// finish ends the session with t.
func (d *dlg) finish(t string) { d.end, d.endText = true, t }

func (d *dlg) t(key textKey, kv ...string) string {
	v := flows.Vars{}
	for k, x := range d.e.vars {
		v[k] = x
	}
	for k, x := range d.s.Vars {
		v[k] = x
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = kv[i+1]
	}
	return text(d.s.Lang, key, v)
}

// say is a flows reply as the screen shows it: rendered from its key in
// the session's language, with the screen's words where flows' quote SMS
// syntax (flowTexts); a reply made otherwise (no key) as flows wrote it.
func (d *dlg) say(a flows.OutSMS) string {
	if a.Key == "" {
		return a.Text
	}
	v := flows.Vars{}
	for k, x := range d.e.vars {
		v[k] = x
	}
	for k, x := range a.Vars {
		v[k] = x
	}
	return sayFlow(d.s.Lang, a.Key, v)
}

// said is every reply, one a line.
func (d *dlg) said(answers []flows.OutSMS) string {
	parts := make([]string, 0, len(answers))
	for _, a := range answers {
		parts = append(parts, d.say(a))
	}
	return strings.Join(parts, "\n")
}

// refused is the note that refuses, up front, a menu that changes the
// phone's accounts or PIN on a transport that is not trusted: flows'
// refusal (SPEC §5.5), before anything is typed.
func (d *dlg) refused() string {
	return sayFlow(d.s.Lang, flows.KeyMoneyUntrusted, d.e.vars)
}

// run runs a command the menus built through flows, as the phone's. A
// command flows would refuse as malformed (the menus check less than the
// grammar) is answered here with what was wrong — flows' reply would add
// the command's SMS form.
func (d *dlg) run(cmd string) []flows.OutSMS {
	if _, err := flows.Parse(cmd); err != nil {
		key := flows.KeyInternal
		var fe *flows.Error
		if errors.As(err, &fe) && fe.Reason != "" && slices.Contains(flows.Keys(), flows.ReasonKey(fe.Reason)) {
			key = flows.ReasonKey(fe.Reason)
		}
		return []flows.OutSMS{{Key: key, Vars: d.e.vars}}
	}
	in := flows.InboundSMS{
		From: d.s.Phone, To: d.e.cfg.ShortCode, Bind: d.s.Bind, Trusted: d.s.Trusted, Text: cmd, At: d.r.At,
	}
	d.loaded = false // the command may change the phone's accounts
	work, answers, err := d.e.cfg.Flows.HandleScreen(d.ctx, d.tx, in)
	if err != nil {
		panic(stepErr{err})
	}
	if work != nil {
		d.work, d.cmd = work, in
	}
	return answers
}

// command runs cmd and goes on with its answers, unless it asked for
// PIN work (then Resume does).
func (d *dlg) command(cmd string) {
	answers := d.run(cmd)
	if d.work == nil {
		d.answered(answers)
	}
}

type stepErr struct{ err error }

// input acts on one answer to the current screen.
func (d *dlg) input(in string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			se, ok := r.(stepErr)
			if !ok {
				panic(r)
			}
			err = se.err
		}
	}()
	s := d.s
	switch {
	case in == "0" && s.Page > 0:
		s.Page--
		return nil
	case in == "98" && s.Page+1 < len(d.e.pages(d.body(), s.Lang, d.r.Limit, d.backLine())):
		s.Page++
		return nil
	}
	s.Note = "" // shown with every page of its screen; gone with the next input
	switch s.State {
	case stEndPages:
		d.finish(d.t(tBye))
	case stWelcome:
		switch {
		case in == "1" && !s.Trusted:
			d.show(stWelcome, d.refused())
		case in == "1":
			d.show(stLinkBank, "")
		case in == "2":
			d.finish(d.t(tHelp))
		case in == "0":
			d.finish(d.t(tBye))
		default:
			d.show(stWelcome, d.t(tInvalid))
		}
	case stMain:
		d.mainMenu(in)
	case stSetPIN:
		switch {
		case in == "0":
			d.finish(d.t(tBye))
		case d.badPIN(in) != "":
			d.show(stSetPIN, d.badPIN(in))
		default:
			s.NewPIN = flows.PIN(in)
			d.show(stSetPIN2, "")
		}
	case stSetPIN2:
		switch {
		case in == "0":
			s.NewPIN = ""
			d.show(stSetPIN, "")
		case flows.PIN(in) != s.NewPIN:
			s.NewPIN = ""
			d.show(stSetPIN, d.t(tPINsDiffer))
		default:
			d.command("PIN " + in + " " + in)
		}
	case stLinkBank:
		switch {
		case in == "0":
			d.home("")
		case !bankRE.MatchString(strings.ToUpper(in)):
			d.show(stLinkBank, d.t(tBadBank))
		default:
			s.Bank = strings.ToUpper(in)
			s.Vars = flows.Vars{"bank": s.Bank}
			d.show(stLinkAccount, "")
		}
	case stLinkAccount:
		switch {
		case in == "0":
			d.show(stLinkBank, "")
		case !accountRE.MatchString(in):
			d.show(stLinkAccount, d.t(tBadAccount))
		default:
			s.Account = flows.AccountNumber(in)
			s.Op = "link"
			d.command("LINK " + s.Bank + " " + in)
		}
	case stLinkPIN, stConfirm, stBalPIN, stUnlinkPIN, stPushPIN:
		switch {
		case in == "0":
			d.back()
		case !d.isPIN(in):
			d.show(s.State, d.t(tPINFormat))
		default:
			d.command("OK " + in)
		}
	case stLinkCode, stCode:
		switch {
		case in == "0":
			d.finish(d.t(tCodeAfterEnd))
		case !codeRE.MatchString(in):
			d.show(s.State, d.t(tCodeFormat))
		default:
			d.command(in)
		}
	case stSendPayee:
		switch {
		case in == "0":
			d.show(stMain, "")
		case !d.isPhone(in):
			d.show(stSendPayee, d.t(tBadPhone))
		default:
			s.Payee = in
			d.show(stSendAmount, "")
		}
	case stPayMerchant:
		switch {
		case in == "0":
			d.show(stMain, "")
		case !merchantRE.MatchString(strings.ToUpper(in)):
			d.show(stPayMerchant, d.t(tBadMerchant))
		default:
			s.Merchant = strings.ToUpper(in)
			d.show(stPayAmount, "")
		}
	case stSendAmount, stPayAmount:
		if in == "0" {
			d.back()
			break
		}
		if _, err := flows.ParseAmount(in); err != nil {
			d.show(s.State, d.t(tBadAmount))
			break
		}
		if s.State == stSendAmount {
			s.Op = "send"
			d.command("SEND " + s.Payee + " " + in)
		} else {
			s.Op = "pay"
			d.command("PAY " + s.Merchant + " " + in)
		}
	case stAccounts:
		n, err := strconv.Atoi(in)
		switch {
		case in == "0":
			d.show(stMain, "")
		case err != nil || n < 1 || n > len(d.accountLines()):
			d.show(stAccounts, d.t(tInvalid))
		default:
			s.AccountN = n
			s.Vars = flows.Vars{"account": d.accountLines()[n-1]}
			d.show(stAccount, "")
		}
	case stAccount:
		switch in {
		case "0":
			d.show(stAccounts, "")
		case "1":
			s.Op = "default"
			d.command("DEFAULT " + strconv.Itoa(s.AccountN))
		case "2":
			s.Op = "unlink"
			d.command("UNLINK " + strconv.Itoa(s.AccountN))
		default:
			d.show(stAccount, d.t(tInvalid))
		}
	case stOldPIN:
		switch {
		case in == "0":
			d.show(stMain, "")
		case !d.isPIN(in):
			d.show(stOldPIN, d.t(tPINFormat))
		default:
			s.OldPIN = flows.PIN(in)
			d.show(stNewPIN, "")
		}
	case stNewPIN:
		switch {
		case in == "0":
			s.OldPIN = ""
			d.show(stOldPIN, "")
		case d.badPIN(in) != "":
			d.show(stNewPIN, d.badPIN(in))
		default:
			s.NewPIN = flows.PIN(in)
			d.show(stNewPIN2, "")
		}
	case stNewPIN2:
		switch {
		case in == "0":
			s.NewPIN = ""
			d.show(stNewPIN, "")
		case flows.PIN(in) != s.NewPIN:
			s.NewPIN = ""
			d.show(stNewPIN, d.t(tPINsDiffer))
		default:
			old := s.OldPIN.Reveal()
			s.OldPIN, s.NewPIN = "", ""
			s.Op = "pin"
			d.command("PIN " + old + " " + in + " " + in)
		}
	case stLang:
		switch in {
		case "0":
			d.show(stMain, "")
		case "1", "2":
			lang := map[string]string{"1": "EN", "2": "ZH"}[in]
			d.run("LANG " + lang)
			s.Lang = map[string]flows.Lang{"1": flows.English, "2": flows.Chinese}[in]
			d.show(stMain, "")
		default:
			d.show(stLang, d.t(tInvalid))
		}
	default:
		return fmt.Errorf("ussd: session in unknown state %q", s.State)
	}
	return nil
}

var (
	phoneRE    = regexp.MustCompile(`^\+?[0-9]{5,15}$`)
	merchantRE = regexp.MustCompile(`^[A-Z0-9]{2,12}$`)
	bankRE     = regexp.MustCompile(`^[A-Z]{2,8}$`)
	accountRE  = regexp.MustCompile(`^[0-9]{8,30}$`)
	codeRE     = regexp.MustCompile(`^[0-9]{6}$`)
)

// isPhone reports whether in is a payee's number, as flows reads one.
func (d *dlg) isPhone(in string) bool {
	if !phoneRE.MatchString(in) {
		return false
	}
	_, err := flows.ParseMSISDN(in, d.e.cfg.Country)
	return err == nil
}

// badPIN is why in cannot be a new PIN, "" when it can: the format, or
// flows' reason (too easy to guess), said on the screen it was typed
// into rather than after it was typed twice.
func (d *dlg) badPIN(in string) string {
	if !d.isPIN(in) {
		return d.t(tPINFormat)
	}
	var fe *flows.Error
	if err := flows.ValidatePIN(in, d.e.cfg.PINLength); errors.As(err, &fe) && fe.Reason != "" {
		return sayFlow(d.s.Lang, flows.ReasonKey(fe.Reason), d.e.vars)
	}
	return ""
}

func (d *dlg) isPIN(in string) bool {
	if len(in) != d.e.cfg.PINLength {
		return false
	}
	for _, c := range in {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// mainMenu acts on a choice in the registered phone's main menu.
func (d *dlg) mainMenu(in string) {
	s := d.s
	money := in == "1" || in == "2" || in == "3" || in == "4"
	if money && !s.Trusted {
		d.show(stMain, d.t(tNoMoney))
		return
	}
	if in == "6" && !s.Trusted {
		// A PIN change is an account change: refused before the PINs
		// are typed, with flows' words.
		d.show(stMain, d.refused())
		return
	}
	switch in {
	case "1":
		d.show(stSendPayee, "")
	case "2":
		d.show(stPayMerchant, "")
	case "3":
		s.Op = "bal"
		d.command("BAL")
	case "4":
		s.Op = "mini"
		d.command("MINI")
	case "5":
		if len(d.accountLines()) == 0 {
			d.show(stMain, d.t(tNoAccounts))
			return
		}
		d.show(stAccounts, "")
	case "6":
		d.show(stOldPIN, "")
	case "7":
		d.show(stLang, "")
	case "0":
		d.finish(d.t(tBye))
	default:
		d.show(stMain, d.t(tInvalid))
	}
}

// home shows the main menu fitting the phone: welcome with no account.
func (d *dlg) home(note string) {
	_, accts, err := d.profile()
	if err != nil {
		panic(stepErr{err})
	}
	if len(accts) == 0 {
		d.show(stWelcome, note)
		return
	}
	d.show(stMain, note)
}

// back is "0" on a screen whose operation is pending in flows: the
// operation is cancelled (quietly: the screen says where the user is),
// and the previous screen shown.
func (d *dlg) back() {
	s := d.s
	switch s.State {
	case stSendAmount:
		d.show(stSendPayee, "")
		return
	case stPayAmount:
		d.show(stPayMerchant, "")
		return
	}
	d.run("CANCEL")
	switch s.State {
	case stConfirm:
		if s.Op == "pay" {
			d.show(stPayAmount, "")
		} else {
			d.show(stSendAmount, "")
		}
	case stLinkPIN:
		s.Vars = flows.Vars{"bank": s.Bank}
		d.show(stLinkAccount, "")
	case stUnlinkPIN:
		lines := d.accountLines()
		switch {
		case s.AccountN >= 1 && s.AccountN <= len(lines):
			s.Vars = flows.Vars{"account": lines[s.AccountN-1]}
			d.show(stAccount, "")
		case len(lines) > 0: // gone meanwhile (answered by SMS)
			d.show(stAccounts, "")
		default:
			d.home("")
		}
	case stPushPIN:
		d.finish(d.t(tBye))
	default:
		d.show(stMain, "")
	}
}

// answered goes on with flows' answers to the command the current state
// ran: the screen the expected answer leads to, the same screen again
// with what went wrong (a wrong PIN leaves the operation pending, SPEC
// §5.5), or an end screen with flows' own words.
func (d *dlg) answered(answers []flows.OutSMS) {
	s := d.s
	var first flows.OutSMS
	if len(answers) > 0 {
		first = answers[0]
	}
	all := func() string { return d.said(answers) }
	retry := func() bool {
		switch first.Key {
		case flows.KeyAuthFailed:
			d.show(s.State, d.t(tWrongAnswer))
			return true
		case flows.KeyTryAgain:
			d.show(s.State, d.t(tPINWait))
			return true
		}
		return false
	}
	switch s.State {
	case stSetPIN2:
		switch first.Key {
		case flows.KeyPINSet:
			d.show(stMain, d.say(first))
		case flows.KeyTryAgain:
			d.show(stSetPIN, d.t(tPINWait))
		default: // a trivial PIN, and the like: say why, ask again
			d.show(stSetPIN, all())
		}
	case stLinkAccount, stLinkPIN:
		switch {
		case first.Key == flows.KeyLinkAskPIN:
			s.Vars = first.Vars
			d.show(stLinkPIN, "")
		case first.Key == flows.KeyLinkChecking:
			s.Vars = first.Vars
			d.show(stLinkCode, "")
		case s.State == stLinkPIN && retry():
		default:
			d.finish(all())
		}
	case stSendAmount, stPayAmount:
		switch first.Key {
		case flows.KeySendConfirm, flows.KeyPayConfirm:
			s.Vars = first.Vars
			d.show(stConfirm, "")
		case flows.KeySendNoPayee, flows.KeySendSelf:
			d.show(stSendPayee, all())
		case flows.KeyPayNoMerchant:
			d.show(stPayMerchant, all())
		default:
			if strings.HasPrefix(string(first.Key), string(flows.ReasonKey(""))) {
				d.show(s.State, all()) // refused as malformed (run): say why, ask again
				break
			}
			d.finish(all())
		}
	case stConfirm, stPushPIN:
		switch {
		case len(answers) == 0: // the code went by SMS
			d.show(stCode, "")
		case first.Key == flows.KeyAnswerWantCode: // the PIN was given already
			d.show(stCode, all())
		case retry():
		default:
			d.finish(all())
		}
	case stCode, stLinkCode:
		switch {
		case first.Key == flows.KeyAuthorized:
			s.Vars = first.Vars
			d.finish(d.t(tAuthorized))
		case first.Key == flows.KeyLinkedSetPIN:
			d.show(stSetPIN, d.say(first))
		case first.Key == flows.KeyLinked:
			d.show(stMain, d.say(first))
		case first.Key == flows.KeyAuthFailed:
			d.show(s.State, d.t(tWrongAnswer))
		case first.Key == flows.KeyAnswerWait:
			d.show(s.State, d.say(first))
		default:
			d.finish(all())
		}
	case stMain: // BAL, MINI
		switch first.Key {
		case flows.KeyBalAskPIN, flows.KeyMiniAskPIN:
			s.Vars = first.Vars
			d.show(stBalPIN, "")
		default:
			d.finish(all())
		}
	case stBalPIN:
		switch {
		case len(answers) == 0: // the bank is asked; the answer comes by SMS
			d.finish(d.t(tBySMS))
		case retry():
		default:
			d.finish(all())
		}
	case stAccount:
		switch first.Key {
		case flows.KeyUnlinkAskPIN:
			s.Vars = first.Vars
			d.show(stUnlinkPIN, "")
		default:
			d.finish(all())
		}
	case stUnlinkPIN:
		if !retry() {
			d.finish(all())
		}
	case stNewPIN2:
		switch first.Key {
		case flows.KeyPINChanged:
			d.finish(d.say(first))
		case flows.KeyAuthFailed:
			d.show(stOldPIN, d.t(tWrongAnswer))
		case flows.KeyTryAgain:
			d.show(stOldPIN, d.t(tPINWait))
		case flows.KeyAuthLocked, flows.KeyAuthOperatorLocked:
			d.finish(all())
		default: // a trivial new PIN, and the like: say why, ask again
			d.show(stOldPIN, all())
		}
	default:
		d.finish(all())
	}
}
