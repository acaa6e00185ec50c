package flows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The secure channel as flows sees it (SPEC §9). The envelope itself is
// opened and sealed outside flows (gateway and store); flows only know
// whether a command came sealed, whether the phone has a security
// module, and whether that module's last integrity report was good. They
// decide what that allows.

// Device is a phone's enrolled security module. The store reads it with
// the subscriber and changes it only through its device methods, never
// through SaveSubscriber.
type Device struct {
	ID    string // 16 hex digits
	Trust Trust
	// Why says, for operators, why Trust is not good ("" when it is):
	// the measurement that is not allowed, the report that did not
	// verify, the nonce that expired.
	Why string
}

// Trust is where a device's integrity stands.
type Trust string

const (
	TrustNone    Trust = "none"    // enrolled, no session started yet
	TrustPending Trust = "pending" // a nonce is out, its report not yet in
	TrustGood    Trust = "good"    // the last report verified, its measurement allowed
	TrustFailed  Trust = "failed"  // the last report did not verify or is not allowed
	TrustMissing Trust = "missing" // the nonce expired with no report
)

// Payments reports whether a phone with device d may move money: with no
// device, yes; with one, only after a good report (SPEC §9: a failed or
// missing report disables payments).
func (d *Device) Payments() bool { return d == nil || d.Trust == TrustGood }

// EnvelopeMode is the secure.envelopes setting.
type EnvelopeMode string

const (
	EnvelopesOptional EnvelopeMode = "optional" // plaintext commands are fine
	EnvelopesAbove    EnvelopeMode = "above"    // plaintext payments above an amount are refused
	EnvelopesRequired EnvelopeMode = "required" // plaintext payments are refused
)

// EnvelopePolicy says when an enrolled phone's money commands must come
// sealed (config secure.envelopes: optional | above:<amount> | required).
// Phones without a device are not concerned.
type EnvelopePolicy struct {
	Mode  EnvelopeMode
	Above Amount // EnvelopesAbove: amounts strictly above this need an envelope
}

// ParseEnvelopePolicy reads secure.envelopes; "" is optional.
func ParseEnvelopePolicy(s string) (EnvelopePolicy, error) {
	switch s = strings.TrimSpace(s); {
	case s == "" || s == string(EnvelopesOptional):
		return EnvelopePolicy{Mode: EnvelopesOptional}, nil
	case s == string(EnvelopesRequired):
		return EnvelopePolicy{Mode: EnvelopesRequired}, nil
	case strings.HasPrefix(s, string(EnvelopesAbove)+":"):
		a, err := ParseAmount(strings.TrimPrefix(s, string(EnvelopesAbove)+":"))
		if err != nil {
			return EnvelopePolicy{}, fmt.Errorf("secure.envelopes %q: the amount: %w", s, err)
		}
		return EnvelopePolicy{Mode: EnvelopesAbove, Above: a}, nil
	}
	return EnvelopePolicy{}, fmt.Errorf("secure.envelopes %q: want optional, above:<amount> or required", s)
}

func (p EnvelopePolicy) String() string {
	if p.Mode == EnvelopesAbove {
		return string(EnvelopesAbove) + ":" + p.Above.String()
	}
	if p.Mode == "" {
		return string(EnvelopesOptional)
	}
	return string(p.Mode)
}

// Requires reports whether a payment of a needs an envelope.
func (p EnvelopePolicy) Requires(a Amount) bool {
	switch p.Mode {
	case EnvelopesRequired:
		return true
	case EnvelopesAbove:
		return a > p.Above
	}
	return false
}

// OpEnrol names the enrolment of a security module, confirmed by PIN and
// code. Pending.Payee holds the device id, so the code is bound to it.
const OpEnrol OpKind = "enrol"

// secureAllows reports whether the step may move amount for the phone,
// and answers why not: a plaintext payment where the policy wants it
// sealed, or a device whose integrity is not established.
func (s *flowStep) secureAllows(amount Amount) bool {
	d := s.sub.Device
	if d == nil {
		return true
	}
	if !s.in.Sealed && s.e.cfg.Envelopes.Requires(amount) {
		s.reply(KeySecureRequired, nil)
		return false
	}
	if !d.Payments() {
		s.reply(KeySecureOff, s.vars("why", Text(s.lang, trustWhy(d.Trust), nil)))
		return false
	}
	return true
}

// secureAnswer checks an answer (OK <PIN>, a code) to a money prompt as
// secureAllows checks the command that started it: the policy or the
// device's trust may have changed in between, and a sealed SEND must
// not be finished by a plaintext PIN where envelopes are required.
func (s *flowStep) secureAnswer() bool {
	p := s.sub.Pending
	if p == nil || !moneyKind(p.Kind) {
		return true
	}
	return s.secureAllows(p.Amount)
}

// trustWhy is the text that says why a device's payments are off.
func trustWhy(t Trust) Key {
	switch t {
	case TrustFailed:
		return KeySecureWhyFailed
	case TrustMissing:
		return KeySecureWhyMissing
	case TrustPending:
		return KeySecureWhyPending
	}
	return KeySecureWhyNone
}

// Enrol starts the enrolment of device, whose module sent in (sealed
// under the device's key, so the sender holds the module): the phone
// confirms with its PIN, then a code (SPEC §9). The store makes the
// device the phone's when the code is accepted (Tx.EnrolDevice).
func (e *Engine) Enrol(ctx context.Context, tx Tx, in InboundSMS, device string) error {
	s, err := e.beginInbound(ctx, tx, in, false)
	if err != nil {
		return err
	}
	if err := s.guard(func() { s.enrol(device) }); err != nil {
		return err
	}
	return s.finish()
}

func (s *flowStep) enrol(device string) {
	switch {
	case !s.in.Trusted:
		s.reply(KeyMoneyUntrusted, nil)
		return
	case s.sub.Lock.Locked(s.now):
		s.refusedLocked()
		return
	case s.sub.PIN == "" || len(s.must(s.loadAccounts())) == 0:
		s.reply(KeyEnrolFirst, nil)
		return
	}
	p := s.newPending(OpEnrol, StagePIN)
	p.Payee = device
	s.setPending(p)
	s.reply(KeyEnrolAskPIN, s.vars("device", device))
}

// enrolled finishes an enrolment whose code was right.
func (s *flowStep) enrolled(p *Pending) {
	s.clearPending()
	err := s.tx.EnrolDevice(s.ctx, p.Payee, s.sub.Phone, s.now)
	if errors.Is(err, ErrNotFound) {
		s.reply(KeyEnrolGone, s.vars("device", p.Payee))
		return
	}
	s.check(err)
	s.reply(KeyEnrolled, s.vars("device", p.Payee))
}

// DeviceTrust tells phone that its device's trust changed to d.Trust:
// payments off (and why), or on again. The store has recorded d in the
// same transaction; from is the trust it had.
func (e *Engine) DeviceTrust(ctx context.Context, tx Tx, phone MSISDN, from Trust, d Device, now time.Time) error {
	s, err := e.begin(ctx, tx, phone, now)
	if err != nil {
		return err
	}
	s.lang = s.sub.Lang
	if s.lang == "" {
		s.lang = e.cfg.DefaultLang
	}
	switch {
	case d.Trust == TrustGood && from != TrustGood:
		s.reply(KeySecureOn, nil)
	case d.Trust == TrustFailed || d.Trust == TrustMissing:
		s.reply(KeySecureOff, s.vars("why", Text(s.lang, trustWhy(d.Trust), nil)))
	}
	return s.finish()
}

// EnvelopeRefused answers a sealed message that was refused (replayed,
// forged, for a revoked key or another phone): at most one notice per
// NoticeEvery, so replaying a captured envelope cannot flood the phone.
// Nothing else changes.
func (e *Engine) EnvelopeRefused(ctx context.Context, tx Tx, in InboundSMS) error {
	s, err := e.beginInbound(ctx, tx, in, false)
	if err != nil {
		return err
	}
	if s.fresh {
		return nil // no record for a phone that never wrote in clear
	}
	if s.noticeDue() {
		s.reply(KeyEnvelopeRefused, nil)
	}
	return s.finish()
}
