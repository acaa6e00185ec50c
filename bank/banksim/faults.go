package banksim

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/paygate/paygate/bank"
)

// Routes of the Bank API, as Faults and the control API name them: the
// connector's method names.
const (
	RouteVerify         = bank.MethodVerify         // POST /v1/accounts/verify
	RouteTransfer       = bank.MethodTransfer       // POST /v1/transfers
	RouteTransferStatus = bank.MethodTransferStatus // GET /v1/transfers/{id}
	RouteBalance        = bank.MethodBalance        // POST /v1/accounts/balance
	RouteStatement      = bank.MethodStatement      // POST /v1/accounts/statement
)

var routes = []string{RouteVerify, RouteTransfer, RouteTransferStatus, RouteBalance, RouteStatement}

// Fault is one misbehaviour of the bank on one request. "Commit" is the
// request's effect: a transfer applied (or found applied), an answer
// computed.
type Fault string

// Faults a request can meet.
const (
	FaultNone Fault = ""
	// FaultLatency waits Rates.Delay before handling the request. If the
	// client goes away meanwhile the request is dropped unhandled.
	FaultLatency Fault = "latency"
	// FaultErrorBefore answers 503 without handling the request.
	FaultErrorBefore Fault = "error_before"
	// FaultThrottle answers 429 (Retry-After: 1) without handling it.
	FaultThrottle Fault = "throttle"
	// FaultDropBefore closes the connection without handling it.
	FaultDropBefore Fault = "drop_before"
	// FaultDropAfter commits, then closes the connection unanswered.
	FaultDropAfter Fault = "drop_after"
	// FaultErrorAfter commits, then answers 500.
	FaultErrorAfter Fault = "error_after"
	// FaultStallAfter commits, then waits Rates.Delay before answering:
	// with a Delay past the client's timeout, "commits then times out".
	FaultStallAfter Fault = "stall_after"
	// FaultDuplicate handles the request twice at once, as a network
	// that delivers it twice would; idempotency must make one of it.
	FaultDuplicate Fault = "duplicate"
	// FaultBadSignature commits, then answers with a wrong signature.
	FaultBadSignature Fault = "bad_signature"
	// FaultStaleSignature commits, then answers with a signature 10
	// minutes old.
	FaultStaleSignature Fault = "stale_signature"
)

// exclusive are the faults of which a request meets at most one.
var exclusive = []Fault{
	FaultErrorBefore, FaultThrottle, FaultDropBefore, FaultDropAfter, FaultErrorAfter,
	FaultStallAfter, FaultDuplicate, FaultBadSignature, FaultStaleSignature,
}

func validFault(f Fault) bool { return f == FaultLatency || slices.Contains(exclusive, f) }

// Rates switch random faults on: each is the share (0 to 1) of requests
// that meet it. Latency comes on its own; of the others a request meets
// at most one, so they must sum to 1 or less.
type Rates struct {
	// Delay is how long FaultLatency and FaultStallAfter wait.
	Delay time.Duration
	// Latency is the share of requests delayed by Delay before anything.
	Latency float64
	// Shares of the exclusive faults, by Fault.
	ErrorBefore, Throttle, DropBefore, DropAfter, ErrorAfter, StallAfter,
	Duplicate, BadSignature, StaleSignature float64
	// Routes limits random faults to these routes (RouteTransfer, …);
	// empty means every route.
	Routes []string
}

func (r *Rates) share(f Fault) *float64 {
	switch f {
	case FaultLatency:
		return &r.Latency
	case FaultErrorBefore:
		return &r.ErrorBefore
	case FaultThrottle:
		return &r.Throttle
	case FaultDropBefore:
		return &r.DropBefore
	case FaultDropAfter:
		return &r.DropAfter
	case FaultErrorAfter:
		return &r.ErrorAfter
	case FaultStallAfter:
		return &r.StallAfter
	case FaultDuplicate:
		return &r.Duplicate
	case FaultBadSignature:
		return &r.BadSignature
	case FaultStaleSignature:
		return &r.StaleSignature
	}
	return nil
}

func (r Rates) check() error {
	if r.Delay < 0 {
		return fmt.Errorf("delay must not be negative")
	}
	sum := 0.0
	for _, f := range append([]Fault{FaultLatency}, exclusive...) {
		p := *r.share(f)
		if !(p >= 0 && p <= 1) { // NaN fails both
			return fmt.Errorf("%s: %v is not a share between 0 and 1", f, p)
		}
		if f != FaultLatency {
			sum += p
		}
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("the shares of %v sum to %v, more than 1", exclusive, sum)
	}
	for _, rt := range r.Routes {
		if !slices.Contains(routes, rt) {
			return fmt.Errorf("unknown route %q (want one of %v)", rt, routes)
		}
	}
	return nil
}

// Faults are the bank's misbehaviours, switched at run time: random ones
// by Rates, and deterministic ones by Script, which take precedence. The
// zero Rates and an empty script are a well-behaved bank. Safe for
// concurrent use.
type Faults struct {
	mu       sync.Mutex
	rates    Rates
	rng      *rand.Rand
	script   map[string][]Fault
	injected map[Fault]int
}

func (f *Faults) init() {
	f.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	f.script = map[string][]Fault{}
	f.injected = map[Fault]int{}
}

// SetRates replaces the random faults. It refuses invalid rates and
// then changes nothing.
func (f *Faults) SetRates(r Rates) error {
	if err := r.check(); err != nil {
		return err
	}
	r.Routes = slices.Clone(r.Routes)
	f.mu.Lock()
	f.rates = r
	f.mu.Unlock()
	return nil
}

// Rates returns the random faults.
func (f *Faults) Rates() Rates {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rates
	r.Routes = slices.Clone(r.Routes)
	return r
}

// Seed makes the random faults repeat: the same seed gives the same
// sequence of draws (which request gets which draw still depends on the
// order requests arrive in).
func (f *Faults) Seed(seed uint64) {
	f.mu.Lock()
	f.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	f.mu.Unlock()
}

// Script queues faults for the next requests on route, one each, in
// order; FaultNone lets one request through unharmed. Scripted faults
// come before random ones. This is the deterministic mode for tests.
func (f *Faults) Script(route string, faults ...Fault) error {
	if !slices.Contains(routes, route) {
		return fmt.Errorf("unknown route %q (want one of %v)", route, routes)
	}
	for _, x := range faults {
		if x != FaultNone && !validFault(x) {
			return fmt.Errorf("unknown fault %q", x)
		}
	}
	f.mu.Lock()
	f.script[route] = append(f.script[route], faults...)
	f.mu.Unlock()
	return nil
}

// Scripted returns the faults still queued for each route.
func (f *Faults) Scripted() map[string][]Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]Fault{}
	for r, q := range f.script {
		if len(q) > 0 {
			out[r] = slices.Clone(q)
		}
	}
	return out
}

// Injected counts the faults injected so far, by kind.
func (f *Faults) Injected() map[Fault]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.injected)
}

// Clear switches every fault off and empties the script.
func (f *Faults) Clear() {
	f.mu.Lock()
	f.rates = Rates{}
	clear(f.script)
	f.mu.Unlock()
}

// pick draws the faults of one request on route: whether it is delayed
// first, and which other fault it meets.
func (f *Faults) pick(route string) (latency bool, fault Fault, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delay = f.rates.Delay
	if q := f.script[route]; len(q) > 0 {
		fault, f.script[route] = q[0], q[1:]
		if fault == FaultLatency {
			latency, fault = true, FaultNone
		}
	} else if len(f.rates.Routes) == 0 || slices.Contains(f.rates.Routes, route) {
		latency = f.rates.Latency > 0 && f.rng.Float64() < f.rates.Latency
		x := f.rng.Float64()
		for _, e := range exclusive {
			p := *f.rates.share(e)
			if x < p {
				fault = e
				break
			}
			x -= p
		}
	}
	if latency {
		f.injected[FaultLatency]++
	}
	if fault != FaultNone {
		f.injected[fault]++
	}
	return latency, fault, delay
}
