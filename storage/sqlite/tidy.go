package sqlite

import (
	"context"

	"time"

	"github.com/certgw/gateway/errs"
)

// The tidy step (storage.TidyStore): each call is one transaction of the
// write queue.

// TidyACMEOrders implements storage.TidyStore: the statements pick the
// same orders (ordered by expiry and ID) within the transaction.
func (s *Store) TidyACMEOrders(ctx context.Context, before time.Time, limit int) (int, error) {
	const orders = `SELECT id FROM acme_orders WHERE expires < ? ORDER BY expires, id LIMIT ?`
	return s.tidy(ctx, "ACME orders", limit,
		[]string{
			`DELETE FROM acme_challenges WHERE authz_id IN (SELECT id FROM acme_authzs WHERE order_id IN (` + orders + `))`,
			`DELETE FROM acme_authzs WHERE order_id IN (` + orders + `)`,
			`DELETE FROM acme_orders WHERE id IN (` + orders + `)`,
		}, micros(before), limit)
}

// TidyCertificates implements storage.TidyStore.
func (s *Store) TidyCertificates(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.tidy(ctx, "certificates", limit, []string{`DELETE FROM certificates WHERE serial IN
		(SELECT serial FROM certificates WHERE not_after < ? AND status <> 'pending' ORDER BY not_after, serial LIMIT ?)`},
		micros(before), limit)
}

// TidyRequests implements storage.TidyStore.
func (s *Store) TidyRequests(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.tidy(ctx, "requests", limit, []string{`DELETE FROM requests WHERE id IN
		(SELECT id FROM requests WHERE status <> 'pending' AND decided_at < ? ORDER BY created_at, id LIMIT ?)`},
		micros(before), limit)
}

// TidyNotifications implements storage.TidyStore.
func (s *Store) TidyNotifications(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.tidy(ctx, "notifications", limit, []string{`DELETE FROM notifications WHERE id IN
		(SELECT id FROM notifications WHERE given_up_at < ? ORDER BY given_up_at, id LIMIT ?)`},
		micros(before), limit)
}

// tidy runs the statements, each with args, in one transaction and returns
// how many rows the last deleted.
func (s *Store) tidy(ctx context.Context, what string, limit int, statements []string, args ...any) (int, error) {
	if limit < 1 {
		return 0, errs.New(errs.Malformed, "sqlite: tidy %s: limit must be at least 1", what)
	}
	var n int64
	err := s.writes.Do(ctx, "tidy "+what, func(ctx context.Context, tx *txn) error {
		for _, q := range statements {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return wrap(err, "tidy %s", what)
			}
			if n, err = res.RowsAffected(); err != nil {
				return wrap(err, "tidy %s", what)
			}
		}
		return nil
	})
	return int(n), err
}
