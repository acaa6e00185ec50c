package gateway_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
	"github.com/paygate/paygate/store"
)

// These tests run the bank dispatcher and the expiry timer inside a
// running gateway, against the bank simulator over HTTP. The transfers
// are written straight into the store, as the flows' steps write them,
// so that the dispatcher is tested apart from the SMS dialogue.

// newTransfer stores a transfer of amount from Li Wei's demo account to
// Wang Fang's in state, as a flow step does; an authorized one gets its
// bank request queued in the same step.
func (w *world) newTransfer(amount flows.Amount, state flows.TransferState) flows.Transfer {
	w.t.Helper()
	ctx := context.Background()
	now := w.clock.now()
	t := flows.Transfer{
		ID: ulid.Make().String(), Ref: flows.NewTransferRef(), Kind: flows.OpSend,
		Payer: "+8613800138000", Debit: flows.AccountRef{Bank: "PGB", Number: "6222020000000001"},
		Payee: "+8613900139000", PayeePhone: "+8613900139000", PayeeName: "W*** F***",
		Credit: flows.AccountRef{Bank: "PGB", Number: "6222020000000002"},
		Amount: amount, State: state,
		Created: now, Updated: now, Expires: now.Add(flows.PendingTTL), Lang: flows.English,
	}
	err := w.gw.DB().Step(ctx, func(tx *store.Tx) error {
		if err := tx.CreateTransfer(ctx, t); err != nil {
			return err
		}
		if state != flows.TransferAuthorized {
			return nil
		}
		return tx.QueueBank(ctx, flows.BankRequest{
			ID: t.ID, Phone: t.Payer, Kind: flows.BankTransfer, Bank: t.Debit.Bank, Account: t.Debit.Number,
			Reference: t.Ref, Credit: t.Credit, Amount: t.Amount, Fee: t.Fee,
		})
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return t
}

// transfer reads transfer id from the store.
func (w *world) transfer(id string) flows.Transfer {
	w.t.Helper()
	ctx := context.Background()
	var t flows.Transfer
	err := w.gw.DB().Step(ctx, func(tx *store.Tx) error {
		var err error
		t, err = tx.Transfer(ctx, id)
		return err
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return t
}

// waitTransfer waits until transfer id is in state want.
func (w *world) waitTransfer(id string, want flows.TransferState) flows.Transfer {
	w.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		t := w.transfer(id)
		if t.State == want {
			return t
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("transfer %s is %s, want %s", id, t.State, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// bankRow returns the bank outbox row id of phone.
func (w *world) bankRow(phone flows.MSISDN, id string) store.BankState {
	w.t.Helper()
	rows, err := w.gw.DB().BankRequests(context.Background(), phone)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, r := range rows {
		if r.ID == id {
			return r
		}
	}
	w.t.Fatalf("no bank outbox row %s", id)
	return store.BankState{}
}

// gauge reads a sample of /metrics: the value of the series whose name
// and labels are exactly series, e.g. `paygate_transfers{state="sent"}`;
// -2 when there is none.
func (w *world) gauge(series string) float64 {
	w.t.Helper()
	resp, err := http.Get("http://" + w.gw.HTTPAddr() + "/metrics")
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return -2
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// TestBankTransferDispatched: an authorized transfer goes from the bank
// outbox to the bank simulator over HTTP and its answer comes back: the
// bank holds the id once with one debit, the outbox row is done, the
// transfer completed. The bank's misbehaviours on the way (RELIABILITY
// R13: it commits and the answer is lost; 5xx) change none of it.
func TestBankTransferDispatched(t *testing.T) {
	tests := []struct {
		name   string
		faults []banksim.Fault
	}{
		{name: "plain"},
		{name: "committed then the connection dropped", faults: []banksim.Fault{banksim.FaultDropAfter}},
		{name: "committed then 500", faults: []banksim.Fault{banksim.FaultErrorAfter}},
		{name: "503 twice", faults: []banksim.Fault{banksim.FaultErrorBefore, banksim.FaultErrorBefore}},
		{name: "answered with a bad signature", faults: []banksim.Fault{banksim.FaultBadSignature}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			if err := w.bank.Faults().Script(banksim.RouteTransfer, tc.faults...); err != nil {
				t.Fatal(err)
			}
			tr := w.newTransfer(25_000, flows.TransferAuthorized)
			got := w.waitTransfer(tr.ID, flows.TransferCompleted)

			res, ok := w.bank.Transfer(tr.ID)
			if !ok || res.Status != bank.StatusCompleted || got.BankRef != res.BankReference {
				t.Fatalf("the bank holds %+v (%v); the transfer has bank reference %q", res, ok, got.BankRef)
			}
			var debits int
			for _, p := range w.bank.Postings(tr.ID) {
				if p.Amount < 0 {
					debits++
					if p.Amount != -25_000 {
						t.Errorf("debited %d, want 25000", -p.Amount)
					}
				}
			}
			if st := w.bank.Stats(); debits != 1 || st.Transfers != 1 {
				t.Fatalf("%d debits, %d transfer ids at the bank; want 1 and 1", debits, st.Transfers)
			}
			if err := w.bank.Audit(); err != nil {
				t.Fatal(err)
			}
			if row := w.bankRow(tr.Payer, tr.ID); row.State != "done" || row.Sealed {
				t.Fatalf("bank outbox row %+v, want done and erased", row)
			}
			if got := w.gauge(`paygate_transfers{state="completed"}`); got != 1 {
				t.Errorf(`paygate_transfers{state="completed"} = %v, want 1`, got)
			}
			if got := w.gauge(`paygate_transfers{state="unknown"}`); got != 0 {
				t.Errorf(`paygate_transfers{state="unknown"} = %v, want 0`, got)
			}
			if got := w.gauge(`paygate_bank_outbox_total{kind="transfer",result="answered"}`); got != 1 {
				t.Errorf("transfer answers counted: %v, want 1", got)
			}
		})
	}
}

// TestTransferExpiryTimer: a transfer whose prompt goes unanswered
// expires on the timer (SPEC §6), and the timer is driven by the
// database: one that fell due while the gateway was down expires when it
// is back. A transfer past its prompt does not expire.
func TestTransferExpiryTimer(t *testing.T) {
	w := newWorld(t)
	early := w.newTransfer(100, flows.TransferPendingCode)
	w.clock.add(flows.PendingTTL + time.Second)
	w.waitTransfer(early.ID, flows.TransferExpired)

	late := w.newTransfer(200, flows.TransferPendingPIN)
	sent := w.newTransfer(300, flows.TransferAuthorized)
	w.waitTransfer(sent.ID, flows.TransferCompleted)
	w.stop()
	w.clock.add(flows.PendingTTL + time.Second)
	w.start()
	w.waitTransfer(late.ID, flows.TransferExpired)
	if got := w.transfer(sent.ID).State; got != flows.TransferCompleted {
		t.Fatalf("a completed transfer became %s", got)
	}
	for state, want := range map[flows.TransferState]float64{
		flows.TransferExpired: 2, flows.TransferCompleted: 1, flows.TransferPendingPIN: 0, flows.TransferPendingCode: 0,
	} {
		if got := w.gauge(`paygate_transfers{state="` + string(state) + `"}`); got != want {
			t.Errorf(`paygate_transfers{state=%q} = %v, want %v`, state, got, want)
		}
	}
}
