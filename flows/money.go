package flows

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Moving money (SPEC §5.2, §5.3, §6). A SEND or PAY makes a Transfer in
// pending_pin and the phone's one Pending prompt (same id); OK <PIN>
// moves it to pending_code and sends the code; the code authorizes it
// and queues it in the bank outbox with its id as the idempotency key.
// The bank's answer (HandleBankResult) completes or rejects it and sends
// the receipts. A prompt dropped any way — CANCEL, replaced, STOP, a
// lock, expired — ends its transfer in the same step (finish).

// OpBalance and OpMini name BAL and MINI waiting for the PIN, then for
// the bank. No code is bound to them.
const (
	OpBalance OpKind = "balance"
	OpMini    OpKind = "mini"
)

// moneyKind reports whether k is a transfer's prompt.
func moneyKind(k OpKind) bool { return k == OpSend || k == OpPay }

// bankTTL is how long BAL and MINI wait for the bank before telling the
// phone it did not answer: a balance is worth nothing minutes late.
const bankTTL = time.Minute

// payer returns the phone's default account, or answers why it may not
// pay: no account, stopped, no PIN yet.
func (s *flowStep) payer() (Account, bool) {
	accts := s.must(s.loadAccounts())
	switch {
	case len(accts) == 0:
		s.reply(KeyAccountNone, nil)
	case s.sub.Stopped:
		s.reply(KeyStoppedRefused, nil)
	case s.sub.PIN == "":
		s.reply(KeyPINFirst, nil)
	default:
		return defaultAccount(accts), true
	}
	return Account{}, false
}

// defaultAccount is the account marked default, else the oldest.
func defaultAccount(accts []Account) Account {
	for _, a := range accts {
		if a.Default {
			return a
		}
	}
	return accts[0]
}

// startOfDay is midnight of now's day in the configured zone.
func (s *flowStep) startOfDay() time.Time {
	t := s.now.In(s.e.cfg.Location)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, s.e.cfg.Location)
}

// withinLimits reports whether amount may leave the phone now; if not,
// the reply says which limit it breaks.
func (s *flowStep) withinLimits(amount Amount) bool {
	key, v := s.overLimit(amount)
	if key != "" {
		s.reply(key, v)
	}
	return key == ""
}

// overLimit names the limit amount breaks now, and its placeholders; ""
// when it breaks none.
func (s *flowStep) overLimit(amount Amount) (Key, Vars) {
	lim := s.e.cfg.Limits
	cur := s.e.cfg.Currency
	if lim.PerTransfer > 0 && amount > lim.PerTransfer {
		return KeyLimitTransfer, s.vars("amount", amount.String(), "limit", lim.PerTransfer.String(), "currency", cur)
	}
	if lim.PerDay > 0 {
		spent, err := s.tx.Spent(s.ctx, s.sub.Phone, s.startOfDay())
		s.check(err)
		if spent+amount > lim.PerDay {
			left := max(lim.PerDay-spent, 0)
			return KeyLimitDay, s.vars("limit", lim.PerDay.String(), "left", left.String(), "currency", cur)
		}
	}
	return "", nil
}

// send is SEND <phone> <amount> (SPEC §5.2); the payee is a valid number.
func (s *flowStep) send(c CmdSend) {
	debit, ok := s.payer()
	if !ok {
		return
	}
	payee, _ := ParseMSISDN(c.Payee, s.e.cfg.Country)
	if payee == s.sub.Phone {
		s.reply(KeySendSelf, nil)
		return
	}
	if !s.secureAllows(c.Amount) || !s.withinLimits(c.Amount) {
		return
	}
	accts, err := s.tx.Accounts(s.ctx, payee)
	s.check(err)
	if len(accts) == 0 {
		s.reply(KeySendNoPayee, s.vars("phone", payee.Shown()))
		return
	}
	credit := defaultAccount(accts)
	s.startTransfer(Transfer{
		Kind: OpSend, Debit: AccountRef{debit.Bank, debit.Number},
		Payee: string(payee), PayeePhone: payee, PayeeName: credit.Holder,
		Credit: AccountRef{credit.Bank, credit.Number},
		Amount: c.Amount, Fee: s.e.cfg.SendFee.Of(c.Amount),
	})
}

// pay is PAY <merchant> <amount> [ref] (SPEC §5.3).
func (s *flowStep) pay(c CmdPay) {
	debit, ok := s.payer()
	if !ok {
		return
	}
	m, err := s.tx.Merchant(s.ctx, c.Merchant)
	switch {
	case errors.Is(err, ErrNotFound):
		s.reply(KeyPayNoMerchant, nil)
		return
	case err != nil:
		s.check(err)
	case m.Disabled:
		s.reply(KeyPayDisabled, s.vars("merchant", m.Code))
		return
	}
	if !s.secureAllows(c.Amount) || !s.withinLimits(c.Amount) {
		return
	}
	s.startTransfer(Transfer{
		Kind: OpPay, Debit: AccountRef{debit.Bank, debit.Number},
		Payee: m.Code, PayeePhone: m.Phone, PayeeName: m.Name, Credit: m.Account,
		Amount: c.Amount, Fee: s.e.cfg.PayFee.Of(c.Amount), Narrative: c.Ref,
	})
}

// refTries bounds the draws of a free reference: with 26^8 of them a
// second draw is already rare.
const refTries = 8

// startTransfer stores t, new, in pending_pin with a fresh id and
// reference, makes it the phone's prompt and asks for the PIN.
func (s *flowStep) startTransfer(t Transfer) {
	t = s.createTransfer(t)
	key := KeySendConfirm
	if t.Kind == OpPay {
		key = KeyPayConfirm
	}
	s.reply(key, s.transferVars(&t))
}

// createTransfer stores t, new, in pending_pin with a fresh id (unless it
// has one) and reference, and makes it the phone's prompt.
func (s *flowStep) createTransfer(t Transfer) Transfer {
	if t.ID == "" {
		t.ID = s.e.cfg.NewID()
	}
	t.Payer, t.State = s.sub.Phone, TransferPendingPIN
	t.Created, t.Updated, t.Expires = s.now, s.now, s.now.Add(PendingTTL)
	t.Bind, t.Lang = s.bind, s.lang
	for i := 0; ; i++ {
		t.Ref = NewTransferRef()
		err := s.tx.CreateTransfer(s.ctx, t)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrDuplicate) || i == refTries-1 {
			s.check(fmt.Errorf("creating transfer: %w", err))
		}
	}
	p := &Pending{
		ID: t.ID, Kind: t.Kind, Stage: StagePIN, Bank: t.Debit.Bank, Account: t.Debit.Number,
		Ref: t.Ref, Amount: t.Amount, Fee: t.Fee, Payee: t.Payee, Holder: t.PayeeName,
		Created: s.now, Expires: t.Expires, Bind: s.bind, Lang: s.lang, Mode: t.Mode,
	}
	s.setPending(p)
	return t
}

// transferVars are the placeholders naming t in a text.
func (s *flowStep) transferVars(t *Transfer) Vars {
	return s.vars("amount", t.Amount.String(), "fee", t.Fee.String(), "currency", s.e.cfg.Currency,
		"payee", t.PayeeName, "phone", t.PayeePhone.Shown(), "merchant", t.Payee, "ref", t.Ref)
}

// transfer loads the transfer with id; a missing one stops the step (the
// prompt and the row are written together, so it is a broken store).
func (s *flowStep) transfer(id string) Transfer {
	t, err := s.tx.Transfer(s.ctx, id)
	s.check(err)
	return t
}

// move changes t's state and stores it.
func (s *flowStep) move(t *Transfer, to TransferState) {
	s.check(t.Move(to, s.now))
	s.check(s.tx.UpdateTransfer(s.ctx, *t))
	switch {
	case t.Mode != "" && to.Final():
		s.requestFinal(t)
	case t.Kind == OpPay && to == TransferCompleted:
		s.payReceipt(t)
	}
	if s.settled == nil {
		s.settled = map[string]bool{}
	}
	s.settled[t.ID] = true
}

// endDropped ends the transfer of a money prompt this step dropped
// (cancelled, replaced, stopped, locked or expired): called by finish.
func (s *flowStep) endDropped() {
	p := s.origPending
	if p == nil || !moneyKind(p.Kind) || s.settled[p.ID] {
		return
	}
	if cur := s.sub.Pending; cur != nil && cur.ID == p.ID {
		return
	}
	t := s.transfer(p.ID)
	if !t.State.Pending() {
		return
	}
	to := TransferCancelled
	if p.Expired(s.now) {
		to = TransferExpired
	}
	s.move(&t, to)
}

// balance is BAL or MINI: the PIN first, then the bank.
func (s *flowStep) balance(kind OpKind) {
	a, ok := s.payer()
	if !ok {
		return
	}
	p := s.newPending(kind, StagePIN)
	p.Bank, p.Account, p.AccountID = a.Bank, a.Number, a.ID
	s.setPending(p)
	key := KeyBalAskPIN
	if kind == OpMini {
		key = KeyMiniAskPIN
	}
	s.reply(key, s.vars("account", a.Label()))
}

// askBalance queues BAL's or MINI's bank request once the PIN was right.
// The answer is the reply.
func (s *flowStep) askBalance(p *Pending) {
	p.Stage, p.Expires = StageBank, s.now.Add(bankTTL)
	s.dirty = true
	r := BankRequest{ID: p.ID, Phone: s.sub.Phone, Kind: BankBalance, Bank: p.Bank, Account: p.Account, Expires: p.Expires}
	if p.Kind == OpMini {
		r.Kind, r.Limit = BankStatement, MiniEntries
	}
	s.check(s.tx.QueueBank(s.ctx, r))
}

// balanceAnswered replies with the bank's answer to BAL or MINI.
func (s *flowStep) balanceAnswered(p *Pending, r BankResult) {
	s.clearPending()
	label := p.Bank + " " + p.Account.Masked()
	switch {
	case r.Failed:
		s.reply(KeyBankUnavailable, s.vars("what", s.what(p)))
	case p.Kind == OpBalance:
		cur := r.Currency
		if cur == "" {
			cur = s.e.cfg.Currency
		}
		s.reply(KeyBalance, s.vars("account", label, "amount", r.Available.String(), "currency", cur, "time", s.when(s.now)))
	case len(r.Entries) == 0:
		s.reply(KeyMiniEmpty, s.vars("account", label))
	default:
		sep := "; "
		if s.lang == Chinese {
			sep = "；"
		}
		lines := make([]string, 0, len(r.Entries))
		for i, e := range r.Entries {
			if i == MiniEntries {
				break
			}
			amount := e.Amount.String()
			if e.Amount > 0 {
				amount = "+" + amount
			}
			lines = append(lines, Text(s.lang, KeyMiniLine, s.vars("time", e.Time.In(s.e.cfg.Location).Format("01-02"),
				"amount", amount, "account", e.Counterpart, "ref", e.Reference)))
		}
		s.reply(KeyMini, s.vars("account", label, "list", strings.Join(lines, sep)))
	}
}

// transferPINAccepted goes on with a transfer whose PIN was right: the
// code goes by SMS.
func (s *flowStep) transferPINAccepted(p *Pending) {
	t := s.transfer(p.ID)
	if t.State != TransferPendingPIN {
		s.clearPending() // ended meanwhile; the row says how
		s.statusReply(&t)
		return
	}
	s.issueCode(p, false)
	if s.sub.Pending == nil { // the code budget is spent: the prompt ended
		return
	}
	t.Expires = p.Expires
	s.move(&t, TransferPendingCode)
}

// transferCode checks code against the transfer of p as the store has it
// — amount, fee, payee, account and id — not as the prompt remembers it.
func (s *flowStep) transferCode(p *Pending, code OTP) (Challenge, CodeResult, *Transfer) {
	t := s.transfer(p.ID)
	ch, res := s.e.cfg.Codes.Check(p.Challenge, code, t.Operation(), s.now)
	return ch, res, &t
}

// authorize finishes a transfer whose code was right: authorized and in
// the bank outbox, its id the idempotency key.
func (s *flowStep) authorize(p *Pending, t *Transfer) {
	s.clearPending()
	if t.State != TransferPendingCode {
		s.statusReply(t)
		return
	}
	// The daily limit again: other transfers may have been authorized
	// since this one started (a merchant request, another channel).
	if lim := s.e.cfg.Limits.PerDay; lim > 0 {
		spent, err := s.tx.Spent(s.ctx, s.sub.Phone, s.startOfDay())
		s.check(err)
		if spent+t.Amount > lim {
			s.move(t, TransferCancelled)
			s.reply(KeyLimitDay, s.vars("limit", lim.String(), "left", max(lim-spent, 0).String(), "currency", s.e.cfg.Currency))
			return
		}
	}
	s.move(t, TransferAuthorized)
	s.check(s.tx.QueueBank(s.ctx, BankRequest{
		ID: t.ID, Phone: t.Payer, Kind: BankTransfer, Bank: t.Debit.Bank, Account: t.Debit.Number,
		Reference: t.Ref, Credit: t.Credit, Amount: t.Amount, Fee: t.Fee, Narrative: t.Narrative,
	}))
	s.reply(KeyAuthorized, s.transferVars(t))
}

// statusReply tells the phone where t stands (STATUS, a used code).
func (s *flowStep) statusReply(t *Transfer) {
	v := s.transferVars(t)
	v["time"] = s.when(t.Created)
	v["bankref"] = t.BankRef
	v["state"] = s.stateText(t)
	s.reply(KeyStatus, v)
}

// stateText is t's state in plain words.
func (s *flowStep) stateText(t *Transfer) string {
	v := s.vars("bankref", t.BankRef, "reason", Text(s.lang, reasonKey(t.Reason), nil))
	key := KeyStateInFlight
	switch t.State {
	case TransferPendingPIN, TransferPendingCode:
		key = KeyStatePending
	case TransferCompleted:
		key = KeyStateCompleted
	case TransferRejected:
		key = KeyStateRejected
	case TransferCancelled:
		key = KeyStateCancelled
	case TransferExpired:
		key = KeyStateExpired
	}
	return Text(s.lang, key, v)
}

// reasonKey turns a bank's reason code into plain words.
func reasonKey(reason string) Key {
	switch reason {
	case "insufficient_funds":
		return KeyReasonFunds
	case "account_closed", "account_blocked", "unknown_account", "account_not_found", "no_such_account":
		return KeyReasonAccount
	case "limit_exceeded", "over_limit":
		return KeyReasonLimit
	}
	return KeyReasonBank
}

// status is STATUS <ref>: only the payer's and the payee's transfers.
func (s *flowStep) status(ref string) {
	if !ValidTransferRef(ref) {
		s.reply(KeyStatusNotFound, nil)
		return
	}
	t, err := s.tx.TransferByRef(s.ctx, ref)
	if errors.Is(err, ErrNotFound) || (err == nil && t.Payer != s.sub.Phone && t.PayeePhone != s.sub.Phone) {
		s.reply(KeyStatusNotFound, nil)
		return
	}
	s.check(err)
	s.statusReply(&t)
}

// transferAnswered applies the bank's answer about a transfer and sends
// the receipts. Answers about a transfer already final change nothing:
// the outbox may deliver one twice.
func (s *flowStep) transferAnswered(r BankResult) {
	t, err := s.tx.Transfer(s.ctx, r.ID)
	if errors.Is(err, ErrNotFound) {
		return // not a transfer of ours: nothing to finish
	}
	s.check(err)
	if t.State.Final() {
		return
	}
	s.bind = t.Bind
	if !s.sub.Lang.Valid() && t.Lang.Valid() {
		s.lang = t.Lang
	}
	switch {
	case r.Failed:
		t.Reason = "bank_error"
		s.move(&t, TransferRejected)
		s.reply(KeyRejected, s.rejectedVars(&t))
	case r.Status == TransferUnknown:
		if t.State != TransferUnknown {
			s.move(&t, TransferUnknown)
		}
	case r.Status == TransferCompleted:
		t.BankRef = r.BankRef
		s.move(&t, TransferCompleted)
		s.receipts(&t)
	case r.Status == TransferRejected:
		t.Reason = r.Reason
		s.move(&t, TransferRejected)
		s.reply(KeyRejected, s.rejectedVars(&t))
	default:
		s.check(fmt.Errorf("bank result for %s: status %q", t.Ref, r.Status))
	}
}

func (s *flowStep) rejectedVars(t *Transfer) Vars {
	v := s.transferVars(t)
	v["reason"] = Text(s.lang, reasonKey(t.Reason), nil)
	return v
}

// receipts queue the receipts of completed t: the payer's on the bind
// the command came on, the payee's (or the merchant's phone's) routed,
// in the payee's own language.
func (s *flowStep) receipts(t *Transfer) {
	v := s.transferVars(t)
	v["time"], v["bankref"] = s.when(t.Updated), t.BankRef
	key := KeyReceiptPayer
	if t.Kind == OpPay {
		key = KeyReceiptPayerPay
	}
	s.reply(key, v)
	if t.PayeePhone == "" {
		return
	}
	lang := s.e.cfg.DefaultLang
	if payee, err := s.tx.Subscriber(s.ctx, t.PayeePhone); err == nil && payee.Lang.Valid() {
		lang = payee.Lang
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		s.check(err)
	}
	pv := s.vars("amount", t.Amount.String(), "currency", s.e.cfg.Currency, "ref", t.Ref, "time", v["time"],
		"payee", s.payerName(t), "phone", t.Payer.Shown())
	key = KeyReceiptPayee
	if t.Kind == OpPay {
		key = KeyReceiptMerchant
	}
	s.out = append(s.out, OutSMS{To: t.PayeePhone, From: s.e.cfg.ShortCode, Text: Text(lang, key, pv)})
}

// payerName is the payer's masked name as the payee sees it: the holder
// of the debited account.
func (s *flowStep) payerName(t *Transfer) string {
	for _, a := range s.must(s.loadAccounts()) {
		if a.Bank == t.Debit.Bank && a.Number == t.Debit.Number && a.Holder != "" {
			return a.Holder
		}
	}
	return Mask
}
