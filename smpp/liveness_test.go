package smpp_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// R6: a half-open peer (connection up, nothing comes back) is detected by
// enquire_link within EnquireInterval + EnquireTimeout, and the client
// rebinds once the SMSC answers again.
func TestHalfOpenPeerDetected(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	var mu sync.Mutex
	var downAt time.Time
	var downErr error
	cfg := fastConfig(sim.Addr())
	cfg.EnquireInterval = 200 * time.Millisecond
	cfg.EnquireTimeout = 200 * time.Millisecond
	cfg.Hooks = &smpp.Hooks{Bind: func(_ string, _ smpp.BindMode, up bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		if !up && downAt.IsZero() {
			downAt, downErr = time.Now(), err
		}
	}}
	c := newClient(t, cfg)
	waitBound(t, c)
	silentAt := time.Now()
	sim.Faults().SetSilent(true)
	eventually(t, "half-open detected", func() bool { return !c.Bound() })
	mu.Lock()
	detected, err := downAt.Sub(silentAt), downErr
	mu.Unlock()
	if !errors.Is(err, smpp.ErrLinkDead) {
		t.Fatalf("closed for %v, want ErrLinkDead", err)
	}
	// Interval + timeout, plus scheduling slack for -race on 2 cores.
	if limit := cfg.EnquireInterval + cfg.EnquireTimeout + 300*time.Millisecond; detected > limit {
		t.Fatalf("detected after %v, limit %v", detected, limit)
	}
	t.Logf("half-open peer detected after %v (interval %v + timeout %v)", detected, cfg.EnquireInterval, cfg.EnquireTimeout)
	sim.Faults().SetSilent(false)
	waitBound(t, c)
	if _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "back"), ""); err != nil {
		t.Fatal(err)
	}
}

// The SMSC's own enquire_link is answered by the session, so a bind that
// is idle for many SMSC keepalive rounds stays up.
func TestSMSCEnquireLinkAnswered(t *testing.T) {
	sim := startSMSC(t, smsc.Config{EnquireInterval: 20 * time.Millisecond})
	var h hookLog
	cfg := fastConfig(sim.Addr())
	cfg.Hooks = h.hooks()
	c := newClient(t, cfg)
	waitBound(t, c)
	eventually(t, "enquire_link answered", func() bool { return h.count("out enquire_link_resp") >= 5 })
	if st := c.Status(); st[0].Binds != 1 || !st[0].Bound {
		t.Fatalf("status %+v", st)
	}
}

// An unbind from the SMSC is answered and the connection closed; the
// client binds again.
func TestUnbindFromSMSC(t *testing.T) {
	w := listenWire(t)
	c := newClient(t, fastConfig(w.addr()))
	w.accept()
	waitBound(t, c)
	w.send(&smpp.PDU{Command: smpp.Unbind, Seq: 9})
	if r := w.expect(smpp.UnbindResp); r.Seq != 9 {
		t.Fatalf("unbind_resp %s", r)
	}
	w.expectClosed()
	w.accept()
	eventually(t, "rebound", func() bool { return c.Status()[0].Binds == 2 })
}

// A command_length outside [16, max] cannot be resynchronised: the
// connection closes and the client binds again.
func TestBadCommandLengthClosesConnection(t *testing.T) {
	for name, frame := range map[string][]byte{
		"below header": {0, 0, 0, 8, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1},
		"above max":    {0x7F, 0, 0, 0, 0, 0, 0, 0x15, 0, 0, 0, 0, 0, 0, 0, 1},
	} {
		t.Run(name, func(t *testing.T) {
			w := listenWire(t)
			cfg := fastConfig(w.addr())
			cfg.MaxPDU = 4096
			c := newClient(t, cfg)
			w.accept()
			w.write(frame)
			w.expectClosed()
			w.accept()
			eventually(t, "rebound", func() bool { return c.Status()[0].Binds == 2 })
		})
	}
}

// R8: a wrong password backs off exponentially with jitter, capped, and
// the client binds as soon as the password is right again.
func TestWrongPasswordBacksOffAndRecovers(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	sim.SetPassword("rotated")
	var mu sync.Mutex
	var failures []time.Time
	var lastErr error
	cfg := fastConfig(sim.Addr())
	cfg.RefusedBackoffMin = 20 * time.Millisecond
	cfg.RefusedBackoffMax = 160 * time.Millisecond
	cfg.BackoffMin = time.Millisecond // must not be what paces refused binds
	cfg.Hooks = &smpp.Hooks{Bind: func(_ string, _ smpp.BindMode, up bool, err error) {
		if !up {
			mu.Lock()
			failures = append(failures, time.Now())
			lastErr = err
			mu.Unlock()
		}
	}}
	c := newClient(t, cfg)
	time.Sleep(1500 * time.Millisecond)
	mu.Lock()
	n := len(failures)
	var se *smpp.StatusError
	if !errors.As(lastErr, &se) || se.Status != smpp.StatusInvPaswd {
		t.Fatalf("bind error %v, want ESME_RINVPASWD", lastErr)
	}
	var gaps []time.Duration
	for i := 1; i < n; i++ {
		gaps = append(gaps, failures[i].Sub(failures[i-1]))
	}
	mu.Unlock()
	// Uncapped doubling from 20ms would give ~6 attempts in 1.5s; a hot
	// loop thousands. Capped at 160ms (jittered 80–160ms) gives ~12.
	if n < 6 || n > 25 {
		t.Fatalf("%d bind attempts in 1.5s; gaps %v", n, gaps)
	}
	for _, g := range gaps[len(gaps)/2:] {
		if g < cfg.RefusedBackoffMax/2-10*time.Millisecond {
			t.Fatalf("gap %v below the jittered cap; gaps %v", g, gaps)
		}
	}
	if c.Bound() {
		t.Fatal("bound with a wrong password")
	}
	sim.SetPassword("secret")
	fixed := time.Now()
	waitBound(t, c)
	if d := time.Since(fixed); d > cfg.RefusedBackoffMax+500*time.Millisecond {
		t.Fatalf("recovered after %v", d)
	}
	if !c.Status()[0].Bound || c.Status()[0].LastError != "" {
		t.Fatalf("status %+v", c.Status())
	}
}
