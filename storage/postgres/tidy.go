package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
)

// The tidy step (storage.TidyStore): each call is one transaction.

// TidyACMEOrders implements storage.TidyStore: the orders are locked
// first, so that the statements (and a replica tidying at the same time)
// agree on them.
func (s *Store) TidyACMEOrders(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.tidy(ctx, "ACME orders", limit, `CREATE TEMP TABLE tidy_orders ON COMMIT DROP AS
			SELECT id FROM acme_orders WHERE expires < $1 ORDER BY expires, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
		[]string{
			`DELETE FROM acme_challenges WHERE authz_id IN (SELECT id FROM acme_authzs WHERE order_id IN (SELECT id FROM tidy_orders))`,
			`DELETE FROM acme_authzs WHERE order_id IN (SELECT id FROM tidy_orders)`,
			`DELETE FROM acme_orders WHERE id IN (SELECT id FROM tidy_orders)`,
		}, before.UTC(), limit)
}

// TidyCertificates implements storage.TidyStore.
func (s *Store) TidyCertificates(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.tidy(ctx, "certificates", limit, "", []string{`DELETE FROM certificates WHERE serial IN
		(SELECT serial FROM certificates WHERE not_after < $1 AND status <> 'pending' ORDER BY not_after, serial LIMIT $2 FOR UPDATE SKIP LOCKED)`},
		before.UTC(), limit)
}

// TidyRequests implements storage.TidyStore.
func (s *Store) TidyRequests(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.tidy(ctx, "requests", limit, "", []string{`DELETE FROM requests WHERE id IN
		(SELECT id FROM requests WHERE status <> 'pending' AND decided_at < $1 ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)`},
		before.UTC(), limit)
}

// TidyNotifications implements storage.TidyStore.
func (s *Store) TidyNotifications(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.tidy(ctx, "notifications", limit, "", []string{`DELETE FROM notifications WHERE id IN
		(SELECT id FROM notifications WHERE given_up_at < $1 ORDER BY given_up_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)`},
		before.UTC(), limit)
}

// tidy runs prepare (if set, with args) and then the statements (without
// args when prepare chose the rows, with them otherwise) in one
// transaction, and returns how many rows the last deleted.
func (s *Store) tidy(ctx context.Context, what string, limit int, prepare string, statements []string, args ...any) (int, error) {
	if limit < 1 {
		return 0, errs.New(errs.Malformed, "postgres: tidy %s: limit must be at least 1", what)
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		stmtArgs := args
		if prepare != "" {
			if _, err := tx.Exec(ctx, prepare, args...); err != nil {
				return wrap(err, "tidy %s", what)
			}
			stmtArgs = nil
		}
		for _, q := range statements {
			tag, err := tx.Exec(ctx, q, stmtArgs...)
			if err != nil {
				return wrap(err, "tidy %s", what)
			}
			n = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}
