package smpp

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// MessageState is the state of a submitted message (SMPP 3.4 §5.2.28), as
// carried by the message_state TLV, query_sm_resp, and the stat field of a
// delivery receipt (SMPP 3.4 Appendix B). The zero value means the state
// was not given or not recognised.
type MessageState uint8

// Message states of SMPP 3.4 §5.2.28.
const (
	StateEnroute       MessageState = 1
	StateDelivered     MessageState = 2
	StateExpired       MessageState = 3
	StateDeleted       MessageState = 4
	StateUndeliverable MessageState = 5
	StateAccepted      MessageState = 6
	StateUnknown       MessageState = 7
	StateRejected      MessageState = 8
)

var stateNames = [...]string{
	StateEnroute:       "ENROUTE",
	StateDelivered:     "DELIVERED",
	StateExpired:       "EXPIRED",
	StateDeleted:       "DELETED",
	StateUndeliverable: "UNDELIVERABLE",
	StateAccepted:      "ACCEPTED",
	StateUnknown:       "UNKNOWN",
	StateRejected:      "REJECTED",
}

// String returns the SMPP 3.4 §5.2.28 name of s.
func (s MessageState) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return "MessageState(" + strconv.Itoa(int(s)) + ")"
}

// Final reports whether s is a final state, after which the SMSC makes no
// further delivery attempt: DELIVERED, EXPIRED, DELETED, UNDELIVERABLE,
// ACCEPTED or REJECTED. ENROUTE is intermediate. UNKNOWN ("message is in
// invalid state") is treated as not final, because SMSCs use it both for
// transient and permanent trouble; a caller that gets no later receipt
// should resolve it by query_sm or by its own timeout.
func (s MessageState) Final() bool {
	switch s {
	case StateDelivered, StateExpired, StateDeleted, StateUndeliverable, StateAccepted, StateRejected:
		return true
	}
	return false
}

// ParseMessageState maps the stat value of a delivery receipt (SMPP 3.4
// Appendix B: DELIVRD, EXPIRED, DELETED, UNDELIV, ACCEPTD, UNKNOWN,
// REJECTD, ENROUTE) to its state, ignoring case and surrounding space. The
// full names of SMPP 3.4 §5.2.28 (DELIVERED, UNDELIVERABLE, ...) are
// accepted too.
func ParseMessageState(stat string) (MessageState, bool) {
	switch strings.ToUpper(strings.TrimSpace(stat)) {
	case "ENROUTE":
		return StateEnroute, true
	case "DELIVRD", "DELIVERED":
		return StateDelivered, true
	case "EXPIRED":
		return StateExpired, true
	case "DELETED":
		return StateDeleted, true
	case "UNDELIV", "UNDELIVERABLE":
		return StateUndeliverable, true
	case "ACCEPTD", "ACCEPTED":
		return StateAccepted, true
	case "UNKNOWN":
		return StateUnknown, true
	case "REJECTD", "REJECTED":
		return StateRejected, true
	}
	return 0, false
}

// ErrNotReceipt means a text has neither an id nor a stat field, so it is
// not a delivery receipt.
var ErrNotReceipt = errors.New("smpp: not a delivery receipt")

// Receipt is a delivery receipt in the format of SMPP 3.4 Appendix B,
// carried in the short_message of a deliver_sm with esm_class 0x04. Fields
// missing from the text are left zero.
type Receipt struct {
	// ID is the message id as written by the SMSC; compare it with the
	// submit_sm_resp id using SameMessageID or NormalizeMessageID.
	ID string
	// Sub and Dlvrd are the "sub" and "dlvrd" counts (0 if absent or not
	// numeric).
	Sub, Dlvrd int
	// Submitted and Done are the "submit date" and "done date", or zero
	// if absent or malformed.
	Submitted, Done time.Time
	// State is the state the stat value names, or 0 if absent or unknown.
	State MessageState
	// Stat is the stat value as written.
	Stat string
	// Err is the network- or SMSC-specific error code as written.
	Err string
	// Text is the "text" field: usually the first 20 characters of the
	// original message.
	Text string
}

// Receipt field labels, lower case without spaces or underscores.
const (
	lblID     = "id"
	lblSub    = "sub"
	lblDlvrd  = "dlvrd"
	lblSubmit = "submitdate"
	lblDone   = "donedate"
	lblStat   = "stat"
	lblErr    = "err"
	lblText   = "text"
)

func isReceiptSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0
}

func isLabelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

func skipReceiptSpace(s string, i int) int {
	for i < len(s) && isReceiptSpace(s[i]) {
		i++
	}
	return i
}

// receiptLabelAt reports whether a known field label ("stat:", "Submit
// Date :", "done_date:", ...) starts at s[i], and returns it and the index
// after its colon.
func receiptLabelAt(s string, i int) (label string, next int, ok bool) {
	j := i
	for j < len(s) && isLabelByte(s[j]) {
		j++
	}
	word := strings.ToLower(strings.ReplaceAll(s[i:j], "_", ""))
	if word == "submit" || word == "done" {
		k := skipReceiptSpace(s, j)
		if k+4 <= len(s) && strings.EqualFold(s[k:k+4], "date") {
			word += "date"
			j = k + 4
		}
	}
	switch word {
	case lblID, lblSub, lblDlvrd, lblSubmit, lblDone, lblStat, lblErr, lblText:
	default:
		return "", 0, false
	}
	j = skipReceiptSpace(s, j)
	if j >= len(s) || s[j] != ':' {
		return "", 0, false
	}
	return word, j + 1, true
}

// ParseReceipt parses a delivery receipt (SMPP 3.4 Appendix B) with dates
// read as UTC. See ParseReceiptIn.
func ParseReceipt(text string) (Receipt, error) {
	return ParseReceiptIn(text, time.UTC)
}

// ParseReceiptIn parses a delivery receipt in the format of SMPP 3.4
// Appendix B:
//
//	id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E Text: ...
//
// Labels are matched without regard to case, fields may be missing, come in
// any order, or be separated by extra spaces, and "submit_date" is accepted
// for "submit date". Every value but the text is the first word after its
// label; the text runs to the end. The first occurrence of a label wins,
// and words that are not known labels are skipped. Dates may have 10
// (YYMMDDhhmm), 12 (with seconds) or 14 (YYYYMMDDhhmmss) digits, two-digit
// years are taken as 20YY, and they are read in loc (SMPP does not say
// which zone an SMSC uses). It fails only with ErrNotReceipt, when neither
// an id nor a stat label is present.
func ParseReceiptIn(text string, loc *time.Location) (Receipt, error) {
	if loc == nil {
		loc = time.UTC
	}
	var r Receipt
	seen := make(map[string]bool, 8)
	for i := skipReceiptSpace(text, 0); i < len(text); i = skipReceiptSpace(text, i) {
		label, next, ok := receiptLabelAt(text, i)
		if !ok {
			for i < len(text) && !isReceiptSpace(text[i]) {
				i++
			}
			continue
		}
		if label == lblText {
			if !seen[label] {
				r.Text = strings.Trim(text[next:], " \t\r\n\x00")
				seen[label] = true
			}
			break
		}
		j := skipReceiptSpace(text, next)
		k := j
		if _, _, isLabel := receiptLabelAt(text, j); !isLabel {
			for k < len(text) && !isReceiptSpace(text[k]) {
				k++
			}
		}
		i = max(k, next)
		if seen[label] {
			continue
		}
		seen[label] = true
		v := text[j:k]
		switch label {
		case lblID:
			r.ID = v
		case lblSub:
			r.Sub = receiptCount(v)
		case lblDlvrd:
			r.Dlvrd = receiptCount(v)
		case lblSubmit:
			r.Submitted = receiptDate(v, loc)
		case lblDone:
			r.Done = receiptDate(v, loc)
		case lblStat:
			r.Stat = v
			r.State, _ = ParseMessageState(v)
		case lblErr:
			r.Err = v
		}
	}
	if !seen[lblID] && !seen[lblStat] {
		return Receipt{}, ErrNotReceipt
	}
	return r, nil
}

// receiptCount parses a sub or dlvrd count, returning 0 unless v is a
// short run of decimal digits.
func receiptCount(v string) int {
	if len(v) == 0 || len(v) > 9 || !allDigits(v) {
		return 0
	}
	n, _ := strconv.Atoi(v)
	return n
}

// receiptDate parses YYMMDDhhmm, YYMMDDhhmmss or YYYYMMDDhhmmss in loc,
// returning the zero time for anything else or an impossible date.
func receiptDate(v string, loc *time.Location) time.Time {
	if !allDigits(v) {
		return time.Time{}
	}
	var layout string
	switch len(v) {
	case 10:
		v, layout = "20"+v, "200601021504"
	case 12:
		v, layout = "20"+v, "20060102150405"
	case 14:
		layout = "20060102150405"
	default:
		return time.Time{}
	}
	t, err := time.ParseInLocation(layout, v, loc)
	if err != nil {
		return time.Time{}
	}
	return t
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexDigit(s[i]) {
			return false
		}
	}
	return true
}

// Bounds on the ids converted between bases. SMPP 3.4 §5.2.23 caps
// message_id at 65 octets including the NUL, so 64 hex digits; their
// decimal form has at most 78 digits (16^64 < 10^78).
const (
	maxHexID     = 64
	maxDecimalID = 78
)

// trimMessageID removes surrounding white space and NULs, which some
// SMSCs leave in C-octet strings.
func trimMessageID(id string) string {
	return strings.Trim(id, " \t\r\n\x00")
}

// NormalizeMessageID returns the canonical form of a message id for
// comparison or as a lookup key: surrounding white space and NULs are
// removed, and an id made only of hexadecimal digits (decimal ids
// included), optionally prefixed 0x, loses the prefix and its leading zeros
// and is lower-cased ("00001A2B" → "1a2b", "0" → "0"). Any other id is
// returned trimmed but otherwise unchanged, since it may be case-sensitive.
// It does not convert between bases; see SameMessageID.
func NormalizeMessageID(id string) string {
	id = trimMessageID(id)
	if h, ok := strings.CutPrefix(strings.ToLower(id), "0x"); ok && h != "" && allHex(h) {
		id = h
	}
	if id == "" || !allHex(id) {
		return id
	}
	id = strings.TrimLeft(strings.ToLower(id), "0")
	if id == "" {
		return "0"
	}
	return id
}

// idForm classifies a trimmed id: its normalized digits and whether it is
// certainly hexadecimal (0x prefix, or a letter a–f) or possibly decimal
// (only 0–9, no prefix).
func idForm(id string) (digits string, hex, dec bool) {
	id = trimMessageID(id)
	prefixed := len(id) > 2 && (id[:2] == "0x" || id[:2] == "0X")
	digits = NormalizeMessageID(id)
	switch {
	case digits == "" || !allHex(digits):
		return digits, false, false
	case prefixed || !allDigits(digits):
		return digits, len(digits) <= maxHexID, false
	default:
		return digits, false, len(digits) <= maxDecimalID
	}
}

// SameMessageID reports whether two message ids name the same message when
// one SMSC writes them differently, typically the submit_sm_resp id in hex
// ("1a2b") and the delivery receipt id in decimal ("6699").
//
// The rule: the ids match when their NormalizeMessageID forms are equal
// (so case of hex letters, a 0x prefix and leading zeros never matter), or
// when one id is certainly hexadecimal — it has a 0x prefix or a letter
// a–f — and the other is made only of decimal digits, and they are the same
// number. An empty id matches nothing. Two ids made only of the digits 0–9 are compared as decimal
// numbers only: "1234" never matches "4660" (0x1234), because in an SMSC
// that uses decimal ids both may be real, different messages. For an SMSC
// known to send hex in submit_sm_resp and decimal in receipts, convert with
// MessageIDHexToDecimal instead of relying on this rule. Hex ids longer
// than 64 digits, and decimal ones longer than 78, are compared only in
// normalized form.
func SameMessageID(a, b string) bool {
	da, hexA, decA := idForm(a)
	db, hexB, decB := idForm(b)
	if da == "" || db == "" {
		return false
	}
	if da == db {
		return true
	}
	switch {
	case hexA && decB:
		return hexEqualsDecimal(da, db)
	case hexB && decA:
		return hexEqualsDecimal(db, da)
	}
	return false
}

// hexEqualsDecimal compares normalized hex and decimal digit strings.
func hexEqualsDecimal(hex, dec string) bool {
	d, ok := MessageIDHexToDecimal(hex)
	return ok && d == dec
}

// MessageIDHexToDecimal converts a message id written in hexadecimal
// (optionally 0x-prefixed, any case, leading zeros allowed) to its decimal
// form without leading zeros, for SMSCs that send hex ids in submit_sm_resp
// and decimal ones in delivery receipts. It returns false when id is not
// hexadecimal or is longer than 64 digits.
func MessageIDHexToDecimal(id string) (string, bool) {
	h := NormalizeMessageID(id)
	if h == "" || !allHex(h) || len(h) > maxHexID {
		return "", false
	}
	n, ok := new(big.Int).SetString(h, 16)
	if !ok {
		return "", false
	}
	return n.String(), true
}
