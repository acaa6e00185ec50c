package smpp

import (
	"container/list"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors returned by Reassembler.Add.
var (
	// ErrNotConcatenated means the header holds no valid concatenation
	// element (UDH.Concat false, Total 0, or Seq outside 1..Total).
	ErrNotConcatenated = errors.New("smpp: part has no valid concatenation header")
	// ErrReassemblyFull means accepting the part would exceed MaxSets or
	// MaxBytes. Nothing was stored; the caller should reject the
	// deliver_sm with a transient status (for example ESME_RMSGQFUL or
	// ESME_RTHROTTLED, SMPP 3.4 §5.1.3) so that the SMSC retries it later.
	ErrReassemblyFull = errors.New("smpp: reassembly buffer full")
)

// Defaults for ReassemblerConfig fields left zero.
const (
	DefaultReassemblyTimeout  = 5 * time.Minute
	DefaultReassemblyMaxSets  = 10000
	DefaultReassemblyMaxBytes = 16 << 20
)

// Memory charged against MaxBytes besides payloads and addresses, so that
// empty parts cannot grow the Reassembler without bound.
const (
	reassemblyPartOverhead = 64
	reassemblySetOverhead  = 256
)

// PartKey identifies the parts of one concatenated message. 3GPP TS 23.040
// §9.2.3.24.1 makes the reference unique only per originator, so the
// source and destination addresses are part of the key; the caller chooses
// how to render them (for example with TON/NPI) as long as it does so
// consistently. An 8-bit and a 16-bit reference of the same value, or the
// same reference with a different total, are different messages.
type PartKey struct {
	Source      string
	Destination string
	Ref         uint16
	Ref16       bool
	Total       uint8
}

// ReassemblerConfig configures a Reassembler. Zero fields take defaults.
type ReassemblerConfig struct {
	// Timeout is how long an incomplete set may wait, counted from its
	// first part, before it is dropped. Default DefaultReassemblyTimeout.
	Timeout time.Duration
	// MaxSets bounds the number of incomplete sets held.
	// Default DefaultReassemblyMaxSets.
	MaxSets int
	// MaxBytes bounds the memory held, counted as the payload octets plus
	// 64 per part, and each set's addresses plus 256 per set.
	// Default DefaultReassemblyMaxBytes.
	MaxBytes int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// OnExpire, if set, is called with each set dropped for timing out,
	// after the Reassembler's lock is released, from the goroutine calling
	// Add or Sweep. Parts maps each received sequence number to its payload.
	OnExpire func(key PartKey, parts map[uint8][]byte)
}

// Reassembler collects the parts of inbound concatenated short messages
// (3GPP TS 23.040 §9.2.3.24.1, §9.2.3.24.8) in memory. Parts may arrive in
// any order; a repeated part is ignored. It is safe for concurrent use.
//
// It is not durable: anything it holds is lost on restart. A caller that
// acknowledges a deliver_sm (deliver_sm_resp with ESME_ROK) before the
// complete message is processed must first persist the part itself, and on
// restart feed the persisted parts back through Add.
//
// A part that arrives again after its message completed (for example
// because the SMSC did not see the deliver_sm_resp) starts a new set,
// which expires unless every part is resent; callers that must not process
// a message twice need their own idempotency check.
type Reassembler struct {
	timeout  time.Duration
	maxSets  int
	maxBytes int
	now      func() time.Time
	onExpire func(PartKey, map[uint8][]byte)

	mu    sync.Mutex
	sets  map[PartKey]*partSet
	order *list.List // Of *partSet, oldest first.
	bytes int
}

type partSet struct {
	key     PartKey
	created time.Time
	parts   map[uint8][]byte
	bytes   int
	elem    *list.Element
}

// NewReassembler returns a Reassembler configured by cfg.
func NewReassembler(cfg ReassemblerConfig) *Reassembler {
	r := &Reassembler{
		timeout:  cfg.Timeout,
		maxSets:  cfg.MaxSets,
		maxBytes: cfg.MaxBytes,
		now:      cfg.Now,
		onExpire: cfg.OnExpire,
		sets:     make(map[PartKey]*partSet),
		order:    list.New(),
	}
	if r.timeout <= 0 {
		r.timeout = DefaultReassemblyTimeout
	}
	if r.maxSets <= 0 {
		r.maxSets = DefaultReassemblyMaxSets
	}
	if r.maxBytes <= 0 {
		r.maxBytes = DefaultReassemblyMaxBytes
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Add records one part, given the addresses of its deliver_sm, its parsed
// header (ParseUDH) and its payload, which is copied. When the part
// completes its message, Add returns the payloads of all parts in sequence
// order and done is true; the caller joins them and decodes the result with
// the data_coding of the parts (DecodeText), which keeps a character split
// across parts by a careless sender intact. A repeated part returns
// (nil, false, nil). A header with Total 1 completes at once.
//
// Add fails with ErrNotConcatenated for an unusable header and with
// ErrReassemblyFull when the part does not fit the bounds; in both cases
// nothing is stored. A part that completes its message is never refused,
// since it frees memory, so a full Reassembler still drains. Sets that
// timed out are dropped first.
func (r *Reassembler) Add(source, destination string, h UDH, payload []byte) (parts [][]byte, done bool, err error) {
	if !h.Concat || h.Total == 0 || h.Seq == 0 || h.Seq > h.Total {
		return nil, false, fmt.Errorf("%w: total %d seq %d", ErrNotConcatenated, h.Total, h.Seq)
	}
	ref := h.Ref
	if !h.Ref16 {
		ref &= 0xFF
	}
	if h.Total == 1 {
		return [][]byte{append([]byte(nil), payload...)}, true, nil
	}
	key := PartKey{Source: source, Destination: destination, Ref: ref, Ref16: h.Ref16, Total: h.Total}

	r.mu.Lock()
	now := r.now()
	expired := r.expireLocked(now)
	parts, done, err = r.addLocked(key, h.Seq, payload, now)
	r.mu.Unlock()

	r.report(expired)
	return parts, done, err
}

func (r *Reassembler) addLocked(key PartKey, seq uint8, payload []byte, now time.Time) ([][]byte, bool, error) {
	set := r.sets[key]
	if set != nil {
		if _, dup := set.parts[seq]; dup {
			return nil, false, nil
		}
		if len(set.parts)+1 == int(key.Total) {
			// The last part frees memory at once, so it is never refused.
			r.removeLocked(set)
			out := make([][]byte, key.Total)
			for i := range out {
				out[i] = set.parts[uint8(i+1)]
			}
			out[seq-1] = append([]byte(nil), payload...)
			return out, true, nil
		}
	}
	cost := len(payload) + reassemblyPartOverhead
	if set == nil {
		cost += len(key.Source) + len(key.Destination) + reassemblySetOverhead
	}
	if cost > r.maxBytes-r.bytes {
		return nil, false, fmt.Errorf("%w: %d of %d octets held", ErrReassemblyFull, r.bytes, r.maxBytes)
	}
	if set == nil {
		if len(r.sets) >= r.maxSets {
			return nil, false, fmt.Errorf("%w: %d sets held", ErrReassemblyFull, len(r.sets))
		}
		set = &partSet{key: key, created: now, parts: make(map[uint8][]byte)}
		set.elem = r.order.PushBack(set)
		r.sets[key] = set
	}
	set.parts[seq] = append([]byte(nil), payload...)
	set.bytes += cost
	r.bytes += cost
	return nil, false, nil
}

func (r *Reassembler) removeLocked(set *partSet) {
	r.order.Remove(set.elem)
	delete(r.sets, set.key)
	r.bytes -= set.bytes
}

// expireLocked drops the sets older than the timeout. Sets are checked in
// arrival order and the scan stops at the first one still alive, so a
// clock that steps backwards can delay, but never hasten, an expiry.
func (r *Reassembler) expireLocked(now time.Time) []*partSet {
	var out []*partSet
	for e := r.order.Front(); e != nil; e = r.order.Front() {
		set := e.Value.(*partSet)
		if now.Sub(set.created) < r.timeout {
			break
		}
		r.removeLocked(set)
		out = append(out, set)
	}
	return out
}

func (r *Reassembler) report(expired []*partSet) {
	if r.onExpire == nil {
		return
	}
	for _, set := range expired {
		r.onExpire(set.key, set.parts)
	}
}

// Sweep drops the sets that have timed out, reports them to OnExpire and
// returns how many it dropped. Add also expires sets, so calling Sweep is
// needed only to release memory or report expiries while no parts arrive.
func (r *Reassembler) Sweep() int {
	r.mu.Lock()
	expired := r.expireLocked(r.now())
	r.mu.Unlock()
	r.report(expired)
	return len(expired)
}

// Pending returns the number of incomplete sets held and the octets they
// are charged against MaxBytes.
func (r *Reassembler) Pending() (sets, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sets), r.bytes
}
