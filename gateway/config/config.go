// Package config owns the gateway's configuration (SPEC.md §1): the one
// Config struct with every default in Default, Load to read it from a
// YAML file and PAYGATE_ environment variables, Validate to report every
// problem with the key it is about, and the Secret and SecretURL types
// with which passwords print masked, so that Redacted can dump a config
// for `paygate config check` without revealing them.
//
// Precedence is defaults, then the file, then the environment; command
// line flags, where a command has them, are applied by the command after
// Load. The package never reads the process environment itself: Load
// takes a getenv function.
package config

import (
	"time"

	"github.com/paygate/paygate/smpp"
)

// Config is the gateway's configuration. Its yaml tags are the keys of
// SPEC.md §1; every scalar key can also be set by an environment
// variable (see Load). A Config is a plain value: copying it copies
// everything but the slices, which the copies share.
type Config struct {
	// Database is where the gateway keeps its state: sqlite:PATH or a
	// postgres:// (postgresql://) URL. It prints with any password masked.
	Database SecretURL `yaml:"database"`
	HTTP     HTTP      `yaml:"http"`
	// Currency is the ISO 4217 code of every amount; its minor units
	// are hundredths.
	Currency string `yaml:"currency"`
	// Country is the calling code assumed for local numbers, digits only.
	Country string `yaml:"country"`
	// Timezone is the IANA zone of daily limits and receipts.
	Timezone string `yaml:"timezone"`
	// Language is the default reply language: LanguageEnglish or
	// LanguageChinese.
	Language string `yaml:"language"`
	// ShortCode is the address SMS commands go to and come from.
	ShortCode string `yaml:"short_code"`
	USSDCode  string `yaml:"ussd_code"`
	PINLength int    `yaml:"pin_length"` // 4..6
	// PINHash is the cost of new PIN hashes (argon2id). Hashes made with
	// other parameters still verify and are redone on the next right
	// PIN.
	PINHash PINHash `yaml:"pin_hash"`
	Limits  Limits  `yaml:"limits"`
	Fees    Fees    `yaml:"fees"`
	// DedupeWindow: identical inbound messages inside it are one message.
	DedupeWindow time.Duration `yaml:"dedupe_window"`
	Admin        Admin         `yaml:"admin"`
	USSDHTTP     USSDHTTP      `yaml:"ussd_http"`
	Merchants    Merchants     `yaml:"merchants"`
	Webhooks     Webhooks      `yaml:"webhooks"`
	Secure       Secure        `yaml:"secure"`
	// Routes pick the bind of an MT by the recipient's number when no MO
	// decides it (SPEC.md §3); the longest matching prefix wins.
	Routes []Route `yaml:"routes"`
	// SMSC are the carriers' SMSCs to bind to. No default.
	SMSC []SMSC `yaml:"smsc"`
	// Bank is the bank connector; the zero Bank when the config has
	// none (see HasBank). No default, but the fields of a bank that is
	// given do have them (DefaultBank). It is not a pointer so that
	// copies of a Config share nothing but slices, and so that no fmt
	// verb reaches its fields without their Format methods.
	Bank Bank `yaml:"bank,omitempty"`
	Keys Keys `yaml:"keys"`
	Log  Log  `yaml:"log"`
}

// HTTP is the gateway's HTTP server (SPEC.md §7).
type HTTP struct {
	Listen string `yaml:"listen"` // host:port; port 0 picks a free one
}

// Limits cap transfers, in minor units of Config.Currency.
type Limits struct {
	PerTransfer int64 `yaml:"per_transfer"`
	PerDay      int64 `yaml:"per_day"`
}

// Fees are charged to the payer on top of the amount.
type Fees struct {
	Send Fee `yaml:"send"` // SEND, person to person
	Pay  Fee `yaml:"pay"`  // PAY, to a merchant
}

// Fee is Flat plus Percent of the amount.
type Fee struct {
	Flat    int64   `yaml:"flat"`    // minor units
	Percent float64 `yaml:"percent"` // 0.5 is half a percent
}

// Admin is the admin API (SPEC.md §7).
type Admin struct {
	// TokenFile holds one "name token" line per operator.
	TokenFile string `yaml:"token_file" config:"path"`
}

// Merchants are the rules of merchants' payment requests (SPEC.md §5.4,
// §5.5).
type Merchants struct {
	// PushesPerHour: payment requests one merchant may make of one phone
	// in an hour.
	PushesPerHour int `yaml:"pushes_per_hour"`
	// TerminalFailures failed authentications at a merchant's terminals
	// in TerminalWindow, for at least TerminalPhones phones, suspend its
	// terminal mode until an operator lifts it.
	TerminalFailures int           `yaml:"terminal_failures"`
	TerminalPhones   int           `yaml:"terminal_phones"`
	TerminalWindow   time.Duration `yaml:"terminal_window"`
}

// Webhooks is how merchants' webhooks are posted (SPEC.md §7).
type Webhooks struct {
	Timeout    time.Duration `yaml:"timeout"`     // per attempt
	MaxBackoff time.Duration `yaml:"max_backoff"` // the longest wait between attempts
}

// USSDHTTP is the USSD aggregator callback, POST /ussd (SPEC.md §4).
type USSDHTTP struct {
	// TokenFile holds one "name token" line per caller; empty turns
	// POST /ussd off.
	TokenFile string `yaml:"token_file" config:"path"`
	// Trusted lets callers start money commands.
	Trusted bool `yaml:"trusted"`
}

// Route sends MTs to numbers starting with Prefix through bind SMSC.
type Route struct {
	Prefix string `yaml:"prefix"` // "+86138": a "+" and digits, or digits
	SMSC   string `yaml:"smsc"`   // the Name of a bind
}

// Bind modes of SMSC.Bind.
const (
	BindTransceiver         = "transceiver"
	BindTransmitterReceiver = "transmitter+receiver"
)

// Where a carrier carries the USSD session id, for SMSC.USSDSession.
const (
	SessionITSSessionInfo       = "its_session_info"
	SessionUserMessageReference = "user_message_reference"
)

// Reply languages, for Config.Language.
const (
	LanguageEnglish = "en"
	LanguageChinese = "zh"
)

// Bank kinds, for Bank.Kind.
const (
	BankHTTP = "http" // the HTTP JSON bank API of SPEC.md §8
	BankSim  = "sim"  // the in-process bank simulator
)

// SMSC is one bind to a carrier's SMSC. The fields a bind leaves out
// take DefaultSMSC's values.
type SMSC struct {
	// Name identifies the bind in routes, logs and metrics; unique.
	Name       string `yaml:"name"`
	Addr       string `yaml:"addr"` // host:port
	SystemID   string `yaml:"system_id"`
	Password   Secret `yaml:"password"`
	SystemType string `yaml:"system_type"`
	// Bind is BindTransceiver or BindTransmitterReceiver.
	Bind string `yaml:"bind"`
	// Window is how many submits may await their response.
	Window int `yaml:"window"`
	// Rate is submit_sm per second; 0 means no limit.
	Rate float64 `yaml:"rate"`
	// Trusted binds may carry money commands (SPEC.md §5.5).
	Trusted bool `yaml:"trusted"`
	// USSDSession is SessionITSSessionInfo or SessionUserMessageReference.
	USSDSession string `yaml:"ussd_session"`
	// USSDScreen overrides the USSD screen limit of this carrier (SPEC
	// §4: 182 GSM-7 characters, 80 UCS-2); zero fields keep it.
	USSDScreen      USSDScreen    `yaml:"ussd_screen"`
	EnquireInterval time.Duration `yaml:"enquire_interval"` // idle time before enquire_link
	ResponseTimeout time.Duration `yaml:"response_timeout"` // per request
	// Receipts asks the SMSC for a delivery receipt of every MT.
	Receipts bool `yaml:"receipts"`
}

// USSDScreen is a USSD screen limit in characters as encoded.
type USSDScreen struct {
	GSM7 int `yaml:"gsm7"`
	UCS2 int `yaml:"ucs2"`
}

// Bank is the bank connector. The fields a bank leaves out take
// DefaultBank's values.
type Bank struct {
	Kind string `yaml:"kind"` // BankHTTP or BankSim
	// URL is the base URL of the bank API (kind http).
	URL SecretURL `yaml:"url"`
	// SecretFile holds the HMAC key of SPEC.md §8's signatures.
	SecretFile string `yaml:"secret_file" config:"path"`
	Code       string `yaml:"code"`        // this deployment's bank code
	FeeAccount string `yaml:"fee_account"` // where fees are credited
	// CAFile is a CA to trust for an https URL; CertFile and KeyFile a
	// client certificate for mutual TLS.
	CAFile   string `yaml:"ca_file" config:"path"`
	CertFile string `yaml:"cert_file" config:"path"`
	KeyFile  string `yaml:"key_file" config:"path"`
}

// Keys name the files of the gateway's own keys: 64 hex digits each.
type Keys struct {
	PepperFile  string `yaml:"pepper_file" config:"path"`   // PIN hashing pepper
	DataKeyFile string `yaml:"data_key_file" config:"path"` // AES-256 key of account numbers at rest
	// PlatformKeyFile is the seed of the platform's Ed25519 key, with
	// which the gateway proves itself to security modules (SPEC.md §9).
	PlatformKeyFile string `yaml:"platform_key_file" config:"path"`
}

// Secure is the secure channel with phones' security modules (SPEC.md §9).
type Secure struct {
	// Envelopes is when an enrolled phone's payments must come sealed:
	// optional, above:<amount> (e.g. above:500.00) or required.
	Envelopes string `yaml:"envelopes"`
	// ReportWait is how long a module has to answer an integrity nonce;
	// after it the report is missing and payments stay off.
	ReportWait time.Duration `yaml:"report_wait"`
	// Allow are measurements on the allow-list from the start (64 hex
	// digits and a label); operators add and remove more through the
	// admin API.
	Allow []AllowedMeasurement `yaml:"allow"`
}

// AllowedMeasurement is an integrity measurement operators trust.
type AllowedMeasurement struct {
	Measurement string `yaml:"measurement"`
	Label       string `yaml:"label"`
}

// PINHash are argon2id parameters. The default is OWASP's minimum
// (19 MiB, 2 passes, 1 lane): about 20 ms and 19 MiB per check, so a
// core checks about 50 PINs a second. Lowering them buys throughput only
// against an attacker who has stolen the pepper too (RELIABILITY.md).
//
// Workers and MaxWait bound the checks in flight: at most Workers run at
// once (0: one per core), and a check that cannot start within MaxWait
// is not made — the phone is told nothing was counted and to send it
// again — so that under a flood of PIN attempts every text is still
// answered well inside an SMSC's response timeout.
type PINHash struct {
	MemoryKiB int           `yaml:"memory_kib"` // at least 8·Threads
	Time      int           `yaml:"time"`       // passes, at least 1
	Threads   int           `yaml:"threads"`    // lanes, 1..255
	Workers   int           `yaml:"workers"`    // checks at once; 0: one per core
	MaxWait   time.Duration `yaml:"max_wait"`   // longest wait for a free worker
}

// Log is the root logger's settings; the --log-level and --log-format
// flags win over them.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Default returns the configuration a key takes when neither the file
// nor the environment sets it (SPEC.md §1). It has no SMSC and no bank:
// those have no default; DefaultSMSC and DefaultBank fill the fields of
// ones that are given.
func Default() Config {
	return Config{
		Database:     "sqlite:paygate.db",
		HTTP:         HTTP{Listen: "127.0.0.1:8080"},
		Currency:     "CNY",
		Country:      "86",
		Timezone:     "Asia/Shanghai",
		Language:     LanguageEnglish,
		ShortCode:    "3030",
		USSDCode:     "*384#",
		PINLength:    6,
		PINHash:      PINHash{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, MaxWait: 2 * time.Second},
		Limits:       Limits{PerTransfer: 5000000, PerDay: 20000000},
		DedupeWindow: 10 * time.Minute,
		Admin:        Admin{TokenFile: "admin.token"},
		USSDHTTP:     USSDHTTP{TokenFile: "ussd.token", Trusted: false},
		Merchants:    Merchants{PushesPerHour: 3, TerminalFailures: 10, TerminalPhones: 3, TerminalWindow: time.Hour},
		Webhooks:     Webhooks{Timeout: 10 * time.Second, MaxBackoff: time.Hour},
		Routes:       []Route{},
		SMSC:         []SMSC{},
		Secure:       Secure{Envelopes: "optional", ReportWait: 5 * time.Minute, Allow: []AllowedMeasurement{}},
		Keys:         Keys{PepperFile: "pepper.key", DataKeyFile: "data.key", PlatformKeyFile: "platform.key"},
		Log:          Log{Level: "info", Format: "text"},
	}
}

// DefaultSMSC returns the values of the keys a bind leaves out. Name,
// Addr, SystemID and Password have none.
func DefaultSMSC() SMSC {
	return SMSC{
		Bind:            BindTransceiver,
		Window:          10,
		Rate:            100,
		Trusted:         true,
		USSDSession:     SessionITSSessionInfo,
		EnquireInterval: 30 * time.Second,
		ResponseTimeout: 10 * time.Second,
		Receipts:        true,
	}
}

// DefaultBank returns the values of the keys a bank leaves out.
func DefaultBank() Bank {
	return Bank{Kind: BankHTTP, Code: "PGB"}
}

// HasBank reports whether c has a bank: whether the file or the
// environment gave any of its keys.
func (c Config) HasBank() bool { return c.Bank != Bank{} }

// Mode returns the smpp.BindMode of s.Bind, which Validate has checked.
func (s SMSC) Mode() smpp.BindMode {
	if s.Bind == BindTransmitterReceiver {
		return smpp.TransmitterReceiver
	}
	return smpp.Transceiver
}

// SessionTag returns the TLV of s.USSDSession, which Validate has
// checked.
func (s SMSC) SessionTag() smpp.Tag {
	if s.USSDSession == SessionUserMessageReference {
		return smpp.TagUserMessageReference
	}
	return smpp.TagITSSessionInfo
}

// SMPP returns the smpp.Config of the bind. The caller adds what is not
// configuration: Handler, Parts, Hooks, Logger. Receipts is not there:
// it is asked for on each submit.
func (s SMSC) SMPP() smpp.Config {
	return smpp.Config{
		Name:            s.Name,
		Addr:            s.Addr,
		SystemID:        s.SystemID,
		Password:        smpp.Secret(s.Password.Reveal()),
		SystemType:      s.SystemType,
		Mode:            s.Mode(),
		Window:          s.Window,
		Rate:            s.Rate,
		USSDSession:     s.SessionTag(),
		EnquireInterval: s.EnquireInterval,
		ResponseTimeout: s.ResponseTimeout,
	}
}
