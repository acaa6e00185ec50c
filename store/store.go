package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/jmoiron/sqlx"
	_ "github.com/mattn/go-sqlite3" // registers "sqlite3"

	"github.com/paygate/paygate/flows"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrUnavailable wraps a failure to reach or write the database: the
// caller should answer "try again later" (ESME_RX_T_APPN, HTTP 503).
var ErrUnavailable = errors.New("store: unavailable")

// ErrDuplicate wraps a write refused because the row exists already: an
// account linked to the phone once more (Tx.SaveAccount), a bank request
// id queued twice (Tx.QueueBank), a transfer id or reference taken
// (Tx.CreateTransfer), a merchant code taken (DB.AddMerchant). Inside a
// step the transaction stays usable, so the flow can answer it. It is
// flows.ErrDuplicate itself, so that errors.Is matches either: the flows
// see the store's duplicates as their port (flows.Tx) promises them.
var ErrDuplicate = flows.ErrDuplicate

// Options configure Open. Zero values mean the documented default.
type Options struct {
	Keys Keys
	// MaxBatch is the most steps the SQLite writer puts in one commit.
	// Default 512.
	MaxBatch int
	// Logger receives migration and janitor messages.
	Logger *slog.Logger
	// Now is the clock of the rows' timestamps (queued, due, received);
	// default time.Now. The gateway passes its own, so that a test clock
	// and the outbox agree on what is due.
	Now func() time.Time
}

// DB is an open store. Its methods are safe for concurrent use.
type DB struct {
	d      dialect
	w      *sqlx.DB // SQLite: the one write connection; PostgreSQL: the pool
	r      *sqlx.DB // SQLite: readers; PostgreSQL: the same pool
	keys   *keyring
	writer *writer       // SQLite only
	ckpt   *checkpointer // SQLite only
	log    *slog.Logger
	now    func() time.Time

	outboxSignal chan struct{}
	bankSignal   chan struct{}
	// pushSignal and webhookSignal: a step queued a USSD push or a
	// webhook event.
	pushSignal, webhookSignal chan struct{}
	onQueued                  atomic.Pointer[queuedHandler]
	steps                     atomic.Int64
	commits                   atomic.Int64
	closeOnce                 sync.Once
	closeErr                  error
}

// Stats counts the work of the store since Open.
type Stats struct {
	Steps   int64 // steps run (Step calls that reached the database)
	Commits int64 // transactions committed; fewer than Steps on SQLite when group commit batches them
}

// Stats returns the counters.
func (db *DB) Stats() Stats { return Stats{Steps: db.steps.Load(), Commits: db.commits.Load()} }

// Open opens the database named by dsn: "sqlite:PATH" (or a bare path) or
// "postgres://…". It does not migrate; call Migrate.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 512
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	keys, err := newKeyring(opts.Keys)
	if err != nil {
		return nil, err
	}
	db := &DB{keys: keys, log: opts.Logger, now: opts.Now, outboxSignal: make(chan struct{}, 1), bankSignal: make(chan struct{}, 1),
		pushSignal: make(chan struct{}, 1), webhookSignal: make(chan struct{}, 1)}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.d = postgresDialect
		pool, err := sqlx.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("store: opening postgres: %w", err)
		}
		pool.SetMaxOpenConns(32)
		pool.SetMaxIdleConns(32)
		db.w, db.r = pool, pool
	default:
		db.d = sqliteDialect
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("store: sqlite path is empty")
		}
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_busy_timeout", "5000")
		q.Set("_foreign_keys", "on")
		q.Set("_txlock", "immediate")
		q.Set("_stmt_cache_size", "64") // the hot queries stay prepared
		q.Set("_cache_size", "-65536")  // 64 MiB of pages
		w, err := openWriter("file:" + path + "?" + q.Encode())
		if err != nil {
			return nil, fmt.Errorf("store: opening %s: %w", path, err)
		}
		if db.ckpt, err = startCheckpointer("file:"+path+"?"+q.Encode(), 250*time.Millisecond); err != nil {
			w.Close()
			return nil, fmt.Errorf("store: opening %s: %w", path, err)
		}
		w.SetMaxOpenConns(1) // the one writer
		w.SetMaxIdleConns(1)
		w.SetConnMaxLifetime(0)
		q.Set("_query_only", "true")
		q.Del("_txlock")
		r, err := sqlx.Open("sqlite3", "file:"+path+"?"+q.Encode())
		if err != nil {
			w.Close()
			return nil, fmt.Errorf("store: opening %s: %w", path, err)
		}
		r.SetMaxOpenConns(8)
		r.SetMaxIdleConns(8)
		db.w, db.r = w, r
	}
	if err := db.w.PingContext(ctx); err != nil {
		db.close()
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if db.d.name == "sqlite3" {
		if db.writer, err = newWriter(db, opts.MaxBatch); err != nil {
			db.close()
			return nil, err
		}
	}
	return db, nil
}

// Dialect returns "sqlite3" or "pgx".
func (db *DB) Dialect() string { return db.d.name }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Close stops the writer (steps already queued finish) and closes the
// database.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		if db.writer != nil {
			db.writer.close()
		}
		db.closeErr = db.close()
	})
	return db.closeErr
}

func (db *DB) close() error {
	err := db.w.Close()
	if db.r != db.w {
		err = errors.Join(err, db.r.Close())
	}
	if db.ckpt != nil {
		err = errors.Join(err, db.ckpt.close())
	}
	return err
}

// Migrate applies the embedded migrations not yet applied, each in its
// own transaction, recording them in schema_migrations, and returns the
// names of those it applied, in order.
func (db *DB) Migrate(ctx context.Context) ([]string, error) {
	var applied []string
	err := db.migrate(ctx, &applied)
	return applied, err
}

// Unapplied returns the names of the embedded migrations the database
// lacks, in order: what Migrate would apply. None means the schema is up
// to date. Commands that use the store without migrating it (the merchant
// commands) check it, so that they can ask for `paygate migrate` rather
// than fail on a missing table. Like Migrate, it creates the (empty)
// table of applied migrations when the database has none.
func (db *DB) Unapplied(ctx context.Context) ([]string, error) {
	todo, err := db.unapplied(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(todo))
	for i, m := range todo {
		names[i] = m.name
	}
	return names, nil
}

// migration is one embedded migration file.
type migration struct {
	name    string // its base name, "0002_accounts.sql"
	path    string // in the embedded file system
	version int64  // its number prefix
}

// unapplied returns the embedded migrations not recorded in
// schema_migrations (which it creates if missing), in order.
func (db *DB) unapplied(ctx context.Context) ([]migration, error) {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return nil, fmt.Errorf("store: migrating: %w", err)
	}
	var applied []int64
	if err := db.w.SelectContext(ctx, &applied, `SELECT version FROM schema_migrations`); err != nil {
		return nil, fmt.Errorf("store: migrating: %w", err)
	}
	done := map[int64]bool{}
	for _, v := range applied {
		done[v] = true
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var todo []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.ParseInt(strings.SplitN(base, "_", 2)[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("store: migration %s: no version prefix", base)
		}
		if !done[v] {
			todo = append(todo, migration{name: base, path: name, version: v})
		}
	}
	return todo, nil
}

func (db *DB) migrate(ctx context.Context, out *[]string) error {
	todo, err := db.unapplied(ctx)
	if err != nil {
		return err
	}
	for _, m := range todo {
		base, v := m.name, m.version
		body, err := migrations.ReadFile(m.path)
		if err != nil {
			return err
		}
		tx, err := db.w.BeginTxx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		for _, stmt := range splitSQL(db.d.ddl(string(body))) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: migration %s: %w", base, err)
			}
		}
		if _, err := tx.ExecContext(ctx, db.w.Rebind(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, time.Now().UnixMicro()); err != nil {
			tx.Rollback()
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
		db.log.Info("store: applied migration", "migration", base)
		*out = append(*out, base)
	}
	return nil
}

// splitSQL splits a migration into statements at semicolons ending a
// line, dropping comment lines.
func splitSQL(s string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

// Step runs fn in one transaction and commits it. On SQLite, fn runs on
// the writer goroutine inside a savepoint of a batch shared with other
// steps; it must not block or do I/O (the flow rule) and must not keep tx.
// An error from fn rolls back fn's writes only and is returned as is; a
// failure of the database itself is returned wrapping ErrUnavailable.
func (db *DB) Step(ctx context.Context, fn func(tx *Tx) error) error {
	if db.writer != nil {
		return db.writer.do(ctx, fn)
	}
	for attempt := 0; ; attempt++ {
		err := db.pgStep(ctx, fn)
		if err == nil || attempt == 3 || !db.d.retryable(err) {
			return err
		}
	}
}

func (db *DB) pgStep(ctx context.Context, fn func(tx *Tx) error) error {
	sqltx, err := db.w.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	tx := &Tx{db: db, q: sqltx}
	if err := runStep(tx, fn); err != nil {
		sqltx.Rollback()
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("%w: committing: %w", ErrUnavailable, err)
	}
	db.steps.Add(1)
	db.commits.Add(1)
	tx.committed()
	return nil
}

// runStep calls fn, turning a panic into an error.
func runStep(tx *Tx, fn func(tx *Tx) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("store: step panicked: %v", r)
		}
	}()
	return fn(tx)
}

// OutboxSignal is sent on (without blocking) after a commit that queued
// an MT, so a dispatcher in this process can claim it at once.
func (db *DB) OutboxSignal() <-chan struct{} { return db.outboxSignal }

// queryer is what a Tx runs statements on: a *sqlx.Tx, or on SQLite's
// writer an uncancellable view of one.
type queryer interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

var _ queryer = (*sqlx.Tx)(nil)
var _ queryer = uncancellable{}

// uncancellable runs a SQLite writer step's statements under
// context.WithoutCancel. go-sqlite3 answers a cancellable context by
// running each statement on a goroutine of its own and interrupting the
// connection when the context ends: per statement that costs a goroutine
// hand-off on the one writer's critical path, and an interrupt would hit
// the whole batch the connection is running, not the one step whose
// context ended. A step is short and runs to its end.
type uncancellable struct{ tx *sqlx.Tx }

func (u uncancellable) DriverName() string                               { return u.tx.DriverName() }
func (u uncancellable) Rebind(q string) string                           { return u.tx.Rebind(q) }
func (u uncancellable) BindNamed(q string, a any) (string, []any, error) { return u.tx.BindNamed(q, a) }
func (u uncancellable) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return u.tx.QueryContext(context.WithoutCancel(ctx), q, args...)
}
func (u uncancellable) QueryxContext(ctx context.Context, q string, args ...any) (*sqlx.Rows, error) {
	return u.tx.QueryxContext(context.WithoutCancel(ctx), q, args...)
}
func (u uncancellable) QueryRowxContext(ctx context.Context, q string, args ...any) *sqlx.Row {
	return u.tx.QueryRowxContext(context.WithoutCancel(ctx), q, args...)
}
func (u uncancellable) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return u.tx.ExecContext(context.WithoutCancel(ctx), q, args...)
}
func (u uncancellable) GetContext(ctx context.Context, dest any, q string, args ...any) error {
	return u.tx.GetContext(context.WithoutCancel(ctx), dest, q, args...)
}
func (u uncancellable) SelectContext(ctx context.Context, dest any, q string, args ...any) error {
	return u.tx.SelectContext(context.WithoutCancel(ctx), dest, q, args...)
}

// isNoRows reports a lookup that found nothing.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
