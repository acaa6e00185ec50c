package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The demo end to end, through run as the binary runs it: it plays the
// whole day, exits 0, prints every scene and the lines that show each
// flow did what it should, and leaves nothing behind in $TMPDIR.
func TestDemo(t *testing.T) {
	noLeaks(t)
	tmp := t.TempDir()
	start := time.Now()
	code, stdout, stderr := runCmd(context.Background(), map[string]string{"TMPDIR": tmp}, "demo")
	t.Logf("the demo took %v", time.Since(start).Round(time.Millisecond))
	if code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	scenes := demoScenes()
	for i, sc := range scenes {
		if want := fmt.Sprintf("=== Scene %d/%d: %s\n", i+1, len(scenes), sc.title); !strings.Contains(stdout, want) {
			t.Errorf("no header %q", want)
		}
	}
	for _, want := range []*regexp.Regexp{
		// Linking by SMS, in English and in Chinese.
		regexp.MustCompile(`(?m)^\[Li 138\*\*\*\*8000 SMS\] > LINK PGB 6222020000000001$`),
		regexp.MustCompile(`(?m)^\[Li 138\*\*\*\*8000 SMS\] < Your PIN is set`),
		regexp.MustCompile(`(?m)^\[Wang 139\*\*\*\*9000 SMS\] < 密码已设置`),
		// SEND: both receipts.
		regexp.MustCompile(`(?m)^\[Li 138\*\*\*\*8000 SMS\] < Paid 500\.00 CNY to W\*\*\* F\*\*\* .*Bank ref \S+`),
		regexp.MustCompile(`(?m)^\[Wang 139\*\*\*\*9000 SMS\] < 收到L\* W\*\*.*转账500\.00CNY`),
		// PAY: the merchant's phone.
		regexp.MustCompile(`(?m)^\[Shop 135\*\*\*\*5000 SMS\] < Payment received: 25\.50 CNY from L\* W\*\*`),
		// Balance and statement.
		regexp.MustCompile(`(?m)^\[Li 138\*\*\*\*8000 SMS\] < Balance of PGB \*\*\*\*0001: 9474\.50 CNY`),
		// USSD: the menu and the end screen.
		regexp.MustCompile(`(?m)^\[Li USSD\] │ 1 Send money +│$`),
		regexp.MustCompile(`(?m)^\[Li USSD\] │ Confirmed: 20\.00 CNY to W\*\*\* F\*\*\*, ref [A-Z0-9]{8}\.`),
		// Push: the pushed screen, the terminal's calls, the receipt
		// and the signed webhook.
		regexp.MustCompile(`(?m)^\[Wang USSD\] │ Demo Shop.*12\.50CNY`),
		regexp.MustCompile(`(?m)^\[Shop terminal\] POST /v1/payment-requests \{139\*\*\*\*9000, 12\.50 CNY, INV-1001, push\} → 201 pending_pin$`),
		regexp.MustCompile(`(?m)^\[Shop terminal\] GET /v1/payment-requests/\S+\?wait=30s → 200 completed$`),
		regexp.MustCompile(`(?m)^\[Shop terminal\] │ Invoice INV-1001 +│$`),
		regexp.MustCompile(`(?m)^\[Shop webhook\] payment_request\.completed: INV-1001, .*\(signature verified\)$`),
		// Terminal mode: the PIN never printed, the mistyped code refused.
		regexp.MustCompile(`(?m)^\[Shop terminal\] POST /v1/payment-requests \{139\*\*\*\*9000, 88\.00 CNY, INV-1002, terminal, PIN ••••••\} → 201 pending_code$`),
		regexp.MustCompile(`(?m)^\[Shop terminal\] POST /v1/payment-requests/\S+/code \{code \d{6}\} → 422 auth_failed`),
		regexp.MustCompile(`(?m)^\[Shop webhook\] payment_request\.completed: INV-1002, terminal 88\.00 CNY`),
		// The lockout, the operator's unlock, and the phone usable again.
		regexp.MustCompile(`(?m)^\[Zhang 137\*\*\*\*7000 SMS\] < paygate alert: 3 wrong PIN or code tries in a row\. Payments from this phone are locked until`),
		regexp.MustCompile(`(?m)^\[Shop terminal\] POST /v1/payment-requests \{137\*\*\*\*7000, .*\} → 423 locked`),
		regexp.MustCompile(`(?m)^\[Operator\] POST /v1/admin/subscribers/13700137000/unlock → 200`),
		regexp.MustCompile(`(?m)^\[Zhang 137\*\*\*\*7000 SMS\] < Balance of PGB \*\*\*\*0003: 0\.00 CNY`),
		// STATUS, and the books.
		regexp.MustCompile(`(?m)^\[Li 138\*\*\*\*8000 SMS\] < Ref [A-Z0-9]{8}, 500\.00 CNY to W\*\*\* F\*\*\*: paid\.`),
		regexp.MustCompile(`(?m)^\[Bank\] Demo Shop +PGB \*\*\*\*9001 +126\.00 CNY$`),
		regexp.MustCompile(`(?m)^\[Li 138\*\*\*\*8000 SMS\] < \[sealed, verified\] Your phone's security check passed\. Payments are on\.$`),
		regexp.MustCompile(`(?m)^\[Li 138\*\*\*\*8000 SMS\] < \[sealed, verified\] Paid 10\.00 CNY to W\*\*\* F\*\*\*`),
		regexp.MustCompile(`(?m)^=== paygate demo: all 13 scenes went as scripted in `),
	} {
		if !want.MatchString(stdout) {
			t.Errorf("stdout lacks %s", want)
		}
	}
	// The terminal's PIN is never printed; the phones' own typing is.
	if strings.Contains(stdout, `"pin"`) || strings.Contains(stdout, "PIN 739104}") {
		t.Errorf("the terminal's PIN is printed")
	}
	// The gateway's warnings go to stderr (a bind may see the
	// simulator close first at shutdown); an error is a fault.
	if strings.Contains(stderr, "level=ERROR") {
		t.Errorf("the gateway logged errors:\n%s", stderr)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) > 0 {
		t.Errorf("left in $TMPDIR: %v %v", left, err)
	}
}

// --quiet prints the scene headers and the summary, nothing else.
func TestDemoQuiet(t *testing.T) {
	code, stdout, stderr := runCmd(context.Background(), map[string]string{"TMPDIR": t.TempDir()}, "demo", "--quiet")
	if code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	lines := 0
	for _, l := range strings.Split(stdout, "\n") {
		if l == "" {
			continue
		}
		lines++
		if !strings.HasPrefix(l, "=== ") {
			t.Errorf("quiet, yet it printed %q", l)
		}
	}
	if want := len(demoScenes()) + 1; lines != want {
		t.Errorf("%d lines, want %d:\n%s", lines, want, stdout)
	}
}

// A step whose outcome deviates fails the demo with exit 1 and a message
// naming the scene and what was expected.
func TestDemoDeviationFails(t *testing.T) {
	noLeaks(t)
	var stdout, stderr bytes.Buffer
	env := &cmdEnv{stdout: &stdout, stderr: &stderr, getenv: environ(map[string]string{"TMPDIR": t.TempDir()}), log: slog.New(slog.DiscardHandler)}
	err := playDemo(context.Background(), env, demoOptions{wait: time.Second}, []demoScene{
		{"Li asks for help", func(d *demoRun) { d.li.sms("HELP", "Commands:") }},
		{"Li expects the impossible", func(d *demoRun) { d.li.sms("HELP SEND", "free money") }},
		{"never played", func(d *demoRun) { d.fail("played after a failure") }},
	})
	if err == nil {
		t.Fatalf("no error\n%s", &stdout)
	}
	for _, want := range []string{"scene 2 (Li expects the impossible)", `"free money"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(stdout.String(), "never played") {
		t.Errorf("a scene after the failure started:\n%s", &stdout)
	}

	code, _, stderr2 := runCmd(context.Background(), nil, "demo", "extra")
	if code != exitUsage || !strings.Contains(stderr2, `unexpected argument "extra"`) {
		t.Errorf("demo extra: exit code %d, stderr %q", code, stderr2)
	}
}

func TestDemoWebhookSignature(t *testing.T) {
	secret := []byte("whsec_test")
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"ev1"}`)
	sign := func(ts int64, b []byte) string {
		m := hmac.New(sha256.New, secret)
		fmt.Fprintf(m, "%d.%s", ts, b)
		return fmt.Sprintf("t=%d,v1=%s", ts, hex.EncodeToString(m.Sum(nil)))
	}
	tests := []struct {
		name   string
		secret []byte
		header string
		ok     bool
	}{
		{"good", secret, sign(now.Unix(), body), true},
		{"spaces", secret, strings.ReplaceAll(sign(now.Unix(), body), ",", ", "), true},
		{"other body", secret, sign(now.Unix(), []byte(`{"id":"ev2"}`)), false},
		{"other secret", []byte("whsec_other"), sign(now.Unix(), body), false},
		{"too old", secret, sign(now.Add(-6*time.Minute).Unix(), body), false},
		{"from the future", secret, sign(now.Add(6*time.Minute).Unix(), body), false},
		{"no secret yet", nil, sign(now.Unix(), body), false},
		{"malformed", secret, "v1=abc", false},
		{"not hex", secret, fmt.Sprintf("t=%d,v1=zz", now.Unix()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			why := verifyDemoWebhook(tt.secret, tt.header, body, now)
			if (why == "") != tt.ok {
				t.Errorf("verifyWebhook: %q, want ok %v", why, tt.ok)
			}
		})
	}
}
