package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/paygate/paygate/smpp/smsc"
)

// loadCommand is the project's load tool: an SMSC simulator that offers
// MOs to a gateway over real SMPP and measures how fast and how soon the
// replies come back.
func loadCommand() *command {
	return &command{
		name:    "load",
		summary: "offer SMS commands to a gateway over SMPP and measure throughput and latency",
		help: "Starts an SMSC simulator on --listen, waits for a gateway to bind to it,\n" +
			"then offers --count MO commands (--text) at --rate per second (0: as fast\n" +
			"as the SMSC window allows) and measures each one's latency from the MO\n" +
			"being queued at the SMSC to its reply being accepted there. With --spawn\n" +
			"it starts the gateway itself, as a separate `paygate serve` process on a\n" +
			"fresh SQLite database in a temporary directory, and stops it at the end.",
		setup: func(fs *flag.FlagSet) action {
			var o loadOptions
			fs.StringVar(&o.listen, "listen", "127.0.0.1:2775", "SMPP `address` of the simulated SMSC the gateway binds to")
			fs.IntVar(&o.count, "count", 50000, "how many MOs to offer")
			fs.Float64Var(&o.rate, "rate", 0, "MOs per second to offer; 0 offers them all at once")
			fs.IntVar(&o.phones, "phones", 0, "distinct phones sending; 0 gives every MO its own phone")
			fs.StringVar(&o.text, "text", "BAL", "the command each MO carries")
			fs.IntVar(&o.window, "window", 512, "deliver_sm the SMSC keeps unacknowledged")
			fs.BoolVar(&o.spawn, "spawn", false, "start a gateway (paygate serve) in a temporary directory and stop it after")
			fs.DurationVar(&o.bindWait, "bind-wait", 30*time.Second, "how long to wait for the gateway to bind")
			return func(ctx context.Context, env *cmdEnv, args []string) error {
				if len(args) > 0 {
					return usageErrorf("unexpected argument %q", args[0])
				}
				switch {
				case o.count < 1:
					return usageErrorf("--count must be at least 1")
				case o.rate < 0:
					return usageErrorf("--rate must not be negative")
				case o.phones < 0:
					return usageErrorf("--phones must not be negative")
				case strings.TrimSpace(o.text) == "":
					return usageErrorf("--text must not be empty")
				}
				return runLoad(ctx, env, o)
			}
		},
	}
}

type loadOptions struct {
	listen        string
	count, phones int
	rate          float64
	text          string
	window        int
	spawn         bool
	bindWait      time.Duration
}

func runLoad(ctx context.Context, env *cmdEnv, o loadOptions) error {
	sim, err := smsc.Listen(smsc.Config{Addr: o.listen, Window: o.window, RetryInterval: time.Second, Logger: env.log})
	if err != nil {
		return err
	}
	defer sim.Close()
	if o.spawn {
		stop, err := spawnGateway(ctx, env, sim.Addr())
		if err != nil {
			return err
		}
		defer stop()
	} else {
		fmt.Fprintf(env.stdout, "SMSC simulator on %s (system_id paygate, password secret): start a gateway bound to it\n", sim.Addr())
	}
	deadline := time.Now().Add(o.bindWait)
	for len(sim.Binds()) == 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("no gateway bound to %s within %v", sim.Addr(), o.bindWait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Warm up: one command, answered, before the clock starts.
	sim.Inject(smsc.MO{From: "+8613700000000", To: "3030", Text: o.text})
	if _, err := sim.WaitReceived(ctx, "+8613700000000", 1); err != nil {
		return fmt.Errorf("warm-up command not answered: %w", err)
	}

	phone := func(i int) string {
		if o.phones > 0 {
			i %= o.phones
		}
		return fmt.Sprintf("+86138%08d", i)
	}
	sent := make([]time.Time, o.count)
	mtsBefore := len(sim.AllMTs())
	fmt.Fprintf(env.stdout, "offering %d × %q from %s at %s\n", o.count, o.text, phonesDesc(o.phones), rateDesc(o.rate))
	start := time.Now()
	for i := range o.count {
		if o.rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		text := o.text
		if o.phones > 0 {
			// A repeated text from one phone within dedupe_window is one
			// message: number each.
			text = fmt.Sprintf("%s %d", o.text, i)
		}
		sent[i] = time.Now()
		sim.Inject(smsc.MO{From: phone(i), To: "3030", Text: text})
	}
	// Each MO is answered by at least one MT; wait for the count of replies
	// the first MO's answer shows (a long reply is several MTs).
	partsPer := len(sim.Received(phone(0)))
	for partsPer == 0 {
		time.Sleep(time.Millisecond)
		partsPer = len(sim.Received(phone(0)))
	}
	if o.phones > 0 {
		partsPer = 1 // numbered texts may answer differently; count replies per MO below
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := waitReplies(wctx, sim, o, phone, mtsBefore, partsPer); err != nil {
		return err
	}
	elapsed := time.Since(start)

	// Latency: the k-th MO of a phone is answered by the phone's k-th reply
	// (first part).
	byPhone := map[string][]time.Time{}
	for i := range o.count {
		byPhone[phone(i)] = append(byPhone[phone(i)], sent[i])
	}
	var lat []time.Duration
	for p, times := range byPhone {
		var firsts []time.Time
		for _, mt := range sim.Received(p) {
			if mt.PDU.ESMClass&0x40 == 0 || firstPart(mt.PDU.ShortMessage) {
				firsts = append(firsts, mt.At)
			}
		}
		for k := range min(len(times), len(firsts)) {
			lat = append(lat, firsts[k].Sub(times[k]))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
	fmt.Fprintf(env.stdout, "%d commands answered in %v: %.0f commands/s\n", o.count, elapsed.Round(time.Millisecond), float64(o.count)/elapsed.Seconds())
	fmt.Fprintf(env.stdout, "latency (MO queued at the SMSC → reply accepted there): p50 %v  p90 %v  p99 %v  max %v\n",
		q(0.50).Round(10*time.Microsecond), q(0.90).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	return nil
}

func waitReplies(ctx context.Context, sim *smsc.Server, o loadOptions, phone func(int) string, before, partsPer int) error {
	if o.phones == 0 {
		return sim.WaitMTs(ctx, before+o.count*partsPer)
	}
	for {
		done := true
		for p := range o.phones {
			want := o.count / o.phones
			if p < o.count%o.phones {
				want++
			}
			if len(sim.Received(phone(p))) < want {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for replies: %w", ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// firstPart reports whether a short message with a UDH is part 1 of its
// concatenated message.
func firstPart(sm []byte) bool {
	if len(sm) < 6 {
		return true
	}
	switch sm[1] {
	case 0x00:
		return sm[5] == 1
	case 0x08:
		return len(sm) > 6 && sm[6] == 1
	}
	return true
}

func phonesDesc(n int) string {
	if n == 0 {
		return "a new phone each"
	}
	return fmt.Sprintf("%d phones", n)
}

func rateDesc(r float64) string {
	if r == 0 {
		return "the SMSC window's pace"
	}
	return fmt.Sprintf("%.0f/s", r)
}

// spawnGateway starts `paygate serve` (this binary) on a fresh database in
// a temporary directory, bound to the simulator at addr, and returns what
// stops it.
func spawnGateway(ctx context.Context, env *cmdEnv, addr string) (func(), error) {
	dir, err := os.MkdirTemp("", "paygate-load-")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"data.key", "pepper.key"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(randomHex(32)+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("load "+randomHex(16)+"\n"), 0o600); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("database: sqlite:paygate.db\nhttp: { listen: 127.0.0.1:0 }\nsmsc:\n  - name: load\n    addr: %s\n    system_id: paygate\n    password: secret\n    window: 512\n    rate: 0\nbank: { kind: sim }\n", addr)
	cfgPath := filepath.Join(dir, "paygate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "--log-level", "warn", "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, env.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the gateway: %w", err)
	}
	fmt.Fprintf(env.stdout, "gateway started: pid %d, database %s\n", cmd.Process.Pid, filepath.Join(dir, "paygate.db"))
	return func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}, nil
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
