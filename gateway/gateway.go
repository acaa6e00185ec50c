package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
	"github.com/paygate/paygate/ussd"
)

// Options build a Gateway.
type Options struct {
	Config config.Config
	Logger *slog.Logger
	// Now is the clock of flows and the outbox. Default time.Now.
	Now func() time.Time
	// Dispatchers is how many MTs are sent at once. Default 1024.
	Dispatchers int
	// PINHash are the argon2id parameters of new PIN hashes; zero means
	// the config's pin_hash (stored hashes keep theirs and still verify).
	PINHash flows.Argon2Params
	// Extra HTTP routes mounted on the gateway's server (the sandbox's
	// phones).
	Routes func(mux *http.ServeMux)
	// Sandbox: the gateway runs as `paygate serve`'s sandbox, where
	// merchants' webhooks may go to http:// on loopback (SPEC.md §7).
	Sandbox bool
}

// Gateway is a running paygate. Its methods are safe for concurrent use.
type Gateway struct {
	cfg     config.Config
	log     *slog.Logger
	now     func() time.Time
	db      *store.DB
	engine  *flows.Engine
	secure  *secureChannel
	ussd    *ussd.Engine
	pins    *pinPool
	bankD   *bankDispatcher
	binds   []*bind
	byName  map[string]*bind
	metrics *metrics
	disp    *dispatcher
	early   *earlyReceipts
	bank    bank.Connector // nil without a bank of kind http
	phones  phoneCache
	// ussdCallers may call POST /ussd; nil: it is off.
	ussdCallers ussdCallers

	httpSrv *http.Server
	// apiPatterns are the API routes served (apiRoute).
	apiPatterns []string
	// sandbox: Options.Sandbox.
	sandbox  bool
	webhooks *webhookDispatcher
	httpLn   net.Listener

	ctx    context.Context // lives until Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// bind is one configured SMSC connection.
type bind struct {
	cfg    config.SMSC
	client *smpp.Client
}

// New opens the store (migrating it), binds to every configured SMSC in
// the background, starts the MT dispatcher and the HTTP server. Close
// stops it all.
func New(ctx context.Context, opts Options) (*Gateway, error) {
	cfg := opts.Config
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Dispatchers <= 0 {
		opts.Dispatchers = 1024
	}
	dataKey, err := readKeyFile(cfg.Keys.DataKeyFile)
	if err != nil {
		return nil, fmt.Errorf("keys.data_key_file: %w", err)
	}
	db, err := store.Open(ctx, cfg.Database.Reveal(), store.Options{Keys: store.Keys{DataKey: dataKey}, Logger: opts.Logger, Now: opts.Now})
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("database: %w", err)
	}
	if db.Dialect() == "sqlite3" {
		// One process owns a SQLite database: leases left by a crash
		// are stale.
		if err := db.ReleaseLeases(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	engine, err := newEngine(cfg, opts.PINHash, db.Dialect() == "sqlite3")
	if err != nil {
		db.Close()
		return nil, err
	}
	secure, err := newSecureChannel(cfg.Keys.PlatformKeyFile, cfg.Secure.ReportWait)
	if err != nil {
		db.Close()
		return nil, err
	}
	if !secure.on() {
		opts.Logger.Info("secure: the secure channel is off: keys.platform_key_file does not exist", "file", cfg.Keys.PlatformKeyFile)
	}
	for _, m := range cfg.Secure.Allow {
		if err := db.AllowMeasurement(ctx, store.Measurement{Measurement: m.Measurement, Label: m.Label, By: "config", Created: opts.Now()}); err != nil {
			db.Close()
			return nil, fmt.Errorf("secure.allow: %w", err)
		}
	}
	dialogues, err := newUSSD(cfg, engine)
	if err != nil {
		db.Close()
		return nil, err
	}
	callers, err := readUSSDCallers(cfg.USSDHTTP.TokenFile)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("ussd_http.token_file: %w", err)
	}
	if callers == nil && cfg.USSDHTTP.TokenFile != "" {
		opts.Logger.Info("ussd: POST /ussd is off: ussd_http.token_file does not exist", "file", cfg.USSDHTTP.TokenFile)
	}
	gctx, cancel := context.WithCancel(context.Background())
	g := &Gateway{
		ussd: dialogues, ussdCallers: callers, sandbox: opts.Sandbox,
		cfg: cfg, log: opts.Logger, now: opts.Now, db: db,
		engine: engine, secure: secure,
		pins:    newPINPool(cfg.PINHash.Workers, cfg.PINHash.MaxWait),
		byName:  map[string]*bind{},
		metrics: newMetrics(db),
		early:   newEarlyReceipts(time.Hour),
		ctx:     gctx,
		cancel:  cancel,
	}
	if cfg.Bank.Kind == config.BankHTTP && cfg.Bank.URL != "" {
		secret, err := bank.ReadSecretFile(cfg.Bank.SecretFile)
		if err != nil {
			db.Close()
			cancel()
			return nil, fmt.Errorf("bank.secret_file: %w", err)
		}
		conn, err := bank.NewHTTP(bank.HTTPConfig{
			URL: cfg.Bank.URL.Reveal(), Secret: secret,
			CAFile: cfg.Bank.CAFile, CertFile: cfg.Bank.CertFile, KeyFile: cfg.Bank.KeyFile,
			Hooks: g.metrics.bankHooks(), Logger: opts.Logger,
		})
		if err != nil {
			db.Close()
			cancel()
			return nil, fmt.Errorf("bank: %w", err)
		}
		g.bank = conn
	}
	g.disp = newDispatcher(g, opts.Dispatchers)
	db.OnQueued(g.disp.owner, leaseFor, g.disp.queued)
	for _, sc := range cfg.SMSC {
		b := &bind{cfg: sc}
		c := sc.SMPP()
		c.Handler = &router{g: g, bind: b}
		c.Parts = durableParts{db: db}
		c.Hooks = g.metrics.hooks()
		c.Logger = opts.Logger // the smpp package names the bind itself
		b.client, err = smpp.NewClient(c)
		if err != nil {
			g.closeBinds(ctx)
			db.Close()
			cancel()
			return nil, fmt.Errorf("smsc %s: %w", sc.Name, err)
		}
		g.binds = append(g.binds, b)
		g.byName[sc.Name] = b
	}
	g.bankD = newBankDispatcher(g)
	g.wg.Add(5)
	go func() { defer g.wg.Done(); g.disp.run(gctx) }()
	go func() { defer g.wg.Done(); g.pushes(gctx) }()
	go func() { defer g.wg.Done(); g.bankD.run(gctx) }()
	go func() { defer g.wg.Done(); g.janitor(gctx) }()
	go func() { defer g.wg.Done(); g.timers(gctx) }()
	g.startWebhooks(gctx)
	if err := g.serveHTTP(opts.Routes); err != nil {
		g.Close(ctx)
		return nil, err
	}
	return g, nil
}

// newEngine builds the flows engine from cfg and the pepper: PINs hashed
// with argon2id (params; zero: config pin_hash, else flows.DefaultArgon2)
// over an HMAC under the pepper, one-time codes digested under a key
// derived from it.
//
// alone says this process is the only one on its database (SQLite): PIN
// attempts reserved by a process that died are then given back at start
// (flows.EngineConfig.Epoch).
func newEngine(cfg config.Config, params flows.Argon2Params, alone bool) (*flows.Engine, error) {
	if params == (flows.Argon2Params{}) {
		params = flows.DefaultArgon2
		if h := cfg.PINHash; h.MemoryKiB > 0 && h.Time > 0 && h.Threads > 0 {
			params.MemoryKiB, params.Time, params.Threads = uint32(h.MemoryKiB), uint32(h.Time), uint8(h.Threads)
		}
	}
	pepper, err := readKeyFile(cfg.Keys.PepperFile)
	if err != nil {
		return nil, fmt.Errorf("keys.pepper_file: %w", err)
	}
	pins, err := flows.NewPINHasher(pepper[:], params, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("keys.pepper_file: %w", err)
	}
	codeKey, err := flows.DeriveKey(pepper[:], "paygate otp v1")
	if err != nil {
		return nil, err
	}
	codes, err := flows.NewCodes(codeKey, rand.Reader)
	if err != nil {
		return nil, err
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("timezone: %w", err)
	}
	envelopes, err := flows.ParseEnvelopePolicy(cfg.Secure.Envelopes)
	if err != nil {
		return nil, err
	}
	return flows.NewEngine(flows.EngineConfig{
		Envelopes:   envelopes,
		DefaultLang: flows.Lang(cfg.Language), ShortCode: cfg.ShortCode,
		Country: cfg.Country, PINLength: cfg.PINLength, Location: loc,
		PINs: pins, Codes: codes, NewID: newID, Epoch: epoch(alone),
		Currency: cfg.Currency,
		Limits:   flows.Limits{PerTransfer: flows.Amount(cfg.Limits.PerTransfer), PerDay: flows.Amount(cfg.Limits.PerDay)},
		SendFee:  engineFee(cfg.Fees.Send),
		PayFee:   engineFee(cfg.Fees.Pay),
		Merchants: flows.MerchantRules{
			PushesPerHour: cfg.Merchants.PushesPerHour, TerminalFailures: cfg.Merchants.TerminalFailures,
			TerminalPhones: cfg.Merchants.TerminalPhones, TerminalWindow: cfg.Merchants.TerminalWindow,
		},
	})
}

// engineFee is a configured fee rule as the flows apply it.
func engineFee(f config.Fee) flows.Fee {
	return flows.Fee{Flat: flows.Amount(f.Flat), Percent: f.Percent}
}

// newID is a ULID: unique, and sorting by time of creation.
func newID() string { return ulid.Make().String() }

// OperatorUnlock lifts every lock of a phone (the admin API's unlock).
func (g *Gateway) OperatorUnlock(ctx context.Context, phone flows.MSISDN) error {
	return g.db.Step(ctx, func(tx *store.Tx) error {
		return g.engine.OperatorUnlock(ctx, tx, phone, g.now())
	})
}

// Bank returns the gateway's bank connector, or nil when the config
// names no bank of kind http.
func (g *Gateway) Bank() bank.Connector { return g.bank }

// DB returns the gateway's store (for tests and tools in this process).
func (g *Gateway) DB() *store.DB { return g.db }

// HTTPAddr returns the address the HTTP server listens on.
func (g *Gateway) HTTPAddr() string { return g.httpLn.Addr().String() }

// Bound reports whether every bind is up.
func (g *Gateway) Bound() bool {
	for _, b := range g.binds {
		if !b.client.Bound() {
			return false
		}
	}
	return len(g.binds) > 0
}

// Close stops the gateway gracefully: the HTTP server stops taking
// requests, the dispatcher stops claiming and finishes the sends under
// way, each bind stops submitting, lets its handlers finish and
// acknowledge, unbinds and closes, and the store closes. ctx bounds the
// wait.
func (g *Gateway) Close(ctx context.Context) error {
	var errs []error
	if g.httpSrv != nil {
		errs = append(errs, g.httpSrv.Shutdown(ctx))
	}
	g.disp.stop(ctx)
	g.closeBinds(ctx)
	g.disp.sends.Wait() // with the binds closed, every send ends at once
	g.cancel()
	g.wg.Wait()
	if c, ok := g.bank.(interface{ Close() error }); ok {
		c.Close()
	}
	errs = append(errs, g.db.Close())
	return errors.Join(errs...)
}

func (g *Gateway) closeBinds(ctx context.Context) {
	var wg sync.WaitGroup
	for _, b := range g.binds {
		wg.Add(1)
		go func() { defer wg.Done(); b.client.Close(ctx) }()
	}
	wg.Wait()
}

// janitor drops what the dedupe window and reassembly no longer need,
// and erases the text of code SMS whose code is dead.
func (g *Gateway) janitor(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := g.now()
		if err := g.db.ExpireSeen(ctx, now.Add(-g.cfg.DedupeWindow)); err != nil && ctx.Err() == nil {
			g.log.Warn("janitor: expiring fingerprints", "err", err)
		}
		if _, err := g.db.ExpireParts(ctx, now.Add(-smpp.DefaultReassemblyTimeout)); err != nil && ctx.Err() == nil {
			g.log.Warn("janitor: expiring message parts", "err", err)
		}
		if _, err := g.db.ExpireSealed(ctx, now.Add(-flows.CodeTTL)); err != nil && ctx.Err() == nil {
			g.log.Warn("janitor: erasing dead codes", "err", err)
		}
		if _, err := g.db.ExpireUSSDSessions(ctx, now); err != nil && ctx.Err() == nil {
			g.log.Warn("janitor: ending USSD sessions", "err", err)
		}
		if _, err := g.db.ExpireIdempotency(ctx, now.Add(-store.IdempotencyTTL)); err != nil && ctx.Err() == nil {
			g.log.Warn("janitor: forgetting idempotency keys", "err", err)
		}
		if err := g.expireReports(ctx, now); err != nil && ctx.Err() == nil {
			g.log.Warn("janitor: integrity reports", "err", err)
		}
		g.early.sweep(now)
	}
}

// epoch names this process's run for flows.EngineConfig.Epoch: a fresh
// id when it is alone on its database, else "".
func epoch(alone bool) string {
	if !alone {
		return ""
	}
	return newID()
}
