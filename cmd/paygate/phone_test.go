package main

import (
	"context"
	"net"
	"strings"
	"testing"
)

// Without a gateway, the phone commands say what to start.
func TestPhoneGatewayDown(t *testing.T) {
	noLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, args := range [][]string{
		{"phone", "sms", "--gateway", "http://" + addr, "13800138000", "HELP"},
		{"phone", "ussd", "--gateway", addr, "13800138000"},
	} {
		code, stdout, stderr := runCmd(context.Background(), nil, args...)
		if code != exitError || !strings.Contains(stderr, "is `paygate serve` running?") || !strings.Contains(stderr, addr) {
			t.Errorf("%s: exit code %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

func TestPhoneUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		stderr string
	}{
		{"sms without text", []string{"phone", "sms", "13800138000"}, nil, "want a phone NUMBER and the TEXT"},
		{"sms without number", []string{"phone", "sms"}, nil, "want a phone NUMBER and the TEXT"},
		{"ussd without number", []string{"phone", "ussd"}, nil, "want a phone NUMBER"},
		{"ussd extra argument", []string{"phone", "ussd", "13800138000", "1"}, nil, `unexpected argument "1"`},
		{"bad gateway", []string{"phone", "sms", "--gateway", "ftp://x", "13800138000", "HELP"}, nil, "--gateway"},
		{"bad gateway in environment", []string{"phone", "sms", "13800138000", "HELP"}, map[string]string{"PAYGATE_PHONE_GATEWAY": "ftp://x"}, "--gateway"},
		{"zero wait", []string{"phone", "sms", "--wait", "0s", "13800138000", "HELP"}, nil, "--wait"},
		{"group", []string{"phone"}, nil, "phone sms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCmd(context.Background(), tt.env, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.stderr) || stdout != "" {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitUsage, stdout, stderr)
			}
		})
	}
}
