package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/paygate/paygate/flows"
)

// transferColumns are the columns of a transfer row, in transferRow's
// order and the order CreateTransfer inserts them.
const transferColumns = `id, ref, kind, payer, payee, payee_phone, payee_name, debit_bank, debit_masked,
	credit_bank, credit_masked, sealed, amount, fee, state, reason, bank_ref, created_at, updated_at, expires_at, bind, lang, mode`

// transferRow is a transfers row as it is read.
type transferRow struct {
	ID           string `db:"id"`
	Ref          string `db:"ref"`
	Kind         string `db:"kind"`
	Payer        string `db:"payer"`
	Payee        string `db:"payee"`
	PayeePhone   string `db:"payee_phone"`
	PayeeName    string `db:"payee_name"`
	DebitBank    string `db:"debit_bank"`
	DebitMasked  string `db:"debit_masked"`
	CreditBank   string `db:"credit_bank"`
	CreditMasked string `db:"credit_masked"`
	Sealed       []byte `db:"sealed"`
	Amount       int64  `db:"amount"`
	Fee          int64  `db:"fee"`
	State        string `db:"state"`
	Reason       string `db:"reason"`
	BankRef      string `db:"bank_ref"`
	Created      int64  `db:"created_at"`
	Updated      int64  `db:"updated_at"`
	Expires      int64  `db:"expires_at"`
	Bind         string `db:"bind"`
	Lang         string `db:"lang"`
	Mode         string `db:"mode"`
}

// transferSecrets is what of a transfer is kept sealed: the account
// numbers and the narrative, which the payer typed and may be anything.
// Secrets reveal themselves here on purpose, and only here.
type transferSecrets struct {
	V         int    `json:"v"`
	Debit     string `json:"debit"`
	Credit    string `json:"credit"`
	Narrative string `json:"narrative,omitempty"`
}

// transferAD is the additional data a transfer's secrets are sealed with:
// it binds them to the transfer's id and, unlike a bank request's payload
// (sealed with the bare id, which is the same id), to the transfers table.
func transferAD(id string) []byte { return []byte("transfer\x00" + id) }

// stateList is the states of flows.TransferStates that keep accepts, as
// an SQL list of literals in SPEC §6's order: "'authorized', 'sent'".
func stateList(keep func(flows.TransferState) bool) string {
	var out []string
	for _, s := range flows.TransferStates() {
		if keep(s) {
			out = append(out, "'"+string(s)+"'")
		}
	}
	return strings.Join(out, ", ")
}

var (
	// debitStates are the states whose transfers count against the daily
	// limit (flows.TransferState.Debits).
	debitStates = stateList(flows.TransferState.Debits)
	// pendingStates are the states that wait for the payer
	// (flows.TransferState.Pending). The list is written as the partial
	// index transfers_pending's predicate is, so that the planners of
	// both databases see the index serves the query.
	pendingStates = stateList(flows.TransferState.Pending)
)

// micros is t as the time columns hold it: unix microseconds, and 0 for
// the zero time.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros reads what micros wrote.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// sealTransfer seals t's account numbers and narrative.
func (db *DB) sealTransfer(t flows.Transfer) ([]byte, error) {
	b, err := json.Marshal(transferSecrets{V: 1, Debit: t.Debit.Number.Reveal(), Credit: t.Credit.Number.Reveal(), Narrative: t.Narrative})
	if err != nil {
		return nil, err
	}
	return db.keys.sealBytes(b, transferAD(t.ID)), nil
}

// transfer turns a row into a flows.Transfer, opening its secrets.
func (db *DB) transfer(r transferRow) (flows.Transfer, error) {
	b, err := db.keys.openBytes(r.Sealed, transferAD(r.ID))
	if err != nil {
		return flows.Transfer{}, fmt.Errorf("store: reading transfer %s: %w", r.Ref, err)
	}
	var s transferSecrets
	if err := json.Unmarshal(b, &s); err != nil {
		return flows.Transfer{}, fmt.Errorf("store: reading transfer %s: %w", r.Ref, err)
	}
	if s.V != 1 {
		return flows.Transfer{}, fmt.Errorf("store: reading transfer %s: sealed version %d is not 1", r.Ref, s.V)
	}
	return flows.Transfer{
		ID: r.ID, Ref: r.Ref, Kind: flows.OpKind(r.Kind),
		Payer:      flows.MSISDN(r.Payer),
		Debit:      flows.AccountRef{Bank: r.DebitBank, Number: flows.AccountNumber(s.Debit)},
		Payee:      r.Payee,
		PayeePhone: flows.MSISDN(r.PayeePhone),
		PayeeName:  r.PayeeName,
		Credit:     flows.AccountRef{Bank: r.CreditBank, Number: flows.AccountNumber(s.Credit)},
		Amount:     flows.Amount(r.Amount), Fee: flows.Amount(r.Fee), Narrative: s.Narrative,
		State: flows.TransferState(r.State), Reason: r.Reason, BankRef: r.BankRef,
		Created: fromMicros(r.Created), Updated: fromMicros(r.Updated), Expires: fromMicros(r.Expires),
		Bind: r.Bind, Lang: flows.Lang(r.Lang), Mode: flows.RequestMode(r.Mode),
	}, nil
}

// transfers turns rows into flows.Transfers.
func (db *DB) transfers(rows []transferRow) ([]flows.Transfer, error) {
	out := make([]flows.Transfer, 0, len(rows))
	for _, r := range rows {
		t, err := db.transfer(r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// CreateTransfer implements flows.Tx: one row, its account numbers and
// narrative sealed, bound to its id; times are kept to the microsecond.
// An id or reference already taken inserts nothing and returns an error
// wrapping ErrDuplicate (flows.ErrDuplicate); the transaction stays
// usable on both databases (the insert does nothing on conflict rather
// than fail), so the step can draw another reference.
func (tx *Tx) CreateTransfer(ctx context.Context, t flows.Transfer) error {
	if t.ID == "" || t.Ref == "" {
		return errors.New("store: creating transfer: empty id or reference")
	}
	sealed, err := tx.db.sealTransfer(t)
	if err != nil {
		return fmt.Errorf("store: creating transfer %s: %w", t.Ref, err)
	}
	res, err := tx.q.ExecContext(ctx, tx.rebind(`INSERT INTO transfers (`+transferColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
		t.ID, t.Ref, string(t.Kind), string(t.Payer), t.Payee, string(t.PayeePhone), t.PayeeName,
		t.Debit.Bank, t.Debit.Number.Masked(), t.Credit.Bank, t.Credit.Number.Masked(), sealed,
		int64(t.Amount), int64(t.Fee), string(t.State), t.Reason, t.BankRef,
		micros(t.Created), micros(t.Updated), micros(t.Expires), t.Bind, string(t.Lang), string(t.Mode))
	switch {
	case err != nil && !tx.db.d.duplicate(err):
		return fmt.Errorf("store: creating transfer %s: %w", t.Ref, err)
	case err == nil:
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("store: creating transfer %s: %w", t.Ref, err)
		}
		if n > 0 {
			return nil
		}
	}
	// Say which one is taken: an id is a bug of its maker, a reference a
	// draw to repeat.
	var ids int
	if err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT COUNT(*) FROM transfers WHERE id = ?`), t.ID).Scan(&ids); err != nil {
		return fmt.Errorf("store: creating transfer %s: %w", t.Ref, err)
	}
	if ids > 0 {
		return fmt.Errorf("store: creating transfer %s: id %s exists: %w", t.Ref, t.ID, ErrDuplicate)
	}
	return fmt.Errorf("store: creating transfer: reference %s is taken: %w", t.Ref, ErrDuplicate)
}

// UpdateTransfer implements flows.Tx: it stores t's State, Reason,
// BankRef, Updated and Expires, and nothing else of t. No transfer t.ID
// returns flows.ErrNotFound.
func (tx *Tx) UpdateTransfer(ctx context.Context, t flows.Transfer) error {
	res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE transfers SET state = ?, reason = ?, bank_ref = ?, updated_at = ?, expires_at = ? WHERE id = ?`),
		string(t.State), t.Reason, t.BankRef, micros(t.Updated), micros(t.Expires), t.ID)
	if err != nil {
		return fmt.Errorf("store: updating transfer %s: %w", t.Ref, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: updating transfer %s: %w", t.Ref, err)
	} else if n == 0 {
		return fmt.Errorf("store: updating transfer %s: %w", t.ID, flows.ErrNotFound)
	}
	return nil
}

// Transfer implements flows.Tx. On PostgreSQL the row stays locked until
// the step ends: a step reads a transfer by id to move it, and two steps
// moving one transfer (a bank answer and the claim that marks it sent)
// must run one after the other. SQLite's one writer already does.
func (tx *Tx) Transfer(ctx context.Context, id string) (flows.Transfer, error) {
	var r transferRow
	err := tx.q.GetContext(ctx, &r, tx.rebind(`SELECT `+transferColumns+` FROM transfers WHERE id = ?`+tx.db.d.lockRow), id)
	if isNoRows(err) {
		return flows.Transfer{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.Transfer{}, fmt.Errorf("store: reading transfer: %w", err)
	}
	return tx.db.transfer(r)
}

// TransferByRef implements flows.Tx. Unlike Transfer it does not lock
// the row: STATUS reads it, from the payer's phone or the payee's, and
// changes nothing.
func (tx *Tx) TransferByRef(ctx context.Context, ref string) (flows.Transfer, error) {
	var r transferRow
	err := tx.q.GetContext(ctx, &r, tx.rebind(`SELECT `+transferColumns+` FROM transfers WHERE ref = ?`), ref)
	if isNoRows(err) {
		return flows.Transfer{}, flows.ErrNotFound
	}
	if err != nil {
		return flows.Transfer{}, fmt.Errorf("store: reading transfer %s: %w", ref, err)
	}
	return tx.db.transfer(r)
}

// Spent implements flows.Tx: the sum of the amounts (fees not included)
// of payer's transfers created at or after since that are authorized,
// sent, unknown or completed (flows.TransferState.Debits).
func (tx *Tx) Spent(ctx context.Context, payer flows.MSISDN, since time.Time) (flows.Amount, error) {
	var sum int64
	// SUM of a BIGINT is a NUMERIC on PostgreSQL: cast it back.
	err := tx.q.QueryRowxContext(ctx, tx.rebind(`SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM transfers
		WHERE payer = ? AND created_at >= ? AND state IN (`+debitStates+`)`), string(payer), since.UnixMicro()).Scan(&sum)
	if err != nil {
		return 0, fmt.Errorf("store: summing transfers: %w", err)
	}
	return flows.Amount(sum), nil
}

// DueTransfer is a pending transfer whose prompt expired unanswered: the
// expiry timer runs a step of Payer's to end it.
type DueTransfer struct {
	ID    string
	Payer flows.MSISDN
}

// DueTransfers returns up to limit transfers still waiting for the
// payer's PIN or code (pending_pin, pending_code) whose expiry is before
// now, the longest expired first. Reading them changes nothing: the step
// that expires one moves it out of the pending states.
func (db *DB) DueTransfers(ctx context.Context, now time.Time, limit int) ([]DueTransfer, error) {
	var rows []struct {
		ID    string `db:"id"`
		Payer string `db:"payer"`
	}
	err := db.r.SelectContext(ctx, &rows, db.r.Rebind(`SELECT id, payer FROM transfers
		WHERE state IN (`+pendingStates+`) AND expires_at < ? ORDER BY expires_at, id LIMIT ?`), now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: reading due transfers: %w", err)
	}
	out := make([]DueTransfer, len(rows))
	for i, r := range rows {
		out[i] = DueTransfer{ID: r.ID, Payer: flows.MSISDN(r.Payer)}
	}
	return out, nil
}

// TransferFilter selects transfers for DB.Transfers. Zero fields select
// everything.
type TransferFilter struct {
	Payer flows.MSISDN        // only this payer's
	State flows.TransferState // only those in this state
	Limit int                 // at most this many; 0 is no limit
}

// Transfers returns the transfers f selects, newest first (by creation,
// then id), their account numbers and narratives opened. It is for
// operators and tests, not for steps: it reads outside any step.
func (db *DB) Transfers(ctx context.Context, f TransferFilter) ([]flows.Transfer, error) {
	var where []string
	var args []any
	if f.Payer != "" {
		where, args = append(where, "payer = ?"), append(args, string(f.Payer))
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	q := `SELECT ` + transferColumns + ` FROM transfers`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY created_at DESC, id DESC`
	if f.Limit > 0 {
		q, args = q+` LIMIT ?`, append(args, f.Limit)
	}
	var rows []transferRow
	if err := db.r.SelectContext(ctx, &rows, db.r.Rebind(q), args...); err != nil {
		return nil, fmt.Errorf("store: reading transfers: %w", err)
	}
	return db.transfers(rows)
}

// TransferCounts returns how many transfers are in each state, with
// every state of flows.TransferStates present (0 when none is), for a
// metrics gauge whose states must fall back to 0 as they empty.
func (db *DB) TransferCounts(ctx context.Context) (map[flows.TransferState]int, error) {
	var rows []struct {
		State string `db:"state"`
		N     int    `db:"n"`
	}
	if err := db.r.SelectContext(ctx, &rows, `SELECT state, COUNT(*) AS n FROM transfers GROUP BY state`); err != nil {
		return nil, fmt.Errorf("store: counting transfers: %w", err)
	}
	out := make(map[flows.TransferState]int, len(flows.TransferStates()))
	for _, s := range flows.TransferStates() {
		out[s] = 0
	}
	for _, r := range rows {
		out[flows.TransferState(r.State)] = r.N
	}
	return out, nil
}

// markSent moves the transfers among the claimed bank requests of kind
// transfer from authorized to sent (SPEC §6: handed to the bank), in the
// claim's own step. Transfers already past authorized (sent, unknown,
// answered) are left as they are: a retry does not make an unknown
// transfer sent again.
func (tx *Tx) markSent(ctx context.Context, ids []string, now time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, now.UnixMicro())
	for _, id := range ids {
		args = append(args, id)
	}
	q := `UPDATE transfers SET state = '` + string(flows.TransferSent) + `', updated_at = ?
		WHERE state = '` + string(flows.TransferAuthorized) + `' AND id IN (?` + strings.Repeat(", ?", len(ids)-1) + `)`
	if _, err := tx.q.ExecContext(ctx, tx.rebind(q), args...); err != nil {
		return fmt.Errorf("store: marking transfers sent: %w", err)
	}
	return nil
}
