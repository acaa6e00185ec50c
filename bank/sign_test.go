package bank

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// mac is the signature of SPEC.md §8 computed here independently of
// sign.go, from the text of the spec.
func mac(secret, msg string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// TestSignKnownAnswer pins the signed strings: "<t>.<METHOD>.<path>.<body>"
// for requests (path with its query, empty body for GET) and
// "<t>.<status code>.<body>" for answers.
func TestSignKnownAnswer(t *testing.T) {
	secret := []byte("s3cr3t")
	at := time.Unix(1_700_000_000, 0)
	body := []byte(`{"bank":"PGB","account":"6222020000000001","phone":"+8613800138000"}`)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"POST", SignRequest(secret, at, "POST", "/v1/accounts/verify", body),
			"t=1700000000,v1=" + mac("s3cr3t", "1700000000.POST./v1/accounts/verify."+string(body))},
		{"GET with query", SignRequest(secret, at, "GET", "/v1/transfers/T-1?x=1", nil),
			"t=1700000000,v1=" + mac("s3cr3t", "1700000000.GET./v1/transfers/T-1?x=1.")},
		{"answer", SignResponse(secret, at, 200, []byte(`{"exists":true}`)),
			"t=1700000000,v1=" + mac("s3cr3t", `1700000000.200.{"exists":true}`)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

// TestCheckRequest tampers with each part a request signature covers,
// and with the header itself.
func TestCheckRequest(t *testing.T) {
	secret := []byte("s3cr3t")
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"T1","amount":100}`)
	good := SignRequest(secret, now, "POST", "/v1/transfers", body)
	_, v1, _ := strings.Cut(good, ",v1=")
	tests := []struct {
		name                 string
		header, method, path string
		body                 []byte
		now                  time.Time
		stale                bool
		ok                   bool
	}{
		{name: "good", header: good, ok: true},
		{name: "good, 4m59s later", header: good, now: now.Add(5*time.Minute - time.Second), ok: true},
		{name: "good, spaces", header: strings.ReplaceAll(good, ",", " , "), ok: true},
		{name: "second v1 matches (key rollover)", header: "t=1700000000,v1=" + strings.Repeat("00", 32) + ",v1=" + v1, ok: true},
		{name: "body changed", header: good, body: []byte(`{"id":"T1","amount":900}`)},
		{name: "body empty", header: good, body: []byte{}},
		{name: "path changed", header: good, path: "/v1/transfers/T1"},
		{name: "query added", header: good, path: "/v1/transfers?x=1"},
		{name: "method changed", header: good, method: "PUT"},
		{name: "method case", header: good, method: "post"},
		{name: "timestamp changed", header: strings.Replace(good, "t=1700000000", "t=1700000001", 1)},
		{name: "stale: 5m01s old", header: good, now: now.Add(5*time.Minute + time.Second), stale: true},
		{name: "from the future: 5m01s ahead", header: good, now: now.Add(-5*time.Minute - time.Second), stale: true},
		{name: "v1 changed", header: good[:len(good)-1] + flip(good[len(good)-1])},
		{name: "v1 truncated", header: good[:len(good)-2]},
		{name: "v1 not hex", header: "t=1700000000,v1=" + strings.Repeat("zz", 32)},
		{name: "no v1", header: "t=1700000000"},
		{name: "no t", header: "v1=" + v1},
		{name: "two t", header: "t=1700000000,t=1700000000,v1=" + v1},
		{name: "t with plus", header: "t=+1700000000,v1=" + v1},
		{name: "t not a number", header: "t=soon,v1=" + v1},
		{name: "garbage", header: "nonsense"},
		{name: "empty"},
		{name: "other secret", header: SignRequest([]byte("other"), now, "POST", "/v1/transfers", body)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, path, b, at := "POST", "/v1/transfers", body, now
			if tt.method != "" {
				method = tt.method
			}
			if tt.path != "" {
				path = tt.path
			}
			if tt.body != nil {
				b = tt.body
			}
			if !tt.now.IsZero() {
				at = tt.now
			}
			err := CheckRequest(secret, at, tt.header, method, path, b)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tt.ok && !errors.Is(err, ErrBadSignature):
				t.Fatalf("got %v, want ErrBadSignature", err)
			case errors.Is(err, ErrStaleSignature) != tt.stale:
				t.Fatalf("got %v, stale %v", err, tt.stale)
			}
		})
	}
}

// TestCheckResponse tampers with each part an answer's signature covers.
func TestCheckResponse(t *testing.T) {
	secret := []byte("s3cr3t")
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"id":"T1","status":"completed"}`)
	good := SignResponse(secret, now, 200, body)
	tests := []struct {
		name   string
		header string
		status int
		body   string
		now    time.Time
		ok     bool
	}{
		{name: "good", header: good, status: 200, body: string(body), now: now, ok: true},
		{name: "status changed", header: good, status: 201, body: string(body), now: now},
		{name: "body changed", header: good, status: 200, body: `{"id":"T1","status":"rejected"}`, now: now},
		{name: "timestamp changed", header: strings.Replace(good, "t=1700000000", "t=1699999999", 1), status: 200, body: string(body), now: now},
		{name: "stale", header: good, status: 200, body: string(body), now: now.Add(6 * time.Minute)},
		{name: "request signature in its place", header: SignRequest(secret, now, "200", "", body), status: 200, body: string(body), now: now},
		{name: "missing", status: 200, body: string(body), now: now},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckResponse(secret, tt.now, tt.header, tt.status, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("CheckResponse = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func flip(c byte) string {
	if c == '0' {
		return "1"
	}
	return "0"
}

// TestSecretRedacts prints a Secret every way it could leak.
func TestSecretRedacts(t *testing.T) {
	s := Secret("hunter2-the-bank-key")
	cfg := HTTPConfig{URL: "https://bank.example", Secret: s}
	for _, out := range []string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x %X", s, s, s, s, s, s, s),
		fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), s.String(), s.LogValue().String(),
	} {
		if strings.Contains(out, "hunter2") || strings.Contains(out, hex.EncodeToString(s)) {
			t.Errorf("secret leaked: %s", out)
		}
	}
}

func TestErrorCode(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":{"code":"insufficient_funds","message":"x"}}`, "insufficient_funds"},
		{`{"error":{"code":"e404"}}`, "e404"},
		{`{"error":{"code":"6222020000000001"}}`, ""},
		{`{"error":{"code":"Bad Code"}}`, ""},
		{`{"error":{"code":"` + strings.Repeat("a", 65) + `"}}`, ""},
		{`not json`, ""},
	}
	for _, tt := range tests {
		if got := errorCode([]byte(tt.body)); got != tt.want {
			t.Errorf("errorCode(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
