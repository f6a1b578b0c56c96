package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// BlockKey implements storage.BlockedKeyStore.
func (s *Store) BlockKey(ctx context.Context, k storage.BlockedKey, audit storage.AuditEvent) (bool, error) {
	if len(k.Hash) != 32 || k.At.IsZero() {
		return false, errs.New(errs.Malformed, "postgres: block key: a 32-byte hash and a time are required")
	}
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return false, wrap(err, "block key: begin")
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	blocked, err := blockKey(ctx, tx, k, audit)
	if err != nil || !blocked {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, wrap(err, "block key: commit")
	}
	return true, nil
}

// blockKey records k and, if it was not blocked yet, its audit event.
func blockKey(ctx context.Context, tx pgx.Tx, k storage.BlockedKey, audit storage.AuditEvent) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO blocked_keys (hash, blocked_at, serial, blocked_by, reason) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (hash) DO NOTHING`, k.Hash, k.At.UTC(), k.Serial, k.By, k.Reason)
	if err != nil {
		return false, wrap(err, "block key")
	}
	if tag.RowsAffected() != 1 {
		return false, nil
	}
	if err := insertAudit(ctx, tx, audit); err != nil {
		return false, err
	}
	return true, nil
}

// BlockedKeys implements storage.BlockedKeyStore.
func (s *Store) BlockedKeys(ctx context.Context) ([]storage.BlockedKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT hash, blocked_at, serial, blocked_by, reason FROM blocked_keys ORDER BY blocked_at, hash`)
	if err != nil {
		return nil, wrap(err, "blocked keys")
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.BlockedKey, error) {
		var k storage.BlockedKey
		err := r.Scan(&k.Hash, &k.At, &k.Serial, &k.By, &k.Reason)
		k.At = k.At.UTC()
		return k, err
	})
	if err != nil {
		return nil, wrap(err, "blocked keys")
	}
	return keys, nil
}
