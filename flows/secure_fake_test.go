package flows

import (
	"context"
	"time"
)

// deviceFake is fakeTx's part for security modules: issued devices wait
// for EnrolDevice, which makes one the phone's, as the store does.
type deviceFake struct {
	issued map[string]bool
}

func (f *fakeTx) issueDevice(id string) {
	if f.issued == nil {
		f.issued = map[string]bool{}
	}
	f.issued[id] = true
}

// setTrust records a device's trust as the store's attestation methods
// do.
func (f *fakeTx) setTrust(phone MSISDN, t Trust) {
	s := f.subs[phone]
	d := *s.Device
	d.Trust = t
	s.Device = &d
	f.subs[phone] = s
}

func (f *fakeTx) EnrolDevice(_ context.Context, id string, phone MSISDN, _ time.Time) error {
	if f.failSave != nil {
		return f.failSave
	}
	if !f.issued[id] {
		return ErrNotFound
	}
	delete(f.issued, id)
	s := f.subs[phone]
	s.Device = &Device{ID: id, Trust: TrustNone}
	f.subs[phone] = s
	return nil
}
