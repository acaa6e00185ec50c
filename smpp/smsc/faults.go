package smsc

import (
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/paygate/paygate/smpp"
)

// Faults are misbehaviours switched on at run time. The zero value is a
// well-behaved SMSC. Safe for concurrent use.
type Faults struct {
	mu sync.Mutex
	// silent: the SMSC reads but never writes (a half-open peer).
	silent bool
	// submitStatus: answer every submit with this status (permanent error).
	submitStatus smpp.Status
	// responseDelay: answer submits after this delay.
	responseDelay time.Duration
	// throttleRate: submits per second accepted; above it ESME_RTHROTTLED.
	throttleRate float64
	tokens       float64
	last         time.Time
	// randomStatus answered with probability randomP.
	randomStatus smpp.Status
	randomP      float64
	// refused counts submits answered with an error status.
	refused int
	// loseAckP: share of ESME_ROK deliver_sm_resp the SMSC acts as if it
	// never got, so it delivers the MO again.
	loseAckP float64
	// dupP: share of MOs delivered twice at once (exact duplicates).
	dupP float64
	// dropEvery: close every connection this often; 0 never.
	dropEvery time.Duration
	dropWake  chan struct{}
}

// SetLoseAcks makes the SMSC ignore a share p of ESME_ROK answers to
// deliver_sm, as if the deliver_sm_resp were lost, and deliver the same
// MO again later: the ESME sees a redelivery of a message it acknowledged.
func (f *Faults) SetLoseAcks(p float64) {
	f.mu.Lock()
	f.loseAckP = p
	f.mu.Unlock()
}

// SetDuplicates makes the SMSC deliver a share p of MOs twice, as two
// identical deliver_sm, as carriers sometimes do.
func (f *Faults) SetDuplicates(p float64) {
	f.mu.Lock()
	f.dupP = p
	f.mu.Unlock()
}

// SetDropEvery closes every ESME connection each d (0 stops), as a flaky
// carrier link does.
func (f *Faults) SetDropEvery(d time.Duration) {
	f.mu.Lock()
	f.dropEvery = d
	wake := f.dropWake
	f.mu.Unlock()
	if wake != nil {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

func (f *Faults) chance(p *float64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *p > 0 && rand.Float64() < *p
}

// Faults returns the server's fault switches.
func (s *Server) Faults() *Faults { return &s.faults }

// SetSilent makes the SMSC stop writing anything, while connections stay
// open: the peer looks half-open.
func (f *Faults) SetSilent(on bool) {
	f.mu.Lock()
	f.silent = on
	f.mu.Unlock()
}

// SetSubmitStatus makes every submit answer st (0 restores ESME_ROK).
func (f *Faults) SetSubmitStatus(st smpp.Status) {
	f.mu.Lock()
	f.submitStatus = st
	f.mu.Unlock()
}

// SetResponseDelay delays every submit_sm_resp by d.
func (f *Faults) SetResponseDelay(d time.Duration) {
	f.mu.Lock()
	f.responseDelay = d
	f.mu.Unlock()
}

func (f *Faults) isSilent() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.silent
}

// SetThrottle makes the SMSC accept at most rate submits a second (with a
// burst of one second's worth) and answer ESME_RTHROTTLED above it; 0
// turns throttling off.
func (f *Faults) SetThrottle(rate float64) {
	f.mu.Lock()
	f.throttleRate, f.tokens, f.last = rate, max(rate, 1), time.Now()
	f.mu.Unlock()
}

// SetRandomStatus answers a share p (0..1) of submits with st, as a
// congested SMSC answers ESME_RMSGQFUL now and then.
func (f *Faults) SetRandomStatus(st smpp.Status, p float64) {
	f.mu.Lock()
	f.randomStatus, f.randomP = st, p
	f.mu.Unlock()
}

// Refused returns how many submits were answered with an error status.
func (f *Faults) Refused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *Faults) submitFault() smpp.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.submitStatus
	if st == smpp.StatusOK && f.randomP > 0 && rand.Float64() < f.randomP {
		st = f.randomStatus
	}
	if st == smpp.StatusOK && f.throttleRate > 0 {
		now := time.Now()
		// The bucket holds at least one token, so rates below 1/s still
		// let a submit through now and then.
		f.tokens = min(max(f.throttleRate, 1), f.tokens+now.Sub(f.last).Seconds()*f.throttleRate)
		f.last = now
		if f.tokens < 1 {
			st = smpp.StatusThrottled
		} else {
			f.tokens--
		}
	}
	if st != smpp.StatusOK {
		f.refused++
	}
	return st
}

func (f *Faults) delay() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.responseDelay <= 0 {
		return 0
	}
	return f.responseDelay/2 + rand.N(f.responseDelay/2+1)
}

// faultConn applies connection-level faults.
type faultConn struct {
	net.Conn
	f *Faults
}

func (c *faultConn) Write(b []byte) (int, error) {
	if c.f.isSilent() {
		return len(b), nil // swallowed: the peer sees nothing
	}
	return c.Conn.Write(b)
}
