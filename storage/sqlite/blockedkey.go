package sqlite

import (
	"context"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// BlockKey implements storage.BlockedKeyStore.
func (s *Store) BlockKey(ctx context.Context, k storage.BlockedKey, audit storage.AuditEvent) (bool, error) {
	if len(k.Hash) != 32 || k.At.IsZero() {
		return false, errs.New(errs.Malformed, "sqlite: block key: a 32-byte hash and a time are required")
	}
	var blocked bool
	err := s.writes.Do(ctx, "block key", func(ctx context.Context, tx *txn) (err error) {
		blocked, err = blockKey(ctx, tx, k, audit)
		return err
	})
	return blocked, err
}

// blockKey records k and, if it was not blocked yet, its audit event.
func blockKey(ctx context.Context, tx *txn, k storage.BlockedKey, audit storage.AuditEvent) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO blocked_keys (hash, blocked_at, serial, blocked_by, reason) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (hash) DO NOTHING`, k.Hash, micros(k.At), k.Serial, k.By, k.Reason)
	if err != nil {
		return false, wrap(err, "block key")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(err, "block key")
	}
	if n != 1 {
		return false, nil
	}
	_, err = appendAudit(ctx, tx, audit)
	return err == nil, err
}

// BlockedKeys implements storage.BlockedKeyStore.
func (s *Store) BlockedKeys(ctx context.Context) ([]storage.BlockedKey, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT hash, blocked_at, serial, blocked_by, reason FROM blocked_keys ORDER BY blocked_at, hash`)
	if err != nil {
		return nil, wrap(err, "blocked keys")
	}
	defer rows.Close()
	var out []storage.BlockedKey
	for rows.Next() {
		var k storage.BlockedKey
		var at int64
		if err := rows.Scan(&k.Hash, &at, &k.Serial, &k.By, &k.Reason); err != nil {
			return nil, wrap(err, "blocked keys")
		}
		k.At = fromMicros(at)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "blocked keys")
	}
	return out, nil
}
