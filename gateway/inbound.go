package gateway

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/internal/crashpoint"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
)

// router is a bind's smpp.Handler: every inbound message becomes one flow
// step that commits before the SMSC is acknowledged.
type router struct {
	g    *Gateway
	bind *bind
}

// HandleMessage implements smpp.Handler. ESME_ROK means the message (or
// its effect) is committed; ESME_RX_T_APPN asks the SMSC to deliver it
// again later, when the store could not commit.
func (r *router) HandleMessage(ctx context.Context, d *smpp.Delivery) smpp.Status {
	start := time.Now()
	kind := "sms"
	var st smpp.Status
	switch {
	case d.IsReceipt():
		kind = "receipt"
		st = r.receipt(ctx, d)
	default:
		if _, ok := d.USSD(); ok {
			kind = "ussd"
			st = r.ussd(ctx, d)
		} else {
			st = r.sms(ctx, d)
		}
	}
	r.g.metrics.inboundDur.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	return st
}

// phone reads an SMPP source address as a phone number: TON 1 is an
// international number written without its "+".
func (r *router) phone(a smpp.Address) (flows.MSISDN, error) {
	s := a.Addr
	if a.TON == 1 && !strings.HasPrefix(s, "+") {
		s = "+" + s
	}
	if m, ok := r.g.phones.get(s); ok {
		return m, nil
	}
	m, err := flows.ParseMSISDN(s, r.g.cfg.Country)
	if err == nil {
		r.g.phones.put(s, m)
	}
	return m, err
}

// phoneCache remembers how sender addresses parse: the same phones write
// again and again, and parsing a number is costly. It is bounded: full,
// it starts over. Safe for concurrent use.
type phoneCache struct {
	mu sync.Mutex
	m  map[string]flows.MSISDN
}

const phoneCacheSize = 100_000

func (c *phoneCache) get(s string) (flows.MSISDN, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.m[s]
	return m, ok
}

func (c *phoneCache) put(s string, m flows.MSISDN) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= phoneCacheSize {
		c.m = make(map[string]flows.MSISDN)
	}
	c.m[s] = m
}

func (r *router) sms(ctx context.Context, d *smpp.Delivery) smpp.Status {
	crashpoint.Hit(crashpoint.AfterMORead)
	name := r.bind.cfg.Name
	from, err := r.phone(d.PDU.Source)
	if err != nil {
		// Nothing can be answered to an address that is not a phone
		// (an alphanumeric sender): acknowledge and count it.
		r.g.log.Warn("inbound: sender is not a phone number", "bind", name)
		r.g.metrics.inbound.WithLabelValues(name, "sms", "bad_sender").Inc()
		return smpp.StatusOK
	}
	text := d.Text()
	now := r.g.now()
	// Computed here, not in the step: the step runs on SQLite's one writer.
	in := store.Inbound{
		Bind: name, Phone: string(from), Dest: d.PDU.Dest.Addr,
		Text: flows.Redact(text), Identity: d.Identity(), At: now,
	}
	msg := flows.InboundSMS{
		From: from, To: d.PDU.Dest.Addr, Bind: name, Trusted: r.bind.cfg.Trusted, Text: text, At: now,
	}
	// A secure envelope is opened in the step, before the grammar: its
	// counter is stored in the transaction that acts on it.
	raw, sealed, perr := envelopeOf(d, text)
	isNew := false
	var work *flows.PINWork
	var refused refusal
	err = r.g.db.Step(ctx, func(tx *store.Tx) error {
		var err error
		isNew, err = tx.RecordInbound(ctx, in, r.g.cfg.DedupeWindow)
		if err != nil || !isNew {
			return err
		}
		if sealed {
			msg.Text, msg.Sealed = text, false
			work, refused, err = r.g.sealedStep(ctx, tx, &msg, raw, perr)
		} else {
			work, err = r.g.engine.HandleSMS(ctx, tx, msg)
		}
		if err != nil {
			return err
		}
		return tx.SeenState(ctx, in)
	})
	if err == nil && isNew && sealed {
		result := string(refused)
		if result == "" {
			result = "accepted"
		}
		r.g.metrics.envelopes.WithLabelValues(result).Inc()
	}
	crashpoint.Hit(crashpoint.AfterInboxCommit)
	if err == nil && work != nil {
		// The command needs a PIN checked or hashed: the first step
		// reserved the attempt; the hash runs outside the writer; the
		// second step records it and replies. The SMSC is answered
		// after both, so a crash in between leaves the reservation to
		// expire (flows.ReserveTTL) and the text unanswered, never half
		// applied.
		var res flows.PINResult
		if res, err = r.g.pinWork(ctx, work); err == nil {
			err = r.g.db.Step(ctx, func(tx *store.Tx) error {
				if err := r.g.engine.ResumeSMS(ctx, tx, msg, work, res); err != nil {
					return err
				}
				if res.Err != nil {
					// Not checked (busy, or an unreadable hash): the
					// reply asks for the same text again, at the same
					// prompt; that is not a duplicate.
					return tx.ForgetSeen(ctx, in)
				}
				return tx.SeenState(ctx, in)
			})
			crashpoint.Hit(crashpoint.AfterCodeIssued)
		}
	}
	switch {
	case err != nil && work != nil:
		// The inbox has the text: a redelivery is a duplicate. Asking
		// for one would be in vain; the reservation lapses.
		r.g.log.Error("inbound: PIN step not recorded; the attempt lapses", "bind", name, "phone", from, "err", err)
		r.g.metrics.inbound.WithLabelValues(name, "sms", "error").Inc()
	case err != nil:
		r.g.log.Error("inbound: not stored; the SMSC will deliver it again", "bind", name, "phone", from, "err", err)
		r.g.metrics.inbound.WithLabelValues(name, "sms", "error").Inc()
		return smpp.StatusRxTAppn
	case !isNew:
		r.g.metrics.inbound.WithLabelValues(name, "sms", "duplicate").Inc()
	default:
		r.g.metrics.inbound.WithLabelValues(name, "sms", "new").Inc()
	}
	return smpp.StatusOK
}

// receipt applies a delivery receipt to its MT. A receipt for an MT whose
// sending is not recorded yet (it overtook the submit_sm_resp) is kept in
// memory and applied when it is.
func (r *router) receipt(ctx context.Context, d *smpp.Delivery) smpp.Status {
	name := r.bind.cfg.Name
	rc, ok := d.Receipt()
	if !ok {
		r.g.metrics.inbound.WithLabelValues(name, "receipt", "unreadable").Inc()
		return smpp.StatusOK
	}
	found, err := r.g.applyReceipt(ctx, name, smpp.MessageIDKeys(rc.ID), rc.State)
	if err != nil {
		r.g.metrics.inbound.WithLabelValues(name, "receipt", "error").Inc()
		return smpp.StatusRxTAppn
	}
	if !found {
		keys := smpp.MessageIDKeys(rc.ID)
		r.g.early.add(name, keys, rc.State, r.g.now())
		// The dispatcher may have recorded the MT between the lookup and
		// the add, and found nothing to apply: look once more. Applying a
		// receipt twice is harmless.
		if found, err = r.g.applyReceipt(ctx, name, keys, rc.State); err == nil && found {
			r.g.early.take(name, keys)
		} else {
			r.g.metrics.inbound.WithLabelValues(name, "receipt", "early").Inc()
			return smpp.StatusOK
		}
	}
	r.g.metrics.inbound.WithLabelValues(name, "receipt", "applied").Inc()
	return smpp.StatusOK
}

func (g *Gateway) applyReceipt(ctx context.Context, bind string, keys []string, state smpp.MessageState) (bool, error) {
	var found bool
	err := g.db.Step(ctx, func(tx *store.Tx) error {
		var err error
		_, found, err = tx.MTReceipt(ctx, bind, keys, int(state), state.Final(), g.now())
		return err
	})
	return found, err
}
