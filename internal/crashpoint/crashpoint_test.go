package crashpoint

import "testing"

func TestArm(t *testing.T) {
	for _, tc := range []struct {
		spec string
		ok   bool
		nth  int64
	}{
		{"", true, 0},
		{AfterMORead, true, 1},
		{BeforeMTSubmit + ":3", true, 3},
		{"nowhere", false, 0},
		{AfterMORead + ":0", false, 0},
		{AfterMORead + ":x", false, 0},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			defer Arm("")
			if got := Arm(tc.spec); got != tc.ok {
				t.Fatalf("Arm(%q) = %v", tc.spec, got)
			}
			if a := point.Load(); tc.ok && tc.nth > 0 && (a == nil || a.nth != tc.nth) {
				t.Fatalf("armed %+v", a)
			}
		})
	}
}

// Hits of other points, and hits before the armed one, return.
func TestHitCounts(t *testing.T) {
	defer Arm("")
	Arm(AfterBankAnswer + ":3")
	Hit(AfterMORead)
	Hit(AfterBankAnswer)
	Hit(AfterBankAnswer)
	if n := point.Load().hits.Load(); n != 2 {
		t.Fatalf("%d hits", n)
	}
}

func BenchmarkHitUnarmed(b *testing.B) {
	for b.Loop() {
		Hit(AfterMORead)
	}
}
