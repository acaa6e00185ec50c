package gateway

import (
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paygate/paygate/envelope"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// The admin API's security modules (SPEC §9): operators issue devices
// (enrolled to a phone at once, or left for the phone to enrol itself by
// PIN and code), rotate and revoke their keys, see their integrity, and
// keep the allow-list of measurements. A master key is in the answer that
// issues or rotates it and nowhere else: not in the audit log, not in a
// log line.

// personalisationView is what a module is personalised with.
type personalisationView struct {
	DeviceID    string `json:"device_id"`
	KeyVersion  uint8  `json:"key_version"`
	MasterKey   string `json:"master_key"`
	PlatformKey string `json:"platform_key"`
	Phone       string `json:"phone"`
	State       string `json:"state"`
}

type deviceView struct {
	DeviceID   string          `json:"device_id"`
	Phone      string          `json:"phone"`
	State      string          `json:"state"`
	KeyVersion uint8           `json:"key_version"` // the newest
	Keys       []deviceKeyView `json:"keys"`
	Trust      trustView       `json:"trust"`
	Created    time.Time       `json:"created_at"`
	Enrolled   *time.Time      `json:"enrolled_at"`
	Revoked    *time.Time      `json:"revoked_at"`
}

type deviceKeyView struct {
	Version  uint8     `json:"key_version"`
	State    string    `json:"state"`
	Uplink   uint64    `json:"uplink_counter"`
	Downlink uint64    `json:"downlink_counter"`
	Created  time.Time `json:"created_at"`
}

// trustView is where a device's integrity stands, and why payments are
// off when they are.
type trustView struct {
	Status      string     `json:"status"`
	Payments    bool       `json:"payments"`
	Reason      string     `json:"reason,omitempty"`
	Measurement string     `json:"measurement,omitempty"`
	Checked     *time.Time `json:"checked_at"`
}

type measurementView struct {
	Measurement string    `json:"measurement"`
	Label       string    `json:"label"`
	By          string    `json:"created_by"`
	Created     time.Time `json:"created_at"`
}

// secureOn answers 503 when the secure channel is off and reports
// whether it is on.
func (a *admin) secureOn(w http.ResponseWriter, r *http.Request) bool {
	if a.g.secure.on() {
		return true
	}
	note(r, "", "secure channel off")
	writeError(w, http.StatusServiceUnavailable, "secure_channel_off", "the secure channel is off: keys.platform_key_file does not exist")
	return false
}

// createDevice is POST /v1/admin/devices: {"phone": …} issues a device
// enrolled to that phone at once; {} issues one the phone enrols itself.
func (a *admin) createDevice(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Phone string `json:"phone"`
	}
	if !readJSON(w, r, &in) {
		note(r, "", "invalid request")
		return
	}
	if !a.secureOn(w, r) {
		return
	}
	var phone flows.MSISDN
	if strings.TrimSpace(in.Phone) != "" {
		p, err := flows.ParseMSISDN(in.Phone, a.g.cfg.Country)
		if err != nil {
			invalid(w, r, []fieldProblem{{Field: "phone", Reason: "not a phone number"}})
			return
		}
		phone = p
	}
	var p store.Personalisation
	err := a.g.db.Step(r.Context(), func(tx *store.Tx) error {
		var err error
		p, err = tx.IssueDevice(r.Context(), phone, a.g.now())
		return err
	})
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	note(r, p.Device.String(), "issued "+p.State)
	a.personalisation(w, p)
}

func (a *admin) personalisation(w http.ResponseWriter, p store.Personalisation) {
	writeJSON(w, http.StatusCreated, personalisationView{
		DeviceID: p.Device.String(), KeyVersion: p.Version, MasterKey: hex.EncodeToString(p.Master),
		PlatformKey: hex.EncodeToString(a.g.secure.publicKey()), Phone: string(p.Phone), State: p.State,
	})
}

// deviceArg reads the {id} of the path: 16 hex digits.
func (a *admin) deviceArg(w http.ResponseWriter, r *http.Request) (string, bool) {
	id, err := envelope.ParseDeviceID(r.PathValue("id"))
	if err != nil {
		badRequest(w, r, "the path does not name a device (16 hex digits)")
		return "", false
	}
	note(r, id.String(), "")
	return id.String(), true
}

// getDevice is GET /v1/admin/devices/{id}.
func (a *admin) getDevice(w http.ResponseWriter, r *http.Request) {
	if id, ok := a.deviceArg(w, r); ok {
		a.device(w, r, id, http.StatusOK)
	}
}

func (a *admin) device(w http.ResponseWriter, r *http.Request, id string, status int) {
	d, err := a.g.db.Device(r.Context(), id)
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no device "+id)
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	v := deviceView{DeviceID: d.ID, Phone: string(d.Phone), State: d.State, Keys: []deviceKeyView{}, Created: d.Created.UTC(),
		Trust: newTrustView(d.Trust, d.Why, d.Measurement, d.CheckedAt), Enrolled: optTime(d.Enrolled), Revoked: optTime(d.Revoked)}
	if d.State != store.DeviceActive {
		v.Trust.Payments = false
	}
	for _, k := range d.Keys {
		v.Keys = append(v.Keys, deviceKeyView{Version: k.Version, State: k.State, Uplink: k.Uplink, Downlink: k.Downlink, Created: k.Created.UTC()})
		v.KeyVersion = max(v.KeyVersion, k.Version)
	}
	writeJSON(w, status, v)
}

func newTrustView(t flows.Trust, why, measurement string, checked time.Time) trustView {
	return trustView{Status: string(t), Payments: (&flows.Device{Trust: t}).Payments(), Reason: why, Measurement: measurement, Checked: optTime(checked)}
}

// optTime is t in UTC, nil when zero (or the zero of fromMicros).
func optTime(t time.Time) *time.Time {
	if t.IsZero() || t.UnixMicro() == 0 {
		return nil
	}
	u := t.UTC()
	return &u
}

// rotateDevice is POST /v1/admin/devices/{id}/rotate: the next key
// version, for the module's next personalisation.
func (a *admin) rotateDevice(w http.ResponseWriter, r *http.Request) {
	id, ok := a.deviceArg(w, r)
	if !ok || !a.secureOn(w, r) {
		return
	}
	var p store.Personalisation
	err := a.g.db.Step(r.Context(), func(tx *store.Tx) error {
		var err error
		p, err = tx.RotateDevice(r.Context(), id, a.g.now())
		return err
	})
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no device "+id+" that can be rotated")
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	note(r, "", "rotated to key version "+strconv.Itoa(int(p.Version)))
	a.personalisation(w, p)
}

// revokeDevice is POST /v1/admin/devices/{id}/revoke: {"key_version": n}
// revokes one key version; {} the device and every key (the phone's
// replies go in clear again).
func (a *admin) revokeDevice(w http.ResponseWriter, r *http.Request) {
	id, ok := a.deviceArg(w, r)
	if !ok {
		return
	}
	var in struct {
		KeyVersion int `json:"key_version"`
	}
	if !readJSON(w, r, &in) {
		note(r, "", "invalid request")
		return
	}
	if in.KeyVersion < 0 || in.KeyVersion > 255 {
		invalid(w, r, []fieldProblem{{Field: "key_version", Reason: "not 1..255"}})
		return
	}
	err := a.g.db.Step(r.Context(), func(tx *store.Tx) error {
		return tx.RevokeDevice(r.Context(), id, uint8(in.KeyVersion), a.g.now())
	})
	if errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "no device "+id+" with that key to revoke")
		return
	}
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	note(r, "", "revoked")
	a.device(w, r, id, http.StatusOK)
}

// listMeasurements is GET /v1/admin/measurements: the allow-list.
func (a *admin) listMeasurements(w http.ResponseWriter, r *http.Request) {
	ms, err := a.g.db.Measurements(r.Context())
	if err != nil {
		a.unavailable(w, r, err)
		return
	}
	out := []measurementView{}
	for _, m := range ms {
		out = append(out, measurementView{Measurement: m.Measurement, Label: m.Label, By: m.By, Created: m.Created.UTC()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"measurements": out})
}

// allowMeasurement is POST /v1/admin/measurements: a measurement (64 hex
// digits) and its label go on the allow-list.
func (a *admin) allowMeasurement(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Measurement string `json:"measurement"`
		Label       string `json:"label"`
	}
	if !readJSON(w, r, &in) {
		note(r, "", "invalid request")
		return
	}
	m, err := envelope.ParseMeasurement(strings.TrimSpace(in.Measurement))
	var fields []fieldProblem
	if err != nil {
		fields = append(fields, fieldProblem{Field: "measurement", Reason: "not 64 hex digits"})
	}
	label := strings.TrimSpace(in.Label)
	if label == "" || len(label) > 200 {
		fields = append(fields, fieldProblem{Field: "label", Reason: "missing or longer than 200"})
	}
	if len(fields) > 0 {
		invalid(w, r, fields)
		return
	}
	note(r, m.String(), "allowed")
	v := measurementView{Measurement: m.String(), Label: label, By: operatorOf(r), Created: a.g.now().UTC()}
	if err := a.g.db.AllowMeasurement(r.Context(), store.Measurement{Measurement: v.Measurement, Label: v.Label, By: v.By, Created: v.Created}); err != nil {
		a.unavailable(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

// disallowMeasurement is DELETE /v1/admin/measurements/{measurement}.
// Devices that reported it keep their verdict until their next report.
func (a *admin) disallowMeasurement(w http.ResponseWriter, r *http.Request) {
	m, err := envelope.ParseMeasurement(r.PathValue("measurement"))
	if err != nil {
		badRequest(w, r, "the path does not name a measurement (64 hex digits)")
		return
	}
	note(r, m.String(), "")
	if err := a.g.db.DisallowMeasurement(r.Context(), m.String()); errors.Is(err, flows.ErrNotFound) {
		notFound(w, r, "measurement not on the allow-list")
		return
	} else if err != nil {
		a.unavailable(w, r, err)
		return
	}
	note(r, "", "removed")
	w.WriteHeader(http.StatusNoContent)
}

// operatorOf is the name of the operator making r.
func operatorOf(r *http.Request) string {
	if c := callOf(r); c != nil {
		return c.operator
	}
	return ""
}
