package store_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// Security modules in the store (SPEC §9), on both dialects.

const (
	devPhone  flows.MSISDN = "+8613800138000"
	devPhone2 flows.MSISDN = "+8613900139000"
)

// devAt is a time as the store keeps it (microseconds).
func devAt() time.Time { return time.UnixMicro(time.Now().UnixMicro()) }

func issue(t *testing.T, db *store.DB, phone flows.MSISDN, at time.Time) store.Personalisation {
	t.Helper()
	var p store.Personalisation
	step(t, db, func(tx *store.Tx) error {
		var err error
		p, err = tx.IssueDevice(ctx, phone, at)
		return err
	})
	if len(p.Master) != envelope.MasterKeySize || p.Version != 1 || p.Phone != phone || p.Device == (envelope.DeviceID{}) {
		t.Fatalf("personalisation %+v", p)
	}
	return p
}

func device(t *testing.T, db *store.DB, id string) store.DeviceView {
	t.Helper()
	v, err := db.Device(ctx, id)
	if err != nil {
		t.Fatalf("Device(%s): %v", id, err)
	}
	return v
}

// keyStates are a device's key versions' states, in version order.
func keyStates(v store.DeviceView) string {
	var s []string
	for _, k := range v.Keys {
		s = append(s, string(rune('0'+k.Version))+":"+k.State)
	}
	return strings.Join(s, " ")
}

// module is the phone side personalised with p.
func module(t *testing.T, p store.Personalisation) *envelope.Module {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	m, err := envelope.NewModule(envelope.ModuleConfig{DeviceID: p.Device, KeyVersion: p.Version, MasterKey: p.Master, Platform: pub})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func enrolDevice(db *store.DB, id string, phone flows.MSISDN, at time.Time) error {
	return db.Step(ctx, func(tx *store.Tx) error { return tx.EnrolDevice(ctx, id, phone, at) })
}

func saveSubscriber(t *testing.T, db *store.DB, phone flows.MSISDN) {
	t.Helper()
	step(t, db, func(tx *store.Tx) error {
		return tx.SaveSubscriber(ctx, flows.Subscriber{Phone: phone, Created: devAt()})
	})
}

func subscriberDevice(t *testing.T, db *store.DB, phone flows.MSISDN) *flows.Device {
	t.Helper()
	var s flows.Subscriber
	step(t, db, func(tx *store.Tx) error {
		var err error
		s, err = tx.Subscriber(ctx, phone)
		return err
	})
	return s.Device
}

func TestIssueDevice(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		at := devAt()
		// Unbound: issued, waiting for the module to enrol itself.
		free := issue(t, db, "", at)
		if free.State != store.DeviceIssued {
			t.Fatalf("unbound device state %q", free.State)
		}
		v := device(t, db, free.Device.String())
		if v.ID != free.Device.String() || v.Phone != "" || v.State != store.DeviceIssued || v.Trust != flows.TrustNone ||
			!v.Created.Equal(at) || !v.Enrolled.IsZero() || !v.Revoked.IsZero() || keyStates(v) != "1:active" {
			t.Fatalf("unbound device %+v", v)
		}
		// Bound: active at once.
		first := issue(t, db, devPhone, at)
		if first.State != store.DeviceActive {
			t.Fatalf("bound device state %q", first.State)
		}
		v = device(t, db, first.Device.String())
		if v.Phone != devPhone || v.State != store.DeviceActive || v.Trust != flows.TrustNone || !v.Enrolled.Equal(at) || keyStates(v) != "1:active" {
			t.Fatalf("bound device %+v", v)
		}
		if id, err := db.PhoneDevice(ctx, devPhone); err != nil || id != first.Device.String() {
			t.Fatalf("PhoneDevice = %q, %v", id, err)
		}
		// The device id is looked up in either case.
		if v, err := db.Device(ctx, strings.ToUpper(first.Device.String())); err != nil || v.ID != first.Device.String() {
			t.Fatalf("Device(upper case) = %+v, %v", v, err)
		}
		// A second bound device revokes the first.
		later := at.Add(time.Minute)
		second := issue(t, db, devPhone, later)
		if second.Device == first.Device || bytes.Equal(second.Master, first.Master) {
			t.Fatal("two issues gave the same id or key")
		}
		v = device(t, db, first.Device.String())
		if v.State != store.DeviceRevoked || !v.Revoked.Equal(later) || keyStates(v) != "1:revoked" {
			t.Fatalf("first device after the second was issued: %+v", v)
		}
		if id, err := db.PhoneDevice(ctx, devPhone); err != nil || id != second.Device.String() {
			t.Fatalf("PhoneDevice = %q, %v; want the second", id, err)
		}
		// Another phone's device is untouched; the unbound one too.
		other := issue(t, db, devPhone2, later)
		if v := device(t, db, second.Device.String()); v.State != store.DeviceActive {
			t.Fatalf("another phone's issue revoked %+v", v)
		}
		if v := device(t, db, free.Device.String()); v.State != store.DeviceIssued {
			t.Fatalf("unbound device %+v", v)
		}
		if id, err := db.PhoneDevice(ctx, devPhone2); err != nil || id != other.Device.String() {
			t.Fatalf("PhoneDevice(2) = %q, %v", id, err)
		}
		if _, err := db.PhoneDevice(ctx, "+8613700137000"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("PhoneDevice of a phone with none: %v", err)
		}
		if _, err := db.Device(ctx, "00000000000000aa"); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("Device of an unknown id: %v", err)
		}
	})
}

// At most one active device per phone: the schema refuses a second.
func TestOneActiveDevicePerPhone(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		first := issue(t, db.DB, devPhone, devAt())
		second := issue(t, db.DB, devPhone, devAt())
		w := writable(t, db)
		if _, err := w.Exec(w.Rebind(`UPDATE devices SET state = 'active' WHERE id = ?`), first.Device.String()); err == nil {
			t.Fatal("a second active device for one phone was accepted")
		}
		var n int
		if err := db.raw.Get(&n, db.raw.Rebind(`SELECT COUNT(*) FROM devices WHERE phone = ? AND state = 'active'`), string(devPhone)); err != nil || n != 1 {
			t.Fatalf("%d active devices, %v", n, err)
		}
		// Enrolling an issued device to the phone revokes its active one.
		free := issue(t, db.DB, "", devAt())
		if err := enrolDevice(db.DB, free.Device.String(), devPhone, devAt()); err != nil {
			t.Fatal(err)
		}
		if v := device(t, db.DB, second.Device.String()); v.State != store.DeviceRevoked || keyStates(v) != "1:revoked" {
			t.Fatalf("the phone's earlier device after an enrolment: %+v", v)
		}
		if id, _ := db.PhoneDevice(ctx, devPhone); id != free.Device.String() {
			t.Fatalf("PhoneDevice = %q, want the enrolled one", id)
		}
	})
}

func TestEnrolDevice(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		at := devAt()
		p := issue(t, db, "", at)
		id := p.Device.String()
		enrolled := at.Add(time.Hour)
		if err := enrolDevice(db, id, devPhone, enrolled); err != nil {
			t.Fatal(err)
		}
		v := device(t, db, id)
		if v.State != store.DeviceActive || v.Phone != devPhone || v.Trust != flows.TrustNone || !v.Enrolled.Equal(enrolled) || !v.Created.Equal(at) {
			t.Fatalf("enrolled device %+v", v)
		}
		if got, err := db.PhoneDevice(ctx, devPhone); err != nil || got != id {
			t.Fatalf("PhoneDevice = %q, %v", got, err)
		}
		// Enrolled already: to the same phone or another.
		if err := enrolDevice(db, id, devPhone, enrolled); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("enrolled twice: %v", err)
		}
		if err := enrolDevice(db, id, devPhone2, enrolled); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("enrolled to another phone: %v", err)
		}
		if v := device(t, db, id); v.Phone != devPhone || v.State != store.DeviceActive {
			t.Fatalf("after refused enrolments: %+v", v)
		}
		// Revoked before it was enrolled.
		gone := issue(t, db, "", at)
		step(t, db, func(tx *store.Tx) error { return tx.RevokeDevice(ctx, gone.Device.String(), 0, at) })
		if err := enrolDevice(db, gone.Device.String(), devPhone2, enrolled); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("a revoked device enrolled: %v", err)
		}
		if v := device(t, db, gone.Device.String()); v.State != store.DeviceRevoked || v.Phone != "" {
			t.Fatalf("revoked device after a refused enrolment: %+v", v)
		}
		// Unknown.
		if err := enrolDevice(db, "0011223344556677", devPhone2, enrolled); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("an unknown device enrolled: %v", err)
		}
		if _, err := db.PhoneDevice(ctx, devPhone2); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("phone 2 has a device after refused enrolments: %v", err)
		}
	})
}

// The master key is stored sealed: neither the column nor the database
// file holds it, in binary or hex, and rotated keys neither.
func TestDeviceMasterKeySealed(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		p := issue(t, db.DB, devPhone, devAt())
		q := issue(t, db.DB, "", devAt())
		var r store.Personalisation
		step(t, db.DB, func(tx *store.Tx) error {
			var err error
			r, err = tx.RotateDevice(ctx, p.Device.String(), devAt())
			return err
		})
		masters := [][]byte{p.Master, q.Master, r.Master}
		var cols [][]byte
		if err := db.raw.Select(&cols, `SELECT master FROM device_keys`); err != nil {
			t.Fatal(err)
		}
		if len(cols) != 3 {
			t.Fatalf("%d device keys, want 3", len(cols))
		}
		for _, col := range cols {
			if len(col) <= envelope.MasterKeySize {
				t.Errorf("master column of %d octets: not sealed", len(col))
			}
			for _, m := range masters {
				if bytes.Contains(col, m) || bytes.Contains(col, []byte(hex.EncodeToString(m))) || bytes.Contains(col, m[:16]) {
					t.Errorf("a master key is in clear in device_keys.master")
				}
			}
		}
		var canaries []string
		for _, m := range masters {
			canaries = append(canaries, string(m), hex.EncodeToString(m), strings.ToUpper(hex.EncodeToString(m)), string(m[:12]))
		}
		if db.path != "" {
			searchFiles(t, db.path, canaries)
			return
		}
		for _, table := range []string{"devices", "device_keys"} {
			var rows []string
			if err := db.raw.Select(&rows, `SELECT t::text FROM `+table+` t`); err != nil {
				t.Fatal(err)
			}
			for _, row := range rows {
				for _, m := range masters {
					if strings.Contains(strings.ToLower(row), hex.EncodeToString(m)) {
						t.Errorf("a master key is in clear in %s: %s", table, row)
					}
				}
			}
		}
	})
}

func TestUplinkKey(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		p := issue(t, db, devPhone, devAt())
		m := module(t, p)
		env, err := m.SealCommand("SEND 13900139000 500")
		if err != nil {
			t.Fatal(err)
		}
		var uk store.UplinkKey
		step(t, db, func(tx *store.Tx) error {
			var err error
			uk, err = tx.UplinkKey(ctx, p.Device, 1)
			return err
		})
		if uk.Device != p.Device.String() || uk.Phone != devPhone || uk.State != store.DeviceActive || uk.KeyState != store.DeviceActive ||
			uk.Trust != flows.TrustNone || uk.Last != 0 || uk.Key.DeviceID() != p.Device || uk.Key.Version() != 1 {
			t.Fatalf("uplink key %+v", uk)
		}
		h, msg, err := envelope.Receive(uk.Key, envelope.Uplink, uk.Last, env)
		if err != nil || h.Counter != 1 || msg.Kind != envelope.KindText || msg.Text != "SEND 13900139000 500" {
			t.Fatalf("opened %+v %+v, %v", h, msg, err)
		}
		// Another device's module does not open under it.
		q := issue(t, db, "", devAt())
		qm := module(t, q)
		qenv, _ := qm.SealCommand("BAL")
		if _, _, err := envelope.OpenMessage(uk.Key, envelope.Uplink, qenv); err == nil {
			t.Fatal("another device's envelope opened")
		}
		// The issued one's key, with its state.
		step(t, db, func(tx *store.Tx) error {
			var err error
			uk, err = tx.UplinkKey(ctx, q.Device, 1)
			return err
		})
		if uk.State != store.DeviceIssued || uk.Phone != "" {
			t.Fatalf("issued device's key %+v", uk)
		}
		if _, msg, err := envelope.Receive(uk.Key, envelope.Uplink, uk.Last, qenv); err != nil || msg.Text != "BAL" {
			t.Fatalf("issued device's envelope: %+v %v", msg, err)
		}
		for _, c := range []struct {
			id      envelope.DeviceID
			version uint8
		}{{p.Device, 2}, {p.Device, 0}, {envelope.DeviceID{1, 2, 3}, 1}} {
			err := db.Step(ctx, func(tx *store.Tx) error {
				_, err := tx.UplinkKey(ctx, c.id, c.version)
				return err
			})
			if !errors.Is(err, flows.ErrNotFound) {
				t.Errorf("UplinkKey(%s, %d) = %v, want ErrNotFound", c.id, c.version, err)
			}
		}
	})
}

func accept(db *store.DB, id envelope.DeviceID, version uint8, counter uint64) error {
	return db.Step(ctx, func(tx *store.Tx) error { return tx.AcceptUplink(ctx, id, version, counter, devAt()) })
}

func uplinkLast(t *testing.T, db *store.DB, id envelope.DeviceID, version uint8) uint64 {
	t.Helper()
	var uk store.UplinkKey
	step(t, db, func(tx *store.Tx) error {
		var err error
		uk, err = tx.UplinkKey(ctx, id, version)
		return err
	})
	return uk.Last
}

func TestAcceptUplink(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		p := issue(t, db, devPhone, devAt())
		if err := accept(db, p.Device, 1, 5); err != nil {
			t.Fatal(err)
		}
		if last := uplinkLast(t, db, p.Device, 1); last != 5 {
			t.Fatalf("last %d, want 5", last)
		}
		for _, c := range []uint64{5, 4, 1, 0} {
			if err := accept(db, p.Device, 1, c); !errors.Is(err, store.ErrReplay) {
				t.Fatalf("counter %d after 5: %v, want ErrReplay", c, err)
			}
		}
		if err := accept(db, p.Device, 1, 1<<63); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("counter 2^63: %v", err)
		}
		if err := accept(db, p.Device, 1, 6); err != nil {
			t.Fatal(err)
		}
		if err := accept(db, p.Device, 1, 1000); err != nil { // gaps are fine
			t.Fatal(err)
		}
		if last := uplinkLast(t, db, p.Device, 1); last != 1000 {
			t.Fatalf("last %d, want 1000", last)
		}
		if v := device(t, db, p.Device.String()); len(v.Keys) != 1 || v.Keys[0].Uplink != 1000 || v.Keys[0].Downlink != 0 {
			t.Fatalf("keys %+v", v.Keys)
		}
		// The counter moves with the step: a step that fails after it
		// leaves it where it was.
		err := db.Step(ctx, func(tx *store.Tx) error {
			if err := tx.AcceptUplink(ctx, p.Device, 1, 2000, devAt()); err != nil {
				return err
			}
			return errors.New("the step fails later")
		})
		if err == nil || uplinkLast(t, db, p.Device, 1) != 1000 {
			t.Fatalf("a rolled-back step moved the counter: %v", err)
		}
		if err := accept(db, p.Device, 1, 2000); err != nil {
			t.Fatal(err)
		}
		// Unknown device or version: nothing to move.
		if err := accept(db, p.Device, 9, 1); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("unknown version: %v", err)
		}

		// Rotation: version 1 stays until the module first uses 2.
		rotated := devAt()
		var r store.Personalisation
		step(t, db, func(tx *store.Tx) error {
			var err error
			r, err = tx.RotateDevice(ctx, p.Device.String(), rotated)
			return err
		})
		if r.Version != 2 || r.Device != p.Device || r.Phone != devPhone || r.State != store.DeviceActive || bytes.Equal(r.Master, p.Master) {
			t.Fatalf("rotation %+v", r)
		}
		if v := device(t, db, p.Device.String()); keyStates(v) != "1:active 2:active" {
			t.Fatalf("after rotation: %s", keyStates(v))
		}
		if err := accept(db, p.Device, 1, 2001); err != nil {
			t.Fatalf("version 1 after rotation, before version 2 was used: %v", err)
		}
		if v := device(t, db, p.Device.String()); keyStates(v) != "1:active 2:active" {
			t.Fatalf("using version 1 retired something: %s", keyStates(v))
		}
		// Version 2's module seals; its key opens it; its counter starts at 0.
		m2 := module(t, r)
		env, _ := m2.SealCommand("BAL")
		var uk store.UplinkKey
		step(t, db, func(tx *store.Tx) error {
			var err error
			uk, err = tx.UplinkKey(ctx, p.Device, 2)
			return err
		})
		h, msg, err := envelope.Receive(uk.Key, envelope.Uplink, uk.Last, env)
		if err != nil || msg.Text != "BAL" || h.KeyVersion != 2 {
			t.Fatalf("version 2 envelope: %+v %v", msg, err)
		}
		if err := accept(db, p.Device, 2, h.Counter); err != nil {
			t.Fatal(err)
		}
		v := device(t, db, p.Device.String())
		if keyStates(v) != "1:revoked 2:active" || v.State != store.DeviceActive || v.Keys[1].Uplink != 1 || v.Keys[0].Uplink != 2001 {
			t.Fatalf("after the first version 2 envelope: %s %+v", keyStates(v), v)
		}
		step(t, db, func(tx *store.Tx) error {
			var err error
			uk, err = tx.UplinkKey(ctx, p.Device, 1)
			return err
		})
		if uk.KeyState != store.DeviceRevoked || uk.State != store.DeviceActive {
			t.Fatalf("version 1 after retirement: key %s, device %s", uk.KeyState, uk.State)
		}
		// Rotation of an unknown device (a revoked one: TestRevokeDevice).
		err = db.Step(ctx, func(tx *store.Tx) error { _, err := tx.RotateDevice(ctx, "0011223344556677", devAt()); return err })
		if !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("RotateDevice of an unknown device: %v", err)
		}
	})
}

// mts returns phone's MTs, oldest first.
func mts(t *testing.T, db *store.DB, phone flows.MSISDN) []store.MTState {
	t.Helper()
	rows, err := db.MTs(ctx, phone)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// openMT opens an MT body as the module does and returns its header and
// text.
func openMT(t *testing.T, m *envelope.Module, body string) (envelope.Header, string) {
	t.Helper()
	if !envelope.IsText(body) {
		t.Fatalf("MT %q is not a text-carried envelope", body)
	}
	b, err := envelope.DecodeText(body)
	if err != nil {
		t.Fatal(err)
	}
	h, err := envelope.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := m.Open(b)
	if err != nil {
		t.Fatalf("the module does not open the MT (version %d, counter %d): %v", h.KeyVersion, h.Counter, err)
	}
	if msg.Kind != envelope.KindText {
		t.Fatalf("MT message %+v", msg)
	}
	return h, msg.Text
}

func TestQueueSMSSealsForDevice(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		p := issue(t, db, devPhone, devAt())
		m := module(t, p)
		queue(t, db, devPhone, "Your balance is 1234.56 CNY.", false)
		step(t, db, func(tx *store.Tx) error {
			if err := tx.QueueSMS(ctx, flows.OutSMS{To: devPhone, From: "3030", Text: "second"}); err != nil {
				return err
			}
			// A code: sensitive, but the envelope needs no sealing at rest.
			return tx.QueueSMS(ctx, flows.OutSMS{To: devPhone, From: "3030", Text: "paygate code 482915", Sensitive: true})
		})
		queue(t, db, devPhone2, "in clear", false) // no device
		rows := mts(t, db, devPhone)
		if len(rows) != 3 {
			t.Fatalf("%d MTs", len(rows))
		}
		want := []string{"Your balance is 1234.56 CNY.", "second", "paygate code 482915"}
		for i, r := range rows {
			if r.Sealed || strings.Contains(r.Body, want[i]) || strings.Contains(r.Body, "482915") {
				t.Fatalf("MT %d stored %+v", i, r)
			}
			h, text := openMT(t, m, r.Body)
			if text != want[i] || h.Counter != uint64(i+1) || h.KeyVersion != 1 || h.DeviceID != p.Device {
				t.Fatalf("MT %d: %q under counter %d, want %q under %d", i, text, h.Counter, want[i], i+1)
			}
		}
		if _, down := m.Counters(); down != 3 {
			t.Fatalf("module downlink counter %d", down)
		}
		if v := device(t, db, p.Device.String()); v.Keys[0].Downlink != 3 || v.Keys[0].Uplink != 0 {
			t.Fatalf("key counters %+v", v.Keys[0])
		}
		if rows := mts(t, db, devPhone2); len(rows) != 1 || rows[0].Body != "in clear" {
			t.Fatalf("MT to a phone without a device: %+v", rows)
		}
		// A failed step spends no counter.
		err := db.Step(ctx, func(tx *store.Tx) error {
			if err := tx.QueueSMS(ctx, flows.OutSMS{To: devPhone, From: "3030", Text: "rolled back"}); err != nil {
				return err
			}
			return errors.New("the step fails")
		})
		if err == nil {
			t.Fatal("the step did not fail")
		}
		queue(t, db, devPhone, "fourth", false)
		rows = mts(t, db, devPhone)
		if h, text := openMT(t, m, rows[len(rows)-1].Body); len(rows) != 4 || text != "fourth" || h.Counter != 4 {
			t.Fatalf("after a rolled-back step: %d MTs, %q under %d", len(rows), text, h.Counter)
		}
		// QueueMessage: the same envelope, any message kind; ErrNotFound
		// for a phone with no device.
		step(t, db, func(tx *store.Tx) error {
			return tx.QueueMessage(ctx, devPhone, "3030", "carrier-a", envelope.NonceMessage(bytes.Repeat([]byte{7}, envelope.NonceSize)))
		})
		rows = mts(t, db, devPhone)
		b, _ := envelope.DecodeText(rows[len(rows)-1].Body)
		msg, err := m.Open(b)
		if err != nil || msg.Kind != envelope.KindNonce || !bytes.Equal(msg.Nonce, bytes.Repeat([]byte{7}, envelope.NonceSize)) {
			t.Fatalf("queued message %+v, %v", msg, err)
		}
		if _, down := m.Counters(); down != 5 {
			t.Fatalf("module downlink counter %d, want 5", down)
		}
		err = db.Step(ctx, func(tx *store.Tx) error {
			return tx.QueueMessage(ctx, devPhone2, "3030", "", envelope.NonceMessage(bytes.Repeat([]byte{7}, envelope.NonceSize)))
		})
		if !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("QueueMessage to a phone with no device: %v", err)
		}
	})
}

// sealedVersion queues a text to phone and returns the key version its
// envelope is under.
func sealedVersion(t *testing.T, db *store.DB, phone flows.MSISDN) envelope.Header {
	t.Helper()
	queue(t, db, phone, "hello", false)
	rows := mts(t, db, phone)
	b, err := envelope.DecodeText(rows[len(rows)-1].Body)
	if err != nil {
		t.Fatalf("MT %q: %v", rows[len(rows)-1].Body, err)
	}
	h, err := envelope.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// sealFor's choice of key: the newest version the module has used, else
// the oldest active one (a rotated key the module may not have yet is
// not used before it shows it has it).
func TestSealForKeyVersion(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		p := issue(t, db.DB, devPhone, devAt())
		id := p.Device.String()
		rotate := func() store.Personalisation {
			var r store.Personalisation
			step(t, db.DB, func(tx *store.Tx) error {
				var err error
				r, err = tx.RotateDevice(ctx, id, devAt())
				return err
			})
			return r
		}
		if h := sealedVersion(t, db.DB, devPhone); h.KeyVersion != 1 || h.Counter != 1 {
			t.Fatalf("one key: version %d counter %d", h.KeyVersion, h.Counter)
		}
		rotate()
		r3 := rotate()
		if h := sealedVersion(t, db.DB, devPhone); h.KeyVersion != 1 || h.Counter != 2 {
			t.Fatalf("three unused keys: version %d counter %d, want the oldest, 1", h.KeyVersion, h.Counter)
		}
		if err := accept(db.DB, p.Device, 1, 1); err != nil {
			t.Fatal(err)
		}
		if h := sealedVersion(t, db.DB, devPhone); h.KeyVersion != 1 {
			t.Fatalf("version 1 used, 2 and 3 not: version %d", h.KeyVersion)
		}
		if err := accept(db.DB, p.Device, 2, 1); err != nil { // retires 1
			t.Fatal(err)
		}
		if h := sealedVersion(t, db.DB, devPhone); h.KeyVersion != 2 || h.Counter != 1 {
			t.Fatalf("version 2 used, 3 not: version %d counter %d", h.KeyVersion, h.Counter)
		}
		// Two used versions both active (an operator restored one): the
		// newest used wins over the oldest.
		w := writable(t, db)
		if _, err := w.Exec(w.Rebind(`UPDATE device_keys SET state = 'active' WHERE device_id = ? AND key_version = 1`), id); err != nil {
			t.Fatal(err)
		}
		if h := sealedVersion(t, db.DB, devPhone); h.KeyVersion != 2 || h.Counter != 2 {
			t.Fatalf("versions 1 and 2 used: version %d counter %d, want 2", h.KeyVersion, h.Counter)
		}
		// The version 3 module opens once it is used.
		if err := accept(db.DB, p.Device, 3, 1); err != nil {
			t.Fatal(err)
		}
		m3 := module(t, r3)
		queue(t, db.DB, devPhone, "on version 3", false)
		rows := mts(t, db.DB, devPhone)
		if h, text := openMT(t, m3, rows[len(rows)-1].Body); h.KeyVersion != 3 || text != "on version 3" || h.Counter != 1 {
			t.Fatalf("version 3: %+v %q", h, text)
		}
		if v := device(t, db.DB, id); keyStates(v) != "1:revoked 2:revoked 3:active" {
			t.Fatalf("keys %s", keyStates(v))
		}
	})
}

func TestRevokeDevice(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		saveSubscriber(t, db, devPhone)
		p := issue(t, db, devPhone, devAt())
		id := p.Device.String()
		if d := subscriberDevice(t, db, devPhone); d == nil || d.ID != id || d.Trust != flows.TrustNone {
			t.Fatalf("subscriber device %+v", d)
		}
		var r store.Personalisation
		step(t, db, func(tx *store.Tx) error {
			var err error
			r, err = tx.RotateDevice(ctx, id, devAt())
			return err
		})
		// One version: the device stays.
		at := devAt()
		step(t, db, func(tx *store.Tx) error { return tx.RevokeDevice(ctx, id, 1, at) })
		v := device(t, db, id)
		if keyStates(v) != "1:revoked 2:active" || v.State != store.DeviceActive || !v.Revoked.IsZero() {
			t.Fatalf("after revoking version 1: %s %+v", keyStates(v), v)
		}
		var uk store.UplinkKey
		step(t, db, func(tx *store.Tx) error {
			var err error
			uk, err = tx.UplinkKey(ctx, p.Device, 1)
			return err
		})
		if uk.KeyState != store.DeviceRevoked {
			t.Fatalf("version 1 key state %q", uk.KeyState)
		}
		// Replies now go under version 2.
		m2 := module(t, r)
		queue(t, db, devPhone, "after revoking 1", false)
		rows := mts(t, db, devPhone)
		if h, text := openMT(t, m2, rows[len(rows)-1].Body); h.KeyVersion != 2 || text != "after revoking 1" {
			t.Fatalf("%+v %q", h, text)
		}
		// Revoking it again: nothing to revoke.
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.RevokeDevice(ctx, id, 1, at) }); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("revoking a revoked version: %v", err)
		}
		// The last active version: the device goes.
		step(t, db, func(tx *store.Tx) error { return tx.RevokeDevice(ctx, id, 2, at) })
		v = device(t, db, id)
		if keyStates(v) != "1:revoked 2:revoked" || v.State != store.DeviceRevoked || !v.Revoked.Equal(at) {
			t.Fatalf("after revoking the last version: %s %+v", keyStates(v), v)
		}
		if d := subscriberDevice(t, db, devPhone); d != nil {
			t.Fatalf("subscriber device after revocation %+v", d)
		}
		queue(t, db, devPhone, "in clear again", false)
		if rows := mts(t, db, devPhone); rows[len(rows)-1].Body != "in clear again" {
			t.Fatalf("MT after revocation %q", rows[len(rows)-1].Body)
		}

		// All versions at once.
		q := issue(t, db, devPhone, devAt())
		qid := q.Device.String()
		step(t, db, func(tx *store.Tx) error { _, err := tx.RotateDevice(ctx, qid, devAt()); return err })
		if d := subscriberDevice(t, db, devPhone); d == nil || d.ID != qid {
			t.Fatalf("subscriber device %+v", d)
		}
		queue(t, db, devPhone, "sealed", false)
		if rows := mts(t, db, devPhone); !envelope.IsText(rows[len(rows)-1].Body) {
			t.Fatalf("MT to an active device not sealed: %q", rows[len(rows)-1].Body)
		}
		// An attestation out is dropped with the device.
		step(t, db, func(tx *store.Tx) error {
			_, err := tx.StartAttestation(ctx, qid, []byte("0123456789abcdef"), at.Add(time.Minute), at)
			return err
		})
		step(t, db, func(tx *store.Tx) error { return tx.RevokeDevice(ctx, qid, 0, at) })
		v = device(t, db, qid)
		if keyStates(v) != "1:revoked 2:revoked" || v.State != store.DeviceRevoked {
			t.Fatalf("after revoking all: %s %+v", keyStates(v), v)
		}
		if d := subscriberDevice(t, db, devPhone); d != nil {
			t.Fatalf("subscriber device after revoking all %+v", d)
		}
		if _, err := db.PhoneDevice(ctx, devPhone); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("PhoneDevice after revocation: %v", err)
		}
		queue(t, db, devPhone, "plain", false)
		if rows := mts(t, db, devPhone); rows[len(rows)-1].Body != "plain" {
			t.Fatalf("MT after revoking all %q", rows[len(rows)-1].Body)
		}
		err := db.Step(ctx, func(tx *store.Tx) error {
			return tx.QueueMessage(ctx, devPhone, "3030", "", envelope.NonceMessage(make([]byte, envelope.NonceSize)))
		})
		if !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("QueueMessage after revocation: %v", err)
		}
		var nonce []byte
		step(t, db, func(tx *store.Tx) error {
			var err error
			nonce, _, err = tx.AttestationNonce(ctx, qid)
			return err
		})
		if nonce != nil {
			t.Fatalf("nonce kept after revocation: %x", nonce)
		}
		if ids, err := db.OverdueAttestations(ctx, at.Add(time.Hour), 10); err != nil || len(ids) != 0 {
			t.Fatalf("revoked device overdue: %v %v", ids, err)
		}
		for _, version := range []uint8{0, 1} {
			if err := db.Step(ctx, func(tx *store.Tx) error { return tx.RevokeDevice(ctx, qid, version, at) }); !errors.Is(err, flows.ErrNotFound) {
				t.Fatalf("revoking a revoked device (version %d): %v", version, err)
			}
		}
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.RevokeDevice(ctx, "0011223344556677", 0, at) }); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("revoking an unknown device: %v", err)
		}
		if err := db.Step(ctx, func(tx *store.Tx) error { _, err := tx.RotateDevice(ctx, qid, at); return err }); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("rotating a revoked device: %v", err)
		}
	})
}

func TestAttestation(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		saveSubscriber(t, db, devPhone)
		p := issue(t, db, devPhone, devAt())
		id := p.Device.String()
		other := issue(t, db, devPhone2, devAt())
		at := devAt()
		until := at.Add(2 * time.Minute)
		nonce := bytes.Repeat([]byte{0xa5}, envelope.NonceSize)

		var nn []byte
		var nu time.Time
		readNonce := func(id string) {
			t.Helper()
			step(t, db, func(tx *store.Tx) error {
				var err error
				nn, nu, err = tx.AttestationNonce(ctx, id)
				return err
			})
		}
		readNonce(id)
		if nn != nil || !nu.IsZero() {
			t.Fatalf("a nonce before any session: %x %v", nn, nu)
		}
		var from flows.Trust
		step(t, db, func(tx *store.Tx) error {
			var err error
			from, err = tx.StartAttestation(ctx, id, nonce, until, at)
			return err
		})
		if from != flows.TrustNone {
			t.Fatalf("StartAttestation from %q, want none", from)
		}
		readNonce(id)
		if !bytes.Equal(nn, nonce) || !nu.Equal(until) {
			t.Fatalf("nonce %x until %v", nn, nu)
		}
		if d := subscriberDevice(t, db, devPhone); d == nil || d.Trust != flows.TrustPending || d.Why != "" {
			t.Fatalf("device while pending %+v", d)
		}
		// Overdue only once its time is past, and only this one.
		if ids, err := db.OverdueAttestations(ctx, until.Add(-time.Second), 10); err != nil || len(ids) != 0 {
			t.Fatalf("overdue before its time: %v %v", ids, err)
		}
		ids, err := db.OverdueAttestations(ctx, until.Add(time.Second), 10)
		if err != nil || len(ids) != 1 || ids[id] != devPhone {
			t.Fatalf("overdue %v %v", ids, err)
		}
		// A good report.
		const meas = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
		checked := at.Add(time.Minute)
		step(t, db, func(tx *store.Tx) error {
			var err error
			from, err = tx.SetTrust(ctx, id, flows.TrustGood, "", meas, checked)
			return err
		})
		if from != flows.TrustPending {
			t.Fatalf("SetTrust from %q, want pending", from)
		}
		readNonce(id)
		if nn != nil || !nu.IsZero() {
			t.Fatalf("nonce not spent: %x %v", nn, nu)
		}
		if ids, _ := db.OverdueAttestations(ctx, until.Add(time.Hour), 10); len(ids) != 0 {
			t.Fatalf("overdue after a report %v", ids)
		}
		v := device(t, db, id)
		if v.Trust != flows.TrustGood || v.Why != "" || v.Measurement != meas || !v.CheckedAt.Equal(checked) {
			t.Fatalf("device after a good report %+v", v)
		}
		if d := subscriberDevice(t, db, devPhone); d == nil || *d != (flows.Device{ID: id, Trust: flows.TrustGood}) {
			t.Fatalf("subscriber device %+v", d)
		}
		// A failed one: Trust and Why reach the subscriber, spaces and all.
		why := "measurement " + meas + " is not on the allow-list"
		step(t, db, func(tx *store.Tx) error {
			var err error
			from, err = tx.SetTrust(ctx, id, flows.TrustFailed, why, meas, checked)
			return err
		})
		if from != flows.TrustGood {
			t.Fatalf("SetTrust from %q, want good", from)
		}
		if d := subscriberDevice(t, db, devPhone); d == nil || *d != (flows.Device{ID: id, Trust: flows.TrustFailed, Why: why}) {
			t.Fatalf("subscriber device %+v", d)
		}
		// A session again: pending, why cleared.
		step(t, db, func(tx *store.Tx) error {
			var err error
			from, err = tx.StartAttestation(ctx, id, nonce, until.Add(time.Hour), at.Add(time.Hour))
			return err
		})
		if d := subscriberDevice(t, db, devPhone); from != flows.TrustFailed || d == nil || d.Trust != flows.TrustPending || d.Why != "" {
			t.Fatalf("from %q, device %+v", from, d)
		}
		// Missing: the janitor's verdict.
		step(t, db, func(tx *store.Tx) error {
			_, err := tx.SetTrust(ctx, id, flows.TrustMissing, "no integrity report", "", until.Add(2*time.Hour))
			return err
		})
		if d := subscriberDevice(t, db, devPhone); d == nil || d.Trust != flows.TrustMissing || d.Why != "no integrity report" {
			t.Fatalf("device %+v", d)
		}
		// The other phone's device was never touched.
		if v := device(t, db, other.Device.String()); v.Trust != flows.TrustNone || v.Measurement != "" {
			t.Fatalf("other device %+v", v)
		}
		// Several overdue, and the limit.
		step(t, db, func(tx *store.Tx) error {
			if _, err := tx.StartAttestation(ctx, id, nonce, until, at); err != nil {
				return err
			}
			_, err := tx.StartAttestation(ctx, other.Device.String(), nonce, until, at)
			return err
		})
		if ids, err := db.OverdueAttestations(ctx, until.Add(time.Second), 10); err != nil || len(ids) != 2 || ids[other.Device.String()] != devPhone2 {
			t.Fatalf("overdue %v %v", ids, err)
		}
		if ids, err := db.OverdueAttestations(ctx, until.Add(time.Second), 1); err != nil || len(ids) != 1 {
			t.Fatalf("overdue with limit 1: %v %v", ids, err)
		}
		// Unknown devices.
		for name, f := range map[string]func(tx *store.Tx) error{
			"StartAttestation": func(tx *store.Tx) error {
				_, err := tx.StartAttestation(ctx, "0011223344556677", nonce, until, at)
				return err
			},
			"AttestationNonce": func(tx *store.Tx) error { _, _, err := tx.AttestationNonce(ctx, "0011223344556677"); return err },
			"SetTrust": func(tx *store.Tx) error {
				_, err := tx.SetTrust(ctx, "0011223344556677", flows.TrustGood, "", "", at)
				return err
			},
		} {
			if err := db.Step(ctx, f); !errors.Is(err, flows.ErrNotFound) {
				t.Errorf("%s of an unknown device: %v", name, err)
			}
		}
	})
}

func TestMeasurements(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		m1, err := envelope.Measure(envelope.Component{Name: "app", Data: []byte("v1.0")})
		if err != nil {
			t.Fatal(err)
		}
		m2, _ := envelope.Measure(envelope.Component{Name: "app", Data: []byte("v2.0")})
		m3, _ := envelope.Measure(envelope.Component{Name: "app", Data: []byte("v3.0")})
		allowed := func(m envelope.Measurement) (string, bool) {
			t.Helper()
			var label string
			var ok bool
			step(t, db, func(tx *store.Tx) error {
				var err error
				label, ok, err = tx.MeasurementAllowed(ctx, m)
				return err
			})
			return label, ok
		}
		if ms, err := db.Measurements(ctx); err != nil || len(ms) != 0 {
			t.Fatalf("allow-list before any %+v %v", ms, err)
		}
		at := devAt()
		// Upper-case hex is stored as the module reports it: lower case.
		if err := db.AllowMeasurement(ctx, store.Measurement{Measurement: strings.ToUpper(m1.String()), Label: "app 1.0", By: "ops@a", Created: at}); err != nil {
			t.Fatal(err)
		}
		if err := db.AllowMeasurement(ctx, store.Measurement{Measurement: m2.String(), Label: "app 2.0", By: "ops@b", Created: at}); err != nil {
			t.Fatal(err)
		}
		if l, ok := allowed(m1); !ok || l != "app 1.0" {
			t.Fatalf("m1: %q %v", l, ok)
		}
		if l, ok := allowed(m2); !ok || l != "app 2.0" {
			t.Fatalf("m2: %q %v", l, ok)
		}
		if l, ok := allowed(m3); ok || l != "" {
			t.Fatalf("m3 allowed: %q", l)
		}
		// Relabel: one entry, the new label, its first author.
		if err := db.AllowMeasurement(ctx, store.Measurement{Measurement: m1.String(), Label: "app 1.0 (fixed)", By: "ops@c", Created: at.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		ms, err := db.Measurements(ctx)
		if err != nil || len(ms) != 2 {
			t.Fatalf("allow-list %+v %v", ms, err)
		}
		if ms[0].Measurement > ms[1].Measurement {
			t.Fatalf("not in measurement order: %+v", ms)
		}
		byM := map[string]store.Measurement{}
		for _, m := range ms {
			byM[m.Measurement] = m
		}
		if e := byM[m1.String()]; e.Label != "app 1.0 (fixed)" || e.By != "ops@a" || !e.Created.Equal(at) {
			t.Fatalf("relabelled entry %+v", e)
		}
		if e := byM[m2.String()]; e.Label != "app 2.0" || e.By != "ops@b" {
			t.Fatalf("entry %+v", e)
		}
		// Disallow, in either case; a second time: ErrNotFound.
		if err := db.DisallowMeasurement(ctx, strings.ToUpper(m1.String())); err != nil {
			t.Fatal(err)
		}
		if _, ok := allowed(m1); ok {
			t.Fatal("m1 allowed after removal")
		}
		if _, ok := allowed(m2); !ok {
			t.Fatal("removing m1 removed m2")
		}
		if err := db.DisallowMeasurement(ctx, m1.String()); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("removing twice: %v", err)
		}
		if err := db.DisallowMeasurement(ctx, m3.String()); !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("removing one never added: %v", err)
		}
		if ms, _ := db.Measurements(ctx); len(ms) != 1 || ms[0].Measurement != m2.String() {
			t.Fatalf("allow-list %+v", ms)
		}
	})
}
