package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// cheapPIN keeps the tests' PIN hashes cheap; the shipped cost is
// BenchmarkPINVerify's.
var cheapPIN = []string{"--pin-memory-kib", "64", "--pin-time", "1"}

// A tiny bench with the gateway in this process: every transfer
// completes, and the bank's ledger agrees with what the phones saw.
func TestBenchInProcess(t *testing.T) {
	out, errOut := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"bench", "--phones", "4", "--transfers", "8", "--timeout", "30s"}, cheapPIN...)
	if code := run(ctx, args, func(string) string { return "" }, out, errOut); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{
		"8 completed, 0 failed, 0 not run",
		"bank: 8 completed, 0 rejected",
		"audit ok",
		"ledger check ok",
		"unexpected SMS: 0; duplicate receipts: 0",
		"OK <PIN> → code SMS",
		"PIN hashes stored with m=64,t=1,p=1", // in this process the bench hands the gateway its parameters
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the report:\n%s", want, out.String())
		}
	}
}

// The same with the gateway as a separate process (this test binary
// playing paygate, see TestMain) and the report in JSON.
func TestBenchSpawnJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	t.Setenv("PAYGATE_TEST_CHILD", "1")
	out, errOut := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"bench", "--spawn", "--phones", "4", "--transfers", "8", "--out", "json", "--timeout", "30s"}, cheapPIN...)
	if code := run(ctx, args, func(string) string { return "" }, out, errOut); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	var rep benchReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if !rep.Spawned || rep.GatewayPID == 0 {
		t.Errorf("spawned %v, pid %d", rep.Spawned, rep.GatewayPID)
	}
	if rep.Completed != 8 || rep.Failed != 0 || rep.Bank.Completed != 8 || !rep.Bank.OK || rep.Bank.Audit != "ok" || !rep.OK {
		t.Errorf("completed %d, failed %d, bank completed %d, ledger ok %v, audit %q, ok %v; problems %v, failures %v",
			rep.Completed, rep.Failed, rep.Bank.Completed, rep.Bank.OK, rep.Bank.Audit, rep.OK, rep.Bank.Problems, rep.Failures)
	}
	if !strings.HasPrefix(rep.PINHashStored, "m=") {
		t.Errorf("PIN hash parameters as stored: %q", rep.PINHashStored)
	}
	if len(rep.Latency) != 5 || rep.PerSecond <= 0 {
		t.Errorf("latency %v, %v transfers/s", rep.Latency, rep.PerSecond)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"one phone", []string{"--phones", "1"}, "--phones"},
		{"no transfers", []string{"--transfers", "0"}, "--transfers"},
		{"over the code budget", []string{"--phones", "10", "--transfers", "41"}, "one-time codes an hour"},
		{"negative concurrency", []string{"--concurrency", "-1"}, "--concurrency"},
		{"cheap memory", []string{"--pin-memory-kib", "4"}, "--pin-memory-kib"},
		{"no passes", []string{"--pin-time", "0"}, "--pin-time"},
		{"format", []string{"--out", "xml"}, "--out"},
		{"database", []string{"--database", "mysql://x"}, "--database"},
		{"argument", []string{"extra"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut := newSyncBuffer(), newSyncBuffer()
			code := run(context.Background(), append([]string{"bench"}, tc.args...), func(string) string { return "" }, out, errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, want %d; stderr %q, want %q in it", code, exitUsage, errOut.String(), tc.want)
			}
		})
	}
}

func TestQuantile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	for q, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.9: 90 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := quantile(ds, q); got != want {
			t.Errorf("quantile %v = %v, want %v", q, got, want)
		}
	}
	if got := quantile(ds[:1], 0.99); got != time.Millisecond {
		t.Errorf("quantile of one = %v", got)
	}
}

// bench --ussd, small, with the gateway as a separate process: the
// report's fields hang together (not its timings).
func TestBenchUSSDSpawn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway process")
	}
	t.Setenv("PAYGATE_TEST_CHILD", "1")
	out, errOut := newSyncBuffer(), newSyncBuffer()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 20
	args := append([]string{"bench", "--ussd", "--spawn", "--sessions", "20", "--think", "50ms", "--pin-workers", "1", "--out", "json", "--timeout", "30s"}, cheapPIN...)
	if code := run(ctx, args, func(string) string { return "" }, out, errOut); code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	var rep benchUSSDReport
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if !rep.OK || rep.Failed != 0 || len(rep.Failures) > 0 {
		t.Errorf("ok %v, %d failed: %v", rep.OK, rep.Failed, rep.Failures)
	}
	if !rep.Spawned || rep.GatewayPID == 0 || rep.Sessions != n || rep.PINWorkers != 1 || rep.PINHashStored != "m=64,t=1,p=1" {
		t.Errorf("spawned %v, pid %d, %d sessions, %d PIN workers, hashes %q", rep.Spawned, rep.GatewayPID, rep.Sessions, rep.PINWorkers, rep.PINHashStored)
	}
	if rep.LiveSessions < n || rep.Memory.WarmLiveSessions != 0 {
		t.Errorf("%d sessions live with every phone standing, %d after the warm round", rep.LiveSessions, rep.Memory.WarmLiveSessions)
	}
	// Four menu screens and one PIN screen a phone; every PIN screen
	// checked or refused busy, a code SMS for each checked.
	if rep.MenuScreens != 4*n || rep.PINScreens != n || rep.PINChecked+rep.PINBusy != n || rep.PINChecked == 0 || rep.CodeSMS != rep.PINChecked {
		t.Errorf("%d menu screens, %d PIN screens: %d checked, %d busy, %d code SMS", rep.MenuScreens, rep.PINScreens, rep.PINChecked, rep.PINBusy, rep.CodeSMS)
	}
	for _, l := range []benchLatency{rep.Menu, rep.PIN} {
		if l.Name == "" || l.P50 <= 0 || l.P50 > l.P90 || l.P90 > l.P99 || l.P99 > l.Max {
			t.Errorf("latency %+v", l)
		}
	}
	if rep.PINChecksPerSecond <= 0 || rep.PINPhaseSeconds <= 0 {
		t.Errorf("%v PIN checks/s over %vs", rep.PINChecksPerSecond, rep.PINPhaseSeconds)
	}
	m := rep.Memory
	if m.Scope != "gateway process" || m.IdleRSSMiB <= 0 || m.WarmRSSMiB <= 0 || m.LiveRSSMiB <= 0 || m.PeakRSSMiB < m.LiveRSSMiB {
		t.Errorf("memory %+v", m)
	}
	// The per-1,000 figures are the differences, scaled.
	per := func(d float64) float64 { return d / n * 1000 }
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"rss per 1000", m.PerThousandMiB, per(m.LiveRSSMiB - m.WarmRSSMiB)},
		{"cold rss per 1000", m.ColdPerThousandMiB, per(m.LiveRSSMiB - m.IdleRSSMiB)},
	} {
		// Rounding: the MiB figures have two decimals.
		if d := c.got - c.want; d > per(0.011) || d < -per(0.011) {
			t.Errorf("%s: %v, from the RSS figures %v", c.name, c.got, c.want)
		}
	}
}

func TestBenchUSSDUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"one session", []string{"--ussd", "--sessions", "1"}, "--sessions"},
		{"too many sessions", []string{"--ussd", "--sessions", "40000"}, "--sessions"},
		{"negative think", []string{"--ussd", "--think", "-1s"}, "--think"},
		{"negative workers", []string{"--ussd", "--pin-workers", "-1"}, "--pin-workers"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut := newSyncBuffer(), newSyncBuffer()
			code := run(context.Background(), append([]string{"bench"}, tc.args...), func(string) string { return "" }, out, errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("exit %d, want %d; stderr %q, want %q in it", code, exitUsage, errOut.String(), tc.want)
			}
		})
	}
}

func TestProcMemory(t *testing.T) {
	rss, hwm, err := procMemory(0)
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if rss <= 0 || hwm < rss {
		t.Errorf("VmRSS %d, VmHWM %d", rss, hwm)
	}
}
