package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/paygate/paygate/internal/crashpoint"
	"github.com/paygate/paygate/smpp/smsc"
)

// TestMain lets the test binary play the paygate binary for crash tests:
// with PAYGATE_TEST_CHILD set it runs run() on its arguments and exits.
func TestMain(m *testing.M) {
	if os.Getenv("PAYGATE_TEST_CHILD") != "" {
		// PAYGATE_CRASH_AT arms a crash point (internal/crashpoint):
		// only the test binary's child mode reads it.
		if !crashpoint.Arm(os.Getenv("PAYGATE_CRASH_AT")) {
			fmt.Fprintf(os.Stderr, "PAYGATE_CRASH_AT=%q: no such crash point\n", os.Getenv("PAYGATE_CRASH_AT"))
			os.Exit(2)
		}
		ctx, stop := contextWithSignals()
		code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// child is a paygate process started from the test binary.
type child struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed when the process ended
	err     error         // what Wait returned, once done
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startChildEnv(t, nil, args...)
}

// startChildEnv is startChild with env added to the child's environment.
func startChildEnv(t *testing.T, env []string, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "PAYGATE_TEST_CHILD=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, started: time.Now(), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	go func() { // keep the pipe drained; show the child's log on failure
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if testing.Verbose() {
				t.Logf("child %d: %s", cmd.Process.Pid, sc.Text())
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); <-c.done })
	return c
}

// kill ends the child with SIGKILL: no shutdown, no unbind, no flush.
func (c *child) kill(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGKILL)
	<-c.done
}

// term ends the child with SIGTERM, a clean shutdown, and waits.
func (c *child) term(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not stop on SIGTERM")
	}
}

// I1 under a hard crash: the gateway is killed with SIGKILL in the middle
// of a burst of MOs and started again on the same database. Every MO the
// SMSC saw acknowledged before the kill is in the inbox; every MO ends up
// in the inbox exactly once and answered; the database is intact (I6).
func TestCrashMidBurstLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	sim, err := smsc.Listen(smsc.Config{RetryInterval: 100 * time.Millisecond, ResponseTimeout: 2 * time.Second, Window: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "data.key"), []byte(strings.Repeat("5a", 32)+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "pepper.key"), []byte(strings.Repeat("a5", 32)+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "admin.token"), []byte("ops t0ken\n"), 0o600)
	cfgFile := filepath.Join(dir, "paygate.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`database: sqlite:paygate.db
http: { listen: 127.0.0.1:0 }
smsc:
  - name: carrier-a
    addr: %s
    system_id: paygate
    password: secret
    window: 100
    rate: 0
bank: { kind: sim }
`, sim.Addr())), 0o600)

	waitBound := func(c *child) time.Duration {
		deadline := time.Now().Add(15 * time.Second)
		for len(sim.Binds()) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("the gateway did not bind")
			}
			time.Sleep(2 * time.Millisecond)
		}
		return time.Since(c.started)
	}
	first := startChild(t, "serve", "--config", cfgFile)
	waitBound(first)

	const n = 600
	var ids []uint64
	for i := range n {
		ids = append(ids, sim.Inject(smsc.MO{From: fmt.Sprintf("+86138%08d", i), To: "3030", Text: "BAL"}))
		if i == n/3 {
			// Kill once a good part of the burst is acknowledged and more
			// is in flight.
			for countDelivered(sim, ids) < n/6 {
				time.Sleep(time.Millisecond)
			}
			first.kill(t)
			break
		}
		time.Sleep(500 * time.Microsecond)
	}
	ackedBeforeKill := map[int]bool{}
	for i, id := range ids {
		if d, _, _ := sim.MOStatus(id); d {
			ackedBeforeKill[i] = true
		}
	}
	for i := len(ids); i < n; i++ { // the rest of the burst, while the gateway is down
		ids = append(ids, sim.Inject(smsc.MO{From: fmt.Sprintf("+86138%08d", i), To: "3030", Text: "BAL"}))
	}
	for len(sim.Binds()) > 0 {
		time.Sleep(time.Millisecond) // the SMSC noticed the dead connection
	}
	second := startChild(t, "serve", "--config", cfgFile)
	restart := waitBound(second)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, id := range ids {
		if err := sim.WaitDelivered(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		if _, err := sim.WaitReceived(ctx, fmt.Sprintf("+86138%08d", i), 1); err != nil {
			t.Fatalf("phone %d never answered: %v", i, err)
		}
	}
	second.term(t)

	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "paygate.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q %v", check, err) // I6
	}
	inbox := map[string]int{}
	rows, err := db.Query("SELECT phone FROM inbox")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p string
		rows.Scan(&p)
		inbox[p]++
	}
	rows.Close()
	for i := range n {
		p := fmt.Sprintf("+86138%08d", i)
		if inbox[p] != 1 {
			t.Errorf("MO %d in the inbox %d times (acknowledged before the kill: %v)", i, inbox[p], ackedBeforeKill[i])
		}
	}
	dupReplies := 0
	for i := range n {
		if got := len(sim.Received(fmt.Sprintf("+86138%08d", i))); got > 1 {
			dupReplies++
		}
	}
	t.Logf("%d MOs; %d acknowledged before SIGKILL, all in the inbox after restart; restart to bound in %v; %d phones got their reply twice (an MT sent but not yet recorded as sent is sent again: at least once)",
		n, len(ackedBeforeKill), restart, dupReplies)
}

func countDelivered(sim *smsc.Server, ids []uint64) int {
	n := 0
	for _, id := range ids {
		if d, _, _ := sim.MOStatus(id); d {
			n++
		}
	}
	return n
}
