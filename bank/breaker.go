package bank

import (
	"sync"
	"time"
)

// breaker is a circuit breaker over the outcomes of recent requests.
// Closed, it lets everything through and counts successes and failures
// over a sliding window; when the window holds at least threshold
// failures and they are at least ratio of its requests, it opens and
// refuses everything for cooldown; then it lets one probe through
// (half-open), whose success closes it and whose failure opens it again.
//
// A ratio rather than failures in a row: under concurrency a burst of
// requests sent together times out together, and "in a row" would trip
// on a bank that answers most requests. Safe for concurrent use.
type breaker struct {
	threshold int // failures in the window that may open it; < 1: never opens
	ratio     float64
	window    time.Duration
	cooldown  time.Duration
	now       func() time.Time
	changed   func(from, to BreakerState) // called with mu held

	mu       sync.Mutex
	state    BreakerState
	buckets  [breakerBuckets]bucket
	openedAt time.Time // when it last opened
	probing  bool      // a half-open probe is under way
	gen      uint64    // counts state changes: a verdict from an older state is ignored
}

// breakerBuckets slice the window: it slides by a tenth.
const breakerBuckets = 10

type bucket struct {
	slot      int64 // which tenth of the window since the epoch
	ok, fails int
}

// verdict is what a request tells the breaker.
type verdict int

const (
	verdictSuccess verdict = iota // the bank answered
	verdictFailure                // the bank did not (an unknown outcome)
	verdictNeutral                // says nothing about the bank (the caller gave up)
)

// allow asks to send one request. When it returns true the caller must
// report the request's verdict with done, exactly once.
func (b *breaker) allow() (done func(verdict), ok bool) {
	if b.threshold < 1 {
		return func(verdict) {}, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		if b.now().Sub(b.openedAt) < b.cooldown {
			return nil, false
		}
		b.set(BreakerHalfOpen)
		b.probing = true
	case BreakerHalfOpen:
		if b.probing {
			return nil, false
		}
		b.probing = true
	}
	return b.report(b.gen), true
}

// report returns the done function of a request allowed in generation
// gen. A request that began before the breaker changed state says
// nothing about the new state: a slow success from before it opened
// must not close it.
func (b *breaker) report(gen uint64) func(verdict) {
	var once sync.Once
	return func(v verdict) {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if gen != b.gen {
				return
			}
			if b.state == BreakerHalfOpen {
				b.probing = false
				switch v {
				case verdictSuccess:
					b.set(BreakerClosed)
				case verdictFailure:
					b.open()
				}
				return
			}
			if v == verdictNeutral {
				return
			}
			ok, fails := b.count(v == verdictFailure)
			if v == verdictFailure && fails >= b.threshold && float64(fails) >= b.ratio*float64(ok+fails) {
				b.open()
			}
		})
	}
}

// count adds one outcome to the window and returns the window's totals;
// b.mu is held.
func (b *breaker) count(failed bool) (ok, fails int) {
	width := max(b.window/breakerBuckets, time.Nanosecond)
	slot := b.now().UnixNano() / int64(width)
	bk := &b.buckets[slot%breakerBuckets]
	if bk.slot != slot {
		*bk = bucket{slot: slot}
	}
	if failed {
		bk.fails++
	} else {
		bk.ok++
	}
	for _, x := range b.buckets {
		if x.slot > slot-breakerBuckets {
			ok += x.ok
			fails += x.fails
		}
	}
	return ok, fails
}

func (b *breaker) open() {
	b.openedAt = b.now()
	b.set(BreakerOpen)
}

// set changes the state, empties the window and tells the hook; b.mu is
// held.
func (b *breaker) set(s BreakerState) {
	from := b.state
	b.state = s
	b.gen++
	b.buckets = [breakerBuckets]bucket{}
	if b.changed != nil && from != s {
		b.changed(from, s)
	}
}

// State returns the current state.
func (b *breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
