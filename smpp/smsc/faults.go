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

func (f *Faults) submitFault() smpp.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.submitStatus
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
