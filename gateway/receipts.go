package gateway

import (
	"sync"
	"time"

	"github.com/paygate/paygate/smpp"
)

// earlyReceipts holds receipts that arrived before the store recorded
// their MT as sent (the SMSC may send the receipt before, or in a race
// with, the submit_sm_resp). They are applied when the dispatcher records
// the MT, and dropped after ttl. Safe for concurrent use.
type earlyReceipts struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]early // bind + "/" + id key
}

type early struct {
	state smpp.MessageState
	at    time.Time
}

func newEarlyReceipts(ttl time.Duration) *earlyReceipts {
	return &earlyReceipts{ttl: ttl, m: map[string]early{}}
}

func (e *earlyReceipts) add(bind string, keys []string, st smpp.MessageState, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, k := range keys {
		e.m[bind+"/"+k] = early{state: st, at: now}
	}
}

// take removes and returns the receipt held for any key of id.
func (e *earlyReceipts) take(bind string, keys []string) (smpp.MessageState, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var found early
	ok := false
	for _, k := range keys {
		if r, has := e.m[bind+"/"+k]; has {
			found, ok = r, true
			delete(e.m, bind+"/"+k)
		}
	}
	return found.state, ok
}

func (e *earlyReceipts) sweep(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, r := range e.m {
		if now.Sub(r.at) > e.ttl {
			delete(e.m, k)
		}
	}
}
