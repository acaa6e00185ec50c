package bank

import "time"

// Outcome is how one request to the bank ended, as Hooks.Call reports it.
type Outcome string

// Outcomes of a request.
const (
	OutcomeOK           Outcome = "ok"            // a signed 2xx answer
	OutcomeNotFound     Outcome = "not_found"     // a signed 404 to a transfer inquiry: never received
	OutcomeRefused      Outcome = "refused"       // a signed 4xx other than 429: final
	OutcomeTimeout      Outcome = "timeout"       // no answer within HTTPConfig.Timeout
	OutcomeDropped      Outcome = "dropped"       // the connection failed or closed
	OutcomeServerError  Outcome = "server_error"  // 5xx
	OutcomeThrottled    Outcome = "throttled"     // 429
	OutcomeBadSignature Outcome = "bad_signature" // the answer's signature is missing, wrong or stale
	OutcomeBadResponse  Outcome = "bad_response"  // a signed 2xx whose body makes no sense
	OutcomeCircuitOpen  Outcome = "circuit_open"  // not sent: the breaker is open
	OutcomeCanceled     Outcome = "canceled"      // the caller's context ended
)

// unknown reports whether o leaves the outcome unknown (SPEC §8: timeouts,
// dropped connections, 5xx, 429 — and answers we cannot trust).
func (o Outcome) unknown() bool {
	switch o {
	case OutcomeTimeout, OutcomeDropped, OutcomeServerError, OutcomeThrottled, OutcomeBadSignature, OutcomeBadResponse:
		return true
	}
	return false
}

// BreakerState is the state of the circuit breaker.
type BreakerState int

// Breaker states.
const (
	// BreakerClosed: requests go to the bank.
	BreakerClosed BreakerState = iota
	// BreakerOpen: calls fail fast with ErrCircuitOpen until the
	// cool-down has passed.
	BreakerOpen
	// BreakerHalfOpen: one probe request goes to the bank; its outcome
	// closes or reopens the breaker.
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// Hooks receive events for metrics and alerts. Every field may be nil.
// They are called synchronously from the calling goroutine, possibly
// concurrently, and must not block. Their labels never carry an account
// number or a secret.
type Hooks struct {
	// Call is called once per request sent (or refused by the breaker),
	// with the method (MethodVerify, …), how it ended and how long it
	// took.
	Call func(method string, outcome Outcome, latency time.Duration)
	// Breaker is called when the circuit breaker changes state.
	Breaker func(from, to BreakerState)
	// FinalError is called when the bank refuses a request with a final
	// 4xx: operators should be alerted (SPEC §8).
	FinalError func(err *FinalError)
	// Resolved is called when Transfer turns an unknown outcome into a
	// final one, with the number of requests it took.
	Resolved func(result TransferResult, requests int)
}

func (h *Hooks) call(method string, o Outcome, d time.Duration) {
	if h != nil && h.Call != nil {
		h.Call(method, o, d)
	}
}

func (h *Hooks) breaker(from, to BreakerState) {
	if h != nil && h.Breaker != nil {
		h.Breaker(from, to)
	}
}

func (h *Hooks) finalError(e *FinalError) {
	if h != nil && h.FinalError != nil {
		h.FinalError(e)
	}
}

func (h *Hooks) resolved(r TransferResult, n int) {
	if h != nil && h.Resolved != nil {
		h.Resolved(r, n)
	}
}
