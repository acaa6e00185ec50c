package smpp

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func concatHdr(ref uint16, ref16 bool, total, seq uint8) UDH {
	return UDH{Concat: true, Ref: ref, Ref16: ref16, Total: total, Seq: seq}
}

func TestReassemblerOrders(t *testing.T) {
	for _, order := range [][]uint8{{1, 2, 3}, {3, 2, 1}, {2, 3, 1}, {2, 1, 3}} {
		r := NewReassembler(ReassemblerConfig{})
		for i, seq := range order {
			parts, done, err := r.Add("254700000001", "PAYGATE", concatHdr(9, false, 3, seq), []byte{'a' + seq - 1})
			if err != nil {
				t.Fatal(err)
			}
			if last := i == len(order)-1; done != last {
				t.Fatalf("order %v: done=%v after %d parts", order, done, i+1)
			}
			if done {
				if got := string(bytes.Join(parts, nil)); got != "abc" {
					t.Fatalf("order %v: got %q", order, got)
				}
			}
		}
		if sets, n := r.Pending(); sets != 0 || n != 0 {
			t.Fatalf("pending %d sets, %d octets after completion", sets, n)
		}
	}
}

func TestReassemblerDuplicatesAndKeys(t *testing.T) {
	r := NewReassembler(ReassemblerConfig{})
	add := func(src string, h UDH, p string) ([][]byte, bool) {
		t.Helper()
		parts, done, err := r.Add(src, "PAYGATE", h, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		return parts, done
	}
	add("A", concatHdr(1, false, 2, 1), "a1")
	if _, done := add("A", concatHdr(1, false, 2, 1), "XX"); done {
		t.Fatal("duplicate completed the set")
	}
	// Same ref, different source, ref size or total: different messages.
	add("B", concatHdr(1, false, 2, 2), "b2")
	add("A", concatHdr(1, true, 2, 2), "w2")
	add("A", concatHdr(1, false, 3, 2), "t2")
	if sets, _ := r.Pending(); sets != 4 {
		t.Fatalf("%d sets, want 4", sets)
	}
	parts, done := add("A", concatHdr(1, false, 2, 2), "a2")
	if !done || string(bytes.Join(parts, nil)) != "a1a2" {
		t.Fatalf("got %q, %v; duplicate must not replace the first copy", parts, done)
	}
	// A late duplicate starts a new set (documented).
	if _, done := add("A", concatHdr(1, false, 2, 2), "a2"); done {
		t.Fatal("late duplicate completed")
	}
	if sets, _ := r.Pending(); sets != 4 {
		t.Fatalf("%d sets, want 4", sets)
	}
}

func TestReassemblerSinglePartAndErrors(t *testing.T) {
	r := NewReassembler(ReassemblerConfig{})
	parts, done, err := r.Add("A", "B", concatHdr(3, false, 1, 1), []byte("only"))
	if err != nil || !done || len(parts) != 1 || string(parts[0]) != "only" {
		t.Fatalf("single part: %q %v %v", parts, done, err)
	}
	for _, h := range []UDH{{}, {Concat: true, Total: 0, Seq: 0}, concatHdr(1, false, 2, 0), concatHdr(1, false, 2, 3)} {
		if _, _, err := r.Add("A", "B", h, []byte("x")); !errors.Is(err, ErrNotConcatenated) {
			t.Errorf("Add(%+v) err = %v", h, err)
		}
	}
	if sets, n := r.Pending(); sets != 0 || n != 0 {
		t.Fatalf("pending %d, %d", sets, n)
	}
}

func TestReassemblerCopiesPayload(t *testing.T) {
	r := NewReassembler(ReassemblerConfig{})
	buf := []byte("first")
	if _, _, err := r.Add("A", "B", concatHdr(1, false, 2, 1), buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXX")
	parts, done, err := r.Add("A", "B", concatHdr(1, false, 2, 2), []byte("second"))
	if err != nil || !done || string(parts[0]) != "first" {
		t.Fatalf("got %q %v %v", parts, done, err)
	}
}

func TestReassemblerExpiry(t *testing.T) {
	clk := newFakeClock()
	var mu sync.Mutex
	var expired []PartKey
	r := NewReassembler(ReassemblerConfig{
		Timeout: time.Minute,
		Now:     clk.Now,
		OnExpire: func(k PartKey, parts map[uint8][]byte) {
			mu.Lock()
			defer mu.Unlock()
			expired = append(expired, k)
			if len(expired) == 1 && string(parts[1]) != "old" {
				t.Errorf("expired parts %q", parts)
			}
		},
	})
	mustAdd := func(src string, h UDH, p string) bool {
		t.Helper()
		_, done, err := r.Add(src, "D", h, []byte(p))
		if err != nil {
			t.Fatal(err)
		}
		return done
	}
	mustAdd("S", concatHdr(1, false, 2, 1), "old")
	clk.Advance(30 * time.Second)
	mustAdd("S", concatHdr(2, false, 2, 1), "mid")
	clk.Advance(30 * time.Second) // Set 1 is now exactly one minute old.
	if done := mustAdd("S", concatHdr(1, false, 2, 2), "new"); done {
		t.Fatal("completed with a part of an expired set")
	}
	if len(expired) != 1 || expired[0].Ref != 1 {
		t.Fatalf("expired %v", expired)
	}
	if n := r.Sweep(); n != 0 {
		t.Fatalf("Sweep dropped %d live sets", n)
	}
	clk.Advance(31 * time.Second)
	if n := r.Sweep(); n != 1 {
		t.Fatalf("Sweep dropped %d, want 1", n)
	}
	clk.Advance(time.Hour)
	if n := r.Sweep(); n != 1 {
		t.Fatalf("Sweep dropped %d, want 1", n)
	}
	if sets, n := r.Pending(); sets != 0 || n != 0 {
		t.Fatalf("pending %d, %d", sets, n)
	}
	if len(expired) != 3 {
		t.Fatalf("OnExpire called %d times", len(expired))
	}
}

func TestReassemblerBounds(t *testing.T) {
	const part, set = reassemblyPartOverhead, reassemblySetOverhead + 3 // "S1"+"D"
	r := NewReassembler(ReassemblerConfig{MaxSets: 2, MaxBytes: 2*set + 3*part + 40})
	add := func(src string, h UDH, n int) error {
		_, _, err := r.Add(src, "D", h, bytes.Repeat([]byte{'x'}, n))
		return err
	}
	if err := add("S1", concatHdr(1, false, 3, 1), 10); err != nil {
		t.Fatal(err)
	}
	if err := add("S2", concatHdr(1, false, 3, 1), 10); err != nil {
		t.Fatal(err)
	}
	if err := add("S3", concatHdr(1, false, 3, 1), 1); !errors.Is(err, ErrReassemblyFull) {
		t.Fatalf("third set: %v", err)
	}
	if err := add("S1", concatHdr(1, false, 3, 2), 21); !errors.Is(err, ErrReassemblyFull) {
		t.Fatalf("over bytes: %v", err)
	}
	if err := add("S1", concatHdr(1, false, 3, 2), 20); err != nil {
		t.Fatal(err)
	}
	if sets, n := r.Pending(); sets != 2 || n != 2*set+3*part+40 {
		t.Fatalf("pending %d sets %d octets", sets, n)
	}
	// Empty parts are charged too.
	if err := add("S2", concatHdr(1, false, 3, 2), 0); !errors.Is(err, ErrReassemblyFull) {
		t.Fatalf("empty part over budget: %v", err)
	}
	// Completing a set frees its room.
	parts, done, err := r.Add("S1", "D", concatHdr(1, false, 3, 3), nil)
	if err != nil || !done || len(parts) != 3 {
		t.Fatalf("complete: %d parts %v %v", len(parts), done, err)
	}
	if sets, n := r.Pending(); sets != 1 || n != set+part+10 {
		t.Fatalf("pending %d sets %d octets", sets, n)
	}
	if err := add("S3", concatHdr(1, false, 3, 1), 1); err != nil {
		t.Fatal(err)
	}
	// A single part larger than the whole budget never fits.
	if err := add("S4", concatHdr(1, true, 2, 1), 1000); !errors.Is(err, ErrReassemblyFull) {
		t.Fatalf("huge part: %v", err)
	}
}

func TestReassemblerConcurrent(t *testing.T) {
	clk := newFakeClock()
	r := NewReassembler(ReassemblerConfig{Now: clk.Now, Timeout: time.Hour})
	const msgs, total = 64, 5
	var wg sync.WaitGroup
	results := make(chan string, msgs)
	// Each goroutine delivers one part of every message, so every message
	// is completed by whichever goroutine adds its last part.
	for seq := uint8(1); seq <= total; seq++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range msgs {
				p := fmt.Sprintf("m%02d.%d;", m, seq)
				parts, done, err := r.Add(fmt.Sprint("src", m%7), "D", concatHdr(uint16(m), true, total, seq), []byte(p))
				if err != nil {
					t.Error(err)
					return
				}
				if done {
					results <- string(bytes.Join(parts, nil))
				}
				if m%16 == 0 {
					r.Sweep()
					r.Pending()
				}
			}
		}()
	}
	wg.Wait()
	close(results)
	got := map[string]bool{}
	for s := range results {
		got[s] = true
	}
	if len(got) != msgs {
		t.Fatalf("%d messages completed, want %d", len(got), msgs)
	}
	for m := range msgs {
		want := ""
		for seq := 1; seq <= total; seq++ {
			want += fmt.Sprintf("m%02d.%d;", m, seq)
		}
		if !got[want] {
			t.Errorf("missing %q", want)
		}
	}
	if sets, n := r.Pending(); sets != 0 || n != 0 {
		t.Fatalf("pending %d, %d", sets, n)
	}
}
