package store_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// The audit log keeps entries in order, newest first, filtered and paged;
// its fields are cut to their columns, on a rune boundary.
func TestAudit(t *testing.T) {
	clock := newClock()
	eachRawDB(t, clock.options(), func(t *testing.T, db rawDB) {
		entries := []store.AuditEntry{
			{Operator: "ann", Action: "merchant.create", Target: "DEMO", Status: 201, Detail: "created"},
			{Operator: "bob", Action: "subscriber.block", Target: "+8613800138000", Status: 200},
			{Operator: "", Action: "merchant.list", Target: "", Status: 401, Detail: "refused: unknown token"},
			{Operator: "ann", Action: "merchant.read", Target: "DEMO", Status: 404},
		}
		for _, e := range entries {
			clock.Add(time.Second)
			if err := db.Audit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		all, err := db.AuditLog(ctx, store.AuditFilter{})
		if err != nil || len(all) != len(entries) {
			t.Fatalf("log: %+v, %v", all, err)
		}
		for i, got := range all {
			want := entries[len(entries)-1-i]
			want.ID, want.At = got.ID, clock.Now().Add(-time.Duration(i)*time.Second)
			if !reflect.DeepEqual(got, want) || (i > 0 && got.ID >= all[i-1].ID) {
				t.Errorf("entry %d:\n got %+v\nwant %+v", i, got, want)
			}
		}
		for _, tt := range []struct {
			name string
			f    store.AuditFilter
			want []int // indexes of entries, newest first
		}{
			{"operator", store.AuditFilter{Operator: "ann"}, []int{3, 0}},
			{"action", store.AuditFilter{Action: "subscriber.block"}, []int{1}},
			{"target", store.AuditFilter{Target: "DEMO"}, []int{3, 0}},
			{"limit", store.AuditFilter{Limit: 2}, []int{3, 2}},
			{"before", store.AuditFilter{Before: all[1].ID}, []int{1, 0}},
			{"before and limit", store.AuditFilter{Before: all[1].ID, Limit: 1}, []int{1}},
		} {
			got, err := db.AuditLog(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var idx []int
			for _, e := range got {
				for i, w := range entries {
					if e.Action == w.Action && e.Status == w.Status {
						idx = append(idx, i)
					}
				}
			}
			if !reflect.DeepEqual(idx, tt.want) {
				t.Errorf("%s: entries %v, want %v", tt.name, idx, tt.want)
			}
		}

		long := store.AuditEntry{Operator: strings.Repeat("o", 100), Action: "x", Target: strings.Repeat("号", 100), Status: 401,
			Detail: strings.Repeat("d", 1000) + "\xff"}
		if err := db.Audit(ctx, long); err != nil {
			t.Fatal(err)
		}
		got, err := db.AuditLog(ctx, store.AuditFilter{Limit: 1})
		if err != nil || len(got) != 1 {
			t.Fatal(got, err)
		}
		e := got[0]
		if len(e.Operator) != 64 || len(e.Target) > 128 || len(e.Target) < 126 || !strings.HasPrefix(long.Target, e.Target) || len(e.Detail) != 512 {
			t.Errorf("not cut to the columns: %d %d %d", len(e.Operator), len(e.Target), len(e.Detail))
		}
	})
}

// LookupSubscriber reads a phone as operators see it: lockout, pending
// prompt, linked accounts masked; MerchantByCode and TransferByReference
// read outside any step; each unknown is ErrNotFound.
func TestAdminReads(t *testing.T) {
	clock := newClock()
	eachRawDB(t, clock.options(), func(t *testing.T, db rawDB) {
		phone := flows.MSISDN("+8613800138000")
		now := clock.Now()
		sub := flows.Subscriber{Phone: phone, Lang: flows.Chinese, Created: now, PIN: "hash", Stopped: true,
			Lock: flows.Lock{Failures: 4, Until: now.Add(time.Hour), Operator: true},
			Pending: &flows.Pending{ID: "op-1", Kind: flows.OpSend, Stage: flows.StageCode, Ref: "T7K2QXM4", Amount: 500,
				Created: now, Expires: now.Add(flows.PendingTTL)},
		}
		step(t, db.DB, func(tx *store.Tx) error {
			for i, n := range []flows.AccountNumber{"6222020000000001", "6222020000000002"} {
				if err := tx.SaveAccount(ctx, phone, &flows.Account{Bank: "PGB", Number: n, Holder: "Z** S**", Default: i == 0}); err != nil {
					return err
				}
			}
			return tx.SaveSubscriber(ctx, sub)
		})
		got, accounts, err := db.LookupSubscriber(ctx, phone)
		if err != nil {
			t.Fatal(err)
		}
		if got.Lock.Failures != 4 || !got.Lock.Operator || !got.Lock.Until.Equal(sub.Lock.Until) || !got.Stopped || got.PIN != "hash" ||
			got.Lang != flows.Chinese || got.Pending == nil || got.Pending.Ref != "T7K2QXM4" || got.Pending.Stage != flows.StageCode {
			t.Errorf("subscriber %+v", got)
		}
		if len(accounts) != 2 || accounts[0].Masked != "****0001" || !accounts[0].Default || accounts[1].Default ||
			accounts[1].Masked != "****0002" || accounts[0].Bank != "PGB" || accounts[0].Holder != "Z** S**" {
			t.Errorf("accounts %+v", accounts)
		}
		if _, _, err := db.LookupSubscriber(ctx, "+8613900000000"); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("unknown phone: %v", err)
		}

		demo := demoMerchant()
		if err := db.AddMerchant(ctx, demo); err != nil {
			t.Fatal(err)
		}
		if m, err := db.MerchantByCode(ctx, "DEMO"); err != nil || !reflect.DeepEqual(m, demo) {
			t.Errorf("DEMO: %+v, %v", m, err)
		}
		if _, err := db.MerchantByCode(ctx, "NOBODY"); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("unknown merchant: %v", err)
		}

		want := newTransfer("01HXTRANSFER0000000000001", "T7K2QXM4", phone, flows.TransferCompleted, 12345, now)
		step(t, db.DB, func(tx *store.Tx) error { return tx.CreateTransfer(ctx, want) })
		if tr, err := db.TransferByReference(ctx, "T7K2QXM4"); err != nil || !reflect.DeepEqual(tr, want) {
			t.Errorf("by reference:\n got %+v, %v\nwant %+v", tr, err, want)
		}
		if _, err := db.TransferByReference(ctx, "AAAAAAAA"); !errors.Is(err, flows.ErrNotFound) {
			t.Errorf("unknown reference: %v", fmt.Sprint(err))
		}
	})
}
