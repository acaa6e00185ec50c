package store

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// dialect is what differs between SQLite and PostgreSQL. Queries are
// written once with ? placeholders and rebound for PostgreSQL by sqlx.
type dialect struct {
	name string // sqlx driver name: "sqlite3" or "pgx"
	// types fill the {{…}} holes of migrations.
	types map[string]string
	// lockSkip is appended to a SELECT that claims rows: FOR UPDATE SKIP
	// LOCKED on PostgreSQL; nothing on SQLite, whose single writer
	// serializes claims.
	lockSkip string
	// lockRow is appended to a SELECT that reads a row the step will
	// write back: FOR UPDATE on PostgreSQL, so that two instances run the
	// steps of one phone one after the other; nothing on SQLite, whose
	// single writer already does.
	lockRow string
}

var (
	sqliteDialect = dialect{
		name:  "sqlite3",
		types: map[string]string{"{{id}}": "INTEGER PRIMARY KEY", "{{bytes}}": "BLOB"},
	}
	postgresDialect = dialect{
		name:     "pgx",
		types:    map[string]string{"{{id}}": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "{{bytes}}": "BYTEA"},
		lockSkip: " FOR UPDATE SKIP LOCKED",
		lockRow:  " FOR UPDATE",
	}
)

func (d dialect) ddl(sql string) string {
	for k, v := range d.types {
		sql = strings.ReplaceAll(sql, k, v)
	}
	return sql
}

// retryable reports whether a transaction failed on a conflict with
// another one and may simply run again.
func (d dialect) retryable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "40001" || pg.Code == "40P01" // serialization failure, deadlock
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.Code == sqlite3.ErrBusy || se.Code == sqlite3.ErrLocked
	}
	return false
}

// duplicate reports whether a statement failed on a UNIQUE or PRIMARY
// KEY constraint.
func (d dialect) duplicate(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505" // unique_violation
	}
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	return false
}
