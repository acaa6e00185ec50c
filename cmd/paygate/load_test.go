package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The load tool spawns a gateway process, offers it commands over SMPP
// and reports a throughput and latencies that are numbers.
func TestLoadSpawn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	t.Setenv("PAYGATE_TEST_CHILD", "1") // the spawned binary is this test binary: make it paygate
	out, errOut := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code := run(ctx, []string{"load", "--spawn", "--listen", "127.0.0.1:0", "--count", "300", "--rate", "1000"}, func(string) string { return "" }, out, errOut)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	m := regexp.MustCompile(`300 commands answered in .*: (\d+) commands/s`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no throughput line:\n%s", out.String())
	}
	if n, _ := strconv.Atoi(m[1]); n < 100 || n > 2000 {
		t.Fatalf("%d commands/s offered at 1000/s", n)
	}
	if !regexp.MustCompile(`p50 [0-9.]+(µs|ms|s) +p90 .* p99 .* max `).MatchString(out.String()) {
		t.Fatalf("no latency line:\n%s", out.String())
	}
}

func TestLoadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"load", "--count", "0"},
		{"load", "--rate", "-1"},
		{"load", "--text", " "},
		{"load", "extra"},
	} {
		out, errOut := newSyncBuffer(), newSyncBuffer()
		if code := run(context.Background(), args, func(string) string { return "" }, out, errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, strings.TrimSpace(errOut.String()))
		}
	}
}
