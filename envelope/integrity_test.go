package envelope

import (
	"bytes"
	"errors"
	"testing"
)

func TestMeasure(t *testing.T) {
	a, err := Measure(testParts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Measure(testParts[1], testParts[0])
	if err != nil || a != b {
		t.Fatalf("order matters: %v %v %v", a, b, err)
	}
	// Lengths are prefixed: moving octets between name and data, or
	// between components, changes the measurement.
	distinct := map[Measurement]string{a: "base"}
	for name, cs := range map[string][]Component{
		"name/data boundary":  {{"ab", []byte("c")}, {"config", []byte("short_code=3030")}},
		"name/data boundary'": {{"a", []byte("bc")}, {"config", []byte("short_code=3030")}},
		"one component":       {{"app", []byte("paygate-module 1.0short_code=3030")}},
		"changed config":      {{"app", []byte("paygate-module 1.0")}, {"config", []byte("short_code=3031")}},
		"empty data":          {{"app", nil}, {"config", []byte("short_code=3030")}},
	} {
		m, err := Measure(cs...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if prev, dup := distinct[m]; dup {
			t.Errorf("%s measures the same as %s", name, prev)
		}
		distinct[m] = name
	}
	for name, cs := range map[string][]Component{
		"none":          nil,
		"empty name":    {{"", []byte("x")}},
		"repeated name": {{"app", []byte("1")}, {"app", []byte("2")}},
		"name too long": {{string(make([]byte, 256)), nil}},
	} {
		if _, err := Measure(cs...); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Measure(Component{string(make([]byte, 255)), nil}); err != nil {
		t.Errorf("255-octet name: %v", err)
	}
}

func TestMeasurementText(t *testing.T) {
	m, _ := Measure(testParts...)
	p, err := ParseMeasurement(m.String())
	if err != nil || p != m {
		t.Fatalf("%v %v", p, err)
	}
	var u Measurement
	if err := u.UnmarshalText([]byte(m.String())); err != nil || u != m {
		t.Fatal(u, err)
	}
	for _, bad := range []string{"", m.String()[:63], m.String() + "0", "zz" + m.String()[2:]} {
		if _, err := ParseMeasurement(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	allow := AllowList{m: "app 1.0 / config 3030"}
	if label, ok := allow.Allowed(m); !ok || label != "app 1.0 / config 3030" {
		t.Errorf("allowed measurement refused")
	}
	if _, ok := allow.Allowed(Measurement{}); ok {
		t.Errorf("unknown measurement allowed")
	}
	if _, ok := AllowList(nil).Allowed(m); ok {
		t.Errorf("nil list allows")
	}
}

func TestReport(t *testing.T) {
	k := testKey(t)
	m, _ := Measure(testParts...)
	r, err := MakeReport(k, testNonce, m)
	if err != nil || len(r) != ReportSize {
		t.Fatalf("%x %v", r, err)
	}
	got, err := VerifyReport(k, testNonce, r)
	if err != nil || got != m {
		t.Fatalf("%v %v", got, err)
	}
	long := seq(1, NonceMax)
	if r2, err := MakeReport(k, long, m); err != nil {
		t.Fatal(err)
	} else if got, err := VerifyReport(k, long, r2); err != nil || got != m {
		t.Fatalf("32-octet nonce: %v", err)
	}

	otherDevice := testDevice
	otherDevice[0] ^= 1
	for _, tc := range []struct {
		name   string
		k      DeviceKey
		nonce  []byte
		report []byte
		want   error
	}{
		{"stale nonce", k, seq(0xd1, 16), r, ErrAuth},
		{"nonce extended", k, append(bytes.Clone(testNonce), 0), r, ErrAuth},
		{"other device", mustKey(t, otherDevice, 1, testMaster), testNonce, r, ErrAuth},
		{"other key version", mustKey(t, testDevice, 2, testMaster), testNonce, r, ErrAuth},
		{"other master key", mustKey(t, testDevice, 1, seq(9, 32)), testNonce, r, ErrAuth},
		{"measurement swapped", k, testNonce, append(append([]byte{1}, make([]byte, 32)...), r[33:]...), ErrAuth},
		{"report version 2", k, testNonce, append([]byte{2}, r[1:]...), ErrVersion},
		{"truncated", k, testNonce, r[:ReportSize-1], ErrMalformed},
		{"extended", k, testNonce, append(bytes.Clone(r), 0), ErrMalformed},
		{"short nonce", k, testNonce[:15], r, ErrMalformed},
		{"no nonce", k, nil, r, ErrMalformed},
		{"zero key", DeviceKey{}, testNonce, r, ErrKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if m, err := VerifyReport(tc.k, tc.nonce, tc.report); !errors.Is(err, tc.want) || m != (Measurement{}) {
				t.Fatalf("%v, %v; want %v", m, err, tc.want)
			}
		})
	}
	for i := 8; i < 8*len(r); i++ { // every bit after the version octet
		if _, err := VerifyReport(k, testNonce, flip(r, i)); !errors.Is(err, ErrAuth) {
			t.Fatalf("bit %d flipped: %v", i, err)
		}
	}
	if _, err := MakeReport(k, testNonce[:8], m); !errors.Is(err, ErrMalformed) {
		t.Errorf("MakeReport short nonce: %v", err)
	}
	if _, err := MakeReport(DeviceKey{}, testNonce, m); !errors.Is(err, ErrKey) {
		t.Errorf("MakeReport zero key: %v", err)
	}
}
