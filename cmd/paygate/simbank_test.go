package main

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/bank"
)

// simBankConnector returns a connector to a `sim bank` at addr.
func simBankConnector(t *testing.T, addr string, secret bank.Secret) *bank.HTTP {
	t.Helper()
	c, err := bank.NewHTTP(bank.HTTPConfig{URL: "http://" + addr, Secret: secret, MaxAttempts: 3, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSimBank runs `sim bank` through run: it prints where it listens
// (never the secret), answers a signed verify for a demo account, moves
// money, and exits 0 when cancelled.
func TestSimBank(t *testing.T) {
	noLeaks(t)
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "bank.secret")
	if err := os.WriteFile(secretFile, []byte("  sim-bank-test-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := start(t, nil, "sim", "bank", "--listen", "127.0.0.1:0", "--secret-file", secretFile)
	addr := s.stdout.wait(t, listeningRE, 10*time.Second)
	conn := simBankConnector(t, addr, bank.Secret("sim-bank-test-secret"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	got, err := conn.Verify(ctx, bank.VerifyRequest{Bank: "PGB", Account: "6222020000000001", Phone: "+8613800138000"})
	if err != nil || !got.Exists || !got.PhoneMatches || got.HolderName != "Li Wei" {
		t.Fatalf("verify of a demo account: %+v, %v", got, err)
	}
	got, err = conn.Verify(ctx, bank.VerifyRequest{Bank: "PGB", Account: "6222020000000002", Phone: "+8613900139000"})
	if err != nil || !got.PhoneMatches {
		t.Fatalf("verify of the second demo phone: %+v, %v", got, err)
	}
	res, err := conn.Transfer(ctx, bank.TransferRequest{ID: "cmd-1", Reference: "T7K2QXM4",
		Debit: bank.Account{Bank: "PGB", Number: "6222020000000001"}, Credit: bank.Account{Bank: "PGB", Number: "6222020000000002"},
		Amount: 5000, Fee: 50, Currency: "CNY"})
	if err != nil || res.Status != bank.StatusCompleted {
		t.Fatalf("transfer: %+v, %v", res, err)
	}
	fees, err := conn.Balance(ctx, bank.Account{Bank: "PGB", Number: "90000001"})
	if err != nil || fees.Available != 50 {
		t.Fatalf("fee account: %+v, %v", fees, err)
	}

	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit code %d, stderr:\n%s", code, s.stderr)
	}
	out := s.stdout.String() + s.stderr.String()
	for _, leak := range []string{"sim-bank-test-secret", "6222020000000001"} {
		if strings.Contains(out, leak) {
			t.Errorf("output shows %q:\n%s", leak, out)
		}
	}
	if !strings.Contains(s.stdout.String(), "control API on http://"+addr+"/sim/") {
		t.Errorf("stdout does not name the control API:\n%s", s.stdout)
	}
}

// TestSimBankAccountsFile opens the accounts of a YAML or JSON file, with
// the key from the environment.
func TestSimBankAccountsFile(t *testing.T) {
	tests := []struct{ name, file string }{
		{"accounts.yaml", "- bank: XYZ\n  account: \"4000123412341234\"\n  holder: Ana\n  phone: \"+8613500135000\"\n  balance: 700\n- {bank: XYZ, account: 4000999999999999, holder: Shop}\n"},
		{"accounts.json", `[{"bank":"XYZ","account":"4000123412341234","holder":"Ana","phone":"+8613500135000","balance":700},{"bank":"XYZ","account":"4000999999999999","holder":"Shop"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.name)
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"PAYGATE_SIM_BANK_SECRET": "from-the-environment"}
			s := start(t, env, "sim", "bank", "--listen", "127.0.0.1:0", "--accounts", path, "--bank-code", "XYZ", "--fee-account", "4000000000000009")
			addr := s.stdout.wait(t, listeningRE, 10*time.Second)
			conn := simBankConnector(t, addr, bank.Secret("from-the-environment"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := conn.Verify(ctx, bank.VerifyRequest{Bank: "XYZ", Account: "4000123412341234", Phone: "+8613500135000"})
			if err != nil || got.HolderName != "Ana" {
				t.Fatalf("verify: %+v, %v", got, err)
			}
			bal, err := conn.Balance(ctx, bank.Account{Bank: "XYZ", Number: "4000000000000009"})
			if err != nil || bal.Available != 0 || bal.Currency != "CNY" {
				t.Fatalf("fee account: %+v, %v", bal, err)
			}
			if !strings.Contains(s.stdout.String(), "3 accounts") || !strings.Contains(s.stdout.String(), "****0009") {
				t.Errorf("stdout:\n%s", s.stdout)
			}
			if code := s.stop(t); code != exitOK {
				t.Fatalf("exit code %d, stderr:\n%s", code, s.stderr)
			}
		})
	}
}

// TestSimBankCreatesSecret: a missing secret file is created with a
// random key, readable by its owner only, and the key is not printed.
func TestSimBankCreatesSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.secret")
	s := start(t, nil, "sim", "bank", "--listen", "127.0.0.1:0", "--secret-file", path)
	addr := s.stdout.wait(t, listeningRE, 10*time.Second)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	key, err := bank.ReadSecretFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hex.DecodeString(string(key)); err != nil || len(key) != 64 {
		t.Fatalf("the new key is not 64 hex digits")
	}
	if strings.Contains(s.stdout.String(), string(key)) {
		t.Fatal("stdout shows the new key")
	}
	conn := simBankConnector(t, addr, key)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := conn.Verify(ctx, bank.VerifyRequest{Bank: "PGB", Account: "6222020000000001", Phone: "+8613800138000"}); err != nil {
		t.Fatalf("verify with the new key: %v", err)
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("exit code %d", code)
	}
}

// TestSimBankRefuses: command lines and files `sim bank` will not run.
func TestSimBankRefuses(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := write("ok.secret", "k")
	empty := write("empty.secret", " \n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		stderr  string
		notShow string
	}{
		{name: "both secrets", args: []string{"--secret", "a", "--secret-file", secret}, code: exitUsage, stderr: "not both"},
		{name: "secret file from the environment and a secret", args: []string{"--secret", "a"},
			env: map[string]string{"PAYGATE_SIM_BANK_SECRET_FILE": secret}, code: exitUsage, stderr: "not both"},
		{name: "empty listen", args: []string{"--listen", "", "--secret-file", secret}, code: exitUsage, stderr: "--listen"},
		{name: "extra argument", args: []string{"--secret-file", secret, "extra"}, code: exitUsage, stderr: `unexpected argument "extra"`},
		{name: "empty secret file", args: []string{"--secret-file", empty}, code: exitError, stderr: "empty"},
		{name: "missing accounts file", args: []string{"--secret-file", secret, "--accounts", filepath.Join(dir, "none.yaml")}, code: exitError, stderr: "accounts file"},
		{name: "accounts not a list", args: []string{"--secret-file", secret, "--accounts", write("map.yaml", "bank: PGB\n")}, code: exitError, stderr: "list"},
		{name: "unknown key", args: []string{"--secret-file", secret, "--accounts", write("unknown.yaml", "- {bank: PGB, account: '1', pin: '1234'}\n")}, code: exitError, stderr: "pin"},
		{name: "bad balance quotes no number", args: []string{"--secret-file", secret, "--accounts", write("bal.yaml", "- {bank: PGB, account: '6222777788889999', balance: 6222777788881111x}\n")},
			code: exitError, stderr: "accounts file", notShow: "6222777788881111"},
		{name: "duplicate account", args: []string{"--secret-file", secret, "--accounts", write("dup.json", `[{"bank":"PGB","account":"6222777788889999"},{"bank":"PGB","account":"6222777788889999"}]`)},
			code: exitError, stderr: "already open", notShow: "6222777788889999"},
		{name: "negative balance", args: []string{"--secret-file", secret, "--accounts", write("neg.json", `[{"bank":"PGB","account":"1","balance":-5}]`)}, code: exitError, stderr: "balance"},
		{name: "empty file", args: []string{"--secret-file", secret, "--accounts", write("empty.yaml", "")}, code: exitError, stderr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(context.Background(), tt.env, append([]string{"sim", "bank", "--listen", "127.0.0.1:0"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit %d and %q", code, stderr, tt.code, tt.stderr)
			}
			if stdout != "" {
				t.Errorf("stdout: %s", stdout)
			}
			if tt.notShow != "" && strings.Contains(stderr, tt.notShow) {
				t.Errorf("stderr shows %q:\n%s", tt.notShow, stderr)
			}
		})
	}
}

// TestSimBankListenError: a taken address is an error, exit 1.
func TestSimBankListenError(t *testing.T) {
	s := start(t, map[string]string{"PAYGATE_SIM_BANK_SECRET": "k"}, "sim", "bank", "--listen", "127.0.0.1:0")
	addr := s.stdout.wait(t, listeningRE, 10*time.Second)
	code, _, stderr := runCmd(context.Background(), map[string]string{"PAYGATE_SIM_BANK_SECRET": "k"}, "sim", "bank", "--listen", addr)
	if code != exitError || !strings.Contains(stderr, addr) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}
