package smpp

import (
	"context"
	"testing"
	"time"
)

// A waiter that gives up does not let those behind it overtake the one
// ahead of it; different destinations do not wait on each other.
func TestLanesOrderSurvivesCancel(t *testing.T) {
	var l lanes
	entered := make(chan string, 10)
	l.onEnter = func(dest string) { entered <- dest }
	bg := context.Background()

	leaveA, err := l.enter(bg, "x")
	if err != nil {
		t.Fatal(err)
	}
	<-entered
	ctxB, cancelB := context.WithCancel(bg)
	bDone := make(chan error, 1)
	go func() { _, err := l.enter(ctxB, "x"); bDone <- err }()
	<-entered
	cGot := make(chan func(), 1)
	go func() {
		leave, err := l.enter(bg, "x")
		if err != nil {
			t.Error(err)
		}
		cGot <- leave
	}()
	<-entered

	leaveY, err := l.enter(bg, "y") // another destination: no wait
	if err != nil {
		t.Fatal(err)
	}
	leaveY()

	cancelB()
	if err := <-bDone; err == nil {
		t.Fatal("B entered despite cancel")
	}
	select {
	case <-cGot:
		t.Fatal("C overtook A after B gave up")
	case <-time.After(20 * time.Millisecond):
	}
	leaveA()
	select {
	case leaveC := <-cGot:
		leaveC()
	case <-time.After(5 * time.Second):
		t.Fatal("C never entered")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.tails) != 0 {
		t.Fatalf("lanes left behind: %v", l.tails)
	}
}
