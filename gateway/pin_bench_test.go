package gateway_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/smpp/smsc"
	"github.com/paygate/paygate/store"
)

// BenchmarkPINScreen measures the PIN screen: "OK <PIN>" answering a
// pending prompt, through real SMPP, with the shipped argon2id
// parameters (flows.DefaultArgon2) on the gateway's bounded pool — from
// the MO's injection at the simulator to the reply's acceptance there.
// Each phone has a PIN and a LINK waiting for it (seeded in the store);
// the reply is "we are checking with your bank". Offered at a fixed rate
// below the pool's capacity (latency), and all at once (capacity): then
// a text whose check cannot start within pin_hash.max_wait is answered
// "send it again" (busy), and every reply, checked or not, must come
// well inside an SMSC's response timeout.
func BenchmarkPINScreen(b *testing.B) {
	for _, c := range []struct {
		name string
		rate int // per second; 0: all at once
	}{
		{"rate=40", 40},
		{"saturated", 0},
	} {
		b.Run(c.name, func(b *testing.B) {
			sim, gw := benchGateway(b)
			pepper := bytes.Repeat([]byte{0xcd}, 32) // testConfig's pepper.key
			h, err := flows.NewPINHasher(pepper, flows.DefaultArgon2, rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			hash, err := h.Hash("482915")
			if err != nil {
				b.Fatal(err)
			}
			phones := make([]string, b.N)
			now := time.Now()
			for i := range phones {
				phones[i] = fmt.Sprintf("+86136%08d", i)
			}
			for lo := 0; lo < b.N; lo += 500 {
				err := gw.DB().Step(context.Background(), func(tx *store.Tx) error {
					for _, p := range phones[lo:min(lo+500, b.N)] {
						err := tx.SaveSubscriber(context.Background(), flows.Subscriber{
							Phone: flows.MSISDN(p), Created: now, PIN: hash,
							Pending: &flows.Pending{
								ID: "bench-" + p, Kind: flows.OpLink, Stage: flows.StagePIN, Bank: "PGB",
								Account: "6222020000000001", Created: now, Expires: now.Add(time.Hour), Bind: "carrier-a",
							},
						})
						if err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			injected := make([]time.Time, b.N)
			b.ResetTimer()
			start := time.Now()
			for i, p := range phones {
				if c.rate > 0 {
					if d := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(c.rate))); d > 0 {
						time.Sleep(d)
					}
				}
				injected[i] = time.Now()
				sim.Inject(smsc.MO{From: p, To: "3030", Text: "OK 482915"})
			}
			lat := make([]time.Duration, b.N)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			checked, busy := 0, 0
			for i, p := range phones {
				mts, err := sim.WaitReceived(ctx, p[1:], 1)
				if err != nil {
					b.Fatal(err)
				}
				got := mts[0].Text()
				switch {
				case bytes.Contains([]byte(got), []byte("We are checking")):
					checked++
				case bytes.Contains([]byte(got), []byte("please send it again")):
					busy++
				default:
					b.Fatalf("reply %q", got)
				}
				lat[i] = mts[0].At.Sub(injected[i])
			}
			el := time.Since(start)
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(checked)/el.Seconds(), "screens/s")
			b.ReportMetric(float64(busy), "busy")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
