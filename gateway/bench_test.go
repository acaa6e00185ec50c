package gateway_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/gateway"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp/smsc"
)

// benchGateway starts a simulator and a gateway on SQLite (WAL,
// synchronous=FULL) in a temporary directory.
//
// The environment changes it, to compare: PAYGATE_BENCH_PIN_WORKERS sets
// pin_hash.workers (default: one per core);
// PAYGATE_BENCH_PIN_EXTRA_PROCS=0 keeps GOMAXPROCS at one per core
// instead of adding a P per PIN worker (gateway/pin.go);
// PAYGATE_BENCH_SMSC_WINDOW sets the simulator's deliver_sm window
// (default 512).
func benchGateway(b *testing.B, change ...func(*config.Config)) (*smsc.Server, *gateway.Gateway) {
	// As paygate serve does (cmd/paygate tuneGC), unless GOGC is set.
	if os.Getenv("GOGC") == "" {
		prev := debug.SetGCPercent(400)
		b.Cleanup(func() { debug.SetGCPercent(prev) })
	}
	// The PIN pool raises GOMAXPROCS; the testing package wants it back
	// as it was once the benchmark ends (this cleanup runs last).
	procs := runtime.GOMAXPROCS(0)
	b.Cleanup(func() { runtime.GOMAXPROCS(procs) })
	if v, err := strconv.ParseBool(os.Getenv("PAYGATE_BENCH_PIN_EXTRA_PROCS")); err == nil {
		prev := gateway.SetPINExtraProcs(v)
		b.Cleanup(func() { gateway.SetPINExtraProcs(prev) })
	}
	if n, err := strconv.Atoi(os.Getenv("PAYGATE_BENCH_PIN_WORKERS")); err == nil {
		change = append(change, func(c *config.Config) { c.PINHash.Workers = n })
	}
	window := 512
	if n, err := strconv.Atoi(os.Getenv("PAYGATE_BENCH_SMSC_WINDOW")); err == nil {
		window = n
	}
	sim, err := smsc.Listen(smsc.Config{Window: window, RetryInterval: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	cfg := testConfig(b, b.TempDir(), sim.Addr(), 512)
	for _, f := range change {
		f(&cfg)
	}
	gw, err := gateway.New(context.Background(), gateway.Options{Config: cfg})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		gw.Close(ctx)
	})
	for !gw.Bound() {
		time.Sleep(time.Millisecond)
	}
	return sim, gw
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkGatewayRoundTrip measures SMS commands answered per second
// through real SMPP: each MO is a command from its own phone; it is
// recorded, deduplicated and answered in one flow step committed on
// SQLite synchronous=FULL before ESME_ROK, and its reply is dispatched
// from the outbox and accepted by the simulator. Simulator and gateway
// share the same 2 cores.
func BenchmarkGatewayRoundTrip(b *testing.B) {
	for _, c := range []struct {
		name, cmd string
		phones    int // distinct phones; 0: a new phone for every command
	}{
		{"BAL/new-phones", "BAL", 0},
		{"BAL/1000-phones", "BAL", 1000},
		{"HELP/new-phones", "HELP", 0},
	} {
		cmd := c.cmd
		b.Run(c.name, func(b *testing.B) {
			sim, gw := benchGateway(b)
			phones := make([]string, b.N)
			for i := range phones {
				n := i
				if c.phones > 0 {
					n = i % c.phones
				}
				// Each command is its own message: a repeated text from one
				// phone inside dedupe_window would be one message.
				phones[i] = fmt.Sprintf("+86138%08d", n)
			}
			before := len(sim.AllMTs())
			parts := 1
			if cmd == "HELP" {
				parts = 2 // the English help is two SMS
			}
			st0 := gw.DB().Stats()
			b.ResetTimer()
			cpu0, start := cpuTime(), time.Now()
			for i, p := range phones {
				text := cmd
				if c.phones > 0 {
					text = fmt.Sprintf("%s %d", cmd, i) // distinct texts: BAL with a stray argument still gets an answer
				}
				sim.Inject(smsc.MO{From: p, To: "3030", Text: text})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			if err := sim.WaitMTs(ctx, before+b.N*parts); err != nil {
				b.Fatal(err)
			}
			el := time.Since(start)
			b.StopTimer()
			st := gw.DB().Stats()
			b.ReportMetric(float64(b.N)/el.Seconds(), "commands/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/command")
			b.ReportMetric(float64(st.Steps-st0.Steps)/float64(max(1, st.Commits-st0.Commits)), "steps/commit")
		})
	}
}

// BenchmarkGatewayLatency offers commands at a fixed rate (5,000/s, the
// RELIABILITY.md goal's load) and reports the latency from injection at
// the simulator to the reply's acceptance there.
func BenchmarkGatewayLatency(b *testing.B) {
	const rate = 5000
	sim, _ := benchGateway(b)
	injected := make([]time.Time, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		injected[i] = time.Now()
		sim.Inject(smsc.MO{From: fmt.Sprintf("+86137%08d", i), To: "3030", Text: "BAL"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sim.WaitMTs(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	lat := make([]time.Duration, 0, b.N)
	for _, mt := range sim.AllMTs() {
		var i int
		if _, err := fmt.Sscanf(mt.PDU.Dest.Addr, "86137%08d", &i); err == nil && i < b.N {
			lat = append(lat, mt.At.Sub(injected[i]))
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
