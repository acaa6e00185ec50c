package smpp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// inboxStore plays the gateway's inbox for fault tests: a handler
// "persists" each message by its Identity and acknowledges only after.
type inboxStore struct {
	mu         sync.Mutex
	seen       map[string]int // identity → deliveries
	deliveries int
}

func newInboxStore() *inboxStore { return &inboxStore{seen: map[string]int{}} }

// persist records d and reports whether it is the first delivery.
func (s *inboxStore) persist(d *smpp.Delivery) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries++
	id := string(d.Identity())
	s.seen[id]++
	return s.seen[id] == 1
}

func (s *inboxStore) distinct() (distinct, deliveries int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen), s.deliveries
}

// R4: the SMSC drops every connection every few hundred milliseconds
// while MOs flow. Nothing acknowledged is lost, every MO gets exactly one
// logical reply, and each rebind comes within the backoff cap.
func TestR4DropsUnderMOLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	sim := startSMSC(t, smsc.Config{RetryInterval: 50 * time.Millisecond, ResponseTimeout: time.Second})
	inbox := newInboxStore()
	replies := make(chan string, 1000) // the MT outbox: text to send, by MO
	var mu sync.Mutex
	var downAt time.Time
	var gaps []time.Duration
	cfg := fastConfig(sim.Addr())
	cfg.BackoffMax = 200 * time.Millisecond
	cfg.ResponseTimeout = 500 * time.Millisecond
	cfg.Hooks = &smpp.Hooks{Bind: func(_ string, _ smpp.BindMode, up bool, _ error) {
		mu.Lock()
		defer mu.Unlock()
		if !up && downAt.IsZero() {
			downAt = time.Now()
		} else if up && !downAt.IsZero() {
			gaps = append(gaps, time.Since(downAt))
			downAt = time.Time{}
		}
	}}
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		time.Sleep(10 * time.Millisecond) // persisting: drops catch MOs in flight
		if inbox.persist(d) {
			replies <- d.PDU.Source.Addr + "|re:" + string(d.PDU.ShortMessage)
		}
		return smpp.StatusOK
	})
	c := newClient(t, cfg)
	waitBound(t, c)

	// The MT dispatcher: at least once, retrying every failure.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var dispatch sync.WaitGroup
	for range 4 {
		dispatch.Add(1)
		go func() {
			defer dispatch.Done()
			for {
				select {
				case r := <-replies:
					to, text, _ := strings.Cut(r, "|")
					for {
						_, err := c.Submit(ctx, submitTo(to, text), "")
						if err == nil || ctx.Err() != nil {
							break
						}
						var se *smpp.StatusError
						if errors.As(err, &se) && !se.Temporary() {
							t.Errorf("permanent error %v", err)
							break
						}
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}

	sim.Faults().SetDropEvery(300 * time.Millisecond)
	const n = 300
	var ids []uint64
	for i := range n {
		ids = append(ids, sim.Inject(smsc.MO{From: fmt.Sprintf("+86139%08d", i%50), To: "3030", Text: fmt.Sprintf("mo-%d", i)}))
		time.Sleep(3 * time.Millisecond)
	}
	for _, id := range ids {
		if err := sim.WaitDelivered(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	sim.Faults().SetDropEvery(0)
	distinct, deliveries := inbox.distinct()
	if distinct != n {
		t.Fatalf("inbox holds %d distinct MOs of %d acknowledged", distinct, n)
	}
	if deliveries == n {
		t.Fatal("no MO was redelivered: the drops caught nothing in flight")
	}
	// Every MO gets its reply; duplicates of an MT (an unknown outcome
	// retried) are one logical reply.
	eventually(t, "a reply to every MO", func() bool {
		logical := map[string]bool{}
		for _, mt := range sim.AllMTs() {
			logical[mt.PDU.Dest.Addr+"|"+mt.Text()] = true
		}
		return len(logical) == n
	})
	cancel()
	dispatch.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(gaps) < 3 {
		t.Fatalf("only %d reconnects: the drops did not happen", len(gaps))
	}
	worst := time.Duration(0)
	for _, g := range gaps {
		worst = max(worst, g)
	}
	if limit := cfg.BackoffMax + 500*time.Millisecond; worst > limit {
		t.Fatalf("slowest rebind %v, cap %v", worst, cfg.BackoffMax)
	}
	t.Logf("%d MOs, %d deliveries, %d MTs, %d reconnects, slowest rebind %v",
		n, deliveries, len(sim.AllMTs()), len(gaps), worst)
}

// R5: the SMSC loses some of our acknowledgements and redelivers, and
// sends some MOs twice. Every copy reaches the handler with the same
// Identity, so the gateway can tell it has seen the message.
func TestR5RedeliveriesCarryIdentity(t *testing.T) {
	sim := startSMSC(t, smsc.Config{RetryInterval: 20 * time.Millisecond})
	sim.Faults().SetLoseAcks(0.3)
	sim.Faults().SetDuplicates(0.2)
	inbox := newInboxStore()
	cfg := fastConfig(sim.Addr())
	cfg.Handler = smpp.HandlerFunc(func(ctx context.Context, d *smpp.Delivery) smpp.Status {
		inbox.persist(d)
		return smpp.StatusOK
	})
	newClient(t, cfg)
	const n = 200
	var ids []uint64
	for i := range n {
		mo := smsc.MO{From: fmt.Sprintf("+86139%08d", i%20), To: "3030", Text: fmt.Sprintf("SEND 13800138000 %d", i)}
		if i%2 == 1 {
			mo.Text = "HELP" // identical texts from different phones stay distinct
			mo.From = fmt.Sprintf("+86137%08d", i)
		}
		ids = append(ids, sim.Inject(mo))
	}
	for _, id := range ids {
		if err := sim.WaitDelivered(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	distinct, deliveries := inbox.distinct()
	if distinct != n {
		t.Fatalf("%d distinct identities for %d MOs", distinct, n)
	}
	if deliveries <= n {
		t.Fatalf("%d deliveries: the faults did not happen", deliveries)
	}
	t.Logf("%d MOs arrived %d times; all recognised", n, deliveries)
}

// Identity ignores what changes between deliveries of one message and
// keeps what tells two messages apart.
func TestDeliveryIdentity(t *testing.T) {
	base := func() *smpp.PDU {
		p := &smpp.PDU{
			Command: smpp.DeliverSM, Seq: 1,
			Source:       smpp.Address{TON: 1, NPI: 1, Addr: "+8613800138000"},
			Dest:         smpp.Address{Addr: "3030"},
			DataCoding:   8,
			ShortMessage: []byte{0, 'O', 0, 'K'},
		}
		p.TLVs.SetUint8(smpp.TagUSSDServiceOp, 18)
		return p
	}
	id := func(bind string, mut func(p *smpp.PDU)) string {
		p := base()
		mut(p)
		return string(smpp.NewDelivery(bind, p).Identity())
	}
	ref := id("a", func(*smpp.PDU) {})
	same := map[string]func(p *smpp.PDU){
		"sequence number": func(p *smpp.PDU) { p.Seq = 99 },
		"unrelated TLV":   func(p *smpp.PDU) { p.TLVs.SetUint8(0x1400, 1) },
		"priority":        func(p *smpp.PDU) { p.PriorityFlag = 1 },
	}
	for name, mut := range same {
		if id("a", mut) != ref {
			t.Errorf("%s changed the identity", name)
		}
	}
	differ := map[string]func(p *smpp.PDU){
		"source":      func(p *smpp.PDU) { p.Source.Addr = "+8613800138001" },
		"destination": func(p *smpp.PDU) { p.Dest.Addr = "3031" },
		"coding":      func(p *smpp.PDU) { p.DataCoding = 0 },
		"payload":     func(p *smpp.PDU) { p.ShortMessage = []byte{0, 'N', 0, 'O'} },
		"UDH flag":    func(p *smpp.PDU) { p.ESMClass |= 0x40 },
		"USSD op":     func(p *smpp.PDU) { p.TLVs.SetUint8(smpp.TagUSSDServiceOp, 1) },
		"session":     func(p *smpp.PDU) { p.TLVs.Set(smpp.TagITSSessionInfo, []byte{1, 2}) },
		// Field boundaries are length-prefixed: moving a byte across them
		// must not collide.
		"boundary": func(p *smpp.PDU) { p.Source.Addr = "+861380013800"; p.Dest.Addr = "03030" },
	}
	for name, mut := range differ {
		if id("a", mut) == ref {
			t.Errorf("%s did not change the identity", name)
		}
	}
	if id("b", func(*smpp.PDU) {}) == ref {
		t.Error("bind did not change the identity")
	}
}
