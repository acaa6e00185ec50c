package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/flows"
)

// Security modules (SPEC §9): devices, their master keys by version, the
// envelope counters, integrity state and the operators' allow-list.
// Master keys are sealed with the data key; counters move only in the
// transaction that accepts or sends an envelope.

// Device states.
const (
	DeviceIssued  = "issued"  // personalised, not yet a phone's
	DeviceActive  = "active"  // a phone's security module
	DeviceRevoked = "revoked" // no longer accepted
)

// ErrReplay is returned when an uplink counter is not above the last
// accepted one (a concurrent step took it first, or a replay).
var ErrReplay = errors.New("store: envelope counter already used")

// Personalisation is what a module is personalised with: its id, key
// version and master key. The master key is shown once, when issued or
// rotated, and never stored in clear.
type Personalisation struct {
	Device  envelope.DeviceID
	Version uint8
	Master  envelope.MasterKey
	Phone   flows.MSISDN // "" when issued for the phone to enrol itself
	State   string
}

// DeviceView is a device as operators see it.
type DeviceView struct {
	ID          string
	Phone       flows.MSISDN
	State       string
	Trust       flows.Trust
	Why         string
	Measurement string
	CheckedAt   time.Time
	Created     time.Time
	Enrolled    time.Time
	Revoked     time.Time
	Keys        []DeviceKeyView
}

// DeviceKeyView is one key version of a device, without the key.
type DeviceKeyView struct {
	Version  uint8
	State    string
	Uplink   uint64 // last uplink counter accepted
	Downlink uint64 // last downlink counter used
	Created  time.Time
}

// UplinkKey is what opening an uplink envelope needs: the device, the key
// of the version the envelope names and the last counter accepted.
type UplinkKey struct {
	Device   string
	Phone    flows.MSISDN
	State    string // of the device
	KeyState string // of the key version
	Trust    flows.Trust
	Key      envelope.DeviceKey
	Last     uint64
}

func deviceAD(id string, version uint8) []byte {
	return []byte(fmt.Sprintf("device\x00%s\x00%d", id, version))
}

// IssueDevice personalises a new device: a random id and master key,
// version 1. With a phone it is enrolled at once (the phone's earlier
// device is revoked); without, it waits for the module to enrol itself
// (flows.Engine.Enrol).
func (tx *Tx) IssueDevice(ctx context.Context, phone flows.MSISDN, at time.Time) (Personalisation, error) {
	var id envelope.DeviceID
	rand.Read(id[:])
	master := make(envelope.MasterKey, envelope.MasterKeySize)
	rand.Read(master)
	p := Personalisation{Device: id, Version: 1, Master: master, Phone: phone, State: DeviceIssued}
	enrolled := int64(0)
	if phone != "" {
		if err := tx.revokePhoneDevice(ctx, phone, at); err != nil {
			return Personalisation{}, err
		}
		p.State, enrolled = DeviceActive, micros(at)
	}
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO devices (id, phone, state, created_at, enrolled_at) VALUES (?, ?, ?, ?, ?)`),
		id.String(), string(phone), p.State, micros(at), enrolled); err != nil {
		return Personalisation{}, fmt.Errorf("store: issuing device: %w", err)
	}
	if err := tx.addDeviceKey(ctx, id.String(), 1, master, at); err != nil {
		return Personalisation{}, err
	}
	return p, nil
}

func (tx *Tx) addDeviceKey(ctx context.Context, id string, version uint8, master envelope.MasterKey, at time.Time) error {
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO device_keys (device_id, key_version, master, state, created_at) VALUES (?, ?, ?, ?, ?)`),
		id, int(version), tx.db.keys.sealBytes(master, deviceAD(id, version)), DeviceActive, micros(at)); err != nil {
		return fmt.Errorf("store: adding a device key: %w", err)
	}
	return nil
}

// revokePhoneDevice revokes phone's active device, if it has one.
func (tx *Tx) revokePhoneDevice(ctx context.Context, phone flows.MSISDN, at time.Time) error {
	var id string
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT id FROM devices WHERE phone = ? AND state = ?`), string(phone), DeviceActive).Scan(&id)
	if isNoRows(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: reading the phone's device: %w", err)
	}
	return tx.RevokeDevice(ctx, id, 0, at)
}

// EnrolDevice implements flows.Tx.
func (tx *Tx) EnrolDevice(ctx context.Context, id string, phone flows.MSISDN, at time.Time) error {
	var state string
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT state FROM devices WHERE id = ?`+tx.db.d.lockRow), id).Scan(&state)
	if isNoRows(err) || (err == nil && state != DeviceIssued) {
		return flows.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("store: enrolling device: %w", err)
	}
	if err := tx.revokePhoneDevice(ctx, phone, at); err != nil {
		return err
	}
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE devices SET phone = ?, state = ?, trust = ?, why = '', enrolled_at = ? WHERE id = ?`),
		string(phone), DeviceActive, string(flows.TrustNone), micros(at), id); err != nil {
		return fmt.Errorf("store: enrolling device: %w", err)
	}
	return nil
}

// RotateDevice adds the next key version of device id and returns its
// personalisation. Earlier versions stay accepted until the module first
// uses the new one (AcceptUplink retires them) or an operator revokes
// them.
func (tx *Tx) RotateDevice(ctx context.Context, id string, at time.Time) (Personalisation, error) {
	var phone, state string
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT phone, state FROM devices WHERE id = ?`+tx.db.d.lockRow), id).Scan(&phone, &state)
	if isNoRows(err) {
		return Personalisation{}, flows.ErrNotFound
	}
	if err != nil {
		return Personalisation{}, fmt.Errorf("store: rotating device: %w", err)
	}
	if state == DeviceRevoked {
		return Personalisation{}, fmt.Errorf("store: device %s is revoked: %w", id, flows.ErrNotFound)
	}
	var top int
	if err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT COALESCE(MAX(key_version), 0) FROM device_keys WHERE device_id = ?`), id).Scan(&top); err != nil {
		return Personalisation{}, fmt.Errorf("store: rotating device: %w", err)
	}
	if top >= 255 {
		return Personalisation{}, fmt.Errorf("store: device %s has used every key version", id)
	}
	did, err := envelope.ParseDeviceID(id)
	if err != nil {
		return Personalisation{}, fmt.Errorf("store: rotating device: %w", err)
	}
	master := make(envelope.MasterKey, envelope.MasterKeySize)
	rand.Read(master)
	if err := tx.addDeviceKey(ctx, id, uint8(top+1), master, at); err != nil {
		return Personalisation{}, err
	}
	return Personalisation{Device: did, Version: uint8(top + 1), Master: master, Phone: flows.MSISDN(phone), State: state}, nil
}

// RevokeDevice revokes key version of device id, or with version 0 the
// device and all its keys: it is no longer the phone's, and replies go
// in clear. Revoking the last active version revokes the device.
func (tx *Tx) RevokeDevice(ctx context.Context, id string, version uint8, at time.Time) error {
	q, args := `UPDATE device_keys SET state = ?, revoked_at = ? WHERE device_id = ? AND state = ?`, []any{DeviceRevoked, micros(at), id, DeviceActive}
	if version != 0 {
		q, args = q+` AND key_version = ?`, append(args, int(version))
	}
	res, err := tx.q.ExecContext(ctx, tx.rebind(q), args...)
	if err != nil {
		return fmt.Errorf("store: revoking device: %w", err)
	}
	var left int
	if err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT COUNT(*) FROM device_keys WHERE device_id = ? AND state = ?`), id, DeviceActive).Scan(&left); err != nil {
		return fmt.Errorf("store: revoking device: %w", err)
	}
	if left == 0 {
		res, err = tx.q.ExecContext(ctx, tx.rebind(`UPDATE devices SET state = ?, revoked_at = ?, nonce = NULL, nonce_until = 0 WHERE id = ? AND state <> ?`),
			DeviceRevoked, micros(at), id, DeviceRevoked)
		if err != nil {
			return fmt.Errorf("store: revoking device: %w", err)
		}
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: revoking device: %w", err)
	} else if n == 0 {
		return fmt.Errorf("store: device %s has nothing to revoke: %w", id, flows.ErrNotFound)
	}
	return nil
}

// UplinkKey returns what opening an envelope of device id under version
// needs, its key row locked for the step; flows.ErrNotFound when there is
// no such device or version.
func (tx *Tx) UplinkKey(ctx context.Context, id envelope.DeviceID, version uint8) (UplinkKey, error) {
	var (
		phone, state, keyState, trust string
		master                        []byte
		last                          int64
	)
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT d.phone, d.state, d.trust, k.state, k.master, k.up_last
		FROM device_keys k JOIN devices d ON d.id = k.device_id WHERE k.device_id = ? AND k.key_version = ?`+tx.db.d.lockRow),
		id.String(), int(version)).Scan(&phone, &state, &trust, &keyState, &master, &last)
	if isNoRows(err) {
		return UplinkKey{}, flows.ErrNotFound
	}
	if err != nil {
		return UplinkKey{}, fmt.Errorf("store: reading device key: %w", err)
	}
	k, err := tx.deviceKey(id, version, master)
	if err != nil {
		return UplinkKey{}, err
	}
	return UplinkKey{Device: id.String(), Phone: flows.MSISDN(phone), State: state, KeyState: keyState,
		Trust: flows.Trust(trust), Key: k, Last: uint64(last)}, nil
}

func (tx *Tx) deviceKey(id envelope.DeviceID, version uint8, sealed []byte) (envelope.DeviceKey, error) {
	master, err := tx.db.keys.openBytes(sealed, deviceAD(id.String(), version))
	if err != nil {
		return envelope.DeviceKey{}, fmt.Errorf("store: opening device key: %w", err)
	}
	k, err := envelope.NewDeviceKey(id, version, master)
	clear(master)
	if err != nil {
		return envelope.DeviceKey{}, fmt.Errorf("store: device key: %w", err)
	}
	return k, nil
}

// AcceptUplink records counter as the last accepted uplink counter of
// (id, version), in the step that acts on the envelope; ErrReplay when it
// is not above the last. The first envelope under a new key version
// retires the versions before it.
func (tx *Tx) AcceptUplink(ctx context.Context, id envelope.DeviceID, version uint8, counter uint64, at time.Time) error {
	if counter > 1<<63-1 {
		return ErrReplay // BIGINT is signed; a module never gets this far
	}
	res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE device_keys SET up_last = ? WHERE device_id = ? AND key_version = ? AND up_last < ?`),
		int64(counter), id.String(), int(version), int64(counter))
	if err != nil {
		return fmt.Errorf("store: accepting envelope: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: accepting envelope: %w", err)
	} else if n == 0 {
		return ErrReplay
	}
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE device_keys SET state = ?, revoked_at = ? WHERE device_id = ? AND key_version < ? AND state = ?`),
		DeviceRevoked, micros(at), id.String(), int(version), DeviceActive); err != nil {
		return fmt.Errorf("store: accepting envelope: %w", err)
	}
	return nil
}

// sealFor seals msg for the active device of phone with its next
// downlink counter (stored in this transaction) and returns it in the
// text carriage; "" when the phone has no active device. The key is the
// newest version the module has used, else the oldest active one (a
// rotated key the module has not been given yet is not used).
func (tx *Tx) sealFor(ctx context.Context, phone flows.MSISDN, msg envelope.Message) (string, error) {
	var (
		id      string
		version int
		master  []byte
		down    int64
	)
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT k.device_id, k.key_version, k.master, k.down_last
		FROM devices d JOIN device_keys k ON k.device_id = d.id
		WHERE d.phone = ? AND d.state = ? AND k.state = ?
		ORDER BY CASE WHEN k.up_last > 0 THEN 0 ELSE 1 END, CASE WHEN k.up_last > 0 THEN -k.key_version ELSE k.key_version END
		LIMIT 1`+tx.db.d.lockRow), string(phone), DeviceActive, DeviceActive).Scan(&id, &version, &master, &down)
	if isNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: reading device key: %w", err)
	}
	did, err := envelope.ParseDeviceID(id)
	if err != nil {
		return "", fmt.Errorf("store: device id: %w", err)
	}
	k, err := tx.deviceKey(did, uint8(version), master)
	if err != nil {
		return "", err
	}
	next := uint64(down) + 1
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE device_keys SET down_last = ? WHERE device_id = ? AND key_version = ?`),
		int64(next), id, version); err != nil {
		return "", fmt.Errorf("store: sealing for device: %w", err)
	}
	b, err := envelope.SealMessage(k, envelope.Downlink, next, msg)
	if err != nil {
		return "", fmt.Errorf("store: sealing for device: %w", err)
	}
	return envelope.EncodeText(b), nil
}

// QueueMessage queues msg (a platform proof, an integrity nonce) sealed
// for phone's active device; flows.ErrNotFound when it has none.
func (tx *Tx) QueueMessage(ctx context.Context, phone flows.MSISDN, from, bind string, msg envelope.Message) error {
	text, err := tx.sealFor(ctx, phone, msg)
	if err != nil {
		return err
	}
	if text == "" {
		return fmt.Errorf("store: phone has no device: %w", flows.ErrNotFound)
	}
	return tx.queueMT(ctx, flows.OutSMS{To: phone, From: from, Bind: bind, Text: text})
}

// StartAttestation records the integrity nonce sent to device id, valid
// until until: the device's trust is pending (payments off) until its
// report comes. It returns the trust the device had.
func (tx *Tx) StartAttestation(ctx context.Context, id string, nonce []byte, until, at time.Time) (flows.Trust, error) {
	from, err := tx.trust(ctx, id)
	if err != nil {
		return "", err
	}
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE devices SET trust = ?, why = '', nonce = ?, nonce_until = ? WHERE id = ?`),
		string(flows.TrustPending), nonce, micros(until), id); err != nil {
		return "", fmt.Errorf("store: starting attestation: %w", err)
	}
	return from, nil
}

func (tx *Tx) trust(ctx context.Context, id string) (flows.Trust, error) {
	var trust string
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT trust FROM devices WHERE id = ?`+tx.db.d.lockRow), id).Scan(&trust)
	if isNoRows(err) {
		return "", flows.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: reading device: %w", err)
	}
	return flows.Trust(trust), nil
}

// AttestationNonce returns the nonce awaiting device id's report and
// until when it is valid; a nil nonce when none is out.
func (tx *Tx) AttestationNonce(ctx context.Context, id string) ([]byte, time.Time, error) {
	var nonce []byte
	var until int64
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT nonce, nonce_until FROM devices WHERE id = ?`+tx.db.d.lockRow), id).Scan(&nonce, &until)
	if isNoRows(err) {
		return nil, time.Time{}, flows.ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: reading attestation: %w", err)
	}
	return nonce, fromMicros(until), nil
}

// SetTrust records device id's integrity verdict (the nonce is spent) and
// returns the trust it had. measurement is the reported one, "" when
// none could be read.
func (tx *Tx) SetTrust(ctx context.Context, id string, t flows.Trust, why, measurement string, at time.Time) (flows.Trust, error) {
	from, err := tx.trust(ctx, id)
	if err != nil {
		return "", err
	}
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE devices SET trust = ?, why = ?, measurement = ?, checked_at = ?, nonce = NULL, nonce_until = 0 WHERE id = ?`),
		string(t), why, measurement, micros(at), id); err != nil {
		return "", fmt.Errorf("store: recording attestation: %w", err)
	}
	return from, nil
}

// OverdueAttestations returns the active devices whose integrity nonce
// expired at now with no report, with their phones.
func (db *DB) OverdueAttestations(ctx context.Context, now time.Time, limit int) (map[string]flows.MSISDN, error) {
	rows, err := db.r.QueryxContext(ctx, db.r.Rebind(`SELECT id, phone FROM devices WHERE trust = ? AND nonce_until < ? AND state = ? LIMIT ?`),
		string(flows.TrustPending), micros(now), DeviceActive, limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading overdue attestations: %w", err)
	}
	defer rows.Close()
	out := map[string]flows.MSISDN{}
	for rows.Next() {
		var id, phone string
		if err := rows.Scan(&id, &phone); err != nil {
			return nil, fmt.Errorf("store: reading overdue attestations: %w", err)
		}
		out[id] = flows.MSISDN(phone)
	}
	return out, rows.Err()
}

// Device returns device id as operators see it, or flows.ErrNotFound.
func (db *DB) Device(ctx context.Context, id string) (DeviceView, error) {
	var r struct {
		ID          string `db:"id"`
		Phone       string `db:"phone"`
		State       string `db:"state"`
		Trust       string `db:"trust"`
		Why         string `db:"why"`
		Measurement string `db:"measurement"`
		Checked     int64  `db:"checked_at"`
		Created     int64  `db:"created_at"`
		Enrolled    int64  `db:"enrolled_at"`
		Revoked     int64  `db:"revoked_at"`
	}
	err := db.r.GetContext(ctx, &r, db.r.Rebind(`SELECT id, phone, state, trust, why, measurement, checked_at, created_at, enrolled_at, revoked_at
		FROM devices WHERE id = ?`), strings.ToLower(id))
	if isNoRows(err) {
		return DeviceView{}, flows.ErrNotFound
	}
	if err != nil {
		return DeviceView{}, fmt.Errorf("store: reading device: %w", err)
	}
	v := DeviceView{ID: r.ID, Phone: flows.MSISDN(r.Phone), State: r.State, Trust: flows.Trust(r.Trust), Why: r.Why,
		Measurement: r.Measurement, CheckedAt: fromMicros(r.Checked), Created: fromMicros(r.Created),
		Enrolled: fromMicros(r.Enrolled), Revoked: fromMicros(r.Revoked)}
	rows, err := db.r.QueryxContext(ctx, db.r.Rebind(`SELECT key_version, state, up_last, down_last, created_at FROM device_keys
		WHERE device_id = ? ORDER BY key_version`), r.ID)
	if err != nil {
		return DeviceView{}, fmt.Errorf("store: reading device keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var version int
		var state string
		var up, down, created int64
		if err := rows.Scan(&version, &state, &up, &down, &created); err != nil {
			return DeviceView{}, fmt.Errorf("store: reading device keys: %w", err)
		}
		v.Keys = append(v.Keys, DeviceKeyView{Version: uint8(version), State: state, Uplink: uint64(up), Downlink: uint64(down), Created: fromMicros(created)})
	}
	return v, rows.Err()
}

// PhoneDevice returns the id of phone's active device, or
// flows.ErrNotFound.
func (db *DB) PhoneDevice(ctx context.Context, phone flows.MSISDN) (string, error) {
	var id string
	err := db.r.QueryRowxContext(ctx, db.r.Rebind(`SELECT id FROM devices WHERE phone = ? AND state = ?`), string(phone), DeviceActive).Scan(&id)
	if isNoRows(err) {
		return "", flows.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("store: reading the phone's device: %w", err)
	}
	return id, nil
}

// Measurement is an entry of the allow-list.
type Measurement struct {
	Measurement string // 64 hex digits
	Label       string
	By          string // the operator who added it
	Created     time.Time
}

// Measurements returns the allow-list, by measurement.
func (db *DB) Measurements(ctx context.Context) ([]Measurement, error) {
	rows, err := db.r.QueryxContext(ctx, `SELECT measurement, label, created_by, created_at FROM measurements ORDER BY measurement`)
	if err != nil {
		return nil, fmt.Errorf("store: reading measurements: %w", err)
	}
	defer rows.Close()
	var out []Measurement
	for rows.Next() {
		var m Measurement
		var created int64
		if err := rows.Scan(&m.Measurement, &m.Label, &m.By, &created); err != nil {
			return nil, fmt.Errorf("store: reading measurements: %w", err)
		}
		m.Created = fromMicros(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// AllowMeasurement adds m (or relabels it) on the allow-list.
func (db *DB) AllowMeasurement(ctx context.Context, m Measurement) error {
	return db.Step(ctx, func(tx *Tx) error {
		_, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO measurements (measurement, label, created_by, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (measurement) DO UPDATE SET label = excluded.label`), strings.ToLower(m.Measurement), m.Label, m.By, micros(m.Created))
		if err != nil {
			return fmt.Errorf("store: allowing measurement: %w", err)
		}
		return nil
	})
}

// DisallowMeasurement removes m from the allow-list; flows.ErrNotFound
// when it is not on it. Devices that reported it keep their verdict
// until their next report.
func (db *DB) DisallowMeasurement(ctx context.Context, m string) error {
	return db.Step(ctx, func(tx *Tx) error {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM measurements WHERE measurement = ?`), strings.ToLower(m))
		if err != nil {
			return fmt.Errorf("store: removing measurement: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: removing measurement: %w", err)
		} else if n == 0 {
			return flows.ErrNotFound
		}
		return nil
	})
}

// MeasurementAllowed returns the label of m on the allow-list, and
// whether it is there.
func (tx *Tx) MeasurementAllowed(ctx context.Context, m envelope.Measurement) (string, bool, error) {
	var label string
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT label FROM measurements WHERE measurement = ?`), m.String()).Scan(&label)
	if isNoRows(err) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: reading the allow-list: %w", err)
	}
	return label, true, nil
}
