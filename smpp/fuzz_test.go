package smpp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/fiorix/go-smpp/smpp/pdu"
)

// The fuzz targets run on their seeds with every `go test`; to fuzz one:
//
//	go test ./smpp -run='^$' -fuzz='^FuzzDecode$' -fuzztime=60s
//
// Named seeds in testdata/fuzz/<target>/ are the codec vectors; rewrite
// them after changing codecVectors with
//
//	PAYGATE_WRITE_FUZZ_SEEDS=1 go test ./smpp -run '^TestFuzzSeedCorpus$'
//
// Files with hash names there are inputs the fuzzer found; keep them.

// FuzzDecode: arbitrary frames (command_length patched to fit) never
// panic; a frame that decodes re-encodes to one that decodes to the same
// PDU; a frame that does not decode still yields its header.
func FuzzDecode(f *testing.F) {
	for _, v := range codecVectors {
		f.Add(v.frame())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		frame := withLength(in)
		p, err := Decode(frame)
		if len(frame) < HeaderLen {
			if err == nil || p != nil {
				t.Fatalf("frame of %d octets: %+v, %v", len(frame), p, err)
			}
			return
		}
		if p == nil {
			t.Fatalf("no header returned: %v", err)
		}
		cmd := CommandID(binary.BigEndian.Uint32(frame[4:]))
		if p.Command != cmd || p.Status != Status(binary.BigEndian.Uint32(frame[8:])) || p.Seq != binary.BigEndian.Uint32(frame[12:]) {
			t.Fatalf("header %+v does not match % x", p, frame[:HeaderLen])
		}
		if err != nil {
			if errors.Is(err, ErrUnknownCommand) {
				return
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v, want *DecodeError", err, err)
			}
			if de.Command != cmd {
				t.Fatalf("DecodeError.Command %s, frame %s", de.Command, cmd)
			}
			switch de.Status {
			case StatusInvCmdLen, StatusInvMsgLen, StatusInvOptParStrem:
			default:
				t.Fatalf("DecodeError.Status %s", de.Status)
			}
			return
		}
		if cmd == AlertNotification {
			return // decoded for its header only; Encode does not write it
		}
		if cmd == SubmitSM || cmd == DeliverSM {
			// Decode takes addresses up to 64 octets everywhere; Encode
			// holds submit_sm and deliver_sm to SMPP 3.4's 20. Check that
			// a long one is refused, then go on with it cut to 20.
			short := *p
			short.Source.Addr = short.Source.Addr[:min(len(short.Source.Addr), maxAddrShort-1)]
			short.Dest.Addr = short.Dest.Addr[:min(len(short.Dest.Addr), maxAddrShort-1)]
			if short.Source != p.Source || short.Dest != p.Dest {
				var ee *EncodeError
				if _, err := Encode(nil, p); !errors.As(err, &ee) {
					t.Fatalf("Encode took an address over 20 octets: %v", err)
				}
				p = &short
			}
		}
		if (cmd == SubmitSMResp || cmd == DataSMResp) && p.Status != StatusOK && (p.MessageID != "" || p.TLVs != nil) {
			// Decode takes the body some SMSCs send with an error
			// response; Encode leaves it out (SMPP 3.4 §4.4.2).
			bodyless := *p
			bodyless.MessageID, bodyless.TLVs = "", nil
			p = &bodyless
		}
		b, err := Encode(nil, p)
		if err != nil {
			t.Fatalf("Encode(Decode(% x)) = %v", frame, err)
		}
		q, err := Decode(b)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(% x))) = %v (re-encoded % x)", frame, err, b)
		}
		if !pduEqual(p, q) {
			t.Fatalf("round trip changed the PDU:\n got %+v\nwant %+v", q, p)
		}
		// Encoding is canonical: the re-encoded frame encodes to itself.
		if b2, err := Encode(nil, q); err != nil || !bytes.Equal(b, b2) {
			t.Fatalf("second encoding % x, %v; first % x", b2, err, b)
		}
	})
}

// FuzzReadFrame: an arbitrary stream with a small max never panics and
// never yields a frame outside [HeaderLen, max]; every frame is the next
// command_length octets of the stream; the error at the end says why.
func FuzzReadFrame(f *testing.F) {
	var stream []byte
	for _, v := range codecVectors {
		stream = append(stream, v.frame()...)
		f.Add(v.frame(), uint16(len(v.frame())))
	}
	f.Add(stream, uint16(64))
	f.Add(stream, uint16(DefaultMaxPDU-1))
	f.Add(append(bytes.Clone(stream[:39]), 0xFF, 0xFF, 0xFF, 0xFF), uint16(100))
	f.Add(stream[:50], uint16(HeaderLen))
	f.Add([]byte{0, 0, 0, 15}, uint16(0))
	f.Fuzz(func(t *testing.T, stream []byte, max16 uint16) {
		max := uint32(max16)
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(stream)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			var buf []byte
			off := 0
			for {
				frame, err := ReadFrame(r, buf, max)
				rest := stream[off:]
				if err != nil {
					if frame != nil {
						t.Fatalf("frame % x returned with %v", frame, err)
					}
					var fl *FrameLengthError
					switch {
					case err == io.EOF:
						if len(rest) != 0 {
							t.Fatalf("io.EOF with %d octets left", len(rest))
						}
					case err == io.ErrUnexpectedEOF:
						if len(rest) == 0 {
							t.Fatal("io.ErrUnexpectedEOF at the end of the stream")
						}
						if len(rest) >= 4 {
							n := binary.BigEndian.Uint32(rest)
							if n < HeaderLen || n > max || uint32(len(rest)) >= n {
								t.Fatalf("io.ErrUnexpectedEOF for length %d with %d octets left", n, len(rest))
							}
						}
					case errors.As(err, &fl):
						if len(rest) < 4 {
							t.Fatalf("%v with %d octets left", err, len(rest))
						}
						n := binary.BigEndian.Uint32(rest)
						if fl.Length != n || fl.Max != max || (n >= HeaderLen && n <= max) {
							t.Fatalf("%+v for length %d, max %d", fl, n, max)
						}
					default:
						t.Fatalf("unexpected error %T %v", err, err)
					}
					break
				}
				if len(frame) < HeaderLen || uint32(len(frame)) > max {
					t.Fatalf("frame of %d octets with max %d", len(frame), max)
				}
				if binary.BigEndian.Uint32(frame) != uint32(len(frame)) || !bytes.HasPrefix(rest, frame) {
					t.Fatalf("frame % x is not the next one in the stream", frame)
				}
				off += len(frame)
				buf = frame[:0]
			}
		}
	})
}

// FuzzOracle: submit_sm, deliver_sm, bind and their responses' bodies
// decoded by ours and by go-smpp. Where both decode, every mandatory field
// agrees. Where ours refuses (a truncated or overlong field, trailing
// octets), go-smpp may accept: that is its defect (a), not a failure.
// Where ours decodes, go-smpp must too (up to its 4096-octet cap).
func FuzzOracle(f *testing.F) {
	for _, v := range codecVectors {
		for i, c := range oracleCommands {
			if c == v.pdu.Command {
				fr := v.frame()
				f.Add(byte(i), uint32(v.pdu.Status), fr[HeaderLen:])
			}
		}
	}
	f.Fuzz(func(t *testing.T, sel byte, status uint32, body []byte) {
		cmd := oracleCommands[int(sel)%len(oracleCommands)]
		frame := frameOf(cmd, Status(status), 0x01020304, body)
		ours, err := Decode(frame)
		if err != nil {
			return
		}
		if len(frame) > pdu.MaxSize {
			return
		}
		theirs, terr := oracleDecode(frame)
		if terr != nil {
			t.Fatalf("ours decoded %+v, go-smpp refused: %v", ours, terr)
		}
		if d := oracleDiff(ours, theirs); len(d) > 0 {
			t.Fatalf("% x\nours: %+v\ndifferences: %v", frame, ours, d)
		}
	})
}

// marshalSeed writes a corpus file in the format `go test -fuzz` reads.
func marshalSeed(vals ...any) []byte {
	b := []byte("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			b = fmt.Appendf(b, "[]byte(%q)\n", v)
		case byte:
			b = fmt.Appendf(b, "byte(%q)\n", v)
		case uint16, uint32:
			b = fmt.Appendf(b, "%T(%v)\n", v, v)
		default:
			panic(fmt.Sprintf("seed type %T", v))
		}
	}
	return b
}

// fuzzSeeds are the named seed files of each target: every codec vector.
func fuzzSeeds() map[string][]byte {
	seeds := map[string][]byte{}
	for _, v := range codecVectors {
		fr := v.frame()
		seeds[filepath.Join("FuzzDecode", v.name)] = marshalSeed(fr)
		seeds[filepath.Join("FuzzReadFrame", v.name)] = marshalSeed(fr, uint16(len(fr)))
		for i, c := range oracleCommands {
			if c == v.pdu.Command {
				seeds[filepath.Join("FuzzOracle", v.name)] = marshalSeed(byte(i), uint32(v.pdu.Status), fr[HeaderLen:])
			}
		}
	}
	var stream []byte
	for _, v := range codecVectors {
		stream = append(stream, v.frame()...)
	}
	// Regression: sm_length 255 with 255 octets present decoded, but the
	// PDU could not be encoded again (SMPP 3.4 allows 0 to 254).
	sm255 := frameOf(DeliverSM, 0, 1, cstrOf(""), []byte{1, 1}, cstrOf("1"), []byte{1, 1}, cstrOf("2"), smAfterDst,
		[]byte{255}, bytes.Repeat([]byte{'x'}, 255))
	seeds[filepath.Join("FuzzDecode", "deliver_sm_sm_length_255")] = marshalSeed(sm255)
	seeds[filepath.Join("FuzzOracle", "deliver_sm_sm_length_255")] = marshalSeed(byte(1), uint32(0), sm255[HeaderLen:])
	// Addresses Decode takes but Encode refuses in submit_sm / deliver_sm.
	long := cstrOf("254700000001254700000001254700")
	seeds[filepath.Join("FuzzDecode", "submit_sm_30_octet_source")] = marshalSeed(frameOf(SubmitSM, 0, 1,
		cstrOf(""), []byte{1, 1}, long, []byte{1, 1}, cstrOf("2"), smAfterDst, []byte{2}, []byte("hi")))
	seeds[filepath.Join("FuzzDecode", "data_sm_64_octet_addresses")] = marshalSeed(frameOf(DataSM, 0, 1,
		cstrOf(""), []byte{1, 1}, cstrOf(strings.Repeat("1", 64)), []byte{1, 1}, cstrOf(strings.Repeat("2", 64)),
		[]byte{0, 0, 0}, vecHex("0424 0002 6869")))
	seeds[filepath.Join("FuzzReadFrame", "all_vectors_max_64")] = marshalSeed(stream, uint16(64))
	seeds[filepath.Join("FuzzReadFrame", "all_vectors_default_max")] = marshalSeed(stream, uint16(DefaultMaxPDU-1))
	return seeds
}

// TestFuzzSeedCorpus keeps the named seed files in step with the vectors.
func TestFuzzSeedCorpus(t *testing.T) {
	write := os.Getenv("PAYGATE_WRITE_FUZZ_SEEDS") == "1"
	for name, want := range fuzzSeeds() {
		path := filepath.Join("testdata", "fuzz", name)
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
