package smpp

import (
	"encoding/binary"
	"fmt"
	"io"
)

// DefaultMaxPDU is the default cap on command_length. SMPP 3.4 sets none;
// a submit_sm with a full message_payload is well under it.
const DefaultMaxPDU = 64 * 1024

// FrameLengthError is a command_length outside [HeaderLen, max]: the
// stream cannot be resynchronised and the connection must close.
type FrameLengthError struct {
	Length, Max uint32
}

func (e *FrameLengthError) Error() string {
	return fmt.Sprintf("smpp: command_length %d outside [%d, %d]", e.Length, HeaderLen, e.Max)
}

// ReadFrame reads one PDU frame from r. The length is checked against
// [HeaderLen, max] before anything is allocated for the body; buf is
// reused when it is large enough. It returns the frame, which aliases
// buf's storage when it fit.
func ReadFrame(r io.Reader, buf []byte, max uint32) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < HeaderLen || n > max {
		return nil, &FrameLengthError{Length: n, Max: max}
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	copy(buf, hdr[:])
	if _, err := io.ReadFull(r, buf[4:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}
