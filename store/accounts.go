package store

import (
	"context"
	"fmt"
	"time"

	"github.com/paygate/paygate/flows"
)

// Accounts implements flows.Tx: the phone's linked accounts, oldest first,
// their numbers opened.
func (tx *Tx) Accounts(ctx context.Context, phone flows.MSISDN) ([]flows.Account, error) {
	var rows []struct {
		ID      int64  `db:"id"`
		Bank    string `db:"bank"`
		Sealed  []byte `db:"number_sealed"`
		Holder  string `db:"holder"`
		Default int64  `db:"is_default"`
		Linked  int64  `db:"linked_at"`
	}
	err := tx.q.SelectContext(ctx, &rows, tx.rebind(`SELECT id, bank, number_sealed, holder, is_default, linked_at
		FROM accounts WHERE phone = ? ORDER BY id`), string(phone))
	if err != nil {
		return nil, fmt.Errorf("store: reading accounts: %w", err)
	}
	out := make([]flows.Account, 0, len(rows))
	for _, r := range rows {
		number, err := tx.db.keys.openBytes(r.Sealed, []byte(phone))
		if err != nil {
			return nil, fmt.Errorf("store: reading account %d: %w", r.ID, err)
		}
		out = append(out, flows.Account{
			ID: r.ID, Bank: r.Bank, Number: flows.AccountNumber(number), Holder: r.Holder,
			Default: r.Default != 0, Linked: time.UnixMicro(r.Linked),
		})
	}
	return out, nil
}

// SaveAccount implements flows.Tx. With a.ID 0 it links a to phone and
// sets a.ID (and a.Linked to now when it is zero): the number is sealed,
// bound to the phone, and fingerprinted with its bank. Linking an account
// the phone has already linked changes nothing and returns an error
// wrapping ErrDuplicate; the transaction stays usable on both databases
// (the insert does nothing on conflict rather than fail), so the flow can
// still answer. With a.ID set it updates the account's Default and Holder
// (nothing else of a link changes) and returns flows.ErrNotFound when the
// phone has no such account.
func (tx *Tx) SaveAccount(ctx context.Context, phone flows.MSISDN, a *flows.Account) error {
	if a.ID != 0 {
		res, err := tx.q.ExecContext(ctx, tx.rebind(`UPDATE accounts SET is_default = ?, holder = ? WHERE id = ? AND phone = ?`),
			boolInt(a.Default), a.Holder, a.ID, string(phone))
		if err != nil {
			return fmt.Errorf("store: saving account: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: saving account: %w", err)
		} else if n == 0 {
			return flows.ErrNotFound
		}
		return nil
	}
	linked := a.Linked
	if linked.IsZero() {
		linked = time.UnixMicro(tx.db.now().UnixMicro()) // as Accounts will read it
	}
	number := a.Number.Reveal()
	id, err := tx.insertID(ctx, `INSERT INTO accounts (phone, bank, number_sealed, number_fp, masked, holder, is_default, linked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (phone, number_fp) DO NOTHING`,
		string(phone), a.Bank, tx.db.keys.sealBytes([]byte(number), []byte(phone)), tx.db.keys.accountFingerprint(a.Bank, a.Number),
		a.Number.Masked(), a.Holder, boolInt(a.Default), linked.UnixMicro())
	if isNoRows(err) || tx.db.d.duplicate(err) {
		return fmt.Errorf("store: linking account %s: %w", a.Number.Masked(), ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("store: linking account: %w", err)
	}
	a.ID, a.Linked = id, linked
	return nil
}

// DeleteAccount implements flows.Tx. Unlinking an account the phone does
// not have (any more) is not an error: the outcome is the one asked for,
// and an UNLINK confirmed twice must not fail its second step.
func (tx *Tx) DeleteAccount(ctx context.Context, phone flows.MSISDN, id int64) error {
	if _, err := tx.q.ExecContext(ctx, tx.rebind(`DELETE FROM accounts WHERE id = ? AND phone = ?`), id, string(phone)); err != nil {
		return fmt.Errorf("store: unlinking account: %w", err)
	}
	return nil
}
