package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paygate/paygate/smpp"
)

// syncBuffer is an io.Writer that the command writes to from its own
// goroutine while the test reads it. wait blocks until the text matches.
type syncBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// wait returns the first submatch of re once the output matches it.
func (b *syncBuffer) wait(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		b.mu.Lock()
		m := re.FindStringSubmatch(b.buf.String())
		ch := b.changed
		b.mu.Unlock()
		if m != nil {
			return m[len(m)-1]
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no output matching %q within %v; got:\n%s", re, timeout, b.String())
		}
	}
}

// environ is a getenv over a fixed map: tests never see the real
// environment.
func environ(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// started is a command running in the background.
type started struct {
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan int
}

func start(t *testing.T, env map[string]string, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stdout: newSyncBuffer(), stderr: newSyncBuffer(), cancel: cancel, done: make(chan int, 1)}
	go func() { s.done <- run(ctx, args, environ(env), s.stdout, s.stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Errorf("run did not return after its context was cancelled")
		}
	})
	return s
}

// stop cancels the command and returns its exit code.
func (s *started) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		return code
	case <-time.After(10 * time.Second):
		t.Fatalf("run did not return after its context was cancelled; stderr:\n%s", s.stderr)
		return -1
	}
}

var (
	listeningRE = regexp.MustCompile(`listening on (\S+)`)
	controlRE   = regexp.MustCompile(`control API on http://(\S+)`)
)

// bind dials addr, sends one bind_transceiver and returns the answer.
func bind(t *testing.T, addr, systemID, password string) *smpp.PDU {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	req, err := smpp.Encode(nil, &smpp.PDU{
		Command:          smpp.BindTransceiver,
		Seq:              1,
		SystemID:         systemID,
		Password:         password,
		InterfaceVersion: 0x34,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	frame, err := smpp.ReadFrame(c, nil, smpp.DefaultMaxPDU)
	if err != nil {
		t.Fatalf("reading bind_transceiver_resp: %v", err)
	}
	resp, err := smpp.Decode(frame)
	if err != nil {
		t.Fatalf("decoding % x: %v", frame, err)
	}
	if resp.Command != smpp.BindTransceiverResp || resp.Seq != 1 {
		t.Fatalf("got %v, want bind_transceiver_resp seq=1", resp)
	}
	return resp
}

func TestSimSMSC(t *testing.T) {
	tests := []struct {
		name               string
		env                map[string]string
		args               []string
		systemID, password string
		want               smpp.Status
	}{
		{name: "defaults", systemID: "paygate", password: "secret", want: smpp.StatusOK},
		{name: "wrong password", systemID: "paygate", password: "guess", want: smpp.StatusInvPaswd},
		{name: "wrong system id", systemID: "other", password: "secret", want: smpp.StatusInvSysID},
		{
			name: "flags", args: []string{"--system-id", "carrier", "--password", "s3cr3t", "--dlr", "--hex-ids"},
			systemID: "carrier", password: "s3cr3t", want: smpp.StatusOK,
		},
		{
			name: "password from environment", env: map[string]string{"PAYGATE_SIM_SMSC_PASSWORD": "hunter2"},
			systemID: "paygate", password: "hunter2", want: smpp.StatusOK,
		},
		{
			name: "environment default no longer accepted", env: map[string]string{"PAYGATE_SIM_SMSC_PASSWORD": "hunter2"},
			systemID: "paygate", password: "secret", want: smpp.StatusInvPaswd,
		},
		{
			name: "flag wins over environment", env: map[string]string{"PAYGATE_SIM_SMSC_PASSWORD": "hunter2"},
			args: []string{"-password", "flagpw"}, systemID: "paygate", password: "flagpw", want: smpp.StatusOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"sim", "smsc", "--listen", "127.0.0.1:0"}, tt.args...)
			s := start(t, tt.env, args...)
			addr := s.stdout.wait(t, listeningRE, 10*time.Second)

			resp := bind(t, addr, tt.systemID, tt.password)
			if resp.Status != tt.want {
				t.Errorf("bind as %s: status %v, want %v", tt.systemID, resp.Status, tt.want)
			}

			if code := s.stop(t); code != exitOK {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, exitOK, s.stderr)
			}
			// The password is never printed, whichever way it came.
			for _, pw := range []string{tt.password, tt.env["PAYGATE_SIM_SMSC_PASSWORD"]} {
				if len(pw) < 5 {
					continue
				}
				if out := s.stdout.String() + s.stderr.String(); strings.Contains(out, pw) {
					t.Errorf("output contains the password %q:\n%s", pw, out)
				}
			}
			// Closed: nothing listens any more.
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Errorf("%s still accepts connections after shutdown", addr)
			}
		})
	}
}

// TestSimSMSCShutdownClosesBinds checks that cancelling the context
// ends a session that is bound and idle.
func TestSimSMSCShutdownClosesBinds(t *testing.T) {
	s := start(t, nil, "sim", "smsc", "--listen", "127.0.0.1:0")
	addr := s.stdout.wait(t, listeningRE, 10*time.Second)
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, _ := smpp.Encode(nil, &smpp.PDU{Command: smpp.BindTransceiver, Seq: 7, SystemID: "paygate", Password: "secret", InterfaceVersion: 0x34})
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	frame, err := smpp.ReadFrame(c, nil, smpp.DefaultMaxPDU)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := smpp.Decode(frame); err != nil || resp.Status != smpp.StatusOK {
		t.Fatalf("bind: %v, %v", resp, err)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, s.stderr)
	}
	// The server side closed: reads end (possibly after an unbind).
	for {
		if _, err := smpp.ReadFrame(c, nil, smpp.DefaultMaxPDU); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("connection still open after shutdown")
			}
			break
		}
	}
}

func TestSimSMSCJSONLogs(t *testing.T) {
	s := start(t, nil, "--log-format", "json", "sim", "smsc", "--listen", "127.0.0.1:0", "--log-level", "debug")
	s.stdout.wait(t, listeningRE, 10*time.Second)
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, s.stderr)
	}
	lines := strings.Split(strings.TrimSpace(s.stderr.String()), "\n")
	if len(lines) == 0 || lines[0] == "" {
		t.Fatal("no log lines on stderr")
	}
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", l)
		}
	}
}

func TestSimSMSCListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"sim", "smsc", "--listen", ln.Addr().String()}, environ(nil), &stdout, &stderr)
	if code != exitError {
		t.Fatalf("exit code %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr.String(), ln.Addr().String()) {
		t.Errorf("stderr does not name the address:\n%s", &stderr)
	}
}

// controlGet GETs path from the control API at addr into v.
func controlGet(t *testing.T, hc *http.Client, addr, path string, v any) {
	t.Helper()
	controlDo(t, hc, "GET", addr, path, "", http.StatusOK, v)
}

func controlDo(t *testing.T, hc *http.Client, method, addr, path, body string, want int, v any) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
}

// TestSimSMSCControl starts the simulator with faults and the control
// API, from flags or the environment, and drives it over HTTP.
func TestSimSMSCControl(t *testing.T) {
	type faults struct {
		Throttle  float64 `json:"throttle"`
		MsgQFull  float64 `json:"msgqfull"`
		Delay     string  `json:"delay"`
		DropEvery string  `json:"drop_every"`
		LoseAcks  float64 `json:"lose_acks"`
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		line   []string // in the startup line
		faults faults
	}{
		{
			name:   "flags",
			args:   []string{"--control", "127.0.0.1:0", "--throttle", "5", "--lose-acks", "0.1"},
			line:   []string{"faults: throttle 5/s, lose-acks 0.1)"},
			faults: faults{Throttle: 5, LoseAcks: 0.1, Delay: "0s", DropEvery: "0s"},
		},
		{
			name: "environment",
			env: map[string]string{
				"PAYGATE_SIM_SMSC_CONTROL": "127.0.0.1:0", "PAYGATE_SIM_SMSC_MSGQFULL": "0.25",
				"PAYGATE_SIM_SMSC_DELAY": "50ms", "PAYGATE_SIM_SMSC_DROP_EVERY": "1m",
			},
			line:   []string{"faults: msgqfull 0.25, delay 50ms, drop-every 1m0s)"},
			faults: faults{MsgQFull: 0.25, Delay: "50ms", DropEvery: "1m0s"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hc := &http.Client{Timeout: 5 * time.Second}
			defer hc.CloseIdleConnections()
			s := start(t, tt.env, append([]string{"sim", "smsc", "--listen", "127.0.0.1:0"}, tt.args...)...)
			addr := s.stdout.wait(t, listeningRE, 10*time.Second)
			ctl := s.stdout.wait(t, controlRE, 10*time.Second)
			if addr == ctl {
				t.Fatalf("SMPP and control on the same address %s", addr)
			}
			for _, want := range tt.line {
				if !strings.Contains(s.stdout.String(), want) {
					t.Errorf("startup line lacks %q:\n%s", want, s.stdout)
				}
			}

			var f faults
			controlGet(t, hc, ctl, "/faults", &f)
			if f != tt.faults {
				t.Errorf("GET /faults: %+v, want %+v", f, tt.faults)
			}
			controlDo(t, hc, "PUT", ctl, "/faults", `{"delay":"0s","duplicates":0.5}`, http.StatusOK, &f)
			if f.Delay != "0s" {
				t.Errorf("PUT /faults: %+v, want delay 0s", f)
			}
			var ids struct {
				IDs []uint64 `json:"ids"`
			}
			controlDo(t, hc, "POST", ctl, "/mo", `{"from":"+8613800138000","to":"3030","text":"HELP"}`, http.StatusCreated, &ids)
			var stats struct {
				PendingMOs int `json:"pending_mos"`
			}
			controlGet(t, hc, ctl, "/stats", &stats)
			if len(ids.IDs) != 1 || stats.PendingMOs != 1 {
				t.Errorf("after POST /mo: ids %v, %d pending; want one", ids.IDs, stats.PendingMOs)
			}
			if resp := bind(t, addr, "paygate", "secret"); resp.Status != smpp.StatusOK {
				t.Errorf("bind: %v", resp.Status)
			}

			hc.CloseIdleConnections()
			if code := s.stop(t); code != exitOK {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, exitOK, s.stderr)
			}
			for _, a := range []string{addr, ctl} {
				if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
					c.Close()
					t.Errorf("%s still accepts connections after shutdown", a)
				}
			}
		})
	}
}

// TestSimSMSCNoControl: without --control there is no API and the line
// says so.
func TestSimSMSCNoControl(t *testing.T) {
	s := start(t, nil, "sim", "smsc", "--listen", "127.0.0.1:0")
	s.stdout.wait(t, listeningRE, 10*time.Second)
	if out := s.stdout.String(); !strings.Contains(out, "faults: none), control API off") {
		t.Errorf("startup line: %s", out)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit code %d; stderr:\n%s", code, s.stderr)
	}
}

func TestSimSMSCControlListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"sim", "smsc", "--listen", "127.0.0.1:0", "--control", ln.Addr().String()}, environ(nil), &stdout, &stderr)
	if code != exitError {
		t.Fatalf("exit code %d, want %d", code, exitError)
	}
	if !strings.Contains(stderr.String(), ln.Addr().String()) || !strings.Contains(stderr.String(), "control") {
		t.Errorf("stderr does not name the control address:\n%s", &stderr)
	}
}

// TestUsage runs command lines that end at once.
func TestUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdout     []string // substrings expected on stdout
		stderr     []string // substrings expected on stderr
		noStdout   bool
		notInError []string // substrings that must not appear on stderr
	}{
		{name: "no arguments", code: exitUsage, stderr: []string{"Usage: paygate", "missing command"}, noStdout: true},
		{name: "unknown command", args: []string{"frobnicate"}, code: exitUsage, stderr: []string{`unknown command "frobnicate"`, "Commands:"}, noStdout: true},
		{name: "unknown subcommand", args: []string{"sim", "nope"}, code: exitUsage, stderr: []string{`unknown command "sim nope"`}, noStdout: true},
		{name: "group without subcommand", args: []string{"sim"}, code: exitUsage, stderr: []string{"sim smsc", "missing command"}, noStdout: true},
		{name: "unknown global flag", args: []string{"--bogus", "version"}, code: exitUsage, stderr: []string{"-bogus"}, noStdout: true},
		{name: "unknown command flag", args: []string{"sim", "smsc", "--bogus"}, code: exitUsage, stderr: []string{"-bogus", "--listen"}, noStdout: true},
		{name: "extra argument", args: []string{"sim", "smsc", "--listen", "127.0.0.1:0", "extra"}, code: exitUsage, stderr: []string{`unexpected argument "extra"`}, noStdout: true},
		{name: "bad log level", args: []string{"--log-level", "loud", "version"}, code: exitUsage, stderr: []string{"log-level"}, noStdout: true},
		{name: "bad log format", args: []string{"version", "--log-format", "xml"}, code: exitUsage, stderr: []string{"log-format"}, noStdout: true},
		{name: "bad log level in environment", args: []string{"version"}, env: map[string]string{"PAYGATE_LOG_LEVEL": "loud"}, code: exitUsage, stderr: []string{"PAYGATE_LOG_LEVEL"}, noStdout: true},
		{name: "bad boolean in environment", args: []string{"sim", "smsc"}, env: map[string]string{"PAYGATE_SIM_SMSC_DLR": "maybe"}, code: exitUsage, stderr: []string{"PAYGATE_SIM_SMSC_DLR"}, noStdout: true},
		{name: "empty password", args: []string{"sim", "smsc", "--password", ""}, code: exitUsage, stderr: []string{"--password"}, noStdout: true},
		{name: "password too long", args: []string{"sim", "smsc", "--password", "muchtoolong"}, code: exitUsage, stderr: []string{"--password"}, noStdout: true, notInError: []string{"muchtoolong"}},
		{name: "system id too long", args: []string{"sim", "smsc", "--system-id", "a-very-long-system-id"}, code: exitUsage, stderr: []string{"--system-id"}, noStdout: true},
		{name: "bad throttle", args: []string{"sim", "smsc", "--throttle", "-1"}, code: exitUsage, stderr: []string{"-throttle"}, noStdout: true},
		{name: "throttle below 1/s", args: []string{"sim", "smsc", "--throttle", "0.5"}, code: exitUsage, stderr: []string{"-throttle"}, noStdout: true},
		{name: "throttle not a number", args: []string{"sim", "smsc", "--throttle", "fast"}, code: exitUsage, stderr: []string{"-throttle"}, noStdout: true},
		{name: "bad msgqfull", args: []string{"sim", "smsc", "--msgqfull", "1.5"}, code: exitUsage, stderr: []string{"-msgqfull"}, noStdout: true},
		{name: "bad lose-acks", args: []string{"sim", "smsc", "--lose-acks", "-0.1"}, code: exitUsage, stderr: []string{"-lose-acks"}, noStdout: true},
		{name: "NaN duplicates", args: []string{"sim", "smsc", "--duplicates", "NaN"}, code: exitUsage, stderr: []string{"-duplicates"}, noStdout: true},
		{name: "negative delay", args: []string{"sim", "smsc", "--delay", "-1s"}, code: exitUsage, stderr: []string{"-delay"}, noStdout: true},
		{name: "delay without unit", args: []string{"sim", "smsc", "--delay", "5"}, code: exitUsage, stderr: []string{"-delay"}, noStdout: true},
		{name: "negative drop-every", args: []string{"sim", "smsc", "--drop-every", "-5m"}, code: exitUsage, stderr: []string{"-drop-every"}, noStdout: true},
		{name: "zero retry", args: []string{"sim", "smsc", "--retry", "0s"}, code: exitUsage, stderr: []string{"--retry"}, noStdout: true},
		{name: "bad receipts", args: []string{"sim", "smsc", "--receipts", "xml"}, code: exitUsage, stderr: []string{"-receipts"}, noStdout: true},
		{name: "bad control address", args: []string{"sim", "smsc", "--control", "nonsense"}, code: exitUsage, stderr: []string{"--control"}, noStdout: true},
		{name: "bad probability in environment", args: []string{"sim", "smsc"}, env: map[string]string{"PAYGATE_SIM_SMSC_MSGQFULL": "2"}, code: exitUsage, stderr: []string{"PAYGATE_SIM_SMSC_MSGQFULL", "--msgqfull"}, noStdout: true},
		{name: "bad duration in environment", args: []string{"sim", "smsc"}, env: map[string]string{"PAYGATE_SIM_SMSC_DROP_EVERY": "often"}, code: exitUsage, stderr: []string{"PAYGATE_SIM_SMSC_DROP_EVERY", "--drop-every"}, noStdout: true},
		{name: "-h", args: []string{"-h"}, code: exitOK, stderr: []string{"Usage: paygate", "sim smsc", "version", "help"}, noStdout: true},
		{name: "--help", args: []string{"--help"}, code: exitOK, stderr: []string{"Usage: paygate"}, noStdout: true},
		{name: "group -h", args: []string{"sim", "-h"}, code: exitOK, stderr: []string{"sim smsc"}, noStdout: true},
		{name: "command -h", args: []string{"sim", "smsc", "-h"}, code: exitOK, stderr: []string{"Usage: paygate sim smsc", "--listen", "--system-id", "--password", "--dlr", "--hex-ids", "PAYGATE_SIM_SMSC_PASSWORD", "--log-level",
			"--throttle", "--msgqfull", "--delay", "--drop-every", "--lose-acks", "--duplicates", "--receipts", "--ref16", "--retry", "--control", "PAYGATE_SIM_SMSC_LOSE_ACKS"}, noStdout: true},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: []string{"Usage: paygate", "sim smsc", "version", "help", "--log-format", "--log-level"}},
		{name: "help command", args: []string{"help", "sim", "smsc"}, code: exitOK, stdout: []string{"Usage: paygate sim smsc", "--listen", "default 127.0.0.1:2775"}},
		{name: "help group", args: []string{"help", "sim"}, code: exitOK, stdout: []string{"sim smsc"}},
		{name: "help unknown", args: []string{"help", "frobnicate"}, code: exitUsage, stderr: []string{`unknown command "frobnicate"`}, noStdout: true},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: []string{"paygate ", "go\tgo1."}},
		{name: "version deps", args: []string{"version", "--deps"}, code: exitOK, stdout: []string{"paygate "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, environ(tt.env), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, &stdout, &stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, &stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, &stderr)
				}
			}
			for _, bad := range tt.notInError {
				if strings.Contains(stderr.String(), bad) {
					t.Errorf("stderr contains %q:\n%s", bad, &stderr)
				}
			}
			if tt.noStdout && stdout.Len() > 0 {
				t.Errorf("unexpected stdout:\n%s", &stdout)
			}
		})
	}
}

// TestHelpListsOnlyRealCommands keeps help honest: every command it
// lists runs (answers -h with exit 0), and nothing of SPEC.md §1 that
// does not exist yet is listed.
func TestHelpListsOnlyRealCommands(t *testing.T) {
	commands().leaves(nil, func(path []string, _ *command) {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append(path, "-h"), environ(nil), &stdout, &stderr); code != exitOK {
			t.Errorf("%s -h: exit code %d\n%s", strings.Join(path, " "), code, &stderr)
		}
	})
	var stdout, stderr bytes.Buffer
	run(context.Background(), []string{"help"}, environ(nil), &stdout, &stderr)
	for _, missing := range []string{"serve", "demo", "phone", "config check", "migrate", "sim bank"} {
		if commands().lookup(strings.Fields(missing)) == nil && strings.Contains(stdout.String(), "  "+missing) {
			t.Errorf("help lists %q, which does not exist yet", missing)
		}
	}
}
