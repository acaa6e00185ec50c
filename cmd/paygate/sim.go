package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// SMPP 3.4 §4.1.1 sizes system_id at 16 and password at 9 octets, NUL
// included: a longer value could never be presented by any ESME.
const (
	maxSystemIDLen = 15
	maxPasswordLen = 8
)

// simFaults are the fault switches of `sim smsc` set at start; the
// control API can change them later.
type simFaults struct {
	throttle  float64       // submits/s; 0 off
	msgqfull  float64       // share of submits answered ESME_RMSGQFUL
	delay     time.Duration // submit answers take delay/2 to delay
	dropEvery time.Duration // close every connection this often
	loseAcks  float64       // share of deliver_sm_resp OK ignored
	dups      float64       // share of MOs delivered twice
}

func (f *simFaults) register(fs *flag.FlagSet) {
	fs.Var(rateFlag{&f.throttle}, "throttle", "accept at most `RATE` submits a second and answer ESME_RTHROTTLED above it (0 off, else at least 1)")
	fs.Var(probFlag{&f.msgqfull}, "msgqfull", "answer a share `P` (0 to 1) of submits with ESME_RMSGQFUL")
	fs.Var(durationFlag{&f.delay}, "delay", "answer each submit after a random `DURATION` between half this and this (0 off)")
	fs.Var(durationFlag{&f.dropEvery}, "drop-every", "close every connection each `DURATION` (0 never)")
	fs.Var(probFlag{&f.loseAcks}, "lose-acks", "ignore a share `P` (0 to 1) of ESME_ROK deliver_sm_resp and deliver those MOs again")
	fs.Var(probFlag{&f.dups}, "duplicates", "deliver a share `P` (0 to 1) of MOs twice")
	// Off by default, as each usage says: no "(default 0)" in the help.
	for _, name := range []string{"throttle", "msgqfull", "delay", "drop-every", "lose-acks", "duplicates"} {
		fs.Lookup(name).DefValue = ""
	}
}

// apply switches the faults on.
func (f *simFaults) apply(sf *smsc.Faults) {
	if f.throttle > 0 {
		sf.SetThrottle(f.throttle)
	}
	if f.msgqfull > 0 {
		sf.SetRandomStatus(smpp.StatusMsgQFul, f.msgqfull)
	}
	sf.SetResponseDelay(f.delay)
	sf.SetDropEvery(f.dropEvery)
	sf.SetLoseAcks(f.loseAcks)
	sf.SetDuplicates(f.dups)
}

// String lists the active faults by their flags, or "none".
func (f *simFaults) String() string {
	var on []string
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	if f.throttle > 0 {
		on = append(on, "throttle "+g(f.throttle)+"/s")
	}
	if f.msgqfull > 0 {
		on = append(on, "msgqfull "+g(f.msgqfull))
	}
	if f.delay > 0 {
		on = append(on, "delay "+f.delay.String())
	}
	if f.dropEvery > 0 {
		on = append(on, "drop-every "+f.dropEvery.String())
	}
	if f.loseAcks > 0 {
		on = append(on, "lose-acks "+g(f.loseAcks))
	}
	if f.dups > 0 {
		on = append(on, "duplicates "+g(f.dups))
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ", ")
}

func simSMSCCommand() *command {
	return &command{
		name:    "smsc",
		summary: "run a standalone SMPP SMSC simulator",
		help: "Runs the SMSC simulator of package smpp/smsc on its own, for trying an\n" +
			"ESME by hand: it accepts binds with the given system_id and password,\n" +
			"answers submit_sm with message ids and, with --dlr, sends delivery\n" +
			"receipts. It serves until interrupted (SIGINT or SIGTERM).\n\n" +
			"The fault flags make it misbehave as carriers' SMSCs do. With --control\n" +
			"it also serves a JSON HTTP API (no authentication: keep it on loopback)\n" +
			"to inject MOs and USSD messages, read what each phone received, see an\n" +
			"MO's delivery, and switch faults at run time: POST /mo, POST /ussd,\n" +
			"GET /mo/{id}, GET /phones/{number}, GET and PUT /faults, GET /binds,\n" +
			"GET /stats.",
		setup: func(fs *flag.FlagSet) action {
			var cfg smsc.Config
			var faults simFaults
			var control string
			fs.StringVar(&cfg.Addr, "listen", "127.0.0.1:2775", "`address` to listen on, host:port (port 0 picks a free one)")
			fs.StringVar(&cfg.SystemID, "system-id", "paygate", "system_`id` an ESME must bind with (at most 15 characters)")
			fs.StringVar(&cfg.Password, "password", "secret", "`password` an ESME must bind with (at most 8 characters)")
			fs.BoolVar(&cfg.DLR, "dlr", false, "send a delivery receipt for every submit_sm that asks for one")
			fs.BoolVar(&cfg.HexIDs, "hex-ids", false, "hand out hexadecimal message ids instead of decimal ones")
			cfg.Receipts = "both"
			fs.Var(receiptsFlag{&cfg.Receipts}, "receipts", "`form` of delivery receipts: both (TLVs and text), tlv or text")
			fs.BoolVar(&cfg.Ref16, "ref16", false, "use 16-bit concatenation references in injected long MOs")
			cfg.RetryInterval = time.Second
			fs.Var(durationFlag{&cfg.RetryInterval}, "retry", "deliver an unacknowledged MO again after `DURATION` (more than 0)")
			faults.register(fs)
			fs.StringVar(&control, "control", "", "serve the control HTTP API on `address` host:port, e.g. 127.0.0.1:2776 (default off)")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				// smsc.Config reads "" and 0 as "use the default": refuse
				// them here, or --password "" would quietly mean "secret".
				switch {
				case cfg.Addr == "":
					return usageErrorf("--listen must not be empty")
				case cfg.SystemID == "" || len(cfg.SystemID) > maxSystemIDLen:
					return usageErrorf("--system-id must be 1 to %d characters", maxSystemIDLen)
				case cfg.Password == "" || len(cfg.Password) > maxPasswordLen:
					return usageErrorf("--password must be 1 to %d characters", maxPasswordLen)
				case cfg.RetryInterval <= 0:
					return usageErrorf("--retry must be more than 0")
				}
				if control != "" {
					if _, _, err := net.SplitHostPort(control); err != nil {
						return usageErrorf("--control %q is not host:port", control)
					}
				}
				log := env.log.With("component", "smsc")
				cfg.Logger = log
				srv, err := smsc.Listen(cfg)
				if err != nil {
					return err
				}
				faults.apply(srv.Faults())

				controlLine := "control API off"
				var ctl *controlServer
				if control != "" {
					ctl, err = startControl(control, srv, log)
					if err != nil {
						srv.Close()
						return err
					}
					controlLine = "control API on http://" + ctl.addr()
				}
				receipts := "off"
				if cfg.DLR {
					receipts = "on (" + cfg.Receipts + ")"
				}
				fmt.Fprintf(env.stdout, "SMSC simulator listening on %s (system_id %q, delivery receipts %s, faults: %s), %s\n",
					srv.Addr(), cfg.SystemID, receipts, &faults, controlLine)

				var serveErr error
				if ctl != nil {
					select {
					case <-ctx.Done():
					case <-ctl.done: // the listener failed
						serveErr = fmt.Errorf("control API: %w", ctl.err)
					}
					if err := ctl.shutdown(); err != nil {
						log.Warn("control API did not shut down cleanly", "err", err)
					}
				} else {
					<-ctx.Done()
				}
				if err := srv.Close(); err != nil && serveErr == nil {
					serveErr = fmt.Errorf("closing the SMSC simulator: %w", err)
				}
				if serveErr != nil {
					return serveErr
				}
				log.Info("smsc simulator stopped", "addr", srv.Addr())
				return nil
			}
		},
	}
}

// controlServer serves smsc.Server.ControlHandler over HTTP.
type controlServer struct {
	ln   net.Listener
	hs   *http.Server
	done chan struct{} // closed when Serve returns
	err  error         // what Serve returned; read after done
}

func startControl(addr string, srv *smsc.Server, log *slog.Logger) (*controlServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("control API: listening on %s: %w", addr, err)
	}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
		log.Warn("the control API has no authentication and listens beyond loopback", "addr", ln.Addr().String())
	}
	c := &controlServer{
		ln: ln,
		hs: &http.Server{
			Handler:           srv.ControlHandler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(c.done)
		c.err = c.hs.Serve(ln)
	}()
	return c, nil
}

func (c *controlServer) addr() string { return c.ln.Addr().String() }

// shutdown stops the server, letting requests under way finish for up to
// five seconds, and waits for Serve to return.
func (c *controlServer) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.hs.Shutdown(ctx)
	if err != nil {
		c.hs.Close()
	}
	<-c.done
	return err
}

// probFlag is a share between 0 and 1.
type probFlag struct{ p *float64 }

func (f probFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strconv.FormatFloat(*f.p, 'g', -1, 64)
}

func (f probFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0 && v <= 1) { // NaN fails both
		return errors.New("must be a number from 0 to 1")
	}
	*f.p = v
	return nil
}

// rateFlag is a rate per second: 0 (off) or at least 1. The simulator's
// token bucket holds one second's worth, so below 1/s it would never
// hold a whole token and would refuse every submit.
type rateFlag struct{ p *float64 }

func (f rateFlag) String() string { return probFlag(f).String() }

func (f rateFlag) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || (v != 0 && v < 1) {
		return errors.New("must be 0 (off) or a rate of at least 1 a second")
	}
	*f.p = v
	return nil
}

// durationFlag is a duration of 0 or more.
type durationFlag struct{ p *time.Duration }

func (f durationFlag) String() string {
	if f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f durationFlag) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return errors.New(`must be a duration of 0 or more, such as "500ms" or "2s"`)
	}
	*f.p = v
	return nil
}

// receiptsFlag is the form of delivery receipts.
type receiptsFlag struct{ p *string }

func (f receiptsFlag) String() string {
	if f.p == nil {
		return ""
	}
	return *f.p
}

func (f receiptsFlag) Set(s string) error {
	switch s {
	case "both", "tlv", "text":
		*f.p = s
		return nil
	}
	return errors.New("must be both, tlv or text")
}
