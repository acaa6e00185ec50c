package store

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	sqlite3 "github.com/mattn/go-sqlite3"
)

// writerDriver opens SQLite's one write connection with automatic
// checkpoints off: a checkpoint run by the committing connection copies
// the WAL back into the database and fsyncs it inside a commit, stalling
// every step queued behind it. The checkpointer does it instead, on its
// own connection, without blocking the writer.
const writerDriver = "sqlite3-paygate-writer"

func init() {
	sql.Register(writerDriver, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA wal_autocheckpoint = 0", nil)
			return err
		},
	})
}

// openWriter opens the write connection through writerDriver, binding
// queries as sqlite3 does.
func openWriter(dsn string) (*sqlx.DB, error) {
	db, err := sql.Open(writerDriver, dsn)
	if err != nil {
		return nil, err
	}
	return sqlx.NewDb(db, "sqlite3"), nil
}

// checkpointer runs passive WAL checkpoints on its own connection every
// interval: they copy committed pages into the database file while the
// writer goes on, and let the WAL start over once readers are done with
// it, so the WAL stays small.
type checkpointer struct {
	db   *sql.DB
	quit chan struct{}
	wg   sync.WaitGroup
}

func startCheckpointer(dsn string, every time.Duration) (*checkpointer, error) {
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	c := &checkpointer{db: db, quit: make(chan struct{})}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.quit:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
				cancel()
			}
		}
	}()
	return c, nil
}

// close stops the checkpointer after a last checkpoint that truncates the
// WAL (the writer has stopped by then).
func (c *checkpointer) close() error {
	close(c.quit)
	c.wg.Wait()
	c.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return c.db.Close()
}
