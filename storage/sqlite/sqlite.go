// Package sqlite is the embedded store: one SQLite file, no server, no cgo
// (modernc.org/sqlite). It serves a single gateway process; several replicas
// need storage/postgres.
//
// # Connections
//
// SQLite lets many readers work at once (in WAL mode) but only one writer.
// Left to database/sql, concurrent writers on separate connections would
// race for the write lock and, once a reader holds an older snapshot, fail
// with SQLITE_BUSY however long the busy timeout. So a Store keeps two
// pools on the same file:
//
//   - the write pool has exactly one connection, so writes from many
//     goroutines queue in Go instead of in SQLite, and every transaction on
//     it starts with BEGIN IMMEDIATE (_txlock=immediate) so it takes the
//     write lock up front rather than failing when it upgrades. Every
//     write method hands its statements to one groupcommit.Batcher, which
//     runs the writes queued together in one transaction on that
//     connection, each under its own savepoint, and so makes them share
//     one commit and one fsync (batch.go);
//   - the read pool has several connections, each with query_only set, so
//     a write sent to it by mistake fails loudly.
//
// The busy timeout still matters when another process (the CLI, a backup)
// holds the lock: then a writer waits up to five seconds instead of failing
// at once.
//
// Every connection gets its settings from _pragma parameters of the DSN,
// because database/sql opens and closes connections at will and a PRAGMA
// run once on one connection would not reach the others.
//
// Durability: synchronous=FULL, so a write is on disk when its transaction
// commits, and a write method returns only after that commit, however many
// writes it shared it with. The one exception is the pending record of an
// issuance, committed without the fsync and carried to disk by the
// completion's (see storage.Store.InsertPendingCertificate and batch.go).
// The database
// file is created with mode 0600 (its directory 0700) because it holds the
// whole inventory and the audit trail.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/groupcommit"

	// The driver registers itself as "sqlite" with database/sql.
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

var _ storage.Store = (*Store)(nil)

// busyTimeoutMillis is how long a connection waits for a lock held by
// another process before failing with SQLITE_BUSY.
const busyTimeoutMillis = 5000

// Store is the SQLite implementation of storage.Store. It is safe for
// concurrent use.
type Store struct {
	path   string                   // the database file, absolute
	write  *pool                    // exactly one connection, used by writes
	writes *groupcommit.Batcher[op] // every write goes here, see batch.go
	read   *pool                    // query_only connections for SELECTs
	nonces *nonceSet                // ACME nonces, see nonce.go
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger makes Open log the file it opened and each migration it
// applies.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Open opens the database file at path, creating it (mode 0600) and its
// directory if missing, and applies any pending migrations.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return nil, errs.New(errs.Config, "sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "sqlite: database path")
	}
	if err := createFile(abs); err != nil {
		return nil, err
	}

	write, err := openPool(ctx, abs, true)
	if err != nil {
		return nil, err
	}
	if err := checkWAL(ctx, write); err != nil {
		write.Close()
		return nil, err
	}
	if err := applyMigrations(ctx, write, o.logger); err != nil {
		write.Close()
		return nil, err
	}
	read, err := openPool(ctx, abs, false)
	if err != nil {
		write.Close()
		return nil, err
	}
	o.logger.InfoContext(ctx, "storage opened", "driver", "sqlite", "path", abs)
	w := newPool(write, true)
	return &Store{path: abs, write: w, writes: groupcommit.New[op](&batchWriter{p: w}, maxBatch, 1), read: newPool(read, false), nonces: newNonceSet()}, nil
}

// createFile makes sure the database file exists with mode 0600, so that
// SQLite does not create it with the process umask (usually 0644). The WAL
// and shared-memory files SQLite creates later copy the database file's
// mode.
func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return errs.Wrap(errs.Unavailable, err, "sqlite: create database directory")
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return errs.Wrap(errs.Unavailable, err, "sqlite: create database file")
	}
	return f.Close()
}

// dsn builds the modernc.org/sqlite DSN for path. The file: URI form lets
// any character appear in the path (it is percent-encoded); SQLite ignores
// the driver's own _-prefixed parameters.
func dsn(path string, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	// Statement journals (the savepoint of every batched write) and
	// temporary results stay in memory instead of temporary files: they
	// are small, and never need to survive the connection.
	q.Add("_pragma", "temp_store(MEMORY)")
	if writer {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// openPool opens and pings the write pool (one connection) or the read pool.
func openPool(ctx context.Context, path string, writer bool) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn(path, writer))
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "sqlite: open")
	}
	if writer {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
	} else {
		n := max(4, runtime.GOMAXPROCS(0))
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
	}
	if err := pingOpening(ctx, db); err != nil {
		db.Close()
		return nil, wrap(err, "open %s", path)
	}
	return db, nil
}

// pingOpening opens a first connection. Its journal_mode(WAL) pragma can
// fail with SQLITE_BUSY at once, without the busy handler, while another
// process is switching a new file to WAL mode or recovering it; so a busy
// open is tried again, for as long as busy_timeout would have waited.
func pingOpening(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(busyTimeoutMillis * time.Millisecond)
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// checkWAL fails if SQLite could not switch the file to WAL mode (as on some
// network file systems); without it readers would block the writer.
func checkWAL(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return wrap(err, "read journal mode")
	}
	if mode != "wal" {
		return errs.New(errs.Config, "sqlite: journal mode is %q, not wal; is the file on a network file system?", mode)
	}
	return nil
}

// Ping reports whether both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.write.PingContext(ctx); err != nil {
		return wrap(err, "ping")
	}
	if err := s.read.PingContext(ctx); err != nil {
		return wrap(err, "ping")
	}
	return nil
}

// Close writes what is queued, then closes both pools.
func (s *Store) Close() error {
	s.writes.Close()
	err := errors.Join(s.read.Close(), s.write.Close())
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: close")
	}
	return nil
}
