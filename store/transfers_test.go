package store_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// newTransfer returns a transfer with every field set, created at at.
func newTransfer(id, ref string, payer flows.MSISDN, state flows.TransferState, amount flows.Amount, at time.Time) flows.Transfer {
	return flows.Transfer{
		ID: id, Ref: ref, Kind: flows.OpPay,
		Payer:      payer,
		Debit:      flows.AccountRef{Bank: "PGB", Number: "6222020000000001"},
		Payee:      "DEMO",
		PayeePhone: "+8613500135000",
		PayeeName:  "Demo Shop",
		Credit:     flows.AccountRef{Bank: "ICB", Number: "6222020000009001"},
		Amount:     amount, Fee: 150, Narrative: "订单 42 / order 42",
		State: state, Reason: "", BankRef: "",
		Created: at, Updated: at, Expires: at.Add(flows.PendingTTL),
		Bind: "carrier-a", Lang: flows.Chinese,
	}
}

// The whole transfer comes back as it was created, by id and by
// reference; an update changes its state, reason, bank reference and
// update time and nothing else.
func TestTransferRoundTrip(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		now := time.UnixMicro(time.Now().UnixMicro())
		want := newTransfer("01HXTRANSFER0000000000001", "T7K2QXM4", "+8613800138000", flows.TransferPendingPIN, 12345, now)
		step(t, db, func(tx *store.Tx) error { return tx.CreateTransfer(ctx, want) })
		step(t, db, func(tx *store.Tx) error {
			got, err := tx.Transfer(ctx, want.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				return fmt.Errorf("by id:\n got %#v, %v\nwant %#v", got, err, want)
			}
			if got, err = tx.TransferByRef(ctx, want.Ref); err != nil || !reflect.DeepEqual(got, want) {
				return fmt.Errorf("by reference:\n got %#v, %v\nwant %#v", got, err, want)
			}
			if got.Debit.Number.Reveal() != "6222020000000001" || got.Credit.Number.Reveal() != "6222020000009001" {
				return errors.New("account numbers did not come back")
			}
			if _, err := tx.Transfer(ctx, "nobody"); !errors.Is(err, flows.ErrNotFound) {
				return fmt.Errorf("unknown id: %v", err)
			}
			if _, err := tx.TransferByRef(ctx, "AAAAAAAA"); !errors.Is(err, flows.ErrNotFound) {
				return fmt.Errorf("unknown reference: %v", err)
			}
			return nil
		})

		// Every state, then a rejection with its reason, then a completion
		// with the bank's reference.
		for i, s := range flows.TransferStates() {
			want.State, want.Updated = s, now.Add(time.Duration(i+1)*time.Second)
			want.Expires = now.Add(time.Duration(i+1) * time.Minute) // a code prompt's time runs anew
			if s == flows.TransferRejected {
				want.Reason = "insufficient_funds"
			}
			if s == flows.TransferCompleted {
				want.BankRef = "PGB-20240101-0001"
			}
			changed := want
			changed.Amount, changed.Payee, changed.Narrative = 1, "OTHER", "changed" // not written
			step(t, db, func(tx *store.Tx) error { return tx.UpdateTransfer(ctx, changed) })
			step(t, db, func(tx *store.Tx) error {
				got, err := tx.Transfer(ctx, want.ID)
				if err != nil || !reflect.DeepEqual(got, want) {
					return fmt.Errorf("after update to %s:\n got %#v, %v\nwant %#v", s, got, err, want)
				}
				return nil
			})
		}
		err := db.Step(ctx, func(tx *store.Tx) error {
			return tx.UpdateTransfer(ctx, flows.Transfer{ID: "nobody", State: flows.TransferSent})
		})
		if !errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("updating an unknown transfer: %v", err)
		}

		// A transfer with the optional fields empty comes back so.
		bare := flows.Transfer{ID: "bare", Ref: "ACDEFGHJ", Kind: flows.OpSend, Payer: "+8613800138000", Payee: "+8613900139000",
			Debit: flows.AccountRef{Bank: "PGB", Number: "1234"}, Credit: flows.AccountRef{Bank: "PGB", Number: "5678"},
			Amount: 1, State: flows.TransferPendingPIN, Created: now, Expires: now.Add(flows.PendingTTL)}
		step(t, db, func(tx *store.Tx) error { return tx.CreateTransfer(ctx, bare) })
		step(t, db, func(tx *store.Tx) error {
			if got, err := tx.Transfer(ctx, bare.ID); err != nil || !reflect.DeepEqual(got, bare) {
				return fmt.Errorf("bare transfer:\n got %#v, %v\nwant %#v", got, err, bare)
			}
			return nil
		})
	})
}

// A taken id or reference is ErrDuplicate (the store's and the flows'),
// and the step goes on: on PostgreSQL a failed INSERT would abort the
// transaction, and the flow draws another reference in the same step.
func TestTransferDuplicate(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		now := time.UnixMicro(time.Now().UnixMicro())
		payer := flows.MSISDN("+8613800138000")
		first := newTransfer("id-1", "AAAAAAAA", payer, flows.TransferPendingPIN, 100, now)
		step(t, db, func(tx *store.Tx) error {
			if err := tx.CreateTransfer(ctx, first); err != nil {
				return err
			}
			sameID := newTransfer("id-1", "CCCCCCCC", payer, flows.TransferPendingPIN, 200, now)
			if err := tx.CreateTransfer(ctx, sameID); !errors.Is(err, store.ErrDuplicate) || !errors.Is(err, flows.ErrDuplicate) ||
				!strings.Contains(err.Error(), "id id-1 exists") {
				return fmt.Errorf("same id: %v", err)
			}
			sameRef := newTransfer("id-2", "AAAAAAAA", payer, flows.TransferPendingPIN, 300, now)
			err := tx.CreateTransfer(ctx, sameRef)
			if !errors.Is(err, flows.ErrDuplicate) || !strings.Contains(err.Error(), "reference AAAAAAAA is taken") {
				return fmt.Errorf("same reference: %v", err)
			}
			if strings.Contains(err.Error(), "6222") {
				return fmt.Errorf("an account number in the error: %v", err)
			}
			// The transaction is still usable: the step draws again.
			sameRef.Ref = "DDDDDDDD"
			if err := tx.CreateTransfer(ctx, sameRef); err != nil {
				return fmt.Errorf("after the duplicates: %w", err)
			}
			return tx.SaveSubscriber(ctx, flows.Subscriber{Phone: payer, Created: now})
		})
		got, err := db.Transfers(ctx, store.TransferFilter{})
		if err != nil || len(got) != 2 || got[0].Ref != "DDDDDDDD" && got[1].Ref != "DDDDDDDD" {
			t.Fatalf("transfers %+v, %v", got, err)
		}
		for _, tr := range got {
			if tr.ID == "id-1" && tr.Amount != 100 {
				t.Fatalf("the duplicate overwrote the first: %+v", tr)
			}
		}
		step(t, db, func(tx *store.Tx) error {
			_, err := tx.Subscriber(ctx, payer)
			return err
		})
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.CreateTransfer(ctx, flows.Transfer{ID: "x"}) }); err == nil {
			t.Fatal("a transfer without a reference was created")
		}
	})
}

// Spent sums the amounts of the payer's transfers since a time whose
// state debits: authorized, sent, unknown, completed.
func TestSpent(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		since := time.UnixMicro(time.Now().UnixMicro())
		payer, other := flows.MSISDN("+8613800138000"), flows.MSISDN("+8613900139000")
		var want flows.Amount
		step(t, db, func(tx *store.Tx) error {
			for i, s := range flows.TransferStates() {
				amount := flows.Amount(1) << i // each state its own bit
				if s.Debits() {
					want += amount
				}
				at := since.Add(time.Duration(i) * time.Minute) // the first exactly at since
				if err := tx.CreateTransfer(ctx, newTransfer(fmt.Sprintf("p%d", i), fmt.Sprintf("P%07d", i), payer, s, amount, at)); err != nil {
					return err
				}
				// The same state: before since, and another payer's.
				if err := tx.CreateTransfer(ctx, newTransfer(fmt.Sprintf("b%d", i), fmt.Sprintf("B%07d", i), payer, s, 1<<20, since.Add(-time.Microsecond))); err != nil {
					return err
				}
				if err := tx.CreateTransfer(ctx, newTransfer(fmt.Sprintf("o%d", i), fmt.Sprintf("O%07d", i), other, s, 1<<21, at)); err != nil {
					return err
				}
			}
			return nil
		})
		if want != 1<<2|1<<3|1<<4|1<<8 {
			t.Fatalf("the debiting states changed: %b", want)
		}
		step(t, db, func(tx *store.Tx) error {
			if got, err := tx.Spent(ctx, payer, since); err != nil || got != want {
				return fmt.Errorf("spent %b, %v; want %b", got, err, want)
			}
			if got, err := tx.Spent(ctx, payer, since.Add(-time.Hour)); err != nil || got != want+4*(1<<20) {
				return fmt.Errorf("spent since an hour before %b, %v", got, err)
			}
			if got, err := tx.Spent(ctx, payer, since.Add(time.Hour)); err != nil || got != 0 {
				return fmt.Errorf("spent since later %d, %v", got, err)
			}
			if got, err := tx.Spent(ctx, "+8613700137000", since); err != nil || got != 0 {
				return fmt.Errorf("spent by nobody %d, %v", got, err)
			}
			return nil
		})
	})
}

// DueTransfers finds the pending transfers past their expiry, the
// longest expired first, and nothing else.
func TestDueTransfers(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		now := time.UnixMicro(time.Now().UnixMicro())
		tr := func(id string, s flows.TransferState, expires time.Time) flows.Transfer {
			t := newTransfer(id, "R"+strings.ToUpper(id), flows.MSISDN("+86138001380"+id[len(id)-2:]), s, 100, expires.Add(-flows.PendingTTL))
			t.Expires = expires
			return t
		}
		step(t, db, func(tx *store.Tx) error {
			for _, t := range []flows.Transfer{
				tr("due-02", flows.TransferPendingCode, now.Add(-time.Minute)),
				tr("due-01", flows.TransferPendingPIN, now.Add(-time.Hour)),
				tr("due-03", flows.TransferPendingPIN, now.Add(-time.Microsecond)),
				tr("not-04", flows.TransferPendingPIN, now), // not before now
				tr("not-05", flows.TransferPendingCode, now.Add(time.Minute)),
				tr("not-06", flows.TransferAuthorized, now.Add(-time.Hour)),
				tr("not-07", flows.TransferExpired, now.Add(-time.Hour)),
				tr("not-08", flows.TransferCancelled, now.Add(-time.Hour)),
			} {
				if err := tx.CreateTransfer(ctx, t); err != nil {
					return err
				}
			}
			return nil
		})
		due, err := db.DueTransfers(ctx, now, 10)
		want := []store.DueTransfer{{"due-01", "+8613800138001"}, {"due-02", "+8613800138002"}, {"due-03", "+8613800138003"}}
		if err != nil || !reflect.DeepEqual(due, want) {
			t.Fatalf("due %+v, %v; want %+v", due, err, want)
		}
		if due, err := db.DueTransfers(ctx, now, 2); err != nil || !reflect.DeepEqual(due, want[:2]) {
			t.Fatalf("due with limit 2: %+v, %v", due, err)
		}
		// Expiring one takes it out.
		step(t, db, func(tx *store.Tx) error {
			t, err := tx.Transfer(ctx, "due-01")
			if err != nil {
				return err
			}
			if err := t.Move(flows.TransferExpired, now); err != nil {
				return err
			}
			return tx.UpdateTransfer(ctx, t)
		})
		if due, err := db.DueTransfers(ctx, now, 10); err != nil || !reflect.DeepEqual(due, want[1:]) {
			t.Fatalf("due after one expired: %+v, %v", due, err)
		}
	})
}

// Claiming a transfer's bank request moves it from authorized to sent in
// the claim's step; an unknown one stays unknown, and other kinds of
// request touch no transfer.
func TestClaimBankMarksSent(t *testing.T) {
	clock := newClock()
	eachRawDB(t, clock.options(), func(t *testing.T, db rawDB) {
		created := clock.Now()
		payer := flows.MSISDN("+8613800138000")
		authorized := newTransfer("tr-authorized", "AAAAAAAA", payer, flows.TransferAuthorized, 100, created)
		unknown := newTransfer("tr-unknown", "CCCCCCCC", payer, flows.TransferUnknown, 200, created)
		pending := newTransfer("tr-pending", "DDDDDDDD", payer, flows.TransferPendingCode, 300, created)
		request := func(t flows.Transfer) flows.BankRequest {
			return flows.BankRequest{ID: t.ID, Phone: t.Payer, Kind: flows.BankTransfer, Bank: t.Debit.Bank, Account: t.Debit.Number,
				Reference: t.Ref, Credit: t.Credit, Amount: t.Amount, Fee: t.Fee, Narrative: t.Narrative}
		}
		step(t, db.DB, func(tx *store.Tx) error {
			for _, tr := range []flows.Transfer{authorized, unknown, pending} {
				if err := tx.CreateTransfer(ctx, tr); err != nil {
					return err
				}
			}
			if err := tx.QueueBank(ctx, request(authorized)); err != nil {
				return err
			}
			if err := tx.QueueBank(ctx, request(unknown)); err != nil {
				return err
			}
			// A verify request whose id is a pending transfer's: not a
			// transfer request, so the transfer is left alone.
			return tx.QueueBank(ctx, flows.BankRequest{ID: pending.ID, Phone: payer, Kind: flows.BankVerify, Bank: "PGB", Account: "12345678"})
		})
		clock.Add(time.Second)
		jobs, err := db.ClaimBank(ctx, "d1", time.Minute, 10)
		if err != nil || len(jobs) != 3 {
			t.Fatalf("claimed %d, %v", len(jobs), err)
		}
		states := map[string]flows.TransferState{}
		got, err := db.Transfers(ctx, store.TransferFilter{Payer: payer})
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range got {
			states[tr.ID] = tr.State
			wantUpdated := created
			if tr.ID == authorized.ID {
				wantUpdated = clock.Now()
			}
			if !tr.Updated.Equal(wantUpdated) {
				t.Errorf("%s updated at %v, want %v", tr.ID, tr.Updated, wantUpdated)
			}
		}
		want := map[string]flows.TransferState{authorized.ID: flows.TransferSent, unknown.ID: flows.TransferUnknown, pending.ID: flows.TransferPendingCode}
		if !reflect.DeepEqual(states, want) {
			t.Fatalf("after the claim %v, want %v", states, want)
		}

		// A retry claims it again: a transfer the bank left unknown
		// meanwhile stays unknown.
		step(t, db.DB, func(tx *store.Tx) error {
			tr, err := tx.Transfer(ctx, authorized.ID)
			if err != nil {
				return err
			}
			if err := tr.Move(flows.TransferUnknown, clock.Now()); err != nil {
				return err
			}
			return tx.UpdateTransfer(ctx, tr)
		})
		if err := db.Step(ctx, func(tx *store.Tx) error { return tx.BankRetry(ctx, authorized.ID, clock.Now(), "bank: timeout") }); err != nil {
			t.Fatal(err)
		}
		if jobs, err := db.ClaimBank(ctx, "d2", time.Minute, 10); err != nil || len(jobs) != 1 || jobs[0].Request.ID != authorized.ID {
			t.Fatalf("retry claimed %+v, %v", jobs, err)
		}
		if got, err := db.Transfers(ctx, store.TransferFilter{State: flows.TransferUnknown}); err != nil || len(got) != 2 {
			t.Fatalf("unknown transfers after the retry: %+v, %v", got, err)
		}
	})
}

// Transfers filters by payer and state, newest first, with a limit;
// TransferCounts counts every state.
func TestTransfersAndCounts(t *testing.T) {
	eachDB(t, func(t *testing.T, db *store.DB) {
		now := time.UnixMicro(time.Now().UnixMicro())
		a, b := flows.MSISDN("+8613800138000"), flows.MSISDN("+8613900139000")
		step(t, db, func(tx *store.Tx) error {
			for i, c := range []struct {
				payer flows.MSISDN
				state flows.TransferState
			}{{a, flows.TransferCompleted}, {b, flows.TransferCompleted}, {a, flows.TransferPendingPIN}, {a, flows.TransferCompleted}, {b, flows.TransferRejected}} {
				if err := tx.CreateTransfer(ctx, newTransfer(fmt.Sprintf("t%d", i), fmt.Sprintf("R%07d", i), c.payer, c.state, 100, now.Add(time.Duration(i)*time.Second))); err != nil {
					return err
				}
			}
			return nil
		})
		ids := func(f store.TransferFilter) string {
			t.Helper()
			got, err := db.Transfers(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, tr := range got {
				out = append(out, tr.ID)
			}
			return strings.Join(out, " ")
		}
		for _, tt := range []struct {
			name   string
			filter store.TransferFilter
			want   string
		}{
			{"all", store.TransferFilter{}, "t4 t3 t2 t1 t0"},
			{"payer", store.TransferFilter{Payer: a}, "t3 t2 t0"},
			{"state", store.TransferFilter{State: flows.TransferCompleted}, "t3 t1 t0"},
			{"payer and state", store.TransferFilter{Payer: a, State: flows.TransferCompleted}, "t3 t0"},
			{"limit", store.TransferFilter{Limit: 2}, "t4 t3"},
			{"none", store.TransferFilter{Payer: "+8613700137000"}, ""},
		} {
			if got := ids(tt.filter); got != tt.want {
				t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
			}
		}
		counts, err := db.TransferCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[flows.TransferState]int{}
		for _, s := range flows.TransferStates() {
			want[s] = 0
		}
		want[flows.TransferCompleted], want[flows.TransferPendingPIN], want[flows.TransferRejected] = 3, 1, 1
		if !reflect.DeepEqual(counts, want) {
			t.Fatalf("counts %v, want %v", counts, want)
		}
	})
}

// SPEC §2: neither a transfer's account numbers nor its narrative (what
// the payer typed) nor a merchant's account number reaches the database
// in clear; the masked forms do.
func TestTransferSecretsNeverStoredInClear(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		debit, credit, merchant := flows.AccountNumber("6222027391648355017"), flows.AccountNumber("6222029463817205538"), flows.AccountNumber("6222021849305716627")
		narrative := "INVOICE-Q7Z3-机密"
		now := time.Now()
		tr := newTransfer("secret-1", "TSECRET1", "+8613800138000", flows.TransferAuthorized, 100, now)
		tr.Debit.Number, tr.Credit.Number, tr.Narrative = debit, credit, narrative
		step(t, db.DB, func(tx *store.Tx) error { return tx.CreateTransfer(ctx, tr) })
		if err := db.AddMerchant(ctx, flows.Merchant{Code: "SECRET", Name: "Secret Shop", Account: flows.AccountRef{Bank: "PGB", Number: merchant}}); err != nil {
			t.Fatal(err)
		}
		// Everything reads back.
		step(t, db.DB, func(tx *store.Tx) error {
			got, err := tx.Transfer(ctx, tr.ID)
			if err != nil || got.Debit.Number != debit || got.Credit.Number != credit || got.Narrative != narrative {
				return fmt.Errorf("transfer %+v, %v", got, err)
			}
			m, err := tx.Merchant(ctx, "SECRET")
			if err != nil || m.Account.Number != merchant {
				return fmt.Errorf("merchant %+v, %v", m, err)
			}
			return nil
		})
		var masked int
		if err := db.raw.Get(&masked, db.raw.Rebind(`SELECT COUNT(*) FROM transfers WHERE debit_masked = ? AND credit_masked = ?`), debit.Masked(), credit.Masked()); err != nil || masked != 1 {
			t.Fatalf("masked numbers: %d, %v", masked, err)
		}

		canaries := []string{debit.Reveal(), credit.Reveal(), merchant.Reveal(), narrative, "INVOICE-Q7Z3"}
		if db.path != "" {
			searchFiles(t, db.path, canaries)
			db.Close()
			searchFiles(t, db.path, canaries)
			return
		}
		for _, table := range []string{"transfers", "merchants"} {
			var rows []string
			if err := db.raw.Select(&rows, `SELECT t::text FROM `+table+` t`); err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 {
				t.Fatalf("%d rows in %s", len(rows), table)
			}
			for _, row := range rows {
				for _, c := range canaries {
					if bytes.Contains([]byte(row), []byte(c)) || bytes.Contains([]byte(row), []byte(hex.EncodeToString([]byte(c)))) {
						t.Errorf("%q in clear in %s: %s", c, table, row)
					}
				}
			}
		}
	})
}

// A sealed transfer is bound to its id: moved to another row, it does
// not open.
func TestTransferSealedBoundToID(t *testing.T) {
	eachRawDB(t, store.Options{}, func(t *testing.T, db rawDB) {
		now := time.UnixMicro(time.Now().UnixMicro())
		step(t, db.DB, func(tx *store.Tx) error {
			if err := tx.CreateTransfer(ctx, newTransfer("one", "AAAAAAAA", "+8613800138000", flows.TransferSent, 1, now)); err != nil {
				return err
			}
			return tx.CreateTransfer(ctx, newTransfer("two", "CCCCCCCC", "+8613800138000", flows.TransferSent, 2, now))
		})
		var sealed []byte
		if err := db.raw.Get(&sealed, `SELECT sealed FROM transfers WHERE id = 'one'`); err != nil {
			t.Fatal(err)
		}
		w := db.raw
		if db.path != "" { // the raw SQLite connection is read-only
			var err error
			if w, err = sqlx.Open("sqlite3", "file:"+db.path+"?_busy_timeout=5000"); err != nil {
				t.Fatal(err)
			}
			defer w.Close()
		}
		if _, err := w.Exec(w.Rebind(`UPDATE transfers SET sealed = ? WHERE id = 'two'`), sealed); err != nil {
			t.Fatal(err)
		}
		err := db.Step(ctx, func(tx *store.Tx) error {
			_, err := tx.Transfer(ctx, "two")
			return err
		})
		if err == nil || errors.Is(err, flows.ErrNotFound) {
			t.Fatalf("a sealed value moved to another transfer opened: %v", err)
		}
	})
}
