package gateway

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/internal/crashpoint"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
)

// The secure channel with phones' security modules (SPEC §9): envelopes
// are recognised before the grammar, opened in the step that acts on
// them — the counter stored in the same transaction, so a command is
// acted on at most once — and every text to a phone with an active
// device leaves sealed (store.Tx.QueueSMS). Session start (hello → proof
// with an integrity nonce → report) decides whether the device may pay.

// secureChannel is the gateway's side of it.
type secureChannel struct {
	// platform proves the gateway to modules; nil when
	// keys.platform_key_file does not exist: the channel is off.
	platform   ed25519.PrivateKey
	reportWait time.Duration
}

// newSecureChannel reads the platform key from keyFile; a missing file
// turns the channel off (the sandbox makes one), any other problem is an
// error. reportWait is secure.report_wait.
func newSecureChannel(keyFile string, reportWait time.Duration) (*secureChannel, error) {
	sc := &secureChannel{reportWait: reportWait}
	if keyFile == "" {
		return sc, nil
	}
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		return sc, nil
	}
	seed, err := readKeyFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("keys.platform_key_file: %w", err)
	}
	sc.platform = ed25519.NewKeyFromSeed(seed[:])
	clear(seed[:])
	return sc, nil
}

// on reports whether the channel can run (the platform key is there).
func (sc *secureChannel) on() bool { return sc.platform != nil }

// publicKey is the platform's public key, which modules are
// personalised with; nil when the channel is off.
func (sc *secureChannel) publicKey() ed25519.PublicKey {
	if sc.platform == nil {
		return nil
	}
	return sc.platform.Public().(ed25519.PublicKey)
}

// envelopeOf returns the envelope an inbound message carries: 8-bit data
// as it is, or text in the text carriage ("#" and base64). Anything else
// is a plain command.
func envelopeOf(d *smpp.Delivery, text string) ([]byte, bool, error) {
	if binaryCoding(d.Coding) {
		return d.Payload, true, nil
	}
	if !strings.HasPrefix(strings.TrimSpace(text), envelope.TextMarker) {
		return nil, false, nil
	}
	b, err := envelope.DecodeText(text)
	return b, true, err
}

// binaryCoding reports whether data_coding c is 8-bit data: 0x02, 0x04,
// or the message-class group with its 8-bit bit (GSM 03.38 §4).
func binaryCoding(c smpp.Coding) bool {
	return c == smpp.CodingBinary || c == smpp.CodingBinary8 || (c&0xF0 == 0xF0 && c&0x04 != 0)
}

// enrolCommand is what the module of an issued device sends to be
// enrolled to the phone it is in.
const enrolCommand = "ENROL"

// refusal says why an envelope was refused, as the metric labels it.
type refusal string

const (
	refusedMalformed refusal = "malformed"  // not an envelope of a version we speak
	refusedUnknown   refusal = "unknown"    // no such device or key version
	refusedRevoked   refusal = "revoked"    // the device or key version is revoked
	refusedPhone     refusal = "phone"      // the device is another phone's
	refusedReplay    refusal = "replay"     // counter not above the last accepted
	refusedAuth      refusal = "auth"       // bad tag: tampered, forged, wrong key
	refusedMessage   refusal = "message"    // authentic, but not a message for the uplink
	refusedOff       refusal = "off"        // the channel is off (no platform key)
	refusedStale     refusal = "stale"      // a report with no nonce out, or past it
	refusedReport    refusal = "bad_report" // a report that did not verify
)

// sealedStep is the first step of an inbound envelope: it opens raw for
// msg.From, stores its counter and acts on it. On acceptance of a text,
// msg becomes the plaintext command (Sealed), so that the PIN step after
// it resumes the same command. It returns the PIN work of the command,
// and what it refused ("" when nothing).
func (g *Gateway) sealedStep(ctx context.Context, tx *store.Tx, msg *flows.InboundSMS, raw []byte, perr error) (*flows.PINWork, refusal, error) {
	refuse := func(why refusal) (*flows.PINWork, refusal, error) {
		return nil, why, g.engine.EnvelopeRefused(ctx, tx, *msg)
	}
	if !g.secure.on() {
		return refuse(refusedOff)
	}
	if perr != nil {
		return refuse(refusedMalformed)
	}
	h, err := envelope.Parse(raw)
	if err != nil {
		return refuse(refusedMalformed)
	}
	uk, err := tx.UplinkKey(ctx, h.DeviceID, h.KeyVersion)
	switch {
	case errors.Is(err, flows.ErrNotFound):
		return refuse(refusedUnknown)
	case err != nil:
		return nil, "", err
	case uk.State == store.DeviceRevoked || uk.KeyState != store.DeviceActive:
		return refuse(refusedRevoked)
	case uk.State == store.DeviceActive && uk.Phone != msg.From:
		return refuse(refusedPhone)
	}
	h, m, err := envelope.Receive(uk.Key, envelope.Uplink, uk.Last, raw)
	switch {
	case errors.Is(err, envelope.ErrReplay):
		return refuse(refusedReplay)
	case h.Counter == 0:
		return refuse(refusedAuth)
	}
	// Authentic: the counter is spent whatever the message says.
	if err := tx.AcceptUplink(ctx, h.DeviceID, h.KeyVersion, h.Counter, msg.At); errors.Is(err, store.ErrReplay) {
		return refuse(refusedReplay)
	} else if err != nil {
		return nil, "", err
	}
	crashpoint.Hit(crashpoint.EnvelopeAccepted)
	if err != nil { // ErrMessage: an authentic envelope carrying nothing valid
		return refuse(refusedMessage)
	}
	if uk.State == store.DeviceIssued {
		// The module of an issued device asks to be this phone's with
		// ENROL; its PIN and code answer as any command does. It is
		// not the phone's device yet, so what it seals counts as clear
		// text: it cannot stand in for the phone's own module where
		// the policy requires envelopes.
		if m.Kind != envelope.KindText {
			return refuse(refusedMessage)
		}
		msg.Text = m.Text
		if strings.EqualFold(strings.TrimSpace(m.Text), enrolCommand) {
			return nil, "", g.engine.Enrol(ctx, tx, *msg, uk.Device)
		}
		work, err := g.engine.HandleSMS(ctx, tx, *msg)
		return work, "", err
	}
	switch m.Kind {
	case envelope.KindText:
		msg.Text, msg.Sealed = m.Text, true
		work, err := g.engine.HandleSMS(ctx, tx, *msg)
		return work, "", err
	case envelope.KindHello:
		return nil, "", g.hello(ctx, tx, msg, uk, m.Challenge)
	case envelope.KindReport:
		why, err := g.report(ctx, tx, msg, uk, m.Report)
		return nil, why, err
	}
	return refuse(refusedMessage)
}

// hello answers a module's session start: the platform's proof over its
// challenge, and a fresh integrity nonce. Payments wait for the report.
func (g *Gateway) hello(ctx context.Context, tx *store.Tx, msg *flows.InboundSMS, uk store.UplinkKey, challenge []byte) error {
	sig, err := envelope.ProveChallenge(g.secure.platform, uk.Key.DeviceID(), challenge)
	if err != nil {
		return fmt.Errorf("secure: proving the platform: %w", err)
	}
	nonce, err := envelope.NewNonce(rand.Reader)
	if err != nil {
		return err
	}
	if _, err := tx.StartAttestation(ctx, uk.Device, nonce, msg.At.Add(g.secure.reportWait), msg.At); err != nil {
		return err
	}
	return tx.QueueMessage(ctx, msg.From, g.cfg.ShortCode, msg.Bind, envelope.ProofMessage(sig, nonce))
}

// report checks an integrity report against the nonce out and the
// allow-list, records the verdict and tells the phone when its payments
// go off or on again.
func (g *Gateway) report(ctx context.Context, tx *store.Tx, msg *flows.InboundSMS, uk store.UplinkKey, report []byte) (refusal, error) {
	nonce, until, err := tx.AttestationNonce(ctx, uk.Device)
	if err != nil {
		return "", err
	}
	trust, why, measured, refused := flows.TrustGood, "", "", refusal("")
	switch m, verr := envelope.VerifyReport(uk.Key, nonce, report); {
	case nonce == nil || msg.At.After(until):
		trust, why, refused = flows.TrustFailed, "a report with no integrity nonce outstanding (stale or unasked)", refusedStale
	case verr != nil:
		trust, why, refused = flows.TrustFailed, "the integrity report did not verify (another nonce, device or key, or altered)", refusedReport
	default:
		measured = m.String()
		if _, ok, err := tx.MeasurementAllowed(ctx, m); err != nil {
			return "", err
		} else if !ok {
			trust, why = flows.TrustFailed, "measurement "+measured+" is not on the allow-list"
		}
	}
	from, err := tx.SetTrust(ctx, uk.Device, trust, why, measured, msg.At)
	if err != nil {
		return "", err
	}
	g.log.Info("secure: integrity report", "device", uk.Device, "phone", msg.From, "trust", trust, "why", why)
	return refused, g.engine.DeviceTrust(ctx, tx, msg.From, from, flows.Device{ID: uk.Device, Trust: trust, Why: why}, msg.At)
}

// expireReports marks the devices whose integrity nonce expired with no
// report as missing, and tells their phones (run by the janitor).
func (g *Gateway) expireReports(ctx context.Context, now time.Time) error {
	overdue, err := g.db.OverdueAttestations(ctx, now, 500)
	if err != nil {
		return err
	}
	for id, phone := range overdue {
		err := g.db.Step(ctx, func(tx *store.Tx) error {
			nonce, until, err := tx.AttestationNonce(ctx, id)
			if err != nil || nonce == nil || !now.After(until) {
				return err // answered meanwhile
			}
			why := "no integrity report before " + until.UTC().Format(time.RFC3339)
			from, err := tx.SetTrust(ctx, id, flows.TrustMissing, why, "", now)
			if err != nil {
				return err
			}
			return g.engine.DeviceTrust(ctx, tx, phone, from, flows.Device{ID: id, Trust: flows.TrustMissing, Why: why}, now)
		})
		if err != nil {
			return err
		}
		g.metrics.envelopes.WithLabelValues("report_missing").Inc()
	}
	return nil
}
