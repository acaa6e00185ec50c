package smpp_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// cpuTime is the process's user + system CPU time: per operation it
// measures cost independently of what else runs on the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// echo is an ESME bound to an in-process simulator whose handler answers
// every MO with one submit_sm (waiting for its submit_sm_resp) before
// acknowledging it, and records each round trip's latency from the MO's
// injection.
type echo struct {
	sim *smsc.Server
	c   *smpp.Client

	mu       sync.Mutex
	injected map[string]time.Time // by phone, as the SMSC addresses it (no "+")
	lat      []time.Duration
	answered sync.WaitGroup
}

func newEcho(b *testing.B, mode smpp.BindMode, reply string) *echo {
	sim, err := smsc.Listen(smsc.Config{Window: 256})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sim.Close() })
	e := &echo{sim: sim, injected: make(map[string]time.Time, b.N), lat: make([]time.Duration, 0, b.N)}
	ready := make(chan struct{})
	e.c, err = smpp.NewClient(smpp.Config{
		Addr: sim.Addr(), SystemID: "paygate", Password: "secret", Mode: mode,
		Window: 256, MaxInflight: 4096,
		Handler: smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
			<-ready
			if _, err := e.c.Submit(ctx, &smpp.PDU{
				Source:       smpp.Address{TON: 5, Addr: "3030"},
				Dest:         d.PDU.Source,
				ShortMessage: []byte(reply),
			}, ""); err != nil {
				return smpp.StatusRxTAppn
			}
			e.mu.Lock()
			e.lat = append(e.lat, time.Since(e.injected[d.PDU.Source.Addr]))
			e.mu.Unlock()
			e.answered.Done()
			return smpp.StatusOK
		}),
	})
	if err != nil {
		b.Fatal(err)
	}
	close(ready)
	b.Cleanup(func() { e.c.Close(context.Background()) })
	for !e.c.Bound() {
		time.Sleep(time.Millisecond)
	}
	return e
}

// inject offers MO i from its own phone.
func (e *echo) inject(i int) {
	phone := fmt.Sprintf("+86138%08d", i)
	e.mu.Lock()
	e.injected[strings.TrimPrefix(phone, "+")] = time.Now()
	e.mu.Unlock()
	e.sim.Inject(smsc.MO{From: phone, To: "3030", Text: "HELP"})
}

// wait waits for n answers and for the simulator to have their replies.
func (e *echo) wait(b *testing.B, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := e.sim.WaitMTs(ctx, n); err != nil {
		b.Fatal(err)
	}
	e.answered.Wait()
}

// BenchmarkMORoundTrip measures MO→MT round trips through the session
// layer over loopback: the simulator delivers a deliver_sm, the handler
// submits a reply and waits for its submit_sm_resp, then acknowledges the
// MO; the round trip ends when the simulator has accepted the reply. The
// simulator runs in the same process on the same cores.
func BenchmarkMORoundTrip(b *testing.B) {
	for _, mode := range []smpp.BindMode{smpp.Transceiver, smpp.TransmitterReceiver} {
		b.Run(mode.String(), func(b *testing.B) {
			e := newEcho(b, mode, "Commands: SEND PAY BAL MINI HELP")
			e.answered.Add(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, start := cpuTime(), time.Now()
			for i := range b.N {
				e.inject(i)
			}
			e.wait(b, b.N)
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "roundtrips/s")
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/roundtrip")
		})
	}
}

// BenchmarkMORoundTripLatency offers MOs at a fixed rate (5,000/s, the
// RELIABILITY.md latency goal's load) and reports the round-trip latency
// from injection at the simulator to the reply's submit_sm_resp.
func BenchmarkMORoundTripLatency(b *testing.B) {
	const rate = 5000
	e := newEcho(b, smpp.Transceiver, "ok")
	e.answered.Add(b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Pace injection: MO i is due at start + i/rate.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		e.inject(i)
	}
	e.wait(b, b.N)
	b.StopTimer()
	e.mu.Lock()
	defer e.mu.Unlock()
	sort.Slice(e.lat, func(i, j int) bool { return e.lat[i] < e.lat[j] })
	b.ReportMetric(float64(e.lat[len(e.lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(e.lat[len(e.lat)*99/100].Microseconds())/1000, "p99-ms")
}
