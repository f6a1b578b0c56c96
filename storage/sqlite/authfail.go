package sqlite

import (
	"context"
	"time"
)

// RecordAuthFailure implements storage.AuthFailureStore.
func (s *Store) RecordAuthFailure(ctx context.Context, scope, key string, at, keepSince time.Time) error {
	return s.writes.Do(ctx, "record an authentication failure", func(ctx context.Context, tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_failures WHERE at < ?`, micros(keepSince)); err != nil {
			return wrap(err, "forget old authentication failures")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO auth_failures (scope, key, at) VALUES (?, ?, ?)`, scope, key, micros(at)); err != nil {
			return wrap(err, "record an authentication failure")
		}
		return nil
	})
}

// CountAuthFailures implements storage.AuthFailureStore.
func (s *Store) CountAuthFailures(ctx context.Context, scope, key string, since time.Time) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM auth_failures WHERE scope = ? AND key = ? AND at >= ?`,
		scope, key, micros(since)).Scan(&n)
	if err != nil {
		return 0, wrap(err, "count authentication failures")
	}
	return n, nil
}
