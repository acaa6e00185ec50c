// Package smsc is an SMSC simulator for tests, the sandbox and
// `paygate sim smsc`. It accepts ESME binds with checked credentials,
// answers submit_sm with message ids, records what each virtual phone
// received, sends optional delivery receipts, and delivers injected MOs
// store-and-forward: an MO is retried until an ESME acknowledges it with
// ESME_ROK, as a carrier's SMSC does. Faults can be switched on at run
// time (see Faults).
package smsc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paygate/paygate/smpp"
)

// Config configures a Server. Zero values mean the documented default.
type Config struct {
	Addr     string // listen address; default 127.0.0.1:0
	SystemID string // default "paygate"
	Password string // default "secret"
	// DLR sends a delivery receipt for every submit_sm that asks for one
	// (registered_delivery bit 0).
	DLR bool
	// HexIDs makes message ids hexadecimal; default decimal.
	HexIDs bool
	// Receipts chooses how receipts carry their result: "both" (default:
	// receipted_message_id and message_state TLVs and the Appendix B
	// text), "tlv" or "text".
	Receipts string
	// Ref16 makes InjectText use 16-bit concatenation references.
	Ref16 bool
	// RetryInterval is how long an unacknowledged MO waits before it is
	// delivered again. Default 1s.
	RetryInterval time.Duration
	// ResponseTimeout bounds the wait for deliver_sm_resp. Default 5s.
	ResponseTimeout time.Duration
	// Window is how many deliver_sm may await their response. Default 64.
	Window int
	// EnquireInterval: the SMSC's own enquire_link; 0 disables it.
	EnquireInterval time.Duration
	Logger          *slog.Logger
}

// Server is a running simulator. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	ln  net.Listener

	mu       sync.Mutex
	password string
	conns    map[*peer]struct{}
	phones   map[string][]MT
	mts      []MT
	queue    []*MO // MOs waiting for delivery
	mos      map[uint64]*MO
	wake     chan struct{}
	received chan struct{} // closed and replaced whenever an MT arrives
	closed   bool

	nextMsgID atomic.Uint64
	nextMO    atomic.Uint64
	faults    Faults

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// MT is a submit_sm the simulator accepted.
type MT struct {
	MessageID string
	Bind      string // system_id of the bind it came on
	PDU       *smpp.PDU
	At        time.Time
}

// Text returns the MT's short_message as a string (no decoding).
func (m MT) Text() string { return string(m.PDU.ShortMessage) }

// MO is a mobile-originated message to deliver to the ESME.
type MO struct {
	From, To    string
	Text        string // sent as short_message bytes as given
	DataCoding  byte   // data_coding
	ESMClass    byte   // esm_class (0x40 with a UDH)
	ServiceType string
	TLVs        smpp.TLVs // optional parameters
	Payload     []byte    // if set, used instead of Text

	id        uint64
	attempts  int
	delivered bool
	status    smpp.Status // last answer
	done      chan struct{}
}

// peer is one ESME connection.
type peer struct {
	conn  *smpp.Conn
	fc    *faultConn
	ready chan struct{}  // closed once conn is set
	role  smpp.CommandID // bind command; 0 until bound
	sysID string
	// open is set once the bind_resp is written: deliveries wait for it,
	// submits from the peer (which may race the write) do not.
	open bool
	mu   sync.Mutex
}

// Listen starts a simulator.
func Listen(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.SystemID == "" {
		cfg.SystemID = "paygate"
	}
	if cfg.Password == "" {
		cfg.Password = "secret"
	}
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = 5 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	switch cfg.Receipts {
	case "":
		cfg.Receipts = "both"
	case "both", "tlv", "text":
	default:
		return nil, fmt.Errorf("smsc: receipts %q: want both, tlv or text", cfg.Receipts)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("smsc: listening on %s: %w", cfg.Addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg: cfg, ln: ln, password: cfg.Password,
		conns: map[*peer]struct{}{}, phones: map[string][]MT{}, mos: map[uint64]*MO{},
		wake: make(chan struct{}, 1), received: make(chan struct{}),
		ctx: ctx, cancel: cancel,
	}
	s.faults.dropWake = make(chan struct{}, 1)
	s.wg.Add(3)
	go s.accept()
	go s.deliverLoop()
	go s.dropLoop()
	return s, nil
}

// Addr returns the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// SetPassword changes the password binds must present from now on.
func (s *Server) SetPassword(pw string) {
	s.mu.Lock()
	s.password = pw
	s.mu.Unlock()
}

// Close stops accepting, closes every connection and waits.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	peers := s.peers()
	s.mu.Unlock()
	s.cancel()
	err := s.ln.Close()
	for _, p := range peers {
		p.conn.Close()
	}
	s.wg.Wait()
	return err
}

func (s *Server) peers() []*peer {
	out := make([]*peer, 0, len(s.conns))
	for p := range s.conns {
		out = append(out, p)
	}
	return out
}

// DropConnections closes every ESME connection at once, as a carrier's
// restart or a network fault does. It returns how many it closed.
func (s *Server) DropConnections() int {
	s.mu.Lock()
	peers := s.peers()
	s.mu.Unlock()
	for _, p := range peers {
		p.fc.Close()
	}
	return len(peers)
}

// Binds returns the system ids and roles of the bound connections.
func (s *Server) Binds() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p := range s.conns {
		p.mu.Lock()
		if p.role != 0 {
			out = append(out, p.sysID+"/"+p.role.String())
		}
		p.mu.Unlock()
	}
	return out
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		fc := &faultConn{Conn: nc, f: &s.faults}
		p := &peer{fc: fc, ready: make(chan struct{})}
		p.conn = smpp.NewConn(fc, smpp.ConnOptions{
			Name:            "smsc",
			Handler:         func(ctx context.Context, req *smpp.PDU) *smpp.PDU { return s.handle(ctx, p, req) },
			Accept:          func(id smpp.CommandID) bool { return id != smpp.DeliverSM },
			BusyStatus:      smpp.StatusThrottled,
			PanicStatus:     smpp.StatusSysErr,
			BaseContext:     s.ctx,
			ResponseTimeout: s.cfg.ResponseTimeout,
			EnquireInterval: s.cfg.EnquireInterval,
			Logger:          s.cfg.Logger,
		})
		close(p.ready) // p.conn is set: handlers may use it
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			p.conn.Close()
			return
		}
		s.conns[p] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select {
			case <-p.conn.Done():
			case <-s.ctx.Done():
			}
			p.conn.Close()
			s.mu.Lock()
			delete(s.conns, p)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) handle(ctx context.Context, p *peer, req *smpp.PDU) *smpp.PDU {
	<-p.ready // the connection starts reading before accept has stored it
	resp := &smpp.PDU{Command: req.Command.Response()}
	p.mu.Lock()
	role := p.role
	p.mu.Unlock()
	switch req.Command {
	case smpp.BindTransceiver, smpp.BindTransmitter, smpp.BindReceiver:
		resp.SystemID = "smscsim"
		s.mu.Lock()
		password := s.password
		s.mu.Unlock()
		switch {
		case role != 0:
			resp.Status = smpp.StatusAlyBnd
		case req.SystemID != s.cfg.SystemID:
			resp.Status = smpp.StatusInvSysID
		case req.Password != password:
			resp.Status = smpp.StatusInvPaswd
		default:
			// The peer counts as bound before the bind_resp goes out (its
			// first submit_sm may be handled before this goroutine runs
			// again) but gets deliveries only after, so no deliver_sm can
			// overtake the bind_resp (the write queue is FIFO).
			p.mu.Lock()
			p.role, p.sysID = req.Command, req.SystemID
			p.mu.Unlock()
			resp.Seq = req.Seq
			if err := p.conn.Respond(resp); err != nil {
				return nil
			}
			p.mu.Lock()
			p.open = true
			p.mu.Unlock()
			s.kick()
			return nil
		}
		return resp
	case smpp.SubmitSM, smpp.DataSM:
		if role != smpp.BindTransceiver && role != smpp.BindTransmitter {
			resp.Status = smpp.StatusInvBndSts
			return resp
		}
		// A slow SMSC is slow to answer whatever the answer; when it
		// accepts, it has taken the message before it answers.
		if st := s.faults.submitFault(); st != smpp.StatusOK {
			resp.Status = st
		} else {
			resp.MessageID = s.accepted(p, req)
		}
		if d := s.faults.delay(); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
			}
		}
		return resp
	}
	resp.Command = smpp.GenericNack
	resp.Status = smpp.StatusInvCmdID
	return resp
}

// accepted records an MT and returns its message id.
func (s *Server) accepted(p *peer, req *smpp.PDU) string {
	n := s.nextMsgID.Add(1)
	id := strconv.FormatUint(n, 10)
	if s.cfg.HexIDs {
		id = strconv.FormatUint(n, 16)
	}
	mt := MT{MessageID: id, Bind: p.sysID, PDU: req, At: time.Now()}
	s.mu.Lock()
	key := phoneKey(req.Dest.Addr)
	s.phones[key] = keepLast(append(s.phones[key], mt), maxPerPhone)
	s.mts = keepLast(append(s.mts, mt), maxMTs)
	close(s.received)
	s.received = make(chan struct{})
	s.mu.Unlock()
	if s.cfg.DLR && req.RegisteredDelivery&1 == 1 {
		s.Inject(s.receipt(mt))
	}
	return id
}

// receipt builds the delivery receipt of mt in the configured form: the
// SMPP 3.4 Appendix B text, the receipted_message_id and message_state
// TLVs, or both.
func (s *Server) receipt(mt MT) MO {
	mo := MO{From: mt.PDU.Dest.Addr, To: mt.PDU.Source.Addr, ESMClass: 0x04}
	if s.cfg.Receipts != "tlv" {
		now := time.Now().Format("0601021504")
		mo.Text = fmt.Sprintf("id:%s sub:001 dlvrd:001 submit date:%s done date:%s stat:DELIVRD err:000 text:",
			mt.MessageID, now, now)
	}
	if s.cfg.Receipts != "text" {
		mo.TLVs.Set(smpp.TagReceiptedMessageID, append([]byte(mt.MessageID), 0))
		mo.TLVs.SetUint8(smpp.TagMessageState, 2) // DELIVERED
	}
	return mo
}

// ReceivedTexts returns the texts a phone has received, in order of their
// completion: parts of a concatenated message are joined and every text
// decoded by its data_coding.
func (s *Server) ReceivedTexts(phone string) []string {
	var out []string
	r := smpp.NewReassembler(smpp.ReassemblerConfig{})
	for _, mt := range s.Received(phone) {
		d := smpp.NewDelivery("", mt.PDU)
		if d.Parts == 1 {
			out = append(out, d.Text())
			continue
		}
		parts, done, err := r.Add(mt.PDU.Source.Addr, phone, d.Concat, d.Payload)
		if err == nil && done {
			out = append(out, smpp.DecodeText(d.Coding, bytes.Join(parts, nil)))
		}
	}
	return out
}

// InjectText queues a phone's text as the SMSC would deliver it: in
// GSM 7-bit or UCS-2, split into concatenated parts with a UDH when it is
// long (8-bit references, or 16-bit with Config.Ref16), the parts in
// random order when shuffle is set. It returns the MO ids of the parts.
func (s *Server) InjectText(from, to, text string, shuffle bool) ([]uint64, error) {
	ref := uint16(rand.N(256))
	if s.cfg.Ref16 {
		ref = uint16(rand.N(65536))
	}
	coding, parts, err := smpp.Split(text, ref, s.cfg.Ref16)
	if err != nil {
		return nil, err
	}
	if shuffle {
		rand.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	}
	var ids []uint64
	for _, p := range parts {
		mo := MO{From: from, To: to, DataCoding: byte(coding), Payload: p}
		if len(parts) > 1 {
			mo.ESMClass = 0x40
		}
		ids = append(ids, s.Inject(mo))
	}
	return ids, nil
}

// InjectUSSD queues a USSD message from a phone: service_type "USSD",
// ussd_service_op op and the session id in sessionTag.
func (s *Server) InjectUSSD(from, to string, op byte, sessionTag smpp.Tag, session []byte, text string) uint64 {
	mo := MO{From: from, To: to, ServiceType: "USSD"}
	if b, ok := smpp.EncodeGSM7(text); ok {
		mo.Payload = b
	} else {
		mo.DataCoding, mo.Payload = byte(smpp.CodingUCS2), smpp.EncodeUCS2(text)
	}
	mo.TLVs.SetUint8(smpp.TagUSSDServiceOp, op)
	mo.TLVs.Set(sessionTag, session)
	return s.Inject(mo)
}

// A long-running simulator keeps only the latest MTs.
const (
	maxPerPhone = 1000
	maxMTs      = 1_000_000
)

// keepLast trims s to its last n elements once it is twice as long, so
// trimming costs little per append.
func keepLast(s []MT, n int) []MT {
	if len(s) <= 2*n {
		return s
	}
	return append([]MT(nil), s[len(s)-n:]...)
}

// Received returns the MTs a phone has received, in order.
func (s *Server) Received(phone string) []MT {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MT(nil), s.phones[phoneKey(phone)]...)
}

// phoneKey is how the simulator files a phone: international numbers with
// or without their "+" are one phone.
func phoneKey(addr string) string { return strings.TrimPrefix(addr, "+") }

// moSource is the source address of an MO from phone: an international
// number goes as TON 1 (international), NPI 1 (E.164), without its "+",
// as carriers send it (SMPP 3.4 §5.2.5).
func moSource(phone string) smpp.Address {
	if strings.HasPrefix(phone, "+") {
		return smpp.Address{TON: 1, NPI: 1, Addr: phone[1:]}
	}
	return smpp.Address{TON: 0, NPI: 1, Addr: phone}
}

// AllMTs returns every MT accepted, in order.
func (s *Server) AllMTs() []MT {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MT(nil), s.mts...)
}

// WaitReceived waits until phone has received at least n MTs and returns
// them.
func (s *Server) WaitReceived(ctx context.Context, phone string, n int) ([]MT, error) {
	for {
		s.mu.Lock()
		got, ch := s.phones[phoneKey(phone)], s.received
		s.mu.Unlock()
		if len(got) >= n {
			return append([]MT(nil), got...), nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return append([]MT(nil), got...), fmt.Errorf("smsc: %s received %d of %d: %w", phone, len(got), n, ctx.Err())
		}
	}
}

// WaitMTs waits until at least n MTs have been accepted in all.
func (s *Server) WaitMTs(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := len(s.mts), s.received
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("smsc: %d of %d MTs: %w", got, n, ctx.Err())
		}
	}
}

// Inject queues an MO for delivery and returns its id. It is delivered
// to a bound receiver or transceiver and retried every RetryInterval
// until one answers ESME_ROK.
func (s *Server) Inject(mo MO) uint64 {
	m := mo
	m.id = s.nextMO.Add(1)
	m.done = make(chan struct{})
	s.mu.Lock()
	s.mos[m.id] = &m
	s.queue = append(s.queue, &m)
	if s.faults.chance(&s.faults.dupP) {
		s.queue = append(s.queue, &m) // the same MO, delivered twice
	}
	s.mu.Unlock()
	s.kick()
	return m.id
}

// MOStatus says whether MO id was acknowledged ESME_ROK, after how many
// deliveries, and the last status the ESME answered.
func (s *Server) MOStatus(id uint64) (delivered bool, attempts int, last smpp.Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.mos[id]
	if !ok {
		return false, 0, 0
	}
	return m.delivered, m.attempts, m.status
}

// WaitDelivered waits until MO id is acknowledged ESME_ROK.
func (s *Server) WaitDelivered(ctx context.Context, id uint64) error {
	s.mu.Lock()
	m, ok := s.mos[id]
	s.mu.Unlock()
	if !ok {
		return errors.New("smsc: no such MO")
	}
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pending returns how many MOs are not yet acknowledged.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.mos {
		if !m.delivered {
			n++
		}
	}
	return n
}

func (s *Server) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// deliverLoop hands queued MOs to receivers through a window of
// Config.Window deliveries in flight, as an SMSC does.
func (s *Server) deliverLoop() {
	defer s.wg.Done()
	slots := make(chan struct{}, s.cfg.Window)
	rr := 0
	for {
		s.mu.Lock()
		var rxs []*peer
		for p := range s.conns {
			p.mu.Lock()
			if p.open && (p.role == smpp.BindTransceiver || p.role == smpp.BindReceiver) {
				rxs = append(rxs, p)
			}
			p.mu.Unlock()
		}
		var m *MO
		if len(rxs) > 0 && len(s.queue) > 0 {
			m = s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
		}
		s.mu.Unlock()
		if m == nil {
			select {
			case <-s.wake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		select {
		case slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		rr++
		p := rxs[rr%len(rxs)]
		s.wg.Add(1)
		go func() {
			defer func() { <-slots }()
			s.deliver(p, m)
		}()
	}
}

// dropLoop closes every connection each Faults.SetDropEvery period.
func (s *Server) dropLoop() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		s.faults.mu.Lock()
		every := s.faults.dropEvery
		s.faults.mu.Unlock()
		t.Stop()
		var tick <-chan time.Time
		if every > 0 {
			t.Reset(every)
			tick = t.C
		}
		select {
		case <-tick:
			s.DropConnections()
		case <-s.faults.dropWake:
		case <-s.ctx.Done():
			return
		}
	}
}

// deliver sends one deliver_sm and requeues the MO unless it is
// acknowledged ESME_ROK.
func (s *Server) deliver(p *peer, m *MO) {
	defer s.wg.Done()
	req := &smpp.PDU{
		Command:     smpp.DeliverSM,
		ServiceType: m.ServiceType,
		Source:      moSource(m.From),
		Dest:        smpp.Address{Addr: m.To},
		ESMClass:    m.ESMClass,
		DataCoding:  m.DataCoding,
		TLVs:        m.TLVs,
	}
	if m.Payload != nil {
		req.ShortMessage = m.Payload
	} else {
		req.ShortMessage = []byte(m.Text)
	}
	s.mu.Lock()
	m.attempts++
	s.mu.Unlock()
	resp, err := p.conn.Send(s.ctx, req, "")
	s.mu.Lock()
	if err == nil {
		m.status = resp.Status
	}
	if err == nil && resp.Command == smpp.DeliverSMResp && resp.Status == smpp.StatusOK &&
		!s.faults.chance(&s.faults.loseAckP) {
		if !m.delivered {
			m.delivered = true
			close(m.done)
		}
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	// Retry later without holding a window slot.
	time.AfterFunc(s.cfg.RetryInterval, func() {
		s.mu.Lock()
		if !s.closed {
			s.queue = append(s.queue, m)
		}
		s.mu.Unlock()
		s.kick()
	})
}
