package invariant

import (
	"strings"
	"testing"
	"time"

	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
)

// Check finds what it is for: a receipt for a transfer the gateway does
// not have or that did not complete, a completed transfer the bank does
// not have, a stuck one, a missing receipt; and passes a quiet world.
func TestCheckFindsViolations(t *testing.T) {
	b, err := banksim.New(banksim.Config{Secret: []byte("test-secret"), Code: "PGB", Accounts: banksim.DemoAccounts("PGB")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	li, wang := flows.MSISDN("+8613800138000"), flows.MSISDN("+8613900139000")
	tr := func(ref string, st flows.TransferState) flows.Transfer {
		return flows.Transfer{ID: "id-" + ref, Ref: ref, Kind: flows.OpSend, Payer: li, PayeePhone: wang, PayeeName: "W*** F***",
			Amount: 500, State: st, Created: now, Updated: now, Expires: now.Add(flows.PendingTTL)}
	}
	receipt := func(ref string) SMS {
		return SMS{To: li, Text: flows.Text(flows.English, flows.KeyReceiptPayer, flows.Vars{
			"amount": "5.00", "currency": "CNY", "payee": "W*** F***", "phone": "+86139****9000", "fee": "0.00",
			"ref": ref, "time": "2026-11-21 17:00 CST", "bankref": "B1"})}
	}

	quiet := World{Bank: b, Now: now, Transfers: []flows.Transfer{tr("ACDEFGHJ", flows.TransferCancelled), tr("ACDEFGHK", flows.TransferPendingPIN)}}
	if errs := Check(quiet); len(errs) != 0 {
		t.Fatalf("a quiet world: %v", errs)
	}
	for _, c := range []struct {
		name string
		w    World
		want string
	}{
		{"receipt for an unknown transfer", World{Received: []SMS{receipt("ACDEFGHJ")}}, "I4: " + li.Masked() + " received a receipt for ACDEFGHJ, which the gateway does not have"},
		{"receipt for a cancelled transfer", World{Transfers: []flows.Transfer{tr("ACDEFGHJ", flows.TransferCancelled)}, Received: []SMS{receipt("ACDEFGHJ")}}, "which is cancelled"},
		{"completed here, not at the bank", World{Transfers: []flows.Transfer{tr("ACDEFGHJ", flows.TransferCompleted)}}, "completed at the gateway but"},
		{"no receipts for a completed one", World{Transfers: []flows.Transfer{tr("ACDEFGHJ", flows.TransferCompleted)}}, "the payer got no receipt"},
		{"stuck", World{Transfers: []flows.Transfer{tr("ACDEFGHJ", flows.TransferUnknown)}}, "I5: transfer ACDEFGHJ is stuck in unknown"},
		{"pending long past expiry", World{Now: now.Add(time.Hour), Transfers: []flows.Transfer{tr("ACDEFGHJ", flows.TransferPendingCode)}}, "I5: transfer ACDEFGHJ is still pending_code"},
		{"two transfers, one reference", World{Transfers: []flows.Transfer{tr("ACDEFGHJ", flows.TransferCancelled), tr("ACDEFGHJ", flows.TransferExpired)}}, "I2: reference ACDEFGHJ names"},
	} {
		c.w.Bank = b
		errs := Check(c.w)
		found := false
		for _, err := range errs {
			found = found || strings.Contains(err.Error(), c.want)
		}
		if !found {
			t.Errorf("%s: %v, want %q", c.name, errs, c.want)
		}
	}
}
