package postgres

import (
	"context"
	"time"
)

// RecordAuthFailure implements storage.AuthFailureStore: one statement,
// the old failures forgotten in it.
func (s *Store) RecordAuthFailure(ctx context.Context, scope, key string, at, keepSince time.Time) error {
	_, err := s.pool.Exec(ctx, `WITH forgotten AS (DELETE FROM auth_failures WHERE at < $4)
		INSERT INTO auth_failures (scope, key, at) VALUES ($1, $2, $3)`, scope, key, at.UTC(), keepSince.UTC())
	if err != nil {
		return wrap(err, "record an authentication failure")
	}
	return nil
}

// CountAuthFailures implements storage.AuthFailureStore.
func (s *Store) CountAuthFailures(ctx context.Context, scope, key string, since time.Time) (int, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM auth_failures WHERE scope = $1 AND key = $2 AND at >= $3`,
		scope, key, since.UTC()).Scan(&n)
	if err != nil {
		return 0, wrap(err, "count authentication failures")
	}
	return int(n), nil
}
