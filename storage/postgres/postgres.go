// Package postgres is the store for a deployment with several gateway
// replicas: they all share one PostgreSQL database (or a PostgreSQL-
// compatible cluster) through pgx's connection pool, and keep nothing a
// second replica needs in memory.
//
// Concurrent inserts, activations and issuance completions share
// transactions, and so WAL flushes: they go through a groupcommit.Batcher
// (batch.go), and a write method returns only after the commit that holds
// its write.
//
// Correctness under concurrency comes from the database, not from this
// process: unique keys turn a second insert of the same serial, CA name or
// token into errs.Conflict; ActivateCertificate (and CompleteIssuance,
// which runs the same UPDATE), ClaimRenewal and MarkRenewed are single
// conditional UPDATEs, so of two replicas changing one certificate exactly
// one wins; RevokeCertificate locks the row before it decides (see
// revocation.go); and migrations take an advisory lock, so replicas
// starting together never apply one twice (see migrate.go).
//
// The pool is configured by the DSN, including pgxpool's own parameters
// (pool_max_conns, pool_max_conn_lifetime, ...). Error messages and logs name
// the host, port, database and user, never the password.
package postgres

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/groupcommit"
)

var _ storage.Store = (*Store)(nil)

// Store is the PostgreSQL implementation of storage.Store. It is safe for
// concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	writes *groupcommit.Batcher[write] // inserts and activations, see batch.go
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger *slog.Logger
}

// WithLogger makes Open log the database it connected to and each migration
// it applies.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// Open connects to the database named by dsn (a postgres:// URL or
// key=value string) and applies any pending migrations. It fails with
// errs.Config if dsn cannot be parsed and errs.Unavailable if the server
// does not answer.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if dsn == "" {
		return nil, errs.New(errs.Config, "postgres: empty DSN")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords only on a best-effort basis, and the
		// errors beneath it (url.Parse) quote the DSN whole, so the cause
		// is dropped rather than risk printing a password.
		return nil, errs.New(errs.Config, "postgres: the DSN cannot be parsed (details withheld because it may contain a password)")
	}
	target := describe(cfg)

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, wrap(err, "connect to %s", target)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, errs.Wrap(errs.Unavailable, err, "postgres: connect to %s", target)
	}
	if err := applyMigrations(ctx, pool, o.logger); err != nil {
		pool.Close()
		return nil, err
	}
	o.logger.InfoContext(ctx, "storage opened", "driver", "postgres", "target", target)
	return &Store{pool: pool, writes: groupcommit.New[write](batchWriter{pool}, maxBatch, batchWriters)}, nil
}

// describe names the database cfg points at, without the password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s:%d/%s as %s", c.Host, c.Port, c.Database, c.User)
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return errs.Wrap(errs.Unavailable, err, "postgres: ping")
	}
	return nil
}

// Close writes what is queued, then closes the pool, waiting for
// connections in use to be returned.
func (s *Store) Close() error {
	s.writes.Close()
	s.pool.Close()
	return nil
}
