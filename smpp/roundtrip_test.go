package smpp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// roundTripCorpus holds base texts that are repeated to build messages of
// 1–10 parts.
var roundTripCorpus = map[string]string{
	"english":  "Payment of KES 1,250.00 to ACME Ltd confirmed. Ref QX7P2. ",
	"gsm ext":  "Balance {KES} [12] ~ €5 | ^ \\ ok\f",
	"euro run": "€€€€€€€€€€a",
	"gsm mix":  "Asante! Malipo yamepokelewa: 500/= @ 12:00 — ",
	"chinese":  "您的付款已成功。余额：人民币一千二百五十元。谢谢！",
	"emoji":    "Paid 👍🏽 ✅ 💸😀🎉",
	"zwj":      "family 👨‍👩‍👧‍👦 rainbow 🏳️‍🌈 cook 🧑🏾‍🍳 ",
	"flags":    "🇰🇪🇺🇬🇹🇿🇷🇼🇪🇺",
	"keycaps":  "1️⃣2️⃣#️⃣ ",
	"mixed":    "Jambo 中文 Привет 😀 €",
	"astral":   "𝕡𝕒𝕪𝕘𝕒𝕥𝕖 𐍈",
}

// prefixWithParts returns the longest (or, when shortest is set, the
// shortest) rune prefix of a long repetition of base that Split cuts into
// exactly n parts.
func prefixWithParts(t *testing.T, base string, n int, ref16, shortest bool) string {
	t.Helper()
	rs := []rune(strings.Repeat(base, 1+n*160/len([]rune(base))))
	parts := func(k int) int {
		_, p, err := Split(string(rs[:k]), 1, ref16)
		if err != nil {
			t.Fatal(err)
		}
		return len(p)
	}
	// Smallest k with parts(k) > n (or >= n when shortest).
	lo, hi := 0, len(rs)
	for lo < hi {
		mid := (lo + hi) / 2
		if p := parts(mid); p > n || shortest && p >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	k := lo - 1
	if shortest {
		k = lo
	}
	if got := parts(k); got != n {
		t.Fatalf("prefix of %d runes has %d parts, want %d", k, got, n)
	}
	return string(rs[:k])
}

func TestRoundTripCorpus(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	r := NewReassembler(ReassemblerConfig{})
	messages := 0
	for name, base := range roundTripCorpus {
		for _, ref16 := range []bool{false, true} {
			for n := 1; n <= 10; n++ {
				for _, shortest := range []bool{false, true} {
					s := prefixWithParts(t, base, n, ref16, shortest)
					ref := uint16(rng.IntN(256))
					if ref16 {
						ref = uint16(rng.Uint32())
					}
					t.Run(fmt.Sprintf("%s/ref16=%v/%d/short=%v", name, ref16, n, shortest), func(t *testing.T) {
						roundTrip(t, r, rng, s, ref, ref16, n)
					})
					messages++
				}
			}
		}
	}
	if sets, _ := r.Pending(); sets != 0 {
		t.Fatalf("%d sets left incomplete", sets)
	}
	t.Logf("%d messages", messages)
}

// roundTrip splits s, delivers the parts shuffled (with a duplicate) to a
// Reassembler, and checks the decoded result is s.
func roundTrip(t *testing.T, r *Reassembler, rng *rand.Rand, s string, ref uint16, ref16 bool, wantParts int) {
	t.Helper()
	c, parts, err := Split(s, ref, ref16)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != wantParts {
		t.Fatalf("%d parts, want %d", len(parts), wantParts)
	}
	checkParts(t, c, s, ref, ref16, parts)
	if len(parts) == 1 {
		if got := DecodeText(c, parts[0]); got != s {
			t.Fatalf("single part decodes to %q", got)
		}
		return
	}
	order := rng.Perm(len(parts))
	order = append([]int{order[0]}, order...) // The first part twice.
	src := fmt.Sprintf("2547%08d", rng.IntN(1e8))
	var joined []byte
	for i, idx := range order {
		h, payload, err := ParseUDH(parts[idx])
		if err != nil {
			t.Fatal(err)
		}
		got, done, err := r.Add(src, "PAYGATE", h, payload)
		if err != nil {
			t.Fatal(err)
		}
		if done != (i == len(order)-1) {
			t.Fatalf("done=%v at delivery %d of %d (order %v)", done, i+1, len(order), order)
		}
		if done {
			joined = bytes.Join(got, nil)
		}
	}
	if got := DecodeText(c, joined); got != s {
		t.Fatalf("reassembled %q, want %q", got, s)
	}
}

// TestRoundTripCharacterAtEveryOffset moves a two-septet GSM character and
// a surrogate pair across every position around the part boundaries.
func TestRoundTripCharacterAtEveryOffset(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	r := NewReassembler(ReassemblerConfig{})
	for _, ref16 := range []bool{false, true} {
		for k := range 320 {
			for _, wide := range []string{"€", "{", "😀", "🇰🇪"} {
				s := strings.Repeat("a", k) + wide + strings.Repeat("b", 150) + wide
				c, parts, err := Split(s, 3, ref16)
				if err != nil {
					t.Fatal(err)
				}
				checkParts(t, c, s, 3, ref16, parts)
				roundTrip(t, r, rng, s, 3, ref16, len(parts))
			}
		}
	}
}
