// Package bank holds paygate's bank connectors behind one interface,
// Connector: the gateway verifies accounts, moves money, and reads
// balances and statements through it, and never learns which network a
// bank speaks.
//
// HTTP is the connector of SPEC.md §8, the Bank API v1: JSON over https
// with a configurable CA and an optional client certificate, every
// request signed and every answer's signature checked (Paygate-Signature,
// HMAC-SHA256, at most 5 minutes old either way), a timeout per request,
// and the outcome rules of §8. A timeout, a dropped connection, a 5xx, a
// 429 or an answer whose signature does not hold is an *unknown* outcome,
// never a success and never a failure: Transfer resolves it itself by
// asking GET /v1/transfers/{id} and resending the same id with the same
// body, with exponential backoff and jitter, until the bank gives a final
// answer or the caller's context ends. Other 4xx answers are final
// (*FinalError), never retried, and reported to Hooks.FinalError so that
// operators are alerted. A circuit breaker makes calls fail fast with
// ErrCircuitOpen while the bank is down. One intent is one transfer id:
// the connector never makes up an id.
//
// Account numbers travel as flows.AccountNumber and print masked; no
// error, log line or hook label carries an account number or the shared
// secret.
//
// Package bank/banksim is a bank with a real ledger that speaks the same
// API, for tests, the sandbox and `paygate sim bank`.
package bank
