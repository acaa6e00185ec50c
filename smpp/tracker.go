package smpp

import (
	"container/list"
	"sync"
	"time"
)

// MTStatus is what the receipts say about one outbound message, however
// many parts it went in.
type MTStatus struct {
	Ref   string       // the caller's reference given to Submitted
	State MessageState // StateDelivered only when every part was
	// Final is true once every part has a final state; State is then the
	// message's: delivered if all parts were, else the first part's
	// failure.
	Final      bool
	Parts      int // parts the message went in
	PartsFinal int // parts with a final receipt
}

// ReceiptTracker matches delivery receipts to the messages they report
// on. It matches ids as the SMSC writes them, hex or decimal (see
// SameMessageID); keeps a receipt that arrives before its submit_sm_resp
// has been recorded, and applies it when it is; and gives one status for a
// message sent in several parts. Entries are dropped when final or after
// TTL. It is in memory: a gateway that must track receipts across restarts
// records the ids with the message and consults the tracker only for the
// receipts of its own uptime. Safe for concurrent use.
type ReceiptTracker struct {
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	byKey map[string]*trackedPart
	early map[string]*earlyReceipt
	order *list.List // of *expiry, oldest first; entries leave when done
}

type trackedMT struct {
	ref   string
	parts []*trackedPart
	state MessageState // first final failure, if any
	final int
	exp   *list.Element
}

type trackedPart struct {
	mt    *trackedMT
	keys  []string
	state MessageState
	done  bool
}

type earlyReceipt struct {
	r    Receipt
	keys []string
	exp  *list.Element
}

// expiry is one entry of the expiry list: a message or an early receipt.
type expiry struct {
	at    time.Time
	mt    *trackedMT
	early *earlyReceipt
}

// NewReceiptTracker returns a tracker that forgets a message, or an early
// receipt, ttl after it was recorded (default 48 h); now is its clock
// (default time.Now).
func NewReceiptTracker(ttl time.Duration, now func() time.Time) *ReceiptTracker {
	if ttl <= 0 {
		ttl = 48 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &ReceiptTracker{ttl: ttl, now: now, byKey: map[string]*trackedPart{}, early: map[string]*earlyReceipt{}, order: list.New()}
}

// MessageIDKeys returns the lookup keys of a message id: its normalized
// form and, when it is certainly hexadecimal, its decimal form. Two ids
// name the same message when their keys intersect, which is
// SameMessageID's rule; a store that indexes every key of the ids it sent
// finds a receipt by any key of the receipt's id.
func MessageIDKeys(id string) []string {
	digits, hex, _ := idForm(id)
	if digits == "" {
		return nil
	}
	keys := []string{digits}
	if hex {
		if d, ok := MessageIDHexToDecimal(digits); ok && d != digits {
			keys = append(keys, d)
		}
	}
	return keys
}

// Submitted records that the message ref went out as parts with these
// message ids, in order. Receipts that arrived before are applied; the
// returned status is the message's after them (ok is false when none had).
func (t *ReceiptTracker) Submitted(ref string, ids []string) (MTStatus, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expireLocked(now)
	mt := &trackedMT{ref: ref}
	mt.exp = t.order.PushBack(&expiry{at: now.Add(t.ttl), mt: mt})
	var early []*earlyReceipt
	for _, id := range ids {
		p := &trackedPart{mt: mt, keys: MessageIDKeys(id)}
		mt.parts = append(mt.parts, p)
		for _, k := range p.keys {
			t.byKey[k] = p
			if e, ok := t.early[k]; ok {
				t.dropEarlyLocked(e)
				early = append(early, e)
			}
		}
	}
	var st MTStatus
	ok := false
	for _, e := range early {
		st, ok = t.applyLocked(e.r)
	}
	if !ok {
		return t.statusLocked(mt), false
	}
	return st, true
}

// Receipt applies one receipt. It returns the status of the message it
// belongs to; ok is false when no recorded message has its id, in which
// case it is kept for a later Submitted.
func (t *ReceiptTracker) Receipt(r Receipt) (MTStatus, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.expireLocked(now)
	if st, ok := t.applyLocked(r); ok {
		return st, true
	}
	e := &earlyReceipt{r: r, keys: MessageIDKeys(r.ID)}
	if len(e.keys) == 0 {
		return MTStatus{}, false
	}
	for _, k := range e.keys {
		if old := t.early[k]; old != nil {
			t.dropEarlyLocked(old)
		}
		t.early[k] = e
	}
	e.exp = t.order.PushBack(&expiry{at: now.Add(t.ttl), early: e})
	return MTStatus{}, false
}

func (t *ReceiptTracker) applyLocked(r Receipt) (MTStatus, bool) {
	var p *trackedPart
	for _, k := range MessageIDKeys(r.ID) {
		if p = t.byKey[k]; p != nil {
			break
		}
	}
	if p == nil {
		return MTStatus{}, false
	}
	mt := p.mt
	if !p.done {
		p.state = r.State
		if r.State.Final() {
			p.done = true
			mt.final++
			if r.State != StateDelivered && mt.state == 0 {
				mt.state = r.State
			}
		}
	}
	st := t.statusLocked(mt)
	if st.Final {
		t.dropMTLocked(mt)
	}
	return st, true
}

func (t *ReceiptTracker) dropMTLocked(mt *trackedMT) {
	for _, part := range mt.parts {
		for _, k := range part.keys {
			if t.byKey[k] == part {
				delete(t.byKey, k)
			}
		}
	}
	t.order.Remove(mt.exp)
}

func (t *ReceiptTracker) dropEarlyLocked(e *earlyReceipt) {
	for _, k := range e.keys {
		if t.early[k] == e {
			delete(t.early, k)
		}
	}
	t.order.Remove(e.exp)
}

func (t *ReceiptTracker) statusLocked(mt *trackedMT) MTStatus {
	st := MTStatus{Ref: mt.ref, Parts: len(mt.parts), PartsFinal: mt.final}
	st.Final = mt.final == len(mt.parts)
	switch {
	case mt.state != 0:
		st.State = mt.state
	case st.Final:
		st.State = StateDelivered
	default:
		// Not final yet: the least advanced part's state.
		st.State = StateEnroute
		for _, p := range mt.parts {
			if !p.done && p.state != 0 {
				st.State = p.state
			}
		}
	}
	return st
}

// expireLocked drops messages and early receipts recorded more than ttl
// ago.
func (t *ReceiptTracker) expireLocked(now time.Time) {
	for e := t.order.Front(); e != nil; e = t.order.Front() {
		x := e.Value.(*expiry)
		if !now.After(x.at) {
			return
		}
		if x.mt != nil {
			t.dropMTLocked(x.mt)
		} else {
			t.dropEarlyLocked(x.early)
		}
	}
}

// Len returns how many message-id keys and early-receipt keys are held.
func (t *ReceiptTracker) Len() (tracked, early int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byKey), len(t.early)
}
