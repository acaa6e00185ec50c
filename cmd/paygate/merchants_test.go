package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// merchantAccount is the account number of the tests' merchants: it
// must never be printed in full.
const merchantAccount = "6222020000007788"

// Operators of the tests' gateway (its admin.token_file).
const (
	opsToken = "ops-0123456789abcdef-token"
	eveToken = "eve-fedcba9876543210-token"
)

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(context.Background(), env, args...)
	if code != exitOK {
		t.Fatalf("%s: exit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	noSecrets(t, args, stdout+stderr)
	return stdout
}

// noSecrets fails t if out shows the account number in full or a token.
func noSecrets(t *testing.T, args []string, out string) {
	t.Helper()
	for _, s := range []string{merchantAccount, opsToken, eveToken} {
		if strings.Contains(out, s) {
			t.Errorf("%s printed %q:\n%s", strings.Join(args, " "), s, out)
		}
	}
}

// mustFail runs a command that must exit with code and print every
// string of stderr on stderr, and nothing on stdout.
func mustFail(t *testing.T, env map[string]string, code int, stderr []string, args ...string) {
	t.Helper()
	got, stdout, errOut := runCmd(context.Background(), env, args...)
	if got != code || stdout != "" {
		t.Errorf("%s: exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, code, stdout, errOut)
	}
	for _, s := range stderr {
		if !strings.Contains(errOut, s) {
			t.Errorf("%s: stderr lacks %q:\n%s", strings.Join(args, " "), s, errOut)
		}
	}
	noSecrets(t, args, stdout+errOut)
}

// tableRow matches a line of a table whose cells are cells.
func tableRow(cells []string) *regexp.Regexp {
	q := make([]string, len(cells))
	for i, c := range cells {
		q[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(q, `\s+`) + `\s*$`)
}

// writeFile writes a file of the test.
func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The merchants commands manage a running gateway's merchants through
// its admin API, as an operator of its admin.token_file: add (fields
// checked by the gateway, named as flags), list, show, disable and
// enable, API keys, the webhook and its secret, terminal mode — and
// every call is in the gateway's audit log under the operator's name,
// which holds no secret.
func TestMerchants(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	tokens := writeFile(t, filepath.Join(dir, "admin.token"), "# operators\nops "+opsToken+"\neve "+eveToken+"\n")
	s := start(t, nil, "serve", "--dir", dir, "--listen", "127.0.0.1:0")
	addr := s.stdout.wait(t, sandboxRE, 15*time.Second)
	url := "http://" + addr
	as := func(args ...string) []string {
		return append(args, "--url", url, "--token-file", tokens, "--operator", "ops")
	}

	list := mustRun(t, nil, as("merchants", "list")...)
	if !tableRow([]string{"DEMO", "Demo Shop", "PGB ****9001", "+8613500135000", "-", "enabled", "active"}).MatchString(list) {
		t.Fatalf("the sandbox's merchants:\n%s", list)
	}
	out := mustRun(t, nil, as("merchants", "add", "--code", "tea42", "--name", "  Tea   House ", "--account", "6222-0200-0000-7788",
		"--phone", "137 0013 7000", "--webhook", "http://127.0.0.1:9/hook?token=s3cr3t")...)
	if !strings.HasPrefix(out, "added merchant TEA42 (Tea House), paid into PGB ****7788\nwebhook signing secret") ||
		!regexp.MustCompile(`(?m)^whsec_[0-9a-f]{64}$`).MatchString(out) {
		t.Errorf("add printed:\n%s", out)
	}
	mustRun(t, nil, as("merchants", "add", "--code", "BOOKS", "--name", "书店", "--bank", "icb", "--account", "GB33BUKB20201555555555")...)

	mustFail(t, nil, exitError, []string{"merchant TEA42 exists already"},
		as("merchants", "add", "--code", "TEA42", "--name", "Other", "--account", merchantAccount)...)
	mustFail(t, nil, exitUsage, []string{"--account: is not an account number"},
		as("merchants", "add", "--code", "SHOP", "--name", "Shop", "--account", "12")...)
	mustFail(t, nil, exitUsage, []string{"--account: ", "--phone: ", "--webhook: ", "3 flags are wrong"},
		as("merchants", "add", "--code", "SHOP", "--name", "Shop", "--account", "1", "--phone", "1", "--webhook", "ftp://x")...)

	list = mustRun(t, nil, as("merchants", "list")...)
	for _, row := range [][]string{
		{"CODE", "NAME", "ACCOUNT", "PHONE", "WEBHOOK", "STATUS", "TERMINAL"},
		{"BOOKS", "书店", "ICB ****5555", "-", "-", "enabled", "active"},
		{"TEA42", "Tea House", "PGB ****7788", "+8613700137000", "http://127.0.0.1:9/hook?…", "enabled", "active"},
	} {
		if !tableRow(row).MatchString(list) {
			t.Errorf("list lacks the row %q:\n%s", row, list)
		}
	}
	if strings.Contains(list, "s3cr3t") || strings.Count(list, "\n") != 4 {
		t.Errorf("list:\n%s", list)
	}
	var asJSON struct {
		Merchants []map[string]any `json:"merchants"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, nil, as("merchants", "list", "--json")...)), &asJSON); err != nil || len(asJSON.Merchants) != 3 {
		t.Errorf("list --json: %v %v", asJSON, err)
	}

	if out := mustRun(t, nil, as("merchants", "disable", "--code", "tea42")...); out != "merchant TEA42 disabled: PAY to it is refused\n" {
		t.Errorf("disable printed:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^TEA42 .* disabled\s+active$`).MatchString(mustRun(t, nil, as("merchants", "list")...)) {
		t.Error("TEA42 is not disabled")
	}
	if out := mustRun(t, nil, as("merchants", "enable", "--code", "TEA42")...); out != "merchant TEA42 enabled\n" {
		t.Errorf("enable printed:\n%s", out)
	}
	mustFail(t, nil, exitError, []string{"no merchant NOBODY"}, as("merchants", "disable", "--code", "NOBODY")...)

	// API keys: the key printed once; listed by id; revoked.
	out = mustRun(t, nil, as("merchants", "key", "--code", "TEA42")...)
	key := regexp.MustCompile(`(?m)^(pk_[a-z2-7]{10})_[a-z2-7]{32}$`).FindStringSubmatch(out)
	if key == nil || !strings.HasPrefix(out, "new API key "+key[1]+" of merchant TEA42") {
		t.Fatalf("key printed:\n%s", out)
	}
	keys := mustRun(t, nil, as("merchants", "keys", "--code", "TEA42")...)
	if !regexp.MustCompile(`(?m)^`+key[1]+`\s+\S+\s+active$`).MatchString(keys) || strings.Contains(keys, key[0]) {
		t.Errorf("keys:\n%s", keys)
	}
	show := mustRun(t, nil, as("merchants", "show", "--code", "tea42")...)
	for _, want := range [][]string{{"code:", "TEA42"}, {"account:", "PGB ****7788"}, {"webhook:", "http://127.0.0.1:9/hook?…"}, {"keys:", "1"}} {
		if !tableRow(want).MatchString(show) {
			t.Errorf("show lacks %q:\n%s", want, show)
		}
	}
	if !regexp.MustCompile(`(?m)^` + key[1] + `\s+\S+\s+active$`).MatchString(show) {
		t.Errorf("show lacks the key:\n%s", show)
	}
	if out := mustRun(t, nil, as("merchants", "revoke-key", "--code", "TEA42", "--id", key[0])...); out != "API key "+key[1]+" of merchant TEA42 revoked\n" {
		t.Errorf("revoke-key printed:\n%s", out)
	}
	if keys := mustRun(t, nil, as("merchants", "keys", "--code", "TEA42")...); !regexp.MustCompile(`(?m)^` + key[1] + `\s+\S+\s+revoked `).MatchString(keys) {
		t.Errorf("keys after revoke:\n%s", keys)
	}
	mustFail(t, nil, exitError, []string{"merchant BOOKS has no API key " + key[1]}, as("merchants", "revoke-key", "--code", "BOOKS", "--id", key[1])...)
	if out := mustRun(t, nil, as("merchants", "keys", "--code", "BOOKS")...); !strings.HasPrefix(out, "merchant BOOKS has no API keys") {
		t.Errorf("keys of BOOKS:\n%s", out)
	}

	// The webhook: a new secret each time, checked, removed.
	out = mustRun(t, nil, as("merchants", "webhook", "--code", "TEA42", "--webhook", "http://localhost:9/new")...)
	if !strings.HasPrefix(out, "webhook of merchant TEA42 set to http://localhost:9/new\n") || !strings.Contains(out, "\nwhsec_") {
		t.Errorf("webhook printed:\n%s", out)
	}
	mustFail(t, nil, exitUsage, []string{"--webhook: is not an https:// URL"}, as("merchants", "webhook", "--code", "TEA42", "--webhook", "ftp://x/y")...)
	if out := mustRun(t, nil, as("merchants", "webhook", "--code", "TEA42", "--remove")...); out != "merchant TEA42 has no webhook now\n" {
		t.Errorf("webhook --remove printed:\n%s", out)
	}

	// Terminal mode.
	if out := mustRun(t, nil, as("merchants", "suspend-terminal", "--code", "TEA42")...); out != "terminal mode of merchant TEA42 suspended\n" {
		t.Errorf("suspend-terminal printed:\n%s", out)
	}
	if !tableRow([]string{"TEA42", "Tea House", "PGB ****7788", "+8613700137000", "-", "enabled", "suspended"}).MatchString(mustRun(t, nil, as("merchants", "list")...)) {
		t.Error("TEA42's terminal mode is not suspended")
	}
	mustRun(t, nil, as("merchants", "resume-terminal", "--code", "TEA42")...)

	// The token from the environment, the gateway too; one operator's
	// file needs no --operator; the token file of a config.
	env := map[string]string{"PAYGATE_ADMIN_TOKEN": eveToken, "PAYGATE_ADMIN_URL": addr}
	if out := mustRun(t, env, "merchants", "list"); !strings.Contains(out, "TEA42") {
		t.Errorf("list with the environment:\n%s", out)
	}
	one := writeFile(t, filepath.Join(t.TempDir(), "ops.token"), "ops "+opsToken+"\n")
	mustRun(t, nil, "merchants", "list", "--url", url, "--token-file", one)
	cfgDir := t.TempDir()
	writeFile(t, filepath.Join(cfgDir, "ops.token"), "ops "+opsToken+"\n")
	cfg := writeFile(t, filepath.Join(cfgDir, "paygate.yaml"), "admin: {token_file: ops.token}\n")
	mustRun(t, nil, "merchants", "show", "--code", "DEMO", "--config", cfg, "--url", url)

	// Refusals: several operators and none named, an unknown operator, a
	// token the gateway does not know, no token file, no gateway.
	mustFail(t, nil, exitUsage, []string{"holds the tokens of ops, eve: name yours with --operator"}, "merchants", "list", "--url", url, "--token-file", tokens)
	mustFail(t, nil, exitUsage, []string{`has no line for "mallory"`}, "merchants", "list", "--url", url, "--token-file", tokens, "--operator", "mallory")
	stranger := writeFile(t, filepath.Join(t.TempDir(), "stranger.token"), "ops stranger-0123456789abcdef\n")
	mustFail(t, nil, exitError, []string{"refused operator ops of " + stranger + " (401 unauthorized)"}, "merchants", "list", "--url", url, "--token-file", stranger)
	mustFail(t, nil, exitUsage, []string{"does not exist", "--token-file"}, "merchants", "list", "--url", url, "--token-file", filepath.Join(dir, "nope"))
	mustFail(t, nil, exitError, []string{"cannot reach the gateway at http://127.0.0.1:1"}, "merchants", "list", "--url", "127.0.0.1:1", "--token-file", one)

	// The audit log: every call above, as ops or eve, and no secret.
	req, _ := http.NewRequest("GET", url+"/v1/admin/audit?limit=1000", nil)
	req.Header.Set("Authorization", "Bearer "+opsToken)
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var audit struct {
		Entries []struct {
			Operator string `json:"operator"`
			Action   string `json:"action"`
			Target   string `json:"target"`
			Status   int    `json:"status"`
			Detail   string `json:"detail"`
		} `json:"entries"`
	}
	err = json.NewDecoder(resp.Body).Decode(&audit)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range audit.Entries {
		actions[e.Operator+" "+e.Action]++
		row := e.Operator + " " + e.Action + " " + e.Target + " " + e.Detail
		for _, secret := range []string{merchantAccount, "s3cr3t", "whsec_", key[0], opsToken, eveToken} {
			if strings.Contains(row, secret) {
				t.Errorf("audit row holds %q: %s", secret, row)
			}
		}
	}
	for _, want := range []string{"ops merchant.create", "ops merchant.list", "ops merchant.disable", "ops key.create", "ops key.revoke",
		"ops webhook.set", "ops terminal.set", "eve merchant.list", " merchant.list"} {
		if actions[want] == 0 {
			t.Errorf("no audit row %q: %v", want, actions)
		}
	}

	hc.CloseIdleConnections()
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve exit code %d\nstderr:\n%s", code, s.stderr)
	}
}

// Bad command lines are refused before any call, naming the flag.
func TestMerchantsUsage(t *testing.T) {
	noLeaks(t)
	tokens := writeFile(t, filepath.Join(t.TempDir(), "admin.token"), "ops "+opsToken+"\n")
	nowhere := []string{"--url", "http://127.0.0.1:1", "--token-file", tokens}
	tests := []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"missing flags", []string{"merchants", "add", "--phone", "13700137000"}, []string{"--code, --name and --account are required"}},
		{"missing code", []string{"merchants", "disable"}, []string{"--code is required"}},
		{"missing code of key", []string{"merchants", "key"}, []string{"--code is required"}},
		{"a code that is a path", []string{"merchants", "show", "--code", "A/B"}, []string{`--code "A/B" is not a merchant code`}},
		{"missing id", []string{"merchants", "revoke-key", "--code", "DEMO"}, []string{"--id is required"}},
		{"webhook without URL", []string{"merchants", "webhook", "--code", "DEMO"}, []string{"give --webhook URL, or --remove"}},
		{"webhook and remove", []string{"merchants", "webhook", "--code", "DEMO", "--webhook", "https://x.example", "--remove"}, []string{"give --webhook URL, or --remove"}},
		{"argument", []string{"merchants", "list", "extra"}, []string{`unexpected argument "extra"`}},
		{"argument of add", []string{"merchants", "add", "extra"}, []string{`unexpected argument "extra"`}},
		{"bad url", []string{"merchants", "list", "--url", "ftp://x"}, []string{`--url "ftp://x" is not an http:// URL`}},
		{"no token file", []string{"merchants", "list", "--token-file", filepath.Join(t.TempDir(), "none")}, []string{"does not exist"}},
		{"empty token file", []string{"merchants", "list", "--token-file", writeFile(t, filepath.Join(t.TempDir(), "empty"), "# nobody\n")}, []string{`has no "name token" line`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string(nil), tt.args...), nowhere...)
			if strings.Contains(strings.Join(tt.args, " "), "--url") || strings.Contains(strings.Join(tt.args, " "), "--token-file") {
				args = tt.args
			}
			mustFail(t, nil, exitUsage, tt.stderr, args...)
		})
	}
}
