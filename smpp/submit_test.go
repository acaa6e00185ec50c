package smpp_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// The window blocks rather than rejects: with room for 2 unanswered
// submits and a slow SMSC, 20 concurrent submits all succeed and never
// more than 2 are outstanding.
func TestWindowBlocksRatherThanRejects(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.Faults().SetResponseDelay(20 * time.Millisecond)
	var h hookLog
	cfg := fastConfig(sim.Addr())
	cfg.Window = 2
	cfg.Hooks = h.hooks()
	c := newClient(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Submit(ctxT(t), submitTo(fmt.Sprintf("+86138%08d", i), "x"), "")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.windowMax != 2 {
		t.Fatalf("window peaked at %d, want 2", h.windowMax)
	}
	if n := len(sim.AllMTs()); n != 20 {
		t.Fatalf("SMSC has %d MTs", n)
	}
}

// The token bucket paces submits: 30 submits at 100/s with a burst of 1
// cannot take less than 290 ms.
func TestRatePacesSubmits(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	cfg := fastConfig(sim.Addr())
	cfg.Rate = 100
	cfg.Window = 30
	c := newClient(t, cfg)
	waitBound(t, c)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Submit(ctxT(t), submitTo(fmt.Sprintf("+86138%08d", i), "x"), ""); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if el := time.Since(start); el < 280*time.Millisecond {
		t.Fatalf("30 submits at 100/s took %v", el)
	}
	// The bucket fixes when each submit may leave; arrival times at the
	// far end can bunch under load, so only the total is a hard bound.
	if n := len(sim.AllMTs()); n != 30 {
		t.Fatalf("SMSC has %d MTs", n)
	}
}

// Throttling (ESME_RTHROTTLED above a rate, and random ESME_RMSGQFUL):
// every MT is delivered, in order per phone, with pauses rather than a
// hot retry loop.
func TestThrottlingKeepsOrderAndDropsNothing(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.Faults().SetThrottle(200)
	sim.Faults().SetRandomStatus(smpp.StatusMsgQFul, 0.05)
	var h hookLog
	cfg := fastConfig(sim.Addr())
	cfg.Window = 10
	cfg.Hooks = h.hooks()
	c := newClient(t, cfg)
	const phones, per = 10, 30
	entered := make([]chan struct{}, phones)
	for p := range entered {
		entered[p] = make(chan struct{}, 1)
	}
	smpp.OnLaneEnter(c, func(dest string) {
		var p int
		fmt.Sscanf(dest, "+86138%08d", &p)
		entered[p] <- struct{}{}
	})
	var wg sync.WaitGroup
	for p := range phones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each phone's MTs are submitted concurrently, one after the
			// other has taken its place: the lane, not this loop, keeps
			// them in order through throttling and retries.
			var inner sync.WaitGroup
			for i := range per {
				inner.Add(1)
				go func() {
					defer inner.Done()
					if _, err := c.Submit(ctxT(t), submitTo(fmt.Sprintf("+86138%08d", p), fmt.Sprint(i)), ""); err != nil {
						t.Error(err)
					}
				}()
				<-entered[p]
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	for p := range phones {
		got := sim.Received(fmt.Sprintf("+86138%08d", p))
		if len(got) != per {
			t.Fatalf("phone %d received %d of %d", p, len(got), per)
		}
		for i, m := range got {
			if m.Text() != fmt.Sprint(i) {
				t.Fatalf("phone %d: message %d is %q: order lost", p, i, m.Text())
			}
		}
	}
	refused := sim.Faults().Refused()
	h.mu.Lock()
	pauses := len(h.throttles)
	h.mu.Unlock()
	if refused == 0 || pauses == 0 || pauses > refused {
		t.Fatalf("SMSC refused %d, client paused %d times", refused, pauses)
	}
	// A hot loop would make thousands of attempts; pausing keeps refusals
	// to a fraction of the 300 messages.
	if refused > phones*per {
		t.Fatalf("%d refusals for %d messages: retrying too hot", refused, phones*per)
	}
	t.Logf("%d messages, %d refused and retried, %d pauses", phones*per, refused, pauses)
}

// A whole window refused at once is one throttling event: the pause does
// not double once per refused submit.
func TestThrottleBurstCountsOnce(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.Faults().SetResponseDelay(20 * time.Millisecond) // all 10 in flight together
	sim.Faults().SetSubmitStatus(smpp.StatusThrottled)
	var h hookLog
	cfg := fastConfig(sim.Addr())
	cfg.Window = 10
	cfg.ThrottleMin = 100 * time.Millisecond
	cfg.ThrottleMax = 10 * time.Second
	cfg.Hooks = h.hooks()
	c := newClient(t, cfg)
	waitBound(t, c)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Submit(ctxT(t), submitTo(fmt.Sprintf("+86138%08d", i), "x"), ""); err != nil {
				t.Error(err)
			}
		}()
	}
	eventually(t, "10 refusals", func() bool { return sim.Faults().Refused() >= 10 })
	sim.Faults().SetSubmitStatus(smpp.StatusOK)
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.throttles) == 0 || len(h.throttles) > 2 {
		t.Fatalf("%d pauses for one burst: %v", len(h.throttles), h.throttles)
	}
	for _, p := range h.throttles {
		if p > 4*cfg.ThrottleMin {
			t.Fatalf("pause %v escalated: %v", p, h.throttles)
		}
	}
}

// Permanent errors come back typed and are not retried.
func TestPermanentErrorNotRetried(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.Faults().SetSubmitStatus(smpp.StatusInvDstAdr)
	c := newClient(t, fastConfig(sim.Addr()))
	_, err := c.Submit(ctxT(t), submitTo("+0", "x"), "")
	var se *smpp.StatusError
	if !errors.As(err, &se) || se.Status != smpp.StatusInvDstAdr || se.Temporary() {
		t.Fatalf("err %v", err)
	}
	if n := sim.Faults().Refused(); n != 1 {
		t.Fatalf("sent %d times", n)
	}
}

// A response timeout is an unknown outcome, not a failure, and the late
// response is still reported with the caller's reference.
func TestResponseTimeoutIsUnknownAndLateResponseReported(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.Faults().SetResponseDelay(600 * time.Millisecond) // 300–600ms
	var h hookLog
	cfg := fastConfig(sim.Addr())
	cfg.ResponseTimeout = 100 * time.Millisecond
	cfg.Hooks = h.hooks()
	c := newClient(t, cfg)
	_, err := c.Submit(ctxT(t), submitTo("+8613800138000", "x"), "outbox-17")
	if !errors.Is(err, smpp.ErrUnknownOutcome) || !errors.Is(err, smpp.ErrResponseTimeout) {
		t.Fatalf("err %v", err)
	}
	var se *smpp.StatusError
	if errors.As(err, &se) {
		t.Fatal("an unknown outcome must not look like a refusal")
	}
	eventually(t, "late response", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.late) == 1 && h.late[0] == "outbox-17"
	})
	if len(sim.Received("+8613800138000")) != 1 {
		t.Fatal("SMSC did not get the MT")
	}
}

// Submits under way when the connection drops end as unknown; new ones
// wait for the rebind and go through.
func TestConnectionLossMakesPendingUnknown(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.Faults().SetResponseDelay(2 * time.Second)
	cfg := fastConfig(sim.Addr())
	cfg.ResponseTimeout = 5 * time.Second
	c := newClient(t, cfg)
	waitBound(t, c)
	errs := make(chan error, 5)
	for i := range 5 {
		go func() {
			_, err := c.Submit(ctxT(t), submitTo(fmt.Sprintf("+86138%08d", i), "x"), "")
			errs <- err
		}()
	}
	eventually(t, "submits at the SMSC", func() bool { return len(sim.AllMTs()) == 5 })
	sim.DropConnections()
	for range 5 {
		if err := <-errs; !errors.Is(err, smpp.ErrUnknownOutcome) || !errors.Is(err, smpp.ErrConnectionLost) {
			t.Fatalf("err %v", err)
		}
	}
	sim.Faults().SetResponseDelay(0)
	if _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "after"), ""); err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st[0].Binds != 2 {
		t.Fatalf("status %+v", st)
	}
}

// Submit waits for a bind; a context that ends first says not bound.
func TestSubmitWhileUnbound(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.SetPassword("other")
	c := newClient(t, fastConfig(sim.Addr()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Submit(ctx, submitTo("+8613800138000", "x"), ""); !errors.Is(err, smpp.ErrNotBound) {
		t.Fatalf("err %v", err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "x"), ""); done <- err }()
	sim.SetPassword("secret")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A submit that cannot be encoded fails at once, before the wire.
func TestSubmitTooLong(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	c := newClient(t, fastConfig(sim.Addr()))
	_, err := c.Submit(ctxT(t), submitTo("+8613800138000", string(make([]byte, 255))), "")
	var ee *smpp.EncodeError
	if !errors.As(err, &ee) {
		t.Fatalf("err %v", err)
	}
}

// Handlers beyond MaxInflight are answered ESME_RX_T_APPN at once (the
// read loop never waits) and the SMSC redelivers them later.
func TestHandlerOverloadAnswersTemporary(t *testing.T) {
	sim := startSMSC(t, smsc.Config{RetryInterval: 20 * time.Millisecond})
	release := make(chan struct{})
	var handled atomic.Int32
	cfg := fastConfig(sim.Addr())
	cfg.MaxInflight = 2
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		<-release
		handled.Add(1)
		return smpp.StatusOK
	})
	newClient(t, cfg)
	var ids []uint64
	for i := range 6 {
		ids = append(ids, sim.Inject(smsc.MO{From: fmt.Sprintf("+86139%08d", i), To: "3030", Text: "x"}))
	}
	eventually(t, "some MO refused as busy", func() bool {
		for _, id := range ids {
			if _, _, last := sim.MOStatus(id); last == smpp.StatusRxTAppn {
				return true
			}
		}
		return false
	})
	close(release)
	for _, id := range ids {
		if err := sim.WaitDelivered(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	if handled.Load() != 6 {
		t.Fatalf("handled %d", handled.Load())
	}
}

// Close refuses new submits, lets those under way finish, lets running
// handlers finish and acknowledge, unbinds, and leaves no goroutine (the
// package's TestMain checks for leaks).
func TestCloseUnbindsAndDrains(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.Faults().SetResponseDelay(200 * time.Millisecond)
	inHandler := make(chan struct{})
	var h hookLog
	cfg := fastConfig(sim.Addr())
	cfg.Hooks = h.hooks()
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		close(inHandler)
		time.Sleep(200 * time.Millisecond) // persisting
		return smpp.StatusOK
	})
	c, err := smpp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitBound(t, c)
	mo := sim.Inject(smsc.MO{From: "+8613900000000", To: "3030", Text: "x"})
	<-inHandler
	submitted := make(chan error, 1)
	go func() { _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "x"), ""); submitted <- err }()
	eventually(t, "submit at the SMSC", func() bool { return len(sim.AllMTs()) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-submitted; err != nil {
		t.Fatalf("submit under way at Close: %v", err)
	}
	if delivered, _, _ := sim.MOStatus(mo); !delivered {
		t.Fatal("handler under way at Close was not acknowledged")
	}
	if h.count("out unbind") != 1 || h.count("in unbind_resp") != 1 {
		t.Fatalf("pdus %v", h.pdus)
	}
	if _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "x"), ""); !errors.Is(err, smpp.ErrClientClosed) {
		t.Fatalf("after close: %v", err)
	}
	eventually(t, "SMSC sees no bind", func() bool { return len(sim.Binds()) == 0 })
}
