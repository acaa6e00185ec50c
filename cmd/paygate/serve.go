package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
)

// shutdownTimeout bounds the graceful stop of `serve` after SIGINT or
// SIGTERM: sends under way finish, handlers acknowledge, binds unbind.
const shutdownTimeout = 30 * time.Second

// serveGCPercent is the garbage collector's target for `serve` unless the
// operator sets GOGC: the gateway's live heap is small, so Go's default
// (100) collects several times a second under load, and each cycle's
// marking takes CPU from the one SQLite writer on a 2-core machine; at
// 5,000 commands/s that showed as a p99 twice the p99 with GC off. 400
// trades memory (cheap here) for 4× fewer cycles.
const serveGCPercent = 400

// tuneGC applies serveGCPercent unless GOGC is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
}

// defaultGatewayURL is where `serve` listens by default and `phone`
// looks for it.
const defaultGatewayURL = "http://127.0.0.1:8080"

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "run the gateway; with no --config, a sandbox with a simulated SMSC",
		help: "With --config, runs the gateway of that config file (SPEC.md §1; check\n" +
			"it first with `paygate config check`): migrates the database, binds to\n" +
			"every SMSC, serves HTTP, and on SIGINT or SIGTERM stops gracefully\n" +
			"(at most 30s) and exits 0. A config with problems is refused at once,\n" +
			"each problem printed with its key.\n\n" +
			"Without --config it starts a sandbox to try paygate on one machine: an\n" +
			"in-process SMSC simulator stands in for the carrier, the database is\n" +
			"paygate.db in --dir, with its keys data.key and pepper.key (created\n" +
			"when missing), and HTTP listens on 127.0.0.1:8080. The PAYGATE_ variables\n" +
			"of the config keys still apply (PAYGATE_LANGUAGE=zh, ...). Play the phones\n" +
			"from another terminal with `paygate phone sms` and `paygate phone ussd`.",
		setup: func(fs *flag.FlagSet) action {
			var path, dir, listen string
			fs.StringVar(&path, "config", "", "the config `file` to run; without one, run the sandbox")
			fs.StringVar(&dir, "dir", ".", "sandbox only: the `directory` of paygate.db and the key files")
			fs.StringVar(&listen, "listen", "", "sandbox only: the HTTP `address`, host:port (default http.listen: 127.0.0.1:8080)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				tuneGC(env.getenv)
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				if path == "" {
					return serveSandbox(ctx, env, dir, listen)
				}
				var sandboxOnly []string
				fs.Visit(func(f *flag.Flag) {
					if f.Name == "dir" || f.Name == "listen" {
						sandboxOnly = append(sandboxOnly, "--"+f.Name)
					}
				})
				if len(sandboxOnly) > 0 {
					return usageErrorf("%s: only for the sandbox; with --config, set database and http.listen in the file", strings.Join(sandboxOnly, " and "))
				}
				return serveConfig(ctx, env, path)
			}
		},
	}
}

// serveConfig runs the gateway of the config file at path until ctx ends.
func serveConfig(ctx context.Context, env *cmdEnv, path string) error {
	cfg, err := loadConfigArg(env, path, nil)
	if err != nil {
		return err
	}
	gw, err := gateway.New(ctx, gateway.Options{Config: cfg, Logger: env.log})
	if err != nil {
		return addrInUse(err, cfg.HTTP.Listen, "set another http.listen in "+path)
	}
	binds := make([]string, len(cfg.SMSC))
	for i, b := range cfg.SMSC {
		binds[i] = b.Name + "=" + b.Addr
	}
	env.log.Info("serving", "http", gw.HTTPAddr(), "binds", binds, "database", cfg.Database)
	fmt.Fprintf(env.stdout, "paygate serving HTTP on http://%s, binding to %s\n", gw.HTTPAddr(), strings.Join(binds, ", "))
	<-ctx.Done()
	return stop(env, gw.Close)
}

// serveSandbox runs the sandbox in dir until ctx ends.
func serveSandbox(ctx context.Context, env *cmdEnv, dir, listen string) error {
	// No file: the defaults with the environment's overrides.
	cfg, err := config.Load("", env.getenv)
	if err != nil {
		return reportProblems(env.stderr, "the sandbox config (defaults and PAYGATE_ variables)", err)
	}
	if listen == "" {
		listen = cfg.HTTP.Listen
	}
	// The reference module of `paygate phone` passes its integrity check.
	cfg.Secure.Allow = append(cfg.Secure.Allow, config.AllowedMeasurement{Measurement: phoneMeasurement().String(), Label: "paygate phone reference module v1"})
	sb, err := gateway.StartSandbox(ctx, gateway.SandboxOptions{Dir: dir, HTTPListen: listen, Logger: env.log, Config: &cfg})
	if err != nil {
		var ke *config.KeyError
		if errors.As(err, &ke) {
			return reportProblems(env.stderr, "the sandbox config (defaults and PAYGATE_ variables)", err)
		}
		return addrInUse(err, listen, "use --listen to choose another, e.g. --listen 127.0.0.1:8081")
	}
	addr := sb.Gateway().HTTPAddr()
	env.log.Info("serving", "http", addr, "sandbox", true, "smsc", sb.SMSC().Addr(), "database", sb.Config().Database)
	printBanner(env.stdout, sb, dir)
	<-ctx.Done()
	return stop(env, sb.Close)
}

// addrInUse explains an address that is taken, with what to do; other
// errors pass unchanged.
func addrInUse(err error, addr, hint string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("cannot listen on %s: the address is in use (another `paygate serve`?); %s", addr, hint)
	}
	return err
}

// stop closes what serve started, within shutdownTimeout.
func stop(env *cmdEnv, closeFn func(context.Context) error) error {
	env.log.Info("shutting down", "timeout", shutdownTimeout)
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := closeFn(ctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	env.log.Info("stopped")
	return nil
}

// printBanner tells a new user what is running and what to type next.
func printBanner(w io.Writer, sb *gateway.Sandbox, dir string) {
	cfg := sb.Config()
	url := "http://" + sb.Gateway().HTTPAddr()
	flags := ""
	if url != defaultGatewayURL {
		flags = " --gateway " + url
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	fmt.Fprintf(w, `paygate sandbox: HTTP on %s

This is a sandbox. A simulated SMSC (SMPP on %s) stands in for the
carrier and the phones are virtual: SMS commands go to %s, USSD is %s.
A simulated bank (%s) holds demo accounts for 13800138000 and 13900139000,
and merchant DEMO takes PAY. Data is kept in %s (paygate.db, data.key, pepper.key, bank.secret,
and admin.token, the sandbox operator's token for the admin API and paygate merchants).

Try it, in another terminal:
  paygate phone sms%s 13800138000 HELP
  paygate phone sms%s 13800138000 "LINK PGB 6222020000000001"   (then the code, then PIN)
  paygate phone ussd%s 13800138000
  paygate merchants list%s
(paygate is ./bin/paygate after make build, or go run ./cmd/paygate.)

Stop with Ctrl-C.
`, url, sb.SMSC().Addr(), cfg.ShortCode, cfg.USSDCode, bankDesc(sb), dir, flags, flags, flags, merchantFlags(url))
}

// merchantFlags are the flags `paygate merchants` needs to reach the
// sandbox at url from its directory.
func merchantFlags(url string) string {
	if url == defaultGatewayURL {
		return ""
	}
	return " --url " + url
}

// bankDesc says where the sandbox's bank simulator listens.
func bankDesc(sb *gateway.Sandbox) string {
	if b := sb.Bank(); b != nil {
		return b.URL()
	}
	return "not running: the config names a bank"
}
