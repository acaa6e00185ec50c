package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fuzz targets run on their seeds with every `go test`; to fuzz one
// (RELIABILITY.md R10):
//
//	go test ./envelope -run='^$' -fuzz='^FuzzOpen$' -fuzztime=60s
//
// Named seeds in testdata/fuzz/<target>/ come from fuzzSeeds; rewrite
// them after changing it with
//
//	PAYGATE_WRITE_FUZZ_SEEDS=1 go test ./envelope -run '^TestFuzzSeedCorpus$'
//
// Files with hash names there are inputs the fuzzer found; keep them.

// FuzzParse: any input parses or fails with ErrMalformed or ErrVersion,
// never panics; a header that parses is exactly the input's first 18
// octets, within the length limits.
func FuzzParse(f *testing.F) {
	for _, s := range seedEnvelopes(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error %v", err)
			}
			if h != (Header{}) {
				t.Fatalf("header %+v with error %v", h, err)
			}
			return
		}
		if len(b) < MinSize || len(b) > MaxSize || h.Version != FormatVersion || h.KeyVersion == 0 || h.Counter == 0 {
			t.Fatalf("accepted %+v from %d octets", h, len(b))
		}
		if enc := h.append(nil); !bytes.Equal(enc, b[:HeaderSize]) {
			t.Fatalf("header %x re-encodes to %x", b[:HeaderSize], enc)
		}
	})
}

// FuzzOpen: Open and Receive never panic, whatever the input, in both
// directions, as received and with the header pointed at the test key (so
// the AEAD itself is reached); an envelope that opens re-seals to the
// same bytes with the same key, direction and counter, its message
// re-seals likewise, and with any one bit flipped it no longer opens.
func FuzzOpen(f *testing.F) {
	for _, s := range seedEnvelopes(f) {
		f.Add(s, uint16(0))
		f.Add(s, uint16(8*len(s)-1))
	}
	k := testKey(f)
	f.Fuzz(func(t *testing.T, b []byte, at uint16) {
		inputs := [][]byte{b}
		if len(b) >= HeaderSize {
			p := bytes.Clone(b)
			p[0], p[1] = FormatVersion, k.version
			copy(p[2:10], k.id[:])
			inputs = append(inputs, p)
		}
		for _, in := range inputs {
			for _, d := range []Direction{Uplink, Downlink} {
				pt, err := Open(k, d, in)
				h, m, rerr := Receive(k, d, 0, in)
				if err != nil {
					if pt != nil {
						t.Fatalf("plaintext %x with error %v", pt, err)
					}
					if rerr == nil || h != (Header{}) {
						t.Fatalf("Open failed (%v) but Receive gave %+v, %v", err, h, rerr)
					}
					continue
				}
				again, err := Seal(k, d, h.Counter, pt)
				if err != nil || !bytes.Equal(again, in) {
					t.Fatalf("opened envelope re-seals to %x, %v; was %x", again, err, in)
				}
				if rerr == nil {
					if again, err := SealMessage(k, d, h.Counter, m); err != nil || !bytes.Equal(again, in) {
						t.Fatalf("received message re-seals to %x, %v; was %x", again, err, in)
					}
				} else if !errors.Is(rerr, ErrMessage) || h.Counter == 0 {
					t.Fatalf("opened but Receive: %+v %v", h, rerr)
				}
				if _, err := Open(k, d, flip(in, int(at)%(8*len(in)))); err == nil {
					t.Fatalf("bit %d flipped still opens", int(at)%(8*len(in)))
				}
			}
		}
	})
}

// FuzzSeal: any plaintext, counter and direction seal to an envelope that
// opens to the same plaintext only in that direction, and that no longer
// opens with any one bit flipped or its last octet cut.
func FuzzSeal(f *testing.F) {
	f.Add([]byte("\x01BAL"), uint64(1), true, uint16(0))
	f.Add([]byte("\x01SEND 13800138000 500"), uint64(1<<40), false, uint16(999))
	k := testKey(f)
	f.Fuzz(func(t *testing.T, pt []byte, counter uint64, up bool, at uint16) {
		d, other := Uplink, Downlink
		if !up {
			d, other = other, d
		}
		env, err := Seal(k, d, counter, pt)
		if counter == 0 || len(pt) == 0 || len(pt) > MaxPlaintext {
			if err == nil {
				t.Fatalf("sealed counter %d, %d octets", counter, len(pt))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, err := Open(k, d, env); err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("opened to %x, %v", got, err)
		}
		if _, err := Open(k, other, env); !errors.Is(err, ErrAuth) {
			t.Fatalf("opened in the other direction: %v", err)
		}
		if _, err := Open(k, d, flip(env, int(at)%(8*len(env)))); err == nil {
			t.Fatal("a flipped bit went unnoticed")
		}
		if _, err := Open(k, d, env[:len(env)-1]); err == nil {
			t.Fatal("a truncated envelope opened")
		}
	})
}

// FuzzTextCarriage: DecodeText(EncodeText(x)) == x; DecodeText of any
// text never panics, and text that decodes is the canonical encoding of
// what it decodes to (give or take the whitespace trimmed at the ends).
func FuzzTextCarriage(f *testing.F) {
	for _, s := range seedEnvelopes(f) {
		f.Add(s, EncodeText(s))
	}
	f.Add([]byte{0}, "#A")
	f.Add([]byte{0xff}, "#/w")
	f.Add([]byte("x"), " #eA\r\n")
	f.Add([]byte(nil), "#AAAA=")
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		if len(b) > 0 {
			enc := EncodeText(b)
			got, err := DecodeText(enc)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("%x → %q → %x, %v", b, enc, got, err)
			}
		}
		got, err := DecodeText(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || got != nil {
				t.Fatalf("%q: %x, %v", s, got, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("%q decoded to nothing", s)
		}
		if enc := EncodeText(got); enc != strings.Trim(s, textSpace) {
			t.Fatalf("%q decodes to %x, which encodes as %q", s, got, enc)
		}
	})
}

// FuzzMessage: ParseMessage never panics, and a message that parses
// marshals back to exactly its input.
func FuzzMessage(f *testing.F) {
	for _, s := range seedMessages() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		m, err := ParseMessage(p)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || m.Kind != 0 {
				t.Fatalf("%+v, %v", m, err)
			}
			return
		}
		if again, err := m.Marshal(); err != nil || !bytes.Equal(again, p) {
			t.Fatalf("%x parses to %+v, which marshals to %x, %v", p, m, again, err)
		}
	})
}

// seedEnvelopes are the vectors' envelopes and a few near misses.
func seedEnvelopes(tb testing.TB) [][]byte {
	v := vectors(tb)
	var out [][]byte
	for _, name := range []string{"env_up1", "env_down1", "env_hello", "env_proof", "env_report"} {
		out = append(out, v[name])
	}
	up1 := v["env_up1"]
	out = append(out,
		nil,
		[]byte{1},
		[]byte{2},
		up1[:HeaderSize],
		up1[:MinSize],
		append(bytes.Clone(up1), 0),
	)
	return out
}

func seedMessages() [][]byte {
	return [][]byte{
		[]byte("\x01BAL"),
		[]byte("\x01转账 13800138000 500"),
		append([]byte{2}, seq(0xc0, 16)...),
		append(append([]byte{3}, seq(0, 64)...), seq(0xd0, 16)...),
		append([]byte{3}, seq(0, 64)...),
		append([]byte{4}, seq(0xd0, 32)...),
		append([]byte{5}, seq(1, ReportSize)...),
		{0},
		{6, 1},
	}
}

// fuzzSeeds is every named seed file: target/name → content.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	file := func(args ...any) []byte {
		var sb strings.Builder
		sb.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch a := a.(type) {
			case []byte:
				fmt.Fprintf(&sb, "[]byte(%q)\n", a)
			case string:
				fmt.Fprintf(&sb, "string(%q)\n", a)
			case uint16:
				fmt.Fprintf(&sb, "uint16(%d)\n", a)
			}
		}
		return []byte(sb.String())
	}
	out := map[string][]byte{}
	for i, s := range seedEnvelopes(tb) {
		out[fmt.Sprintf("FuzzParse/seed%02d", i)] = file(s)
		out[fmt.Sprintf("FuzzOpen/seed%02d", i)] = file(s, uint16(3*i))
		out[fmt.Sprintf("FuzzTextCarriage/seed%02d", i)] = file(s, EncodeText(s))
	}
	for i, s := range seedMessages() {
		out[fmt.Sprintf("FuzzMessage/seed%02d", i)] = file(s)
	}
	return out
}

// TestFuzzSeedCorpus keeps the named seed files in step with fuzzSeeds.
func TestFuzzSeedCorpus(t *testing.T) {
	write := os.Getenv("PAYGATE_WRITE_FUZZ_SEEDS") == "1"
	for name, want := range fuzzSeeds(t) {
		path := filepath.Join("testdata", "fuzz", filepath.FromSlash(name))
		if write {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("seed %s is missing or stale (%v); rewrite with PAYGATE_WRITE_FUZZ_SEEDS=1", path, err)
		}
	}
}
