package envelope

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math"
	"testing"
)

// testGateway is the gateway's side as the integration will do it, over
// the pure functions only: per-device last uplink counter, next downlink
// counter, the outstanding integrity nonce.
type testGateway struct {
	t        *testing.T
	key      DeviceKey
	platform ed25519.PrivateKey
	lastUp   uint64
	down     uint64
	nonce    []byte
	allow    AllowList
}

// receive applies the gateway's receiving rule and returns the message.
func (g *testGateway) receive(env []byte) (Message, error) {
	h, err := Parse(env) // before the key lookup
	if err != nil {
		return Message{}, err
	}
	if h.DeviceID != g.key.DeviceID() || h.KeyVersion != g.key.Version() {
		return Message{}, ErrKeyMismatch // no such device or revoked version
	}
	h, m, err := Receive(g.key, Uplink, g.lastUp, env)
	if h.Counter != 0 {
		g.lastUp = h.Counter // stored in the same transaction
	}
	return m, err
}

// send seals a downlink message with the next counter.
func (g *testGateway) send(m Message) []byte {
	g.down++
	return mustSeal(g.t, g.key, Downlink, g.down, m)
}

// answerHello returns the proof with a fresh integrity nonce.
func (g *testGateway) answerHello(m Message) []byte {
	sig, err := ProveChallenge(g.platform, g.key.DeviceID(), m.Challenge)
	if err != nil {
		g.t.Fatal(err)
	}
	g.nonce = seq(byte(g.down+0x30), NonceSize)
	return g.send(ProofMessage(sig, g.nonce))
}

func newTestGateway(t *testing.T) *testGateway {
	meas, _ := Measure(testParts...)
	return &testGateway{t: t, key: testKey(t), platform: testPlatform, allow: AllowList{meas: "reference module"}}
}

// TestSession runs a whole session, both carriages: hello, proof and
// nonce, report, command, reply.
func TestSession(t *testing.T) {
	for _, c := range []Carriage{Binary, Text} {
		t.Run(c.String(), func(t *testing.T) {
			carry := func(b []byte) []byte {
				if c == Binary {
					return b
				}
				out, err := DecodeText(EncodeText(b))
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			mod, gw := newTestModule(t), newTestGateway(t)

			hello, err := mod.Hello()
			if err != nil {
				t.Fatal(err)
			}
			m, err := gw.receive(carry(hello))
			if err != nil || m.Kind != KindHello {
				t.Fatalf("hello: %+v %v", m, err)
			}
			proof, err := mod.Open(carry(gw.answerHello(m)))
			if err != nil || !mod.Verified() || proof.Kind != KindProof || !bytes.Equal(proof.Nonce, gw.nonce) {
				t.Fatalf("proof: %+v %v verified=%v", proof, err, mod.Verified())
			}
			report, err := mod.Report(proof.Nonce, testParts...)
			if err != nil {
				t.Fatal(err)
			}
			m, err = gw.receive(carry(report))
			if err != nil || m.Kind != KindReport {
				t.Fatalf("report: %+v %v", m, err)
			}
			meas, err := VerifyReport(gw.key, gw.nonce, m.Report)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := gw.allow.Allowed(meas); !ok {
				t.Fatalf("measurement %v not allowed", meas)
			}

			cmd, err := mod.SealCommand("SEND 13800138000 500")
			if err != nil {
				t.Fatal(err)
			}
			if m, err = gw.receive(carry(cmd)); err != nil || m.Text != "SEND 13800138000 500" {
				t.Fatalf("command: %+v %v", m, err)
			}
			reply, err := mod.Open(carry(gw.send(TextMessage("Send CNY 5.00 to ****8000? Reply OK <PIN>"))))
			if err != nil || reply.Text != "Send CNY 5.00 to ****8000? Reply OK <PIN>" {
				t.Fatalf("reply: %+v %v", reply, err)
			}
			if up, down := mod.Counters(); up != 3 || down != 2 {
				t.Fatalf("counters %d %d", up, down)
			}
		})
	}
}

// TestModuleRefusesOldDownlink is S3 on the phone's side: every reply
// whose counter is old or equal is refused, 100 % of them, whatever the
// order of arrival; the refusal changes nothing.
func TestModuleRefusesOldDownlink(t *testing.T) {
	mod := newTestModule(t)
	k := testKey(t)
	env := func(c uint64) []byte { return mustSeal(t, k, Downlink, c, TextMessage("reply")) }
	order := []uint64{1, 1, 3, 2, 3, 1, 4, 10, 9, 5, 10, 11, 2, 11, 12}
	var last uint64
	for _, c := range order {
		_, err := mod.Open(env(c))
		if c > last {
			if err != nil {
				t.Fatalf("counter %d after %d: %v", c, last, err)
			}
			last = c
		} else if !errors.Is(err, ErrReplay) {
			t.Fatalf("counter %d after %d: %v", c, last, err)
		}
		if _, down := mod.Counters(); down != last {
			t.Fatalf("downlink counter %d, want %d", down, last)
		}
	}
	for c := uint64(1); c <= last; c++ {
		if _, err := mod.Open(env(c)); !errors.Is(err, ErrReplay) {
			t.Fatalf("old counter %d: %v", c, err)
		}
	}
	for i := range 100 {
		if _, err := mod.Open(env(last)); !errors.Is(err, ErrReplay) {
			t.Fatalf("replay %d: %v", i, err)
		}
	}
	// A forged envelope with a high counter is refused and does not move
	// the counter (else it could lock out the real gateway).
	forged := flip(env(1000), 8*HeaderSize)
	if _, err := mod.Open(forged); !errors.Is(err, ErrAuth) {
		t.Fatal(err)
	}
	if _, down := mod.Counters(); down != last {
		t.Fatalf("forged envelope moved the counter to %d", down)
	}
	// An uplink envelope reflected back to the phone is refused.
	up := mustSeal(t, k, Uplink, 2000, TextMessage("reply"))
	if _, err := mod.Open(up); !errors.Is(err, ErrAuth) {
		t.Fatalf("reflected uplink: %v", err)
	}
}

func TestModuleRefusesPlatform(t *testing.T) {
	k := testKey(t)
	impostor := ed25519.NewKeyFromSeed(seq(0x99, 32))
	helloChallenge := func(mod *Module) []byte {
		env, err := mod.Hello()
		if err != nil {
			t.Fatal(err)
		}
		_, m, err := OpenMessage(k, Uplink, env)
		if err != nil {
			t.Fatal(err)
		}
		return m.Challenge
	}
	proof := func(priv ed25519.PrivateKey, ch []byte, counter uint64) []byte {
		sig, err := ProveChallenge(priv, testDevice, ch)
		if err != nil {
			t.Fatal(err)
		}
		return mustSeal(t, k, Downlink, counter, ProofMessage(sig, testNonce))
	}

	t.Run("impostor key", func(t *testing.T) {
		mod := newTestModule(t)
		ch := helloChallenge(mod)
		if _, err := mod.Open(proof(impostor, ch, 1)); !errors.Is(err, ErrPlatform) || mod.Verified() {
			t.Fatalf("%v verified=%v", err, mod.Verified())
		}
		// The challenge is used up: the genuine proof now comes too late.
		if _, err := mod.Open(proof(testPlatform, ch, 2)); !errors.Is(err, ErrPlatform) || mod.Verified() {
			t.Fatalf("after a failed proof: %v", err)
		}
	})
	t.Run("no hello", func(t *testing.T) {
		mod := newTestModule(t)
		if _, err := mod.Open(proof(testPlatform, testChal, 1)); !errors.Is(err, ErrPlatform) || mod.Verified() {
			t.Fatalf("%v", err)
		}
	})
	t.Run("proof for an older hello", func(t *testing.T) {
		mod := newTestModule(t)
		old := helloChallenge(mod)
		helloChallenge(mod)
		if _, err := mod.Open(proof(testPlatform, old, 1)); !errors.Is(err, ErrPlatform) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("replayed proof", func(t *testing.T) {
		mod := newTestModule(t)
		ch := helloChallenge(mod)
		p := proof(testPlatform, ch, 1)
		if _, err := mod.Open(p); err != nil || !mod.Verified() {
			t.Fatal(err)
		}
		if _, err := mod.Open(p); !errors.Is(err, ErrReplay) {
			t.Fatalf("%v", err)
		}
		helloChallenge(mod) // a new session forgets the verification
		if mod.Verified() {
			t.Fatal("still verified after a new hello")
		}
	})
}

func TestModuleRefusesOthers(t *testing.T) {
	mod := newTestModule(t)
	other := testDevice
	other[1] ^= 4
	for name, env := range map[string][]byte{
		"other device":      mustSeal(t, mustKey(t, other, 1, testMaster), Downlink, 1, TextMessage("x")),
		"other key version": mustSeal(t, mustKey(t, testDevice, 2, testMaster), Downlink, 1, TextMessage("x")),
	} {
		if _, err := mod.Open(env); !errors.Is(err, ErrKeyMismatch) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := mod.SealCommand(""); !errors.Is(err, ErrMalformed) {
		t.Errorf("empty command: %v", err)
	}
	if up, _ := mod.Counters(); up != 0 {
		t.Errorf("a refused command spent counter %d", up)
	}
	if _, err := mod.Report(testNonce[:3], testParts...); !errors.Is(err, ErrMalformed) {
		t.Errorf("short nonce: %v", err)
	}
	if _, err := mod.Report(testNonce); !errors.Is(err, ErrMalformed) {
		t.Errorf("no components: %v", err)
	}
}

func TestModuleCounters(t *testing.T) {
	// Restored counters carry on; an exhausted counter refuses.
	mod, err := NewModule(ModuleConfig{
		DeviceID: testDevice, KeyVersion: 1, MasterKey: testMaster,
		Platform: testPlatform.Public().(ed25519.PublicKey),
		Uplink:   math.MaxUint64 - 1, Downlink: 77,
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := mod.SealCommand("BAL")
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := Parse(env); h.Counter != math.MaxUint64 {
		t.Fatalf("counter %d", h.Counter)
	}
	if _, err := mod.SealCommand("BAL"); !errors.Is(err, ErrCounter) {
		t.Fatalf("exhausted: %v", err)
	}
	if _, err := mod.Open(mustSeal(t, testKey(t), Downlink, 77, TextMessage("x"))); !errors.Is(err, ErrReplay) {
		t.Fatalf("restored downlink counter not honoured: %v", err)
	}

	// Deterministic: the same inputs and random stream give the same bytes.
	a, b := newTestModule(t), newTestModule(t)
	ha, _ := a.Hello()
	hb, _ := b.Hello()
	ca, _ := a.SealCommand("BAL")
	cb, _ := b.SealCommand("BAL")
	if !bytes.Equal(ha, hb) || !bytes.Equal(ca, cb) {
		t.Fatal("two identical modules sealed different bytes")
	}
	if mod.DeviceID() != testDevice || mod.KeyVersion() != 1 {
		t.Fatal("identity")
	}
}

func TestNewModuleRefuses(t *testing.T) {
	pub := testPlatform.Public().(ed25519.PublicKey)
	for name, c := range map[string]ModuleConfig{
		"no master key":      {DeviceID: testDevice, KeyVersion: 1, Platform: pub},
		"key version 0":      {DeviceID: testDevice, MasterKey: testMaster, Platform: pub},
		"no platform key":    {DeviceID: testDevice, KeyVersion: 1, MasterKey: testMaster},
		"short platform key": {DeviceID: testDevice, KeyVersion: 1, MasterKey: testMaster, Platform: pub[:16]},
	} {
		if _, err := NewModule(c); !errors.Is(err, ErrKey) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
