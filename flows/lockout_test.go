package flows

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// step is one thing that happens to a Lock in a timeline test.
type step struct {
	at     time.Duration // after authT0
	do     string        // "fail", "success", "unlock", "reserve", "record-ok", "record-wrong"
	want   Event         // for fail and record-*
	ok     bool          // for reserve
	failed int           // Failures after the step
	locked bool          // Locked at the step's time, after it
}

func runSteps(t *testing.T, l Lock, steps []step) Lock {
	t.Helper()
	for i, s := range steps {
		now := authT0.Add(s.at)
		var ev Event
		var ok bool
		switch s.do {
		case "fail":
			l, ev = l.Fail(now)
		case "success":
			l = l.Success()
		case "unlock":
			l = l.OperatorUnlock()
		case "reserve":
			l, ok = l.Reserve(now)
			if ok != s.ok {
				t.Errorf("step %d (%s at +%v): reserved %v, want %v", i, s.do, s.at, ok, s.ok)
			}
		case "record-ok", "record-wrong":
			l, ev = l.Record(s.do == "record-ok", now)
		default:
			t.Fatalf("step %d: %q", i, s.do)
		}
		if ev != s.want {
			t.Errorf("step %d (%s at +%v): event %v, want %v", i, s.do, s.at, ev, s.want)
		}
		if l.Failures != s.failed || l.Locked(now) != s.locked {
			t.Errorf("step %d (%s at +%v): failures %d locked %v, want %d %v (%+v)",
				i, s.do, s.at, l.Failures, l.Locked(now), s.failed, s.locked, l)
		}
	}
	return l
}

const (
	µs  = time.Microsecond
	day = 24 * time.Hour
)

func TestLockTimeline(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"three failures lock for 24 hours, alert due", []step{
			{at: 0, do: "fail", want: EventFailed, failed: 1},
			{at: time.Minute, do: "fail", want: EventFailed, failed: 2},
			{at: 2 * time.Minute, do: "fail", want: EventLocked, failed: 3, locked: true},
			{at: 2*time.Minute + day - µs, do: "fail", want: EventRefused, failed: 3, locked: true},
			{at: 2*time.Minute + day, do: "fail", want: EventFailed, failed: 4},
		}},
		{"the end of a lock does not reset the counter: warning at 5, operator lock at 6", []step{
			{at: 0, do: "fail", want: EventFailed, failed: 1},
			{at: µs, do: "fail", want: EventFailed, failed: 2},
			{at: 2 * µs, do: "fail", want: EventLocked, failed: 3, locked: true},
			{at: day + 2*µs, do: "fail", want: EventFailed, failed: 4},
			{at: day + 3*µs, do: "fail", want: EventLastWarning, failed: 5},
			{at: day + 4*µs, do: "fail", want: EventOperatorLocked, failed: 6, locked: true},
			{at: 365 * day, do: "fail", want: EventRefused, failed: 6, locked: true},
			{at: 365 * day, do: "success", failed: 6, locked: true}, // a success never lifts an operator lock
			{at: 365 * day, do: "unlock", failed: 0},
			{at: 365 * day, do: "fail", want: EventFailed, failed: 1},
		}},
		{"only a success resets", []step{
			{at: 0, do: "fail", want: EventFailed, failed: 1},
			{at: µs, do: "fail", want: EventFailed, failed: 2},
			{at: 2 * µs, do: "success", failed: 0},
			{at: 3 * µs, do: "fail", want: EventFailed, failed: 1},
			{at: 4 * µs, do: "fail", want: EventFailed, failed: 2},
			{at: 5 * µs, do: "fail", want: EventLocked, failed: 3, locked: true},
		}},
		{"a success after the lock ended resets", []step{
			{at: 0, do: "fail", want: EventFailed, failed: 1},
			{at: 0, do: "fail", want: EventFailed, failed: 2},
			{at: 0, do: "fail", want: EventLocked, failed: 3, locked: true},
			{at: day, do: "fail", want: EventFailed, failed: 4},
			{at: day, do: "success", failed: 0},
			{at: day, do: "fail", want: EventFailed, failed: 1},
		}},
		{"an operator unlocks a 24-hour lock", []step{
			{at: 0, do: "fail", want: EventFailed, failed: 1},
			{at: 0, do: "fail", want: EventFailed, failed: 2},
			{at: 0, do: "fail", want: EventLocked, failed: 3, locked: true},
			{at: time.Hour, do: "unlock", failed: 0},
			{at: time.Hour, do: "fail", want: EventFailed, failed: 1},
		}},
	} {
		t.Run(c.name, func(t *testing.T) { runSteps(t, Lock{}, c.steps) })
	}
}

func TestLockUntil(t *testing.T) {
	var l Lock
	for i := range 3 {
		l, _ = l.Fail(authT0.Add(time.Duration(i) * time.Second))
	}
	if want := authT0.Add(2*time.Second + LockFor); !l.Until.Equal(want) || l.Operator {
		t.Errorf("lock %+v, want until %v", l, want)
	}
	for _, c := range []struct {
		at     time.Time
		locked bool
	}{
		{l.Until.Add(-µs), true}, {l.Until, false}, {l.Until.Add(µs), false},
	} {
		if l.Locked(c.at) != c.locked {
			t.Errorf("Locked(until%+v) = %v", c.at.Sub(l.Until), !c.locked)
		}
	}
}

func TestLockReserve(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"at most 3 in flight from no failures", []step{
			{do: "reserve", ok: true}, {do: "reserve", ok: true}, {do: "reserve", ok: true},
			{do: "reserve", ok: false},
			{do: "record-wrong", want: EventFailed, failed: 1},
			{do: "reserve", ok: false, failed: 1}, // 2 in flight may still fail: that is the lock
			{do: "record-wrong", want: EventFailed, failed: 2},
			{do: "record-wrong", want: EventLocked, failed: 3, locked: true},
			{do: "reserve", ok: false, failed: 3, locked: true},
		}},
		{"a right PIN in flight resets, the others count from zero", []step{
			{do: "reserve", ok: true}, {do: "reserve", ok: true}, {do: "reserve", ok: true},
			{do: "record-wrong", want: EventFailed, failed: 1},
			{do: "record-ok", want: EventAccepted, failed: 0},
			{do: "record-wrong", want: EventFailed, failed: 1},
			{do: "reserve", ok: true, failed: 1},
			{do: "reserve", ok: true, failed: 1},
			{do: "reserve", ok: false, failed: 1},
		}},
		{"after the lock ends, 3 more in flight: the warning, then the operator lock", []step{
			{do: "fail", want: EventFailed, failed: 1},
			{do: "fail", want: EventFailed, failed: 2},
			{do: "fail", want: EventLocked, failed: 3, locked: true},
			{at: day, do: "reserve", ok: true, failed: 3},
			{at: day, do: "reserve", ok: true, failed: 3},
			{at: day, do: "reserve", ok: true, failed: 3},
			{at: day, do: "reserve", ok: false, failed: 3},
			{at: day, do: "record-wrong", want: EventFailed, failed: 4},
			{at: day, do: "record-wrong", want: EventLastWarning, failed: 5},
			{at: day, do: "reserve", ok: false, failed: 5},
			{at: day, do: "record-wrong", want: EventOperatorLocked, failed: 6, locked: true},
			{at: 2 * day, do: "reserve", ok: false, failed: 6, locked: true},
		}},
		{"a right PIN recorded after the phone locked lets nothing through", []step{
			{do: "fail", want: EventFailed, failed: 1},
			{do: "reserve", ok: true, failed: 1},
			{do: "fail", want: EventFailed, failed: 2}, // a wrong code meanwhile
			{do: "fail", want: EventLocked, failed: 3, locked: true},
			{do: "record-ok", want: EventRefused, failed: 3, locked: true},
		}},
		{"abandoned reservations expire after ReserveTTL", []step{
			{do: "reserve", ok: true}, {do: "reserve", ok: true}, {do: "reserve", ok: true},
			{at: ReserveTTL - µs, do: "reserve", ok: false},
			{at: ReserveTTL, do: "reserve", ok: true},
			{at: ReserveTTL, do: "reserve", ok: true},
			{at: ReserveTTL, do: "reserve", ok: true},
			{at: ReserveTTL, do: "reserve", ok: false},
		}},
	} {
		t.Run(c.name, func(t *testing.T) { runSteps(t, Lock{}, c.steps) })
	}
}

func TestRecordReleasesReservation(t *testing.T) {
	l, _ := Lock{}.Reserve(authT0)
	l, _ = l.Reserve(authT0.Add(time.Second))
	if l.Pending != 2 || !l.Reserved.Equal(authT0.Add(time.Second)) {
		t.Fatalf("%+v", l)
	}
	l, _ = l.Record(true, authT0.Add(2*time.Second))
	l, _ = l.Record(false, authT0.Add(2*time.Second))
	if l.Pending != 0 || !l.Reserved.IsZero() || l.Failures != 1 {
		t.Errorf("%+v", l)
	}
	l, _ = l.Record(false, authT0.Add(3*time.Second)) // no reservation: still counts
	if l.Pending != 0 || l.Failures != 2 {
		t.Errorf("%+v", l)
	}
	l, _ = l.Reserve(authT0.Add(4 * time.Second))
	if l = l.Release(); l.Pending != 0 || !l.Reserved.IsZero() || l.Failures != 2 {
		t.Errorf("after Release: %+v", l)
	}
	if l = l.Release(); l.Pending != 0 {
		t.Errorf("Release with nothing reserved: %+v", l)
	}
}

func TestEventAlert(t *testing.T) {
	for e := EventAccepted; e <= EventRefused; e++ {
		want := e == EventLocked || e == EventLastWarning || e == EventOperatorLocked
		if e.Alert() != want || strings.HasPrefix(e.String(), "Event(") {
			t.Errorf("%v: Alert %v", e, e.Alert())
		}
	}
	if Event(0).String() != "Event(0)" || CodeResult(9).String() != "CodeResult(9)" {
		t.Error("unknown values")
	}
}

// guardedLock is the model of a phone's row under the single writer:
// each step is one transaction, the mutex.
type guardedLock struct {
	mu     sync.Mutex
	l      Lock
	events []Event
}

func (g *guardedLock) reserve(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ok bool
	g.l, ok = g.l.Reserve(now)
	return ok
}

func (g *guardedLock) record(ok bool, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ev Event
	g.l, ev = g.l.Record(ok, now)
	g.events = append(g.events, ev)
}

// attack sends n wrong PINs over workers goroutines, each reserve, check
// (a real argon2id verify, outside the lock) and record, and returns how
// many were checked.
func (g *guardedLock) attack(t *testing.T, h *PINHasher, stored PINHash, n, workers int, now time.Time) int {
	var checked, next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if !g.reserve(now) {
					continue
				}
				checked.Add(1)
				runtime.Gosched() // let the others interleave between the steps
				ok, _, err := h.Verify(PIN(fmt.Sprintf("%06d", 100000+w)), stored)
				if err != nil {
					t.Error(err)
				}
				g.record(ok, now)
			}
		})
	}
	wg.Wait()
	return int(checked.Load())
}

// RELIABILITY S1 at this level: 10,000 wrong PINs for one phone, 50 in
// parallel: exactly 3 checked and counted, then locked 24 h with one
// alert; 10,000 more after the lock ends: exactly 3 more, the warning
// after the 5th and the operator lock at the 6th; then nothing.
func TestS1WrongPINsInParallel(t *testing.T) {
	h := newAuthHasher(t, authParams)
	stored, err := h.Hash("482915")
	if err != nil {
		t.Fatal(err)
	}
	g := &guardedLock{}
	count := func(ev Event) (n int) {
		for _, e := range g.events {
			if e == ev {
				n++
			}
		}
		return n
	}

	if n := g.attack(t, h, stored, 10_000, 50, authT0); n != 3 {
		t.Errorf("first wave: %d checked, want 3", n)
	}
	if g.l.Failures != 3 || !g.l.Locked(authT0) || !g.l.Until.Equal(authT0.Add(LockFor)) || g.l.Pending != 0 {
		t.Errorf("after the first wave: %+v", g.l)
	}
	if count(EventFailed) != 2 || count(EventLocked) != 1 || len(g.events) != 3 {
		t.Errorf("first wave events %v", g.events)
	}

	later := g.l.Until
	if n := g.attack(t, h, stored, 10_000, 50, later); n != 3 {
		t.Errorf("second wave: %d checked, want 3", n)
	}
	if g.l.Failures != 6 || !g.l.Operator || !g.l.Locked(later.Add(365*day)) {
		t.Errorf("after the second wave: %+v", g.l)
	}
	if count(EventLastWarning) != 1 || count(EventOperatorLocked) != 1 || len(g.events) != 6 {
		t.Errorf("events %v", g.events)
	}

	if n := g.attack(t, h, stored, 1_000, 50, later.Add(365*day)); n != 0 {
		t.Errorf("under an operator lock: %d checked", n)
	}
	g.l = g.l.OperatorUnlock()
	if !g.reserve(later) {
		t.Error("refused after an operator unlock")
	}
}

// TestReserveRecordEveryInterleaving explores every order in which 6
// concurrent wrong PIN attempts (reserve, then record) and 2 wrong
// one-time codes (one Fail step each) can reach the writer, starting
// from each count of failures before a mark, and holds: no attempt is
// counted or answered past the mark, so exactly the failures up to the
// mark are counted and the phone ends locked (timed or operator).
func TestReserveRecordEveryInterleaving(t *testing.T) {
	const pins, codes = 6, 2
	type state struct {
		l     Lock
		phase [pins + codes]int8 // pins: 0 not started, 1 reserved, 2 done; codes: 0, 2
		told  int                // attempts whose result was counted (not refused)
	}
	for _, start := range []struct {
		failures int
		until    bool // a timed lock ended before now
		mark     int
	}{
		{0, false, LockAfter}, {1, false, LockAfter}, {2, false, LockAfter},
		{3, true, OperatorLockAfter}, {4, true, OperatorLockAfter}, {5, true, OperatorLockAfter},
	} {
		t.Run(fmt.Sprintf("from %d failures", start.failures), func(t *testing.T) {
			init := state{l: Lock{Failures: start.failures}}
			if start.until {
				init.l.Until = authT0.Add(-time.Hour)
			}
			seen := map[state]bool{}
			finals := 0
			var walk func(s state)
			walk = func(s state) {
				if seen[s] {
					return
				}
				seen[s] = true
				if s.l.Failures > start.mark || start.failures+s.told > start.mark {
					t.Fatalf("past the mark: %+v", s)
				}
				moved := false
				for i := range s.phase {
					n := s
					switch {
					case i < pins && s.phase[i] == 0:
						var ok bool
						n.l, ok = s.l.Reserve(authT0)
						n.phase[i] = 2
						if ok {
							n.phase[i] = 1
						}
					case i < pins && s.phase[i] == 1:
						var ev Event
						n.l, ev = s.l.Record(false, authT0)
						n.phase[i] = 2
						if ev != EventRefused {
							n.told++
						}
					case i >= pins && s.phase[i] == 0:
						var ev Event
						n.l, ev = s.l.Fail(authT0)
						n.phase[i] = 2
						if ev != EventRefused {
							n.told++
						}
					default:
						continue
					}
					moved = true
					walk(n)
				}
				if !moved {
					finals++
					if s.l.Failures != start.mark || !s.l.Locked(authT0) || s.l.Pending != 0 {
						t.Fatalf("final state %+v (told %d), want %d failures and locked", s.l, s.told, start.mark)
					}
				}
			}
			walk(init)
			t.Logf("%d states, %d final", len(seen), finals)
		})
	}
}

// A process that died between its two PIN steps holds reservations no
// step will record: the next process (another epoch) drops them at once;
// without an epoch they last ReserveTTL.
func TestReservationsOfADeadProcess(t *testing.T) {
	var l Lock
	for range LockAfter {
		var ok bool
		if l, ok = l.Adopt("run-1").Reserve(t0); !ok {
			t.Fatal("reservation refused")
		}
	}
	if _, ok := l.Adopt("run-1").Reserve(t0.Add(time.Second)); ok {
		t.Fatal("a 4th attempt in flight in the same run")
	}
	if _, ok := l.Adopt("").Reserve(t0.Add(time.Second)); ok {
		t.Fatal("no epoch: reservations must last ReserveTTL")
	}
	next, ok := l.Adopt("run-2").Reserve(t0.Add(time.Second))
	if !ok || next.Pending != 1 || next.Epoch != "run-2" || next.Failures != 0 {
		t.Fatalf("after a restart: %+v %v", next, ok)
	}
}
