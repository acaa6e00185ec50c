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
