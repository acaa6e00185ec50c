package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/smpp/smsc"
)

// noLeaks fails t if it leaves goroutines behind. Call it first: its
// check runs after every other cleanup.
func noLeaks(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

var (
	sandboxRE = regexp.MustCompile(`paygate sandbox: HTTP on http://(\S+)`)
	servingRE = regexp.MustCompile(`paygate serving HTTP on http://(\S+),`)
	helpReply = flows.Text(flows.English, flows.KeyHelp, flows.Vars{"pin_length": "6"})
)

// runCmd runs a command that ends by itself and returns its exit code
// and outputs.
func runCmd(ctx context.Context, env map[string]string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, environ(env), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// The sandbox end to end, as a new user meets it: serve prints where it
// listens and what to try; phone sms gets the HELP reply; phone ussd
// walks to an end screen; Ctrl-C stops it all and exits 0.
func TestServeSandbox(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	s := start(t, nil, "serve", "--dir", dir, "--listen", "127.0.0.1:0")
	addr := s.stdout.wait(t, sandboxRE, 15*time.Second)
	gw := "http://" + addr
	banner := s.stdout.String()
	for _, want := range []string{
		"sandbox", "simulated SMSC", dir,
		"paygate phone sms --gateway " + gw + " 13800138000 HELP",
		"paygate phone ussd --gateway " + gw + " 13800138000",
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}

	code, stdout, stderr := runCmd(context.Background(), nil, "phone", "sms", "--gateway", gw, "13800138000", "HELP")
	if code != exitOK {
		t.Fatalf("phone sms: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if want := "> 3030: HELP\n< 3030: " + helpReply + "\n"; stdout != want {
		t.Errorf("phone sms printed\n%s\nwant\n%s", stdout, want)
	}
	// Again, with the gateway from the environment and the text in words:
	// only the new reply prints.
	code, stdout, stderr = runCmd(context.Background(), map[string]string{"PAYGATE_PHONE_GATEWAY": addr}, "phone", "sms", "+8613800138000", "help", "xyzzy")
	if code != exitOK || !strings.HasPrefix(stdout, "> 3030: help xyzzy\n< 3030: ") || strings.Count(stdout, "< 3030") != 1 {
		t.Errorf("phone sms with PAYGATE_PHONE_GATEWAY: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	// USSD: dial; answer 0 (exit) to any menu until the end screen.
	ctx := withStdin(context.Background(), strings.NewReader("0\n0\n0\n"))
	code, stdout, stderr = runCmd(ctx, nil, "phone", "ussd", "--gateway", gw, "13800138000")
	if code != exitOK {
		t.Fatalf("phone ussd: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.HasPrefix(stdout, "> *384#\n") || !strings.HasSuffix(stdout, "(session ended)\n") {
		t.Errorf("phone ussd printed:\n%s", stdout)
	}

	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve: exit code %d; stderr:\n%s", code, s.stderr)
	}
	for _, name := range []string{"paygate.db", "data.key", "pepper.key"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("sandbox left no %s: %v", name, err)
		}
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after shutdown", addr)
	}
}

// With stdin ending at a continue screen, phone ussd leaves quietly; a
// USSD session that ends at once needs no input at all.
func TestPhoneUSSDEOF(t *testing.T) {
	noLeaks(t)
	s := start(t, nil, "serve", "--dir", t.TempDir(), "--listen", "127.0.0.1:0")
	gw := "http://" + s.stdout.wait(t, sandboxRE, 15*time.Second)
	ctx := withStdin(context.Background(), strings.NewReader(""))
	code, stdout, stderr := runCmd(ctx, nil, "phone", "ussd", "--gateway", gw, "--code", "*384#", "13800138000")
	if code != exitOK || !strings.HasPrefix(stdout, "> *384#\n") {
		t.Errorf("phone ussd: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve: exit code %d; stderr:\n%s", code, s.stderr)
	}
}

// A taken port is reported before anything starts, with the way out.
func TestServeSandboxAddressInUse(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, stdout, stderr := runCmd(context.Background(), nil, "serve", "--dir", t.TempDir(), "--listen", ln.Addr().String())
	if code != exitError {
		t.Errorf("exit code %d, want %d", code, exitError)
	}
	for _, want := range []string{ln.Addr().String(), "in use", "--listen to choose another"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if stdout != "" {
		t.Errorf("stdout:\n%s", stdout)
	}
}

// serveCanary is the SMSC password of the config tests: it must never be
// printed.
const serveCanary = "Zq8vKw3p"

// writeServeConfig writes a config for a gateway bound to smscAddr, with
// its key files and SQLite database next to it, and returns its path.
func writeServeConfig(t *testing.T, smscAddr, extra string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"data.key", "pepper.key"} {
		key := strings.Repeat(map[string]string{"data.key": "ab", "pepper.key": "cd"}[name], 32) + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `database: sqlite:paygate.db
http: { listen: 127.0.0.1:0 }
smsc:
  - name: carrier-a
    addr: ` + smscAddr + `
    system_id: paygate
    password: ` + serveCanary + `
    rate: 0
bank: { kind: sim }
keys: { data_key_file: data.key, pepper_file: pepper.key }
` + extra
	path := filepath.Join(dir, "paygate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serve --config runs the configured gateway: it binds to the SMSC,
// answers a text, has no sandbox phones, and stops on Ctrl-C.
func TestServeConfig(t *testing.T) {
	noLeaks(t)
	sim, err := smsc.Listen(smsc.Config{Password: serveCanary, RetryInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	path := writeServeConfig(t, sim.Addr(), "")

	s := start(t, nil, "serve", "--config", path)
	addr := s.stdout.wait(t, servingRE, 15*time.Second)
	if out := s.stdout.String(); !strings.Contains(out, "binding to carrier-a="+sim.Addr()) {
		t.Errorf("stdout: %s", out)
	}
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v; stderr:\n%s", err, s.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := sim.InjectText("+8613800138000", "3030", "HELP", false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for n := 1; len(sim.ReceivedTexts("+8613800138000")) == 0; n++ { // the reply comes in parts
		if _, err := sim.WaitReceived(ctx, "+8613800138000", n); err != nil {
			t.Fatal(err)
		}
	}
	if got := sim.ReceivedTexts("+8613800138000"); len(got) != 1 || got[0] != helpReply {
		t.Errorf("reply %q", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "paygate.db")); err != nil {
		t.Errorf("database not next to the config: %v", err)
	}

	// No sandbox here: phone says so.
	code, stdout, stderr := runCmd(context.Background(), nil, "phone", "sms", "--gateway", "http://"+addr, "13800138000", "HELP")
	if code != exitError || !strings.Contains(stderr, "no sandbox phones") {
		t.Errorf("phone sms against a configured gateway: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	hc.CloseIdleConnections()
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve: exit code %d; stderr:\n%s", code, s.stderr)
	}
	logs := s.stderr.String()
	for _, want := range []string{"msg=serving", "http=" + addr, "carrier-a=" + sim.Addr(), "msg=stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if out := s.stdout.String() + logs; strings.Contains(out, serveCanary) {
		t.Errorf("the SMSC password was printed:\n%s", out)
	}
}

func TestServeConfigRefused(t *testing.T) {
	noLeaks(t)
	tests := []struct {
		name   string
		args   func(path string) []string
		extra  string
		code   int
		stderr []string
	}{
		{
			name: "invalid", extra: "pin_length: 9\nlanguage: fr\n",
			args:   func(p string) []string { return []string{"serve", "--config", p} },
			code:   exitError,
			stderr: []string{"pin_length: 9 is outside 4..6\n", "language: \"fr\" is not en or zh\n", "paygate.yaml: 2 problems\n"},
		},
		{
			name:   "missing file",
			args:   func(p string) []string { return []string{"serve", "--config", p + ".nope"} },
			code:   exitError,
			stderr: []string{"paygate.yaml.nope"},
		},
		{
			name:   "sandbox flags with a config",
			args:   func(p string) []string { return []string{"serve", "--config", p, "--listen", "127.0.0.1:0"} },
			code:   exitUsage,
			stderr: []string{"--listen: only for the sandbox"},
		},
		{
			name:   "extra argument",
			args:   func(p string) []string { return []string{"serve", "now"} },
			code:   exitUsage,
			stderr: []string{`unexpected argument "now"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeServeConfig(t, "127.0.0.1:1", tt.extra)
			code, stdout, stderr := runCmd(context.Background(), nil, tt.args(path)...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr:\n%s", code, tt.code, stderr)
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if stdout != "" || strings.Contains(stderr, serveCanary) {
				t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
		})
	}
}
