package bank

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of every request and answer of
// the Bank API (SPEC.md §8).
const SignatureHeader = "Paygate-Signature"

// MaxSignatureAge is how far a signature's time may be from the
// receiver's clock, in the past or the future (SPEC §8: "signatures older
// than 5 minutes are refused"; a time as far ahead is refused too, so a
// skewed clock cannot mint signatures that stay fresh for longer).
const MaxSignatureAge = 5 * time.Minute

// Signature errors. ErrStaleSignature also matches ErrBadSignature.
var (
	ErrBadSignature   = errors.New("bank: bad signature")
	ErrStaleSignature = fmt.Errorf("%w: outside %v of now", ErrBadSignature, MaxSignatureAge)
)

// SignRequest returns the Paygate-Signature value of a request:
// t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<METHOD>.<path>.<body>")>,
// where path is the request target as sent, with its query string, and
// body is empty for a GET.
func SignRequest(secret []byte, t time.Time, method, path string, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(requestMAC(secret, ts, method, path, body))
}

// CheckRequest checks a request's Paygate-Signature header against
// method, path and body at time now. It returns nil, ErrStaleSignature
// or another error matching ErrBadSignature. The comparison takes
// constant time.
func CheckRequest(secret []byte, now time.Time, header, method, path string, body []byte) error {
	ts, sigs, err := parseSignature(header, now)
	if err != nil {
		return err
	}
	return matchAny(sigs, requestMAC(secret, ts, method, path, body))
}

// SignResponse returns the Paygate-Signature value of an answer:
// t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<status code>.<body>")>.
func SignResponse(secret []byte, t time.Time, status int, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(responseMAC(secret, ts, status, body))
}

// CheckResponse checks an answer's Paygate-Signature header against its
// status and body at time now, as CheckRequest does for requests.
func CheckResponse(secret []byte, now time.Time, header string, status int, body []byte) error {
	ts, sigs, err := parseSignature(header, now)
	if err != nil {
		return err
	}
	return matchAny(sigs, responseMAC(secret, ts, status, body))
}

func requestMAC(secret []byte, ts, method, path string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	writeAll(m, ts, ".", method, ".", path, ".")
	m.Write(body)
	return m.Sum(nil)
}

func responseMAC(secret []byte, ts string, status int, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	writeAll(m, ts, ".", strconv.Itoa(status), ".")
	m.Write(body)
	return m.Sum(nil)
}

func writeAll(h hash.Hash, parts ...string) {
	for _, p := range parts {
		h.Write([]byte(p))
	}
}

// parseSignature reads "t=<unix>,v1=<hex>[,v1=<hex>…]" (spaces around
// the parts are tolerated, unknown keys ignored, several v1 accepted for
// a key rollover) and checks the time against now. It returns t as it
// was written, since that text is what was signed.
func parseSignature(header string, now time.Time) (string, [][]byte, error) {
	if header == "" {
		return "", nil, fmt.Errorf("%w: no %s header", ErrBadSignature, SignatureHeader)
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: malformed header", ErrBadSignature)
		}
		switch k {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("%w: two timestamps", ErrBadSignature)
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return "", nil, fmt.Errorf("%w: malformed v1", ErrBadSignature)
			}
			sigs = append(sigs, b)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: t or v1 missing", ErrBadSignature)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts[0] == '+' {
		return "", nil, fmt.Errorf("%w: malformed timestamp", ErrBadSignature)
	}
	age := now.Sub(time.Unix(unix, 0))
	if age > MaxSignatureAge || age < -MaxSignatureAge {
		return "", nil, ErrStaleSignature
	}
	return ts, sigs, nil
}

func matchAny(sigs [][]byte, want []byte) error {
	ok := 0
	for _, s := range sigs {
		ok |= subtleEqual(s, want)
	}
	if ok == 0 {
		return fmt.Errorf("%w: mismatch", ErrBadSignature)
	}
	return nil
}

// subtleEqual is hmac.Equal as an int, so that matchAny looks at every
// candidate whatever the first gave.
func subtleEqual(a, b []byte) int {
	if hmac.Equal(a, b) {
		return 1
	}
	return 0
}
