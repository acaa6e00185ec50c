// Package invariant checks RELIABILITY.md's invariants I2–I6 over what the
// outside world saw: the SMS phones received (at the SMSC simulator), the
// gateway's transfers, and the bank simulator's ledger. Fault tests call
// Check after the faults stop and the gateway settled; I1 (no
// acknowledged MO lost) needs the SMSC's acknowledgements and the inbox
// and is the caller's, as it differs per test.
package invariant

import (
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/paygate/paygate/bank"
	"github.com/paygate/paygate/bank/banksim"
	"github.com/paygate/paygate/flows"
)

// SMS is one text a phone received.
type SMS struct {
	To   flows.MSISDN
	Text string
}

// World is what Check looks at.
type World struct {
	// Transfers are every transfer of the gateway's database.
	Transfers []flows.Transfer
	// Received are every SMS the phones received.
	Received []SMS
	// Bank is the bank simulator the gateway sent its transfers to.
	Bank *banksim.Bank
	// DB, when not nil, is the gateway's SQLite database, for I6.
	DB *sql.DB
	// Now is the gateway's time: a transfer still waiting for its user
	// is stuck only once it is past its expiry (I5).
	Now time.Time
}

// Check returns every violation found, each naming its invariant ("I4:
// …"); none means the world holds I2–I6.
func Check(w World) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	// I2 and I3: the ledger debits each transfer at most once, balances
	// are conserved and none is negative.
	debits := map[string]int{}
	for _, p := range w.Bank.Ledger() {
		if p.Amount < 0 && p.Account != w.Bank.FeeAccount() {
			debits[p.TransferID]++
		}
	}
	for id, n := range debits {
		if n > 1 {
			bad("I2: transfer %s debited %d times", id, n)
		}
	}
	if err := w.Bank.Audit(); err != nil {
		bad("I3: %v", err)
	}

	byRef := map[string]flows.Transfer{}
	for _, t := range w.Transfers {
		if o, dup := byRef[t.Ref]; dup {
			bad("I2: reference %s names transfers %s and %s", t.Ref, o.ID, t.ID)
		}
		byRef[t.Ref] = t
		res, atBank := w.Bank.Transfer(t.ID)
		switch t.State {
		case flows.TransferCompleted:
			if !atBank || res.Status != bank.StatusCompleted {
				bad("I4: transfer %s is completed at the gateway but %q at the bank", t.Ref, res.Status)
			}
		case flows.TransferRejected:
			if atBank && res.Status == bank.StatusCompleted {
				bad("I4: transfer %s is rejected at the gateway but completed at the bank", t.Ref)
			}
		case flows.TransferAuthorized, flows.TransferSent, flows.TransferUnknown:
			bad("I5: transfer %s is stuck in %s", t.Ref, t.State)
		case flows.TransferPendingPIN, flows.TransferPendingCode:
			if !w.Now.IsZero() && w.Now.After(t.Expires.Add(time.Minute)) {
				bad("I5: transfer %s is still %s a minute past its expiry", t.Ref, t.State)
			}
			fallthrough
		default: // cancelled, expired: never sent
			if atBank {
				bad("I2: transfer %s is %s at the gateway but the bank has it (%s)", t.Ref, t.State, res.Status)
			}
		}
		delete(debits, t.ID)
	}
	for id := range debits {
		bad("I2: the bank debited transfer %s, which the gateway does not have", id)
	}

	// I4: every receipt names one completed transfer, and every completed
	// transfer's receipts reached its phones.
	type side struct {
		ref  string
		side flows.ReceiptSide
	}
	got := map[side]flows.MSISDN{}
	for _, m := range w.Received {
		ref, s, ok := flows.ParseReceipt(m.Text)
		if !ok {
			continue
		}
		t, known := byRef[ref]
		switch {
		case !known:
			bad("I4: %s received a receipt for %s, which the gateway does not have", m.To.Masked(), ref)
			continue
		case t.State != flows.TransferCompleted:
			bad("I4: %s received a receipt for %s, which is %s", m.To.Masked(), ref, t.State)
		case s == flows.ReceiptPayer && m.To != t.Payer, s == flows.ReceiptPayee && m.To != t.PayeePhone:
			bad("I4: the receipt for %s went to %s, not its party", ref, m.To.Masked())
		}
		got[side{ref, s}] = m.To
	}
	for _, t := range w.Transfers {
		if t.State != flows.TransferCompleted {
			continue
		}
		if _, ok := got[side{t.Ref, flows.ReceiptPayer}]; !ok {
			bad("I4: completed transfer %s: the payer got no receipt", t.Ref)
		}
		if _, ok := got[side{t.Ref, flows.ReceiptPayee}]; !ok && t.PayeePhone != "" {
			bad("I4: completed transfer %s: the payee got no receipt", t.Ref)
		}
	}

	// I6.
	if w.DB != nil {
		var res string
		if err := w.DB.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
			bad("I6: integrity_check: %q %v", res, err)
		}
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	return errs
}

// Summary is one line of counts for a test's log: transfers by state,
// the bank's completed ones, receipts seen.
func Summary(w World) string {
	n := map[flows.TransferState]int{}
	for _, t := range w.Transfers {
		n[t.State]++
	}
	var parts []string
	for _, s := range flows.TransferStates() {
		if n[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", s, n[s]))
		}
	}
	receipts := 0
	for _, m := range w.Received {
		if _, _, ok := flows.ParseReceipt(m.Text); ok {
			receipts++
		}
	}
	return fmt.Sprintf("transfers %s; receipts %d; bank postings %d", strings.Join(parts, " "), receipts, len(w.Bank.Ledger()))
}
