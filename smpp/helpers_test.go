package smpp_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygate/paygate/smpp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wirePeer is the far end of a connection driven by a test byte by byte:
// it plays an SMSC that does exactly what the test says.
type wirePeer struct {
	t  *testing.T
	ln net.Listener
	nc net.Conn
}

func listenWire(t *testing.T) *wirePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &wirePeer{t: t, ln: ln}
}

func (w *wirePeer) addr() string { return w.ln.Addr().String() }

// accept waits for the next connection and answers its bind with ESME_ROK.
func (w *wirePeer) accept() {
	w.t.Helper()
	w.ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	nc, err := w.ln.Accept()
	if err != nil {
		w.t.Fatalf("accept: %v", err)
	}
	if w.nc != nil {
		w.nc.Close()
	}
	w.nc = nc
	w.t.Cleanup(func() { nc.Close() })
	bind := w.expect(smpp.BindTransceiver)
	w.send(&smpp.PDU{Command: smpp.BindTransceiverResp, Seq: bind.Seq, SystemID: "wire"})
}

func (w *wirePeer) send(p *smpp.PDU) {
	w.t.Helper()
	b, err := smpp.Encode(nil, p)
	if err != nil {
		w.t.Fatalf("encode %s: %v", p.Command, err)
	}
	w.write(b)
}

func (w *wirePeer) write(b []byte) {
	w.t.Helper()
	if _, err := w.nc.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// read returns the next smpp.PDU, skipping enquire_link which it answers.
func (w *wirePeer) read() *smpp.PDU {
	w.t.Helper()
	for {
		w.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		frame, err := smpp.ReadFrame(w.nc, nil, smpp.DefaultMaxPDU)
		if err != nil {
			w.t.Fatalf("read: %v", err)
		}
		p, err := smpp.Decode(frame)
		if err != nil {
			w.t.Fatalf("decode: %v", err)
		}
		if p.Command == smpp.EnquireLink {
			w.send(&smpp.PDU{Command: smpp.EnquireLinkResp, Seq: p.Seq})
			continue
		}
		return p
	}
}

func (w *wirePeer) expect(cmd smpp.CommandID) *smpp.PDU {
	w.t.Helper()
	p := w.read()
	if p.Command != cmd {
		w.t.Fatalf("got %s, want %s", p, cmd)
	}
	return p
}

// expectClosed waits for the client to close the connection.
func (w *wirePeer) expectClosed() {
	w.t.Helper()
	w.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [64]byte
	for {
		if _, err := w.nc.Read(b[:]); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				w.t.Fatal("connection still open")
			}
			return
		}
	}
}

// recorder is a Handler that records deliveries and answers with a
// programmable status.
type recorder struct {
	mu     sync.Mutex
	got    []*smpp.Delivery
	answer func(d *smpp.Delivery) smpp.Status
	ch     chan *smpp.Delivery
}

func newRecorder() *recorder { return &recorder{ch: make(chan *smpp.Delivery, 1000)} }

func (r *recorder) HandleMessage(ctx context.Context, d *smpp.Delivery) smpp.Status {
	st := smpp.StatusOK
	if r.answer != nil {
		st = r.answer(d)
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	r.ch <- d
	return st
}

func (r *recorder) next(t *testing.T) *smpp.Delivery {
	t.Helper()
	select {
	case d := <-r.ch:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
		return nil
	}
}

// hookLog counts hook events.
type hookLog struct {
	mu        sync.Mutex
	pdus      map[string]int
	binds     []bool
	bindErrs  []error
	windowMax int
	throttles []time.Duration
	late      []string
	unexpect  int
}

func (h *hookLog) hooks() *smpp.Hooks {
	h.pdus = map[string]int{}
	return &smpp.Hooks{
		PDU: func(_ string, dir smpp.Direction, cmd smpp.CommandID, st smpp.Status) {
			h.mu.Lock()
			h.pdus[dir.String()+" "+cmd.String()]++
			h.mu.Unlock()
		},
		Bind: func(_ string, _ smpp.BindMode, up bool, err error) {
			h.mu.Lock()
			h.binds = append(h.binds, up)
			h.bindErrs = append(h.bindErrs, err)
			h.mu.Unlock()
		},
		Window: func(_ string, inUse, _ int) {
			h.mu.Lock()
			h.windowMax = max(h.windowMax, inUse)
			h.mu.Unlock()
		},
		Throttled: func(_ string, _ smpp.Status, d time.Duration) {
			h.mu.Lock()
			h.throttles = append(h.throttles, d)
			h.mu.Unlock()
		},
		LateResponse: func(_ string, ref string, _ *smpp.PDU) {
			h.mu.Lock()
			h.late = append(h.late, ref)
			h.mu.Unlock()
		},
		Unexpected: func(string, *smpp.PDU) {
			h.mu.Lock()
			h.unexpect++
			h.mu.Unlock()
		},
	}
}

func (h *hookLog) count(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pdus[key]
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func closeClient(t *testing.T, c *smpp.Client) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
}

func submitTo(dest, text string) *smpp.PDU {
	return &smpp.PDU{
		Source:       smpp.Address{TON: 5, Addr: "3030"},
		Dest:         smpp.Address{TON: 1, NPI: 1, Addr: dest},
		ShortMessage: []byte(text),
	}
}
