package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx": the bench's schema, and a look at what the gateway stored
	_ "github.com/mattn/go-sqlite3"    // "sqlite3": the same

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
	"github.com/paygate/paygate/store"
)

// benchCommand is the transfer load tool: virtual phones send money to
// each other over real SMPP through a gateway backed by the bank
// simulator over HTTP, and the tool measures complete transfers per
// second and the latency of each screen (RELIABILITY.md, Performance
// goals), then checks the bank's ledger against what the phones saw.
func benchCommand() *command {
	def := config.Default().PINHash
	return &command{
		name:    "bench",
		summary: "run complete transfers through a gateway and measure transfers/s and latency",
		help: "Starts an SMSC simulator and a bank simulator (HTTP, with one account per\n" +
			"virtual phone), then a gateway bound to both: in this process, or with\n" +
			"--spawn as a separate `paygate serve` on a config written to a fresh\n" +
			"temporary directory. Every phone links its account (LINK, the code, a PIN);\n" +
			"that setup is not measured. Then --concurrency phones at a time run\n" +
			"--transfers transfers in all, each phone paying the next one: SEND, OK\n" +
			"<PIN>, the one-time code, until both receipts are at the SMSC (SPEC.md\n" +
			"§5.2). It prints transfers/s and p50/p90/p99 of each screen (the PIN\n" +
			"screen apart: argon2id at --pin-memory-kib and --pin-time) and of the\n" +
			"whole transfer, then checks the bank: as many completed transfers as the\n" +
			"phones saw, each once, with their amounts and accounts, and an audit of\n" +
			"the ledger (money conserved). It exits 1 on any failure or mismatch.\n\n" +
			"A phone gets at most 5 one-time codes an hour (SPEC.md §5.5), one of\n" +
			"them for LINK: --transfers may be at most 4 × --phones.\n\n" +
			"--database postgres://… runs the gateway in a new schema of that\n" +
			"database, dropped at the end. A spawned gateway takes the PIN cost from\n" +
			"pin_hash in its config; the report says which parameters it really\n" +
			"stored, and the gateway's own counters per transfer (its /metrics).\n\n" +
			"--ussd runs USSD sessions over the same SMPP bind instead (RELIABILITY.md:\n" +
			"screen latency with 1,000 live sessions, RSS per 1,000 live sessions).\n" +
			"--sessions phones (each linked and with a PIN, written to the database\n" +
			"before the gateway starts) each dial, choose Send money and name the next\n" +
			"phone, answering each screen after a random 0–--think, and stand at the\n" +
			"amount screen: every session live at once. They answer the amount, then\n" +
			"the PIN. It prints the p50/p90/p99 of the menu screens (dial, 1, payee,\n" +
			"amount) and of the PIN screen apart, the PIN checks made per second and\n" +
			"those refused busy, and the gateway's RSS (VmRSS) with every session\n" +
			"live less after a first round of as many sessions that ended, per 1,000\n" +
			"sessions (RSS moves by a MiB or two on its own: with far fewer than\n" +
			"1,000 sessions that figure is noise). Only with --spawn is that RSS the\n" +
			"gateway's alone.",
		setup: func(fs *flag.FlagSet) action {
			var o benchOptions
			fs.IntVar(&o.phones, "phones", 500, "virtual `phones`, each with a bank account; each pays the next one")
			fs.IntVar(&o.transfers, "transfers", 2000, "transfers to run in all, spread evenly over the phones")
			fs.IntVar(&o.concurrency, "concurrency", 0, "phones with a transfer under way at once (default min(--phones, 100): on 2 cores more only lengthens queues)")
			fs.StringVar(&o.database, "database", "sqlite", "sqlite (a new file) or a postgres:// `URL` (a new schema in it)")
			fs.IntVar(&o.pinMemoryKiB, "pin-memory-kib", def.MemoryKiB, "argon2id memory of PIN hashes, KiB (config pin_hash.memory_kib)")
			fs.IntVar(&o.pinTime, "pin-time", def.Time, "argon2id passes of PIN hashes (config pin_hash.time)")
			fs.BoolVar(&o.spawn, "spawn", false, "run the gateway as a separate `paygate serve` process")
			fs.DurationVar(&o.dedupeWindow, "dedupe-window", config.Default().DedupeWindow, "the gateway's dedupe_window: identical texts from a phone inside it are one, unless they answer different prompts")
			fs.BoolVar(&o.dlr, "dlr", false, "the SMSC sends a delivery receipt for every MT (more inbound load)")
			fs.StringVar(&o.out, "out", "text", "report `format`: text or json")
			fs.DurationVar(&o.timeout, "timeout", time.Minute, "how long a phone waits for an expected SMS before it counts a failure")
			fs.DurationVar(&o.poll, "poll", time.Millisecond, "how long the phones' SMS watcher gathers MTs before it looks (trades its CPU for think time)")
			fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process over the measured transfers to `file`; samples carry the label part=gateway|simulators|driver")
			fs.DurationVar(&o.bindWait, "bind-wait", 30*time.Second, "how long to wait for the gateway to bind")
			fs.IntVar(&o.pinWorkers, "pin-workers", 0, "PIN checks the gateway makes at once (config pin_hash.workers; 0: its default)")
			fs.BoolVar(&o.ussd, "ussd", false, "run USSD sessions, not SMS transfers: screen latency and RSS per 1,000 live sessions")
			fs.IntVar(&o.sessions, "sessions", 1000, "--ussd: live USSD `sessions` at once, one a phone")
			fs.DurationVar(&o.think, "think", 2*time.Second, "--ussd: a phone answers each screen after a random wait up to this")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				if o.pinWorkers < 0 {
					return usageErrorf("--pin-workers must not be negative")
				}
				if o.ussd {
					switch {
					case o.sessions < 2 || o.sessions > benchMaxSessions:
						return usageErrorf("--sessions must be from 2 to %d (each phone pays the next; two rounds of 2-byte session ids)", benchMaxSessions)
					case o.think < 0:
						return usageErrorf("--think must not be negative")
					case o.pinMemoryKiB < 8:
						return usageErrorf("--pin-memory-kib must be at least 8")
					case o.pinTime < 1:
						return usageErrorf("--pin-time must be at least 1")
					case o.out != "text" && o.out != "json":
						return usageErrorf("--out must be text or json")
					case o.timeout <= 0:
						return usageErrorf("--timeout must be more than 0")
					case o.database != "sqlite" && !strings.HasPrefix(o.database, "postgres://") && !strings.HasPrefix(o.database, "postgresql://"):
						return usageErrorf("--database must be sqlite or a postgres:// URL")
					}
					return runBenchUSSD(ctx, env, o)
				}
				if o.concurrency == 0 {
					o.concurrency = min(o.phones, 100)
				}
				switch {
				case o.phones < 2:
					return usageErrorf("--phones must be at least 2 (each phone pays the next)")
				case o.transfers < 1:
					return usageErrorf("--transfers must be at least 1")
				case o.transfers > benchTransfersPerPhone*o.phones:
					return usageErrorf("--transfers %d is more than %d × --phones: a phone gets at most %d one-time codes an hour (SPEC.md §5.5), one of them for LINK; use --phones %d",
						o.transfers, benchTransfersPerPhone, flows.CodesPerHour, (o.transfers+benchTransfersPerPhone-1)/benchTransfersPerPhone)
				case o.concurrency < 1:
					return usageErrorf("--concurrency must be at least 1")
				case o.pinMemoryKiB < 8:
					return usageErrorf("--pin-memory-kib must be at least 8")
				case o.pinTime < 1:
					return usageErrorf("--pin-time must be at least 1")
				case o.out != "text" && o.out != "json":
					return usageErrorf("--out must be text or json")
				case o.timeout <= 0:
					return usageErrorf("--timeout must be more than 0")
				case o.dedupeWindow <= 0:
					return usageErrorf("--dedupe-window must be more than 0")
				case o.poll < 0:
					return usageErrorf("--poll must not be negative")
				case o.database != "sqlite" && !strings.HasPrefix(o.database, "postgres://") && !strings.HasPrefix(o.database, "postgresql://"):
					return usageErrorf("--database must be sqlite or a postgres:// URL")
				}
				o.concurrency = min(o.concurrency, o.phones)
				return runBench(ctx, env, o)
			}
		},
	}
}

// benchTransfersPerPhone is how many transfers one phone can make in an
// hour: flows.CodesPerHour codes, less the one of its LINK.
const benchTransfersPerPhone = flows.CodesPerHour - 1

type benchOptions struct {
	phones, transfers, concurrency        int
	database                              string
	pinMemoryKiB, pinTime                 int
	spawn, dlr                            bool
	out                                   string
	timeout, poll, bindWait, dedupeWindow time.Duration
	cpuProfile                            string
	pinWorkers                            int
	ussd                                  bool
	sessions                              int
	think                                 time.Duration
}

// The bench's fixed choices.
const (
	benchPIN     = "482915" // neither repeated nor sequential digits
	benchBank    = "PGB"
	benchOpening = 100_000_000 // minor units in each account: 1,000,000.00
)

// benchPhone is one virtual phone. The watcher owns seen; the phone's
// goroutine reads texts from inbox.
type benchPhone struct {
	idx     int
	num     string // E.164
	local   string // as a payer types it: without +86
	account string
	inbox   chan benchText

	seen     int  // MTs of this phone the watcher has read
	awaiting int  // texts expected, under watcher.mu
	listed   bool // in watcher.order, under watcher.mu
}

// benchText is a whole text a phone received and when the SMSC accepted
// its last part.
type benchText struct {
	text string
	at   time.Time
	ussd bool // a USSD screen, not an SMS
}

// benchTransfer is one transfer as the phones see it.
type benchTransfer struct {
	payer, payee *benchPhone
	cents        int64
	ref          string

	sent, confirmed  time.Time // SEND queued at the SMSC; its reply accepted there
	pinSent, codeAt  time.Time // OK <PIN> queued; the code SMS accepted
	codeSent, authAt time.Time // the code queued; "Confirmed" accepted
	payerAt, payeeAt time.Time // the receipts, under watcher.mu
	done             chan struct{}
	pinBusy          int // OK <PIN> answered "send it again" (every PIN worker busy)
}

func (t *benchTransfer) amount() string { return flows.Amount(t.cents).String() }

// runBench runs the whole bench: simulators, gateway, setup, transfers,
// checks, report.
func runBench(ctx context.Context, env *cmdEnv, o benchOptions) (err error) {
	// Goroutines inherit profiler labels from the one that starts them:
	// the simulators, the gateway and the driver each get their own.
	labelled := func(part string, f func(context.Context)) {
		pprof.Do(ctx, pprof.Labels("part", part), f)
	}
	dir, err := os.MkdirTemp("", "paygate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	secret := randomHex(32)
	var (
		bk    *banksim.Bank
		bkSrv *banksim.Server
		sim   *smsc.Server
	)
	labelled("simulators", func(context.Context) {
		bk, err = banksim.New(banksim.Config{Secret: bank.Secret(secret), Code: benchBank, Currency: "CNY"})
		if err != nil {
			return
		}
		if bkSrv, err = banksim.Listen("127.0.0.1:0", bk); err != nil {
			return
		}
		// The SMSC's window holds every phone's message under way, so
		// that the gateway, not the simulator, sets the pace.
		sim, err = smsc.Listen(smsc.Config{Window: max(512, 2*o.concurrency), RetryInterval: time.Second, DLR: o.dlr, Logger: env.log})
	})
	if bkSrv != nil {
		defer bkSrv.Close()
	}
	if err != nil {
		return err
	}
	defer sim.Close()

	phones, err := benchPhones(bk, o.phones, 20_000_000, "62220300")
	if err != nil {
		return err
	}

	dbURL, dbDesc, dropSchema, err := benchDatabase(ctx, o.database)
	if err != nil {
		return err
	}
	defer dropSchema()
	cfgPath, err := writeBenchConfig(dir, o, dbURL, sim.Addr(), bkSrv.URL(), secret)
	if err != nil {
		return err
	}

	rep := &benchReport{
		Phones: o.phones, Transfers: o.transfers, Concurrency: o.concurrency,
		Database: dbDesc, PINMemoryKiB: o.pinMemoryKiB, PINTime: o.pinTime, Spawned: o.spawn, DLR: o.dlr,
	}
	var gw *benchGateway
	labelled("gateway", func(gctx context.Context) {
		gw, err = startBenchGateway(gctx, env, o, cfgPath)
	})
	if err != nil {
		return err
	}
	defer gw.stop()
	rep.GatewayPID = gw.pid()
	if err := gw.waitBound(ctx, sim, o.bindWait); err != nil {
		return err
	}

	w := newWatcher(sim, phones, o.poll)
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	labelled("driver", func(dctx context.Context) {
		go func() { defer close(watchDone); w.run(wctx) }()
	})
	defer func() { stopWatch(); <-watchDone }()

	// Setup: link every phone and set its PIN. Not measured.
	setupStart := time.Now()
	if err := benchSetup(ctx, w, sim, phones, o); err != nil {
		return err
	}
	rep.SetupSeconds = time.Since(setupStart).Seconds()
	rep.PINHashStored = storedPINParams(ctx, dir, dbURL)
	if want := fmt.Sprintf("m=%d,t=%d,p=1", o.pinMemoryKiB, o.pinTime); rep.PINHashStored != want {
		rep.PINHashWarning = fmt.Sprintf("the gateway stored PIN hashes with %s, not the %s asked for (pin_hash in its config)", rep.PINHashStored, want)
	}

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	gwAddr := gw.httpAddr()
	metrics0 := scrapeMetrics(ctx, gwAddr)
	gwCPU0, selfCPU0, mach0 := gw.cpu(), selfCPU(), machineCPU()
	var res benchResults
	labelled("driver", func(dctx context.Context) {
		res = benchTransfers(dctx, w, sim, phones, o)
	})
	gwCPU1, selfCPU1, mach1 := gw.cpu(), selfCPU(), machineCPU()
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if gwCPU0 >= 0 && gwCPU1 >= 0 {
		rep.GatewayCPUSeconds = (gwCPU1 - gwCPU0).Seconds()
	}
	rep.BenchCPUSeconds = (selfCPU1 - selfCPU0).Seconds()
	rep.Cores = runtime.NumCPU()
	if mach0.ok && mach1.ok {
		rep.MachineBusySeconds = (mach1.busy - mach0.busy).Seconds()
		rep.MachineIOWaitSeconds = (mach1.iowait - mach0.iowait).Seconds()
		// What neither the gateway nor the bench used: a database server,
		// the kernel's loopback work, and anything else running, which
		// spoils the measurement.
		rep.OtherCPUSeconds = math.Round((rep.MachineBusySeconds-rep.GatewayCPUSeconds-rep.BenchCPUSeconds)*100) / 100
	}

	// Late MTs (a duplicate receipt, a stray reply) show up in a last
	// look, once the watcher has stopped.
	time.Sleep(300 * time.Millisecond)
	stopWatch()
	<-watchDone
	w.scanAll()
	res.fill(rep)
	rep.Gateway = gatewayStats(metrics0, scrapeMetrics(ctx, gwAddr), len(res.completed))
	rep.Watcher = w.stats()
	for _, p := range phones {
		for len(p.inbox) > 0 {
			rep.addFailure(fmt.Sprintf("phone %d: unexpected SMS after its transfers: %q", p.idx, maskDigits((<-p.inbox).text)))
			rep.UnexpectedTexts++
		}
	}
	rep.UnexpectedTexts += w.unexpected
	rep.DuplicateReceipts = w.duplicates
	for _, f := range w.failures {
		rep.addFailure(f)
	}
	benchCheckBank(rep, bk, res.completed)
	rep.OK = rep.Failed == 0 && rep.NotRun == 0 && rep.UnexpectedTexts == 0 && rep.DuplicateReceipts == 0 && rep.Bank.OK &&
		len(rep.Gateway.Unfinished) == 0

	if o.out == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.print(env.stdout)
	}
	if !rep.OK {
		return errors.New("bench: failures or a ledger mismatch (see the report)")
	}
	return nil
}

// benchDatabase returns the gateway's database URL for --database, how
// to name it in the report, and what drops what it made.
func benchDatabase(ctx context.Context, db string) (dsn, desc string, drop func(), err error) {
	if db == "sqlite" {
		return "sqlite:paygate.db", "sqlite (synchronous=FULL)", func() {}, nil
	}
	u, err := url.Parse(db)
	if err != nil {
		return "", "", nil, usageErrorf("--database: %v", err)
	}
	desc = "postgres " + u.Host + u.Path
	admin, err := sql.Open("pgx", db)
	if err != nil {
		return "", "", nil, err
	}
	defer admin.Close()
	schema := fmt.Sprintf("bench_%d_%s", time.Now().Unix(), randomHex(4))
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", "", nil, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), desc + " (schema " + schema + ")", func() {
		if a, err := sql.Open("pgx", db); err == nil {
			a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	}, nil
}

// writeBenchConfig writes the gateway's keys and config file in dir and
// returns the config's path.
func writeBenchConfig(dir string, o benchOptions, dbURL, smscAddr, bankURL, secret string) (string, error) {
	files := map[string]string{
		"data.key":    randomHex(32),
		"pepper.key":  randomHex(32),
		"bank.secret": secret,
		"admin.token": "bench " + randomHex(16),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content+"\n"), 0o600); err != nil {
			return "", err
		}
	}
	// A phone sends the same "OK <PIN>" for each of its transfers: with
	// --dedupe-window at its default, the shipped one, the second is a new
	// message only because it answers another prompt (SPEC.md §5.5).
	cfg := fmt.Sprintf(`database: %s
http: { listen: 127.0.0.1:0 }
timezone: Asia/Shanghai
dedupe_window: %s
pin_hash: { memory_kib: %d, time: %d, workers: %d }
limits: { per_transfer: 100000000, per_day: 100000000000 }
smsc:
  - name: bench
    addr: %s
    system_id: paygate
    password: secret
    window: 512
    rate: 0
    receipts: %t
bank:
  kind: http
  url: %s
  secret_file: bank.secret
  code: %s
keys: { pepper_file: pepper.key, data_key_file: data.key }
admin: { token_file: admin.token }
`, yamlQuote(dbURL), o.dedupeWindow, o.pinMemoryKiB, o.pinTime, o.pinWorkers, smscAddr, o.dlr, yamlQuote(bankURL), benchBank)
	path := filepath.Join(dir, "paygate.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o600)
}

// storedPINParams returns the argon2id parameters of a PIN hash the
// gateway stored ("m=19456,t=2,p=1"), read from its database: what the
// PIN screen really cost, whatever the config asked.
func storedPINParams(ctx context.Context, dir, dbURL string) string {
	driver, dsn := "pgx", dbURL
	if strings.HasPrefix(dbURL, "sqlite:") {
		driver, dsn = "sqlite3", "file:"+filepath.Join(dir, strings.TrimPrefix(dbURL, "sqlite:"))+"?mode=ro"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return "unknown: " + err.Error()
	}
	defer db.Close()
	var phc string
	if err := db.QueryRowContext(ctx, "SELECT pin_hash FROM subscribers WHERE pin_hash <> '' LIMIT 1").Scan(&phc); err != nil {
		return "unknown: " + err.Error()
	}
	// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>
	if f := strings.Split(phc, "$"); len(f) == 6 && f[1] == "argon2id" {
		return f[3]
	}
	return "unknown: not an argon2id PHC string"
}

// gatewayMetrics is one scrape of the gateway's /metrics: every sample
// by its series, "name{labels}".
type gatewayMetrics map[string]float64

// scrapeMetrics reads the gateway's /metrics; nil if it cannot.
func scrapeMetrics(ctx context.Context, addr string) gatewayMetrics {
	if addr == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	m := gatewayMetrics{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[line[:i]] = v
		}
	}
	return m
}

// sum adds the samples of metric name that carry every one of labels
// (each written `key="value"`).
func (m gatewayMetrics) sum(name string, labels ...string) float64 {
	var t float64
	for series, v := range m {
		n, l, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		ok := true
		for _, want := range labels {
			ok = ok && strings.Contains(l, want)
		}
		if ok {
			t += v
		}
	}
	return t
}

// gatewayStats are what the gateway's counters say about the measured
// transfers: before and after them.
func gatewayStats(before, after gatewayMetrics, completed int) benchGatewayStats {
	if before == nil || after == nil {
		return benchGatewayStats{}
	}
	d := func(name string, labels ...string) float64 {
		return after.sum(name, labels...) - before.sum(name, labels...)
	}
	per := func(v float64) float64 {
		if completed == 0 {
			return 0
		}
		return math.Round(v/float64(completed)*100) / 100
	}
	meanMs := func(name string, labels ...string) float64 {
		n := d(name+"_count", labels...)
		if n == 0 {
			return 0
		}
		return math.Round(d(name+"_sum", labels...)/n*1e5) / 100
	}
	st := benchGatewayStats{
		Scraped:            true,
		StepsPerTransfer:   per(d("paygate_store_steps_total")),
		CommitsPerTransfer: per(d("paygate_store_commits_total")),
		MTsPerTransfer:     per(d("paygate_mt_total", `result="sent"`)),
		InboundSMSMs:       meanMs("paygate_inbound_seconds", `kind="sms"`),
		PINWorkMs:          meanMs("paygate_pin_check_seconds"),
		BankCallMs:         meanMs("paygate_bank_call_seconds"),
		SubmitMs:           meanMs("paygate_smpp_submit_seconds"),
		Throttled:          int(d("paygate_smpp_throttled_total")),
		MTRetries:          int(d("paygate_mt_total", `result="retry"`)),
	}
	if c := d("paygate_store_commits_total"); c > 0 {
		st.StepsPerCommit = math.Round(d("paygate_store_steps_total")/c*100) / 100
	}
	// Every transfer should be completed once the phones saw both
	// receipts: any other state left is a transfer stuck or lost.
	for series, v := range after {
		n, l, _ := strings.Cut(series, "{")
		if n == "paygate_transfers" && v != 0 && !strings.Contains(l, `state="completed"`) {
			st.Unfinished = append(st.Unfinished, fmt.Sprintf("%s %v", strings.TrimSuffix(l, "}"), v))
		}
	}
	slices.Sort(st.Unfinished)
	return st
}

// yamlQuote writes s as a single-quoted YAML scalar.
func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// benchGateway is the gateway under test: a child process or in this
// one.
type benchGateway struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    *serveOutput
	gw     *gateway.Gateway
}

// serveOutput reads the HTTP address off what `paygate serve` prints.
type serveOutput struct {
	mu    sync.Mutex
	line  []byte
	addr  string
	found chan struct{}
}

func (o *serveOutput) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.addr != "" {
		return len(b), nil
	}
	o.line = append(o.line, b...)
	for {
		i := bytes.IndexByte(o.line, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(o.line[:i])
		o.line = o.line[i+1:]
		// "paygate serving HTTP on http://127.0.0.1:41234, binding to …"
		if rest, ok := strings.CutPrefix(line, "paygate serving HTTP on http://"); ok {
			o.addr, _, _ = strings.Cut(rest, ",")
			o.line = nil
			close(o.found)
			return len(b), nil
		}
	}
}

// httpAddr returns the gateway's HTTP address, or "" when it is not
// known within a few seconds.
func (g *benchGateway) httpAddr() string {
	if g.gw != nil {
		return g.gw.HTTPAddr()
	}
	select {
	case <-g.out.found:
		g.out.mu.Lock()
		defer g.out.mu.Unlock()
		return g.out.addr
	case <-time.After(5 * time.Second):
		return ""
	}
}

func startBenchGateway(ctx context.Context, env *cmdEnv, o benchOptions, cfgPath string) (*benchGateway, error) {
	if o.spawn {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(self, "--log-level", "warn", "serve", "--config", cfgPath)
		out := &serveOutput{found: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = out, env.stderr
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting the gateway: %w", err)
		}
		g := &benchGateway{cmd: cmd, exited: make(chan struct{}), out: out}
		go func() { cmd.Wait(); close(g.exited) }()
		return g, nil
	}
	cfg, err := config.Load(cfgPath, func(string) string { return "" })
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("the bench's gateway config: %w", err)
	}
	gw, err := gateway.New(ctx, gateway.Options{
		Config: cfg, Logger: slog.New(minLevel{env.log.Handler(), slog.LevelWarn}),
		PINHash: flows.Argon2Params{Time: uint32(o.pinTime), MemoryKiB: uint32(o.pinMemoryKiB), Threads: 1, KeyLen: flows.DefaultArgon2.KeyLen},
	})
	if err != nil {
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	return &benchGateway{gw: gw}, nil
}

func (g *benchGateway) pid() int {
	if g.cmd != nil {
		return g.cmd.Process.Pid
	}
	return 0
}

func (g *benchGateway) waitBound(ctx context.Context, sim *smsc.Server, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for len(sim.Binds()) == 0 {
		if g.exited != nil {
			select {
			case <-g.exited:
				return fmt.Errorf("the gateway exited before it bound: %v", g.cmd.ProcessState)
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no gateway bound to %s within %v", sim.Addr(), wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// cpu returns the CPU time the child gateway has used, or -1 when it is
// not known (in this process, or not on Linux).
func (g *benchGateway) cpu() time.Duration {
	if g.cmd == nil {
		return -1
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", g.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime and stime are fields 14 and 15, in clock ticks (100 Hz).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func (g *benchGateway) stop() {
	if g.gw != nil {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		g.gw.Close(ctx)
		return
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
	case <-time.After(shutdownTimeout):
		g.cmd.Process.Kill()
		<-g.exited
	}
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineTimes are the machine's CPU times from /proc/stat: busy (all
// but idle and iowait) and iowait, summed over its cores.
type machineTimes struct {
	busy, iowait time.Duration
	ok           bool
}

// machineCPU reads them; ok is false where there is no /proc/stat.
func machineCPU() machineTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machineTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return machineTimes{}
	}
	var m machineTimes
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return machineTimes{}
		}
		d := time.Duration(n) * 10 * time.Millisecond // USER_HZ is 100
		switch i {
		case 3: // idle
		case 4:
			m.iowait += d
		case 8, 9: // guest times are in user and nice already
		default:
			m.busy += d
		}
	}
	m.ok = true
	return m
}

// minLevel drops records below level: the in-process gateway logs as the
// spawned one does with --log-level warn.
type minLevel struct {
	slog.Handler
	level slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}
func (h minLevel) WithAttrs(a []slog.Attr) slog.Handler {
	return minLevel{h.Handler.WithAttrs(a), h.level}
}
func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.Handler.WithGroup(name), h.level}
}

// watcher reads what the SMSC accepted for the phones and hands each
// whole text on: receipts to their transfer, anything else to the
// phone's inbox. The simulator has no callback for MTs, only a count
// and per-phone lists, so it waits for the count to grow, gathers for a
// moment (poll), then reads the lists of the phones that expect a text —
// oldest expectation first, stopping once it has found every new MT —
// and every phone's only when some MT went elsewhere. Its cost grows
// with the MTs and the phones under way, not with the run's length.
type watcher struct {
	sim    *smsc.Server
	phones []*benchPhone
	poll   time.Duration
	reasm  *smpp.Reassembler
	total  int // MTs read, all phones

	mu         sync.Mutex
	order      []*benchPhone // phones expecting texts, oldest first
	refs       map[string]*benchTransfer
	unexpected int
	duplicates int
	failures   []string

	// Counters of the watcher's own work.
	wakes, reads, fullScans int
	busy                    time.Duration
}

func newWatcher(sim *smsc.Server, phones []*benchPhone, poll time.Duration) *watcher {
	return &watcher{sim: sim, phones: phones, poll: poll, reasm: smpp.NewReassembler(smpp.ReassemblerConfig{}),
		refs: map[string]*benchTransfer{}}
}

// expect says that p is about to receive n more texts.
func (w *watcher) expect(p *benchPhone, n int) {
	w.mu.Lock()
	p.awaiting += n
	if !p.listed {
		p.listed = true
		w.order = append(w.order, p)
	}
	w.mu.Unlock()
}

// track makes t's receipts known to the watcher.
func (w *watcher) track(t *benchTransfer) {
	w.mu.Lock()
	w.refs[t.ref] = t
	w.mu.Unlock()
}

func (w *watcher) run(ctx context.Context) {
	for ctx.Err() == nil {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		err := w.sim.WaitMTs(wctx, w.total+1)
		cancel()
		if err != nil {
			continue
		}
		if w.poll > 0 {
			time.Sleep(w.poll)
		}
		start := time.Now()
		w.wakes++
		n := w.count()
		w.scanExpecting(n)
		if w.total < n {
			w.scanAll()
		}
		if w.total < n {
			// MTs to no bench phone, or the simulator trimmed its list.
			w.total = n
		}
		w.busy += time.Since(start)
	}
}

// count returns how many MTs the SMSC accepted, at least w.total+1: it
// asks "at least n?" with an expired context, doubling then bisecting.
func (w *watcher) count() int {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	atLeast := func(n int) bool { return w.sim.WaitMTs(done, n) == nil }
	lo, step := w.total+1, 1 // atLeast(lo) holds
	for atLeast(lo + step) {
		lo += step
		step *= 2
	}
	hi := lo + step // !atLeast(hi)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if atLeast(mid) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// scanExpecting reads the phones that expect texts until it has found
// MTs up to n in all.
func (w *watcher) scanExpecting(n int) {
	w.mu.Lock()
	keep := w.order[:0]
	for _, p := range w.order {
		if p.awaiting > 0 {
			keep = append(keep, p)
		} else {
			p.listed = false
		}
	}
	clear(w.order[len(keep):])
	w.order = keep
	snapshot := slices.Clone(keep)
	w.mu.Unlock()
	for _, p := range snapshot {
		if w.total >= n {
			return
		}
		w.read(p)
	}
}

// scanAll reads every phone.
func (w *watcher) scanAll() {
	w.fullScans++
	for _, p := range w.phones {
		w.read(p)
	}
}

// read takes p's new MTs.
func (w *watcher) read(p *benchPhone) {
	w.reads++
	mts := w.sim.Received(p.num)
	if len(mts) < p.seen {
		p.seen = 0 // the simulator trimmed the list: cannot happen at 4 transfers a phone
	}
	for _, mt := range mts[p.seen:] {
		w.total++
		d := smpp.NewDelivery("", mt.PDU)
		if d.Parts == 1 {
			_, ussd := d.USSD()
			w.text(p, benchText{text: d.Text(), at: mt.At, ussd: ussd})
			continue
		}
		parts, done, err := w.reasm.Add(mt.PDU.Source.Addr, p.num, d.Concat, d.Payload)
		if err == nil && done {
			w.text(p, benchText{text: smpp.DecodeText(d.Coding, bytes.Join(parts, nil)), at: mt.At})
		}
	}
	p.seen = len(mts)
}

// text hands on one whole text p received.
func (w *watcher) text(p *benchPhone, t benchText) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p.awaiting = max(p.awaiting-1, 0)
	ref, side, ok := flows.ParseReceipt(t.text)
	if !ok {
		select {
		case p.inbox <- t:
		default:
			w.unexpected++
			w.fail("phone %d: SMS nobody reads: %q", p.idx, maskDigits(t.text))
		}
		return
	}
	tr := w.refs[ref]
	switch {
	case tr == nil:
		w.unexpected++
		w.fail("phone %d: receipt of an unknown ref %s: %q", p.idx, ref, maskDigits(t.text))
	case side == flows.ReceiptPayer && tr.payer == p:
		if !tr.payerAt.IsZero() {
			w.duplicates++
			w.fail("phone %d: second payer receipt of ref %s", p.idx, ref)
			return
		}
		tr.payerAt = t.at
	case side == flows.ReceiptPayee && tr.payee == p:
		if !tr.payeeAt.IsZero() {
			w.duplicates++
			w.fail("phone %d: second payee receipt of ref %s", p.idx, ref)
			return
		}
		tr.payeeAt = t.at
	default:
		w.unexpected++
		w.fail("phone %d: receipt of ref %s meant for another phone: %q", p.idx, ref, maskDigits(t.text))
		return
	}
	if !tr.payerAt.IsZero() && !tr.payeeAt.IsZero() {
		close(tr.done)
	}
}

func (w *watcher) fail(format string, args ...any) {
	if len(w.failures) < 20 {
		w.failures = append(w.failures, fmt.Sprintf(format, args...))
	}
}

func (w *watcher) stats() benchWatcherStats {
	return benchWatcherStats{Wakes: w.wakes, PhoneReads: w.reads, FullScans: w.fullScans, BusySeconds: w.busy.Seconds()}
}

// next waits for p's next text.
func (p *benchPhone) next(ctx context.Context, timeout time.Duration) (benchText, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case txt := <-p.inbox:
		return txt, nil
	case <-t.C:
		return benchText{}, fmt.Errorf("no SMS within %v", timeout)
	case <-ctx.Done():
		return benchText{}, ctx.Err()
	}
}

// send queues a text from p to the short code.
func (p *benchPhone) send(sim *smsc.Server, text string) ([]uint64, error) {
	return sim.InjectText(p.num, "3030", text, false)
}

// expectText waits for p's next text and matches it against key's
// template; it returns the submatches by placeholder name.
func (p *benchPhone) expectText(ctx context.Context, timeout time.Duration, key flows.Key) (benchText, map[string]string, error) {
	txt, err := p.next(ctx, timeout)
	if err != nil {
		return txt, nil, fmt.Errorf("waiting for %s: %w", key, err)
	}
	m, ok := flows.MatchText(flows.English, key, txt.text)
	if !ok {
		return txt, nil, fmt.Errorf("waiting for %s, got %q", key, maskDigits(txt.text))
	}
	return txt, m, nil
}

// benchSetup links every phone's account and sets its PIN.
func benchSetup(ctx context.Context, w *watcher, sim *smsc.Server, phones []*benchPhone, o benchOptions) error {
	sem := make(chan struct{}, o.concurrency)
	errs := make(chan error, len(phones))
	var wg sync.WaitGroup
	for _, p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := benchLink(ctx, w, sim, p, o.timeout); err != nil {
				errs <- fmt.Errorf("setup of phone %d: %w", p.idx, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
		if len(all) == 5 {
			break
		}
	}
	return errors.Join(all...)
}

func benchLink(ctx context.Context, w *watcher, sim *smsc.Server, p *benchPhone, timeout time.Duration) error {
	w.expect(p, 2) // "We are checking", then the code
	if _, err := p.send(sim, "LINK "+benchBank+" "+p.account); err != nil {
		return err
	}
	if _, _, err := p.expectText(ctx, timeout, flows.KeyLinkChecking); err != nil {
		return err
	}
	_, m, err := p.expectText(ctx, timeout, flows.KeyCodeLink)
	if err != nil {
		return err
	}
	w.expect(p, 1)
	if _, err := p.send(sim, m["code"]); err != nil {
		return err
	}
	if _, _, err := p.expectText(ctx, timeout, flows.KeyLinkedSetPIN); err != nil {
		return err
	}
	send := func(text string) error { _, err := p.send(sim, text); return err }
	txt, _, err := p.sendPIN(ctx, w, send, "PIN "+benchPIN+" "+benchPIN, timeout)
	if err != nil {
		return err
	}
	if _, ok := flows.MatchText(flows.English, flows.KeyPINSet, txt.text); !ok {
		return fmt.Errorf("waiting for %s, got %q", flows.KeyPINSet, maskDigits(txt.text))
	}
	return nil
}

// sendPIN sends text, which carries a PIN, and returns its reply. A reply
// that no PIN worker was free within pin_hash.max_wait (nothing counted)
// makes the phone send it again, as a person would, up to 20 times;
// busy is how many times.
func (p *benchPhone) sendPIN(ctx context.Context, w *watcher, send func(string) error, text string, timeout time.Duration) (txt benchText, busy int, err error) {
	for {
		w.expect(p, 1)
		if err := send(text); err != nil {
			return txt, busy, err
		}
		if txt, err = p.next(ctx, timeout); err != nil {
			return txt, busy, err
		}
		if _, again := flows.MatchText(flows.English, flows.KeyTryAgain, txt.text); !again || busy == 20 {
			return txt, busy, nil
		}
		busy++
	}
}

// benchResults are the measured transfers.
type benchResults struct {
	start, end  time.Time
	completed   []*benchTransfer
	failed      []string
	nFailed     int
	notRun      int
	moIDs       []uint64
	redelivered int
}

// benchTransfers runs the transfers: every phone its share, one at a
// time, at most o.concurrency phones at once.
func benchTransfers(ctx context.Context, w *watcher, sim *smsc.Server, phones []*benchPhone, o benchOptions) benchResults {
	var (
		mu  sync.Mutex
		res benchResults
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, o.concurrency)
	res.start = time.Now()
	for i, p := range phones {
		share := o.transfers / len(phones)
		if i < o.transfers%len(phones) {
			share++
		}
		if share == 0 {
			continue
		}
		payee := phones[(i+1)%len(phones)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range share {
				sem <- struct{}{}
				t := &benchTransfer{payer: p, payee: payee, cents: int64(100 + 17*p.idx%50 + k), done: make(chan struct{})}
				ids, err := benchTransfer1(ctx, w, sim, t, o.timeout)
				<-sem
				mu.Lock()
				res.moIDs = append(res.moIDs, ids...)
				if err != nil {
					res.nFailed++
					res.notRun += share - k - 1
					if len(res.failed) < 20 {
						res.failed = append(res.failed, fmt.Sprintf("phone %d, transfer %d of %d: %v (the phone stops)", p.idx, k+1, share, err))
					}
					mu.Unlock()
					return
				}
				res.completed = append(res.completed, t)
				if end := t.end(); end.After(res.end) {
					res.end = end
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, id := range res.moIDs {
		if _, attempts, _ := sim.MOStatus(id); attempts > 1 {
			res.redelivered++
		}
	}
	return res
}

// benchTransfer1 runs one transfer from SEND to both receipts and
// returns the ids of the MOs it queued.
func benchTransfer1(ctx context.Context, w *watcher, sim *smsc.Server, t *benchTransfer, timeout time.Duration) ([]uint64, error) {
	var ids []uint64
	send := func(text string) error {
		got, err := t.payer.send(sim, text)
		ids = append(ids, got...)
		return err
	}
	p := t.payer
	w.expect(p, 1)
	t.sent = time.Now()
	if err := send(fmt.Sprintf("SEND %s %s", t.payee.local, t.amount())); err != nil {
		return ids, err
	}
	txt, m, err := p.expectText(ctx, timeout, flows.KeySendConfirm)
	if err != nil {
		return ids, fmt.Errorf("SEND: %w", err)
	}
	if m["amount"] != t.amount() {
		return ids, fmt.Errorf("SEND of %s confirmed as %s", t.amount(), m["amount"])
	}
	t.ref, t.confirmed = m["ref"], txt.at
	w.track(t)

	t.pinSent = time.Now()
	txt, t.pinBusy, err = p.sendPIN(ctx, w, send, "OK "+benchPIN, timeout)
	if err != nil {
		return ids, fmt.Errorf("ref %s, OK <PIN>: %w", t.ref, err)
	}
	m, ok := flows.MatchText(flows.English, flows.KeyCodeSend, txt.text)
	if !ok {
		return ids, fmt.Errorf("ref %s, OK <PIN>: waiting for %s, got %q", t.ref, flows.KeyCodeSend, maskDigits(txt.text))
	}
	if m["ref"] != t.ref {
		return ids, fmt.Errorf("ref %s, OK <PIN>: a code for ref %s", t.ref, m["ref"])
	}
	t.codeAt = txt.at

	w.expect(p, 2)       // "Confirmed", then the payer's receipt
	w.expect(t.payee, 1) // the payee's receipt
	t.codeSent = time.Now()
	if err := send(m["code"]); err != nil {
		return ids, err
	}
	txt, m, err = p.expectText(ctx, timeout, flows.KeyAuthorized)
	if err != nil {
		return ids, fmt.Errorf("ref %s, the code: %w", t.ref, err)
	}
	if m["ref"] != t.ref {
		return ids, fmt.Errorf("ref %s, the code: confirmed ref %s", t.ref, m["ref"])
	}
	t.authAt = txt.at
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return ids, nil
	case <-timer.C:
		w.mu.Lock()
		defer w.mu.Unlock()
		return ids, fmt.Errorf("ref %s: receipts within %v: payer's %v, payee's %v", t.ref, timeout, !t.payerAt.IsZero(), !t.payeeAt.IsZero())
	case <-ctx.Done():
		return ids, ctx.Err()
	}
}

// end is when the transfer completed: its later receipt. Call it once
// done is closed.
func (t *benchTransfer) end() time.Time {
	if t.payerAt.After(t.payeeAt) {
		return t.payerAt
	}
	return t.payeeAt
}

// fill writes the results into rep.
func (r *benchResults) fill(rep *benchReport) {
	rep.Completed = len(r.completed)
	rep.Failed = r.nFailed
	rep.NotRun = r.notRun
	rep.RedeliveredMOs = r.redelivered
	for _, t := range r.completed {
		rep.PINBusyReplies += t.pinBusy
	}
	for _, f := range r.failed {
		rep.addFailure(f)
	}
	if len(r.completed) == 0 {
		return
	}
	rep.WallSeconds = r.end.Sub(r.start).Seconds()
	rep.PerSecond = float64(len(r.completed)) / rep.WallSeconds
	screens := []struct {
		name string
		d    func(t *benchTransfer) time.Duration
	}{
		{"SEND → confirm", func(t *benchTransfer) time.Duration { return t.confirmed.Sub(t.sent) }},
		{"OK <PIN> → code SMS", func(t *benchTransfer) time.Duration { return t.codeAt.Sub(t.pinSent) }},
		{"code → Confirmed", func(t *benchTransfer) time.Duration { return t.authAt.Sub(t.codeSent) }},
		{"Confirmed → both receipts", func(t *benchTransfer) time.Duration { return t.end().Sub(t.authAt) }},
		{"SEND → both receipts", func(t *benchTransfer) time.Duration { return t.end().Sub(t.sent) }},
	}
	for _, s := range screens {
		ds := make([]time.Duration, len(r.completed))
		for i, t := range r.completed {
			ds[i] = s.d(t)
		}
		slices.Sort(ds)
		rep.Latency = append(rep.Latency, benchLatency{
			Name: s.name,
			P50:  ms(quantile(ds, 0.50)), P90: ms(quantile(ds, 0.90)), P99: ms(quantile(ds, 0.99)), Max: ms(ds[len(ds)-1]),
		})
	}
}

// quantile is the nearest-rank q-quantile of sorted ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

// benchCheckBank compares the bank's ledger with what the phones saw:
// as many completed transfers, each of a completed ref exactly once,
// with its amount between the right accounts; and the bank's own audit.
func benchCheckBank(rep *benchReport, bk *banksim.Bank, completed []*benchTransfer) {
	st := bk.Stats()
	rep.Bank.Completed, rep.Bank.Rejected, rep.Bank.Replays, rep.Bank.Conflicts = st.Completed, st.Rejected, st.Replays, st.Conflicts
	var problems []string
	if err := bk.Audit(); err != nil {
		rep.Bank.Audit = err.Error()
		problems = append(problems, "audit: "+err.Error())
	} else {
		rep.Bank.Audit = "ok"
	}
	// Postings by transfer id; the debit names the payer and the ref.
	type legs struct {
		ref           string
		debit, credit string
		amount        int64
	}
	byID := map[string]*legs{}
	for _, p := range bk.Ledger() {
		l := byID[p.TransferID]
		if l == nil {
			l = &legs{ref: p.Reference}
			byID[p.TransferID] = l
		}
		if p.Amount < 0 {
			l.debit = p.Account.Number.Reveal()
		} else if p.Account.Number.Reveal() != bk.FeeAccount().Number.Reveal() {
			l.credit, l.amount = p.Account.Number.Reveal(), p.Amount
		}
	}
	byRef := map[string][]*legs{}
	for _, l := range byID {
		byRef[l.ref] = append(byRef[l.ref], l)
	}
	seen := map[string]bool{}
	for _, t := range completed {
		seen[t.ref] = true
		ls := byRef[t.ref]
		switch {
		case len(ls) == 0:
			problems = append(problems, fmt.Sprintf("ref %s: both receipts, but no transfer at the bank", t.ref))
		case len(ls) > 1:
			problems = append(problems, fmt.Sprintf("ref %s: %d transfers at the bank", t.ref, len(ls)))
		case ls[0].debit != t.payer.account || ls[0].credit != t.payee.account || ls[0].amount != t.cents:
			problems = append(problems, fmt.Sprintf("ref %s: the bank moved %s from %s to %s, the phones saw %s from %s to %s",
				t.ref, flows.Amount(ls[0].amount), mask(ls[0].debit), mask(ls[0].credit), t.amount(), mask(t.payer.account), mask(t.payee.account)))
		}
	}
	for ref := range byRef {
		if !seen[ref] {
			problems = append(problems, fmt.Sprintf("ref %s: completed at the bank, but no phone saw both receipts", ref))
		}
	}
	if st.Completed != len(completed) {
		problems = append(problems, fmt.Sprintf("the bank completed %d transfers, the phones saw %d", st.Completed, len(completed)))
	}
	slices.Sort(problems)
	if len(problems) > 20 {
		problems = append(problems[:20], fmt.Sprintf("… and %d more", len(problems)-20))
	}
	rep.Bank.Problems = problems
	rep.Bank.OK = len(problems) == 0
}

// mask shows the last 4 digits of an account number.
func mask(n string) string { return flows.AccountNumber(n).Masked() }

// maskDigits hides runs of 4 or more digits (codes, PINs, accounts) in a
// text the report quotes.
func maskDigits(s string) string {
	return digitRun.ReplaceAllStringFunc(s, func(d string) string { return strings.Repeat("#", len(d)) })
}

var digitRun = regexp.MustCompile(`[0-9]{4,}`)

// benchReport is what the bench prints; --out json prints it as is.
type benchReport struct {
	Phones            int            `json:"phones"`
	Transfers         int            `json:"transfers"`
	Concurrency       int            `json:"concurrency"`
	Database          string         `json:"database"`
	PINMemoryKiB      int            `json:"pin_memory_kib"`
	PINTime           int            `json:"pin_time"`
	PINHashStored     string         `json:"pin_hash_stored"` // as the gateway's database holds them
	PINHashWarning    string         `json:"pin_hash_warning,omitempty"`
	Spawned           bool           `json:"spawned"`
	DLR               bool           `json:"dlr"`
	GatewayPID        int            `json:"gateway_pid,omitempty"`
	SetupSeconds      float64        `json:"setup_seconds"`
	Completed         int            `json:"completed"`
	Failed            int            `json:"failed"`
	NotRun            int            `json:"not_run"` // left undone by phones that failed
	WallSeconds       float64        `json:"wall_seconds"`
	PerSecond         float64        `json:"transfers_per_second"`
	Latency           []benchLatency `json:"latency_ms"`
	GatewayCPUSeconds float64        `json:"gateway_cpu_seconds,omitempty"`
	BenchCPUSeconds   float64        `json:"bench_cpu_seconds"`
	// The whole machine's, every process (a database server too).
	Cores                int               `json:"cores"`
	MachineBusySeconds   float64           `json:"machine_busy_cpu_seconds,omitempty"`
	MachineIOWaitSeconds float64           `json:"machine_iowait_seconds,omitempty"`
	OtherCPUSeconds      float64           `json:"other_cpu_seconds"`
	RedeliveredMOs       int               `json:"redelivered_mos"`  // MOs the SMSC had to deliver more than once
	PINBusyReplies       int               `json:"pin_busy_replies"` // OK <PIN> answered "send it again": no PIN worker free within pin_hash.max_wait
	UnexpectedTexts      int               `json:"unexpected_texts"`
	DuplicateReceipts    int               `json:"duplicate_receipts"`
	Failures             []string          `json:"failures,omitempty"`
	Bank                 benchBankCheck    `json:"bank"`
	Gateway              benchGatewayStats `json:"gateway"`
	Watcher              benchWatcherStats `json:"watcher"`
	OK                   bool              `json:"ok"`
}

type benchLatency struct {
	Name string  `json:"name"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

type benchBankCheck struct {
	Completed int      `json:"completed"`
	Rejected  int      `json:"rejected"`
	Replays   int      `json:"replays"`   // a transfer id sent again, answered with its first result
	Conflicts int      `json:"conflicts"` // a known id with another body
	Audit     string   `json:"audit"`
	Problems  []string `json:"problems,omitempty"`
	OK        bool     `json:"ok"`
}

type benchGatewayStats struct {
	Scraped            bool     `json:"scraped"` // its /metrics answered before and after
	StepsPerTransfer   float64  `json:"steps_per_transfer"`
	CommitsPerTransfer float64  `json:"commits_per_transfer"`
	StepsPerCommit     float64  `json:"steps_per_commit"`
	MTsPerTransfer     float64  `json:"mts_per_transfer"`
	InboundSMSMs       float64  `json:"inbound_sms_mean_ms"` // deliver_sm read → acknowledgement decided
	PINWorkMs          float64  `json:"pin_work_mean_ms"`    // waiting for the pool included
	BankCallMs         float64  `json:"bank_call_mean_ms"`
	SubmitMs           float64  `json:"submit_mean_ms"`
	Throttled          int      `json:"throttled"`
	MTRetries          int      `json:"mt_retries"`
	Unfinished         []string `json:"unfinished,omitempty"` // transfers in a state other than completed at the end
}

type benchWatcherStats struct {
	Wakes       int     `json:"wakes"`
	PhoneReads  int     `json:"phone_reads"`
	FullScans   int     `json:"full_scans"`
	BusySeconds float64 `json:"busy_seconds"`
}

func (r *benchReport) addFailure(s string) {
	if len(r.Failures) < 20 {
		r.Failures = append(r.Failures, s)
	}
}

func (r *benchReport) print(w io.Writer) {
	where := "in this process"
	if r.Spawned {
		where = fmt.Sprintf("spawned, pid %d", r.GatewayPID)
	}
	fmt.Fprintf(w, "paygate bench: %d phones, %d transfers, %d at once; %s; PIN hash argon2id m=%d KiB t=%d p=1; gateway %s\n",
		r.Phones, r.Transfers, r.Concurrency, r.Database, r.PINMemoryKiB, r.PINTime, where)
	fmt.Fprintf(w, "setup (LINK, code, PIN for every phone): %.2fs; PIN hashes stored with %s\n", r.SetupSeconds, r.PINHashStored)
	if r.PINHashWarning != "" {
		fmt.Fprintf(w, "WARNING: %s: the PIN screen below is at their cost\n", r.PINHashWarning)
	}
	fmt.Fprintf(w, "%d completed, %d failed, %d not run, in %.2fs: %.1f transfers/s\n", r.Completed, r.Failed, r.NotRun, r.WallSeconds, r.PerSecond)
	if len(r.Latency) > 0 {
		fmt.Fprintf(w, "latency, ms (queued at the SMSC → accepted there)   p50      p90      p99      max\n")
		for _, l := range r.Latency {
			fmt.Fprintf(w, "  %-48s %8.2f %8.2f %8.2f %8.2f\n", l.Name, l.P50, l.P90, l.P99, l.Max)
		}
	}
	if r.GatewayCPUSeconds > 0 {
		fmt.Fprintf(w, "CPU over the transfers: gateway %.1fs, bench (simulators, phones) %.1fs, in %.1fs wall\n", r.GatewayCPUSeconds, r.BenchCPUSeconds, r.WallSeconds)
	} else {
		fmt.Fprintf(w, "CPU over the transfers: this process (gateway, simulators, phones) %.1fs, in %.1fs wall\n", r.BenchCPUSeconds, r.WallSeconds)
	}
	if r.MachineBusySeconds > 0 && r.WallSeconds > 0 {
		fmt.Fprintf(w, "machine: %.2f of %d cores busy, %.2f of them neither gateway nor bench (a database server, other processes); %.2f cores' worth in iowait\n",
			r.MachineBusySeconds/r.WallSeconds, r.Cores, r.OtherCPUSeconds/r.WallSeconds, r.MachineIOWaitSeconds/r.WallSeconds)
	}
	fmt.Fprintf(w, "MOs the SMSC delivered more than once: %d; unexpected SMS: %d; duplicate receipts: %d; PIN busy, sent again: %d\n", r.RedeliveredMOs, r.UnexpectedTexts, r.DuplicateReceipts, r.PINBusyReplies)
	fmt.Fprintf(w, "bank: %d completed, %d rejected, %d replays, %d conflicts; audit %s\n", r.Bank.Completed, r.Bank.Rejected, r.Bank.Replays, r.Bank.Conflicts, r.Bank.Audit)
	if r.Bank.OK {
		fmt.Fprintf(w, "ledger check ok: every transfer the phones saw complete is at the bank once, with its amount and accounts, and nothing else is\n")
	} else {
		fmt.Fprintf(w, "ledger check FAILED:\n")
		for _, p := range r.Bank.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	if g := r.Gateway; g.Scraped {
		fmt.Fprintf(w, "gateway (its /metrics), per transfer: %.2f steps in %.2f commits (%.1f steps a commit), %.2f MTs sent; means: inbound SMS %.2f ms, PIN work %.2f ms (pool wait included), bank call %.2f ms, submit_sm %.2f ms; %d throttled, %d MT retries\n",
			g.StepsPerTransfer, g.CommitsPerTransfer, g.StepsPerCommit, g.MTsPerTransfer, g.InboundSMSMs, g.PINWorkMs, g.BankCallMs, g.SubmitMs, g.Throttled, g.MTRetries)
		if len(g.Unfinished) > 0 {
			fmt.Fprintf(w, "transfers NOT completed at the gateway: %s\n", strings.Join(g.Unfinished, ", "))
		} else {
			fmt.Fprintf(w, "every transfer at the gateway is completed\n")
		}
	} else {
		fmt.Fprintf(w, "gateway /metrics: not read (no per-step figures, no check for transfers left unfinished)\n")
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "failure: %s\n", f)
	}
	fmt.Fprintf(w, "SMS watcher: %d wakes, %d phone reads, %d full scans, %.2fs busy\n", r.Watcher.Wakes, r.Watcher.PhoneReads, r.Watcher.FullScans, r.Watcher.BusySeconds)
}

// USSD mode (--ussd).

// benchMaxSessions bounds --sessions: two rounds of distinct 2-byte
// its_session_info ids.
const benchMaxSessions = 30000

// benchUSSDCode is the service code the bench phones dial: the
// gateway's default ussd_code.
const benchUSSDCode = "*384#"

// benchUSSDRelease is the ussd_service_op a phone ends a session with:
// the gateway ends a session, without a screen, on any op but 1 (dial)
// and 18 (answer).
const benchUSSDRelease byte = 0x13

// benchUSSDReport is what bench --ussd prints; --out json prints it as is.
type benchUSSDReport struct {
	Sessions           int             `json:"sessions"`
	ThinkMs            float64         `json:"think_max_ms"`
	Database           string          `json:"database"`
	PINMemoryKiB       int             `json:"pin_memory_kib"`
	PINTime            int             `json:"pin_time"`
	PINWorkers         int             `json:"pin_workers"` // config pin_hash.workers; 0: the gateway's default
	PINHashStored      string          `json:"pin_hash_stored"`
	Spawned            bool            `json:"spawned"`
	GatewayPID         int             `json:"gateway_pid,omitempty"`
	Cores              int             `json:"cores"`
	LiveSessions       int             `json:"live_sessions"` // in the gateway's database, every phone standing at the amount screen
	MenuScreens        int             `json:"menu_screens"`
	Menu               benchLatency    `json:"menu_screens_ms"` // dial, 1, payee, amount: from the MO queued at the SMSC to the screen accepted there
	PINScreens         int             `json:"pin_screens"`
	PIN                benchLatency    `json:"pin_screens_ms"`
	PINChecked         int             `json:"pin_checked"` // answered "a code is on its way"
	PINBusy            int             `json:"pin_busy"`    // answered "could not check, nothing counted": no PIN worker free within pin_hash.max_wait
	PINPhaseSeconds    float64         `json:"pin_phase_seconds"`
	PINChecksPerSecond float64         `json:"pin_checks_per_second"` // checked over the release, amount screens and think time included
	CodeSMS            int             `json:"code_sms"`              // one-time codes texted to the phones whose PIN was checked
	Memory             benchUSSDMemory `json:"memory"`
	GatewayCPUSeconds  float64         `json:"gateway_cpu_seconds,omitempty"` // over the release
	BenchCPUSeconds    float64         `json:"bench_cpu_seconds"`             // this process, over the release
	// From the gateway's /metrics at the end: its GOMAXPROCS (the PIN
	// pool adds a P per worker) and its longest GC stop-the-world among
	// the last 256 collections.
	GatewayProcs      int      `json:"gateway_gomaxprocs,omitempty"`
	GatewayGCPauseMax float64  `json:"gateway_gc_pause_max_ms,omitempty"`
	Failed            int      `json:"failed"` // phones whose dialogue went wrong
	Failures          []string `json:"failures,omitempty"`
	OK                bool     `json:"ok"`
}

// benchUSSDMemory is the resident memory (VmRSS) of the gateway's
// process (with --spawn; else of the bench's whole process), at four
// moments. The sessions live in the database, so what they cost the
// process is the growth from warm to live: the warm round ran as many
// sessions the same way and ended them, so buffers, goroutines, caches
// and the heap have grown to their working size. From idle to live adds
// that first growth too.
type benchUSSDMemory struct {
	Scope              string  `json:"scope"`
	IdleRSSMiB         float64 `json:"idle_rss_mib"`                   // bound, before any session
	WarmRSSMiB         float64 `json:"warm_rss_mib"`                   // after a first round of as many sessions, all ended
	LiveRSSMiB         float64 `json:"live_rss_mib"`                   // every session of the second round live
	PeakRSSMiB         float64 `json:"peak_rss_mib"`                   // VmHWM at the end: the PIN checks' memory included
	PerThousandMiB     float64 `json:"rss_mib_per_1000_sessions"`      // (live − warm) per 1,000 sessions
	ColdPerThousandMiB float64 `json:"cold_rss_mib_per_1000_sessions"` // (live − idle) per 1,000 sessions
	// From the gateway's /metrics, live − warm: its Go heap in use
	// (garbage not yet collected included) and goroutines.
	HeapPerThousandMiB float64 `json:"heap_inuse_mib_per_1000_sessions"`
	GoroutinesLive     int     `json:"goroutines_live_minus_warm"`
	WarmLiveSessions   int     `json:"warm_live_sessions"` // sessions left in the database after the warm round: 0
	// The Go runtime's share of the gateway's memory at idle, warm and
	// live (its /metrics): what is not in it is C's (SQLite) and code.
	GoIdle benchGoMemory `json:"go_idle"`
	GoWarm benchGoMemory `json:"go_warm"`
	GoLive benchGoMemory `json:"go_live"`
}

// benchGoMemory is the Go runtime's memory, MiB, from go_memstats_*.
type benchGoMemory struct {
	HeapInuse float64 `json:"heap_inuse_mib"` // spans with objects, garbage included
	HeapFree  float64 `json:"heap_free_mib"`  // free spans not yet given back to the OS
	Stacks    float64 `json:"stacks_mib"`
	Other     float64 `json:"other_mib"` // the runtime's own structures: GC metadata, buffers, caches
}

func goMemory(m gatewayMetrics) benchGoMemory {
	if m == nil {
		return benchGoMemory{}
	}
	mib := func(v float64) float64 { return math.Round(v/(1<<20)*100) / 100 }
	return benchGoMemory{
		HeapInuse: mib(m.sum("go_memstats_heap_inuse_bytes")),
		HeapFree:  mib(m.sum("go_memstats_heap_idle_bytes") - m.sum("go_memstats_heap_released_bytes")),
		Stacks:    mib(m.sum("go_memstats_stack_sys_bytes")),
		Other: mib(m.sum("go_memstats_mspan_sys_bytes") + m.sum("go_memstats_mcache_sys_bytes") + m.sum("go_memstats_buck_hash_sys_bytes") +
			m.sum("go_memstats_gc_sys_bytes") + m.sum("go_memstats_other_sys_bytes")),
	}
}

// runBenchUSSD runs the USSD bench: simulators, the phones written to
// the database, the gateway, a warm round, the measured round, report.
func runBenchUSSD(ctx context.Context, env *cmdEnv, o benchOptions) error {
	dir, err := os.MkdirTemp("", "paygate-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	secret := randomHex(32)
	bk, err := banksim.New(banksim.Config{Secret: bank.Secret(secret), Code: benchBank, Currency: "CNY"})
	if err != nil {
		return err
	}
	bkSrv, err := banksim.Listen("127.0.0.1:0", bk)
	if err != nil {
		return err
	}
	defer bkSrv.Close()
	sim, err := smsc.Listen(smsc.Config{Window: max(512, 2*o.sessions), RetryInterval: time.Second, Logger: env.log})
	if err != nil {
		return err
	}
	defer sim.Close()

	phones, err := benchPhones(bk, o.sessions, 30_000_000, "62220301")
	if err != nil {
		return err
	}
	dbURL, dbDesc, dropSchema, err := benchDatabase(ctx, o.database)
	if err != nil {
		return err
	}
	defer dropSchema()
	cfgPath, err := writeBenchConfig(dir, o, dbURL, sim.Addr(), bkSrv.URL(), secret)
	if err != nil {
		return err
	}
	if err := benchSeedUSSD(ctx, dir, dbURL, phones, o); err != nil {
		return fmt.Errorf("writing the phones to the database: %w", err)
	}

	rep := &benchUSSDReport{
		Sessions: o.sessions, ThinkMs: ms(o.think), Database: dbDesc, PINMemoryKiB: o.pinMemoryKiB, PINTime: o.pinTime,
		PINWorkers: o.pinWorkers, Spawned: o.spawn, Cores: runtime.NumCPU(),
		PINHashStored: storedPINParams(ctx, dir, dbURL),
	}
	gw, err := startBenchGateway(ctx, env, o, cfgPath)
	if err != nil {
		return err
	}
	defer gw.stop()
	rep.GatewayPID = gw.pid()
	if err := gw.waitBound(ctx, sim, o.bindWait); err != nil {
		return err
	}
	rep.Memory.Scope = "gateway process"
	if !o.spawn {
		rep.Memory.Scope = "bench process: gateway, simulators and phones (use --spawn for the gateway's own)"
	}
	gwAddr := gw.httpAddr()

	w := newWatcher(sim, phones, o.poll)
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); w.run(wctx) }()
	defer func() { stopWatch(); <-watchDone }()

	// What the process holds once it has settled: screens sent, the
	// steps' goroutines gone.
	const settle = time.Second
	memAt := func() (rss, hwm int64, err error) {
		time.Sleep(settle)
		return procMemory(gw.pid())
	}
	idle, _, err := memAt()
	if err != nil {
		return fmt.Errorf("reading the gateway's memory: %w", err)
	}
	rep.Memory.GoIdle = goMemory(scrapeMetrics(ctx, gwAddr))

	// The warm round: every phone walks to the amount screen and hangs up.
	var fail benchFailures
	benchUSSDRound(ctx, w, sim, phones, o, 0, &fail, nil)
	warm, _, err := memAt()
	if err != nil {
		return err
	}
	if rep.Memory.WarmLiveSessions, err = benchLiveSessions(ctx, dir, dbURL); err != nil {
		return err
	}
	m0 := scrapeMetrics(ctx, gwAddr)

	// The measured round: every phone stands at the amount screen, then
	// answers it and the PIN screen.
	res := &benchUSSDResults{standing: make(chan struct{}, len(phones)), release: make(chan struct{})}
	rctx, stopRound := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); benchUSSDRound(rctx, w, sim, phones, o, 1, &fail, res) }()
	defer func() { stopRound(); <-done }() // on an early return: the phones stop waiting for the release
	for range phones {
		<-res.standing
	}
	live, _, err := memAt()
	if err != nil {
		return err
	}
	m1 := scrapeMetrics(ctx, gwAddr)
	if rep.LiveSessions, err = benchLiveSessions(ctx, dir, dbURL); err != nil {
		return err
	}
	gwCPU0, selfCPU0 := gw.cpu(), selfCPU()
	res.released = time.Now()
	close(res.release)
	<-done
	gwCPU1, selfCPU1 := gw.cpu(), selfCPU()
	_, peak, err := procMemory(gw.pid())
	if err != nil {
		return err
	}
	if m := scrapeMetrics(ctx, gwAddr); m != nil {
		rep.GatewayProcs = int(m.sum("go_sched_gomaxprocs_threads"))
		rep.GatewayGCPauseMax = math.Round(m.sum("go_gc_duration_seconds", `quantile="1"`)*1e5) / 100
	}

	mib := func(b int64) float64 { return math.Round(float64(b)/(1<<20)*100) / 100 }
	per1000 := func(b float64) float64 { return math.Round(b/float64(o.sessions)*1000/(1<<20)*100) / 100 }
	rep.Memory.IdleRSSMiB, rep.Memory.WarmRSSMiB, rep.Memory.LiveRSSMiB, rep.Memory.PeakRSSMiB = mib(idle), mib(warm), mib(live), mib(peak)
	rep.Memory.PerThousandMiB = per1000(float64(live - warm))
	rep.Memory.ColdPerThousandMiB = per1000(float64(live - idle))
	if m0 != nil && m1 != nil {
		rep.Memory.HeapPerThousandMiB = per1000(m1.sum("go_memstats_heap_inuse_bytes") - m0.sum("go_memstats_heap_inuse_bytes"))
		rep.Memory.GoroutinesLive = int(m1.sum("go_goroutines") - m0.sum("go_goroutines"))
	}
	rep.Memory.GoWarm, rep.Memory.GoLive = goMemory(m0), goMemory(m1)
	if gwCPU0 >= 0 && gwCPU1 >= 0 {
		rep.GatewayCPUSeconds = (gwCPU1 - gwCPU0).Seconds()
	}
	rep.BenchCPUSeconds = (selfCPU1 - selfCPU0).Seconds()
	res.fill(rep)
	rep.Failed, rep.Failures = fail.n, fail.msgs
	if rep.LiveSessions < o.sessions {
		rep.addFailure(fmt.Sprintf("%d live sessions in the database with every phone standing, want %d", rep.LiveSessions, o.sessions))
	}
	if rep.Memory.WarmLiveSessions != 0 {
		rep.addFailure(fmt.Sprintf("%d sessions still live after the warm round ended them", rep.Memory.WarmLiveSessions))
	}
	if rep.CodeSMS != rep.PINChecked {
		rep.addFailure(fmt.Sprintf("%d PINs checked, %d one-time code SMS", rep.PINChecked, rep.CodeSMS))
	}
	rep.OK = rep.Failed == 0 && len(rep.Failures) == 0

	if o.out == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		rep.print(env.stdout)
	}
	if !rep.OK {
		return errors.New("bench: USSD dialogues went wrong (see the report)")
	}
	return nil
}

func (r *benchUSSDReport) addFailure(s string) {
	if len(r.Failures) < 20 {
		r.Failures = append(r.Failures, s)
	}
}

// benchFailures gathers the phones' failures.
type benchFailures struct {
	mu   sync.Mutex
	n    int
	msgs []string
}

func (f *benchFailures) add(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if len(f.msgs) < 20 {
		f.msgs = append(f.msgs, fmt.Sprintf(format, args...))
	}
}

// benchUSSDResults are the measured round's: latencies, PIN outcomes.
type benchUSSDResults struct {
	standing chan struct{} // a phone is at the amount screen, or has failed before it
	release  chan struct{} // closed: answer the amount
	released time.Time

	mu            sync.Mutex
	menu, pin     []time.Duration
	checked, busy int
	codes         int
	lastPIN       time.Time
}

func (r *benchUSSDResults) fill(rep *benchUSSDReport) {
	lat := func(name string, ds []time.Duration) benchLatency {
		if len(ds) == 0 {
			return benchLatency{Name: name}
		}
		slices.Sort(ds)
		return benchLatency{Name: name, P50: ms(quantile(ds, 0.50)), P90: ms(quantile(ds, 0.90)), P99: ms(quantile(ds, 0.99)), Max: ms(ds[len(ds)-1])}
	}
	rep.MenuScreens, rep.PINScreens = len(r.menu), len(r.pin)
	rep.Menu = lat("menu screens (dial, 1, payee, amount)", r.menu)
	rep.PIN = lat("PIN screen", r.pin)
	rep.PINChecked, rep.PINBusy, rep.CodeSMS = r.checked, r.busy, r.codes
	if r.lastPIN.After(r.released) {
		rep.PINPhaseSeconds = math.Round(r.lastPIN.Sub(r.released).Seconds()*1000) / 1000
		rep.PINChecksPerSecond = math.Round(float64(r.checked)/r.lastPIN.Sub(r.released).Seconds()*10) / 10
	}
}

// benchUSSDRound runs a session on every phone at once: dial, 1 (Send
// money), the next phone's number, each answered after a random think.
// With res nil (the warm round) each phone then hangs up; else it says
// it stands, waits for the release, answers the amount and the PIN, and
// waits for its one-time code SMS when the PIN was checked. round
// chooses the session ids.
func benchUSSDRound(ctx context.Context, w *watcher, sim *smsc.Server, phones []*benchPhone, o benchOptions, round int, fail *benchFailures, res *benchUSSDResults) {
	var wg sync.WaitGroup
	for i, p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stood := false
			defer func() {
				if res != nil && !stood {
					res.standing <- struct{}{}
				}
			}()
			id := round*len(phones) + i
			s := &benchUSSDSession{w: w, sim: sim, p: p, id: []byte{byte(id >> 8), byte(id)}, o: o}
			var menu []time.Duration
			for _, step := range []struct {
				op         byte
				text, want string
			}{
				{smpp.USSDPSSRIndication, benchUSSDCode, "Send money"},
				{smpp.USSDUSSRConfirm, "1", "Payee"},
				{smpp.USSDUSSRConfirm, phones[(i+1)%len(phones)].local, "Amount"},
			} {
				got, d, err := s.screen(ctx, step.op, step.text)
				if err == nil && !strings.Contains(got.text, step.want) {
					err = fmt.Errorf("%q", maskDigits(got.text))
				}
				if err != nil {
					fail.add("phone %d, round %d, answering %q: %v", p.idx, round, maskDigits(step.text), err)
					return
				}
				menu = append(menu, d)
			}
			if res == nil {
				if err := sim.WaitDelivered(ctx, sim.InjectUSSD(p.num, benchUSSDCode, benchUSSDRelease, smpp.TagITSSessionInfo, s.id, "")); err != nil {
					fail.add("phone %d: hanging up: %v", p.idx, err)
				}
				return
			}
			stood = true
			res.standing <- struct{}{}
			select {
			case <-res.release:
			case <-ctx.Done():
				return
			}
			got, d, err := s.screen(ctx, smpp.USSDUSSRConfirm, strconv.Itoa(5+i%50))
			if err == nil && !strings.Contains(got.text, "Enter PIN") {
				err = fmt.Errorf("%q", maskDigits(got.text))
			}
			if err != nil {
				fail.add("phone %d, answering the amount: %v", p.idx, err)
				return
			}
			menu = append(menu, d)
			got, pd, err := s.screen(ctx, smpp.USSDUSSRConfirm, benchPIN)
			if err != nil {
				fail.add("phone %d, answering the PIN: %v", p.idx, err)
				return
			}
			checked := strings.Contains(got.text, "code is on its way")
			busy := strings.Contains(got.text, "could not check")
			if !checked && !busy {
				fail.add("phone %d, answering the PIN: %q", p.idx, maskDigits(got.text))
			}
			if checked && s.sms == 0 {
				if err := s.waitSMS(ctx); err != nil {
					fail.add("phone %d: its one-time code: %v", p.idx, err)
				}
			}
			res.mu.Lock()
			defer res.mu.Unlock()
			res.menu = append(res.menu, menu...)
			res.pin = append(res.pin, pd)
			if got.at.After(res.lastPIN) {
				res.lastPIN = got.at
			}
			switch {
			case checked:
				res.checked++
				res.codes += min(s.sms, 1)
			case busy:
				res.busy++
			}
		}()
	}
	wg.Wait()
}

// benchUSSDSession is one phone's USSD session.
type benchUSSDSession struct {
	w   *watcher
	sim *smsc.Server
	p   *benchPhone
	id  []byte // its_session_info
	o   benchOptions
	sms int // SMS the phone received meanwhile (its one-time code)
}

// screen answers the session's screen (or dials) after a random think
// and returns the next screen and its latency: from the MO queued at the
// SMSC to the screen accepted there.
func (s *benchUSSDSession) screen(ctx context.Context, op byte, text string) (benchText, time.Duration, error) {
	if s.o.think > 0 {
		time.Sleep(mrand.N(s.o.think))
	}
	s.w.expect(s.p, 1)
	at := time.Now()
	s.sim.InjectUSSD(s.p.num, benchUSSDCode, op, smpp.TagITSSessionInfo, s.id, text)
	for {
		txt, err := s.p.next(ctx, s.o.timeout)
		if err != nil {
			return txt, 0, err
		}
		if txt.ussd {
			return txt, txt.at.Sub(at), nil
		}
		s.sms++ // the code SMS came first
		s.w.expect(s.p, 1)
	}
}

// waitSMS waits for the phone's next SMS.
func (s *benchUSSDSession) waitSMS(ctx context.Context) error {
	s.w.expect(s.p, 1)
	for {
		txt, err := s.p.next(ctx, s.o.timeout)
		if err != nil {
			return err
		}
		if !txt.ussd {
			s.sms++
			return nil
		}
		s.w.expect(s.p, 1)
	}
}

// benchSeedUSSD writes every phone into the gateway's database before it
// starts, linked to its bank account and with the bench PIN (hashed at
// --pin-memory-kib and --pin-time under the gateway's pepper): the
// sessions are measured, not the linking, and no PIN is hashed in the
// gateway before the release.
func benchSeedUSSD(ctx context.Context, dir, dbURL string, phones []*benchPhone, o benchOptions) error {
	key := func(name string) ([32]byte, error) {
		var k [32]byte
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return k, err
		}
		_, err = hex.Decode(k[:], bytes.TrimSpace(b))
		return k, err
	}
	dataKey, err := key("data.key")
	if err != nil {
		return err
	}
	pepper, err := key("pepper.key")
	if err != nil {
		return err
	}
	dsn := dbURL
	if name, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		dsn = "sqlite:" + filepath.Join(dir, name)
	}
	db, err := store.Open(ctx, dsn, store.Options{Keys: store.Keys{DataKey: dataKey}})
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		return err
	}
	h, err := flows.NewPINHasher(pepper[:], flows.Argon2Params{Time: uint32(o.pinTime), MemoryKiB: uint32(o.pinMemoryKiB), Threads: 1, KeyLen: flows.DefaultArgon2.KeyLen}, crand.Reader)
	if err != nil {
		return err
	}
	hash, err := h.Hash(benchPIN)
	if err != nil {
		return err
	}
	now := time.Now()
	for lo := 0; lo < len(phones); lo += 500 {
		err := db.Step(ctx, func(tx *store.Tx) error {
			for _, p := range phones[lo:min(lo+500, len(phones))] {
				ph := flows.MSISDN(p.num)
				if err := tx.SaveSubscriber(ctx, flows.Subscriber{Phone: ph, Created: now, PIN: hash}); err != nil {
					return err
				}
				a := &flows.Account{Bank: benchBank, Number: flows.AccountNumber(p.account), Holder: flows.MaskName(fmt.Sprintf("Bench Holder%d", p.idx)), Default: true, Linked: now}
				if err := tx.SaveAccount(ctx, ph, a); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// benchSQL opens the gateway's database for the bench's own queries:
// read-only for SQLite. ph is its first placeholder.
func benchSQL(dir, dbURL string) (db *sql.DB, ph string, err error) {
	if name, ok := strings.CutPrefix(dbURL, "sqlite:"); ok {
		db, err = sql.Open("sqlite3", "file:"+filepath.Join(dir, name)+"?mode=ro")
		return db, "?", err
	}
	db, err = sql.Open("pgx", dbURL)
	return db, "$1", err
}

// benchLiveSessions counts the USSD sessions live in the gateway's
// database.
func benchLiveSessions(ctx context.Context, dir, dbURL string) (int, error) {
	db, ph, err := benchSQL(dir, dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, "SELECT COUNT(*) FROM ussd_sessions WHERE expires_at >= "+ph, time.Now().UnixMicro()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting live USSD sessions: %w", err)
	}
	return n, nil
}

// procMemory returns the resident set (VmRSS) and its peak (VmHWM) of
// process pid (0: this one), in bytes, from /proc (Linux).
func procMemory(pid int) (rss, hwm int64, err error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("%s: no VmRSS", path)
	}
	return rss, hwm, nil
}

func (r *benchUSSDReport) print(w io.Writer) {
	where := "in this process"
	if r.Spawned {
		where = fmt.Sprintf("spawned, pid %d", r.GatewayPID)
	}
	workers := "the gateway's default"
	if r.PINWorkers > 0 {
		workers = strconv.Itoa(r.PINWorkers)
	}
	fmt.Fprintf(w, "paygate bench --ussd: %d live sessions over SMPP, answers after 0–%.0f ms; %s; PIN hash %s, %s PIN workers; %d cores; gateway %s\n",
		r.Sessions, r.ThinkMs, r.Database, r.PINHashStored, workers, r.Cores, where)
	fmt.Fprintf(w, "latency, ms (queued at the SMSC → accepted there)   count      p50      p90      p99      max\n")
	for _, l := range []struct {
		n int
		l benchLatency
	}{{r.MenuScreens, r.Menu}, {r.PINScreens, r.PIN}} {
		fmt.Fprintf(w, "  %-48s %5d %8.2f %8.2f %8.2f %8.2f\n", l.l.Name, l.n, l.l.P50, l.l.P90, l.l.P99, l.l.Max)
	}
	fmt.Fprintf(w, "PIN screens: %d checked (%d code SMS), %d refused busy; %.1f checks/s over the %.2fs from the release to the last PIN screen\n",
		r.PINChecked, r.CodeSMS, r.PINBusy, r.PINChecksPerSecond, r.PINPhaseSeconds)
	m := r.Memory
	fmt.Fprintf(w, "RSS of the %s, MiB: idle %.2f, after a warm round of %d ended sessions %.2f, with %d sessions live %.2f (%d in the database), peak %.2f\n",
		m.Scope, m.IdleRSSMiB, r.Sessions, m.WarmRSSMiB, r.Sessions, m.LiveRSSMiB, r.LiveSessions, m.PeakRSSMiB)
	fmt.Fprintf(w, "RSS per 1,000 live sessions: %.2f MiB (live − warm); %.2f MiB from idle (first use included)\n", m.PerThousandMiB, m.ColdPerThousandMiB)
	fmt.Fprintf(w, "gateway's /metrics, live − warm: Go heap in use %.2f MiB per 1,000 sessions (uncollected garbage included), %+d goroutines\n", m.HeapPerThousandMiB, m.GoroutinesLive)
	for _, g := range []struct {
		name string
		m    benchGoMemory
	}{{"idle", m.GoIdle}, {"warm", m.GoWarm}, {"live", m.GoLive}} {
		fmt.Fprintf(w, "  Go runtime, %s: heap in use %.2f, heap free but kept %.2f, stacks %.2f, other %.2f MiB\n", g.name, g.m.HeapInuse, g.m.HeapFree, g.m.Stacks, g.m.Other)
	}
	if r.GatewayCPUSeconds > 0 {
		fmt.Fprintf(w, "CPU over the release: gateway %.1fs, bench (simulators, phones) %.1fs\n", r.GatewayCPUSeconds, r.BenchCPUSeconds)
	}
	if r.GatewayProcs > 0 {
		fmt.Fprintf(w, "gateway: GOMAXPROCS %d; longest GC pause of its last 256 collections %.2f ms\n", r.GatewayProcs, r.GatewayGCPauseMax)
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "failure: %s\n", f)
	}
	if r.Failed > 0 {
		fmt.Fprintf(w, "%d phones failed\n", r.Failed)
	}
}

// benchPhones makes n phones, numbered from +86139<first>, each with an
// account <prefix><i+1> opened at bk with the bench's opening balance.
func benchPhones(bk *banksim.Bank, n, first int, prefix string) ([]*benchPhone, error) {
	phones := make([]*benchPhone, n)
	for i := range phones {
		p := &benchPhone{
			idx:     i,
			num:     fmt.Sprintf("+86139%08d", first+i),
			account: fmt.Sprintf("%s%08d", prefix, i+1),
			inbox:   make(chan benchText, 64),
		}
		p.local = strings.TrimPrefix(p.num, "+86")
		if err := bk.Open(banksim.Account{Bank: benchBank, Number: flows.AccountNumber(p.account),
			Holder: fmt.Sprintf("Bench Holder%d", i), Phone: flows.MSISDN(p.num), Balance: benchOpening}); err != nil {
			return nil, fmt.Errorf("opening the bank accounts: %w", err)
		}
		phones[i] = p
	}
	return phones, nil
}
