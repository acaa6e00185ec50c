package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Lengths of SMPP 3.4 §4.1.1's bind fields, their NUL excluded.
const (
	maxSystemID   = 15
	maxPassword   = 8
	maxSystemType = 12
)

var (
	currencyRE  = regexp.MustCompile(`^[A-Z]{3}$`)
	countryRE   = regexp.MustCompile(`^[0-9]{1,3}$`)
	shortCodeRE = regexp.MustCompile(`^[0-9]{1,20}$`)
	ussdCodeRE  = regexp.MustCompile(`^[*#][0-9]+([*#][0-9]+)*#$`)
	prefixRE    = regexp.MustCompile(`^\+?[0-9]{1,15}$`)
	bankCodeRE  = regexp.MustCompile(`^[A-Za-z0-9]{1,16}$`)
	envelopesRE = regexp.MustCompile(`^(optional|required|above:[0-9]{1,12}(\.[0-9]{1,2})?)$`)
	measureRE   = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// Validate reports every problem of c, each a *KeyError naming its key
// (`smsc[1].bind: "tx" is not transceiver or transmitter+receiver`),
// joined with errors.Join; nil if there is none. It requires at least
// one smsc and a bank, which have no default (SPEC.md §1): it is the
// check of a config for a deployment, as `paygate config check` makes.
// Use ValidateSandbox where the caller supplies what is missing.
//
// It checks values, not the world: the files named need not exist
// here, and no address is dialled. Messages never quote a secret; a
// URL is quoted with its password masked.
func (c Config) Validate() error { return c.validate(true) }

// ValidateSandbox is Validate without requiring smsc and bank: for
// `paygate serve` with no config file, where in-process simulators
// stand in for what is missing. Whatever is given is checked all the
// same.
func (c Config) ValidateSandbox() error { return c.validate(false) }

// problems collects KeyErrors.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (c Config) validate(requireUpstreams bool) error {
	var p problems
	c.validateDatabase(&p)
	if err := checkListen(c.HTTP.Listen, true); err != "" {
		p.add("http.listen", "%s", err)
	}
	if !currencyRE.MatchString(c.Currency) {
		p.add("currency", "%q is not 3 capital letters (an ISO 4217 code such as CNY)", c.Currency)
	}
	if !countryRE.MatchString(c.Country) {
		p.add("country", "%q is not 1 to 3 digits (a calling code such as 86)", c.Country)
	}
	switch _, err := loadLocation(c.Timezone); {
	case c.Timezone == "":
		p.add("timezone", "missing: an IANA time zone such as Asia/Shanghai")
	case err != nil:
		p.add("timezone", "%q is not a known IANA time zone such as Asia/Shanghai", c.Timezone)
	}
	if c.Language != LanguageEnglish && c.Language != LanguageChinese {
		p.add("language", "%q is not %s or %s", c.Language, LanguageEnglish, LanguageChinese)
	}
	if !shortCodeRE.MatchString(c.ShortCode) {
		p.add("short_code", "%q is not 1 to 20 digits", c.ShortCode)
	}
	if !ussdCodeRE.MatchString(c.USSDCode) {
		p.add("ussd_code", "%q is not a USSD code such as *384# or *384*1#", c.USSDCode)
	}
	if h := c.PINHash; h.Threads < 1 || h.Threads > 255 {
		p.add("pin_hash.threads", "%d is outside 1..255", h.Threads)
	} else if h.MemoryKiB < 8*h.Threads {
		p.add("pin_hash.memory_kib", "%d is less than 8 KiB per thread", h.MemoryKiB)
	}
	if c.PINHash.Time < 1 {
		p.add("pin_hash.time", "%d is less than 1 pass", c.PINHash.Time)
	}
	if c.PINHash.Workers < 0 {
		p.add("pin_hash.workers", "%d is negative", c.PINHash.Workers)
	}
	if c.PINHash.MaxWait <= 0 {
		p.add("pin_hash.max_wait", "%v is not more than 0", c.PINHash.MaxWait)
	}
	if c.PINLength < 4 || c.PINLength > 6 {
		p.add("pin_length", "%d is outside 4..6", c.PINLength)
	}
	if c.Limits.PerTransfer <= 0 {
		p.add("limits.per_transfer", "%d is not more than 0", c.Limits.PerTransfer)
	}
	if c.Limits.PerDay <= 0 {
		p.add("limits.per_day", "%d is not more than 0", c.Limits.PerDay)
	}
	if c.Limits.PerTransfer > c.Limits.PerDay && c.Limits.PerDay > 0 {
		p.add("limits.per_transfer", "%d is more than limits.per_day, %d", c.Limits.PerTransfer, c.Limits.PerDay)
	}
	checkFee(&p, "fees.send", c.Fees.Send)
	checkFee(&p, "fees.pay", c.Fees.Pay)
	if c.DedupeWindow <= 0 {
		p.add("dedupe_window", "%v is not more than 0", c.DedupeWindow)
	}
	if c.Merchants.PushesPerHour < 1 {
		p.add("merchants.pushes_per_hour", "%d is not at least 1", c.Merchants.PushesPerHour)
	}
	if c.Merchants.TerminalFailures < 1 {
		p.add("merchants.terminal_failures", "%d is not at least 1", c.Merchants.TerminalFailures)
	}
	if c.Merchants.TerminalPhones < 1 {
		p.add("merchants.terminal_phones", "%d is not at least 1", c.Merchants.TerminalPhones)
	}
	if c.Merchants.TerminalWindow <= 0 {
		p.add("merchants.terminal_window", "%v is not more than 0", c.Merchants.TerminalWindow)
	}
	if c.Webhooks.Timeout <= 0 {
		p.add("webhooks.timeout", "%v is not more than 0", c.Webhooks.Timeout)
	}
	if c.Webhooks.MaxBackoff < time.Second {
		p.add("webhooks.max_backoff", "%v is less than 1s", c.Webhooks.MaxBackoff)
	}
	if c.Admin.TokenFile == "" {
		p.add("admin.token_file", "missing: the admin API needs its tokens")
	}
	c.validateSMSC(&p, requireUpstreams)
	c.validateRoutes(&p)
	c.validateBank(&p, requireUpstreams)
	if c.Keys.PepperFile == "" {
		p.add("keys.pepper_file", "missing")
	}
	if c.Keys.DataKeyFile == "" {
		p.add("keys.data_key_file", "missing")
	}
	if c.Keys.PepperFile != "" && c.Keys.PepperFile == c.Keys.DataKeyFile {
		p.add("keys.data_key_file", "the same file as keys.pepper_file: each key must be its own")
	}
	if c.Keys.PlatformKeyFile == "" {
		p.add("keys.platform_key_file", "missing: security modules need the platform's key")
	} else if c.Keys.PlatformKeyFile == c.Keys.PepperFile || c.Keys.PlatformKeyFile == c.Keys.DataKeyFile {
		p.add("keys.platform_key_file", "the same file as another key: each key must be its own")
	}
	if !envelopesRE.MatchString(c.Secure.Envelopes) {
		p.add("secure.envelopes", "%q is not optional, above:<amount> or required", c.Secure.Envelopes)
	}
	if c.Secure.ReportWait < time.Second {
		p.add("secure.report_wait", "%v is less than 1s", c.Secure.ReportWait)
	}
	for i, m := range c.Secure.Allow {
		if !measureRE.MatchString(m.Measurement) {
			p.add(fmt.Sprintf("secure.allow[%d].measurement", i), "%q is not 64 hex digits", m.Measurement)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Log.Level)); err != nil {
		p.add("log.level", "%q is not debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "%q is not text or json", c.Log.Format)
	}
	return errors.Join(p...)
}

// loadLocation is time.LoadLocation without its special names: "" and
// "Local" would make daily limits depend on the host.
func loadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, errors.New("not an IANA time zone")
	}
	return time.LoadLocation(name)
}

func (c Config) validateDatabase(p *problems) {
	db := c.Database.Reveal()
	switch {
	case db == "":
		p.add("database", "missing: sqlite:PATH or a postgres:// URL")
	case strings.HasPrefix(db, "sqlite:"):
		if path, _, _ := strings.Cut(strings.TrimPrefix(db, "sqlite:"), "?"); path == "" {
			p.add("database", "sqlite: needs the path of the database file, as in sqlite:paygate.db")
		}
	case strings.HasPrefix(db, "postgres:") || strings.HasPrefix(db, "postgresql:"):
		u, err := url.Parse(db)
		if err != nil || u.Opaque != "" || !strings.HasPrefix(db, u.Scheme+"://") {
			// Not err: url.Parse's errors quote the URL, password and all.
			p.add("database", "%q is not a URL such as postgres://user@host/db", c.Database.String())
		}
	default:
		p.add("database", "%q is not sqlite:PATH or a postgres:// (postgresql://) URL", c.Database.String())
	}
}

// checkListen returns what is wrong with host:port addr, or "". Port 0
// (any free port) is allowed if anyPort; an empty host, meaning every
// interface, only then too.
func checkListen(addr string, anyPort bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	lowest := uint64(1)
	if anyPort {
		lowest = 0
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n < lowest {
		return fmt.Sprintf("%q is not host:port: the port must be a number from %d to 65535", addr, lowest)
	}
	if host == "" && !anyPort {
		return fmt.Sprintf("%q is not host:port: the host is missing", addr)
	}
	return ""
}

func checkFee(p *problems, key string, f Fee) {
	if f.Flat < 0 {
		p.add(key+".flat", "%d is less than 0", f.Flat)
	}
	if !(f.Percent >= 0 && f.Percent <= 100) || math.IsInf(f.Percent, 0) {
		p.add(key+".percent", "%v is not from 0 to 100", f.Percent)
	}
}

func (c Config) validateSMSC(p *problems, required bool) {
	if len(c.SMSC) == 0 && required {
		p.add("smsc", "no bind: at least one is required")
	}
	names := map[string]int{}
	for i, s := range c.SMSC {
		key := fmt.Sprintf("smsc[%d]", i)
		switch first, dup := names[s.Name]; {
		case s.Name == "":
			p.add(key+".name", "missing: routes, logs and metrics name the bind by it")
		case dup:
			p.add(key+".name", "%q is also the name of smsc[%d]", s.Name, first)
		default:
			names[s.Name] = i
		}
		if s.Addr == "" {
			p.add(key+".addr", "missing: the SMSC's host:port")
		} else if err := checkListen(s.Addr, false); err != "" {
			p.add(key+".addr", "%s", err)
		}
		if s.SystemID == "" {
			p.add(key+".system_id", "missing")
		} else if len(s.SystemID) > maxSystemID {
			p.add(key+".system_id", "longer than %d characters (SMPP 3.4 §4.1.1)", maxSystemID)
		}
		if len(s.Password.Reveal()) > maxPassword {
			p.add(key+".password", "longer than %d characters (SMPP 3.4 §4.1.1)", maxPassword)
		}
		if len(s.SystemType) > maxSystemType {
			p.add(key+".system_type", "longer than %d characters (SMPP 3.4 §4.1.1)", maxSystemType)
		}
		if s.Bind != BindTransceiver && s.Bind != BindTransmitterReceiver {
			p.add(key+".bind", "%q is not %s or %s", s.Bind, BindTransceiver, BindTransmitterReceiver)
		}
		if s.Window < 1 {
			p.add(key+".window", "%d is less than 1", s.Window)
		}
		if !(s.Rate >= 0) || math.IsInf(s.Rate, 0) {
			p.add(key+".rate", "%v is less than 0 (0 means no limit)", s.Rate)
		}
		if l := s.USSDScreen; l.GSM7 < 0 || l.UCS2 < 0 || l.GSM7 > 255 || l.UCS2 > 127 {
			p.add(key+".ussd_screen", "%d GSM-7 / %d UCS-2 characters is outside 0..255 / 0..127", l.GSM7, l.UCS2)
		}
		if s.USSDSession != SessionITSSessionInfo && s.USSDSession != SessionUserMessageReference {
			p.add(key+".ussd_session", "%q is not %s or %s", s.USSDSession, SessionITSSessionInfo, SessionUserMessageReference)
		}
		if s.EnquireInterval <= 0 {
			p.add(key+".enquire_interval", "%v is not more than 0", s.EnquireInterval)
		}
		if s.ResponseTimeout <= 0 {
			p.add(key+".response_timeout", "%v is not more than 0", s.ResponseTimeout)
		}
	}
}

func (c Config) validateRoutes(p *problems) {
	binds := map[string]bool{}
	for _, s := range c.SMSC {
		binds[s.Name] = true
	}
	prefixes := map[string]int{}
	for i, r := range c.Routes {
		key := fmt.Sprintf("routes[%d]", i)
		switch first, dup := prefixes[r.Prefix]; {
		case !prefixRE.MatchString(r.Prefix):
			p.add(key+".prefix", "%q is not a number prefix such as +86138", r.Prefix)
		case dup:
			p.add(key+".prefix", "%q is also the prefix of routes[%d]", r.Prefix, first)
		default:
			prefixes[r.Prefix] = i
		}
		if r.SMSC == "" {
			p.add(key+".smsc", "missing: the name of a bind in smsc")
		} else if !binds[r.SMSC] {
			p.add(key+".smsc", "%q is not the name of a bind in smsc", r.SMSC)
		}
	}
}

func (c Config) validateBank(p *problems, required bool) {
	b := c.Bank
	if !c.HasBank() {
		if required {
			p.add("bank", "missing: the bank connector is required")
		}
		return
	}
	switch b.Kind {
	case BankHTTP:
		c.validateBankHTTP(p)
	case BankSim:
	default:
		p.add("bank.kind", "%q is not %s or %s", b.Kind, BankHTTP, BankSim)
	}
	if !bankCodeRE.MatchString(b.Code) {
		p.add("bank.code", "%q is not 1 to 16 letters and digits", b.Code)
	}
	if b.FeeAccount == "" && (c.Fees.Send != Fee{} || c.Fees.Pay != Fee{}) {
		p.add("bank.fee_account", "missing: the fees need an account to be credited to")
	}
}

func (c Config) validateBankHTTP(p *problems) {
	b := c.Bank
	raw := b.URL.Reveal()
	https := false
	if raw == "" {
		p.add("bank.url", "missing: the bank API's base URL, as in https://bank.example/")
	} else if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Not err: url.Parse's errors quote the URL, password and all.
		p.add("bank.url", "%q is not an http:// or https:// URL", b.URL.String())
	} else {
		https = u.Scheme == "https"
	}
	if b.SecretFile == "" {
		p.add("bank.secret_file", "missing: the bank API's requests are signed with its key (SPEC.md §8)")
	}
	if raw != "" && !https {
		for _, f := range []struct{ key, val string }{{"bank.ca_file", b.CAFile}, {"bank.cert_file", b.CertFile}, {"bank.key_file", b.KeyFile}} {
			if f.val != "" {
				p.add(f.key, "given for a URL that is not https://")
			}
		}
	}
	if (b.CertFile == "") != (b.KeyFile == "") {
		if b.CertFile == "" {
			p.add("bank.cert_file", "missing: bank.key_file is given, and mutual TLS needs both")
		} else {
			p.add("bank.key_file", "missing: bank.cert_file is given, and mutual TLS needs both")
		}
	}
}
