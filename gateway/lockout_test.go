package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/smpp/smsc"
)

// pinChecks reads paygate_pin_checks_total{result} from /metrics: the
// PIN checks the gateway actually ran.
func (w *world) pinChecks(result string) int {
	w.t.Helper()
	resp, err := http.Get("http://" + w.gw.HTTPAddr() + "/metrics")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^paygate_pin_checks_total\{result="` + result + `"\} (\d+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}

// TestS1WrongPINFlood is RELIABILITY S1 over real SMPP: 10,000 wrong
// PINs for one phone, 50 in flight at once (the SMSC's window), give
// exactly 3 PIN checks and a 24-hour lock with one alert; the lock
// survives a restart; 3 more wrong PINs after it ends lock the phone
// until an operator unlocks it, with the last warning before; only the
// operator's unlock lets the right PIN in again.
func TestS1WrongPINFlood(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	w := newWorldSim(t, smsc.Config{Window: 50})
	li := w.phone("+8613800138000")
	code := li.link("6222020000000001", "")
	mustContain(t, li.one(code), "Linked")
	mustContain(t, li.one("PIN 482915 482915"), "Your PIN is set")
	mustContain(t, li.one("UNLINK 1"), "send OK <PIN>")

	start := time.Now()
	ids := make([]uint64, n)
	for i := range n {
		// Distinct wrong PINs: never the right one, never trivial.
		ids[i] = w.sim.Inject(smsc.MO{From: li.num, To: "3030", Text: fmt.Sprintf("OK %06d", 500000+i)})
	}
	for _, id := range ids {
		if err := w.sim.WaitDelivered(ctxT(t), id); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d wrong PINs acknowledged in %v", n, time.Since(start).Round(time.Millisecond))

	if got := w.pinChecks("wrong"); got != 3 {
		t.Fatalf("%d PIN checks ran, want exactly 3", got)
	}
	if got := w.pinChecks("right"); got != 0 {
		t.Fatalf("%d right PINs", got)
	}
	// The phone hears of 2 failures and the lock, plus at most a notice
	// that its attempts were refused (busy, locked) per minute: not
	// 10,000 SMS.
	time.Sleep(300 * time.Millisecond)
	replies := w.sim.ReceivedTexts(li.num)[li.seen:]
	li.seen += len(replies)
	counts := map[string]int{}
	for _, r := range replies {
		switch {
		case strings.HasPrefix(r, "paygate alert: 3 wrong"):
			counts["alert"]++
		case strings.HasPrefix(r, "Wrong PIN or code"):
			counts["wrong"]++
		case strings.HasPrefix(r, "This phone is locked"), strings.HasPrefix(r, "Your previous PIN is still being checked"):
			counts["notice"]++
		default:
			t.Fatalf("unexpected reply %q", r)
		}
	}
	if counts["alert"] != 1 || counts["wrong"] != 2 || counts["notice"] > 1 {
		t.Fatalf("replies %v: want 2 wrong, 1 alert, at most 1 notice", counts)
	}
	t.Logf("replies: %v", counts)

	// Across a restart the phone stays locked, and the right PIN is
	// refused unchecked.
	w.stop()
	w.start()
	w.clock.add(flows.NoticeEvery)
	mustContain(t, li.one("UNLINK 1"), "This phone is locked")
	w.clock.add(flows.NoticeEvery)
	mustContain(t, li.one("OK 482915"), "This phone is locked")
	mustContain(t, li.one("HELP"), "Commands:")
	if got := w.pinChecks("right") + w.pinChecks("wrong"); got != 0 {
		t.Fatalf("%d PIN checks while locked", got)
	}

	// The lock ends after 24 hours; the counter does not reset: the 4th,
	// 5th (last warning) and 6th failure (operator lock).
	w.clock.add(flows.LockFor + time.Second)
	mustContain(t, li.one("PIN 111222 739104 739104"), "Wrong PIN or code")
	mustContain(t, li.one("PIN 111223 739104 739104"), "One more and this phone is locked until an operator")
	mustContain(t, li.one("PIN 111224 739104 739104"), "locked until our service desk unlocks them")
	w.clock.add(30 * 24 * time.Hour)
	mustContain(t, li.one("PIN 482915 739104 739104"), "until our service desk unlocks it")
	li.quiet()
	if got := w.pinChecks("wrong"); got != 3 {
		t.Fatalf("%d wrong PIN checks after the restart, want 3", got)
	}

	if err := w.gw.OperatorUnlock(context.Background(), "+8613800138000"); err != nil {
		t.Fatal(err)
	}
	mustContain(t, li.expect(1)[0], "unlocked by our service desk")
	mustContain(t, li.one("PIN 482915 739104 739104"), "Your PIN is changed")
}
