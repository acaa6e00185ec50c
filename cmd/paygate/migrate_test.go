package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// migrate applies what is missing and says so; a second run has nothing
// to do.
func TestMigrate(t *testing.T) {
	noLeaks(t)
	path := writeServeConfig(t, "127.0.0.1:2775", "")
	code, stdout, stderr := runCmd(context.Background(), nil, "migrate", "--config", path)
	if code != exitOK {
		t.Fatalf("exit code %d\nstderr:\n%s", code, stderr)
	}
	db := "sqlite:" + filepath.Join(filepath.Dir(path), "paygate.db")
	if !strings.HasPrefix(stdout, "applied 0001_") || !strings.Contains(stdout, "database "+db+" migrated: ") {
		t.Errorf("first run printed:\n%s", stdout)
	}
	code, stdout, stderr = runCmd(context.Background(), nil, "migrate", "--config", path)
	if code != exitOK || stdout != "database "+db+" is up to date: no migration to apply\n" {
		t.Errorf("second run: exit code %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, serveCanary) {
		t.Errorf("the SMSC password was printed")
	}
}

func TestMigrateRefused(t *testing.T) {
	noLeaks(t)
	path := writeServeConfig(t, "127.0.0.1:2775", "")
	if err := os.Remove(filepath.Join(filepath.Dir(path), "data.key")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no data key", []string{"migrate", "--config", path}, exitError, "keys.data_key_file"},
		{"no config", []string{"migrate"}, exitUsage, "--config is required"},
		{"invalid config", []string{"migrate", "--config", writeServeConfig(t, "127.0.0.1:2775", "currency: yen\n")}, exitError, "currency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(context.Background(), nil, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) || stdout != "" {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(path), "paygate.db")); err == nil {
		t.Errorf("a database was created without a data key")
	}
}
