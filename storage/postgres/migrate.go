package postgres

import (
	"context"
	"embed"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the pg_advisory_xact_lock key that serializes
// migrations across every process sharing the database. It is fixed for
// all versions of the gateway ("certgw" and 1 in ASCII hex); changing it
// would let an old and a new binary migrate at once.
const migrationLockKey int64 = 0x63_65_72_74_67_77_00_01

// applyMigrations brings the schema up to date. Each migration runs in its
// own READ COMMITTED transaction that first takes the advisory lock, then
// looks at schema_migrations: a replica that starts while another is
// migrating waits for the lock, and its next statement, with a fresh
// snapshot, sees the version recorded and skips it. The lock is released by
// the commit or the rollback, and by the server if the connection dies.
func applyMigrations(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres")
	}
	for _, m := range ms {
		applied, err := applyMigration(ctx, pool, m)
		if err != nil {
			return err
		}
		if applied {
			logger.InfoContext(ctx, "storage migration applied", "driver", "postgres", "version", m.Version, "name", m.Name)
		}
	}
	var newest int
	if err := pool.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest); err != nil {
		return wrap(err, "read schema version")
	}
	if newest > len(ms) {
		// A newer replica migrated the database. Migrations only add, so
		// this one can still work; say so in case it cannot.
		logger.WarnContext(ctx, "storage schema is newer than this binary", "driver", "postgres", "schema_version", newest, "known_version", len(ms))
	}
	return nil
}

// applyMigration applies m unless it is recorded, and reports whether it did.
func applyMigration(ctx context.Context, pool *pgxpool.Pool, m migrate.Migration) (bool, error) {
	// READ COMMITTED whatever default_transaction_isolation says: under
	// REPEATABLE READ the snapshot would predate the lock, and a waiting
	// replica would not see the migration the other one just committed.
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return false, wrap(err, "migration %d: begin", m.Version)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return false, wrap(err, "migration %d: lock", m.Version)
	}
	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`
	if _, err := tx.Exec(ctx, createTable); err != nil {
		return false, wrap(err, "create schema_migrations")
	}
	var done bool
	if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.Version).Scan(&done); err != nil {
		return false, wrap(err, "migration %d: check", m.Version)
	}
	if done {
		return false, nil
	}
	// Without arguments pgx uses the simple protocol, which runs every
	// statement of the file.
	if _, err := tx.Exec(ctx, m.SQL); err != nil {
		return false, wrap(err, "migration %s", m.Name)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", m.Version); err != nil {
		return false, wrap(err, "migration %d: record", m.Version)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, wrap(err, "migration %d: commit", m.Version)
	}
	return true, nil
}

// Schema reports, without changing anything, the newest migration the
// database named by dsn holds and the newest this binary knows: Open
// would apply those between.
func Schema(ctx context.Context, dsn string) (applied, known int, err error) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return 0, 0, errs.Wrap(errs.Internal, err, "postgres")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return 0, 0, errs.New(errs.Config, "postgres: the DSN cannot be parsed (details withheld because it may contain a password)")
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return 0, 0, errs.Wrap(errs.Unavailable, err, "postgres: connect to %s", describe(&pgxpool.Config{ConnConfig: cfg}))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, 0, wrap(err, "read schema version")
	}
	if exists {
		if err := conn.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&applied); err != nil {
			return 0, 0, wrap(err, "read schema version")
		}
	}
	return applied, len(ms), nil
}
