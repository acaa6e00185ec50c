// Package banksim is a bank simulator with a real ledger, speaking
// SPEC.md §8's Bank API for tests, the sandbox and `paygate sim bank`.
//
// A Bank holds accounts (bank code, number, holder's name, phone on
// file, balance), a fee account and a double-entry ledger: a completed
// transfer debits amount+fee from the payer, credits amount to the payee
// and the fee to the fee account, and its postings sum to zero. A
// transfer id is applied at most once: the same id again answers the
// first result, the same id with another body is 409. Insufficient
// funds, unknown and closed accounts are rejections (status "rejected"
// with a reason), not errors. Every request's signature is checked and
// every answer signed. Audit checks the ledger: money conserved, no
// negative balance, no transfer applied twice, every transfer balanced.
//
// Faults make it misbehave as banks do — latency, 5xx or 429 before
// committing, committing and then dropping the connection, answering
// 500 or stalling past the client's timeout, duplicate delivery, bad or
// stale answer signatures — at random rates or scripted request by
// request, and the control API under /sim/ switches them at run time.
package banksim
