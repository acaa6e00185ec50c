package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/envelope"
)

// The secure phone commands (SPEC §9): `paygate phone enrol`, `secure`
// and `hello` are a phone with a security module, the reference
// envelope.Module, speaking the envelope through a sandbox gateway's
// phone API in the text carriage. The module's personalisation (device
// id, key version, master key, platform key) and its two counters live
// in a state file per phone, DIR/<E.164 digits>.json, readable by its
// owner only. The uplink counter is saved before an envelope leaves, so
// that a counter is never used twice, even after a crash.

// phoneStateEnv names the default directory of the state files.
const phoneStateEnv = envPrefix + "PHONE_STATE"

// phoneStateDefault is the state directory when neither --state nor
// $PAYGATE_PHONE_STATE names one.
const phoneStateDefault = "phones"

// phoneStateFormat is the version of the state file's format.
const phoneStateFormat = 1

// The reference module's measured components (SPEC §9, integrity): what
// the gateway's allow-list must hold for `paygate phone` to be trusted.
const (
	phoneModuleApp    = "paygate phone reference module v1"
	phoneModuleConfig = "carriage=text"
	phoneTamperedApp  = phoneModuleApp + " (tampered)"
)

// phoneComponents are what the module measures: the reference app and
// config, or with tamper a modified app (to show a failed report).
func phoneComponents(tamper bool) []envelope.Component {
	app := phoneModuleApp
	if tamper {
		app = phoneTamperedApp
	}
	return []envelope.Component{
		{Name: "app", Data: []byte(app)},
		{Name: "config", Data: []byte(phoneModuleConfig)},
	}
}

// phoneMeasurement is the measurement of the reference module of
// `paygate phone` (untampered): the sandbox's allow-list holds it.
func phoneMeasurement() envelope.Measurement {
	m, err := envelope.Measure(phoneComponents(false)...)
	if err != nil {
		panic("phoneMeasurement: " + err.Error()) // constant components
	}
	return m
}

// secureWhere is said by every secure phone command's help.
const secureWhere = "The module's state (its keys and counters) is the file <E.164 digits>.json\n" +
	"in --state (default $" + phoneStateEnv + ", else ./" + phoneStateDefault + "), readable by its\n" +
	"owner only: it holds the device's master key. The uplink counter is saved\n" +
	"before each envelope is sent, so a counter is never used twice. Replies\n" +
	"print as `< 3030 [verified]: text` (an envelope the module opened),\n" +
	"`< 3030 [clear]: text` (plain text), or `< 3030 [REFUSED: why]: …` (an\n" +
	"envelope that does not open: replayed, forged, for another key). An\n" +
	"integrity nonce from the gateway is answered with a report at once.\n" +
	"Flags go before NUMBER."

// secureFlags are the flags of every secure phone command.
type secureFlags struct {
	phoneFlags
	state string
}

func (f *secureFlags) register(fs *flag.FlagSet, waitHelp string) {
	fs.StringVar(&f.state, "state", "", "the `DIR` of the phones' module state files (also $"+phoneStateEnv+")")
	fs.Lookup("state").DefValue = phoneStateDefault
	f.phoneFlags.register(fs, waitHelp)
}

// dir is the state directory the flags name.
func (f *secureFlags) dir(env *cmdEnv) string {
	if f.state != "" {
		return f.state
	}
	if d := env.getenv(phoneStateEnv); d != "" {
		return d
	}
	return phoneStateDefault
}

func phoneEnrolCommand() *command {
	return &command{
		name:    "enrol",
		args:    "NUMBER",
		summary: "get a security module for a phone and enrol it (SPEC §9)",
		help: "Asks the gateway's admin API for a new device and personalises a\n" +
			"security module for phone NUMBER with it (saved in --state; the master\n" +
			"key is shown by the API only once and is never printed). The device is\n" +
			"issued unbound: the module sends ENROL sealed and the replies print;\n" +
			"finish with `paygate phone secure NUMBER OK <PIN>`, then the code the\n" +
			"gateway texts. With --direct the device is enrolled to NUMBER at once.\n" +
			"Then start a session with `paygate phone hello NUMBER`. A phone that has\n" +
			"a state file already is refused: remove the file to enrol it again.\n\n" +
			"The admin API is called at --gateway as an operator. " + operatorTokenHelp + "\n\n" + secureWhere,
		setup: func(fs *flag.FlagSet) action {
			var f secureFlags
			var af adminFlags
			var direct bool
			fs.BoolVar(&direct, "direct", false, "enrol the device to NUMBER at once (no ENROL, PIN and code)")
			f.register(fs, "`DURATION` to wait for the first reply")
			af.registerOperator(fs, "the gateway's config `file`: its admin.token_file")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				number, err := oneNumber(args)
				if err != nil {
					return err
				}
				c, err := f.client(env)
				if err != nil {
					return err
				}
				defer c.hc.CloseIdleConnections()
				ac, err := af.client(env)
				if err != nil {
					return err
				}
				defer ac.close()
				ac.base = c.base // the sandbox serves the admin API too
				return phoneEnrol(ctx, env, c, ac, f.dir(env), number, direct, f.wait)
			}
		},
	}
}

func phoneSecureCommand() *command {
	return &command{
		name:    "secure",
		args:    "NUMBER TEXT...",
		summary: "text the gateway through the phone's security module",
		help: "Seals TEXT (the words joined by spaces) in an envelope with the security\n" +
			"module of phone NUMBER (see `paygate phone enrol`), texts it to the\n" +
			"short code of a sandbox gateway in the text carriage (\"#\" and base64),\n" +
			"then prints each reply as `phone sms` does, opened by the module. It\n" +
			"exits 0 once the replies have stopped for a moment; with no reply\n" +
			"within --wait it exits 1.\n\n" + secureWhere,
		setup: func(fs *flag.FlagSet) action {
			var f secureFlags
			f.register(fs, "`DURATION` to wait for the first reply")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) < 2 {
					return usageErrorf("want a phone NUMBER and the TEXT to send")
				}
				c, err := f.client(env)
				if err != nil {
					return err
				}
				defer c.hc.CloseIdleConnections()
				return phoneSecure(ctx, env, c, f.dir(env), args[0], strings.Join(args[1:], " "), f.wait)
			}
		},
	}
}

func phoneHelloCommand() *command {
	return &command{
		name:    "hello",
		args:    "NUMBER",
		summary: "start a secure session: check the platform, report the module's integrity",
		help: "Starts a session of the security module of phone NUMBER (see `paygate\n" +
			"phone enrol`): sends a hello with a fresh challenge, waits for the\n" +
			"gateway's platform proof and verifies it with the platform key the\n" +
			"module was personalised with (exit 1, and no report, if it does not\n" +
			"verify), then answers the proof's integrity nonce with a report of the\n" +
			"module's measurement and prints the replies: payments on, or off and\n" +
			"why. With --tamper the module measures a modified app, as a phone\n" +
			"whose app was tampered with would, and the report fails.\n\n" + secureWhere,
		setup: func(fs *flag.FlagSet) action {
			var f secureFlags
			var tamper bool
			fs.BoolVar(&tamper, "tamper", false, "measure a modified app (the gateway's integrity check fails)")
			f.register(fs, "`DURATION` to wait for the proof, then for the first reply to the report")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				number, err := oneNumber(args)
				if err != nil {
					return err
				}
				c, err := f.client(env)
				if err != nil {
					return err
				}
				defer c.hc.CloseIdleConnections()
				return phoneHello(ctx, env, c, f.dir(env), number, tamper, f.wait)
			}
		},
	}
}

// oneNumber returns the only argument, a phone NUMBER.
func oneNumber(args []string) (string, error) {
	switch {
	case len(args) == 0:
		return "", usageErrorf("want a phone NUMBER")
	case len(args) > 1:
		return "", usageErrorf("unexpected argument %q", args[1])
	}
	return args[0], nil
}

// e164RE is a phone number as the sandbox writes it, safe as a file name.
var e164RE = regexp.MustCompile(`^\+[0-9]{3,17}$`)

// securePhone is one secure phone command at work: the phone's place in
// its inbox, its module and where the module's state is saved.
type securePhone struct {
	env    *cmdEnv
	c      *phoneClient
	number string // as typed: the sandbox reads it
	phone  string // E.164, as the sandbox normalised it
	next   int    // the inbox index past which replies are new
	st     *phoneState
	mod    *envelope.Module
	tamper bool // the module measures a modified app
}

// openPhone asks the sandbox where phone number's inbox stands (so only
// new replies print) and how it writes the number.
func openPhone(ctx context.Context, env *cmdEnv, c *phoneClient, number string) (*securePhone, error) {
	var inbox struct {
		Phone string `json:"phone"`
		Next  int    `json:"next"`
	}
	if err := c.do(ctx, "GET", c.phonePath(number, "messages"), nil, http.StatusOK, &inbox); err != nil {
		return nil, err
	}
	if !e164RE.MatchString(inbox.Phone) {
		return nil, fmt.Errorf("the gateway at %s answered with a phone number %q that is not in E.164 form", c.base, inbox.Phone)
	}
	return &securePhone{env: env, c: c, number: number, phone: inbox.Phone, next: inbox.Next}, nil
}

// load locks and loads the phone's module from dir. The caller must
// call s.st.unlock.
func (s *securePhone) load(dir string) error {
	st, err := lockPhoneState(dir, s.phone)
	if err != nil {
		return err
	}
	mod, err := st.load(s.number)
	if err != nil {
		st.unlock()
		return err
	}
	s.st, s.mod = st, mod
	return nil
}

func phoneEnrol(ctx context.Context, env *cmdEnv, c *phoneClient, ac *adminClient, dir, number string, direct bool, wait time.Duration) error {
	s, err := openPhone(ctx, env, c, number)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("making the module state directory: %w", err)
	}
	st, err := lockPhoneState(dir, s.phone)
	if err != nil {
		return err
	}
	defer st.unlock()
	if _, err := os.Lstat(st.path); err == nil {
		return fmt.Errorf("%s has a security module already (%s): to enrol it again, have an operator revoke its device and remove the file", s.phone, st.path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the module state of %s: %w", s.phone, err)
	}

	body := map[string]string{}
	if direct {
		body["phone"] = s.phone
	}
	var dev deviceAnswer
	_, err = ac.call(ctx, http.MethodPost, "/v1/admin/devices", body, &dev)
	var ref *apiRefusal
	if errors.As(err, &ref) && ref.status == http.StatusNotFound && ref.Code == "not_found" {
		return fmt.Errorf("the gateway at %s has no device API (POST /v1/admin/devices answered 404): it does not enrol security modules", ac.base)
	}
	if err != nil {
		return err
	}
	cfg, err := dev.config()
	if err != nil {
		return fmt.Errorf("the gateway at %s answered with a device this module cannot use: %v", ac.base, err)
	}
	mod, err := envelope.NewModule(cfg)
	if err != nil {
		return fmt.Errorf("the gateway at %s answered with a device this module cannot use: %v", ac.base, err)
	}
	// Saved first: the API shows the master key only this once.
	st.phone, st.cfg = s.phone, cfg
	s.st, s.mod = st, mod
	if err := s.save(); err != nil {
		return err
	}
	switch {
	case direct && (dev.State != "active" || dev.Phone != s.phone):
		return fmt.Errorf("the gateway at %s made device %s %s for %q, not active for %s (the module is saved in %s)",
			ac.base, cfg.DeviceID, orDash(dev.State), dev.Phone, s.phone, st.path)
	case direct:
		fmt.Fprintf(env.stdout, "device %s (key version %d) enrolled to %s; module saved in %s\n", cfg.DeviceID, cfg.KeyVersion, s.phone, st.path)
		fmt.Fprintf(env.stdout, "start a session with `paygate phone hello %s`\n", number)
		return nil
	}
	fmt.Fprintf(env.stdout, "device %s (key version %d) issued; module saved in %s\n", cfg.DeviceID, cfg.KeyVersion, st.path)
	b, err := mod.SealCommand("ENROL")
	if err != nil {
		return err
	}
	if err := s.send(ctx, b, "ENROL"); err != nil {
		return err
	}
	if _, err := s.await(ctx, wait, nil); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "confirm with `paygate phone secure %s OK <PIN>`, then the code the gateway texts\n", number)
	return nil
}

func phoneSecure(ctx context.Context, env *cmdEnv, c *phoneClient, dir, number, text string, wait time.Duration) error {
	s, err := openPhone(ctx, env, c, number)
	if err != nil {
		return err
	}
	if err := s.load(dir); err != nil {
		return err
	}
	defer s.st.unlock()
	b, err := s.mod.SealCommand(text)
	switch {
	case errors.Is(err, envelope.ErrTooLarge):
		return usageErrorf("TEXT is too long for an envelope (%d octets; at most %d)", len(text), envelope.MaxPlaintext-1)
	case errors.Is(err, envelope.ErrMalformed):
		return usageErrorf("TEXT must be UTF-8 and not empty")
	case errors.Is(err, envelope.ErrCounter):
		return fmt.Errorf("the module of %s has used its last uplink counter: its device key must be rotated", s.phone)
	case err != nil:
		return err
	}
	if err := s.send(ctx, b, text); err != nil {
		return err
	}
	_, err = s.await(ctx, wait, nil)
	return err
}

func phoneHello(ctx context.Context, env *cmdEnv, c *phoneClient, dir, number string, tamper bool, wait time.Duration) error {
	s, err := openPhone(ctx, env, c, number)
	if err != nil {
		return err
	}
	if err := s.load(dir); err != nil {
		return err
	}
	defer s.st.unlock()
	s.tamper = tamper
	b, err := s.mod.Hello()
	if errors.Is(err, envelope.ErrCounter) {
		return fmt.Errorf("the module of %s has used its last uplink counter: its device key must be rotated", s.phone)
	}
	if err != nil {
		return err
	}
	if err := s.send(ctx, b, "(hello: a platform challenge)"); err != nil {
		return err
	}
	var proof *envelope.Message
	var platformErr error
	_, err = s.await(ctx, wait, func(r reply) bool {
		switch {
		case errors.Is(r.err, envelope.ErrPlatform):
			platformErr = r.err
			return true
		case r.err == nil && r.msg.Kind == envelope.KindProof:
			proof = &r.msg
			return true
		}
		return false
	})
	switch {
	case platformErr != nil:
		return fmt.Errorf("the gateway at %s did not prove itself: its platform proof does not verify with the platform key %x… this module was personalised with; no integrity report sent",
			c.base, []byte(s.st.cfg.Platform[:4]))
	case errors.As(err, new(noReply)):
		return fmt.Errorf("no platform proof from the gateway within %v: is the device of %s active? (`paygate phone enrol`)", wait, s.phone)
	case err != nil:
		return err
	case proof == nil:
		return fmt.Errorf("the gateway sent no platform proof (see its replies above): no session")
	case len(proof.Nonce) == 0:
		fmt.Fprintln(env.stdout, "the gateway asked for no integrity report")
		return nil
	}
	if err := s.report(ctx, proof.Nonce); err != nil {
		return err
	}
	_, err = s.await(ctx, wait, nil)
	return err
}

// save writes the module's state with its current counters.
func (s *securePhone) save() error {
	s.st.cfg.Uplink, s.st.cfg.Downlink = s.mod.Counters()
	return s.st.save()
}

// send saves the counters, then texts envelope b to the short code in
// the text carriage and prints `> 3030 [sealed]: what`.
func (s *securePhone) send(ctx context.Context, b []byte, what string) error {
	if err := s.save(); err != nil {
		return fmt.Errorf("%w; nothing was sent", err)
	}
	var sent struct {
		To string `json:"to"`
	}
	if err := s.c.do(ctx, "POST", s.c.phonePath(s.number, "sms"), map[string]string{"text": envelope.EncodeText(b)}, http.StatusCreated, &sent); err != nil {
		return err
	}
	fmt.Fprintf(s.env.stdout, "> %s [sealed]: %s\n", sent.To, what)
	return nil
}

// report sends the integrity report answering nonce.
func (s *securePhone) report(ctx context.Context, nonce []byte) error {
	parts := phoneComponents(s.tamper)
	meas, err := envelope.Measure(parts...)
	if err != nil {
		return err
	}
	b, err := s.mod.Report(nonce, parts...)
	switch {
	case errors.Is(err, envelope.ErrCounter):
		return fmt.Errorf("the module of %s has used its last uplink counter: its device key must be rotated", s.phone)
	case errors.Is(err, envelope.ErrMalformed):
		return fmt.Errorf("the gateway's integrity nonce is malformed (%d octets): no report sent", len(nonce))
	case err != nil:
		return err
	}
	what := "(integrity report: measurement " + meas.String()
	if s.tamper {
		what += ", of a tampered app"
	}
	return s.send(ctx, b, what+")")
}

// reply is one text the phone received, opened by the module if it is
// an envelope.
type reply struct {
	from, text string
	sealed     bool             // it is an envelope
	msg        envelope.Message // what the module opened (err == nil)
	err        error            // why the module refused it
}

// open classifies text and, for an envelope, opens it with the module
// and saves the counter it accepted. Only a failure to save is an error.
func (s *securePhone) open(from, text string) (reply, error) {
	r := reply{from: from, text: text}
	if !envelope.IsText(text) {
		return r, nil
	}
	r.sealed = true
	b, err := envelope.DecodeText(text)
	if err != nil {
		r.err = err
		return r, nil
	}
	_, before := s.mod.Counters()
	r.msg, r.err = s.mod.Open(b)
	if _, after := s.mod.Counters(); after != before {
		if err := s.save(); err != nil {
			return r, err
		}
	}
	return r, nil
}

// print writes r as `< 3030 [verified]: text`, `< 3030 [clear]: text`
// or `< 3030 [REFUSED: why]: #AbC…`.
func (s *securePhone) print(r reply) {
	w := s.env.stdout
	switch {
	case !r.sealed:
		printReply(w, r.from+" [clear]", r.text)
	case r.err != nil:
		printReply(w, r.from+" [REFUSED: "+refusal(r.err)+"]", abbreviate(strings.TrimSpace(r.text), 24))
	case r.msg.Kind == envelope.KindText:
		printReply(w, r.from+" [verified]", r.msg.Text)
	case r.msg.Kind == envelope.KindProof && len(r.msg.Nonce) > 0:
		printReply(w, r.from+" [verified]", "(platform proof: the gateway proved itself, and asks for an integrity report)")
	case r.msg.Kind == envelope.KindProof:
		printReply(w, r.from+" [verified]", "(platform proof: the gateway proved itself)")
	case r.msg.Kind == envelope.KindNonce:
		printReply(w, r.from+" [verified]", "(integrity nonce: the gateway asks for an integrity report)")
	default:
		printReply(w, r.from+" [verified]", "("+r.msg.Kind.String()+")")
	}
}

// refusal says why the module refused an envelope.
func refusal(err error) string {
	switch {
	case errors.Is(err, envelope.ErrReplay):
		return "replayed: its counter is not above the last accepted"
	case errors.Is(err, envelope.ErrAuth):
		return "forged or altered: it does not authenticate"
	case errors.Is(err, envelope.ErrKeyMismatch):
		return "for another device or key version"
	case errors.Is(err, envelope.ErrPlatform):
		return "platform proof does not verify"
	case errors.Is(err, envelope.ErrMessage):
		return "not a message for the phone"
	case errors.Is(err, envelope.ErrVersion):
		return "unknown envelope version"
	case errors.Is(err, envelope.ErrMalformed):
		return "malformed envelope"
	}
	return err.Error()
}

// abbreviate cuts s to n runes and an ellipsis.
func abbreviate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// await prints the replies that come to the phone past s.next by the
// rule of `phone sms`: it waits up to wait for the first, then for more
// until they stop for replyQuiet; with none within wait it fails. An
// integrity nonce is answered with a report at once, and the wait
// starts again for the answer to it. If until is not nil it is called
// with each reply, after it is printed; once it returns true await
// returns (after printing the rest of that batch, answering no nonce)
// with the number of replies.
func (s *securePhone) await(ctx context.Context, wait time.Duration, until func(reply) bool) (int, error) {
	msgs := s.c.phonePath(s.number, "messages")
	replies, total := 0, 0
	deadline := time.Now().Add(wait)
	for {
		slice := replyQuiet
		if replies == 0 {
			slice = min(time.Until(deadline), maxPollSlice)
			if slice <= 0 {
				return total, noReply{s.number, wait}
			}
		}
		var got phoneMessages
		q := url.Values{"after": {strconv.Itoa(s.next)}, "wait": {slice.String()}}
		if err := s.c.do(ctx, "GET", msgs+"?"+q.Encode(), nil, http.StatusOK, &got); err != nil {
			return total, err
		}
		s.next = got.Next
		done := false
		var nonces [][]byte
		for _, m := range got.Messages {
			r, err := s.open(m.From, m.Text)
			if err != nil {
				return total, err
			}
			s.print(r)
			total++
			if r.err == nil && r.msg.Kind == envelope.KindNonce {
				nonces = append(nonces, r.msg.Nonce)
			}
			if until != nil && until(r) {
				done = true
			}
		}
		replies += len(got.Messages)
		if done { // the caller decides what to answer
			return total, nil
		}
		for _, n := range nonces {
			if err := s.report(ctx, n); err != nil {
				return total, err
			}
			replies, deadline = 0, time.Now().Add(wait) // wait for its answer
		}
		if len(got.Messages) == 0 && replies > 0 {
			return total, nil
		}
	}
}

// noReply is await's error when no reply came within the wait.
type noReply struct {
	number string
	wait   time.Duration
}

func (e noReply) Error() string {
	return fmt.Sprintf("no reply to %s within %v: the gateway may not be running properly (is it bound to its SMSC? see the log of `paygate serve`)", e.number, e.wait)
}

// deviceAnswer is a device as POST /v1/admin/devices answers it.
type deviceAnswer struct {
	DeviceID    string       `json:"device_id"`
	KeyVersion  int          `json:"key_version"`
	MasterKey   secretString `json:"master_key"`
	PlatformKey string       `json:"platform_key"`
	Phone       string       `json:"phone"`
	State       string       `json:"state"`
}

// config is the module personalisation the answer carries.
func (d *deviceAnswer) config() (envelope.ModuleConfig, error) {
	return moduleConfig(d.DeviceID, d.KeyVersion, d.MasterKey, d.PlatformKey)
}

// moduleConfig checks and parses the personalisation of a module. Its
// errors name the field at fault, never the master key.
func moduleConfig(id string, version int, master secretString, platform string) (envelope.ModuleConfig, error) {
	var c envelope.ModuleConfig
	var err error
	if c.DeviceID, err = envelope.ParseDeviceID(id); err != nil {
		return c, errors.New("device_id is not 16 hex digits")
	}
	if version < 1 || version > 255 {
		return c, fmt.Errorf("key_version %d is not 1 to 255", version)
	}
	c.KeyVersion = uint8(version)
	if c.MasterKey, err = envelope.ParseMasterKey(string(master)); err != nil {
		return c, errors.New("master_key is not 64 hex digits")
	}
	p, err := hex.DecodeString(platform)
	if err != nil || len(p) != ed25519.PublicKeySize {
		return c, fmt.Errorf("platform_key is not %d hex digits", 2*ed25519.PublicKeySize)
	}
	c.Platform = p
	return c, nil
}

// secretString holds a secret read from or written to JSON; it prints
// as "****" in every fmt verb.
type secretString string

func (secretString) String() string             { return "****" }
func (secretString) GoString() string           { return "****" }
func (secretString) Format(f fmt.State, _ rune) { fmt.Fprint(f, "****") }

// phoneStateFile is the state file's JSON.
type phoneStateFile struct {
	Format      int          `json:"format"`
	Phone       string       `json:"phone"`
	DeviceID    string       `json:"device_id"`
	KeyVersion  int          `json:"key_version"`
	MasterKey   secretString `json:"master_key"`
	PlatformKey string       `json:"platform_key"`
	// Uplink is the last uplink counter used (saved before its envelope
	// is sent), Downlink the last downlink counter accepted.
	Uplink   uint64 `json:"uplink"`
	Downlink uint64 `json:"downlink"`
}

// phoneState is the state file of one phone's module, locked while a
// command uses it.
type phoneState struct {
	dir, path, lock string
	phone           string // E.164
	cfg             envelope.ModuleConfig
}

// Format prints the state without its keys, in every verb.
func (st phoneState) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "{phone %s, device %s, key version %d, state file %s}", st.phone, st.cfg.DeviceID, st.cfg.KeyVersion, st.path)
}

// phoneStatePath is the state file of phone (E.164) in dir.
func phoneStatePath(dir, phone string) string {
	return filepath.Join(dir, strings.TrimPrefix(phone, "+")+".json")
}

// lockPhoneState takes the lock of phone's state file in dir, so that
// two commands never seal with the same counter. A lock left behind by
// a command that was killed must be removed by hand; the error says so.
func lockPhoneState(dir, phone string) (*phoneState, error) {
	path := phoneStatePath(dir, phone)
	st := &phoneState{dir: dir, path: path, lock: strings.TrimSuffix(path, ".json") + ".lock", phone: phone}
	f, err := os.OpenFile(st.lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	switch {
	case errors.Is(err, fs.ErrExist):
		who := ""
		if b, err := os.ReadFile(st.lock); err == nil && len(b) > 0 && len(b) < 64 {
			who = " (" + strings.TrimSpace(string(b)) + ")"
		}
		return nil, fmt.Errorf("the security module of %s is in use by another paygate phone command: %s exists%s; if no such command runs any more, remove it", phone, st.lock, who)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no security module for %s: %s does not exist (enrol the phone with `paygate phone enrol`, or name the directory with --state)", phone, dir)
	case err != nil:
		return nil, fmt.Errorf("locking the module state of %s: %w", phone, err)
	}
	fmt.Fprintf(f, "pid %d\n", os.Getpid())
	f.Close()
	return st, nil
}

// unlock lets other commands use the state file.
func (st *phoneState) unlock() { os.Remove(st.lock) }

// load reads the state file and returns the module it personalises.
// number is how the user wrote the phone, for the messages.
func (st *phoneState) load(number string) (*envelope.Module, error) {
	f, err := os.Open(st.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no security module for %s in %s: enrol the phone first (`paygate phone enrol %s`), or name the directory with --state", st.phone, st.dir, number)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the module state of %s: %w", st.phone, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading the module state of %s: %w", st.phone, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a file", st.path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("%s is readable by others (mode %04o) but holds the device's master key: make it private (chmod 600) and have an operator rotate the key", st.path, perm)
	}
	b, err := readAllLimited(f, 1<<16)
	if err != nil {
		return nil, fmt.Errorf("reading the module state of %s: %w", st.phone, err)
	}
	cfg, err := parsePhoneState(b, st.phone)
	if err != nil {
		return nil, fmt.Errorf("the module state %s is corrupt (%v): it cannot be used; to enrol the phone again, have an operator revoke its device, then remove the file", st.path, err)
	}
	mod, err := envelope.NewModule(cfg)
	if err != nil {
		return nil, fmt.Errorf("the module state %s is corrupt (%v): it cannot be used; to enrol the phone again, have an operator revoke its device, then remove the file", st.path, err)
	}
	st.cfg = cfg
	return mod, nil
}

// readAllLimited reads f whole, refusing more than max octets.
func readAllLimited(f *os.File, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s is larger than %d octets", f.Name(), max)
	}
	return b, nil
}

// parsePhoneState reads a state file's content, which must be phone's.
// Its errors never hold the master key.
func parsePhoneState(b []byte, phone string) (envelope.ModuleConfig, error) {
	var f phoneStateFile
	if err := json.Unmarshal(b, &f); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return envelope.ModuleConfig{}, fmt.Errorf("not JSON: at octet %d", syn.Offset)
		case errors.As(err, &typ):
			return envelope.ModuleConfig{}, fmt.Errorf("%s has the wrong type", typ.Field)
		}
		return envelope.ModuleConfig{}, errors.New("not a module state")
	}
	if f.Format != phoneStateFormat {
		return envelope.ModuleConfig{}, fmt.Errorf("format %d, want %d", f.Format, phoneStateFormat)
	}
	if f.Phone != phone {
		return envelope.ModuleConfig{}, fmt.Errorf("it is the module of %q, not of %s", f.Phone, phone)
	}
	cfg, err := moduleConfig(f.DeviceID, f.KeyVersion, f.MasterKey, f.PlatformKey)
	if err != nil {
		return cfg, err
	}
	cfg.Uplink, cfg.Downlink = f.Uplink, f.Downlink
	return cfg, nil
}

// save writes the state file whole, atomically and readable by its
// owner only: a crash leaves the old state or the new one.
func (st *phoneState) save() error {
	c := st.cfg
	b, err := json.MarshalIndent(phoneStateFile{
		Format:      phoneStateFormat,
		Phone:       st.phone,
		DeviceID:    c.DeviceID.String(),
		KeyVersion:  int(c.KeyVersion),
		MasterKey:   secretString(hex.EncodeToString(c.MasterKey)),
		PlatformKey: hex.EncodeToString(c.Platform),
		Uplink:      c.Uplink,
		Downlink:    c.Downlink,
	}, "", "  ")
	if err != nil {
		return fmt.Errorf("saving the module state of %s: %w", st.phone, err)
	}
	if err := writeFileAtomic(st.path, append(b, '\n')); err != nil {
		return fmt.Errorf("saving the module state of %s: %w", st.phone, err)
	}
	return nil
}

// writeFileAtomic replaces path with data (mode 0600): a temporary file
// in the same directory, synced, renamed over path, the directory synced.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone already once renamed
	if err := f.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not every system syncs directories
		d.Close()
	}
	return nil
}
