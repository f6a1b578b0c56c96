package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/certgw/gateway/storage"
)

// ClaimIdempotencyKey implements storage.IdempotencyStore.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, k storage.IdempotencyKey, staleBefore time.Time) (storage.IdempotencyKey, bool, error) {
	held, claimed := k, false
	err := s.writes.Do(ctx, "claim idempotency key", func(ctx context.Context, tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at <= ?`, micros(k.ClaimedAt)); err != nil {
			return wrap(err, "forget expired idempotency keys")
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (token_id, key, fingerprint, claimed_at, expires_at)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (token_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
				claimed_at = excluded.claimed_at, expires_at = excluded.expires_at, serial = '', request_id = '', status = 0
			WHERE idempotency_keys.serial = '' AND idempotency_keys.request_id = '' AND idempotency_keys.claimed_at < ?`,
			k.TokenID, k.Key, k.Fingerprint, micros(k.ClaimedAt), micros(k.ExpiresAt), micros(staleBefore))
		if err != nil {
			return wrap(err, "claim idempotency key")
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "claim idempotency key")
		}
		if claimed = n == 1; claimed {
			return nil
		}
		var claimedAt, expiresAt int64
		err = tx.QueryRowContext(ctx, `SELECT fingerprint, claimed_at, expires_at, serial, request_id, status
			FROM idempotency_keys WHERE token_id = ? AND key = ?`, k.TokenID, k.Key).
			Scan(&held.Fingerprint, &claimedAt, &expiresAt, &held.Serial, &held.RequestID, &held.Status)
		if errors.Is(err, sql.ErrNoRows) {
			return wrap(err, "claim idempotency key: neither stored nor held")
		}
		if err != nil {
			return wrap(err, "read idempotency key")
		}
		held.ClaimedAt, held.ExpiresAt = fromMicros(claimedAt), fromMicros(expiresAt)
		return nil
	})
	if err != nil {
		return storage.IdempotencyKey{}, false, err
	}
	return held, claimed, nil
}

// CompleteIdempotencyKey implements storage.IdempotencyStore.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, tokenID, key string, claimedAt time.Time, serial, requestID string, status int) error {
	return s.writes.Do(ctx, "complete idempotency key", func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET serial = ?, request_id = ?, status = ?
			WHERE token_id = ? AND key = ? AND claimed_at = ? AND serial = '' AND request_id = ''`, serial, requestID, status, tokenID, key, micros(claimedAt))
		if err != nil {
			return wrap(err, "complete idempotency key")
		}
		return nil
	})
}

// ReleaseIdempotencyKey implements storage.IdempotencyStore.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tokenID, key string, claimedAt time.Time) error {
	return s.writes.Do(ctx, "release idempotency key", func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys
			WHERE token_id = ? AND key = ? AND claimed_at = ? AND serial = '' AND request_id = ''`, tokenID, key, micros(claimedAt))
		if err != nil {
			return wrap(err, "release idempotency key")
		}
		return nil
	})
}
