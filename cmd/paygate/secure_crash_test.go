package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/internal/crashpoint"
	"github.com/paygate/paygate/store"
)

// TestCrashEnvelopeNoReplayWindow is SPEC §9's "the counter is stored in
// the same transaction that accepts the command" under SIGKILL: a child
// dies at each crash point around a sealed SEND — after reading it,
// after the envelope authenticated and its counter was written but
// before the commit, after the commit but before the SMSC's ack. The
// SMSC delivers it again to the next child. Each time the SEND is acted
// on exactly once, and the same envelope sent again afterwards is
// refused: no crash opens a window in which one envelope acts twice.
func TestCrashEnvelopeNoReplayWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	w := newTxWorld(t, 1)
	payer, payee := w.phones[0], w.phones[1]
	must(t, os.WriteFile(filepath.Join(w.dir, "platform.key"), []byte(strings.Repeat("7c", 32)+"\n"), 0o600))
	app := []envelope.Component{{Name: "app", Data: []byte("crash test client")}}
	good, err := envelope.Measure(app...)
	must(t, err)
	cfg, err := os.ReadFile(w.cfgFile)
	must(t, err)
	must(t, os.WriteFile(w.cfgFile, append(cfg, []byte("secure: { envelopes: required, allow: [{ measurement: \""+good.String()+"\", label: crash }] }\n"+
		// No duplicate check to lean on: a redelivery is a new MO, and
		// only the envelope's counter keeps it from acting twice.
		"dedupe_window: 1ms\n")...), 0o600))

	first := w.start()
	w.link()
	first.term(t)
	// The device, issued to the payer as the admin API would.
	md := issueCrashDevice(t, w, flows.MSISDN(payer))

	// Session start over SMPP: the platform's proof, a good report.
	c := w.start()
	ctx := context.Background()
	send := func(b []byte) {
		w.text(payer, envelope.EncodeText(b))
	}
	// next opens the sealed texts to the payer from the from-th until
	// one contains want; it returns it and where the next starts.
	next := func(t *testing.T, from int, want string) (envelope.Message, int) {
		t.Helper()
		for {
			raw, i, ok := w.await(ctx, payer, from, 20*time.Second, func(s string) bool { return envelope.IsText(s) })
			if !ok {
				t.Fatalf("no sealed text with %q", want)
			}
			b, err := envelope.DecodeText(raw)
			must(t, err)
			m, err := md.Open(b)
			if err != nil {
				t.Fatalf("a sealed text does not verify: %v", err)
			}
			if from = i + 1; strings.Contains(m.Text, want) || m.Kind != envelope.KindText {
				return m, from
			}
		}
	}
	n := w.received(payer)
	hello, err := md.Hello()
	must(t, err)
	send(hello)
	proof, n := next(t, n, "")
	report, err := md.Report(proof.Nonce, app...)
	must(t, err)
	send(report)
	if m, _ := next(t, n, "Payments are"); !strings.Contains(m.Text, "Payments are on") {
		t.Fatalf("after the report: %q", m.Text)
	}
	c.term(t)

	for i, point := range []string{crashpoint.AfterMORead, crashpoint.EnvelopeAccepted, crashpoint.AfterInboxCommit} {
		t.Run(point, func(t *testing.T) {
			amount := []string{"1.11", "2.22", "3.33"}[i]
			env, err := md.SealCommand("SEND " + strings.TrimPrefix(payee, "+86") + " " + amount)
			must(t, err)
			n := w.received(payer)
			crashing := w.start("PAYGATE_CRASH_AT=" + point)
			send(env)
			select {
			case <-crashing.done:
			case <-time.After(30 * time.Second):
				t.Fatal("the crash point was not hit")
			}
			if !killed(crashing) {
				t.Fatalf("the child ended but was not killed: %v", crashing.cmd.ProcessState)
			}
			c := w.start() // the SMSC delivers the SEND again
			_, n2 := next(t, n, "Send "+amount+" CNY")
			// The same envelope again: its counter is used, so it is
			// refused (the notice goes once a minute at most).
			send(env)
			time.Sleep(time.Second)
			for _, s := range w.sim.ReceivedTexts(strings.TrimPrefix(payer, "+"))[n2:] {
				b, err := envelope.DecodeText(s)
				must(t, err)
				if m, err := md.Open(b); err != nil || !strings.Contains(m.Text, "A secure message from this phone was refused") {
					t.Fatalf("after the replay: %q, %v", m.Text, err)
				}
			}
			c.term(t)
			if got := countTransfers(t, w, amount); got != 1 {
				t.Fatalf("%d transfers of %s, want 1", got, amount)
			}
		})
	}
}

// issueCrashDevice issues a device enrolled to phone in the stopped
// gateway's database and returns its module.
func issueCrashDevice(t *testing.T, w *txWorld, phone flows.MSISDN) *envelope.Module {
	t.Helper()
	ctx := context.Background()
	db := openCrashDB(t, w)
	defer db.Close()
	var p store.Personalisation
	must(t, db.Step(ctx, func(tx *store.Tx) error {
		var err error
		p, err = tx.IssueDevice(ctx, phone, time.Now())
		return err
	}))
	seed, err := hex.DecodeString(strings.Repeat("7c", 32))
	must(t, err)
	md, err := envelope.NewModule(envelope.ModuleConfig{DeviceID: p.Device, KeyVersion: p.Version, MasterKey: p.Master,
		Platform: ed25519Public(seed)})
	must(t, err)
	return md
}

// countTransfers counts the transfers of amount in the stopped gateway's
// database.
func countTransfers(t *testing.T, w *txWorld, amount string) int {
	t.Helper()
	a, err := flows.ParseAmount(amount)
	must(t, err)
	db := openCrashDB(t, w)
	defer db.Close()
	all, err := db.Transfers(context.Background(), store.TransferFilter{})
	must(t, err)
	n := 0
	for _, tr := range all {
		if tr.Amount == a {
			n++
		}
	}
	return n
}

func openCrashDB(t *testing.T, w *txWorld) *store.DB {
	t.Helper()
	var key [32]byte
	_, err := hex.Decode(key[:], []byte(crashDataKy))
	must(t, err)
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(w.dir, "paygate.db"), store.Options{Keys: store.Keys{DataKey: key}})
	must(t, err)
	return db
}

// ed25519Public is the public key of the platform key file's seed.
func ed25519Public(seed []byte) ed25519.PublicKey {
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}
