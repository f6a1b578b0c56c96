// Package open opens the store that configuration names. It is the one
// place that knows both implementations; it cannot live in package storage
// itself, because storage/sqlite and storage/postgres import storage for the
// record types and Go forbids the cycle.
//
// cmd/gateway calls it once at start-up and hands the result to each
// consumer, which sees it through its own small interface.
package open

import (
	"context"
	"log/slog"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/sqlite"
)

// Drivers accepted by Open (config key storage.driver).
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Open opens the store for driver: "sqlite" uses path (storage.path) and
// ignores dsn, "postgres" uses dsn (storage.dsn) and ignores path. Pending
// migrations are applied before it returns. A nil logger discards.
//
// Errors: errs.Config for an unknown driver or a missing path or DSN,
// errs.Unavailable if the database cannot be reached.
func Open(ctx context.Context, driver, path, dsn string, logger *slog.Logger) (storage.Store, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// Each case returns the concrete store only on success: a nil
	// *sqlite.Store in a storage.Store would not compare equal to nil.
	switch driver {
	case SQLite:
		if path == "" {
			return nil, errs.New(errs.Config, "storage.path: required for driver sqlite")
		}
		s, err := sqlite.Open(ctx, path, sqlite.WithLogger(logger))
		if err != nil {
			return nil, err
		}
		return s, nil
	case Postgres:
		if dsn == "" {
			return nil, errs.New(errs.Config, "storage.dsn: required for driver postgres")
		}
		s, err := postgres.Open(ctx, dsn, postgres.WithLogger(logger))
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, errs.New(errs.Config, "storage.driver: unknown driver %q (want %q or %q)", driver, SQLite, Postgres)
	}
}

// Schema reports, without creating or changing anything, the newest
// migration the configured store holds and the newest this binary knows
// (gateway check): Open would apply those between. A SQLite file that
// does not exist is errs.NotFound.
func Schema(ctx context.Context, driver, path, dsn string) (applied, known int, err error) {
	switch driver {
	case SQLite:
		if path == "" {
			return 0, 0, errs.New(errs.Config, "storage.path: required for driver sqlite")
		}
		return sqlite.Schema(ctx, path)
	case Postgres:
		if dsn == "" {
			return 0, 0, errs.New(errs.Config, "storage.dsn: required for driver postgres")
		}
		return postgres.Schema(ctx, dsn)
	}
	return 0, 0, errs.New(errs.Config, "storage.driver: unknown driver %q (want %q or %q)", driver, SQLite, Postgres)
}
