package gateway_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/gateway/config"
	"github.com/paygate/paygate/smpp"
	"github.com/paygate/paygate/smpp/smsc"
)

// The secure channel (SPEC §9) over real SMPP and the bank simulator:
// enrolment by PIN and code, the platform proof, integrity reports, a
// payment through envelopes with its receipt verified by the phone side,
// and RELIABILITY S3 for envelopes.

// goodApp is what the test module measures; its measurement is on the
// allow-list.
var goodApp = []envelope.Component{{Name: "app", Data: []byte("paygate test client 1.0")}, {Name: "config", Data: []byte("carriage=text")}}

// withSecure gives the gateway a platform key, an allow-list with
// goodApp's measurement, and the envelope policy.
func withSecure(t *testing.T, policy string) func(*config.Config) {
	return func(c *config.Config) {
		c.Keys.PlatformKeyFile = filepath.Join(t.TempDir(), "platform.key")
		if err := os.WriteFile(c.Keys.PlatformKeyFile, []byte(strings.Repeat("5e", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := envelope.Measure(goodApp...)
		if err != nil {
			t.Fatal(err)
		}
		c.Secure.Envelopes = policy
		c.Secure.ReportWait = time.Minute
		c.Secure.Allow = []config.AllowedMeasurement{{Measurement: m.String(), Label: "test client 1.0"}}
	}
}

// module is a phone with a security module, speaking envelopes in the
// text carriage (or 8-bit binary) through the SMSC simulator.
type module struct {
	*phone
	m      *envelope.Module
	sent   [][]byte // every envelope sent, for replays
	binary bool
	opened []string // every text the phone got, opened
}

// check holds the invariants with md's phone's texts opened.
func (md *module) check(others ...string) {
	md.w.t.Helper()
	md.w.checkTexts(func(p string) []string {
		if strings.TrimPrefix(p, "+") == md.num {
			return md.opened
		}
		return md.w.sim.ReceivedTexts(p)
	}, append(others, "+"+md.num)...)
}

// issueModule asks the admin API for a device (for phone num when given)
// and personalises a module with the answer.
func (w *world) issueModule(p *phone, enrolled bool) *module {
	w.t.Helper()
	body := map[string]any{}
	if enrolled {
		body["phone"] = "+" + p.num
	}
	a := w.operator(annToken).must(201, "POST", "/v1/admin/devices", body)
	id, err := envelope.ParseDeviceID(a.body["device_id"].(string))
	if err != nil {
		w.t.Fatal(err)
	}
	master, err := envelope.ParseMasterKey(a.body["master_key"].(string))
	if err != nil {
		w.t.Fatal(err)
	}
	platform, err := hex.DecodeString(a.body["platform_key"].(string))
	if err != nil {
		w.t.Fatal(err)
	}
	m, err := envelope.NewModule(envelope.ModuleConfig{DeviceID: id, KeyVersion: uint8(a.body["key_version"].(float64)), MasterKey: master, Platform: platform})
	if err != nil {
		w.t.Fatal(err)
	}
	return &module{phone: p, m: m}
}

// inject sends the envelope b as the phone.
func (md *module) inject(b []byte) {
	md.w.t.Helper()
	if md.binary {
		md.w.sim.Inject(smsc.MO{From: md.num, To: "3030", DataCoding: byte(smpp.CodingBinary), Payload: b})
		return
	}
	if _, err := md.w.sim.InjectText(md.num, "3030", envelope.EncodeText(b), false); err != nil {
		md.w.t.Fatal(err)
	}
}

// say seals text, sends it and returns the n replies opened: sealed ones
// verified by the module, clear ones as they are (marked "clear: ").
func (md *module) say(text string, n int) []string {
	md.w.t.Helper()
	b, err := md.m.SealCommand(text)
	if err != nil {
		md.w.t.Fatal(err)
	}
	md.sent = append(md.sent, b)
	md.inject(b)
	return md.open(md.expect(n))
}

// one is say with one reply.
func (md *module) one(text string) string { md.w.t.Helper(); return md.say(text, 1)[0] }

// open opens the replies: an envelope must verify.
func (md *module) open(texts []string) []string {
	md.w.t.Helper()
	out := make([]string, len(texts))
	for i, s := range texts {
		if !envelope.IsText(s) {
			out[i] = "clear: " + s
			md.opened = append(md.opened, s)
			continue
		}
		b, err := envelope.DecodeText(s)
		if err != nil {
			md.w.t.Fatalf("reply %q: %v", s, err)
		}
		msg, err := md.m.Open(b)
		if err != nil {
			md.w.t.Fatalf("reply does not verify: %v", err)
		}
		switch msg.Kind {
		case envelope.KindText:
			out[i] = msg.Text
			md.opened = append(md.opened, msg.Text)
		case envelope.KindProof:
			out[i] = "proof " + hex.EncodeToString(msg.Nonce)
		default:
			out[i] = msg.Kind.String()
		}
	}
	return out
}

// session runs the session start: hello, the platform's proof (verified
// by the module), the report over app. It returns the reply to the
// report and the nonce the report answered.
func (md *module) session(app []envelope.Component) (string, []byte) {
	md.w.t.Helper()
	b, err := md.m.Hello()
	if err != nil {
		md.w.t.Fatal(err)
	}
	md.inject(b)
	raw := md.expect(1)[0]
	bb, err := envelope.DecodeText(raw)
	if err != nil {
		md.w.t.Fatalf("proof %q: %v", raw, err)
	}
	proof, err := md.m.Open(bb)
	if err != nil || proof.Kind != envelope.KindProof || !md.m.Verified() {
		md.w.t.Fatalf("the platform's proof: %v %v, verified %v", proof.Kind, err, md.m.Verified())
	}
	return md.report(proof.Nonce, app), proof.Nonce
}

// report sends a report for nonce over app and returns the reply.
func (md *module) report(nonce []byte, app []envelope.Component) string {
	md.w.t.Helper()
	r, err := md.m.Report(nonce, app...)
	if err != nil {
		md.w.t.Fatal(err)
	}
	md.inject(r)
	return md.open(md.expect(1))[0]
}

func TestSecureEnrolProvePay(t *testing.T) {
	w := newWorld(t, withAdmin(t, nil), withSecure(t, "required"))
	li, wang := w.moneySetup()
	md := w.issueModule(li, false)
	id := md.m.DeviceID().String()

	// Enrolment: the module asks, the PIN and the code confirm.
	mustContain(t, md.one("ENROL"), "clear: To enrol security module "+id+" on this phone, send OK <PIN>")
	reply := md.one("OK " + liPIN)
	code := sixDigits.FindString(reply)
	if code == "" {
		t.Fatalf("no enrolment code in %q", reply)
	}
	mustContain(t, md.one(code), "Security module "+id+" is enrolled")

	// Plain payments are refused: envelopes are required. The refusal
	// itself comes sealed, as everything to the phone now does.
	mustContain(t, md.open(li.send("SEND "+wangNum+" 5", 1))[0], "must be sent through its security module")
	// Sealed, but the device has not proved its integrity yet.
	mustContain(t, md.one("SEND "+wangNum+" 5"), "Payments are off for this phone: its security module has not been checked yet.")
	mustContain(t, md.one("BAL"), "send OK <PIN>") // balance still answers
	mustContain(t, md.one("CANCEL"), "Cancelled")

	// Session start: the platform proves itself, the report is good.
	var nonce []byte
	reply, nonce = md.session(goodApp)
	mustContain(t, reply, "security check passed. Payments are on.")

	// Pay through the envelope; the receipt comes back sealed.
	before := balance(t, w.bank, liAcct)
	mustContain(t, md.one("SEND "+wangNum+" 5"), "send OK <PIN>")
	code = sixDigits.FindString(md.one("OK " + liPIN))
	if code == "" {
		t.Fatal("no payment code")
	}
	mustContain(t, md.one(code), "Confirmed: 5.00 CNY")
	mustContain(t, md.open(md.expect(1))[0], "Paid 5.00 CNY") // the receipt, sealed
	wang.expect(1)
	if got := balance(t, w.bank, liAcct); got != before-500 {
		t.Fatalf("Li's balance %d, want %d", got, before-500)
	}
	md.check(wangNum)

	// A stale report (the nonce was spent) fails and turns payments off.
	mustContain(t, md.report(nonce, goodApp), "Payments are off for this phone: its security check failed.")
	mustContain(t, md.one("SEND "+wangNum+" 5"), "Payments are off")
	dev := w.operator(annToken).must(200, "GET", "/v1/admin/devices/"+id, nil).body
	if tr := dev["trust"].(map[string]any); tr["status"] != "failed" || !strings.Contains(tr["reason"].(string), "no integrity nonce") {
		t.Fatalf("operator's view of the device: %v", dev["trust"])
	}
	// A good session turns them on again; a tampered client turns them off.
	reply, _ = md.session(goodApp)
	mustContain(t, reply, "Payments are on")
	tampered := []envelope.Component{goodApp[0], {Name: "config", Data: []byte("carriage=text; hooked")}}
	reply, _ = md.session(tampered)
	mustContain(t, reply, "its security check failed")
	sub := w.operator(annToken).must(200, "GET", "/v1/admin/subscribers/"+liNum, nil).body
	if d := sub["device"].(map[string]any); !strings.Contains(d["trust"].(map[string]any)["reason"].(string), "not on the allow-list") {
		t.Fatalf("operator's view of the subscriber: %v", d)
	}
	// A report that never comes is missing: payments stay off, told.
	reply, _ = md.session(goodApp)
	mustContain(t, reply, "Payments are on")
	b, err := md.m.Hello()
	if err != nil {
		t.Fatal(err)
	}
	md.inject(b)
	md.open(md.expect(1))
	w.clock.add(2 * time.Minute)
	if err := w.gw.ExpireReports(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustContain(t, md.open(md.expect(1))[0], "its security check did not come back in time.")
	md.check(wangNum)
}

// TestSecureS3 is RELIABILITY S3 for envelopes: a paying envelope
// replayed 100 times, old and equal counters, tampered ciphertext,
// header and key are all refused, with no extra debit.
func TestSecureS3(t *testing.T) {
	w := newWorld(t, withAdmin(t, nil), withSecure(t, "required"))
	li, wang := w.moneySetup()
	md := w.issueModule(li, true)
	md.binary = true // 8-bit data this time
	mustContain(t, mustSession(md), "Payments are on")

	mustContain(t, md.one("SEND "+wangNum+" 7"), "send OK <PIN>")
	code := sixDigits.FindString(md.one("OK " + liPIN))
	mustContain(t, md.one(code), "Confirmed: 7.00 CNY")
	mustContain(t, md.open(md.expect(1))[0], "Paid 7.00 CNY")
	wang.expect(1)
	before := balance(t, w.bank, liAcct)
	n := len(md.sent)
	accepted := metricValue(w.metrics(), `paygate_envelopes_total{result="accepted"}`)

	// Every envelope sent so far, again — the paying code's 100 times.
	// The first refusal is told (once a minute at most); none acts.
	for i := range 100 {
		md.inject(md.sent[n-1])
		if i == 0 {
			mustContain(t, md.open(md.expect(1))[0], "A secure message from this phone was refused")
		}
	}
	for _, b := range md.sent[:n-1] {
		md.inject(b)
	}
	// Tampered: a ciphertext octet, a header octet (the key version),
	// a counter moved ahead (the tag no longer verifies), another key.
	fresh, err := md.m.SealCommand("SEND " + wangNum + " 9")
	if err != nil {
		t.Fatal(err)
	}
	for _, mutate := range []func([]byte){
		func(b []byte) { b[len(b)-20] ^= 1 },
		func(b []byte) { b[1] = 2 },
		func(b []byte) { b[17]++ },
	} {
		b := append([]byte(nil), fresh...)
		mutate(b)
		md.inject(b)
	}
	forged, err := envelope.NewModule(envelope.ModuleConfig{DeviceID: md.m.DeviceID(), KeyVersion: 1,
		MasterKey: envelope.MasterKey(make([]byte, 32)), Platform: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := forged.SealCommand("SEND " + wangNum + " 9") // Li's device id, another key
	md.inject(f)
	li.quiet() // refused; the notice went within the minute already
	// Another module, issued but not Li's, cannot stand in for Li's: its
	// SEND counts as clear text, refused where envelopes are required.
	other := w.issueModule(w.phone("+8613700137000"), false)
	g, err := other.m.SealCommand("SEND " + wangNum + " 9")
	if err != nil {
		t.Fatal(err)
	}
	md.inject(g)
	mustContain(t, md.open(md.expect(1))[0], "must be sent through its security module")
	if got := balance(t, w.bank, liAcct); got != before {
		t.Fatalf("Li's balance moved by %d after replays and forgeries", before-got)
	}
	// The genuine envelope, whose counter no forgery moved, still works.
	md.inject(fresh)
	mustContain(t, md.open(md.expect(1))[0], "send OK <PIN>")
	metrics := w.metrics()
	// Accepted since: the other module's (authentic, but taken as clear
	// text) and the genuine one; no replay or forgery.
	if got := metricValue(metrics, `paygate_envelopes_total{result="accepted"}`); got != accepted+2 {
		t.Errorf("%v envelopes accepted after the replays, forgeries, the other module's and the genuine one; want %v", got, accepted+2)
	}
	for _, refused := range []string{"replay", "auth"} {
		if metricValue(metrics, `paygate_envelopes_total{result="`+refused+`"}`) == 0 {
			t.Errorf("no envelope refused as %s", refused)
		}
	}
	t.Log(grepLines(metrics, "paygate_envelopes_total"), grepLines(metrics, "paygate_inbound_total"))
	md.check(wangNum)
}

func mustSession(md *module) string {
	md.w.t.Helper()
	r, _ := md.session(goodApp)
	return r
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return fmt.Sprint(out)
}

// metrics is the gateway's /metrics page.
func (w *world) metrics() string {
	w.t.Helper()
	resp, err := http.Get("http://" + w.gw.HTTPAddr() + "/metrics")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

// metricValue is the value of the sample named (with labels) in a
// metrics page; 0 when absent.
func metricValue(page, sample string) float64 {
	for _, l := range strings.Split(page, "\n") {
		if v, ok := strings.CutPrefix(l, sample+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}

// TestSecureRotateRevoke: an operator rotates a device's key; the module
// personalised with the new version is accepted, and its first envelope
// retires the old version; revoking the device sends replies in clear
// again and refuses its envelopes.
func TestSecureRotateRevoke(t *testing.T) {
	w := newWorld(t, withAdmin(t, nil), withSecure(t, "optional"))
	li, _ := w.moneySetup()
	old := w.issueModule(li, true)
	id := old.m.DeviceID().String()
	mustContain(t, old.one("HELP"), "Commands: SEND")
	op := w.operator(annToken)
	a := op.must(201, "POST", "/v1/admin/devices/"+id+"/rotate", map[string]any{})
	if a.body["key_version"].(float64) != 2 || a.body["device_id"] != id {
		t.Fatalf("rotation: %v", a.body)
	}
	// Until the module uses version 2, replies go under version 1.
	mustContain(t, old.one("LANG EN"), "English")
	master, err := envelope.ParseMasterKey(a.body["master_key"].(string))
	if err != nil {
		t.Fatal(err)
	}
	platform, _ := hex.DecodeString(a.body["platform_key"].(string))
	m2, err := envelope.NewModule(envelope.ModuleConfig{DeviceID: old.m.DeviceID(), KeyVersion: 2, MasterKey: master, Platform: platform})
	if err != nil {
		t.Fatal(err)
	}
	md := &module{phone: old.phone, m: m2}
	mustContain(t, md.one("BAL"), "send OK <PIN>")
	dev := op.must(200, "GET", "/v1/admin/devices/"+id, nil).body
	keys := dev["keys"].([]any)
	if len(keys) != 2 || keys[0].(map[string]any)["state"] != "revoked" || keys[1].(map[string]any)["state"] != "active" {
		t.Fatalf("keys after the first envelope under version 2: %v", keys)
	}
	// The old key is refused now.
	b, _ := old.m.SealCommand("CANCEL")
	old.inject(b)
	mustContain(t, md.open(md.expect(1))[0], "A secure message from this phone was refused")

	op.must(200, "POST", "/v1/admin/devices/"+id+"/revoke", map[string]any{})
	mustContain(t, li.one("CANCEL"), "Nothing") // in clear again
	if got := li.w.sim.ReceivedTexts(li.num); envelope.IsText(got[len(got)-1]) {
		t.Fatalf("a reply after revocation is still sealed: %q", got[len(got)-1])
	}
	b, _ = m2.SealCommand("BAL")
	md.inject(b)
	li.quiet() // refused; the notice went within the minute already
	if sub := op.must(200, "GET", "/v1/admin/subscribers/"+liNum, nil).body; sub["device"] != nil {
		t.Fatalf("the subscriber still has a device: %v", sub["device"])
	}
}
