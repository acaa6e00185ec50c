package smpp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// BindMode says how a Client binds.
type BindMode int

// Bind modes (SMPP 3.4 §2.2).
const (
	// Transceiver binds one connection that both submits and receives.
	Transceiver BindMode = iota
	// TransmitterReceiver binds a transmitter and a receiver connection.
	TransmitterReceiver
)

func (m BindMode) String() string {
	if m == TransmitterReceiver {
		return "transmitter+receiver"
	}
	return "transceiver"
}

// Errors of a Client.
var (
	// ErrUnknownOutcome wraps a submit whose request was written but whose
	// answer never came (timeout, connection lost): the SMSC may or may
	// not have accepted it. It is told apart from failure; a late answer
	// is reported through Hooks.LateResponse.
	ErrUnknownOutcome = errors.New("smpp: submit outcome unknown")
	// ErrNotBound is returned when ctx ends while no bind is up.
	ErrNotBound = errors.New("smpp: not bound")
	// ErrClientClosed is returned by Submit after Close.
	ErrClientClosed = errors.New("smpp: client closed")
)

// Handler receives inbound messages. It runs off the read loop, possibly
// concurrently with itself, and returns the status to acknowledge with:
// StatusOK only once the message is persisted, StatusRxTAppn to make the
// SMSC redeliver later, StatusRxPAppn or StatusRxRAppn to refuse it.
type Handler interface {
	HandleMessage(ctx context.Context, d *Delivery) Status
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, d *Delivery) Status

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, d *Delivery) Status { return f(ctx, d) }

// Config configures a Client. Zero values mean the documented default.
type Config struct {
	Name       string // identifies the bind in hooks and logs; default Addr
	Addr       string // host:port of the SMSC
	SystemID   string
	Password   Secret
	SystemType string
	Mode       BindMode
	// Window is how many submits may await their response; more wait
	// (they are never rejected). Default 10.
	Window int
	// Rate paces submit_sm per second; 0 means no limit. Burst is how
	// many may go at once after idling; default 1.
	Rate  float64
	Burst int
	// Handler receives deliver_sm and data_sm. Without one they are
	// answered ESME_RX_T_APPN, so the SMSC keeps them.
	Handler Handler
	// Parts holds the parts of concatenated inbound messages until the
	// last arrives; the Handler then gets the whole message. Default: a
	// Reassembler in memory, which a restart empties (the SMSC does not
	// resend parts it saw acknowledged): a gateway that must not lose
	// them supplies a durable store.
	Parts PartStore
	// Ref16 makes long outbound texts carry 16-bit concatenation
	// references (IEI 0x08) instead of 8-bit ones (IEI 0x00).
	Ref16 bool
	// USSDSession is the TLV in which this carrier's USSD gateway carries
	// its session id: TagITSSessionInfo (default) or
	// TagUserMessageReference (SPEC §4, smsc.ussd_session).
	USSDSession Tag

	BindTimeout     time.Duration // default 10s
	ResponseTimeout time.Duration // per request; default 10s
	EnquireInterval time.Duration // idle time before enquire_link; default 30s
	EnquireTimeout  time.Duration // default 10s
	// Reconnect backoff: exponential with jitter from BackoffMin (default
	// 500ms) to BackoffMax (default 30s). A bind refused for its
	// credentials or identity (ESME_RBINDFAIL, ESME_RINVPASWD,
	// ESME_RINVSYSID) backs off from RefusedBackoffMin (default 30s) to
	// RefusedBackoffMax (default 10m): retrying a wrong password fast can
	// get the account locked by the carrier.
	BackoffMin, BackoffMax               time.Duration
	RefusedBackoffMin, RefusedBackoffMax time.Duration
	// Pause after ESME_RTHROTTLED or ESME_RMSGQFUL, doubling from
	// ThrottleMin (default 200ms) up to ThrottleMax (default 10s) while
	// the SMSC keeps refusing; every submit on the bind waits it out.
	ThrottleMin, ThrottleMax time.Duration

	MaxPDU      uint32 // default DefaultMaxPDU
	MaxInflight int    // concurrent handler calls; default 1024
	// Dial opens the TCP (or TLS) connection. Default net.Dialer.
	Dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	Hooks  *Hooks
	Logger *slog.Logger

	firstSeq uint32 // tests: first sequence number of each connection
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = c.Addr
	}
	if c.Window <= 0 {
		c.Window = 10
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.BindTimeout, 10*time.Second)
	def(&c.ResponseTimeout, 10*time.Second)
	def(&c.EnquireInterval, 30*time.Second)
	def(&c.EnquireTimeout, 10*time.Second)
	def(&c.BackoffMin, 500*time.Millisecond)
	def(&c.BackoffMax, 30*time.Second)
	def(&c.RefusedBackoffMin, 30*time.Second)
	def(&c.RefusedBackoffMax, 10*time.Minute)
	def(&c.ThrottleMin, 200*time.Millisecond)
	def(&c.ThrottleMax, 10*time.Second)
	if c.Dial == nil {
		c.Dial = (&net.Dialer{}).DialContext
	}
	if c.Hooks == nil {
		c.Hooks = &Hooks{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Parts == nil {
		c.Parts = NewMemoryParts(ReassemblerConfig{})
	}
	if c.USSDSession == 0 {
		c.USSDSession = TagITSSessionInfo
	}
}

// Client is an ESME bound to one SMSC, rebinding whenever a connection
// is lost. Its methods are safe for concurrent use.
type Client struct {
	cfg    Config
	ctx    context.Context // lives until Close; parent of handler contexts
	cancel context.CancelFunc
	bucket *bucket
	lanes  lanes

	mu       sync.Mutex
	tx, rx   *session
	txReady  chan struct{} // closed while tx is bound; replaced when it drops
	status   map[string]*BindStatus
	closed   bool
	throttle throttleState

	nextRef atomic.Uint32 // concatenation references of long texts

	submits sync.WaitGroup
	loops   sync.WaitGroup
}

// session is one bound connection with its submit window.
type session struct {
	conn   *Conn
	window chan struct{}
}

type throttleState struct {
	since  time.Time // when the current pause was set
	until  time.Time // when it ends
	streak int       // pauses in a row without an accepted submit
}

// BindStatus describes one connection of a bind for operators.
type BindStatus struct {
	Name      string    `json:"name"`
	Role      string    `json:"role"` // transceiver, transmitter or receiver
	Bound     bool      `json:"bound"`
	Since     time.Time `json:"since"`
	LastError string    `json:"last_error,omitempty"`
	Binds     int       `json:"binds"` // successful binds so far
}

// NewClient validates cfg and starts binding in the background.
func NewClient(cfg Config) (*Client, error) {
	if cfg.Addr == "" {
		return nil, errors.New("smpp: Addr is required")
	}
	if cfg.SystemID == "" {
		return nil, errors.New("smpp: SystemID is required")
	}
	cfg.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		cfg:     cfg,
		ctx:     ctx,
		cancel:  cancel,
		bucket:  newBucket(cfg.Rate, cfg.Burst),
		txReady: make(chan struct{}),
		status:  make(map[string]*BindStatus),
	}
	roles := []CommandID{BindTransceiver}
	if cfg.Mode == TransmitterReceiver {
		roles = []CommandID{BindTransmitter, BindReceiver}
	}
	for _, r := range roles {
		c.status[roleName(r)] = &BindStatus{Name: cfg.Name, Role: roleName(r)}
		c.loops.Add(1)
		go c.bindLoop(r)
	}
	return c, nil
}

func roleName(bind CommandID) string {
	switch bind {
	case BindTransmitter:
		return "transmitter"
	case BindReceiver:
		return "receiver"
	}
	return "transceiver"
}

// Name returns the bind's name.
func (c *Client) Name() string { return c.cfg.Name }

// USSDSession returns the TLV that carries USSD session ids on this bind,
// for replies built with PDU.SetUSSD.
func (c *Client) USSDSession() Tag { return c.cfg.USSDSession }

// Status returns the state of each connection of the bind.
func (c *Client) Status() []BindStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]BindStatus, 0, len(c.status))
	for _, r := range []string{"transceiver", "transmitter", "receiver"} {
		if s, ok := c.status[r]; ok {
			out = append(out, *s)
		}
	}
	return out
}

// Bound reports whether every connection of the bind is up.
func (c *Client) Bound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.status {
		if !s.Bound {
			return false
		}
	}
	return true
}

// bindLoop keeps one connection of the bind up until Close.
func (c *Client) bindLoop(role CommandID) {
	defer c.loops.Done()
	attempt, refused := 0, 0
	for {
		s, err := c.bind(role)
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			c.setStatus(role, false, err)
			var d time.Duration
			var se *StatusError
			if errors.As(err, &se) && se.Status.BindRefused() {
				d = backoff(refused, c.cfg.RefusedBackoffMin, c.cfg.RefusedBackoffMax)
				refused++
			} else {
				d = backoff(attempt, c.cfg.BackoffMin, c.cfg.BackoffMax)
				attempt++
			}
			c.cfg.Logger.Warn("smpp: bind failed", "bind", c.cfg.Name, "role", roleName(role), "err", err, "retry_in", d)
			if !sleep(d, c.ctx.Done()) {
				return
			}
			continue
		}
		attempt, refused = 0, 0
		c.attach(role, s)
		select {
		case <-s.conn.Done():
		case <-c.ctx.Done():
		}
		c.detach(role, s)
		if c.ctx.Err() != nil {
			s.conn.Close() // Close has unbound it already, if it was up in time.
			return
		}
		err = s.conn.Err()
		// Handlers still persisting must not hold up the rebind.
		c.loops.Add(1)
		go func() { defer c.loops.Done(); s.conn.Close() }()
		c.setStatus(role, false, err)
		c.cfg.Logger.Warn("smpp: connection lost", "bind", c.cfg.Name, "role", roleName(role), "err", err)
		if !sleep(backoff(0, c.cfg.BackoffMin, c.cfg.BackoffMax), c.ctx.Done()) {
			return
		}
	}
}

// bind dials and binds one connection.
func (c *Client) bind(role CommandID) (*session, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.BindTimeout)
	defer cancel()
	nc, err := c.cfg.Dial(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", c.cfg.Addr, err)
	}
	opts := ConnOptions{
		Name:            c.cfg.Name,
		MaxPDU:          c.cfg.MaxPDU,
		MaxInflight:     c.cfg.MaxInflight,
		BaseContext:     c.ctx,
		ResponseTimeout: c.cfg.ResponseTimeout,
		EnquireInterval: c.cfg.EnquireInterval,
		EnquireTimeout:  c.cfg.EnquireTimeout,
		Hooks:           c.cfg.Hooks,
		Logger:          c.cfg.Logger,
		firstSeq:        c.cfg.firstSeq,
	}
	if role != BindTransmitter {
		opts.Handler = c.handle
		opts.Accept = func(id CommandID) bool { return id == DeliverSM || id == DataSM }
	}
	conn := NewConn(nc, opts)
	resp, err := conn.send(ctx, &PDU{
		Command:          role,
		SystemID:         c.cfg.SystemID,
		Password:         string(c.cfg.Password),
		SystemType:       c.cfg.SystemType,
		InterfaceVersion: 0x34,
	}, "", c.cfg.BindTimeout)
	if err == nil && resp.Status != StatusOK {
		err = &StatusError{Command: role, Status: resp.Status}
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("binding %s as %s: %w", c.cfg.Name, roleName(role), err)
	}
	return &session{conn: conn, window: make(chan struct{}, c.cfg.Window)}, nil
}

func (c *Client) handle(ctx context.Context, req *PDU) *PDU {
	return &PDU{Command: req.Command.Response(), Status: c.deliver(ctx, req)}
}

// deliver hands one inbound PDU to the Handler, through the PartStore
// when it is a part of a longer message, and returns the status to
// acknowledge it with.
func (c *Client) deliver(ctx context.Context, req *PDU) Status {
	if c.cfg.Handler == nil {
		return StatusRxTAppn
	}
	d := NewDelivery(c.cfg.Name, req)
	d.USSDSession = c.cfg.USSDSession
	if d.Parts == 1 {
		return c.cfg.Handler.HandleMessage(ctx, d)
	}
	key := partKey(d)
	parts, complete, err := c.cfg.Parts.AddPart(ctx, key, d.Concat.Seq, d.Payload)
	if err != nil {
		c.cfg.Logger.Warn("smpp: cannot keep message part", "bind", c.cfg.Name, "err", err)
		return StatusRxTAppn
	}
	if !complete {
		return StatusOK // kept; the message is handled when its last part comes
	}
	d.Payload = bytes.Join(parts, nil)
	status := c.cfg.Handler.HandleMessage(ctx, d)
	if status == StatusOK {
		// Handled: a part the SMSC delivers again is a duplicate of a
		// handled message, which the handler recognises by Identity.
		if err := c.cfg.Parts.Forget(ctx, key); err != nil {
			c.cfg.Logger.Warn("smpp: cannot forget message parts", "bind", c.cfg.Name, "err", err)
		}
	}
	return status
}

func (c *Client) setStatus(role CommandID, up bool, err error) {
	c.mu.Lock()
	st := c.status[roleName(role)]
	changed := st.Bound != up
	st.Bound = up
	if changed || st.Since.IsZero() {
		st.Since = time.Now()
	}
	if up {
		st.Binds++
		st.LastError = ""
	} else if err != nil {
		st.LastError = err.Error()
	}
	c.mu.Unlock()
	if h := c.cfg.Hooks.Bind; h != nil && (changed || !up) {
		h(c.cfg.Name, c.cfg.Mode, up, err)
	}
}

func (c *Client) attach(role CommandID, s *session) {
	c.mu.Lock()
	if role != BindReceiver {
		c.tx = s
		close(c.txReady)
	}
	if role != BindTransmitter {
		c.rx = s
	}
	c.mu.Unlock()
	c.setStatus(role, true, nil)
	c.cfg.Logger.Info("smpp: bound", "bind", c.cfg.Name, "role", roleName(role), "addr", c.cfg.Addr)
}

func (c *Client) detach(role CommandID, s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if role != BindReceiver && c.tx == s {
		c.tx = nil
		c.txReady = make(chan struct{})
	}
	if role != BindTransmitter && c.rx == s {
		c.rx = nil
	}
}

// txSession waits for a bound transmitting connection.
func (c *Client) txSession(ctx context.Context) (*session, error) {
	for {
		c.mu.Lock()
		s, ready, closed := c.tx, c.txReady, c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClientClosed
		}
		if s != nil {
			return s, nil
		}
		select {
		case <-ready:
		case <-c.ctx.Done():
			return nil, ErrClientClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNotBound, ctx.Err())
		}
	}
}

// SubmitResult is the SMSC's answer to an accepted submit_sm.
type SubmitResult struct {
	MessageID string
}

// Submit sends a submit_sm and returns the SMSC's message id. It waits —
// for a bind, for the throttle pause, for the rate limit, for a free slot
// in the window — rather than failing; ctx bounds the wait. Submits to one
// destination leave in the order Submit was called and each waits for the
// previous one's final answer; ESME_RTHROTTLED and ESME_RMSGQFUL are
// retried after a pause, in order. A connection lost before the PDU was
// written is retried on the next bind.
//
// Errors: a *StatusError for any other refusal (Temporary tells whether
// a later retry may succeed); an error wrapping ErrUnknownOutcome when the
// PDU was written but no answer came (a late answer goes to
// Hooks.LateResponse with ref); ErrClientClosed; an *EncodeError; or an
// error wrapping ErrNotBound or ctx's error.
func (c *Client) Submit(ctx context.Context, p *PDU, ref string) (SubmitResult, error) {
	req := *p
	req.Command = SubmitSM
	if _, err := Encode(nil, &req); err != nil {
		return SubmitResult{}, err
	}
	leave, err := c.enter(ctx, req.Dest.Addr)
	if err != nil {
		return SubmitResult{}, err
	}
	defer leave()
	return c.submit(ctx, &req, ref)
}

// enter starts a submit: it refuses after Close, and waits for the turn
// of dest. The returned function ends it.
func (c *Client) enter(ctx context.Context, dest string) (func(), error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClientClosed
	}
	c.submits.Add(1)
	c.mu.Unlock()
	leave, err := c.lanes.enter(ctx, dest)
	if err != nil {
		c.submits.Done()
		return nil, err
	}
	return func() { leave(); c.submits.Done() }, nil
}

// submit sends one encodable submit_sm until it has a final answer; the
// caller holds the destination's turn.
func (c *Client) submit(ctx context.Context, req *PDU, ref string) (SubmitResult, error) {
	for {
		if err := ctx.Err(); err != nil {
			return SubmitResult{}, err
		}
		s, err := c.txSession(ctx)
		if err != nil {
			return SubmitResult{}, err
		}
		if err := c.waitThrottle(ctx); err != nil {
			return SubmitResult{}, err
		}
		if err := c.bucket.wait(ctx); err != nil {
			return SubmitResult{}, err
		}
		select {
		case s.window <- struct{}{}:
		case <-s.conn.Done():
			continue
		case <-ctx.Done():
			return SubmitResult{}, ctx.Err()
		}
		if h := c.cfg.Hooks.Window; h != nil {
			h(c.cfg.Name, len(s.window), cap(s.window))
		}
		start := time.Now()
		send := *req
		resp, err := s.conn.Send(ctx, &send, ref)
		<-s.window
		if h := c.cfg.Hooks.Window; h != nil {
			h(c.cfg.Name, len(s.window), cap(s.window))
		}
		if errors.Is(err, ErrNotSent) {
			if errors.Is(err, ErrClosed) {
				continue // never written: safe to send on the next bind
			}
			return SubmitResult{}, err
		}
		if err != nil {
			err = fmt.Errorf("%w: %w", ErrUnknownOutcome, err)
			c.submitDone(start, err)
			return SubmitResult{}, err
		}
		if resp.Command == GenericNack || resp.Status != StatusOK {
			se := &StatusError{Command: SubmitSM, Status: resp.Status}
			if se.Status.Throttling() && resp.Command != GenericNack {
				c.throttled(resp.Status, start)
				continue
			}
			c.submitDone(start, se)
			return SubmitResult{}, se
		}
		c.mu.Lock()
		c.throttle.streak = 0
		c.mu.Unlock()
		c.submitDone(start, nil)
		return SubmitResult{MessageID: resp.MessageID}, nil
	}
}

// Text is an outbound text message for SubmitText.
type Text struct {
	Source, Dest Address
	Body         string
	// Receipt asks the SMSC for a delivery receipt (registered_delivery 1).
	Receipt bool
	// ServiceType and TLVs are copied to every part (e.g. SetUSSD's).
	ServiceType string
	TLVs        TLVs
	// Single sends the text as one message, never split: a USSD screen
	// (up to 182 GSM-7 characters or 80 UCS-2, SPEC §4) has no
	// concatenation. A text longer than short_message allows (254
	// octets) is an error.
	Single bool
}

// PartialError is a long text of which some parts were accepted before
// one failed: the phone may see the beginning of the message.
type PartialError struct {
	Accepted []string // message ids of the parts accepted, in order
	Err      error    // why the next part failed
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("smpp: %d parts accepted before: %v", len(e.Accepted), e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// SubmitText sends a text in GSM 7-bit when every character allows it,
// else UCS-2, split on character boundaries into concatenated parts (UDH
// with 8- or 16-bit references, Config.Ref16) when it does not fit one
// message. It returns the message id of each part in order. The parts of
// one text leave back to back in their destination's turn, so no other
// message to that phone comes between them. Errors are Submit's; one
// after the first part was accepted is a *PartialError wrapping it.
func (c *Client) SubmitText(ctx context.Context, t Text, ref string) ([]string, error) {
	r := c.nextRef.Add(1)
	if !c.cfg.Ref16 {
		r &= 0xFF
	}
	coding, parts, err := Split(t.Body, uint16(r), c.cfg.Ref16)
	if t.Single {
		coding, parts, err = single(t.Body)
	}
	if err != nil {
		return nil, fmt.Errorf("smpp: splitting text: %w", err)
	}
	reqs := make([]*PDU, len(parts))
	for i, part := range parts {
		req := &PDU{
			Command: SubmitSM, ServiceType: t.ServiceType, Source: t.Source, Dest: t.Dest,
			DataCoding: byte(coding), ShortMessage: part, TLVs: t.TLVs,
		}
		if t.Receipt {
			req.RegisteredDelivery = 1
		}
		if len(parts) > 1 {
			req.ESMClass |= esmUDHI
		}
		if _, err := Encode(nil, req); err != nil {
			return nil, err
		}
		reqs[i] = req
	}
	leave, err := c.enter(ctx, t.Dest.Addr)
	if err != nil {
		return nil, err
	}
	defer leave()
	ids := make([]string, 0, len(reqs))
	for _, req := range reqs {
		res, err := c.submit(ctx, req, ref)
		if err != nil {
			if len(ids) > 0 {
				return nil, &PartialError{Accepted: ids, Err: err}
			}
			return nil, err
		}
		ids = append(ids, res.MessageID)
	}
	return ids, nil
}

// single encodes body as one short_message: GSM 7-bit (one septet an
// octet) when every character allows it, else UCS-2.
func single(body string) (Coding, [][]byte, error) {
	coding, b := CodingDefault, []byte(nil)
	if enc, ok := EncodeGSM7(body); ok {
		b = enc
	} else {
		coding, b = CodingUCS2, EncodeUCS2(body)
	}
	if len(b) > 254 {
		return coding, nil, fmt.Errorf("%d octets do not fit one message (254)", len(b))
	}
	return coding, [][]byte{b}, nil
}

func (c *Client) submitDone(start time.Time, err error) {
	if h := c.cfg.Hooks.Submit; h != nil {
		h(c.cfg.Name, time.Since(start), err)
	}
}

// throttled records a throttling answer to a submit sent at sent and sets
// the bind-wide pause. Answers to submits sent before the current pause
// began belong to the same burst: they do not lengthen it, or a full
// window refused at once would jump straight to ThrottleMax.
func (c *Client) throttled(st Status, sent time.Time) {
	c.mu.Lock()
	if sent.Before(c.throttle.since) {
		c.mu.Unlock()
		return
	}
	pause := backoff(c.throttle.streak, c.cfg.ThrottleMin, c.cfg.ThrottleMax)
	c.throttle.streak++
	now := time.Now()
	c.throttle.since = now
	c.throttle.until = now.Add(pause)
	c.mu.Unlock()
	if h := c.cfg.Hooks.Throttled; h != nil {
		h(c.cfg.Name, st, pause)
	}
}

func (c *Client) waitThrottle(ctx context.Context) error {
	c.mu.Lock()
	d := time.Until(c.throttle.until)
	c.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the client gracefully: new submits are refused, submits
// under way finish (or ctx ends), handlers under way finish and their
// answers are written while new deliveries are answered ESME_RX_T_APPN,
// each connection is unbound, then closed. It waits for every goroutine of the client.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()

	drained := make(chan struct{})
	go func() { c.submits.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
	}
	c.mu.Lock()
	sessions := map[*session]bool{}
	for _, s := range []*session{c.tx, c.rx} {
		if s != nil {
			sessions[s] = true
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Acknowledge what the handlers are persisting before the
			// unbind: the SMSC closes the connection after unbind_resp.
			s.conn.Drain(ctx)
			s.conn.send(ctx, &PDU{Command: Unbind}, "", c.cfg.ResponseTimeout)
		}()
	}
	wg.Wait()
	c.cancel()
	c.loops.Wait()
	for s := range sessions {
		s.conn.Close()
	}
	<-drained
	return nil
}
