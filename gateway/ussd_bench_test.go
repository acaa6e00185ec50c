package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/gateway/config"
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
// apart. The memory of 1,000 live sessions is the process's RSS (and Go
// heap) after they all stand at the amount screen, less before they
// began: sessions live in the database, not in the process.
//
//	go test -run='^$' -bench=USSDScreens -benchtime=1x ./gateway
func BenchmarkUSSDScreens(b *testing.B) {
	const n = 1000
	// PAYGATE_BENCH_PIN_WORKERS sets pin_hash.workers (default: one per core).
	sim, gw := benchGateway(b, func(c *config.Config) {
		if n, err := strconv.Atoi(os.Getenv("PAYGATE_BENCH_PIN_WORKERS")); err == nil {
			c.PINHash.Workers = n
		}
	})
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
					k++
					mts, err := sim.WaitReceived(ctx, p, k)
					if err != nil {
						b.Error(err)
						return "", 0
					}
					mt := mts[k-1]
					return smpp.DecodeText(smpp.Coding(mt.PDU.DataCoding), mt.PDU.ShortMessage), mt.At.Sub(at)
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
		close(release)
		wg.Wait()
		b.StopTimer()
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
