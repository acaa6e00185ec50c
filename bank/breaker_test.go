package bank

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestBreakerStates walks the breaker through its states.
func TestBreakerStates(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	var changes []string
	b := &breaker{threshold: 3, ratio: 0.5, window: 10 * time.Second, cooldown: time.Minute, now: clk.now,
		changed: func(from, to BreakerState) { changes = append(changes, from.String()+"→"+to.String()) }}
	send := func(v verdict) {
		t.Helper()
		done, ok := b.allow()
		if !ok {
			t.Fatalf("refused in state %v", b.State())
		}
		done(v)
	}
	// Failures that slid out of the window do not count.
	send(verdictFailure)
	send(verdictFailure)
	clk.add(11 * time.Second)
	send(verdictFailure)
	if b.State() != BreakerClosed {
		t.Fatalf("state %v with 1 failure in the window, want closed", b.State())
	}
	// Under the ratio, many failures do not open it.
	for range 4 {
		send(verdictSuccess)
	}
	send(verdictFailure)
	send(verdictFailure) // 3 of 7
	if b.State() != BreakerClosed {
		t.Fatalf("state %v at 3 failures of 7, want closed", b.State())
	}
	send(verdictNeutral) // the caller gave up: not counted
	send(verdictFailure) // 4 of 8
	if b.State() != BreakerOpen {
		t.Fatalf("state %v at 4 failures of 8, want open", b.State())
	}
	if _, ok := b.allow(); ok {
		t.Fatal("open breaker let a request through")
	}
	clk.add(time.Minute - time.Second)
	if _, ok := b.allow(); ok {
		t.Fatal("open breaker let a request through before its cool-down")
	}
	clk.add(time.Second)
	probe, ok := b.allow()
	if !ok || b.State() != BreakerHalfOpen {
		t.Fatalf("after the cool-down: ok %v state %v, want a half-open probe", ok, b.State())
	}
	if _, ok := b.allow(); ok {
		t.Fatal("half-open breaker let a second request through while probing")
	}
	probe(verdictFailure)
	if b.State() != BreakerOpen {
		t.Fatalf("state %v after a failed probe, want open", b.State())
	}
	clk.add(time.Minute)
	probe, _ = b.allow()
	probe(verdictNeutral) // the caller gave up: says nothing
	if b.State() != BreakerHalfOpen {
		t.Fatalf("state %v after a neutral probe, want half-open", b.State())
	}
	probe, ok = b.allow()
	if !ok {
		t.Fatal("no new probe after a neutral one")
	}
	probe(verdictSuccess)
	if b.State() != BreakerClosed {
		t.Fatalf("state %v after a good probe, want closed", b.State())
	}
	want := []string{"closed→open", "open→half-open", "half-open→open", "open→half-open", "half-open→closed"}
	if len(changes) != len(want) {
		t.Fatalf("changes %v, want %v", changes, want)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Fatalf("changes %v, want %v", changes, want)
		}
	}
}

// TestBreakerStaleVerdict: a slow success from before the breaker opened
// does not close it.
func TestBreakerStaleVerdict(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	b := &breaker{threshold: 1, ratio: 0.5, window: time.Minute, cooldown: time.Minute, now: clk.now}
	slow, _ := b.allow()
	fast, _ := b.allow()
	fast(verdictFailure)
	slow(verdictSuccess)
	if b.State() != BreakerOpen {
		t.Fatalf("state %v, want open", b.State())
	}
}

// TestBreakerOneProbe: of many callers after the cool-down exactly one
// probes.
func TestBreakerOneProbe(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	b := &breaker{threshold: 1, ratio: 0.5, window: time.Minute, cooldown: time.Minute, now: clk.now}
	done, _ := b.allow()
	done(verdictFailure)
	clk.add(time.Minute)
	var probes atomic.Int32
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			if done, ok := b.allow(); ok {
				probes.Add(1)
				<-release
				done(verdictSuccess)
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	close(release)
	wg.Wait()
	if probes.Load() != 1 {
		t.Fatalf("%d probes, want 1", probes.Load())
	}
	if b.State() != BreakerClosed {
		t.Fatalf("state %v, want closed", b.State())
	}
}

func TestBreakerDisabled(t *testing.T) {
	b := &breaker{threshold: -1, cooldown: time.Minute, now: time.Now}
	for range 100 {
		done, ok := b.allow()
		if !ok {
			t.Fatal("a disabled breaker refused")
		}
		done(verdictFailure)
	}
}

func TestBackoff(t *testing.T) {
	for n := range 20 {
		d := backoff(n, 10*time.Millisecond, time.Second)
		hi := min(10*time.Millisecond<<n, time.Second)
		if d < hi/2 || d > hi {
			t.Errorf("backoff(%d) = %v, want in [%v, %v]", n, d, hi/2, hi)
		}
	}
}
