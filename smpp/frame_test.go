package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

func TestFrameReadsConsecutiveFrames(t *testing.T) {
	var stream []byte
	var want [][]byte
	for _, v := range codecVectors {
		stream = append(stream, v.frame()...)
		want = append(want, v.frame())
	}
	for name, r := range map[string]func() io.Reader{
		"whole":    func() io.Reader { return bytes.NewReader(stream) },
		"one_byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
	} {
		t.Run(name, func(t *testing.T) {
			r := r()
			var buf []byte
			for i, w := range want {
				f, err := ReadFrame(r, buf, DefaultMaxPDU)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if !bytes.Equal(f, w) {
					t.Fatalf("frame %d = % x, want % x", i, f, w)
				}
				buf = f[:0]
			}
			if f, err := ReadFrame(r, buf, DefaultMaxPDU); err != io.EOF || f != nil {
				t.Fatalf("after the last frame: % x, %v; want io.EOF", f, err)
			}
		})
	}
}

func TestFrameLengthOutOfRange(t *testing.T) {
	const max = 1024
	for _, n := range []uint32{0, 1, 4, HeaderLen - 1, max + 1, DefaultMaxPDU, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF} {
		var hdr [HeaderLen]byte
		binary.BigEndian.PutUint32(hdr[:], n)
		r := bytes.NewReader(hdr[:])
		f, err := ReadFrame(r, nil, max)
		var fl *FrameLengthError
		if !errors.As(err, &fl) {
			t.Fatalf("length %d: % x, %v; want *FrameLengthError", n, f, err)
		}
		if fl.Length != n || fl.Max != max || f != nil {
			t.Fatalf("length %d: %+v, frame % x", n, fl, f)
		}
		if r.Len() != HeaderLen-4 {
			t.Fatalf("length %d: read %d octets past command_length", n, HeaderLen-4-r.Len())
		}
		if fl.Error() == "" {
			t.Fatal("empty error text")
		}
	}
}

func TestFrameLengthAtBounds(t *testing.T) {
	for _, n := range []uint32{HeaderLen, 100} {
		f := make([]byte, n)
		binary.BigEndian.PutUint32(f, n)
		f[n-1] = 0xAB
		got, err := ReadFrame(bytes.NewReader(f), nil, 100)
		if err != nil || !bytes.Equal(got, f) {
			t.Fatalf("length %d with max 100: % x, %v", n, got, err)
		}
	}
}

// A huge declared length is refused before anything is allocated for it:
// the allocations of a refusal are few and the same whatever the length.
func TestFrameHugeLengthDoesNotAllocate(t *testing.T) {
	header := func(n uint32) []byte {
		hdr := make([]byte, HeaderLen)
		binary.BigEndian.PutUint32(hdr, n)
		return hdr
	}
	bytesPerCall := func(n uint32, calls int) uint64 {
		hdr := header(n)
		r := bytes.NewReader(hdr)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range calls {
			r.Reset(hdr)
			ReadFrame(r, nil, DefaultMaxPDU)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / uint64(calls)
	}
	// One call first, so that a regression fails fast rather than
	// allocating 4 GiB a hundred times over.
	if b := bytesPerCall(0xFFFFFFFF, 1); b > 1<<20 {
		t.Fatalf("refusing command_length 0xFFFFFFFF allocated %d bytes", b)
	}
	allocs := func(n uint32) float64 {
		hdr := header(n)
		r := bytes.NewReader(hdr)
		return testing.AllocsPerRun(100, func() {
			r.Reset(hdr)
			if _, err := ReadFrame(r, nil, DefaultMaxPDU); err == nil {
				panic("accepted")
			}
		})
	}
	huge := allocs(0xFFFFFFFF)
	if huge > 2 {
		t.Errorf("refusing command_length 0xFFFFFFFF made %v allocations, want at most 2", huge)
	}
	for _, n := range []uint32{0, HeaderLen - 1, DefaultMaxPDU + 1, 0x7FFFFFFF} {
		if a := allocs(n); a != huge {
			t.Errorf("refusing command_length %d made %v allocations, 0xFFFFFFFF made %v", n, a, huge)
		}
	}
	if b := bytesPerCall(0xFFFFFFFF, 1000); b > 256 {
		t.Errorf("refusing command_length 0xFFFFFFFF allocated %d bytes per call", b)
	} else {
		t.Logf("refusal: %v allocations, %d bytes per call", huge, b)
	}
}

func TestFrameShortRead(t *testing.T) {
	whole := codecVectors[0].frame()
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"two_octets_of_length", whole[:2], io.ErrUnexpectedEOF},
		{"length_only", whole[:4], io.ErrUnexpectedEOF},
		{"header_only", whole[:HeaderLen], io.ErrUnexpectedEOF},
		{"one_octet_short", whole[:len(whole)-1], io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.Reader{bytes.NewReader(c.in), iotest.OneByteReader(bytes.NewReader(c.in))} {
				f, err := ReadFrame(r, make([]byte, 0, 256), DefaultMaxPDU)
				if err != c.want || f != nil {
					t.Fatalf("ReadFrame = % x, %v; want %v", f, err, c.want)
				}
			}
		})
	}
}

func TestFrameReaderErrorPassedOn(t *testing.T) {
	boom := errors.New("boom")
	whole := codecVectors[0].frame()
	for _, n := range []int{0, 2, 4, 10, len(whole) - 1} {
		r := io.MultiReader(bytes.NewReader(whole[:n]), iotest.ErrReader(boom))
		if f, err := ReadFrame(r, nil, DefaultMaxPDU); !errors.Is(err, boom) || f != nil {
			t.Fatalf("after %d octets: % x, %v; want boom", n, f, err)
		}
	}
	// An error delivered with the last octets is not one.
	r := iotest.DataErrReader(bytes.NewReader(whole))
	if f, err := ReadFrame(r, nil, DefaultMaxPDU); err != nil || !bytes.Equal(f, whole) {
		t.Fatalf("DataErrReader: % x, %v", f, err)
	}
}

func TestFrameBufferReuse(t *testing.T) {
	whole := codecVectors[0].frame() // 39 octets
	t.Run("large_enough", func(t *testing.T) {
		buf := make([]byte, 3, 64)
		f, err := ReadFrame(bytes.NewReader(whole), buf, DefaultMaxPDU)
		if err != nil || !bytes.Equal(f, whole) {
			t.Fatalf("% x, %v", f, err)
		}
		if &f[0] != &buf[:1][0] {
			t.Fatal("frame does not reuse buf's storage")
		}
	})
	t.Run("exact_capacity", func(t *testing.T) {
		buf := make([]byte, 0, len(whole))
		f, err := ReadFrame(bytes.NewReader(whole), buf, DefaultMaxPDU)
		if err != nil || &f[0] != &buf[:1][0] || len(f) != len(whole) {
			t.Fatalf("frame not read into buf: %v", err)
		}
	})
	t.Run("too_small", func(t *testing.T) {
		buf := make([]byte, 0, len(whole)-1)
		f, err := ReadFrame(bytes.NewReader(whole), buf, DefaultMaxPDU)
		if err != nil || !bytes.Equal(f, whole) {
			t.Fatalf("% x, %v", f, err)
		}
		if &f[0] == &buf[:1][0] {
			t.Fatal("frame overran buf's capacity")
		}
		if cap(f) != len(whole) {
			t.Fatalf("allocated %d octets for a frame of %d", cap(f), len(whole))
		}
	})
	t.Run("steady_state_no_body_allocations", func(t *testing.T) {
		var stream []byte
		for range 10 {
			stream = append(stream, whole...)
		}
		r := bytes.NewReader(stream)
		buf := make([]byte, 0, 1024)
		a := testing.AllocsPerRun(100, func() {
			r.Reset(stream)
			for range 10 {
				f, err := ReadFrame(r, buf, DefaultMaxPDU)
				if err != nil {
					panic(err)
				}
				buf = f[:0]
			}
		})
		// At most the 4-octet length word per frame escapes; the body
		// never is allocated while buf is large enough.
		if a > 10 {
			t.Fatalf("%v allocations for 10 frames into a reused buffer", a)
		}
	})
}
