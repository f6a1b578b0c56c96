package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage/internal/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// applyMigrations brings the schema up to date. Each migration runs in its
// own transaction on the write pool, whose transactions begin IMMEDIATE:
// the write lock is held from the moment the transaction starts, so the
// check "is version N recorded?" and the migration itself cannot interleave
// with another process doing the same, and a second process simply waits
// (busy timeout) and then finds the version recorded.
func applyMigrations(ctx context.Context, db *sql.DB, logger *slog.Logger) error {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite")
	}
	for _, m := range ms {
		applied, err := applyMigration(ctx, db, m)
		if err != nil {
			return err
		}
		if applied {
			logger.InfoContext(ctx, "storage migration applied", "driver", "sqlite", "version", m.Version, "name", m.Name)
		}
	}
	var newest int
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&newest); err != nil {
		return wrap(err, "read schema version")
	}
	if newest > len(ms) {
		// A newer binary migrated this file. Migrations only add, so this
		// one can still work; say so in case it cannot.
		logger.WarnContext(ctx, "storage schema is newer than this binary", "driver", "sqlite", "schema_version", newest, "known_version", len(ms))
	}
	return nil
}

// applyMigration applies m unless it is recorded, and reports whether it did.
func applyMigration(ctx context.Context, db *sql.DB, m migrate.Migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE, see dsn
	if err != nil {
		return false, wrap(err, "migration %d: begin", m.Version)
	}
	defer tx.Rollback()

	const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY NOT NULL,
		applied_at INTEGER NOT NULL -- microseconds since the Unix epoch, UTC
	) STRICT`
	if _, err := tx.ExecContext(ctx, createTable); err != nil {
		return false, wrap(err, "create schema_migrations")
	}
	var done bool
	if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?)", m.Version).Scan(&done); err != nil {
		return false, wrap(err, "migration %d: check", m.Version)
	}
	if done {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, wrap(err, "migration %s", m.Name)
	}
	const record = `INSERT INTO schema_migrations (version, applied_at)
		VALUES (?, CAST(strftime('%s', 'now') AS INTEGER) * 1000000)`
	if _, err := tx.ExecContext(ctx, record, m.Version); err != nil {
		return false, wrap(err, "migration %d: record", m.Version)
	}
	if err := tx.Commit(); err != nil {
		return false, wrap(err, "migration %d: commit", m.Version)
	}
	return true, nil
}

// Schema reports, without creating or changing anything, the newest
// migration the database file at path holds and the newest this binary
// knows: Open would apply those between. A missing file is errs.NotFound.
func Schema(ctx context.Context, path string) (applied, known int, err error) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return 0, 0, errs.Wrap(errs.Internal, err, "sqlite")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, 0, errs.Wrap(errs.Config, err, "sqlite: database path")
	}
	if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
		return 0, len(ms), errs.New(errs.NotFound, "sqlite: %s does not exist (gateway init creates it)", abs)
	}
	db, err := openPool(ctx, abs, false)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, 0, wrap(err, "read schema version")
	}
	if tables == 1 {
		if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&applied); err != nil {
			return 0, 0, wrap(err, "read schema version")
		}
	}
	return applied, len(ms), nil
}
