package smpp

import (
	"context"
	"sync"
)

// lanes keeps submits to one destination in arrival order: each enters
// behind the previous one for its destination and leaves when it has its
// final answer, so a throttled message is retried before the next one to
// the same phone is sent. Different destinations do not wait on each
// other. Safe for concurrent use.
type lanes struct {
	mu      sync.Mutex
	tails   map[string]chan struct{}
	onEnter func(dest string) // tests: called once the caller has its place
}

// enter waits for the caller's turn on dest and returns the function that
// ends it. If ctx ends first the turn is given up without breaking the
// order of those behind.
func (l *lanes) enter(ctx context.Context, dest string) (func(), error) {
	mine := make(chan struct{})
	l.mu.Lock()
	if l.tails == nil {
		l.tails = make(map[string]chan struct{})
	}
	prev := l.tails[dest]
	l.tails[dest] = mine
	l.mu.Unlock()
	if l.onEnter != nil {
		l.onEnter(dest)
	}

	leave := func() {
		l.mu.Lock()
		if l.tails[dest] == mine {
			delete(l.tails, dest)
		}
		l.mu.Unlock()
		close(mine)
	}
	if prev == nil {
		return leave, nil
	}
	select {
	case <-prev:
		return leave, nil
	case <-ctx.Done():
		// Leave only after our predecessor so those behind keep order.
		go func() { <-prev; leave() }()
		return nil, ctx.Err()
	}
}
