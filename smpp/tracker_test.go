package smpp

import (
	"testing"
	"time"
)

func TestReceiptTracker(t *testing.T) {
	now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	delivered := func(id string) Receipt { return Receipt{ID: id, State: StateDelivered} }

	t.Run("hex submit id, decimal receipt", func(t *testing.T) {
		tr := NewReceiptTracker(time.Hour, clock)
		tr.Submitted("mt-1", []string{"1A2B"})
		st, ok := tr.Receipt(delivered("6699"))
		if !ok || !st.Final || st.State != StateDelivered || st.Ref != "mt-1" {
			t.Fatalf("%+v %v", st, ok)
		}
		if a, b := tr.Len(); a != 0 || b != 0 {
			t.Fatalf("left %d tracked, %d early", a, b)
		}
	})
	t.Run("decimal ids are never read as hex", func(t *testing.T) {
		tr := NewReceiptTracker(time.Hour, clock)
		tr.Submitted("mt-1", []string{"1234"})
		if _, ok := tr.Receipt(delivered("4660")); ok { // 0x1234
			t.Fatal("matched another message")
		}
		if st, ok := tr.Receipt(delivered("001234")); !ok || !st.Final {
			t.Fatalf("leading zeros: %+v %v", st, ok)
		}
	})
	t.Run("receipt before submit_sm_resp", func(t *testing.T) {
		tr := NewReceiptTracker(time.Hour, clock)
		if _, ok := tr.Receipt(delivered("77")); ok {
			t.Fatal("matched nothing yet")
		}
		st, ok := tr.Submitted("mt-2", []string{"77"})
		if !ok || !st.Final || st.State != StateDelivered {
			t.Fatalf("%+v %v", st, ok)
		}
		if a, b := tr.Len(); a != 0 || b != 0 {
			t.Fatalf("left %d tracked, %d early", a, b)
		}
	})
	t.Run("one status for three parts", func(t *testing.T) {
		tr := NewReceiptTracker(time.Hour, clock)
		tr.Submitted("long", []string{"10", "11", "12"})
		tr.Receipt(delivered("10"))
		if st, _ := tr.Receipt(Receipt{ID: "11", State: StateEnroute}); st.Final || st.PartsFinal != 1 {
			t.Fatalf("%+v", st)
		}
		if st, _ := tr.Receipt(delivered("12")); st.Final || st.PartsFinal != 2 {
			t.Fatalf("%+v", st)
		}
		st, _ := tr.Receipt(delivered("11"))
		if !st.Final || st.State != StateDelivered || st.Parts != 3 {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("one failed part fails the message", func(t *testing.T) {
		tr := NewReceiptTracker(time.Hour, clock)
		tr.Submitted("long", []string{"20", "21"})
		tr.Receipt(Receipt{ID: "21", State: StateUndeliverable})
		st, _ := tr.Receipt(delivered("20"))
		if !st.Final || st.State != StateUndeliverable {
			t.Fatalf("%+v", st)
		}
	})
	t.Run("forgets after ttl", func(t *testing.T) {
		tr := NewReceiptTracker(time.Hour, clock)
		tr.Submitted("old", []string{"30"})
		tr.Receipt(delivered("31"))
		now = now.Add(2 * time.Hour)
		if _, ok := tr.Receipt(delivered("30")); ok {
			t.Fatal("matched an expired message")
		}
		now = now.Add(2 * time.Hour)
		tr.Submitted("new", nil)
		if a, b := tr.Len(); a != 0 || b != 0 {
			t.Fatalf("left %d tracked, %d early", a, b)
		}
	})
}
