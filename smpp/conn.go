package smpp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Errors of a connection.
var (
	// ErrNotSent wraps the failure of a request that was never queued for
	// writing (the connection was closed, or ctx ended first): the peer
	// cannot have acted on it.
	ErrNotSent = errors.New("smpp: request not sent")
	// ErrClosed says the connection is closed or closing.
	ErrClosed = errors.New("smpp: connection closed")
	// ErrConnectionLost ends requests that were written but not answered
	// when the connection went down.
	ErrConnectionLost = errors.New("smpp: connection lost")
	// ErrResponseTimeout ends a request whose response did not come in time.
	ErrResponseTimeout = errors.New("smpp: response timeout")
	// ErrLinkDead closes a connection whose peer did not answer
	// enquire_link in time.
	ErrLinkDead = errors.New("smpp: peer did not answer enquire_link")
	// ErrUnbound closes a connection after an unbind.
	ErrUnbound = errors.New("smpp: unbound")
)

// ConnOptions configure a Conn. The zero value of each field means its
// documented default.
type ConnOptions struct {
	// Name identifies the connection in hooks and logs.
	Name string
	// MaxPDU caps command_length; a larger or smaller than a header one
	// closes the connection. Default DefaultMaxPDU.
	MaxPDU uint32
	// Handler answers inbound requests other than enquire_link, unbind and
	// alert_notification, on its own goroutine, never on the read loop. It
	// returns the response (Seq is set by the Conn), or nil to send none.
	// A panic answers PanicStatus. With no Handler such requests are
	// answered generic_nack ESME_RINVCMDID.
	Handler func(ctx context.Context, req *PDU) *PDU
	// Accept says which request commands go to Handler; others are
	// answered generic_nack ESME_RINVCMDID and the connection lives.
	// Default: every request Decode knows.
	Accept func(CommandID) bool
	// MaxInflight caps handlers running at once. A request beyond it is
	// answered at once with BusyStatus so the read loop never waits.
	// Default 1024.
	MaxInflight int
	// BusyStatus answers requests beyond MaxInflight. Default
	// ESME_RX_T_APPN (the SMSC redelivers).
	BusyStatus Status
	// PanicStatus answers a request whose handler panicked. Default
	// ESME_RX_T_APPN.
	PanicStatus Status
	// HandlerTimeout bounds the context given to Handler. Default 30s.
	HandlerTimeout time.Duration
	// BaseContext is the parent of handler contexts; handlers are not
	// cancelled when the connection drops, only when it is cancelled.
	// Default context.Background().
	BaseContext context.Context
	// ResponseTimeout bounds the wait for a response to Send. Default 10s.
	ResponseTimeout time.Duration
	// LateWindow is how long a timed-out request is remembered so that
	// its late response is reported, not taken for unexpected. Default
	// 10 × ResponseTimeout.
	LateWindow time.Duration
	// WriteTimeout bounds one write to the socket. Default 10s.
	WriteTimeout time.Duration
	// EnquireInterval is the idle time after which enquire_link is sent;
	// 0 disables it. EnquireTimeout bounds its answer (default 10s);
	// without one the connection closes with ErrLinkDead.
	EnquireInterval time.Duration
	EnquireTimeout  time.Duration
	// Hooks receive metrics events.
	Hooks *Hooks
	// Logger receives handler panics and protocol errors. Default discards.
	Logger *slog.Logger
	// firstSeq is the sequence number the first request gets (tests).
	firstSeq uint32
}

func (o *ConnOptions) setDefaults() {
	if o.MaxPDU == 0 {
		o.MaxPDU = DefaultMaxPDU
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = 1024
	}
	if o.BusyStatus == 0 {
		o.BusyStatus = StatusRxTAppn
	}
	if o.PanicStatus == 0 {
		o.PanicStatus = StatusRxTAppn
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = 30 * time.Second
	}
	if o.BaseContext == nil {
		o.BaseContext = context.Background()
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = 10 * time.Second
	}
	if o.LateWindow <= 0 {
		o.LateWindow = 10 * o.ResponseTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.EnquireTimeout <= 0 {
		o.EnquireTimeout = 10 * time.Second
	}
	if o.Hooks == nil {
		o.Hooks = &Hooks{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Conn is one SMPP connection in either role: it frames PDUs, numbers its
// own requests (per connection, 1..MaxSeq, wrapping), matches responses to
// its own requests only, answers enquire_link and unbind itself, and runs
// Handler for other requests off the read loop. Its methods are safe for
// concurrent use.
type Conn struct {
	nc   net.Conn
	opts ConnOptions

	seq atomic.Uint32

	hmu      sync.Mutex // orders handler starts against Drain
	draining bool
	lastRead atomic.Int64 // unix nanos
	wq       chan outFrame
	inflight chan struct{}

	mu      sync.Mutex
	pending map[uint32]*call
	late    map[uint32]lateCall
	err     error

	closing   chan struct{}
	closeOnce sync.Once
	loops     sync.WaitGroup // read, write, keepalive
	handlers  sync.WaitGroup
}

type outFrame struct {
	b          []byte
	cmd        CommandID
	status     Status
	closeAfter bool
	flushed    chan struct{} // a marker: closed once everything before it is flushed
}

type call struct {
	cmd CommandID
	ref string
	ch  chan callResult
}

type callResult struct {
	resp *PDU
	err  error
}

type lateCall struct {
	cmd     CommandID
	ref     string
	expires time.Time
}

// NewConn starts serving nc. The caller must eventually Close it.
func NewConn(nc net.Conn, opts ConnOptions) *Conn {
	opts.setDefaults()
	c := &Conn{
		nc:       nc,
		opts:     opts,
		wq:       make(chan outFrame, 256),
		inflight: make(chan struct{}, opts.MaxInflight),
		pending:  make(map[uint32]*call),
		late:     make(map[uint32]lateCall),
		closing:  make(chan struct{}),
	}
	if opts.firstSeq > 0 {
		c.seq.Store(opts.firstSeq - 1)
	}
	c.lastRead.Store(time.Now().UnixNano())
	c.loops.Add(2)
	go c.readLoop()
	go c.writeLoop()
	if opts.EnquireInterval > 0 {
		c.loops.Add(1)
		go c.keepalive()
	}
	return c
}

// nextSeq returns the next sequence number, wrapping from MaxSeq to 1.
func (c *Conn) nextSeq() uint32 {
	for {
		old := c.seq.Load()
		next := old + 1
		if next > MaxSeq || next == 0 {
			next = 1
		}
		if c.seq.CompareAndSwap(old, next) {
			return next
		}
	}
}

// Done is closed when the connection starts closing.
func (c *Conn) Done() <-chan struct{} { return c.closing }

// Err returns why the connection closed, or nil while it is open.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Close closes the connection at once, fails pending requests with
// ErrConnectionLost, and waits for its goroutines and running handlers.
func (c *Conn) Close() error {
	c.closeWith(ErrClosed)
	c.loops.Wait()
	c.handlers.Wait()
	return nil
}

// closeWith starts closing with cause err; the first cause wins.
func (c *Conn) closeWith(err error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.err = err
		pending := c.pending
		c.pending = make(map[uint32]*call)
		c.mu.Unlock()
		close(c.closing)
		c.nc.Close()
		for _, cl := range pending {
			cl.ch <- callResult{err: fmt.Errorf("%w: %w", ErrConnectionLost, err)}
		}
	})
}

// Send writes request p with the next sequence number (overwriting p.Seq)
// and waits for its response, ctx, or ResponseTimeout. ref is reported with
// a late response. Before the request is queued the error wraps
// ErrNotSent and ErrClosed or ctx's error, and nothing was written; after, it is ErrResponseTimeout,
// an error wrapping ErrConnectionLost, or ctx's error, and the peer may
// have acted on the request. A response with a non-zero status is
// returned as a response, not an error.
func (c *Conn) Send(ctx context.Context, p *PDU, ref string) (*PDU, error) {
	return c.send(ctx, p, ref, c.opts.ResponseTimeout)
}

func (c *Conn) send(ctx context.Context, p *PDU, ref string, timeout time.Duration) (*PDU, error) {
	p.Seq = c.nextSeq()
	b, err := Encode(nil, p)
	if err != nil {
		return nil, err
	}
	cl := &call{cmd: p.Command, ref: ref, ch: make(chan callResult, 1)}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: %w", ErrNotSent, ErrClosed)
	}
	c.pending[p.Seq] = cl
	c.mu.Unlock()

	select {
	case c.wq <- outFrame{b: b, cmd: p.Command}:
	case <-c.closing:
		c.forget(p.Seq)
		return nil, fmt.Errorf("%w: %w", ErrNotSent, ErrClosed)
	case <-ctx.Done():
		c.forget(p.Seq)
		return nil, fmt.Errorf("%w: %w", ErrNotSent, ctx.Err())
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-cl.ch:
		return r.resp, r.err
	case <-t.C:
		c.expire(p.Seq, cl)
		return nil, ErrResponseTimeout
	case <-ctx.Done():
		c.expire(p.Seq, cl)
		return nil, ctx.Err()
	}
}

func (c *Conn) forget(seq uint32) {
	c.mu.Lock()
	delete(c.pending, seq)
	c.mu.Unlock()
}

// expire moves a pending call to the late list so its response, if it
// comes, is reported rather than dropped as unexpected.
func (c *Conn) expire(seq uint32, cl *call) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[seq] != cl {
		return
	}
	delete(c.pending, seq)
	for s, l := range c.late {
		if now.After(l.expires) {
			delete(c.late, s)
		}
	}
	c.late[seq] = lateCall{cmd: cl.cmd, ref: cl.ref, expires: now.Add(c.opts.LateWindow)}
}

// Respond queues a response (or any PDU with a caller-chosen Seq) for
// writing without waiting for an answer.
func (c *Conn) Respond(p *PDU) error {
	b, err := Encode(nil, p)
	if err != nil {
		return err
	}
	return c.enqueue(outFrame{b: b, cmd: p.Command, status: p.Status})
}

func (c *Conn) enqueue(f outFrame) error {
	select {
	case c.wq <- f:
		return nil
	case <-c.closing:
		return ErrClosed
	}
}

func (c *Conn) readLoop() {
	defer c.loops.Done()
	br := bufio.NewReaderSize(c.nc, 64*1024)
	var buf []byte
	for {
		frame, err := ReadFrame(br, buf, c.opts.MaxPDU)
		if err != nil {
			var fl *FrameLengthError
			if errors.As(err, &fl) {
				c.opts.Logger.Warn("smpp: closing on bad command_length", "bind", c.opts.Name, "length", fl.Length)
				c.closeWith(err)
				return
			}
			c.closeWith(fmt.Errorf("reading: %w", err))
			return
		}
		buf = frame[:0]
		c.lastRead.Store(time.Now().UnixNano())
		p, err := Decode(frame)
		if p == nil {
			c.closeWith(err)
			return
		}
		if h := c.opts.Hooks.PDU; h != nil {
			h(c.opts.Name, Inbound, p.Command, p.Status)
		}
		if p.Command.IsResponse() {
			c.onResponse(p, err)
			continue
		}
		c.onRequest(p, err)
	}
}

func (c *Conn) onResponse(p *PDU, decodeErr error) {
	c.mu.Lock()
	cl, ok := c.pending[p.Seq]
	if ok && (p.Command == cl.cmd.Response() || p.Command == GenericNack) {
		delete(c.pending, p.Seq)
		c.mu.Unlock()
		cl.ch <- callResult{resp: p, err: decodeErr}
		return
	}
	l, isLate := c.late[p.Seq]
	if isLate && (p.Command == l.cmd.Response() || p.Command == GenericNack) {
		delete(c.late, p.Seq)
	}
	c.mu.Unlock()
	if isLate {
		if h := c.opts.Hooks.LateResponse; h != nil {
			h(c.opts.Name, l.ref, p)
		}
		return
	}
	c.opts.Logger.Warn("smpp: dropping response to no request of ours", "bind", c.opts.Name, "command", p.Command.String(), "seq", p.Seq)
	if h := c.opts.Hooks.Unexpected; h != nil {
		h(c.opts.Name, p)
	}
}

func (c *Conn) onRequest(p *PDU, decodeErr error) {
	switch {
	case errors.Is(decodeErr, ErrUnknownCommand):
		c.nack(p.Seq, StatusInvCmdID)
		return
	case decodeErr != nil:
		var de *DecodeError
		status := StatusSysErr
		if errors.As(decodeErr, &de) {
			status = de.Status
		}
		c.opts.Logger.Warn("smpp: malformed request", "bind", c.opts.Name, "err", decodeErr)
		c.Respond(&PDU{Command: p.Command.Response(), Status: status, Seq: p.Seq})
		return
	}
	switch p.Command {
	case EnquireLink:
		c.Respond(&PDU{Command: EnquireLinkResp, Seq: p.Seq})
		return
	case Unbind:
		b, _ := Encode(nil, &PDU{Command: UnbindResp, Seq: p.Seq})
		c.enqueue(outFrame{b: b, cmd: UnbindResp, closeAfter: true})
		return
	case AlertNotification:
		return
	}
	if c.opts.Handler == nil || (c.opts.Accept != nil && !c.opts.Accept(p.Command)) {
		c.nack(p.Seq, StatusInvCmdID)
		return
	}
	// Under hmu, so that once Drain has set draining no handler starts:
	// its Wait cannot race an Add.
	c.hmu.Lock()
	if c.draining {
		c.hmu.Unlock()
		c.Respond(&PDU{Command: p.Command.Response(), Status: c.opts.BusyStatus, Seq: p.Seq})
		return
	}
	select {
	case c.inflight <- struct{}{}:
	default:
		c.hmu.Unlock()
		c.Respond(&PDU{Command: p.Command.Response(), Status: c.opts.BusyStatus, Seq: p.Seq})
		return
	}
	c.handlers.Add(1)
	c.hmu.Unlock()
	go c.handle(p)
}

func (c *Conn) nack(seq uint32, status Status) {
	c.Respond(&PDU{Command: GenericNack, Status: status, Seq: seq})
}

func (c *Conn) handle(p *PDU) {
	defer c.handlers.Done()
	defer func() { <-c.inflight }()
	resp := c.runHandler(p)
	if resp == nil {
		return
	}
	resp.Seq = p.Seq
	if err := c.Respond(resp); err != nil && !errors.Is(err, ErrClosed) {
		c.opts.Logger.Error("smpp: cannot encode handler response", "bind", c.opts.Name, "command", resp.Command.String(), "err", err)
		c.Respond(&PDU{Command: p.Command.Response(), Status: StatusSysErr, Seq: p.Seq})
	}
}

func (c *Conn) runHandler(p *PDU) (resp *PDU) {
	defer func() {
		if r := recover(); r != nil {
			c.opts.Logger.Error("smpp: handler panicked", "bind", c.opts.Name, "command", p.Command.String(),
				"seq", p.Seq, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp = &PDU{Command: p.Command.Response(), Status: c.opts.PanicStatus}
		}
	}()
	ctx, cancel := context.WithTimeout(c.opts.BaseContext, c.opts.HandlerTimeout)
	defer cancel()
	return c.opts.Handler(ctx, p)
}

func (c *Conn) writeLoop() {
	defer c.loops.Done()
	bw := bufio.NewWriterSize(c.nc, 64*1024)
	var markers []chan struct{}
	write := func(f outFrame) bool {
		if f.flushed != nil {
			markers = append(markers, f.flushed)
			return true
		}
		if _, err := bw.Write(f.b); err != nil {
			c.closeWith(fmt.Errorf("writing: %w", err))
			return false
		}
		if h := c.opts.Hooks.PDU; h != nil {
			h(c.opts.Name, Outbound, f.cmd, f.status)
		}
		return true
	}
	for {
		select {
		case <-c.closing:
			return
		case f := <-c.wq:
			c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
			if !write(f) {
				return
			}
			closeAfter := f.closeAfter
			// Batch whatever else is queued into the same flush.
			for more := true; more && !closeAfter; {
				select {
				case f := <-c.wq:
					if !write(f) {
						return
					}
					closeAfter = f.closeAfter
				default:
					more = false
				}
			}
			if err := bw.Flush(); err != nil {
				c.closeWith(fmt.Errorf("writing: %w", err))
				return
			}
			for _, m := range markers {
				close(m)
			}
			markers = markers[:0]
			if closeAfter {
				c.closeWith(ErrUnbound)
				return
			}
		}
	}
}

// keepalive sends enquire_link after EnquireInterval without reading
// anything, and closes the connection when it is not answered within
// EnquireTimeout: a silent (half-open) peer is found within
// EnquireInterval + EnquireTimeout.
func (c *Conn) keepalive() {
	defer c.loops.Done()
	t := time.NewTimer(c.opts.EnquireInterval)
	defer t.Stop()
	for {
		select {
		case <-c.closing:
			return
		case <-t.C:
		}
		idle := time.Since(time.Unix(0, c.lastRead.Load()))
		if idle < c.opts.EnquireInterval {
			t.Reset(c.opts.EnquireInterval - idle)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-c.closing:
				cancel()
			case <-ctx.Done():
			}
		}()
		resp, err := c.send(ctx, &PDU{Command: EnquireLink}, "", c.opts.EnquireTimeout)
		cancel()
		if err != nil {
			if errors.Is(err, ErrResponseTimeout) {
				c.opts.Logger.Warn("smpp: peer silent, closing", "bind", c.opts.Name)
				c.closeWith(ErrLinkDead)
			}
			return
		}
		_ = resp // any answer, even generic_nack, proves the peer alive
		t.Reset(c.opts.EnquireInterval)
	}
}

// Drain stops handing new requests to Handler (they are answered
// BusyStatus, so the SMSC redelivers them later or elsewhere), waits until
// the handlers under way have finished and their answers are written, or
// ctx ends. The connection stays open.
func (c *Conn) Drain(ctx context.Context) {
	c.hmu.Lock()
	c.draining = true
	c.hmu.Unlock()
	done := make(chan struct{})
	go func() { c.handlers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return
	}
	flushed := make(chan struct{})
	if c.enqueue(outFrame{flushed: flushed}) == nil {
		select {
		case <-flushed:
		case <-c.closing:
		case <-ctx.Done():
		}
	}
}
