package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/ussd"
)

// The USSD transports (SPEC §4): carrier SMPP (ussd_service_op on a
// bind) and an aggregator's HTTP callback, both adapters over the ussd
// dialogue engine. A step runs the engine in one transaction; when it
// needs a PIN checked, the check runs on the PIN pool and a second step
// records it, as for SMS. The screen goes back at once; nothing waits on
// the bank.

// newUSSD builds the dialogue engine from cfg over the flows engine.
func newUSSD(cfg config.Config, engine *flows.Engine) (*ussd.Engine, error) {
	return ussd.New(ussd.Config{
		Flows: engine, ServiceCode: cfg.USSDCode, ShortCode: cfg.ShortCode, Currency: cfg.Currency,
		Country: cfg.Country, PINLength: cfg.PINLength, DefaultLang: flows.Lang(cfg.Language),
		Measure: measureScreen,
	})
}

// measureScreen measures a screen as the SMSC will encode it: GSM-7
// septets, else UCS-2 units.
func measureScreen(s string) (int, bool) {
	if n, ok := smpp.GSM7Len(s); ok {
		return n, true
	}
	return len(utf16.Encode([]rune(s))), false
}

// screenLimit is a bind's USSD screen limit: SPEC §4's, or its override.
func screenLimit(sc config.SMSC) ussd.Limit {
	l := ussd.DefaultLimit
	if sc.USSDScreen.GSM7 > 0 {
		l.GSM7 = sc.USSDScreen.GSM7
	}
	if sc.USSDScreen.UCS2 > 0 {
		l.UCS2 = sc.USSDScreen.UCS2
	}
	return l
}

// ussdStep runs one dialogue event: the step, and when it asks for a
// PIN check, the check on the pool and the second step.
func (g *Gateway) ussdStep(ctx context.Context, req ussd.Request) (ussd.Screen, error) {
	var st ussd.Step
	err := g.db.Step(ctx, func(tx *store.Tx) error {
		var err error
		st, err = g.ussd.Handle(ctx, tx, req)
		return err
	})
	if err != nil || st.Work == nil {
		return st.Screen, err
	}
	res, err := g.pinWork(ctx, st.Work)
	if err != nil {
		return ussd.Screen{}, err
	}
	var sc ussd.Screen
	err = g.db.Step(ctx, func(tx *store.Tx) error {
		var err error
		sc, err = g.ussd.Resume(ctx, tx, req, st, res)
		return err
	})
	return sc, err
}

// ussdSessionKey names an SMPP session by its TLV's bytes.
func ussdSessionKey(b []byte) string {
	if len(b) == 0 {
		return "-"
	}
	return hex.EncodeToString(b)
}

// ussd answers a USSD message on an SMPP bind: 1 (the user dialled)
// begins a session, 18 answers its screen, anything else (a release, an
// abort) ends it. The SMSC is acknowledged after the step; a step that
// fails asks it to deliver again (ESME_RX_T_APPN).
func (r *router) ussd(ctx context.Context, d *smpp.Delivery) smpp.Status {
	name := r.bind.cfg.Name
	u, _ := d.USSD()
	from, err := r.phone(d.PDU.Source)
	if err != nil {
		r.g.log.Warn("ussd: sender is not a phone number", "bind", name)
		r.g.metrics.inbound.WithLabelValues(name, "ussd", "bad_sender").Inc()
		return smpp.StatusOK
	}
	kind := ussd.Abort
	switch u.Op {
	case smpp.USSDPSSRIndication:
		kind = ussd.Begin
	case smpp.USSDUSSRConfirm:
		kind = ussd.Answer
	}
	req := ussd.Request{
		Kind: kind, Phone: from, Session: ussdSessionKey(u.Session), Bind: name, Trusted: r.bind.cfg.Trusted,
		Text: d.Text(), At: r.g.now(), Limit: screenLimit(r.bind.cfg),
	}
	sc, err := r.g.ussdStep(ctx, req)
	if err != nil {
		r.g.log.Error("ussd: step not recorded; the SMSC will deliver it again", "bind", name, "phone", from, "err", err)
		r.g.metrics.inbound.WithLabelValues(name, "ussd", "error").Inc()
		return smpp.StatusRxTAppn
	}
	if kind == ussd.Abort {
		r.g.metrics.inbound.WithLabelValues(name, "ussd", "aborted").Inc()
		return smpp.StatusOK
	}
	r.g.sendScreen(r.bind, d.PDU.Source, d.PDU.Dest, u.Session, sc, false)
	result := "continued"
	if sc.End {
		result = "ended"
	}
	r.g.metrics.inbound.WithLabelValues(name, "ussd", result).Inc()
	return smpp.StatusOK
}

// sendScreen sends a screen on b: ussd_service_op 2 (USSR request, we
// wait for the answer) or 17 (PSSR response, the end), with the session
// TLV echoed unchanged. A screen is part of the live session, not an
// outbox effect: it goes at once, after the handler has returned (wait:
// before sendScreen returns, with its error).
func (g *Gateway) sendScreen(b *bind, to, from smpp.Address, session []byte, sc ussd.Screen, wait bool) error {
	op := smpp.USSDUSSRRequest
	if sc.End {
		op = smpp.USSDPSSRResponse
	}
	reply := smpp.Text{Source: from, Dest: to, Body: sc.Text, Single: true}
	reply.TLVs.SetUint8(smpp.TagUSSDServiceOp, op)
	if session != nil {
		reply.TLVs.Set(b.client.USSDSession(), session)
	}
	reply.ServiceType = "USSD"
	send := func() error {
		sctx, cancel := context.WithTimeout(g.ctx, 10*time.Second)
		defer cancel()
		_, err := b.client.SubmitText(sctx, reply, "")
		return err
	}
	if wait {
		return send()
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := send(); err != nil && !errors.Is(err, context.Canceled) {
			g.log.Warn("ussd: screen not sent", "bind", b.cfg.Name, "err", err)
		}
	}()
	return nil
}

// PushUSSD opens a network-initiated USSD session with phone (SPEC §4,
// §5.4): a USSR request with no prior session, showing prompt and asking
// for the PIN of the operation pending on the phone; the answer goes on
// as any PIN screen (the code by SMS, typed into the next screen). It
// returns when the SMSC has accepted the prompt.
func (g *Gateway) PushUSSD(ctx context.Context, phone flows.MSISDN, prompt string) error {
	b := g.disp.route(store.MT{Phone: phone})
	if b == nil {
		return errors.New("gateway: no SMSC bound for a USSD push")
	}
	var sid [2]byte // its_session_info: a 16-bit session number
	if _, err := rand.Read(sid[:]); err != nil {
		return err
	}
	sid[1] &^= 1 // its low bit is the end-of-session flag
	var sc ussd.Screen
	err := g.db.Step(ctx, func(tx *store.Tx) error {
		var err error
		sc, err = g.ussd.Push(ctx, tx, ussd.Push{
			Phone: phone, Session: ussdSessionKey(sid[:]), Bind: b.cfg.Name, Trusted: b.cfg.Trusted,
			Text: prompt, At: g.now(), Limit: screenLimit(b.cfg),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("gateway: USSD push: %w", err)
	}
	to := destAddress(string(phone))
	from := smpp.Address{TON: 0, NPI: 1, Addr: g.cfg.USSDCode}
	if err := g.sendScreen(b, to, from, sid[:], sc, true); err != nil {
		return fmt.Errorf("gateway: USSD push: %w", err)
	}
	g.metrics.inbound.WithLabelValues(b.cfg.Name, "ussd", "pushed").Inc()
	return nil
}

// ussdCallers are the aggregator callers of POST /ussd: a digest of each
// token, by caller name.
type ussdCallers map[string][32]byte

// readUSSDCallers reads ussd_http.token_file: "name token" per line,
// # comments. A file that does not exist turns POST /ussd off.
func readUSSDCallers(path string) (ussdCallers, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	callers := ussdCallers{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, token, ok := strings.Cut(line, " ")
		token = strings.TrimSpace(token)
		if !ok || name == "" || len(token) < 16 {
			return nil, fmt.Errorf("line %d: want \"name token\" with a token of 16 characters or more", n)
		}
		callers[name] = sha256.Sum256([]byte(token))
	}
	return callers, sc.Err()
}

// caller returns the name of the caller whose token r carries
// (Authorization: Bearer), comparing digests in constant time.
func (c ussdCallers) caller(r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	d := sha256.Sum256([]byte(strings.TrimSpace(token)))
	found := ""
	for name, want := range c {
		if subtle.ConstantTimeCompare(d[:], want[:]) == 1 {
			found = name
		}
	}
	return found, found != ""
}

// postUSSD is the aggregator callback, POST /ussd (Africa's Talking
// convention, SPEC §4): form fields sessionId, serviceCode, phoneNumber,
// networkCode, text (every input of the session joined by "*"); the
// answer is text/plain "CON …" (continue) or "END …". The caller
// authenticates with a bearer token from ussd_http.token_file; money is
// allowed only when ussd_http.trusted says so.
//
// Every callback is a joined ussd.Request: the engine takes the inputs
// past those it has seen. A first callback whose text already holds
// inputs (a shortcut dial, *384*2*DEMO#) walks the menus with them; a
// session that ended is kept as ended for a while (ussd.Config.EndedTTL),
// so a callback replaying its text is told the session is over and never
// starts a new one with its inputs.
func (g *Gateway) postUSSD(w http.ResponseWriter, r *http.Request) {
	plain := func(code int, body string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprint(w, body)
	}
	caller, ok := g.ussdCallers.caller(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="paygate ussd"`)
		plain(http.StatusUnauthorized, "unauthorized: a bearer token from ussd_http.token_file is required\n")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		plain(http.StatusBadRequest, "bad_request: the body is not a form\n")
		return
	}
	sid, number, text := r.PostForm.Get("sessionId"), r.PostForm.Get("phoneNumber"), r.PostForm.Get("text")
	switch {
	case sid == "" || len(sid) > 100:
		plain(http.StatusBadRequest, "invalid_session: sessionId is required, at most 100 characters\n")
		return
	case len(text) > 1000:
		plain(http.StatusBadRequest, "text_too_long: text is at most 1000 characters\n")
		return
	}
	phone, err := flows.ParseMSISDN(number, g.cfg.Country)
	if err != nil {
		plain(http.StatusBadRequest, "invalid_phone: phoneNumber is not a phone number\n")
		return
	}
	kind := ussd.Answer
	if text == "" {
		kind = ussd.Begin
	}
	req := ussd.Request{
		Kind: kind, Phone: phone, Session: "http:" + caller + ":" + sid, Trusted: g.cfg.USSDHTTP.Trusted,
		Joined: true, Text: text, At: g.now(), Limit: ussd.DefaultLimit,
	}
	sc, err := g.ussdStep(r.Context(), req)
	if err != nil {
		g.log.Error("ussd: callback step failed", "caller", caller, "phone", phone, "err", err)
		g.metrics.inbound.WithLabelValues("http", "ussd", "error").Inc()
		plain(http.StatusServiceUnavailable, "END "+ussd.Unavailable(flows.Lang(g.cfg.Language))+"\n")
		return
	}
	if sc.End {
		g.metrics.inbound.WithLabelValues("http", "ussd", "ended").Inc()
		plain(http.StatusOK, "END "+sc.Text)
		return
	}
	g.metrics.inbound.WithLabelValues("http", "ussd", "continued").Inc()
	plain(http.StatusOK, "CON "+sc.Text)
}
