package smpp_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

func startSMSC(t *testing.T, cfg smsc.Config) *smsc.Server {
	t.Helper()
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 50 * time.Millisecond
	}
	s, err := smsc.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fastConfig is a client config with test-sized timers.
func fastConfig(addr string) smpp.Config {
	return smpp.Config{
		Name:              "carrier-a",
		Addr:              addr,
		SystemID:          "paygate",
		Password:          "secret",
		ResponseTimeout:   2 * time.Second,
		BindTimeout:       2 * time.Second,
		BackoffMin:        10 * time.Millisecond,
		BackoffMax:        100 * time.Millisecond,
		RefusedBackoffMin: 20 * time.Millisecond,
		RefusedBackoffMax: 80 * time.Millisecond,
		ThrottleMin:       10 * time.Millisecond,
		ThrottleMax:       80 * time.Millisecond,
	}
}

func newClient(t *testing.T, cfg smpp.Config) *smpp.Client {
	t.Helper()
	c, err := smpp.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	closeClient(t, c)
	return c
}

func waitBound(t *testing.T, c *smpp.Client) {
	t.Helper()
	eventually(t, "bind", c.Bound)
}

func TestSubmitAndDeliverBindModes(t *testing.T) {
	for _, mode := range []smpp.BindMode{smpp.Transceiver, smpp.TransmitterReceiver} {
		t.Run(mode.String(), func(t *testing.T) {
			sim := startSMSC(t, smsc.Config{})
			rec := newRecorder()
			cfg := fastConfig(sim.Addr())
			cfg.Mode = mode
			cfg.Handler = rec
			c := newClient(t, cfg)

			res, err := c.Submit(ctxT(t), submitTo("+8613800138000", "hello"), "mt-1")
			if err != nil {
				t.Fatalf("Submit: %v", err)
			}
			got := sim.Received("+8613800138000")
			if len(got) != 1 || got[0].Text() != "hello" || got[0].MessageID != res.MessageID {
				t.Fatalf("phone received %+v, submit said %q", got, res.MessageID)
			}

			id := sim.Inject(smsc.MO{From: "+8613800138000", To: "3030", Text: "HELP"})
			d := rec.next(t)
			if d.Bind != "carrier-a" || string(d.PDU.ShortMessage) != "HELP" || d.PDU.Source != (smpp.Address{TON: 1, NPI: 1, Addr: "8613800138000"}) {
				t.Fatalf("delivery %+v", d)
			}
			if err := sim.WaitDelivered(ctxT(t), id); err != nil {
				t.Fatal(err)
			}
			st := c.Status()
			want := 1
			if mode == smpp.TransmitterReceiver {
				want = 2
			}
			if len(st) != want {
				t.Fatalf("status %+v", st)
			}
			for _, s := range st {
				if !s.Bound || s.Binds != 1 {
					t.Fatalf("status %+v", s)
				}
			}
		})
	}
}

// go-smpp defect: its Transceiver hands a deliver_sm whose sequence number
// equals a pending submit_sm's to the submitter. Here the SMSC sends a
// deliver_sm numbered like our pending submit; the handler must get it and
// the submit must still get its own response.
func TestDeliverWithSeqOfPendingSubmit(t *testing.T) {
	w := listenWire(t)
	rec := newRecorder()
	cfg := fastConfig(w.addr())
	cfg.Handler = rec
	c := newClient(t, cfg)
	w.accept()

	type result struct {
		res smpp.SubmitResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := c.Submit(ctxT(t), submitTo("+8613800138000", "x"), "")
		done <- result{r, err}
	}()
	sub := w.expect(smpp.SubmitSM)
	w.send(&smpp.PDU{Command: smpp.DeliverSM, Seq: sub.Seq, Source: smpp.Address{Addr: "+8613900000000"}, ShortMessage: []byte("MO")})
	if d := rec.next(t); string(d.PDU.ShortMessage) != "MO" {
		t.Fatalf("handler got %q", d.PDU.ShortMessage)
	}
	ack := w.expect(smpp.DeliverSMResp)
	if ack.Seq != sub.Seq || ack.Status != smpp.StatusOK {
		t.Fatalf("deliver_sm_resp %s", ack)
	}
	select {
	case r := <-done:
		t.Fatalf("submit ended before its response: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	w.send(&smpp.PDU{Command: smpp.SubmitSMResp, Seq: sub.Seq, MessageID: "abc"})
	r := <-done
	if r.err != nil || r.res.MessageID != "abc" {
		t.Fatalf("submit: %+v", r)
	}
}

// go-smpp defect: its handler runs inside the read loop, so a Submit from
// the handler stalls until timeout. Here the handler answers every MO with
// a Submit and waits for it.
func TestSubmitFromHandler(t *testing.T) {
	sim := startSMSC(t, smsc.Config{})
	var c *smpp.Client
	ready := make(chan struct{})
	cfg := fastConfig(sim.Addr())
	cfg.ResponseTimeout = 30 * time.Second // a stall would show as a slow test, not a pass
	var replies atomic.Int32
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		<-ready
		if _, err := c.Submit(ctx, submitTo(d.PDU.Source.Addr, "reply"), ""); err != nil {
			return smpp.StatusRxTAppn
		}
		replies.Add(1)
		return smpp.StatusOK
	})
	c = newClient(t, cfg)
	close(ready)
	waitBound(t, c)
	start := time.Now()
	var ids []uint64
	for i := range 20 {
		ids = append(ids, sim.Inject(smsc.MO{From: fmt.Sprintf("+86139%08d", i), To: "3030", Text: "HELP"}))
	}
	for _, id := range ids {
		if err := sim.WaitDelivered(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	if replies.Load() != 20 {
		t.Fatalf("%d replies", replies.Load())
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("handler submits stalled: %v", el)
	}
}

// go-smpp defect: deliver_sm_resp is always ESME_ROK. Here the handler
// refuses with ESME_RX_T_APPN until it has "persisted", and the SMSC
// redelivers until it gets ESME_ROK.
func TestHandlerStatusMakesSMSCRedeliver(t *testing.T) {
	sim := startSMSC(t, smsc.Config{RetryInterval: 20 * time.Millisecond})
	var calls atomic.Int32
	cfg := fastConfig(sim.Addr())
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		if calls.Add(1) < 3 {
			return smpp.StatusRxTAppn // store unavailable
		}
		return smpp.StatusOK
	})
	newClient(t, cfg)
	id := sim.Inject(smsc.MO{From: "+8613800138000", To: "3030", Text: "BAL"})
	if err := sim.WaitDelivered(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	delivered, attempts, last := sim.MOStatus(id)
	if !delivered || attempts != 3 || last != smpp.StatusOK {
		t.Fatalf("delivered=%v attempts=%d last=%s", delivered, attempts, last)
	}
}

func TestPanickingHandler(t *testing.T) {
	sim := startSMSC(t, smsc.Config{RetryInterval: 20 * time.Millisecond})
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg := fastConfig(sim.Addr())
	cfg.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	var calls atomic.Int32
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return smpp.StatusOK
	})
	c := newClient(t, cfg)
	id := sim.Inject(smsc.MO{From: "+8613800138000", To: "3030", Text: "HELP"})
	if err := sim.WaitDelivered(ctxT(t), id); err != nil {
		t.Fatal(err)
	}
	_, attempts, _ := sim.MOStatus(id)
	if attempts != 2 {
		t.Fatalf("attempts %d: the panic should have answered ESME_RX_T_APPN", attempts)
	}
	if st := c.Status(); st[0].Binds != 1 {
		t.Fatalf("bind did not survive: %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(logs.String(), "handler panicked") || !strings.Contains(logs.String(), "boom") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// go-smpp defect: it drops the bind on unknown PDUs. Here an unknown
// command id gets generic_nack ESME_RINVCMDID and the bind lives.
func TestUnknownCommandGetsGenericNack(t *testing.T) {
	w := listenWire(t)
	var h hookLog
	cfg := fastConfig(w.addr())
	cfg.Hooks = h.hooks()
	c := newClient(t, cfg)
	w.accept()
	w.send(&smpp.PDU{Command: smpp.EnquireLink, Seq: 7})
	w.expect(smpp.EnquireLinkResp)
	// command id 0x00000999 with a 4-octet body.
	w.write([]byte{0, 0, 0, 20, 0, 0, 0x09, 0x99, 0, 0, 0, 0, 0, 0, 0, 42, 1, 2, 3, 4})
	nack := w.expect(smpp.GenericNack)
	if nack.Seq != 42 || nack.Status != smpp.StatusInvCmdID {
		t.Fatalf("got %s", nack)
	}
	// query_sm is a request an ESME never receives: also nacked.
	w.send(&smpp.PDU{Command: smpp.EnquireLink, Seq: 8})
	w.expect(smpp.EnquireLinkResp)
	done := make(chan error, 1)
	go func() { _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "still bound"), ""); done <- err }()
	sub := w.expect(smpp.SubmitSM)
	w.send(&smpp.PDU{Command: smpp.SubmitSMResp, Seq: sub.Seq, MessageID: "1"})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := c.Status(); st[0].Binds != 1 {
		t.Fatalf("rebound: %+v", st)
	}
}

// Responses are matched only to our own requests: a response with a
// sequence number we never used, or of the wrong type, is dropped.
func TestResponsesMatchOnlyOwnRequests(t *testing.T) {
	w := listenWire(t)
	var h hookLog
	cfg := fastConfig(w.addr())
	cfg.Hooks = h.hooks()
	c := newClient(t, cfg)
	w.accept()
	done := make(chan error, 1)
	var res smpp.SubmitResult
	go func() {
		var err error
		res, err = c.Submit(ctxT(t), submitTo("+8613800138000", "x"), "")
		done <- err
	}()
	sub := w.expect(smpp.SubmitSM)
	w.send(&smpp.PDU{Command: smpp.SubmitSMResp, Seq: sub.Seq + 100, MessageID: "stranger"})
	w.send(&smpp.PDU{Command: smpp.EnquireLinkResp, Seq: sub.Seq})
	w.send(&smpp.PDU{Command: smpp.DeliverSMResp, Seq: sub.Seq})
	w.send(&smpp.PDU{Command: smpp.SubmitSMResp, Seq: sub.Seq, MessageID: "mine"})
	if err := <-done; err != nil || res.MessageID != "mine" {
		t.Fatalf("submit: %v %+v", err, res)
	}
	eventually(t, "unexpected responses counted", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.unexpect == 3
	})
}

// Sequence numbers are per connection, start at 1, and wrap from
// 0x7FFFFFFF to 1 (go-smpp shares one global counter).
func TestSequenceNumbersPerSessionAndWrap(t *testing.T) {
	w1, w2 := listenWire(t), listenWire(t)
	c1 := newClient(t, fastConfig(w1.addr()))
	c2 := newClient(t, fastConfig(w2.addr()))
	w1.accept()
	w2.accept()
	for _, tc := range []struct {
		c *smpp.Client
		w *wirePeer
	}{{c1, w1}, {c2, w2}} {
		go tc.c.Submit(ctxT(t), submitTo("+8613800138000", "x"), "")
		sub := tc.w.expect(smpp.SubmitSM)
		if sub.Seq != 2 { // bind was 1
			t.Fatalf("first submit seq %d, want 2", sub.Seq)
		}
		tc.w.send(&smpp.PDU{Command: smpp.SubmitSMResp, Seq: sub.Seq, MessageID: "1"})
	}

	w := listenWire(t)
	cfg := fastConfig(w.addr())
	smpp.SetFirstSeq(&cfg, smpp.MaxSeq-1)
	c := newClient(t, cfg)
	w.accept() // bind_transceiver is MaxSeq-1
	for _, want := range []uint32{smpp.MaxSeq, 1, 2} {
		done := make(chan error, 1)
		go func() { _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "x"), ""); done <- err }()
		sub := w.expect(smpp.SubmitSM)
		if sub.Seq != want {
			t.Fatalf("seq %d, want %d", sub.Seq, want)
		}
		w.send(&smpp.PDU{Command: smpp.SubmitSMResp, Seq: sub.Seq, MessageID: "1"})
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// The simulator sends a delivery receipt for a submit that asks for one:
// esm_class 0x04, receipted_message_id and message_state TLVs, and the
// Appendix B text, with the id the submit_sm_resp gave.
func TestSimulatorDeliveryReceipt(t *testing.T) {
	for _, hex := range []bool{false, true} {
		t.Run(fmt.Sprintf("hex=%v", hex), func(t *testing.T) {
			sim := startSMSC(t, smsc.Config{DLR: true, HexIDs: hex})
			rec := newRecorder()
			cfg := fastConfig(sim.Addr())
			cfg.Handler = rec
			c := newClient(t, cfg)
			for range 11 { // ids past 9 differ in hex
				if _, err := c.Submit(ctxT(t), submitTo("+8613800138000", "no receipt"), ""); err != nil {
					t.Fatal(err)
				}
			}
			req := submitTo("+8613800138000", "receipt please")
			req.RegisteredDelivery = 1
			res, err := c.Submit(ctxT(t), req, "")
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{false: "12", true: "c"}[hex]; res.MessageID != want {
				t.Fatalf("message id %q, want %q", res.MessageID, want)
			}
			d := rec.next(t)
			p := d.PDU
			id, _ := p.TLVs.Get(smpp.TagReceiptedMessageID)
			state, _ := p.TLVs.Uint(smpp.TagMessageState)
			if p.ESMClass != 0x04 || string(id) != res.MessageID+"\x00" || state != 2 ||
				!strings.HasPrefix(string(p.ShortMessage), "id:"+res.MessageID+" ") ||
				!strings.Contains(string(p.ShortMessage), "stat:DELIVRD") {
				t.Fatalf("receipt %+v %q", p, p.ShortMessage)
			}
			select {
			case d := <-rec.ch:
				t.Fatalf("unrequested receipt %q", d.PDU.ShortMessage)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}
