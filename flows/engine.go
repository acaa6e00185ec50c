package flows

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// EngineConfig is what the flows need from the configuration (SPEC §1)
// and the keys.
type EngineConfig struct {
	// DefaultLang is the reply language of a phone that has not chosen
	// one (config language). Anything but English or Chinese reads
	// English.
	DefaultLang Lang
	// ShortCode is the address replies come from (config short_code).
	ShortCode string
	// Country is the calling code local numbers are read in (config
	// country, e.g. "86").
	Country string
	// PINLength is how many digits a PIN has (config pin_length, 4..6);
	// 0 means 6. Replies quote it.
	PINLength int
	// Location is the time zone replies tell times in (config
	// timezone). Default UTC.
	Location *time.Location
	// PINs hashes and checks PINs (keys.pepper_file). Required.
	PINs *PINHasher
	// Codes issues and checks one-time codes. Required.
	Codes *Codes
	// NewID returns a globally unique id for an operation (a bank
	// request, a transfer). Default: 128 random bits in hex.
	NewID func() string

	// Currency is the ISO 4217 code of amounts (config currency).
	// Default CNY, as the config's.
	Currency string
	// Limits cap SEND and PAY (config limits); zero fields are no limit.
	Limits Limits
	// SendFee and PayFee are the fees of SEND and PAY (config fees).
	SendFee, PayFee Fee
	// Merchants are the limits of merchants' payment requests (config
	// merchants); zero fields take MerchantRules' defaults.
	Merchants MerchantRules
	// Envelopes is when an enrolled phone's payments must come sealed
	// (config secure.envelopes); zero is optional.
	Envelopes EnvelopePolicy
	// Epoch names this process when it is the only one on its database
	// (SQLite): PIN attempts a dead process reserved are then given back
	// at once (Lock.Adopt). Empty with several processes (PostgreSQL),
	// where reservations end by ReserveTTL.
	Epoch string
}

// Engine runs the flows. It holds only its configuration: it is safe for
// concurrent use, each call working in the Tx it is given.
type Engine struct {
	cfg  EngineConfig
	vars Vars // placeholders every reply may use
}

// NewEngine returns an Engine for cfg, with the defaults of EngineConfig
// filled in. cfg.PINs and cfg.Codes are required.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if cfg.PINs == nil || cfg.Codes == nil {
		return nil, errors.New("flows: the engine needs a PIN hasher and a code issuer")
	}
	if !cfg.DefaultLang.Valid() {
		cfg.DefaultLang = English
	}
	if cfg.PINLength == 0 {
		cfg.PINLength = 6
	}
	if cfg.PINLength < 4 || cfg.PINLength > 6 {
		return nil, fmt.Errorf("flows: PIN length %d is not 4 to 6", cfg.PINLength)
	}
	if cfg.Location == nil {
		cfg.Location = time.UTC
	}
	if cfg.NewID == nil {
		cfg.NewID = randomID
	}
	if cfg.Currency == "" {
		cfg.Currency = "CNY"
	}
	m := &cfg.Merchants
	m.PushesPerHour = cmp.Or(m.PushesPerHour, 3)
	m.TerminalFailures = cmp.Or(m.TerminalFailures, 10)
	m.TerminalPhones = cmp.Or(m.TerminalPhones, 3)
	m.TerminalWindow = cmp.Or(m.TerminalWindow, time.Hour)
	return &Engine{cfg: cfg, vars: Vars{"pin_length": strconv.Itoa(cfg.PINLength)}}, nil
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// PINWork is slow work a step asks for: checking a PIN against its hash
// and hashing a new one (argon2id, tens of milliseconds). It runs between
// two steps, outside any transaction (ARCHITECTURE.md, Scale): the first
// step reserves the attempt (Lock.Reserve) and returns the work; the
// caller runs Engine.CheckPIN on a bounded pool, then gives the result to
// Engine.ResumeSMS in a second step, which records it.
type PINWork struct {
	// Check is the stored hash Present is checked against; "" when there
	// is nothing to check (setting a first PIN).
	Check   PINHash
	Present PIN
	// New is a new PIN to hash; "" when none.
	New PIN
	// Pending is the id of the prompt the PIN answers, "" for none: the
	// second step goes on only if that prompt is still the pending one.
	Pending string
}

// PINResult is what CheckPIN found.
type PINResult struct {
	OK bool // Present is the PIN of Check
	// Rehash replaces Check when its parameters are out of date (only
	// when OK).
	Rehash PINHash
	// NewHash is the hash of New.
	NewHash PINHash
	// Err: the stored hash could not be read (ErrPINHash), no salt
	// could be drawn, or the caller could not run the check in time.
	// The attempt is given back, not counted, and the user asked to
	// send it again.
	Err error
}

// CheckPIN does w: it runs argon2id once or twice on the calling
// goroutine. Callers bound how many run at once.
func (e *Engine) CheckPIN(w *PINWork) PINResult {
	var r PINResult
	if w.Check != "" {
		ok, rehash, err := e.cfg.PINs.Verify(w.Present, w.Check)
		if err != nil {
			return PINResult{Err: err}
		}
		r.OK = ok
		if ok && rehash {
			if h, err := e.cfg.PINs.Hash(w.Present); err == nil {
				r.Rehash = h
			}
		}
	}
	if w.New != "" && (w.Check == "" || r.OK) {
		h, err := e.cfg.PINs.Hash(w.New)
		if err != nil {
			return PINResult{Err: err}
		}
		r.NewHash = h
	}
	return r
}

// HandleSMS is the flow step for one inbound SMS (SPEC §3, §5.1, §5.5):
// it loads the phone's record (creating it on first contact), reads the
// command, acts on it and queues its reply, to in.From, from the short
// code, on the bind the text came on. Every text gets a reply — a
// malformed or unknown one the reply that says what was wrong and the
// correct form — with one exception: an attempt refused unchecked (the
// phone is locked, or its PIN checks are all in flight) is told so at
// most once per NoticeEvery. 10,000 guesses make a handful of SMS to the
// phone's owner, not 10,000 (RELIABILITY S1).
//
// A command that needs a PIN checked or hashed queues no reply: it
// reserves the attempt and returns the work, which the caller runs
// (CheckPIN) and hands to ResumeSMS with the same in.
//
// The reply language is the phone's choice (LANG) if it made one; else
// Chinese when the text has Chinese in it (a 中文 keyword), without saving
// that as a choice; else the configured default.
//
// The error is the Tx's, wrapped; the caller rolls back and the SMSC
// delivers the text again.
func (e *Engine) HandleSMS(ctx context.Context, tx Tx, in InboundSMS) (*PINWork, error) {
	work, _, err := e.handle(ctx, tx, in, false)
	return work, err
}

// beginInbound begins the step for an inbound text (by SMS, or a command
// a screen built).
func (e *Engine) beginInbound(ctx context.Context, tx Tx, in InboundSMS, screen bool) (*flowStep, error) {
	s, err := e.begin(ctx, tx, in.From, in.At)
	if err != nil {
		return nil, err
	}
	s.screen = screen
	s.in, s.bind = in, in.Bind
	s.lang = s.textLang(in.Text)
	return s, nil
}

func (e *Engine) handle(ctx context.Context, tx Tx, in InboundSMS, screen bool) (*PINWork, []OutSMS, error) {
	s, err := e.beginInbound(ctx, tx, in, screen)
	if err != nil {
		return nil, nil, err
	}
	cmd, perr := Parse(in.Text)
	var work *PINWork
	if perr != nil {
		s.replyText(ErrorText(s.lang, perr, e.vars))
	} else if err := s.guard(func() { work = s.command(cmd) }); err != nil {
		return nil, nil, err
	}
	if work != nil && len(s.out) > 0 {
		return nil, nil, errors.New("flows: a step both replied and asked for PIN work") // a bug
	}
	if err := s.finish(); err != nil {
		return nil, nil, err
	}
	return work, s.answers, nil
}

// ResumeSMS is the second step of a command HandleSMS returned work for:
// it records the attempt's result on the lockout counter and finishes
// the command, with its reply. in is the same inbound SMS.
func (e *Engine) ResumeSMS(ctx context.Context, tx Tx, in InboundSMS, w *PINWork, r PINResult) error {
	_, err := e.resume(ctx, tx, in, w, r, false)
	return err
}

func (e *Engine) resume(ctx context.Context, tx Tx, in InboundSMS, w *PINWork, r PINResult, screen bool) ([]OutSMS, error) {
	s, err := e.beginInbound(ctx, tx, in, screen)
	if err != nil {
		return nil, err
	}
	cmd, perr := Parse(in.Text)
	if perr != nil {
		return nil, fmt.Errorf("flows: resuming a text that no longer parses: %w", perr) // a bug
	}
	if err := s.guard(func() { s.resume(cmd, w, r) }); err != nil {
		return nil, err
	}
	if err := s.finish(); err != nil {
		return nil, err
	}
	return s.answers, nil
}

// bySMSToo are the replies a screen shows that go by SMS as well: the
// lock alerts, which the owner of the phone must get even when the
// screen was someone else's.
var bySMSToo = map[Key]bool{KeyAuthLocked: true, KeyAuthLastWarning: true, KeyAuthOperatorLocked: true}

// HandleScreen is HandleSMS for a channel with a screen (USSD): the
// command in in.Text is the one a menu built, and the replies to the
// phone are returned, in order, for the screen instead of being queued
// as SMS — all but a one-time code, which goes by SMS only (SPEC §4),
// and the lock alerts, which go both ways. Everything else — other
// phones' receipts, bank requests, the rules of §5.5 — is as by SMS.
func (e *Engine) HandleScreen(ctx context.Context, tx Tx, in InboundSMS) (*PINWork, []OutSMS, error) {
	return e.handle(ctx, tx, in, true)
}

// ResumeScreen is ResumeSMS for a command HandleScreen returned work for.
func (e *Engine) ResumeScreen(ctx context.Context, tx Tx, in InboundSMS, w *PINWork, r PINResult) ([]OutSMS, error) {
	return e.resume(ctx, tx, in, w, r, true)
}

// HandleBankResult is the flow step for the bank's answer to a request
// a step queued (or the dispatcher's giving up on it). An answer whose
// prompt is gone — cancelled, replaced, expired — changes nothing.
func (e *Engine) HandleBankResult(ctx context.Context, tx Tx, r BankResult, now time.Time) error {
	s, err := e.begin(ctx, tx, r.Phone, now)
	if err != nil {
		return err
	}
	s.lang = e.replyLang(s.sub, "")
	if r.Kind == BankTransfer {
		// A transfer is no prompt: it was authorized, and the answer
		// finishes it whatever the phone does meanwhile.
		if err := s.guard(func() { s.transferAnswered(r) }); err != nil {
			return err
		}
		return s.finish()
	}
	p := s.sub.Pending
	if p == nil || p.ID != r.ID || p.Stage != StageBank {
		return s.finish()
	}
	s.bind = p.Bind
	if p.Lang.Valid() && !s.sub.Lang.Valid() {
		s.lang = p.Lang
	}
	if err := s.guard(func() {
		switch r.Kind {
		case BankVerify:
			s.verified(p, r)
		case BankBalance, BankStatement:
			s.balanceAnswered(p, r)
		}
	}); err != nil {
		return err
	}
	return s.finish()
}

// ExpireTransfer is the timer step of a pending transfer whose prompt
// ran out (SPEC §6 expired): the transfer ends expired, the phone's
// prompt is dropped and the phone is told. A transfer no longer pending
// changes nothing; an unknown id is ErrNotFound.
func (e *Engine) ExpireTransfer(ctx context.Context, tx Tx, id string, now time.Time) error {
	t, err := tx.Transfer(ctx, id)
	if err != nil {
		return err
	}
	if !t.State.Pending() || now.Before(t.Expires) {
		return nil
	}
	s, err := e.begin(ctx, tx, t.Payer, now)
	if err != nil {
		return err
	}
	s.lang = e.replyLang(s.sub, "")
	if err := s.guard(func() {
		p := s.expired
		if p == nil || p.ID != id {
			// Not the phone's prompt (any more): end the row alone.
			s.move(&t, TransferExpired)
			return
		}
		s.bind = p.Bind
		if p.Lang.Valid() && !s.sub.Lang.Valid() {
			s.lang = p.Lang
		}
		s.move(&t, TransferExpired)
		s.reply(KeyTransferExpiredTo, s.vars("what", s.what(p)))
	}); err != nil {
		return err
	}
	return s.finish()
}

// OperatorUnlock lifts every lock of a phone and resets its counter (the
// admin API's unlock) and tells the phone by SMS. A phone with no record
// is ErrNotFound.
func (e *Engine) OperatorUnlock(ctx context.Context, tx Tx, phone MSISDN, now time.Time) error {
	sub, err := tx.Subscriber(ctx, phone)
	if err != nil {
		return err
	}
	s := &flowStep{e: e, ctx: ctx, tx: tx, now: now, sub: sub, dirty: true}
	s.lang = e.replyLang(sub, "")
	s.sub.Lock = s.sub.Lock.OperatorUnlock()
	s.sub.Stopped = false
	s.reply(KeyUnlocked, nil)
	return s.finish()
}

// OperatorBlock locks a phone until an operator unlocks it (the admin
// API's block): its pending prompt ends, with its transfer, and the phone
// is told by SMS. Blocking a blocked phone changes nothing and tells it
// nothing. A phone with no record is ErrNotFound.
func (e *Engine) OperatorBlock(ctx context.Context, tx Tx, phone MSISDN, now time.Time) error {
	s, err := e.begin(ctx, tx, phone, now)
	if err != nil {
		return err
	}
	if s.fresh {
		return ErrNotFound
	}
	if s.sub.Lock.Operator {
		return nil
	}
	s.lang = e.replyLang(s.sub, "")
	if p := s.sub.Pending; p != nil {
		s.bind = p.Bind
	}
	s.sub.Lock.Operator, s.dirty = true, true
	s.clearPending()
	s.reply(KeyBlocked, nil)
	return s.finish()
}

// replyLang picks the language of a reply to text from sub (see HandleSMS).
func (e *Engine) replyLang(sub Subscriber, text string) Lang {
	if sub.Lang.Valid() {
		return sub.Lang
	}
	if l := TextLang(text); l.Valid() {
		return l
	}
	return e.cfg.DefaultLang
}

// textLang is the language of a reply to text: as replyLang says, but a
// text with no language of its own (a code, OK <PIN>) answering a prompt
// is answered in the prompt's language.
func (s *flowStep) textLang(text string) Lang {
	if !s.sub.Lang.Valid() && !TextLang(text).Valid() {
		if p := s.sub.Pending; p != nil && p.Lang.Valid() {
			return p.Lang
		}
	}
	return s.e.replyLang(s.sub, text)
}

// validPayee reports whether a SEND payee is a phone number of the
// configured numbering plan.
func (e *Engine) validPayee(payee string) bool {
	_, err := ParseMSISDN(payee, e.cfg.Country)
	return err == nil
}

// flowStep is one flow step in the making: the phone's record as loaded and
// changed, and the SMS it will queue. finish writes it all.
type flowStep struct {
	e     *Engine
	ctx   context.Context
	tx    Tx
	in    InboundSMS
	now   time.Time
	sub   Subscriber
	fresh bool // the phone had no record: sub is new, not yet saved
	dirty bool
	lang  Lang
	bind  string // the bind replies leave on

	// expired is the prompt that expired before this step, if any: an
	// answer to it is told so.
	expired *Pending
	// replaced names the prompt a new command replaced: the reply says so.
	replaced *Pending

	accounts []Account
	loaded   bool

	// origPending is the prompt as loaded: a money prompt the step
	// drops ends its transfer (endDropped). settled names the transfers
	// the step moved itself.
	origPending *Pending
	settled     map[string]bool

	out []OutSMS
	// screen: the step answers a screen (USSD); finish hands the
	// phone's own replies to the caller in answers instead of queueing
	// them (Engine.HandleScreen).
	screen  bool
	answers []OutSMS
}

func (e *Engine) begin(ctx context.Context, tx Tx, phone MSISDN, now time.Time) (*flowStep, error) {
	s := &flowStep{e: e, ctx: ctx, tx: tx, now: now}
	sub, err := tx.Subscriber(ctx, phone)
	switch {
	case errors.Is(err, ErrNotFound):
		// A phone new to the gateway has no accounts: nothing to read.
		sub, s.dirty, s.loaded, s.fresh = Subscriber{Phone: phone, Created: now}, true, true, true
	case err != nil:
		return nil, fmt.Errorf("loading subscriber %s: %w", phone.Masked(), err)
	}
	s.sub, s.origPending = sub, sub.Pending
	if p := sub.Pending; p != nil && p.Expired(now) {
		s.expired, s.sub.Pending, s.dirty = p, nil, true
	}
	return s, nil
}

// finish saves the record if it changed and queues the SMS.
func (s *flowStep) finish() error {
	if err := s.guard(s.endDropped); err != nil {
		return err
	}
	if s.dirty {
		if err := s.tx.SaveSubscriber(s.ctx, s.sub); err != nil {
			return fmt.Errorf("saving subscriber %s: %w", s.sub.Phone.Masked(), err)
		}
	}
	for _, sms := range s.out {
		if s.screen && sms.To == s.sub.Phone && !sms.Sensitive && sms.Key != KeyReplaced {
			s.answers = append(s.answers, sms)
			if !bySMSToo[sms.Key] {
				continue
			}
		}
		if err := s.tx.QueueSMS(s.ctx, sms); err != nil {
			return fmt.Errorf("queueing SMS to %s: %w", s.sub.Phone.Masked(), err)
		}
	}
	return nil
}

// vars returns the engine's placeholders plus kv (name, value pairs).
func (s *flowStep) vars(kv ...string) Vars {
	if len(kv) == 0 {
		return s.e.vars
	}
	v := make(Vars, len(s.e.vars)+len(kv)/2)
	for k, x := range s.e.vars {
		v[k] = x
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v[kv[i]] = kv[i+1]
	}
	return v
}

// reply queues the text of key, after a note that a prompt was replaced
// when one was.
func (s *flowStep) reply(key Key, v Vars) {
	if v == nil {
		v = s.e.vars
	}
	s.replyKey(key, v, Text(s.lang, key, v))
}

func (s *flowStep) replyText(text string) { s.replyKey("", nil, text) }

func (s *flowStep) replyKey(key Key, v Vars, text string) {
	if s.replaced != nil {
		sep := " "
		if s.lang == Chinese {
			sep = ""
		}
		note := Text(s.lang, KeyReplaced, s.vars("what", s.what(s.replaced)))
		text = note + sep + text
		if s.screen {
			// A screen shows the note as an SMS: the replaced
			// operation is told where the user will find it later.
			s.out = append(s.out, OutSMS{To: s.sub.Phone, From: s.e.cfg.ShortCode, Text: note, Bind: s.bind, Key: KeyReplaced})
			text = Text(s.lang, key, v)
		}
		s.replaced = nil
	}
	s.out = append(s.out, OutSMS{To: s.sub.Phone, From: s.e.cfg.ShortCode, Text: text, Bind: s.bind, Key: key, Vars: v})
}

// sendCode queues the SMS that carries a code: sensitive, stored sealed.
func (s *flowStep) sendCode(key Key, v Vars) {
	s.out = append(s.out, OutSMS{To: s.sub.Phone, From: s.e.cfg.ShortCode, Text: Text(s.lang, key, v), Bind: s.bind, Sensitive: true})
}

// setPending makes p the phone's one prompt; a live one it replaces is
// named in the reply (SPEC §3).
func (s *flowStep) setPending(p *Pending) {
	if old := s.sub.Pending; old != nil && old.ID != p.ID {
		s.replaced = old
	}
	s.sub.Pending, s.dirty = p, true
}

func (s *flowStep) clearPending() {
	if s.sub.Pending != nil {
		s.sub.Pending, s.dirty = nil, true
	}
}

func (s *flowStep) newPending(kind OpKind, stage Stage) *Pending {
	return &Pending{
		ID: s.e.cfg.NewID(), Kind: kind, Stage: stage, Created: s.now,
		Expires: s.now.Add(PendingTTL), Bind: s.bind, Lang: s.lang,
	}
}

// what names an operation in a reply: "LINK PGB ****0001".
func (s *flowStep) what(p *Pending) string {
	switch p.Kind {
	case OpLink:
		return Text(s.lang, KeyWhatLink, s.vars("account", p.Bank+" "+p.Account.Masked()))
	case OpResetPIN:
		return Text(s.lang, KeyWhatResetPIN, nil)
	case OpUnlink:
		return Text(s.lang, KeyWhatUnlink, s.vars("account", p.Bank+" "+p.Account.Masked()))
	case OpSend, OpPay:
		key := KeyWhatSend
		if p.Kind == OpPay {
			key = KeyWhatPay
		}
		return Text(s.lang, key, s.pendingVars(p))
	case OpBalance:
		return Text(s.lang, KeyWhatBal, nil)
	case OpMini:
		return Text(s.lang, KeyWhatMini, nil)
	case OpEnrol:
		return Text(s.lang, KeyWhatEnrol, s.vars("device", p.Payee))
	}
	return string(p.Kind)
}

func (s *flowStep) loadAccounts() ([]Account, error) {
	if !s.loaded {
		a, err := s.tx.Accounts(s.ctx, s.sub.Phone)
		if err != nil {
			return nil, fmt.Errorf("loading accounts of %s: %w", s.sub.Phone.Masked(), err)
		}
		s.accounts, s.loaded = a, true
	}
	return s.accounts, nil
}

// when formats a time for a reply, in the configured zone.
func (s *flowStep) when(t time.Time) string {
	return t.In(s.e.cfg.Location).Format("2006-01-02 15:04 MST")
}

// NoticeEvery is the least time between two notices that an attempt was
// refused unchecked (Subscriber.Noticed).
const NoticeEvery = time.Minute

// noticeDue reports whether a refusal notice may go now, and if so
// records that it goes.
func (s *flowStep) noticeDue() bool {
	if n := s.sub.Noticed; !n.IsZero() && !s.now.Before(n) && s.now.Sub(n) < NoticeEvery {
		return false
	}
	s.sub.Noticed, s.dirty = s.now, true
	return true
}

// refusedLocked answers a command refused because the phone is locked:
// the notice, unless one went within NoticeEvery.
func (s *flowStep) refusedLocked() {
	if s.noticeDue() {
		s.lockedReply()
	}
}

// lockedReply tells a locked phone until when.
func (s *flowStep) lockedReply() {
	if s.sub.Lock.Operator {
		s.reply(KeyLockedOperator, nil)
		return
	}
	s.reply(KeyLocked, s.vars("until", s.when(s.sub.Lock.Until)))
}

// errStep carries a Tx error out of the command helpers, deep in a
// step, to guard: the step fails whole and the caller rolls back.
type errStep struct{ err error }

// guard runs f and returns the Tx error it stopped with, if any.
func (s *flowStep) guard(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(errStep)
			if !ok {
				panic(r)
			}
			err = e.err
		}
	}()
	f()
	return nil
}

// command acts on cmd and returns PIN work when it needs some.
func (s *flowStep) command(cmd Command) (work *PINWork) {
	switch c := cmd.(type) {
	case CmdHelp:
		key := KeyHelp
		if c.Topic != "" {
			key = HelpKey(c.Topic)
		}
		s.reply(key, nil)
		return nil
	case CmdLang:
		if s.sub.Lang != c.Lang {
			s.sub.Lang, s.dirty = c.Lang, true
		}
		s.lang = c.Lang
		s.reply(KeyLangSet, nil)
		return nil
	case CmdStatus:
		s.status(c.Ref)
		return nil
	case CmdAccounts:
		s.listAccounts()
		return nil
	}
	// Everything else changes what the phone may do or answers a
	// prompt: only from a trusted bind, where the sender cannot be
	// spoofed (SPEC §5.5). An untrusted bind gets no further: nothing
	// is checked, nothing counted.
	if !s.in.Trusted {
		s.reply(KeyMoneyUntrusted, nil)
		return nil
	}
	switch c := cmd.(type) {
	case CmdStop:
		s.clearPending()
		if !s.sub.Stopped {
			s.sub.Stopped, s.dirty = true, true
		}
		s.reply(KeyStopped, nil)
		return nil
	case CmdCancel:
		s.cancel()
		return nil
	case CmdDefault:
		s.setDefault(c.N)
		return nil
	}
	// The rest is refused while the phone is locked (SPEC §5.5).
	if s.sub.Lock.Locked(s.now) {
		s.refusedLocked()
		return nil
	}
	switch c := cmd.(type) {
	case CmdLink:
		s.link(c)
	case CmdResetPIN:
		s.resetPIN()
	case CmdUnlink:
		s.unlink(c.N)
	case CmdPIN:
		return s.pin(c)
	case CmdOK:
		if !s.secureAnswer() {
			return nil
		}
		return s.ok(c)
	case CmdCode:
		if !s.secureAnswer() {
			return nil
		}
		s.code(c)
	case CmdResend:
		s.resend()
	case CmdSend:
		if !s.e.validPayee(c.Payee) {
			s.replyText(ErrorText(s.lang, usage(KwSend, ReasonPhone), s.e.vars))
			return nil
		}
		s.send(c)
	case CmdPay:
		s.pay(c)
	case CmdBal:
		s.balance(OpBalance)
	case CmdMini:
		s.balance(OpMini)
	}
	return nil
}

// must returns v, or stops the step with err (see errStep).
func (s *flowStep) must(v []Account, err error) []Account {
	if err != nil {
		panic(errStep{err})
	}
	return v
}

func (s *flowStep) check(err error) {
	if err != nil {
		panic(errStep{err})
	}
}

func (s *flowStep) listAccounts() {
	accts := s.must(s.loadAccounts())
	if len(accts) == 0 {
		s.reply(KeyAccountNone, nil)
		return
	}
	sep := "; "
	if s.lang == Chinese {
		sep = "；"
	}
	list := ""
	for i, a := range accts {
		if i > 0 {
			list += sep
		}
		key := KeyAccountLine
		if a.Default {
			key = KeyAccountLineDefault
		}
		list += Text(s.lang, key, s.vars("n", strconv.Itoa(i+1), "account", a.Label()))
	}
	s.reply(KeyAccountList, s.vars("list", list))
}

func (s *flowStep) setDefault(n int) {
	accts := s.must(s.loadAccounts())
	if len(accts) == 0 {
		s.reply(KeyAccountNone, nil)
		return
	}
	if n < 1 || n > len(accts) {
		s.reply(KeyAccountNoSuch, s.vars("n", strconv.Itoa(n), "count", strconv.Itoa(len(accts))))
		return
	}
	for i := range accts {
		want := i == n-1
		if accts[i].Default != want {
			accts[i].Default = want
			s.check(s.tx.SaveAccount(s.ctx, s.sub.Phone, &accts[i]))
		}
	}
	s.reply(KeyDefaultSet, s.vars("account", accts[n-1].Label()))
}

func (s *flowStep) cancel() {
	p := s.sub.Pending
	if p == nil {
		s.reply(KeyCancelNothing, nil)
		return
	}
	s.clearPending()
	s.reply(KeyCancelled, s.vars("what", s.what(p)))
}

// link starts LINK (SPEC §5.1): a phone with a PIN confirms it first;
// then the bank verifies the account and its phone, a code goes by SMS,
// and the code binds the account.
func (s *flowStep) link(c CmdLink) {
	if _, ok := s.linkable(c.Bank, c.Account); !ok {
		return
	}
	p := s.newPending(OpLink, StageBank)
	p.Bank, p.Account = c.Bank, c.Account
	label := p.Bank + " " + p.Account.Masked()
	if s.sub.PIN != "" {
		// A new binding on an active phone needs the PIN too.
		p.Stage = StagePIN
		s.setPending(p)
		s.reply(KeyLinkAskPIN, s.vars("account", label))
		return
	}
	s.setPending(p)
	s.askBank(p)
	s.reply(KeyLinkChecking, s.vars("account", label))
}

// linkable returns the phone's accounts and whether bank's number may be
// linked to it: not already linked, and fewer than MaxAccounts. When it
// may not, the reply says why.
func (s *flowStep) linkable(bank string, number AccountNumber) ([]Account, bool) {
	accts := s.must(s.loadAccounts())
	for _, a := range accts {
		if a.Bank == bank && a.Number == number {
			s.reply(KeyLinkAlready, s.vars("account", a.Label()))
			return nil, false
		}
	}
	if len(accts) >= MaxAccounts {
		s.reply(KeyLinkFull, nil)
		return nil, false
	}
	return accts, true
}

// askBank queues the verify request of p.
func (s *flowStep) askBank(p *Pending) {
	p.Stage = StageBank
	s.check(s.tx.QueueBank(s.ctx, BankRequest{
		ID: p.ID, Phone: s.sub.Phone, Kind: BankVerify, Bank: p.Bank, Account: p.Account, Expires: p.Expires,
	}))
}

func (s *flowStep) resetPIN() {
	accts := s.must(s.loadAccounts())
	var def *Account
	for i := range accts {
		if accts[i].Default || def == nil {
			def = &accts[i]
		}
	}
	if def == nil {
		s.reply(KeyAccountNone, nil)
		return
	}
	p := s.newPending(OpResetPIN, StageBank)
	p.Bank, p.Account = def.Bank, def.Number
	s.setPending(p)
	s.askBank(p)
	s.reply(KeyResetChecking, s.vars("account", def.Label()))
}

func (s *flowStep) unlink(n int) {
	accts := s.must(s.loadAccounts())
	if len(accts) == 0 {
		s.reply(KeyAccountNone, nil)
		return
	}
	if n < 1 || n > len(accts) {
		s.reply(KeyAccountNoSuch, s.vars("n", strconv.Itoa(n), "count", strconv.Itoa(len(accts))))
		return
	}
	if s.sub.PIN == "" {
		s.reply(KeyPINFirst, nil)
		return
	}
	a := accts[n-1]
	p := s.newPending(OpUnlink, StagePIN)
	p.Bank, p.Account, p.AccountID = a.Bank, a.Number, a.ID
	s.setPending(p)
	s.reply(KeyUnlinkAskPIN, s.vars("account", a.Label()))
}

// pin is PIN <new> <new> (a first PIN, or the new one after RESETPIN)
// and PIN <old> <new> <new> (a change, the old PIN checked).
func (s *flowStep) pin(c CmdPIN) *PINWork {
	if err := ValidatePIN(c.New.Reveal(), s.e.cfg.PINLength); err != nil {
		s.replyText(ErrorText(s.lang, err, s.e.vars))
		return nil
	}
	if c.Old == "" {
		if s.resetting() {
			return &PINWork{New: c.New, Pending: s.sub.Pending.ID}
		}
		if s.sub.PIN != "" {
			s.reply(KeyPINHaveOne, nil)
			return nil
		}
		if len(s.must(s.loadAccounts())) == 0 {
			s.reply(KeyAccountNone, nil)
			return nil
		}
		return &PINWork{New: c.New}
	}
	if s.sub.PIN == "" {
		s.reply(KeyPINNoneYet, nil)
		return nil
	}
	if c.Old == c.New {
		s.reply(KeyPINSame, nil)
		return nil
	}
	return s.reserve(&PINWork{Check: s.sub.PIN, Present: c.Old, New: c.New})
}

// resetting reports whether RESETPIN is waiting for the new PIN.
func (s *flowStep) resetting() bool {
	p := s.sub.Pending
	return p != nil && p.Kind == OpResetPIN && p.Stage == StageNewPIN
}

// reserve reserves a PIN attempt for w, or answers why not.
func (s *flowStep) reserve(w *PINWork) *PINWork {
	l, ok := s.sub.Lock.Adopt(s.e.cfg.Epoch).Reserve(s.now)
	if !ok {
		switch {
		case !s.noticeDue():
		case l.Locked(s.now):
			s.lockedReply()
		default:
			s.reply(KeyAuthBusy, nil)
		}
		return nil
	}
	s.sub.Lock, s.dirty = l, true
	return w
}

// ok is OK <PIN>, the answer to a PIN prompt.
func (s *flowStep) ok(c CmdOK) *PINWork {
	p := s.sub.Pending
	switch {
	case p == nil:
		s.answerNothing()
		return nil
	case p.Stage == StageCode:
		s.reply(KeyAnswerWantCode, nil)
		return nil
	case p.Stage != StagePIN:
		s.reply(KeyAnswerWait, nil)
		return nil
	case s.sub.PIN == "":
		s.reply(KeyPINFirst, nil)
		return nil
	}
	return s.reserve(&PINWork{Check: s.sub.PIN, Present: c.PIN, Pending: p.ID})
}

// answerNothing answers OK or a code with no prompt waiting: it expired,
// or there never was one.
func (s *flowStep) answerNothing() {
	if s.expired != nil {
		s.reply(KeyExpired, s.vars("what", s.what(s.expired)))
		return
	}
	s.reply(KeyAnswerNothing, nil)
}

// resume finishes cmd with the result of its PIN work.
func (s *flowStep) resume(cmd Command, w *PINWork, r PINResult) {
	if w.Check != "" {
		if r.Err != nil || s.sub.PIN != w.Check {
			// Unreadable hash, or the PIN changed in between: nothing
			// was learnt, nothing counts.
			s.sub.Lock, s.dirty = s.sub.Lock.Release(), true
			s.reply(KeyTryAgain, nil)
			return
		}
		l, ev := s.sub.Lock.Record(r.OK, s.now)
		s.sub.Lock, s.dirty = l, true
		if ev != EventAccepted {
			s.authFailed(ev)
			return
		}
		if r.Rehash != "" {
			s.sub.PIN = r.Rehash
		}
	}
	if w.New != "" && r.NewHash == "" {
		s.reply(KeyTryAgain, nil)
		return
	}
	switch cmd.(type) {
	case CmdOK:
		p := s.sub.Pending
		if p == nil || p.ID != w.Pending || p.Stage != StagePIN {
			s.answerNothing() // cancelled, replaced or expired meanwhile
			return
		}
		s.pinAccepted(p)
	case CmdPIN:
		s.setPIN(w, r)
	}
}

// setPIN stores a new PIN once its hash is known.
func (s *flowStep) setPIN(w *PINWork, r PINResult) {
	switch {
	case w.Check != "": // a change, the old PIN right
		s.sub.PIN, s.dirty = r.NewHash, true
		s.reply(KeyPINChanged, nil)
	case w.Pending != "": // after RESETPIN
		if !s.resetting() || s.sub.Pending.ID != w.Pending {
			s.answerNothing()
			return
		}
		s.clearPending()
		s.sub.PIN, s.dirty = r.NewHash, true
		s.reply(KeyPINChanged, nil)
	default: // a first PIN
		if s.sub.PIN != "" {
			s.reply(KeyPINHaveOne, nil)
			return
		}
		s.sub.PIN, s.dirty = r.NewHash, true
		s.reply(KeyPINSet, nil)
	}
}

// pinAccepted goes on with p after its PIN was right.
func (s *flowStep) pinAccepted(p *Pending) {
	label := p.Bank + " " + p.Account.Masked()
	switch p.Kind {
	case OpLink:
		s.askBank(p)
		s.dirty = true
		s.reply(KeyLinkChecking, s.vars("account", label))
	case OpUnlink:
		accts := s.must(s.loadAccounts())
		i := -1
		for j, a := range accts {
			if a.ID == p.AccountID {
				i = j
			}
		}
		s.clearPending()
		if i < 0 {
			s.reply(KeyUnlinked, s.vars("account", label)) // already gone
			return
		}
		gone := accts[i]
		s.check(s.tx.DeleteAccount(s.ctx, s.sub.Phone, gone.ID))
		s.accounts = append(accts[:i:i], accts[i+1:]...)
		if gone.Default && len(s.accounts) > 0 {
			s.accounts[0].Default = true
			s.check(s.tx.SaveAccount(s.ctx, s.sub.Phone, &s.accounts[0]))
		}
		s.reply(KeyUnlinked, s.vars("account", label))
	case OpSend, OpPay:
		s.transferPINAccepted(p)
	case OpBalance, OpMini:
		s.askBalance(p)
	case OpEnrol:
		s.issueCode(p, false)
	default:
		s.clearPending()
		s.reply(KeyAnswerNothing, nil)
	}
}

// authFailed answers a failed (or refused) PIN or code attempt: the same
// reply for both (SPEC §5.5), the alerts at the marks. A lock ends the
// pending prompt.
func (s *flowStep) authFailed(ev Event) {
	switch ev {
	case EventLocked:
		s.clearPending()
		s.reply(KeyAuthLocked, s.vars("until", s.when(s.sub.Lock.Until)))
	case EventLastWarning:
		s.reply(KeyAuthLastWarning, nil)
	case EventOperatorLocked:
		s.clearPending()
		s.reply(KeyAuthOperatorLocked, nil)
	case EventRefused:
		s.lockedReply()
	default:
		s.reply(KeyAuthFailed, nil)
	}
}

// code is a bare 6-digit answer to a code prompt.
func (s *flowStep) code(c CmdCode) {
	p := s.sub.Pending
	if p == nil || p.Stage != StageCode {
		// The code of an operation already done, presented again, gets
		// that operation's status and is no failure (SPEC §5.5).
		if last := s.sub.Last; last != nil {
			if _, res := s.e.cfg.Codes.Check(last.Challenge, c.Code, last.Operation(s.sub.Phone), s.now); res == CodeUsed {
				s.doneStatus(last)
				return
			}
		}
		switch {
		case p == nil:
			s.answerNothing()
		case p.Stage == StagePIN:
			s.reply(KeyAnswerWantPIN, nil)
		default:
			s.reply(KeyAnswerWait, nil)
		}
		return
	}
	var t *Transfer
	var ch Challenge
	var res CodeResult
	if moneyKind(p.Kind) {
		ch, res, t = s.transferCode(p, c.Code)
	} else {
		ch, res = s.e.cfg.Codes.Check(p.Challenge, c.Code, p.Operation(s.sub.Phone), s.now)
	}
	switch res {
	case CodeAccepted:
		p.Challenge = ch
		s.sub.Lock, s.dirty = s.sub.Lock.Success(), true
		if t != nil {
			done := *p
			s.sub.Last = &done
			s.authorize(p, t)
			return
		}
		s.codeAccepted(p)
	case CodeExpired:
		s.clearPending()
		s.reply(KeyExpired, s.vars("what", s.what(p)))
	case CodeUsed:
		s.doneStatus(p)
	default:
		l, ev := s.sub.Lock.Fail(s.now)
		s.sub.Lock, s.dirty = l, true
		s.authFailed(ev)
	}
}

// codeAccepted finishes p after its code was right.
func (s *flowStep) codeAccepted(p *Pending) {
	done := *p
	s.sub.Last = &done
	switch p.Kind {
	case OpLink:
		s.clearPending()
		accts, ok := s.linkable(p.Bank, p.Account)
		if !ok {
			return
		}
		a := Account{Bank: p.Bank, Number: p.Account, Holder: p.Holder, Default: len(accts) == 0, Linked: s.now}
		s.check(s.tx.SaveAccount(s.ctx, s.sub.Phone, &a))
		s.accounts = append(accts, a)
		key := KeyLinked
		if s.sub.PIN == "" {
			key = KeyLinkedSetPIN
		}
		s.reply(key, s.vars("account", a.Label(), "holder", a.Holder))
	case OpResetPIN:
		p.Stage, p.Expires = StageNewPIN, s.now.Add(PendingTTL)
		s.dirty = true
		s.reply(KeyResetAskPIN, nil)
	case OpEnrol:
		s.enrolled(p)
	default:
		s.clearPending()
		s.reply(KeyAnswerNothing, nil)
	}
}

// doneStatus answers a code presented again for p, already accepted.
func (s *flowStep) doneStatus(p *Pending) {
	switch p.Kind {
	case OpLink:
		s.reply(KeyLinkDone, s.vars("account", p.Bank+" "+p.Account.Masked()))
	case OpResetPIN:
		if s.resetting() {
			s.reply(KeyResetAskPIN, nil)
		} else {
			s.reply(KeyResetDone, nil)
		}
	case OpEnrol:
		s.reply(KeyEnrolled, s.vars("device", p.Payee))
	case OpSend, OpPay:
		t, err := s.tx.Transfer(s.ctx, p.ID)
		if errors.Is(err, ErrNotFound) {
			s.reply(KeyAnswerNothing, nil)
			return
		}
		s.check(err)
		s.statusReply(&t)
	default:
		s.reply(KeyAnswerNothing, nil)
	}
}

// resend is RESEND: a fresh code for the pending operation; the old one
// dies, nothing is reset (SPEC §3).
func (s *flowStep) resend() {
	p := s.sub.Pending
	if p == nil || p.Stage != StageCode {
		s.reply(KeyResendNothing, nil)
		return
	}
	s.issueCode(p, true)
}

// issueCode spends the phone's code budget and sends p a fresh code.
func (s *flowStep) issueCode(p *Pending, again bool) {
	budget, ok := s.sub.Codes.Spend(s.now)
	if !ok {
		s.clearPending()
		s.reply(KeyCodeBudget, s.vars("what", s.what(p), "time", s.when(s.sub.Codes.NextAt(s.now))))
		return
	}
	s.sub.Codes, s.dirty = budget, true
	op := p.Operation(s.sub.Phone)
	var ch Challenge
	var code OTP
	var err error
	if again {
		ch, code, err = s.e.cfg.Codes.Resend(p.Challenge, op, s.now)
	} else {
		ch, code, err = s.e.cfg.Codes.Issue(op, s.now)
	}
	s.check(err)
	p.Challenge, p.Stage, p.Expires = ch, StageCode, ch.Expires
	v := s.pendingVars(p)
	v["code"], v["account"], v["time"] = code.Reveal(), p.Bank+" "+p.Account.Masked(), s.when(ch.Expires)
	key := KeyCodeLink
	switch p.Kind {
	case OpResetPIN:
		key = KeyCodeResetPIN
	case OpEnrol:
		key, v["device"] = KeyCodeEnrol, p.Payee
	case OpSend:
		key = KeyCodeSend
	case OpPay:
		key = KeyCodePay
		if p.Mode != "" {
			key = KeyCodeRequest
		}
	}
	s.sendCode(key, v)
}

// pendingVars are the placeholders naming a transfer's prompt.
func (s *flowStep) pendingVars(p *Pending) Vars {
	return s.vars("amount", p.Amount.String(), "fee", p.Fee.String(), "currency", s.e.cfg.Currency,
		"payee", p.Holder, "merchant", p.Payee, "ref", p.Ref)
}

// verified goes on with p after the bank's verify answer.
func (s *flowStep) verified(p *Pending, r BankResult) {
	label := p.Bank + " " + p.Account.Masked()
	switch {
	case r.Failed:
		s.clearPending()
		s.reply(KeyBankUnavailable, s.vars("what", s.what(p)))
	case !r.Exists || !r.PhoneMatches:
		// One reply for both: the sender learns nothing about an
		// account that is not theirs.
		s.clearPending()
		key := KeyLinkRefused
		if p.Kind == OpResetPIN {
			key = KeyResetRefused
		}
		s.reply(key, s.vars("account", label))
	case s.sub.Lock.Locked(s.now):
		s.clearPending()
		s.lockedReply()
	default:
		p.Holder = MaskName(r.Holder)
		s.dirty = true
		s.issueCode(p, false)
	}
}
