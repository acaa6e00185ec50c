package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// Limits of the sandbox's phone API.
const (
	// MaxSandboxWait caps the long poll of the phone API's GETs.
	MaxSandboxWait = 30 * time.Second
	// maxSandboxText is the longest text a virtual phone sends: ten
	// GSM 7-bit parts' worth, as carriers commonly allow.
	maxSandboxText = 1600
	maxSandboxBody = 64 << 10
	// sandboxBind names the sandbox's one bind, to its simulator.
	sandboxBind = "sandbox"
)

// SandboxOptions configure StartSandbox. Zero values mean the documented
// default.
type SandboxOptions struct {
	// Dir holds the sandbox's state: paygate.db, data.key and
	// pepper.key, created when missing. Default ".".
	Dir string
	// HTTPListen is the gateway's HTTP address. Default Config's
	// http.listen, which defaults to 127.0.0.1:8080.
	HTTPListen string
	Logger     *slog.Logger
	// Config is the configuration to start from (config.Load("", getenv)
	// in `paygate serve`, for the environment's overrides); nil for
	// config.Default(). Its relative paths are taken relative to Dir. Its
	// smsc list is replaced by the one bind to the simulator, and a
	// missing bank becomes the simulated bank.
	Config *config.Config
}

// Sandbox is the gateway of `paygate serve` with no config file
// (SPEC.md §1): an in-process SMSC simulator in place of the carriers,
// SQLite in Dir, and virtual phones on the gateway's HTTP server under
// /sandbox/ for `paygate phone` and the console:
//
//	POST /sandbox/phones/{number}/sms       {"text"} → 201 {"ids","phone","to"}
//	GET  /sandbox/phones/{number}/messages  ?after=N&wait=5s → {"phone","messages":[{"index","from","text"}],"next"}
//	POST /sandbox/phones/{number}/ussd      {"text","session"} → 201 {"ids","phone","session","op","text","after"}
//	GET  /sandbox/phones/{number}/ussd      ?session=S&after=N&wait=5s → {"phone","screen":{"text","op","end","session"}|null,"next"}
//	     /sandbox/smsc/...                  the simulator's control API (smsc.Server.ControlHandler)
//
// Numbers may be local ("13800138000", read with the config's country)
// or international. A GET waits up to wait (at most MaxSandboxWait) for
// something past index after, then answers with what there is. Errors
// are {"error":{"code","message"}} with a 4xx status. Like the control
// API, the phone API has no authentication: the sandbox is for loopback.
//
// Its methods are safe for concurrent use.
type Sandbox struct {
	gw   *Gateway
	sim  *smsc.Server
	bank *banksim.Server // nil when the config names a real bank
	cfg  config.Config
	tag  smpp.Tag // the TLV of USSD session ids

	ctx    context.Context // cancelled by Close: ends the long polls
	cancel context.CancelFunc
}

// StartSandbox starts the SMSC simulator, creates the key files in Dir
// if they are missing (readable by their owner only), and starts a
// gateway bound to the simulator with the virtual phones mounted. With
// the bank simulator it adds the demo merchant DEMO ("Demo Shop", the
// simulator's merchant account) unless the code exists already. The
// configuration is checked with ValidateSandbox; its problems come back
// joined, each a *config.KeyError. An HTTP address that is taken is
// reported before anything starts, as an error wrapping the listen
// error (syscall.EADDRINUSE). Close stops it all.
func StartSandbox(ctx context.Context, opts SandboxOptions) (*Sandbox, error) {
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cfg := config.Default()
	if opts.Config != nil {
		cfg = *opts.Config
	}
	if opts.HTTPListen != "" {
		cfg.HTTP.Listen = opts.HTTPListen
	}
	cfg = SandboxConfig(cfg, opts.Dir)
	if len(cfg.SMSC) > 0 {
		opts.Logger.Warn("sandbox: ignoring the configured smsc binds; the sandbox binds to its own simulator", "binds", len(cfg.SMSC))
	}
	if len(cfg.Routes) > 0 {
		opts.Logger.Warn("sandbox: ignoring the configured routes", "routes", len(cfg.Routes))
		cfg.Routes = []config.Route{}
	}
	// Check what can be checked before anything starts; the bind's
	// address is known once the simulator listens.
	probe := cfg
	sc := config.DefaultSMSC()
	sc.Name, sc.Addr, sc.SystemID, sc.Password = sandboxBind, "127.0.0.1:2775", "paygate", "secret"
	sc.Window, sc.Rate, sc.Trusted = 100, 0, true
	probe.SMSC = []config.SMSC{sc}
	if err := probe.ValidateSandbox(); err != nil {
		return nil, err
	}
	if err := checkFree(cfg.HTTP.Listen); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox directory: %w", err)
	}
	for _, k := range []struct{ key, path string }{
		{"keys.data_key_file", cfg.Keys.DataKeyFile},
		{"keys.pepper_file", cfg.Keys.PepperFile},
		{"keys.platform_key_file", cfg.Keys.PlatformKeyFile},
	} {
		if err := ensureKeyFile(k.path); err != nil {
			return nil, fmt.Errorf("%s: %w", k.key, err)
		}
	}
	if err := ensureTokenFile(cfg.Admin.TokenFile, "sandbox"); err != nil {
		return nil, fmt.Errorf("admin.token_file: %w", err)
	}

	bankSrv, err := startSandboxBank(&cfg, opts.Logger)
	if err != nil {
		return nil, err
	}
	sim, err := smsc.Listen(smsc.Config{
		Addr: "127.0.0.1:0", SystemID: sc.SystemID, Password: sc.Password.Reveal(),
		DLR: true, Logger: opts.Logger.With("component", "smsc"),
	})
	if err != nil {
		closeBank(bankSrv)
		return nil, err
	}
	sc.Addr = sim.Addr()
	cfg.SMSC = []config.SMSC{sc}

	sctx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{sim: sim, bank: bankSrv, cfg: cfg, tag: sc.SessionTag(), ctx: sctx, cancel: cancel}
	gw, err := New(ctx, Options{Config: cfg, Logger: opts.Logger, Routes: s.routes, Sandbox: true})
	if err != nil {
		cancel()
		sim.Close()
		closeBank(bankSrv)
		return nil, err
	}
	s.gw = gw
	if bankSrv != nil {
		s.seedDemoMerchant(ctx, opts.Logger)
	}
	return s, nil
}

// The sandbox's demo merchant (SPEC.md §5.3: `PAY DEMO 25`): the
// merchant account of banksim.DemoAccounts, found by its holder's name.
const (
	demoMerchantCode = "DEMO"
	demoMerchantName = "Demo Shop"
	// demoMerchantPhone gets the demo merchant's receipts. It is none of
	// banksim.DemoAccounts' phones (+8613700137000 is a customer's), so
	// that the merchant's receipts are not mixed with a customer's texts.
	demoMerchantPhone flows.MSISDN = "+8613500135000"
)

// seedDemoMerchant adds the demo merchant unless its code exists: an
// operator may have disabled or replaced it, and a restart leaves it so.
// A failure is logged: the sandbox runs on without it.
func (s *Sandbox) seedDemoMerchant(ctx context.Context, log *slog.Logger) {
	for _, a := range banksim.DemoAccounts(s.cfg.Bank.Code) {
		if a.Holder != demoMerchantName {
			continue
		}
		err := s.gw.DB().AddMerchant(ctx, flows.Merchant{
			Code: demoMerchantCode, Name: demoMerchantName,
			Account: flows.AccountRef{Bank: a.Bank, Number: a.Number}, Phone: demoMerchantPhone,
		})
		if err != nil && !errors.Is(err, flows.ErrDuplicate) {
			log.Warn("sandbox: the demo merchant could not be added", "merchant", demoMerchantCode, "err", err)
		}
		return
	}
	log.Warn("sandbox: the bank simulator has no demo merchant account", "holder", demoMerchantName)
}

// SandboxConfig returns the configuration of the sandbox kept in dir as
// StartSandbox makes it before anything starts: cfg (config.Load("",
// getenv) in `paygate serve`) with the simulated bank when it names no
// bank, and its relative paths — the database, the key files, the token
// files, the bank secret — in dir ("" is "."). Commands that work on a
// sandbox's files (`paygate merchants`) find them with it.
func SandboxConfig(cfg config.Config, dir string) config.Config {
	if dir == "" {
		dir = "."
	}
	if !cfg.HasBank() {
		cfg.Bank = config.DefaultBank()
		cfg.Bank.Kind = config.BankSim
	}
	if cfg.Bank.SecretFile == "" {
		cfg.Bank.SecretFile = "bank.secret"
	}
	cfg.ResolvePaths(dir)
	return cfg
}

// Gateway returns the sandbox's gateway.
func (s *Sandbox) Gateway() *Gateway { return s.gw }

// SMSC returns the simulator the gateway is bound to.
func (s *Sandbox) SMSC() *smsc.Server { return s.sim }

// Config returns the configuration the gateway runs with: absolute
// paths in Dir and the bind to the simulator.
func (s *Sandbox) Config() config.Config { return s.cfg }

// Close ends the long polls under way, closes the gateway (see
// Gateway.Close; ctx bounds the wait), then the simulator.
func (s *Sandbox) Close(ctx context.Context) error {
	s.cancel()
	err := s.gw.Close(ctx)
	return errors.Join(err, s.sim.Close(), closeBank(s.bank))
}

// Bank returns the sandbox's bank simulator, or nil when the config names
// a real bank.
func (s *Sandbox) Bank() *banksim.Server { return s.bank }

// startSandboxBank starts the bank simulator of SPEC.md §1's sandbox
// unless cfg names a bank of kind http: the demo accounts (phones on file
// +8613800138000 and +8613900139000), its secret in bank.secret_file
// (created, owner-only, when missing), and cfg's bank pointed at it.
func startSandboxBank(cfg *config.Config, log *slog.Logger) (*banksim.Server, error) {
	if cfg.Bank.Kind != config.BankSim {
		return nil, nil
	}
	if err := ensureKeyFile(cfg.Bank.SecretFile); err != nil {
		return nil, fmt.Errorf("bank.secret_file: %w", err)
	}
	secret, err := bank.ReadSecretFile(cfg.Bank.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("bank.secret_file: %w", err)
	}
	b, err := banksim.New(banksim.Config{
		Secret: secret, Code: cfg.Bank.Code, Currency: cfg.Currency,
		Accounts: banksim.DemoAccounts(cfg.Bank.Code), Logger: log.With("component", "banksim"),
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox bank: %w", err)
	}
	srv, err := banksim.Listen("127.0.0.1:0", b)
	if err != nil {
		return nil, err
	}
	cfg.Bank.Kind = config.BankHTTP
	cfg.Bank.URL = config.SecretURL(srv.URL())
	return srv, nil
}

func closeBank(s *banksim.Server) error {
	if s == nil {
		return nil
	}
	return s.Close()
}

// checkFree reports an HTTP address that cannot be listened on, before
// the sandbox starts anything else.
func checkFree(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	return ln.Close()
}

// phoneRE is what a virtual phone's number may be written as: digits,
// after a "+" or not (the number parser alone would take "x" for an
// extension).
var phoneRE = regexp.MustCompile(`^\+?[0-9]{3,17}$`)

func (s *Sandbox) routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /sandbox/phones/{number}/sms", s.postSMS)
	mux.HandleFunc("GET /sandbox/phones/{number}/messages", s.getMessages)
	mux.HandleFunc("POST /sandbox/phones/{number}/ussd", s.postUSSD)
	mux.HandleFunc("GET /sandbox/phones/{number}/ussd", s.getUSSD)
	mux.Handle("/sandbox/smsc/", http.StripPrefix("/sandbox/smsc", s.sim.ControlHandler()))
	mux.HandleFunc("/sandbox/", func(w http.ResponseWriter, r *http.Request) {
		sandboxError(w, http.StatusNotFound, "not_found", "no such resource: %s %s", r.Method, r.URL.Path)
	})
}

func sandboxError(w http.ResponseWriter, status int, code, format string, args ...any) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	writeJSON(w, status, map[string]body{"error": {Code: code, Message: fmt.Sprintf(format, args...)}})
}

// phone reads the {number} of the path; it answers 400 and returns false
// if it is not a phone number.
func (s *Sandbox) phone(w http.ResponseWriter, r *http.Request) (flows.MSISDN, bool) {
	raw := r.PathValue("number")
	p, err := flows.ParseMSISDN(raw, s.cfg.Country)
	if err != nil || !phoneRE.MatchString(raw) {
		sandboxError(w, http.StatusBadRequest, "invalid_number",
			"%q is not a phone number (local numbers are read with country code %s)", raw, s.cfg.Country)
		return "", false
	}
	return p, true
}

// decode reads one JSON object into v, refusing unknown fields; it
// answers 400 and returns false if it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSandboxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("unexpected data after the JSON object")
		}
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty request body: want a JSON object")
		}
		sandboxError(w, http.StatusBadRequest, "invalid_json", "%s", strings.TrimPrefix(err.Error(), "json: "))
		return false
	}
	return true
}

// pollParams reads ?after=N&wait=D: an index of 0 or more (default 0)
// and a duration of 0 or more (default 0), capped at MaxSandboxWait.
func pollParams(w http.ResponseWriter, r *http.Request) (after int, wait time.Duration, ok bool) {
	q := r.URL.Query()
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			sandboxError(w, http.StatusBadRequest, "invalid_value", "after=%q is not an index of 0 or more", v)
			return 0, 0, false
		}
		after = n
	}
	if v := q.Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			sandboxError(w, http.StatusBadRequest, "invalid_value", "wait=%q is not a duration such as 5s", v)
			return 0, 0, false
		}
		wait = min(d, MaxSandboxWait)
	}
	return after, wait, true
}

// poll calls count until it returns more than after, or wait is over,
// the request ends or the sandbox closes; the phone's MTs wake it.
func (s *Sandbox) poll(r *http.Request, phone flows.MSISDN, after int, wait time.Duration, count func() (n, mts int)) {
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	for {
		n, mts := count()
		if n > after {
			return
		}
		if _, err := s.sim.WaitReceived(ctx, string(phone), mts+1); err != nil {
			return
		}
	}
}

// postSMS: the phone texts the short code.
func (s *Sandbox) postSMS(w http.ResponseWriter, r *http.Request) {
	phone, ok := s.phone(w, r)
	if !ok {
		return
	}
	var req struct {
		Text string `json:"text"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch n := utf8.RuneCountInString(req.Text); {
	case strings.TrimSpace(req.Text) == "":
		sandboxError(w, http.StatusBadRequest, "missing_field", "text is required")
		return
	case n > maxSandboxText:
		sandboxError(w, http.StatusBadRequest, "text_too_long", "text has %d characters, more than %d", n, maxSandboxText)
		return
	}
	ids, err := s.sim.InjectText(string(phone), s.cfg.ShortCode, req.Text, false)
	if err != nil {
		sandboxError(w, http.StatusBadRequest, "invalid_text", "%v", err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		IDs   []uint64 `json:"ids"`
		Phone string   `json:"phone"`
		To    string   `json:"to"`
	}{ids, string(phone), s.cfg.ShortCode})
}

// PhoneText is a text a virtual phone received.
type PhoneText struct {
	Index int    `json:"index"` // its place among the phone's texts, from 0
	From  string `json:"from"`
	Text  string `json:"text"`
}

// Texts returns the texts phone has received (not its USSD screens), in
// order of their completion, the parts of a long text joined; and the
// number of MTs they came in.
func (s *Sandbox) Texts(phone flows.MSISDN) (texts []PhoneText, mts int) {
	all := s.sim.Received(string(phone))
	re := smpp.NewReassembler(smpp.ReassemblerConfig{})
	add := func(from, text string) {
		texts = append(texts, PhoneText{Index: len(texts), From: from, Text: text})
	}
	for _, mt := range all {
		if isUSSD(mt.PDU) {
			continue
		}
		d := smpp.NewDelivery("", mt.PDU)
		if d.Parts == 1 {
			add(mt.PDU.Source.Addr, d.Text())
			continue
		}
		parts, done, err := re.Add(mt.PDU.Source.Addr, string(phone), d.Concat, d.Payload)
		if err == nil && done {
			add(mt.PDU.Source.Addr, smpp.DecodeText(d.Coding, bytes.Join(parts, nil)))
		}
	}
	return texts, len(all)
}

func isUSSD(p *smpp.PDU) bool {
	_, op := p.TLVs.Uint(smpp.TagUSSDServiceOp)
	return op || strings.EqualFold(p.ServiceType, "USSD")
}

// getMessages: what the phone received after index after, waiting for
// at least one.
func (s *Sandbox) getMessages(w http.ResponseWriter, r *http.Request) {
	phone, ok := s.phone(w, r)
	if !ok {
		return
	}
	after, wait, ok := pollParams(w, r)
	if !ok {
		return
	}
	s.poll(r, phone, after, wait, func() (int, int) {
		t, mts := s.Texts(phone)
		return len(t), mts
	})
	texts, _ := s.Texts(phone)
	resp := struct {
		Phone    string      `json:"phone"`
		Messages []PhoneText `json:"messages"`
		Next     int         `json:"next"`
	}{Phone: string(phone), Messages: []PhoneText{}, Next: len(texts)}
	if after < len(texts) {
		resp.Messages = texts[after:]
	}
	writeJSON(w, http.StatusOK, resp)
}

// PhoneScreen is a USSD screen a virtual phone received.
type PhoneScreen struct {
	Text    string `json:"text"`
	Op      int    `json:"op"`  // ussd_service_op: 2 continue, 17 end (SPEC.md §4)
	End     bool   `json:"end"` // the session is over: no answer is awaited
	Session string `json:"session"`
}

// Screens returns the USSD screens phone has received in session (every
// session if it is nil), in order; and the number of MTs the phone
// received in all.
func (s *Sandbox) Screens(phone flows.MSISDN, session []byte) (screens []PhoneScreen, mts int) {
	all := s.sim.Received(string(phone))
	for _, mt := range all {
		if !isUSSD(mt.PDU) {
			continue
		}
		id, _ := mt.PDU.TLVs.Get(s.tag)
		if session != nil && !bytes.Equal(id, session) {
			continue
		}
		op, _ := mt.PDU.TLVs.Uint(smpp.TagUSSDServiceOp)
		screens = append(screens, PhoneScreen{
			Text:    smpp.NewDelivery("", mt.PDU).Text(),
			Op:      int(op),
			End:     byte(op) != smpp.USSDUSSRRequest,
			Session: hex.EncodeToString(id),
		})
	}
	return screens, len(all)
}

// postUSSD: the phone dials the service code (no session: a new one
// starts, op 1) or answers a screen of its session (op 18).
func (s *Sandbox) postUSSD(w http.ResponseWriter, r *http.Request) {
	phone, ok := s.phone(w, r)
	if !ok {
		return
	}
	var req struct {
		Text    string `json:"text"`
		Session string `json:"session"`
	}
	if !decode(w, r, &req) {
		return
	}
	var session []byte
	op := smpp.USSDUSSRConfirm
	if req.Session == "" {
		// its_session_info is two octets (SMPP 3.4 §5.3.2.43).
		session = make([]byte, 2)
		rand.Read(session)
		op = smpp.USSDPSSRIndication
		if req.Text == "" {
			req.Text = s.cfg.USSDCode
		}
	} else {
		var err error
		session, err = hex.DecodeString(req.Session)
		if err != nil || len(session) == 0 || len(session) > 255 {
			sandboxError(w, http.StatusBadRequest, "invalid_session", "session %q is not 1 to 255 octets in hexadecimal", req.Session)
			return
		}
		if req.Text == s.cfg.USSDCode {
			op = smpp.USSDPSSRIndication
		}
	}
	if req.Text == "" {
		sandboxError(w, http.StatusBadRequest, "missing_field", "text is required")
		return
	}
	n, gsm := smpp.GSM7Len(req.Text)
	if !gsm {
		n = len(smpp.EncodeUCS2(req.Text))
	}
	if n > smpp.MaxShortMessage {
		sandboxError(w, http.StatusBadRequest, "text_too_long", "text is longer than one short message (%d octets)", smpp.MaxShortMessage)
		return
	}
	screens, _ := s.Screens(phone, session)
	id := s.sim.InjectUSSD(string(phone), s.cfg.USSDCode, op, s.tag, session, req.Text)
	writeJSON(w, http.StatusCreated, struct {
		IDs     []uint64 `json:"ids"`
		Phone   string   `json:"phone"`
		Session string   `json:"session"`
		Op      int      `json:"op"`
		Text    string   `json:"text"`
		After   int      `json:"after"` // screens of the session so far: poll with ?after= this
	}{[]uint64{id}, string(phone), hex.EncodeToString(session), int(op), req.Text, len(screens)})
}

// getUSSD: the latest screen of the session (of any session without
// ?session=), once the session has more than after.
func (s *Sandbox) getUSSD(w http.ResponseWriter, r *http.Request) {
	phone, ok := s.phone(w, r)
	if !ok {
		return
	}
	after, wait, ok := pollParams(w, r)
	if !ok {
		return
	}
	var session []byte
	if v := r.URL.Query().Get("session"); v != "" {
		var err error
		if session, err = hex.DecodeString(v); err != nil || len(session) > 255 {
			sandboxError(w, http.StatusBadRequest, "invalid_session", "session %q is not 1 to 255 octets in hexadecimal", v)
			return
		}
	}
	s.poll(r, phone, after, wait, func() (int, int) {
		sc, mts := s.Screens(phone, session)
		return len(sc), mts
	})
	screens, _ := s.Screens(phone, session)
	resp := struct {
		Phone  string       `json:"phone"`
		Screen *PhoneScreen `json:"screen"` // null when there is none past after
		Next   int          `json:"next"`
	}{Phone: string(phone), Next: len(screens)}
	if len(screens) > after {
		resp.Screen = &screens[len(screens)-1]
	}
	writeJSON(w, http.StatusOK, resp)
}
