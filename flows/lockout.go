package flows

import (
	"fmt"
	"time"
)

// Lockout (SPEC §5.5): one counter of consecutive failures, shared by PIN
// and one-time code. 3 failures lock the phone for 24 hours, with an SMS
// alert. The end of a lock does not reset the counter; only a success
// does. After the 5th consecutive failure an alert warns that one more
// locks the phone until an operator unlocks it; the 6th does that, with
// an alert.
//
// While locked, attempts are refused without being checked or counted.
// So 10,000 wrong PINs give exactly 3 counted failures and a 24-hour lock
// (RELIABILITY S1), not 10,000: the counter never runs past the marks,
// every alert is sent once, and a locked phone costs no hashing.
//
// A PIN check is slow (argon2id, ~20 ms) and must not run inside the
// single writer's transaction (ARCHITECTURE.md, Scale). So a PIN attempt
// is three steps:
//
//  1. Reserve, in a writer step: refused if the phone is locked or if as
//     many attempts are already in flight as may still fail before the
//     next lock; else the attempt is pending (Pending+1) and the step
//     returns the stored PINHash to the caller.
//  2. Verify the PIN against that hash, outside any transaction.
//  3. Record the result, in a writer step: Pending-1, then a success
//     resets the counter and a failure counts — unless the phone got
//     locked meanwhile, when the result is dropped (EventRefused).
//
// Reserve's limit is what makes this safe under concurrency: with
// Failures = 0 at most 3 attempts are in flight, and the 3 of them
// failing lock the phone, whatever the interleaving; no 4th guess is
// ever checked (or, if a wrong code filled the 3rd place meanwhile, its
// result is dropped unseen). Without it, 50 parallel guesses would all be hashed, and
// a right one recorded before the 3rd wrong one would get in.
//
// A one-time code is checked by an HMAC inside the writer; it takes the
// short path, Fail or Success in the same step (or Reserve and Record in
// one step, which is the same).
//
// Lock is a plain value: methods return the next value for the caller
// to store. A reservation whose Record never comes (a crash between the
// steps) is dropped once the newest reservation is ReserveTTL old, so the
// phone is not stuck; its result, had it come, never reached the user, so
// nothing is learnt from it.

// Lockout marks, counted in consecutive failures.
const (
	LockAfter         = 3 // failures that lock the phone for LockFor
	WarnAfter         = 5 // failures after which the last warning is due
	OperatorLockAfter = 6 // failures that lock the phone until an operator unlocks it
	LockFor           = 24 * time.Hour
	// ReserveTTL is how long a reservation may wait for its Record. A
	// PIN check takes milliseconds; a minute covers a long queue.
	ReserveTTL = time.Minute
)

// Lock is a phone's lockout state. The zero value is a phone with no
// failures.
type Lock struct {
	// Failures counts consecutive failures, PIN and code together; only
	// a success (or an operator) resets it.
	Failures int
	// Until is when the current timed lock ends; in the past (or zero)
	// when there is none. A phone is unlocked again at Until exactly.
	Until time.Time
	// Operator is a lock that only an operator lifts (admin API).
	Operator bool
	// Pending counts attempts reserved and not yet recorded.
	Pending int
	// Reserved is when the newest pending attempt was reserved; zero
	// when none is pending.
	Reserved time.Time
	// Epoch names the process that holds the pending attempts, when the
	// engine has one (EngineConfig.Epoch): a process that died between
	// the steps can record none of them, so another epoch's are dropped
	// at once rather than after ReserveTTL.
	Epoch string `json:",omitempty"`
}

// Adopt drops pending attempts held by another epoch (a process that
// died between its two steps) and makes epoch the holder. An empty epoch
// changes nothing: reservations then end only by ReserveTTL.
func (l Lock) Adopt(epoch string) Lock {
	if epoch == "" {
		return l
	}
	if l.Epoch != epoch {
		l.Pending, l.Reserved, l.Epoch = 0, time.Time{}, epoch
	}
	return l
}

// Event is what a recorded attempt did.
type Event int

// Events of Fail and Record. Alert says which ones are due an SMS to the
// phone (SPEC §5.5).
const (
	// EventAccepted: a success; the counter is reset.
	EventAccepted Event = iota + 1
	// EventFailed: a failure counted; no alert due.
	EventFailed
	// EventLocked: the 3rd failure; the phone is locked until Until.
	// Alert due.
	EventLocked
	// EventLastWarning: the 5th failure; alert due: one more locks the
	// phone until an operator unlocks it.
	EventLastWarning
	// EventOperatorLocked: the 6th failure; the phone is locked until an
	// operator unlocks it. Alert due.
	EventOperatorLocked
	// EventRefused: the phone is locked; the attempt was neither checked
	// nor counted (Fail), or its result was dropped (Record). The reply
	// says the phone is locked, and until when.
	EventRefused
)

var eventNames = [...]string{"", "accepted", "failed", "locked", "last_warning", "operator_locked", "refused"}

func (e Event) String() string {
	if e > 0 && int(e) < len(eventNames) {
		return eventNames[e]
	}
	return "Event(" + fmt.Sprint(int(e)) + ")"
}

// Alert reports whether e is due an SMS alert to the phone.
func (e Event) Alert() bool {
	return e == EventLocked || e == EventLastWarning || e == EventOperatorLocked
}

// Locked reports whether the phone is locked at now: by an operator lock,
// or before Until.
func (l Lock) Locked(now time.Time) bool { return l.Operator || now.Before(l.Until) }

// Fail counts a failed attempt at now (a wrong PIN or code) and returns
// the state to store and what it did. A locked phone's attempt is not
// counted (EventRefused).
func (l Lock) Fail(now time.Time) (Lock, Event) {
	if l.Locked(now) {
		return l, EventRefused
	}
	l.Failures++
	switch {
	case l.Failures >= OperatorLockAfter:
		l.Operator = true
		return l, EventOperatorLocked
	case l.Failures == WarnAfter:
		return l, EventLastWarning
	case l.Failures == LockAfter:
		l.Until = now.Add(LockFor)
		return l, EventLocked
	}
	return l, EventFailed
}

// Success resets the counter after a right PIN or code. Call it only for
// an attempt allowed while unlocked (Record does the check). Under an
// operator lock it changes nothing: only OperatorUnlock lifts that. It
// leaves reservations in flight.
func (l Lock) Success() Lock {
	if l.Operator {
		return l
	}
	l.Failures, l.Until = 0, time.Time{}
	return l
}

// OperatorUnlock is an operator's unlock (admin API): every lock, the
// counter and reservations are reset.
func (l Lock) OperatorUnlock() Lock { return Lock{} }

// mark is the failure count at which the next lock falls: the timed
// lock, then the operator lock.
func (l Lock) mark() int {
	if l.Failures < LockAfter {
		return LockAfter
	}
	return OperatorLockAfter
}

// inFlight returns the reservations still live at now.
func (l Lock) inFlight(now time.Time) int {
	if l.Pending > 0 && !now.Before(l.Reserved.Add(ReserveTTL)) {
		return 0
	}
	return l.Pending
}

// Reserve reserves an attempt at now, before its PIN is checked outside
// the writer. ok is false — nothing to check, nothing counted — when the
// phone is locked (Locked says so), or when as many attempts are in
// flight as may fail before the next lock (LockAfter, then
// OperatorLockAfter): the reply then asks the user to wait for the
// answer to the previous attempt. So, whatever the interleaving, no more
// attempts are checked than can fail before the lock: 3 from no
// failures, 3 more after the 24-hour lock. The last warning (5th
// failure) is queued by the step that records it, so it always goes out
// before the operator-lock alert of the 6th.
func (l Lock) Reserve(now time.Time) (next Lock, ok bool) {
	if l.Locked(now) {
		return l, false
	}
	l.Pending = l.inFlight(now)
	if l.Pending >= l.mark()-l.Failures {
		return l, false
	}
	l.Pending++
	l.Reserved = now
	return l, true
}

// Record records the result of a reserved attempt at now: ok is a right
// PIN. It releases the reservation, then a success resets the counter
// (EventAccepted) and a failure counts as Fail does. When the phone is
// locked by then (only possible for a reservation older than ReserveTTL,
// or after a one-time code failed meanwhile) the result is dropped:
// EventRefused, and a right PIN lets nothing through.
func (l Lock) Record(ok bool, now time.Time) (Lock, Event) {
	l = l.Release()
	if !ok {
		return l.Fail(now)
	}
	if l.Locked(now) {
		return l, EventRefused
	}
	return l.Success(), EventAccepted
}

// Release gives back a reserved attempt that produced no result — the
// stored hash was unreadable (ErrPINHash), or the PIN changed between
// the steps — without counting anything. The user is asked to try again.
func (l Lock) Release() Lock {
	if l.Pending > 0 {
		l.Pending--
	}
	if l.Pending == 0 {
		l.Reserved = time.Time{}
	}
	return l
}
