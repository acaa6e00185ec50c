package main

import (
	"context"
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

// migratedConfig writes a gateway config with its database migrated.
func migratedConfig(t *testing.T) string {
	t.Helper()
	path := writeServeConfig(t, "127.0.0.1:2775", "")
	if code, _, stderr := runCmd(context.Background(), nil, "migrate", "--config", path); code != exitOK {
		t.Fatalf("migrate: exit code %d\n%s", code, stderr)
	}
	return path
}

// mustRun runs a command that must succeed and returns its stdout.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCmd(context.Background(), nil, args...)
	if code != exitOK {
		t.Fatalf("%s: exit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, merchantAccount) {
		t.Fatalf("%s printed the account number in full:\n%s%s", strings.Join(args, " "), stdout, stderr)
	}
	return stdout
}

// tableRow matches a line of a table whose cells are cells.
func tableRow(cells []string) *regexp.Regexp {
	q := make([]string, len(cells))
	for i, c := range cells {
		q[i] = regexp.QuoteMeta(c)
	}
	return regexp.MustCompile(`(?m)^` + strings.Join(q, `\s+`) + `\s*$`)
}

// add, list, disable, enable on a config's database; a code added twice
// and an unknown code are refused.
func TestMerchants(t *testing.T) {
	noLeaks(t)
	path := migratedConfig(t)

	if out := mustRun(t, "merchants", "list", "--config", path); out != "no merchants: add one with `paygate merchants add`\n" {
		t.Errorf("empty list:\n%s", out)
	}
	out := mustRun(t, "merchants", "add", "--config", path, "--code", "tea42", "--name", "  Tea   House ",
		"--account", "6222-0200-0000-7788", "--phone", "137 0013 7000", "--webhook", "https://tea.example/hook?token=s3cr3t")
	if out != "added merchant TEA42 (Tea House), paid into PGB ****7788\n" {
		t.Errorf("add printed:\n%s", out)
	}
	mustRun(t, "merchants", "add", "--config", path, "--code", "BOOKS", "--name", "书店", "--bank", "icb", "--account", "GB33BUKB20201555555555")

	code, stdout, stderr := runCmd(context.Background(), nil, "merchants", "add", "--config", path, "--code", "TEA42", "--name", "Other", "--account", merchantAccount)
	if code != exitError || stdout != "" || !strings.Contains(stderr, "merchant TEA42 exists already") {
		t.Errorf("adding TEA42 twice: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	list := mustRun(t, "merchants", "list", "--config", path)
	for _, row := range [][]string{
		{"CODE", "NAME", "ACCOUNT", "PHONE", "WEBHOOK", "STATUS"},
		{"BOOKS", "书店", "ICB ****5555", "-", "-", "enabled"},
		{"TEA42", "Tea House", "PGB ****7788", "+8613700137000", "https://tea.example/hook?…", "enabled"},
	} {
		if !tableRow(row).MatchString(list) {
			t.Errorf("list lacks the row %q:\n%s", row, list)
		}
	}
	if n := strings.Count(list, "\n"); n != 3 {
		t.Errorf("list has %d lines:\n%s", n, list)
	}
	if strings.Contains(list, "s3cr3t") {
		t.Errorf("the webhook's token was printed:\n%s", list)
	}

	if out := mustRun(t, "merchants", "disable", "--config", path, "--code", "tea42"); out != "merchant TEA42 disabled: PAY to it is refused\n" {
		t.Errorf("disable printed:\n%s", out)
	}
	if list := mustRun(t, "merchants", "list", "--config", path); !regexp.MustCompile(`(?m)^TEA42 .* disabled$`).MatchString(list) {
		t.Errorf("after disable:\n%s", list)
	}
	if out := mustRun(t, "merchants", "enable", "--config", path, "--code", "TEA42"); out != "merchant TEA42 enabled\n" {
		t.Errorf("enable printed:\n%s", out)
	}
	if list := mustRun(t, "merchants", "list", "--config", path); !regexp.MustCompile(`(?m)^TEA42 .* enabled$`).MatchString(list) {
		t.Errorf("after enable:\n%s", list)
	}
	code, stdout, stderr = runCmd(context.Background(), nil, "merchants", "disable", "--config", path, "--code", "NOBODY")
	if code != exitError || stdout != "" || !strings.Contains(stderr, "no merchant NOBODY") {
		t.Errorf("disabling an unknown merchant: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

// Bad input is refused before anything is written, naming the flag at
// fault; a database that is missing or not migrated is refused saying
// what to do.
func TestMerchantsRefused(t *testing.T) {
	noLeaks(t)
	path := migratedConfig(t)
	unmigrated := writeServeConfig(t, "127.0.0.1:2775", "")
	if err := os.WriteFile(filepath.Join(filepath.Dir(unmigrated), "paygate.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	noDB := writeServeConfig(t, "127.0.0.1:2775", "")
	add := func(extra ...string) []string {
		return append([]string{"merchants", "add", "--config", path, "--code", "SHOP", "--name", "Shop", "--account", merchantAccount}, extra...)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr []string
	}{
		{"missing flags", []string{"merchants", "add", "--config", path, "--phone", "13700137000"}, exitUsage,
			[]string{"--code, --name and --account are required"}},
		{"missing code", []string{"merchants", "disable", "--config", path}, exitUsage, []string{"--code is required"}},
		{"bad code", add("--code", "SH_OP"), exitUsage, []string{`--code: "SH_OP" is not 2 to 16`}},
		{"bad account", add("--account", "12"), exitUsage, []string{"--account: is not an account number"}},
		{"bad bank", add("--bank", "P"), exitUsage, []string{`--bank: "P" is not a bank code`}},
		{"bad phone", add("--phone", "12x"), exitUsage, []string{`--phone: "12x" is not a phone number (local numbers are read with country code 86)`}},
		{"http webhook", add("--webhook", "http://shop.example/hook"), exitUsage, []string{"--webhook: is http:// to a host that is not loopback"}},
		{"several", add("--account", "1", "--phone", "1", "--webhook", "ftp://x"), exitUsage,
			[]string{"--account: ", "--phone: ", "--webhook: ", "3 flags are wrong"}},
		{"argument", append(add(), "extra"), exitUsage, []string{`unexpected argument "extra"`}},
		{"dir with config", add("--dir", "."), exitUsage, []string{"--dir: only for the sandbox"}},
		{"no sandbox", []string{"merchants", "list", "--dir", t.TempDir()}, exitError,
			[]string{"no sandbox in ", "paygate serve --dir "}},
		{"no database", []string{"merchants", "list", "--config", noDB}, exitError, []string{"database: ", "does not exist"}},
		{"not migrated", []string{"merchants", "list", "--config", unmigrated}, exitError, []string{"paygate migrate", "0004_transfers.sql"}},
		{"invalid config", []string{"merchants", "list", "--config", writeServeConfig(t, "127.0.0.1:2775", "currency: yen\n")}, exitError, []string{"currency"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(context.Background(), nil, tt.args...)
			if code != tt.code || stdout != "" {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
			if strings.Contains(stdout+stderr, merchantAccount) {
				t.Errorf("the account number was printed:\n%s", stderr)
			}
		})
	}
	if out := mustRun(t, "merchants", "list", "--config", path); !strings.HasPrefix(out, "no merchants") {
		t.Errorf("a refused command added a merchant:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(noDB), "paygate.db")); err == nil {
		t.Errorf("a database was created")
	}
}

// The sandbox has the demo merchant, and the merchants commands work on
// it from another process while it runs, as `paygate phone` does.
func TestMerchantsSandbox(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	s := start(t, nil, "serve", "--dir", dir, "--listen", "127.0.0.1:0")
	s.stdout.wait(t, sandboxRE, 15*time.Second)

	list := mustRun(t, "merchants", "list", "--dir", dir)
	if !tableRow([]string{"DEMO", "Demo Shop", "PGB ****9001", "+8613500135000", "-", "enabled"}).MatchString(list) {
		t.Fatalf("the sandbox's merchants:\n%s", list)
	}
	mustRun(t, "merchants", "add", "--dir", dir, "--code", "CAFE", "--name", "Cafe", "--account", merchantAccount, "--phone", "13600136000")
	mustRun(t, "merchants", "disable", "--dir", dir, "--code", "DEMO")
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve exit code %d\nstderr:\n%s", code, s.stderr)
	}

	// A restart keeps what the operator did: DEMO stays disabled.
	s = start(t, nil, "serve", "--dir", dir, "--listen", "127.0.0.1:0")
	s.stdout.wait(t, sandboxRE, 15*time.Second)
	list = mustRun(t, "merchants", "list", "--dir", dir)
	if !regexp.MustCompile(`(?m)^DEMO .* disabled$`).MatchString(list) || !regexp.MustCompile(`(?m)^CAFE\s+Cafe\s+PGB \*\*\*\*7788\s+\+8613600136000`).MatchString(list) {
		t.Fatalf("after a restart:\n%s", list)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve exit code %d\nstderr:\n%s", code, s.stderr)
	}
}
