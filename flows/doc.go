// Package flows is paygate's payment core: domain types, the SMS command
// grammar, reply texts in English and Chinese, and the flows as explicit
// steps. A step loads state through Tx, decides, and writes the new state
// and every effect it wants (SMS to send, later bank requests) through the
// same Tx, which the caller commits as one database transaction. Steps do
// no I/O of their own: they are deterministic functions of (state, event,
// clock), so they are tested without sockets or a database.
package flows
