package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
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

var listeningRE = regexp.MustCompile(`listening on (\S+)`)

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
		{name: "-h", args: []string{"-h"}, code: exitOK, stderr: []string{"Usage: paygate", "sim smsc", "version", "help"}, noStdout: true},
		{name: "--help", args: []string{"--help"}, code: exitOK, stderr: []string{"Usage: paygate"}, noStdout: true},
		{name: "group -h", args: []string{"sim", "-h"}, code: exitOK, stderr: []string{"sim smsc"}, noStdout: true},
		{name: "command -h", args: []string{"sim", "smsc", "-h"}, code: exitOK, stderr: []string{"Usage: paygate sim smsc", "--listen", "--system-id", "--password", "--dlr", "--hex-ids", "PAYGATE_SIM_SMSC_PASSWORD", "--log-level"}, noStdout: true},
		{name: "help", args: []string{"help"}, code: exitOK, stdout: []string{"Usage: paygate", "sim smsc", "version", "help", "--log-format", "--log-level"}},
		{name: "help command", args: []string{"help", "sim", "smsc"}, code: exitOK, stdout: []string{"Usage: paygate sim smsc", "--listen", "default 127.0.0.1:2775"}},
		{name: "help group", args: []string{"help", "sim"}, code: exitOK, stdout: []string{"sim smsc"}},
		{name: "help unknown", args: []string{"help", "serve"}, code: exitUsage, stderr: []string{`unknown command "serve"`}, noStdout: true},
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
