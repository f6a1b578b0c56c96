package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/certgw/gateway/errs"
)

// wrap gives err the errs.Kind it calls for and prefixes the message with
// "postgres: ".
func wrap(err error, format string, args ...any) error {
	return errs.Wrap(kind(err), err, "postgres: "+format, args...)
}

// kind maps an error from pgx to an errs.Kind. SQLSTATE codes are those of
// PostgreSQL's Appendix A.
func kind(err error) errs.Kind {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return errs.Conflict
		case "23503": // foreign_key_violation: every foreign key is checked on insert, so the referenced row is missing
			return errs.NotFound
		case "40001", // serialization_failure
			"40P01", // deadlock_detected
			"55P03", // lock_not_available
			"57014": // query_canceled (statement_timeout, cancel request)
			return errs.Unavailable
		}
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources (too many connections, disk full)
			strings.HasPrefix(pgErr.Code, "57P"): // server shutting down or starting up
			return errs.Unavailable
		}
		return errs.Internal
	}
	var (
		connectErr *pgconn.ConnectError
		netErr     net.Error
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &connectErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return errs.Unavailable
	}
	return errs.Internal
}
