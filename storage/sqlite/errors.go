package sqlite

import (
	"context"
	"errors"

	"github.com/certgw/gateway/errs"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// wrap gives err the errs.Kind its SQLite result code calls for and prefixes
// the message with "sqlite: ".
func wrap(err error, format string, args ...any) error {
	return errs.Wrap(kind(err), err, "sqlite: "+format, args...)
}

// kind maps an error from the driver to an errs.Kind. Extended result codes
// are on (the driver enables them), so constraint failures say which kind of
// constraint failed.
func kind(err error) errs.Kind {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return errs.Unavailable
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return errs.Internal
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return errs.Conflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		// Every foreign key is checked on insert (nothing is deleted), so a
		// violation means the referenced CA does not exist.
		return errs.NotFound
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_INTERRUPT:
		return errs.Unavailable
	}
	return errs.Internal
}
