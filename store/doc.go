// Package store is paygate's persistence: SQLite (the embedded default)
// and PostgreSQL (for several gateway instances) through sqlx, with one
// set of queries and a thin dialect layer where the two differ (type
// names in migrations, row leases, error codes).
//
// Every flow step runs in one transaction through DB.Step, which hands it
// a Tx implementing flows.Tx plus the inbox and outbox writes of the
// step. On SQLite one writer goroutine owns the only write connection and
// batches concurrent steps into one commit, a savepoint each, so one
// failing step does not abort its batch (group commit); on PostgreSQL
// concurrent transactions batch on their own.
package store
