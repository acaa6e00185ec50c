package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// RequestMode says how the customer confirms a merchant's payment
// request (SPEC §5.4).
type RequestMode string

// Request modes.
const (
	// ModePush: the phone gets a network-initiated USSD prompt asking for
	// the PIN; the code goes by SMS and the customer reads it to the
	// terminal, which posts it.
	ModePush RequestMode = "push"
	// ModeTerminal: the terminal posts the PIN with the request, then the
	// code the customer got by SMS.
	ModeTerminal RequestMode = "terminal"
)

// Valid reports whether m is a mode of SPEC §5.4.
func (m RequestMode) Valid() bool { return m == ModePush || m == ModeTerminal }

// PaymentRequest is a merchant's request that a phone pay it (SPEC §5.4).
// Its transfer (a PAY, with the same ID) holds its state.
type PaymentRequest struct {
	ID        string // the transfer's id
	Merchant  string // the merchant's code
	Phone     MSISDN // the payer
	Mode      RequestMode
	Reference string // the merchant's own reference, as it posted it
	Created   time.Time
	Expires   time.Time
}

// WebhookEvent is an event for a merchant's webhook (SPEC §7), queued by
// the step that makes it and posted after the commit, signed, until the
// merchant's server answers 2xx.
type WebhookEvent struct {
	ID       string // unique: the receiver dedupes on it
	Merchant string
	Event    string // "payment_request.completed", ...
	Request  string // the payment request's id
	Body     []byte // the JSON posted, as it is signed
	Created  time.Time
}

// USSDPush is a network-initiated USSD prompt (SPEC §4, §5.4) asking the
// phone for the PIN of its pending operation, queued by the step that
// makes the operation and sent after the commit.
type USSDPush struct {
	ID      string // the payment request's id
	Phone   MSISDN
	Text    string // the prompt's opening lines, in the phone's language
	Created time.Time
	Expires time.Time // not sent after this
}

// Merchant payment requests (SPEC §5.4, §5.5). A request is a PAY
// transfer a merchant's system started for a phone, the phone's one
// pending prompt like any other, with its Mode set:
//
//   - push: StartRequest makes it, asks for the PIN by SMS and queues a
//     USSD push; the PIN comes back by screen (or OK <PIN>) and the code
//     goes by SMS; the customer reads it to the terminal, which posts it
//     (RequestCode).
//   - terminal: the terminal posts the PIN with the request; StartRequest
//     makes it and returns the PIN work, which the caller runs outside
//     the writer and hands to ResumeRequest; a right PIN sends the code by
//     SMS; the terminal posts it (RequestCode).
//
// Failures at the terminal count against the phone as everywhere and
// against the merchant (MerchantRules). Every final state of a request's
// transfer queues a webhook event in the same step (requestFinal).

// MerchantRules are the limits of merchants' requests (config merchants).
type MerchantRules struct {
	// PushesPerHour: push requests one merchant may make of one phone in
	// an hour. Default 3.
	PushesPerHour int
	// TerminalFailures failures at a merchant's terminals inside
	// TerminalWindow, for at least TerminalPhones phones, suspend its
	// terminal mode. Defaults 10, 3, an hour.
	TerminalFailures int
	TerminalPhones   int
	TerminalWindow   time.Duration
}

// Request error codes: the API's (SPEC §7).
const (
	ReqForbidden    = "forbidden"       // the merchant is disabled, or its terminal mode suspended
	ReqNotReady     = "payer_not_ready" // the phone cannot pay: unknown, no account, no PIN, stopped
	ReqLimit        = "limit_exceeded"  // over a limit of the payer
	ReqRateLimited  = "rate_limited"    // too many pushes to this phone
	ReqLocked       = "locked"          // the phone is locked
	ReqAuthFailed   = "auth_failed"     // a wrong PIN or code: the same for both
	ReqExpired      = "expired"         // the request expired
	ReqConflict     = "conflict"        // the request is not waiting for this (a code before the PIN, a final one)
	ReqUnavailable  = "unavailable"     // the PIN could not be checked now: post again
	ReqNotFound     = "not_found"       // no such request of this merchant
	ReqInvalid      = "invalid"         // a field is wrong (a merchant field error)
	ReqBusyRetrySec = 2                 // Retry-After of unavailable
)

// RequestError is why a request, or its code, was refused. Message is for
// the merchant's people and holds no secret.
type RequestError struct {
	Code    string
	Message string
	Until   time.Time // locked: until when (zero: until an operator unlocks)
}

func (e *RequestError) Error() string { return "payment request: " + e.Code + ": " + e.Message }

// NewRequest is a payment request as the merchant's API call gives it,
// checked for form (amount above zero, mode valid, a PIN in terminal mode
// only).
type NewRequest struct {
	Merchant  string
	Phone     MSISDN
	Amount    Amount
	Reference string
	Mode      RequestMode
	PIN       PIN // terminal mode: the PIN the customer typed at the terminal
	At        time.Time
}

// RequestOutcome is where a request stands after a step: its record and
// transfer, or why the step refused (Err; the transaction still commits
// what the step wrote — a counted failure, a cancelled transfer).
type RequestOutcome struct {
	Request  PaymentRequest
	Transfer Transfer
	Merchant Merchant
	Err      *RequestError
}

// refuseLocked refuses because the phone is locked, saying until when
// (nothing for an operator's lock).
func (s *flowStep) refuseLocked(out *RequestOutcome, msg string) {
	out.refuse(ReqLocked, "%s", msg)
	if !s.sub.Lock.Operator {
		out.Err.Until = s.sub.Lock.Until
	}
}

// refuse ends a request step with a refusal.
func (o *RequestOutcome) refuse(code, format string, args ...any) {
	o.Err = &RequestError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StartRequest is the flow step of a merchant's new payment request. It
// refuses what may not be asked (Err); otherwise it makes the request and
// its transfer, the phone's pending prompt, and then — push mode — asks
// the phone for the PIN by SMS and a queued USSD push; terminal mode
// reserves a PIN attempt and returns the work for ResumeRequest. An
// unknown phone is refused without a record being made for it.
func (e *Engine) StartRequest(ctx context.Context, tx Tx, nr NewRequest) (RequestOutcome, *PINWork, error) {
	var out RequestOutcome
	s, err := e.begin(ctx, tx, nr.Phone, nr.At)
	if err != nil {
		return out, nil, err
	}
	if s.fresh {
		// Not saved: a merchant's call makes no record of a stranger.
		out.refuse(ReqNotReady, "the phone has no payment account here")
		return out, nil, nil
	}
	s.lang = e.replyLang(s.sub, "")
	var work *PINWork
	if err := s.guard(func() { work = s.startRequest(nr, &out) }); err != nil {
		return out, nil, err
	}
	if err := s.finish(); err != nil {
		return out, nil, err
	}
	return out, work, nil
}

func (s *flowStep) startRequest(nr NewRequest, out *RequestOutcome) *PINWork {
	m, err := s.tx.Merchant(s.ctx, nr.Merchant)
	if errors.Is(err, ErrNotFound) {
		out.refuse(ReqForbidden, "no merchant %s", nr.Merchant)
		return nil
	}
	s.check(err)
	out.Merchant = m
	rules := s.e.cfg.Merchants
	switch {
	case m.Disabled:
		out.refuse(ReqForbidden, "merchant %s is disabled", m.Code)
		return nil
	case nr.Mode == ModeTerminal && !m.TerminalSuspended.IsZero():
		out.refuse(ReqForbidden, "terminal mode of merchant %s is suspended after repeated failures; use push mode or ask the operator", m.Code)
		return nil
	case s.sub.Lock.Locked(s.now):
		s.refuseLocked(out, "the phone is locked")
		return nil
	}
	accts := s.must(s.loadAccounts())
	switch {
	case len(accts) == 0:
		out.refuse(ReqNotReady, "the phone has no payment account here")
		return nil
	case s.sub.Stopped:
		out.refuse(ReqNotReady, "payments from the phone are stopped")
		return nil
	case s.sub.PIN == "":
		out.refuse(ReqNotReady, "the phone has no PIN yet")
		return nil
	}
	if key, _ := s.overLimit(nr.Amount); key != "" {
		what := "the per-transfer limit"
		if key == KeyLimitDay {
			what = "the payer's daily limit"
		}
		out.refuse(ReqLimit, "the amount is over %s", what)
		return nil
	}
	if nr.Mode == ModePush {
		n, err := s.tx.RecentRequests(s.ctx, m.Code, s.sub.Phone, s.now.Add(-time.Hour))
		s.check(err)
		if n >= rules.PushesPerHour {
			out.refuse(ReqRateLimited, "%d requests to this phone in the last hour; at most %d", n, rules.PushesPerHour)
			return nil
		}
	}
	if nr.Mode == ModeTerminal {
		l, ok := s.sub.Lock.Adopt(s.e.cfg.Epoch).Reserve(s.now)
		if !ok {
			if l.Locked(s.now) {
				s.refuseLocked(out, "the phone is locked")
			} else {
				out.refuse(ReqUnavailable, "a PIN check of this phone is already running; post again")
			}
			return nil
		}
		s.sub.Lock, s.dirty = l, true
	}
	debit := defaultAccount(accts)
	s.bind = "" // replies to a request are routed: no MO chose a bind
	t := s.createTransfer(Transfer{
		Kind: OpPay, Mode: nr.Mode, Debit: AccountRef{debit.Bank, debit.Number},
		Payee: m.Code, PayeePhone: m.Phone, PayeeName: m.Name, Credit: m.Account,
		Amount: nr.Amount, Fee: s.e.cfg.PayFee.Of(nr.Amount), Narrative: nr.Reference,
	})
	req := PaymentRequest{ID: t.ID, Merchant: m.Code, Phone: s.sub.Phone, Mode: nr.Mode, Reference: nr.Reference, Created: s.now, Expires: t.Expires}
	s.check(s.tx.CreateRequest(s.ctx, req))
	out.Request, out.Transfer = req, t
	if nr.Mode == ModeTerminal {
		if old := s.replaced; old != nil {
			// No reply carries the note in this mode: it goes alone.
			s.replaced = nil
			s.reply(KeyReplaced, s.vars("what", s.what(old)))
		}
		return &PINWork{Check: s.sub.PIN, Present: nr.PIN, Pending: t.ID}
	}
	v := s.transferVars(&t)
	s.reply(KeyRequestPush, v)
	s.check(s.tx.QueuePush(s.ctx, USSDPush{
		ID: t.ID, Phone: s.sub.Phone, Text: Text(s.lang, KeyRequestScreen, v), Created: s.now, Expires: t.Expires,
	}))
	return nil
}

// ResumeRequest is the second step of a terminal-mode request: it
// records the PIN attempt and, when the PIN was right, sends the code by
// SMS (pending_code). A wrong PIN counts against the phone and the
// merchant and ends the request (the terminal asks again with a new
// one); so does a check that could not run (unavailable, not counted).
func (e *Engine) ResumeRequest(ctx context.Context, tx Tx, id string, w *PINWork, r PINResult, now time.Time) (RequestOutcome, error) {
	var out RequestOutcome
	req, err := tx.Request(ctx, id)
	if err != nil {
		return out, err
	}
	s, err := e.begin(ctx, tx, req.Phone, now)
	if err != nil {
		return out, err
	}
	s.lang = e.replyLang(s.sub, "")
	if err := s.guard(func() { s.resumeRequest(req, w, r, &out) }); err != nil {
		return out, err
	}
	if err := s.finish(); err != nil {
		return out, err
	}
	return out, nil
}

func (s *flowStep) resumeRequest(req PaymentRequest, w *PINWork, r PINResult, out *RequestOutcome) {
	out.Request = req
	m, err := s.tx.Merchant(s.ctx, req.Merchant)
	s.check(err)
	out.Merchant = m
	t := s.transfer(req.ID)
	defer func() { out.Transfer = t }()
	p := s.sub.Pending
	mine := p != nil && p.ID == req.ID && p.Stage == StagePIN
	if r.Err != nil || s.sub.PIN != w.Check {
		s.sub.Lock, s.dirty = s.sub.Lock.Release(), true
		s.dropRequest(&t, mine)
		out.refuse(ReqUnavailable, "the PIN could not be checked now; nothing was counted; post the request again")
		return
	}
	l, ev := s.sub.Lock.Record(r.OK, s.now)
	s.sub.Lock, s.dirty = l, true
	if ev != EventAccepted {
		s.authFailed(ev)
		s.merchantFailed(m)
		s.dropRequest(&t, mine)
		if s.sub.Lock.Locked(s.now) {
			s.refuseLocked(out, "wrong PIN or code; the phone is now locked")
			return
		}
		out.refuse(ReqAuthFailed, "wrong PIN or code")
		return
	}
	if r.Rehash != "" {
		s.sub.PIN = r.Rehash
	}
	if !mine || t.State != TransferPendingPIN {
		// Replaced or cancelled by the phone meanwhile: the row says how.
		out.refuse(ReqConflict, "the request was %s meanwhile", t.State)
		return
	}
	s.bind = ""
	s.transferPINAccepted(p)
	t = s.transfer(req.ID)
	if t.State != TransferPendingCode {
		out.refuse(ReqRateLimited, "the phone has had too many codes this hour; try later")
	}
}

// dropRequest cancels a request's transfer that is still pending, and
// its prompt when it is the phone's. move marks the transfer settled, so
// endDropped leaves it alone.
func (s *flowStep) dropRequest(t *Transfer, mine bool) {
	if mine {
		s.clearPending()
	}
	if t.State.Pending() {
		s.move(t, TransferCancelled)
	}
}

// merchantFailed counts a failure at m's terminal and suspends its
// terminal mode when the failures of the window reach the rule.
func (s *flowStep) merchantFailed(m Merchant) {
	rules := s.e.cfg.Merchants
	n, phones, err := s.tx.MerchantFailure(s.ctx, m.Code, s.sub.Phone, s.now, s.now.Add(-rules.TerminalWindow))
	s.check(err)
	if n >= rules.TerminalFailures && phones >= rules.TerminalPhones && m.TerminalSuspended.IsZero() {
		s.check(s.tx.SuspendTerminal(s.ctx, m.Code, s.now))
	}
}

// RequestCode is the flow step of a code a merchant's terminal posts for
// its request id. A right code authorizes the transfer (the bank is asked
// after the commit); a wrong one counts against the phone and the
// merchant and leaves the request waiting; the accepted code posted again
// answers the request as it stands. Another merchant's request is
// ReqNotFound.
func (e *Engine) RequestCode(ctx context.Context, tx Tx, merchant, id string, code OTP, now time.Time) (RequestOutcome, error) {
	var out RequestOutcome
	req, err := tx.Request(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && req.Merchant != merchant) {
		out.refuse(ReqNotFound, "no payment request %s", id)
		return out, nil
	}
	if err != nil {
		return out, err
	}
	s, err := e.begin(ctx, tx, req.Phone, now)
	if err != nil {
		return out, err
	}
	s.lang = e.replyLang(s.sub, "")
	if err := s.guard(func() { s.requestCode(req, code, &out) }); err != nil {
		return out, err
	}
	if err := s.finish(); err != nil {
		return out, err
	}
	return out, nil
}

func (s *flowStep) requestCode(req PaymentRequest, code OTP, out *RequestOutcome) {
	out.Request = req
	m, err := s.tx.Merchant(s.ctx, req.Merchant)
	s.check(err)
	out.Merchant = m
	t := s.transfer(req.ID)
	defer func() { out.Transfer = t }()
	// The accepted code again: the request as it stands, no failure.
	if last := s.sub.Last; last != nil && last.ID == req.ID {
		if _, res := s.e.cfg.Codes.Check(last.Challenge, code, last.Operation(s.sub.Phone), s.now); res == CodeUsed {
			return
		}
	}
	p := s.sub.Pending
	mine := p != nil && p.ID == req.ID
	switch {
	case t.State == TransferExpired || (t.State.Pending() && s.now.After(t.Expires)):
		if mine {
			s.clearPending()
		}
		if t.State.Pending() {
			s.move(&t, TransferExpired)
		}
		out.refuse(ReqExpired, "the request expired at %s", t.Expires.UTC().Format(time.RFC3339))
		return
	case !t.State.Pending():
		out.refuse(ReqConflict, "the request is %s", t.State)
		return
	case s.sub.Lock.Locked(s.now):
		s.refuseLocked(out, "the phone is locked")
		return
	case !mine:
		out.refuse(ReqConflict, "the request is no longer the phone's pending operation")
		return
	case p.Stage != StageCode:
		out.refuse(ReqConflict, "the payer has not confirmed with the PIN yet; no code was sent")
		return
	}
	ch, res, tp := s.transferCode(p, code)
	switch res {
	case CodeAccepted:
		p.Challenge = ch
		s.sub.Lock, s.dirty = s.sub.Lock.Success(), true
		done := *p
		s.sub.Last = &done
		s.bind = ""
		s.authorize(p, tp)
		t = *tp
		if t.State != TransferAuthorized {
			out.refuse(ReqLimit, "the amount is over the payer's daily limit")
		}
	case CodeExpired:
		s.clearPending()
		s.move(&t, TransferExpired)
		out.refuse(ReqExpired, "the code expired")
	case CodeUsed:
		// Accepted before: the request as it stands.
	default:
		l, ev := s.sub.Lock.Fail(s.now)
		s.sub.Lock, s.dirty = l, true
		s.authFailed(ev)
		s.merchantFailed(m)
		if s.sub.Lock.Locked(s.now) {
			// The lock ended the prompt: the request ends with it.
			if t.State.Pending() {
				s.move(&t, TransferCancelled)
			}
			s.refuseLocked(out, "wrong PIN or code; the phone is now locked")
			return
		}
		out.refuse(ReqAuthFailed, "wrong PIN or code")
	}
}

// payReceipt queues the webhook event of a PAY the phone started (SPEC
// §5.3: the merchant's webhook gets the receipt) that has just
// completed: "payment.completed", the receipt and the payer's PAY
// reference.
func (s *flowStep) payReceipt(t *Transfer) {
	m, err := s.tx.Merchant(s.ctx, t.Payee)
	if errors.Is(err, ErrNotFound) {
		return
	}
	s.check(err)
	ev := WebhookEvent{ID: s.e.cfg.NewID(), Merchant: m.Code, Event: "payment.completed", Created: s.now}
	body, err := json.Marshal(struct {
		ID      string    `json:"id"`
		Type    string    `json:"type"`
		Created time.Time `json:"created_at"`
		Data    any       `json:"data"`
	}{ev.ID, ev.Event, s.now.UTC(), struct {
		ReceiptView
		Note string `json:"note,omitempty"`
	}{s.e.receipt(*t, m), t.Narrative}})
	s.check(err)
	ev.Body = body
	s.check(s.tx.QueueWebhook(s.ctx, ev))
}

// requestFinal queues the webhook event of a request's transfer that has
// just reached a final state.
func (s *flowStep) requestFinal(t *Transfer) {
	req, err := s.tx.Request(s.ctx, t.ID)
	if errors.Is(err, ErrNotFound) {
		return // a transfer marked as a request but without one: nothing to tell
	}
	s.check(err)
	m, err := s.tx.Merchant(s.ctx, req.Merchant)
	s.check(err)
	ev := WebhookEvent{
		ID: s.e.cfg.NewID(), Merchant: req.Merchant, Event: "payment_request." + string(t.State),
		Request: req.ID, Created: s.now,
	}
	body, err := json.Marshal(struct {
		ID      string      `json:"id"`
		Type    string      `json:"type"`
		Created time.Time   `json:"created_at"`
		Data    RequestView `json:"data"`
	}{ev.ID, ev.Event, s.now.UTC(), s.e.ViewRequest(req, *t, m)})
	s.check(err)
	ev.Body = body
	s.check(s.tx.QueueWebhook(s.ctx, ev))
}

// RequestView is a payment request as the API and webhooks show it (SPEC
// §7): no account number, the payer's phone masked.
type RequestView struct {
	ID        string       `json:"id"`
	Merchant  string       `json:"merchant"`
	Phone     string       `json:"phone"`
	Amount    int64        `json:"amount"`
	Currency  string       `json:"currency"`
	Reference string       `json:"reference"`
	Mode      RequestMode  `json:"mode"`
	Status    string       `json:"status"`
	Created   time.Time    `json:"created_at"`
	Updated   time.Time    `json:"updated_at"`
	Expires   time.Time    `json:"expires_at"`
	Reason    string       `json:"reason,omitempty"`
	Receipt   *ReceiptView `json:"receipt,omitempty"`
}

// ReceiptView is what a terminal prints of a completed request.
type ReceiptView struct {
	Reference     string    `json:"reference"` // the transfer's short reference
	Amount        int64     `json:"amount"`
	Fee           int64     `json:"fee"`
	Currency      string    `json:"currency"`
	Merchant      string    `json:"merchant"`
	MerchantName  string    `json:"merchant_name"`
	Payer         string    `json:"payer"`
	Time          time.Time `json:"time"`
	BankReference string    `json:"bank_reference"`
}

// ViewRequest is req as the API shows it, with its transfer t (the same
// id) and merchant m. Times are UTC.
func (e *Engine) ViewRequest(req PaymentRequest, t Transfer, m Merchant) RequestView {
	v := RequestView{
		ID: req.ID, Merchant: req.Merchant, Phone: req.Phone.Shown(), Amount: int64(t.Amount), Currency: e.cfg.Currency,
		Reference: req.Reference, Mode: req.Mode, Status: string(t.State),
		Created: req.Created.UTC(), Updated: t.Updated.UTC(), Expires: t.Expires.UTC(), Reason: t.Reason,
	}
	if t.State == TransferCompleted {
		r := e.receipt(t, m)
		v.Receipt = &r
	}
	return v
}

// receipt is what a terminal prints of completed t, paid to m.
func (e *Engine) receipt(t Transfer, m Merchant) ReceiptView {
	return ReceiptView{
		Reference: t.Ref, Amount: int64(t.Amount), Fee: int64(t.Fee), Currency: e.cfg.Currency,
		Merchant: m.Code, MerchantName: m.Name, Payer: t.Payer.Shown(), Time: t.Updated.UTC(), BankReference: t.BankRef,
	}
}
