package flows

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// authParams are cheap argon2id parameters for tests that are not about
// the cost (the race detector makes argon2 much slower).
var authParams = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 32}

// authPepper is a pepper whose bytes are easy to find in any output.
var authPepper = bytes.Repeat([]byte{0xC7}, PepperSize)

// authFixedReader returns b again and again.
type authFixedReader struct{ b byte }

func (r authFixedReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.b
	}
	return len(p), nil
}

// authFailingReader fails every read.
type authFailingReader struct{}

func (authFailingReader) Read([]byte) (int, error) { return 0, errors.New("entropy exhausted") }

func newAuthHasher(t testing.TB, params Argon2Params) *PINHasher {
	t.Helper()
	h, err := NewPINHasher(authPepper, params, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestValidatePIN(t *testing.T) {
	for _, c := range []struct {
		name   string
		pin    string
		length int
		want   Reason // "" when the PIN is fine
	}{
		{"six digits", "482915", 6, ""},
		{"four digits", "4829", 4, ""},
		{"five digits", "48291", 5, ""},
		{"leading zero", "048291", 6, ""},
		{"two pairs, not a pattern", "120856", 6, ""},
		{"short", "48291", 6, ReasonPINFormat},
		{"long", "4829150", 6, ReasonPINFormat},
		{"six when four is configured", "482915", 4, ReasonPINFormat},
		{"empty", "", 6, ReasonPINFormat},
		{"letter", "48291a", 6, ReasonPINFormat},
		{"space", "48 915", 6, ReasonPINFormat},
		{"sign", "+48291", 6, ReasonPINFormat},
		{"full-width digits", "４８２９", 4, ReasonPINFormat},
		{"Arabic-Indic digits", "٤٨٢٩", 4, ReasonPINFormat},
		{"all zeros", "000000", 6, ReasonPINTrivial},
		{"all ones, four", "1111", 4, ReasonPINTrivial},
		{"all nines, five", "99999", 5, ReasonPINTrivial},
		{"ascending", "123456", 6, ReasonPINTrivial},
		{"ascending four", "1234", 4, ReasonPINTrivial},
		{"ascending from zero", "012345", 6, ReasonPINTrivial},
		{"descending", "654321", 6, ReasonPINTrivial},
		{"descending four", "4321", 4, ReasonPINTrivial},
		{"ascending with wrap", "789012", 6, ReasonPINTrivial},
		{"descending with wrap", "210987", 6, ReasonPINTrivial},
		{"even digits", "2468", 4, ReasonPINTrivial},
		{"odd digits down", "97531", 5, ReasonPINTrivial},
		{"pair repeated", "1212", 4, ReasonPINTrivial},
		{"pair repeated, six", "121212", 6, ReasonPINTrivial},
		{"triple repeated", "123123", 6, ReasonPINTrivial},
		{"520 twice", "520520", 6, ReasonPINTrivial},
		{"common: keypad column", "2580", 4, ReasonPINTrivial},
		{"common: pairs", "112233", 6, ReasonPINTrivial},
		{"common: keypad columns", "147258", 6, ReasonPINTrivial},
		{"common: 1314", "1314", 4, ReasonPINTrivial},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ValidatePIN(c.pin, c.length)
			if c.want == "" {
				if err != nil {
					t.Fatalf("ValidatePIN(%q, %d) = %v, want nil", c.pin, c.length, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("ValidatePIN(%q, %d) = %v, want an *Error", c.pin, c.length, err)
			}
			if e.Code != CodeUsage || e.Topic != KwPIN || e.Reason != c.want {
				t.Errorf("ValidatePIN(%q, %d) = %s/%s/%s, want usage/PIN/%s", c.pin, c.length, e.Code, e.Topic, e.Reason, c.want)
			}
			if strings.IndexFunc(e.Message, unicode.IsDigit) >= 0 || strings.Contains(err.Error(), c.pin) && c.pin != "" {
				t.Errorf("message quotes digits: %q", err.Error())
			}
		})
	}
}

func TestValidatePINLengthOutOfRange(t *testing.T) {
	for _, n := range []int{-1, 0, 3, 7} {
		err := ValidatePIN("482915", n)
		if err == nil || ErrorCodeOf(err) != "" {
			t.Errorf("length %d: %v, want a plain (configuration) error", n, err)
		}
	}
}

// How many PINs of each length are refused as trivial: a small part of
// the space (NIST SP 800-63B: refuse the obvious, not a large share).
func TestTrivialPINsAreFew(t *testing.T) {
	for length, most := range map[int]int{4: 250, 5: 250, 6: 1300} {
		n, total := 0, 1
		for range length {
			total *= 10
		}
		for i := range total {
			if trivialPIN(fmt.Sprintf("%0*d", length, i)) {
				n++
			}
		}
		if n > most {
			t.Errorf("%d of %d PINs of %d digits are trivial, want at most %d", n, total, length, most)
		}
		t.Logf("length %d: %d of %d trivial (%.2f%%)", length, n, total, 100*float64(n)/float64(total))
	}
}

// The encoding is argon2id over HMAC-SHA256(pepper, pin), written as a
// PHC string: computed here independently of the hasher.
func TestPINHashConstruction(t *testing.T) {
	h, err := NewPINHasher(authPepper, authParams, authFixedReader{0x5A})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.Hash("482915")
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, authPepper)
	mac.Write([]byte("482915"))
	salt := bytes.Repeat([]byte{0x5A}, 16)
	key := argon2.IDKey(mac.Sum(nil), salt, 1, 64, 1, 32)
	b := base64.RawStdEncoding
	want := "$argon2id$v=19$m=64,t=1,p=1$" + b.EncodeToString(salt) + "$" + b.EncodeToString(key)
	if got.Reveal() != want {
		t.Errorf("Hash = %s, want %s", got.Reveal(), want)
	}
}

func TestPINHashVerify(t *testing.T) {
	h := newAuthHasher(t, authParams)
	stored, err := h.Hash("482915")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(stored.Reveal()) {
		t.Errorf("encoding %s", stored.Reveal())
	}
	again, _ := h.Hash("482915")
	if again == stored {
		t.Error("two hashes of one PIN are equal: the salt is not fresh")
	}

	otherPepper, _ := NewPINHasher(bytes.Repeat([]byte{1}, PepperSize), authParams, rand.Reader)
	stronger := authParams
	stronger.Time = 2
	raised, _ := NewPINHasher(authPepper, stronger, rand.Reader)

	for _, c := range []struct {
		name        string
		h           *PINHasher
		pin         PIN
		ok, rehash  bool
		description string
	}{
		{"right PIN", h, "482915", true, false, ""},
		{"wrong PIN", h, "482916", false, false, ""},
		{"empty PIN", h, "", false, false, ""},
		{"prefix of the PIN", h, "48291", false, false, ""},
		{"another pepper", otherPepper, "482915", false, false, "a stolen database is useless without the pepper"},
		{"raised parameters, right PIN", raised, "482915", true, true, "old hashes verify and ask to be rewritten"},
		{"raised parameters, wrong PIN", raised, "000001", false, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, rehash, err := c.h.Verify(c.pin, stored)
			if err != nil || ok != c.ok || rehash != c.rehash {
				t.Errorf("Verify = %v, %v, %v; want %v, %v, nil %s", ok, rehash, err, c.ok, c.rehash, c.description)
			}
		})
	}
}

// A stored hash the hasher cannot read is an error wrapping ErrPINHash —
// not a wrong PIN — and the error does not quote it.
func TestPINVerifyUnreadable(t *testing.T) {
	h := newAuthHasher(t, authParams)
	good, _ := h.Hash("482915")
	parts := strings.Split(good.Reveal(), "$")
	with := func(i int, s string) PINHash {
		p := append([]string(nil), parts...)
		p[i] = s
		return PINHash(strings.Join(p, "$"))
	}
	for _, c := range []struct {
		name   string
		stored PINHash
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", with(1, "argon2i")},
		{"version 16", with(2, "v=16")},
		{"parameters in another order", with(3, "t=1,m=64,p=1")},
		{"missing parameter", with(3, "m=64,t=1")},
		{"extra parameter", with(3, "m=64,t=1,p=1,k=1")},
		{"non-numeric parameter", with(3, "m=x,t=1,p=1")},
		{"memory too large", with(3, "m=4194304,t=1,p=1")},
		{"memory too small", with(3, "m=4,t=1,p=1")},
		{"zero passes", with(3, "m=64,t=0,p=1")},
		{"too many passes", with(3, "m=64,t=1000,p=1")},
		{"too many lanes", with(3, "m=64,t=1,p=255")},
		{"lanes past uint8", with(3, "m=65536,t=1,p=257")},
		{"salt not base64", with(4, "!!!!!!!!!!")},
		{"salt too short", with(4, "AAAA")},
		{"hash too short", with(5, "AAAA")},
		{"padded base64", with(5, parts[5]+"=")},
		{"extra field", PINHash(good.Reveal() + "$x")},
		{"canary", "$argon2id$v=19$m=64,t=1,p=1$482915$731904"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ok, rehash, err := h.Verify("482915", c.stored)
			if ok || rehash || !errors.Is(err, ErrPINHash) {
				t.Fatalf("Verify = %v, %v, %v; want ErrPINHash", ok, rehash, err)
			}
			if strings.Contains(err.Error(), "482915") || strings.Contains(err.Error(), "731904") ||
				len(parts[5]) > 0 && strings.Contains(err.Error(), parts[5]) {
				t.Errorf("error quotes the hash: %v", err)
			}
		})
	}
}

func TestNewPINHasherRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		pepper []byte
		params Argon2Params
		rand   bool
	}{
		{"short pepper", make([]byte, 31), authParams, true},
		{"hex text of a pepper", make([]byte, 64), authParams, true},
		{"no pepper", nil, authParams, true},
		{"zero parameters", authPepper, Argon2Params{}, true},
		{"short key", authPepper, Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1, KeyLen: 8}, true},
		{"too little memory", authPepper, Argon2Params{Time: 1, MemoryKiB: 8, Threads: 2, KeyLen: 32}, true},
		{"no random source", authPepper, authParams, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r = rand.Reader
			if !c.rand {
				r = nil
			}
			if h, err := NewPINHasher(c.pepper, c.params, r); err == nil {
				t.Errorf("NewPINHasher = %v, want an error", h)
			}
		})
	}
	if _, err := NewPINHasher(authPepper, DefaultArgon2, rand.Reader); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
}

func TestPINHashRandomFailure(t *testing.T) {
	h, err := NewPINHasher(authPepper, authParams, authFailingReader{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.Hash("482915"); err == nil || got != "" {
		t.Errorf("Hash = %q, %v; want the random source's error", got.Reveal(), err)
	}
}

// The hasher keeps its own copy of the pepper.
func TestPINHasherCopiesPepper(t *testing.T) {
	pepper := bytes.Clone(authPepper)
	h, _ := NewPINHasher(pepper, authParams, rand.Reader)
	stored, _ := h.Hash("482915")
	clear(pepper)
	if ok, _, _ := h.Verify("482915", stored); !ok {
		t.Error("clearing the caller's pepper changed the hasher's")
	}
}

// The shipped parameters: one hash and one check, the real cost.
func TestPINDefaultParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at the shipped parameters")
	}
	h := newAuthHasher(t, DefaultArgon2)
	stored, err := h.Hash("482915")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.Reveal(), "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("encoding %s", stored.Reveal())
	}
	if ok, rehash, err := h.Verify("482915", stored); !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
	}
}

func TestDeriveKey(t *testing.T) {
	a, err := DeriveKey(authPepper, "paygate otp v1")
	if err != nil || len(a) != 32 {
		t.Fatalf("DeriveKey = %x, %v", a, err)
	}
	b, _ := DeriveKey(authPepper, "paygate fingerprint v1")
	if bytes.Equal(a, b) || bytes.Equal(a, authPepper) {
		t.Error("keys for two purposes are not independent")
	}
	if again, _ := DeriveKey(authPepper, "paygate otp v1"); !bytes.Equal(a, again) {
		t.Error("DeriveKey is not deterministic")
	}
	if _, err := DeriveKey(authPepper[:16], "x"); err == nil {
		t.Error("a 16-byte master accepted")
	}
}

func TestPINHashPrintsMasked(t *testing.T) {
	stored := PINHash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g")
	want := "$argon2id$v=19$m=19456,t=2,p=1$****"
	for _, got := range []string{fmt.Sprint(stored), fmt.Sprintf("%+v|%#v|%s|%q|%x", stored, stored, stored, stored, stored)} {
		if strings.Contains(got, "c2Fsd") || strings.Contains(got, "aGFza") || !strings.Contains(got, want) {
			t.Errorf("printed %s", got)
		}
	}
	if got := fmt.Sprint(PINHash("garbage$with$dollars")); got != Mask {
		t.Errorf("an unreadable hash prints %q, want %q", got, Mask)
	}
}

func BenchmarkPINHash(b *testing.B) {
	h := newAuthHasher(b, DefaultArgon2)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("482915"); err != nil {
			b.Fatal(err)
		}
	}
	reportArgon2(b)
}

// BenchmarkPINVerify is the cost of one PIN check at the shipped
// parameters, on one core (p=1): ns/op is the PIN screen's hashing
// latency, B/op its memory (MemoryKiB), checks/s one core's throughput.
func BenchmarkPINVerify(b *testing.B) {
	h := newAuthHasher(b, DefaultArgon2)
	stored, err := h.Hash("482915")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _, err := h.Verify("482916", stored); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
	reportArgon2(b)
}

// BenchmarkPINVerifyParallel is the machine's throughput when every core
// checks PINs (GOMAXPROCS goroutines): checks/s for the whole box.
func BenchmarkPINVerifyParallel(b *testing.B) {
	h := newAuthHasher(b, DefaultArgon2)
	stored, err := h.Hash("482915")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Verify("482916", stored)
		}
	})
	reportArgon2(b)
}

func reportArgon2(b *testing.B) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "checks/s")
	}
	b.ReportMetric(float64(DefaultArgon2.MemoryKiB)/1024, "MiB/check")
}
