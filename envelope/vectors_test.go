package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"
)

// TestKnownAnswers holds the code to testdata/vectors.txt, which
// docs/envelope.md quotes and testdata/vectors_check.py reproduces from
// the doc alone: fixed keys and counters give fixed bytes, so the format
// cannot drift silently.
func TestKnownAnswers(t *testing.T) {
	v := vectors(t)
	if !bytes.Equal(v["master_key"], testMaster) || !bytes.Equal(v["device_id"], testDevice[:]) ||
		!bytes.Equal(v["platform_seed"], testPlatform.Seed()) || !bytes.Equal(v["challenge"], testChal) ||
		!bytes.Equal(v["nonce"], testNonce) || !bytes.Equal(v["key_version"], []byte{1}) {
		t.Fatal("vector inputs differ from the test's")
	}
	k := testKey(t)
	k2 := mustKey(t, testDevice, 2, testMaster)
	sig, err := ProveChallenge(testPlatform, testDevice, testChal)
	if err != nil {
		t.Fatal(err)
	}
	meas, err := Measure(testParts...)
	if err != nil {
		t.Fatal(err)
	}
	report, err := MakeReport(k, testNonce, meas)
	if err != nil {
		t.Fatal(err)
	}
	envUp1 := mustSeal(t, k, Uplink, 1, TextMessage("BAL"))
	prk, err := hkdf.Extract(sha256.New, testMaster, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{
		"prk":           prk,
		"uplink_key":    k.up[:],
		"downlink_key":  k.down[:],
		"attest_key":    k.attest[:],
		"uplink_key_v2": k2.up[:],
		"env_up1":       envUp1,
		"text_up1":      []byte(EncodeText(envUp1)),
		"env_down1":     mustSeal(t, k, Downlink, 1, TextMessage("Balance: CNY 1,234.56")),
		"env_hello":     mustSeal(t, k, Uplink, 2, HelloMessage(testChal)),
		"platform_pub":  testPlatform.Public().(ed25519.PublicKey),
		"signature":     sig,
		"env_proof":     mustSeal(t, k, Downlink, 2, ProofMessage(sig, testNonce)),
		"measurement":   meas[:],
		"report":        report,
		"env_report":    mustSeal(t, k, Uplink, 3, ReportMessage(report)),
	}
	for name, g := range got {
		want, ok := v[name]
		if !ok {
			t.Errorf("vectors.txt has no %s", name)
			continue
		}
		if !bytes.Equal(g, want) {
			t.Errorf("%s:\n got %x\nwant %x", name, g, want)
		}
	}

	// And the other way: the vectors open, verify and decode.
	if _, m, err := OpenMessage(k, Uplink, v["env_up1"]); err != nil || m.Text != "BAL" {
		t.Errorf("env_up1 opens to %+v, %v", m, err)
	}
	if b, err := DecodeText(string(v["text_up1"])); err != nil || !bytes.Equal(b, v["env_up1"]) {
		t.Errorf("text_up1 decodes to %x, %v", b, err)
	}
	if _, m, err := OpenMessage(k, Downlink, v["env_down1"]); err != nil || m.Text != "Balance: CNY 1,234.56" {
		t.Errorf("env_down1 opens to %+v, %v", m, err)
	}
	_, m, err := OpenMessage(k, Downlink, v["env_proof"])
	if err != nil || !VerifyPlatform(ed25519.PublicKey(v["platform_pub"]), testDevice, v["challenge"], m.Signature) ||
		!bytes.Equal(m.Nonce, v["nonce"]) {
		t.Errorf("env_proof opens to %+v, %v", m, err)
	}
	if _, m, err = OpenMessage(k, Uplink, v["env_report"]); err != nil {
		t.Fatalf("env_report: %v", err)
	}
	if got, err := VerifyReport(k, v["nonce"], m.Report); err != nil || !bytes.Equal(got[:], v["measurement"]) {
		t.Errorf("env_report's report verifies to %x, %v", got, err)
	}
}
