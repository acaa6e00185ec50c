package smpp

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gosmpp "github.com/fiorix/go-smpp/smpp"
	"github.com/fiorix/go-smpp/smpp/pdu"
	"github.com/fiorix/go-smpp/smpp/pdu/pdufield"
	"github.com/fiorix/go-smpp/smpp/pdu/pdutext"
	"github.com/fiorix/go-smpp/smpp/smpptest"
)

// goSMPPLongParts sends text through go-smpp's Transmitter.SubmitLongMsg to
// its in-process test SMSC on the loopback interface and returns the
// short_message of every submit_sm it produced.
func goSMPPLongParts(t *testing.T, text pdutext.Codec) [][]byte {
	t.Helper()
	var mu sync.Mutex
	var got [][]byte
	srv := smpptest.NewUnstartedServer()
	srv.Handler = func(c smpptest.Conn, p pdu.Body) {
		if p.Header().ID != pdu.SubmitSMID {
			smpptest.EchoHandler(c, p)
			return
		}
		sm := p.Fields()[pdufield.ShortMessage].Bytes()
		mu.Lock()
		got = append(got, append([]byte(nil), sm...))
		mu.Unlock()
		r := pdu.NewSubmitSMResp()
		r.Header().Seq = p.Header().Seq
		_ = r.Fields().Set(pdufield.MessageID, "1")
		_ = c.Write(r)
	}
	srv.Start()
	defer srv.Close()
	tx := &gosmpp.Transmitter{
		Addr:        srv.Addr(),
		User:        smpptest.DefaultUser,
		Passwd:      smpptest.DefaultPasswd,
		RespTimeout: 5 * time.Second,
	}
	defer tx.Close()
	select {
	case st := <-tx.Bind():
		if st.Status() != gosmpp.Connected {
			t.Fatalf("bind: %v", st.Error())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("bind timed out")
	}
	if _, err := tx.SubmitLongMsg(&gosmpp.ShortMessage{Src: "PAYGATE", Dst: "254700000000", Text: text}); err != nil {
		t.Fatalf("SubmitLongMsg: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

// TestGoSMPPSplitsInsideCharacters confirms that go-smpp's SubmitLongMsg
// cuts the encoded text at a fixed octet count (132 for UCS-2, 152 for
// unpacked GSM 7-bit) and so splits a surrogate pair or an escape pair
// across parts, leaving each part undecodable on its own, while SplitAs
// never does.
func TestGoSMPPSplitsInsideCharacters(t *testing.T) {
	if testing.Short() {
		t.Skip("uses a loopback SMPP server")
	}
	tests := []struct {
		name string
		c    Coding
		s    string
		// cut is what go-smpp leaves at the end of part 1 and the start
		// of part 2.
		end, start []byte
	}{
		// 65 BMP characters take 130 octets; the emoji's high surrogate
		// fills octets 131–132 and its low surrogate starts part 2.
		{"ucs2 surrogate", CodingUCS2, strings.Repeat("x", 65) + "😀" + strings.Repeat("y", 10), []byte{0xD8, 0x3D}, []byte{0xDE, 0x00}},
		// 151 septets, then € as 1B 65: the escape is octet 152.
		{"gsm7 escape", CodingDefault, strings.Repeat("a", 151) + "€" + strings.Repeat("b", 20), []byte{0x1B}, []byte{0x65}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var text pdutext.Codec = pdutext.UCS2(tt.s)
			if tt.c == CodingDefault {
				text = pdutext.GSM7(tt.s)
			}
			theirs := goSMPPLongParts(t, text)
			if len(theirs) != 2 {
				t.Fatalf("go-smpp sent %d parts", len(theirs))
			}
			var joined []byte
			var payloads [][]byte
			for i, p := range theirs {
				_, payload, err := ParseUDH(p)
				if err != nil {
					t.Fatalf("go-smpp part %d: %v", i+1, err)
				}
				payloads = append(payloads, payload)
				joined = append(joined, payload...)
			}
			if !bytes.HasSuffix(payloads[0], tt.end) || !bytes.HasPrefix(payloads[1], tt.start) {
				t.Errorf("go-smpp no longer splits inside a character; parts % x", theirs)
			}
			// Decoded part by part, as some handsets do, the text is wrong:
			// U+FFFD for a cut surrogate pair, a space and a plain "e"
			// instead of "€" for a cut escape.
			if got := DecodeText(tt.c, payloads[0]) + DecodeText(tt.c, payloads[1]); got == tt.s {
				t.Errorf("go-smpp parts decode correctly one by one")
			}
			// Joined before decoding, the text survives: Reassembler relies
			// on this to cope with such senders.
			if got := DecodeText(tt.c, joined); got != tt.s {
				t.Errorf("joined go-smpp parts decode to %q", got)
			}
			ours, err := SplitAs(tt.c, tt.s, 1, true)
			if err != nil {
				t.Fatal(err)
			}
			checkParts(t, tt.c, tt.s, 1, true, ours)
		})
	}
}

// TestGoSMPPTooManyParts confirms that go-smpp's SubmitLongMsg does not
// bound the part count: at 256 parts the one-octet total wraps to 0, which
// TS 23.040 §9.2.3.24.1 forbids and ParseUDH rejects, while SplitAs
// returns ErrTooManyParts before building anything.
func TestGoSMPPTooManyParts(t *testing.T) {
	if testing.Short() {
		t.Skip("uses a loopback SMPP server")
	}
	s := strings.Repeat("x", 66*255+1) // 256 parts of 132 octets for go-smpp.
	theirs := goSMPPLongParts(t, pdutext.UCS2(s))
	if len(theirs) != 256 {
		t.Fatalf("go-smpp sent %d parts", len(theirs))
	}
	if theirs[0][5] != 0 || theirs[255][6] != 0 {
		t.Errorf("go-smpp total/seq octets % x / % x; no longer wraps?", theirs[0][:7], theirs[255][:7])
	}
	if _, _, err := ParseUDH(theirs[0]); err == nil {
		t.Errorf("ParseUDH accepted total 0")
	}
	if _, err := SplitAs(CodingUCS2, strings.Repeat("x", 66*255+1), 1, true); !errors.Is(err, ErrTooManyParts) {
		t.Errorf("SplitAs: %v, want ErrTooManyParts", err)
	}
}
