package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/store"
)

// BenchmarkUSSDScreens: 1,000 registered phones hold USSD sessions at
// once over real SMPP, each answering 0–2 s after its last screen, and
// walk the send-money menus: main menu, payee, amount (the
// confirmation screen, a flows step with a transfer created), then the
// PIN (argon2id with the shipped parameters on the bounded pool). Each
// screen's latency is from the dial or answer injected at the SMSC
// simulator to the screen's arrival there; PIN screens are reported
// apart, with the PIN checks made per second from the release of the
// amount screens to the last PIN screen. The memory of 1,000 live
// sessions is this process's RSS (and Go heap) after they all stand at
// the amount screen, less before they began: it counts the simulator's
// and the phones' goroutines and buffers too (`paygate bench --ussd
// --spawn` measures the gateway's own, in a process of its own).
//
// From the release on, the Go runtime's own figures (runtime/metrics)
// say why screens wait: sched-p99-ms is the 99th percentile of the time
// a runnable goroutine waited for a P (Go's run queue, not the
// kernel's), gc-cpu-% the GC's share of the CPU the process used, and
// gc-pause-max-ms its longest stop-the-world.
//
//	go test -run='^$' -bench=USSDScreens -benchtime=1x -count=5 ./gateway
//
// procs is the GOMAXPROCS the gateway ran with (the PIN pool adds a P
// per worker). benchGateway says which variables change the PIN pool.
func BenchmarkUSSDScreens(b *testing.B) {
	const n = 1000
	sim, gw := benchGateway(b)
	ctx := context.Background()
	pepper := bytes.Repeat([]byte{0xcd}, 32) // testConfig's pepper.key
	h, err := flows.NewPINHasher(pepper, flows.DefaultArgon2, rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	hash, err := h.Hash("482915")
	if err != nil {
		b.Fatal(err)
	}
	var menus, pins []time.Duration
	busy := 0
	var rssPer1000, heapPer1000 float64
	var rt runtimeStats
	var pinPhase time.Duration
	for it := range b.N {
		phones := make([]string, n)
		for i := range phones {
			phones[i] = fmt.Sprintf("86135%02d%06d", it%100, i)
		}
		payee := "8613900139000"
		now := time.Now()
		err := gw.DB().Step(ctx, func(tx *store.Tx) error {
			for _, p := range append([]string{payee}, phones...) {
				ph := flows.MSISDN("+" + p)
				if err := tx.SaveSubscriber(ctx, flows.Subscriber{Phone: ph, Created: now, PIN: hash}); err != nil {
					return err
				}
				acct := &flows.Account{Bank: "PGB", Number: flows.AccountNumber("62220299" + p[len(p)-8:]), Holder: "L* W**", Default: true, Linked: now}
				if err := tx.SaveAccount(ctx, ph, acct); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		rss0, heap0 := memNow()
		var mu sync.Mutex
		var wg sync.WaitGroup
		standing := make(chan struct{}, n)
		release := make(chan struct{})
		b.StartTimer()
		for i, p := range phones {
			wg.Add(1)
			go func() {
				defer wg.Done()
				session := []byte{byte(i >> 8), byte(i)}
				k := 0
				screen := func(op byte, text string) (string, time.Duration) {
					// A person reads the screen, then answers: the
					// 1,000 sessions are live at once, their events
					// spread over 0–2 s each (~700 a second offered).
					time.Sleep(time.Duration(mrand.IntN(2000)) * time.Millisecond)
					at := time.Now()
					sim.InjectUSSD(p, "*384#", op, smpp.TagITSSessionInfo, session, text)
					for {
						k++
						mts, err := sim.WaitReceived(ctx, p, k)
						if err != nil {
							b.Error(err)
							return "", 0
						}
						mt := mts[k-1]
						if _, ussd := mt.PDU.TLVs.Uint(smpp.TagUSSDServiceOp); ussd {
							return smpp.DecodeText(smpp.Coding(mt.PDU.DataCoding), mt.PDU.ShortMessage), mt.At.Sub(at)
						}
						// An SMS — the one-time code — came before the
						// screen.
					}
				}
				var mine []time.Duration
				for _, step := range []struct {
					op   byte
					text string
				}{{smpp.USSDPSSRIndication, "*384#"}, {smpp.USSDUSSRConfirm, "1"}, {smpp.USSDUSSRConfirm, "13900139000"}} {
					_, d := screen(step.op, step.text)
					mine = append(mine, d)
				}
				standing <- struct{}{}
				<-release
				got, d := screen(smpp.USSDUSSRConfirm, strconv.Itoa(5+i%50))
				if !strings.Contains(got, "Enter PIN") {
					b.Errorf("amount screen %q", got)
				}
				mine = append(mine, d)
				got, pd := screen(smpp.USSDUSSRConfirm, "482915")
				if !strings.Contains(got, "code is on its way") && !strings.Contains(got, "could not check") {
					b.Errorf("PIN screen %q", got)
				}
				mu.Lock()
				menus = append(menus, mine...)
				pins = append(pins, pd)
				if strings.Contains(got, "could not check") {
					busy++
				}
				mu.Unlock()
			}()
		}
		for range n {
			<-standing
		}
		rss1, heap1 := memNow()
		rssPer1000 = float64(rss1-rss0) / n * 1000 / (1 << 20)
		heapPer1000 = float64(heap1-heap0) / n * 1000 / (1 << 20)
		if live, err := gw.DB().USSDSessions(ctx, time.Now()); err != nil || live < n {
			b.Fatalf("%d live sessions, want %d (%v)", live, n, err)
		}
		rt0, released := readRuntime(), time.Now()
		close(release)
		wg.Wait()
		b.StopTimer()
		pinPhase += time.Since(released)
		rt.add(readRuntime().since(rt0))
	}
	pct := func(d []time.Duration, p int) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)*p/100].Microseconds()) / 1000
	}
	b.ReportMetric(pct(menus, 50), "screen-p50-ms")
	b.ReportMetric(pct(menus, 99), "screen-p99-ms")
	b.ReportMetric(pct(pins, 50), "pin-p50-ms")
	b.ReportMetric(pct(pins, 99), "pin-p99-ms")
	b.ReportMetric(float64(busy)/float64(b.N), "pin-busy")
	b.ReportMetric(float64(len(pins)-busy)/pinPhase.Seconds(), "pin-checks/s")
	b.ReportMetric(rt.schedQuantile(0.99)*1000, "sched-p99-ms")
	b.ReportMetric(rt.gcShare()*100, "gc-cpu-%")
	b.ReportMetric(rt.pauseMax*1000, "gc-pause-max-ms")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "procs")
	b.ReportMetric(rssPer1000, "rss-MB/1000-sessions")
	b.ReportMetric(heapPer1000, "heap-MB/1000-sessions")
}

// memNow returns the process's resident set and the Go heap in use, in
// bytes, after a collection.
func memNow() (rss, heap int64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b, err := os.ReadFile("/proc/self/statm")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) > 1 {
			pages, _ := strconv.ParseInt(f[1], 10, 64)
			rss = pages * int64(os.Getpagesize())
		}
	}
	return rss, int64(m.HeapInuse)
}

// runtimeStats are the Go runtime's figures over a stretch of a
// benchmark: readRuntime at its start and end, since between them.
type runtimeStats struct {
	sched            *metrics.Float64Histogram // time runnable goroutines waited for a P
	gcCPU, totalCPU  float64                   // seconds; total without idle
	pauseMax         float64                   // longest GC stop-the-world, seconds
	pauses, gcCycles uint64
}

var runtimeSamples = []string{
	"/sched/latencies:seconds",
	"/sched/pauses/total/gc:seconds",
	"/cpu/classes/gc/total:cpu-seconds",
	"/cpu/classes/total:cpu-seconds",
	"/cpu/classes/idle:cpu-seconds",
	"/gc/cycles/total:gc-cycles",
}

type runtimeReading []metrics.Sample

func readRuntime() runtimeReading {
	s := make([]metrics.Sample, len(runtimeSamples))
	for i, name := range runtimeSamples {
		s[i].Name = name
	}
	metrics.Read(s)
	return s
}

// since returns the figures from r0 to r.
func (r runtimeReading) since(r0 runtimeReading) runtimeStats {
	var st runtimeStats
	st.sched = histDelta(r[0].Value.Float64Histogram(), r0[0].Value.Float64Histogram())
	pauses := histDelta(r[1].Value.Float64Histogram(), r0[1].Value.Float64Histogram())
	for i, c := range pauses.Counts {
		if c > 0 {
			st.pauseMax = pauses.Buckets[i+1]
			st.pauses += c
		}
	}
	f := func(i int) float64 { return r[i].Value.Float64() - r0[i].Value.Float64() }
	st.gcCPU, st.totalCPU = f(2), f(3)-f(4)
	st.gcCycles = r[5].Value.Uint64() - r0[5].Value.Uint64()
	return st
}

func histDelta(h, h0 *metrics.Float64Histogram) *metrics.Float64Histogram {
	d := &metrics.Float64Histogram{Buckets: h.Buckets, Counts: make([]uint64, len(h.Counts))}
	for i := range h.Counts {
		d.Counts[i] = h.Counts[i] - h0.Counts[i]
	}
	return d
}

func (st *runtimeStats) add(o runtimeStats) {
	if st.sched == nil {
		*st = o
		return
	}
	for i := range st.sched.Counts {
		st.sched.Counts[i] += o.sched.Counts[i]
	}
	st.gcCPU += o.gcCPU
	st.totalCPU += o.totalCPU
	st.pauseMax = max(st.pauseMax, o.pauseMax)
	st.pauses += o.pauses
	st.gcCycles += o.gcCycles
}

// schedQuantile is the upper bound, in seconds, of the bucket of the
// q-quantile of the scheduling latencies.
func (st runtimeStats) schedQuantile(q float64) float64 {
	var total uint64
	for _, c := range st.sched.Counts {
		total += c
	}
	rank := uint64(q * float64(total))
	var seen uint64
	for i, c := range st.sched.Counts {
		seen += c
		if seen > rank {
			return st.sched.Buckets[i+1]
		}
	}
	return 0
}

func (st runtimeStats) gcShare() float64 {
	if st.totalCPU <= 0 {
		return 0
	}
	return st.gcCPU / st.totalCPU
}
