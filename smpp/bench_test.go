package smpp_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// BenchmarkMORoundTrip measures MO→MT round trips through the session
// layer over loopback: the simulator delivers a deliver_sm, the handler
// submits a reply and waits for its submit_sm_resp, then acknowledges the
// MO; the round trip ends when the simulator has accepted the reply. The
// simulator runs in the same process on the same cores.
func BenchmarkMORoundTrip(b *testing.B) {
	for _, mode := range []smpp.BindMode{smpp.Transceiver, smpp.TransmitterReceiver} {
		b.Run(mode.String(), func(b *testing.B) { benchRoundTrip(b, mode) })
	}
}

// cpuTime is the process's user + system CPU time: per operation it
// measures cost independently of what else runs on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchRoundTrip(b *testing.B, mode smpp.BindMode) {
	sim, err := smsc.Listen(smsc.Config{Window: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	var mu sync.Mutex
	var answered sync.WaitGroup
	answered.Add(b.N)
	injected := make(map[string]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	var c *smpp.Client
	ready := make(chan struct{})
	c, err = smpp.NewClient(smpp.Config{
		Addr: sim.Addr(), SystemID: "paygate", Password: "secret", Mode: mode,
		Window: 256, MaxInflight: 4096,
		Handler: smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
			<-ready
			from := d.PDU.Source.Addr
			if _, err := c.Submit(ctx, &smpp.PDU{
				Source:       smpp.Address{TON: 5, Addr: "3030"},
				Dest:         smpp.Address{TON: 1, NPI: 1, Addr: from},
				ShortMessage: []byte("Commands: SEND PAY BAL MINI HELP"),
			}, ""); err != nil {
				return smpp.StatusRxTAppn
			}
			mu.Lock()
			lat = append(lat, time.Since(injected[from]))
			mu.Unlock()
			answered.Done()
			return smpp.StatusOK
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	close(ready)
	defer c.Close(context.Background())
	for !c.Bound() {
		time.Sleep(time.Millisecond)
	}
	phones := make([]string, b.N)
	for i := range phones {
		phones[i] = fmt.Sprintf("+86138%08d", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for _, p := range phones {
		mu.Lock()
		injected[p] = time.Now()
		mu.Unlock()
		sim.Inject(smsc.MO{From: p, To: "3030", Text: "HELP"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sim.WaitMTs(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "roundtrips/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/roundtrip")
}

// BenchmarkMORoundTripLatency offers MOs at a fixed rate (5,000/s, the
// RELIABILITY.md latency goal's load) and reports the round-trip latency
// from injection at the simulator to the reply's acceptance there.
func BenchmarkMORoundTripLatency(b *testing.B) {
	const rate = 5000
	sim, err := smsc.Listen(smsc.Config{Window: 256})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	var mu sync.Mutex
	var answered sync.WaitGroup
	answered.Add(b.N)
	injected := make(map[string]time.Time, b.N)
	lat := make([]time.Duration, 0, b.N)
	var c *smpp.Client
	ready := make(chan struct{})
	c, err = smpp.NewClient(smpp.Config{
		Addr: sim.Addr(), SystemID: "paygate", Password: "secret", Window: 256,
		Handler: smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
			<-ready
			from := d.PDU.Source.Addr
			if _, err := c.Submit(ctx, &smpp.PDU{Dest: smpp.Address{Addr: from}, ShortMessage: []byte("ok")}, ""); err != nil {
				return smpp.StatusRxTAppn
			}
			mu.Lock()
			lat = append(lat, time.Since(injected[from]))
			mu.Unlock()
			answered.Done()
			return smpp.StatusOK
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	close(ready)
	defer c.Close(context.Background())
	for !c.Bound() {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Pace injection: MO i is due at start + i/rate.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		p := fmt.Sprintf("+86138%08d", i)
		mu.Lock()
		injected[p] = time.Now()
		mu.Unlock()
		sim.Inject(smsc.MO{From: p, To: "3030", Text: "HELP"})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := sim.WaitMTs(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	answered.Wait() // each handler records its latency after its reply
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
