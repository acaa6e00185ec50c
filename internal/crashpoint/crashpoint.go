// Package crashpoint owns the named places where a test can make the
// gateway process die hard (RELIABILITY.md R1): Hit, called at each
// point, kills the process with SIGKILL when the point is armed. A
// process arms at most one point, once, before it starts (Arm); unarmed,
// Hit costs one atomic load. The package never reads the environment:
// the test binary's child mode arms it from PAYGATE_CRASH_AT.
package crashpoint

import (
	"strconv"
	"strings"
	"sync/atomic"
)

// The crash points, in the order a transfer meets them.
const (
	// AfterMORead: an SMS was read from the SMSC, nothing stored
	// (gateway router, start of SMS handling).
	AfterMORead = "after-mo-read"
	// AfterInboxCommit: the SMS's first step (inbox row, flow step,
	// replies queued) committed; the SMSC not yet acknowledged.
	AfterInboxCommit = "after-inbox-commit"
	// EnvelopeAccepted: an inbound envelope authenticated and its
	// counter was written, in the step's transaction, not committed.
	EnvelopeAccepted = "envelope-accepted"
	// AfterCodeIssued: the PIN step (OK <PIN>, which queues the
	// confirmation code SMS) committed; the SMSC not yet acknowledged.
	AfterCodeIssued = "after-code-issued"
	// AfterBankRequest: the bank answered a request (or failed); the
	// answer is not recorded.
	AfterBankRequest = "after-bank-request"
	// AfterBankAnswer: the step applying the bank's answer committed.
	AfterBankAnswer = "after-bank-answer"
	// BeforeMTSubmit: an outbox MT is about to be submitted to the SMSC.
	BeforeMTSubmit = "before-mt-submit"
)

// Points are every crash point.
var Points = []string{AfterMORead, EnvelopeAccepted, AfterInboxCommit, AfterCodeIssued, AfterBankRequest, AfterBankAnswer, BeforeMTSubmit}

type armed struct {
	name string
	nth  int64
	hits atomic.Int64
}

var point atomic.Pointer[armed]

// Arm arms the point spec names: "name" dies at its first hit,
// "name:N" at its Nth. An empty spec disarms. It reports whether spec
// is well formed and names a known point.
func Arm(spec string) bool {
	if spec == "" {
		point.Store(nil)
		return true
	}
	name, n, hasN := strings.Cut(spec, ":")
	nth := int64(1)
	if hasN {
		v, err := strconv.ParseInt(n, 10, 64)
		if err != nil || v < 1 {
			return false
		}
		nth = v
	}
	known := false
	for _, p := range Points {
		known = known || p == name
	}
	if !known {
		return false
	}
	point.Store(&armed{name: name, nth: nth})
	return true
}

// Hit is one passage through the point name: the process dies at once,
// by SIGKILL (no deferred calls, no flush, no unbind), when name is the
// armed point and this is its armed hit. Safe for concurrent use.
func Hit(name string) {
	a := point.Load()
	if a == nil || a.name != name {
		return
	}
	if a.hits.Add(1) == a.nth {
		die()
	}
}
