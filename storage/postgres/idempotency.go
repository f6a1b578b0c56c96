package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/storage"
)

// ClaimIdempotencyKey implements storage.IdempotencyStore: one statement
// claims the key (forgetting expired ones in it) or, when another request
// holds it, a second reads the holder.
func (s *Store) ClaimIdempotencyKey(ctx context.Context, k storage.IdempotencyKey, staleBefore time.Time) (storage.IdempotencyKey, bool, error) {
	// The statement's DELETE and INSERT see the same snapshot: the key's
	// own row, expired, is taken over by the INSERT, not deleted under it.
	tag, err := s.pool.Exec(ctx, `WITH forgotten AS (DELETE FROM idempotency_keys
			WHERE expires_at <= $4 AND NOT (token_id = $1 AND key = $2))
		INSERT INTO idempotency_keys (token_id, key, fingerprint, claimed_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (token_id, key) DO UPDATE SET fingerprint = excluded.fingerprint,
			claimed_at = excluded.claimed_at, expires_at = excluded.expires_at, serial = '', request_id = '', status = 0
		WHERE (idempotency_keys.serial = '' AND idempotency_keys.request_id = '' AND idempotency_keys.claimed_at < $6) OR idempotency_keys.expires_at <= $4`,
		k.TokenID, k.Key, k.Fingerprint, k.ClaimedAt.UTC(), k.ExpiresAt.UTC(), staleBefore.UTC())
	if err != nil {
		return storage.IdempotencyKey{}, false, wrap(err, "claim idempotency key")
	}
	if tag.RowsAffected() == 1 {
		return k, true, nil
	}
	held := k
	err = s.pool.QueryRow(ctx, `SELECT fingerprint, claimed_at, expires_at, serial, request_id, status
		FROM idempotency_keys WHERE token_id = $1 AND key = $2`, k.TokenID, k.Key).
		Scan(&held.Fingerprint, &held.ClaimedAt, &held.ExpiresAt, &held.Serial, &held.RequestID, &held.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		// The holder completed nothing and was released between the two
		// statements: the key is free again, as for a retry.
		return s.ClaimIdempotencyKey(ctx, k, staleBefore)
	}
	if err != nil {
		return storage.IdempotencyKey{}, false, wrap(err, "read idempotency key")
	}
	held.ClaimedAt, held.ExpiresAt = held.ClaimedAt.UTC(), held.ExpiresAt.UTC()
	return held, false, nil
}

// CompleteIdempotencyKey implements storage.IdempotencyStore.
func (s *Store) CompleteIdempotencyKey(ctx context.Context, tokenID, key string, claimedAt time.Time, serial, requestID string, status int) error {
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET serial = $1, request_id = $2, status = $3
		WHERE token_id = $4 AND key = $5 AND claimed_at = $6 AND serial = '' AND request_id = ''`, serial, requestID, status, tokenID, key, claimedAt.UTC())
	if err != nil {
		return wrap(err, "complete idempotency key")
	}
	return nil
}

// ReleaseIdempotencyKey implements storage.IdempotencyStore.
func (s *Store) ReleaseIdempotencyKey(ctx context.Context, tokenID, key string, claimedAt time.Time) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys
		WHERE token_id = $1 AND key = $2 AND claimed_at = $3 AND serial = '' AND request_id = ''`, tokenID, key, claimedAt.UTC())
	if err != nil {
		return wrap(err, "release idempotency key")
	}
	return nil
}
