package smpp

import (
	"errors"
	"testing"
	"time"
)

func receiptUTC(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func TestParseReceipt(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Receipt
	}{
		{
			"appendix B",
			"id:0123456789 sub:001 dlvrd:001 submit date:2501021504 done date:2501021505 stat:DELIVRD err:000 Text:Pay KES 100 to 0712",
			Receipt{ID: "0123456789", Sub: 1, Dlvrd: 1, Submitted: receiptUTC(2025, 1, 2, 15, 4, 0), Done: receiptUTC(2025, 1, 2, 15, 5, 0),
				State: StateDelivered, Stat: "DELIVRD", Err: "000", Text: "Pay KES 100 to 0712"},
		},
		{
			"lower-case text label, seconds in dates",
			"id:1a2b sub:001 dlvrd:000 submit date:250102150405 done date:250102150559 stat:UNDELIV err:034 text:hello",
			Receipt{ID: "1a2b", Sub: 1, Submitted: receiptUTC(2025, 1, 2, 15, 4, 5), Done: receiptUTC(2025, 1, 2, 15, 5, 59),
				State: StateUndeliverable, Stat: "UNDELIV", Err: "034", Text: "hello"},
		},
		{
			"upper case labels, extra spaces",
			"  ID:  77   SUB:001  DLVRD:001   SUBMIT   DATE:2501021504  DONE DATE : 2501021505   STAT:  expired   ERR:  000   TEXT:  x  ",
			Receipt{ID: "77", Sub: 1, Dlvrd: 1, Submitted: receiptUTC(2025, 1, 2, 15, 4, 0), Done: receiptUTC(2025, 1, 2, 15, 5, 0),
				State: StateExpired, Stat: "expired", Err: "000", Text: "x"},
		},
		{
			"missing fields",
			"id:abc stat:REJECTD",
			Receipt{ID: "abc", State: StateRejected, Stat: "REJECTD"},
		},
		{
			"only stat",
			"stat:ACCEPTD err:0",
			Receipt{State: StateAccepted, Stat: "ACCEPTD", Err: "0"},
		},
		{
			"underscored dates and any order",
			"stat:ENROUTE submit_date:2412312359 id:9 done_date:2501010000",
			Receipt{ID: "9", Submitted: receiptUTC(2024, 12, 31, 23, 59, 0), Done: receiptUTC(2025, 1, 1, 0, 0, 0), State: StateEnroute, Stat: "ENROUTE"},
		},
		{
			"four-digit year",
			"id:5 submit date:20250102150405 stat:DELETED",
			Receipt{ID: "5", Submitted: receiptUTC(2025, 1, 2, 15, 4, 5), State: StateDeleted, Stat: "DELETED"},
		},
		{
			"impossible dates",
			"id:5 submit date:2513021504 done date:25010215 stat:UNKNOWN",
			Receipt{ID: "5", State: StateUnknown, Stat: "UNKNOWN"},
		},
		{
			"unknown stat and extra fields",
			"id:5 mccmnc:63902 stat:QUEUED err:001 foo text: id:6 stat:DELIVRD",
			Receipt{ID: "5", Stat: "QUEUED", Err: "001", Text: "id:6 stat:DELIVRD"},
		},
		{
			"empty values",
			"id: sub: dlvrd:abc stat: err: text:",
			Receipt{},
		},
		{
			"first occurrence wins",
			"id:1 id:2 stat:DELIVRD stat:EXPIRED",
			Receipt{ID: "1", State: StateDelivered, Stat: "DELIVRD"},
		},
		{
			"NUL padding and newline",
			"id:42\x00 sub:001\ndlvrd:001 stat:DELIVRD err:000 text:hi\x00",
			Receipt{ID: "42", Sub: 1, Dlvrd: 1, State: StateDelivered, Stat: "DELIVRD", Err: "000", Text: "hi"},
		},
		{
			"colon inside id",
			"id: a:b stat:DELIVRD",
			Receipt{ID: "a:b", State: StateDelivered, Stat: "DELIVRD"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReceipt(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseReceipt(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseReceiptNotReceipt(t *testing.T) {
	for _, in := range []string{"", "   ", "hello world", "Text: id:1 stat:DELIVRD", "identity:5 status:ok", "idx:1"} {
		if r, err := ParseReceipt(in); !errors.Is(err, ErrNotReceipt) || r != (Receipt{}) {
			t.Errorf("ParseReceipt(%q) = %+v, %v", in, r, err)
		}
	}
}

func TestParseReceiptIn(t *testing.T) {
	nairobi := time.FixedZone("EAT", 3*3600)
	r, err := ParseReceiptIn("id:1 submit date:2501021504 stat:DELIVRD", nairobi)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2025, 1, 2, 12, 4, 0, 0, time.UTC); !r.Submitted.Equal(want) {
		t.Errorf("Submitted %v, want %v", r.Submitted, want)
	}
	if r, _ := ParseReceiptIn("id:1 done date:2501021504", nil); r.Done != receiptUTC(2025, 1, 2, 15, 4, 0) {
		t.Errorf("nil location: %v", r.Done)
	}
}

func TestMessageState(t *testing.T) {
	tests := []struct {
		s     MessageState
		name  string
		final bool
		stats []string
	}{
		{StateEnroute, "ENROUTE", false, []string{"ENROUTE", "enroute"}},
		{StateDelivered, "DELIVERED", true, []string{"DELIVRD", "delivered", " Delivrd "}},
		{StateExpired, "EXPIRED", true, []string{"EXPIRED"}},
		{StateDeleted, "DELETED", true, []string{"DELETED"}},
		{StateUndeliverable, "UNDELIVERABLE", true, []string{"UNDELIV", "UNDELIVERABLE"}},
		{StateAccepted, "ACCEPTED", true, []string{"ACCEPTD", "ACCEPTED"}},
		{StateUnknown, "UNKNOWN", false, []string{"UNKNOWN"}},
		{StateRejected, "REJECTED", true, []string{"REJECTD", "REJECTED"}},
		{0, "MessageState(0)", false, nil},
		{9, "MessageState(9)", false, nil},
		{255, "MessageState(255)", false, nil},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.name {
			t.Errorf("%d.String() = %q, want %q", tt.s, got, tt.name)
		}
		if got := tt.s.Final(); got != tt.final {
			t.Errorf("%v.Final() = %v", tt.s, got)
		}
		for _, stat := range tt.stats {
			if got, ok := ParseMessageState(stat); !ok || got != tt.s {
				t.Errorf("ParseMessageState(%q) = %v, %v", stat, got, ok)
			}
		}
	}
	for _, bad := range []string{"", "DELIV", "OK", "2"} {
		if got, ok := ParseMessageState(bad); ok || got != 0 {
			t.Errorf("ParseMessageState(%q) = %v, %v", bad, got, ok)
		}
	}
}

func TestNormalizeMessageID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  ", ""},
		{"0", "0"},
		{"0000", "0"},
		{"1a2b", "1a2b"},
		{"001A2B", "1a2b"},
		{"0x1A2B", "1a2b"},
		{"0X00ff", "ff"},
		{"6699", "6699"},
		{"0006699\x00", "6699"},
		{" 42 ", "42"},
		{"ABC-def-42", "ABC-def-42"},
		{"0xyz", "0xyz"},
		{"0x", "0x"},
		{"f81d4fae-7dec-11d0-a765-00a0c91e6bf6", "f81d4fae-7dec-11d0-a765-00a0c91e6bf6"},
	}
	for _, tt := range tests {
		if got := NormalizeMessageID(tt.in); got != tt.want {
			t.Errorf("NormalizeMessageID(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if again := NormalizeMessageID(NormalizeMessageID(tt.in)); again != tt.want {
			t.Errorf("NormalizeMessageID not idempotent on %q: %q", tt.in, again)
		}
	}
}

func TestSameMessageID(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"1a2b", "6699", true},      // Hex in submit_sm_resp, decimal in receipt.
		{"001A2B", "0006699", true}, // Leading zeros and case.
		{"0x1234", "4660", true},    // Prefix makes an all-digit id hex.
		{"6699", "1a2b", true},      // Symmetric.
		{"1A2B", "1a2b", true},
		{"00042", "42", true},
		{"42", "42", true},
		{"ffffffffffffffffffff", "1208925819614629174706175", true}, // Beyond 64 bits.
		{"1234", "4660", false}, // Both all-digit: decimal only (see doc).
		{"10", "16", false},
		{"1a2b", "6698", false},
		{"1a2b", "1a2c", false},
		{"abc", "ABC-1", false},
		{"", "", false},
		{"", "0", false},
		{"  ", "\x00", false},
		{"ABC-def", "ABC-def", true},
		{"ABC-def", "abc-def", false}, // Not hex: case-sensitive.
		{"1a2b", "0x1a2b", true},
		{"0x1a2b", "6699", true},
	}
	for _, tt := range tests {
		if got := SameMessageID(tt.a, tt.b); got != tt.want {
			t.Errorf("SameMessageID(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := SameMessageID(tt.b, tt.a); got != tt.want {
			t.Errorf("SameMessageID(%q, %q) = %v, want %v", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestMessageIDHexToDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"1a2b", "6699", true},
		{"0x1234", "4660", true},
		{"1234", "4660", true},
		{"000", "0", true},
		{"FFFFFFFFFFFFFFFF", "18446744073709551615", true},
		{"", "", false},
		{"xyz", "", false},
		{"1a-2b", "", false},
	}
	for _, tt := range tests {
		got, ok := MessageIDHexToDecimal(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("MessageIDHexToDecimal(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	long := "1"
	for range 64 {
		long += "0"
	}
	if _, ok := MessageIDHexToDecimal(long); ok {
		t.Errorf("65-digit id converted")
	}
}
