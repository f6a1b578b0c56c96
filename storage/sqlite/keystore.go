package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.KeystoreStore = (*Store)(nil)

// The keystore's wrapped key-encryption key: one row (id 1), written once
// through the one writer like every write (see batch.go); of two processes
// publishing at once, the second finds the row and gets errs.Conflict.
// Messages never quote the wrapped key.

// SharedKEK implements storage.KeystoreStore.
func (s *Store) SharedKEK(ctx context.Context) (string, error) {
	var wrapped string
	err := s.read.QueryRowContext(ctx, `SELECT wrapped FROM keystore_kek WHERE id = 1`).Scan(&wrapped)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errs.New(errs.NotFound, "sqlite: no shared key-encryption key")
	}
	if err != nil {
		return "", wrap(err, "get shared key-encryption key")
	}
	return wrapped, nil
}

// InsertSharedKEK implements storage.KeystoreStore. The row's created_at
// is the audit event's At, so the row and its event tell one time.
func (s *Store) InsertSharedKEK(ctx context.Context, wrapped string, audit storage.AuditEvent) error {
	if wrapped == "" {
		return errs.New(errs.Malformed, "sqlite: shared key-encryption key: the wrapped key is required")
	}
	return s.writes.Do(ctx, "insert shared key-encryption key", audited(audit, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO keystore_kek (id, wrapped, created_at) VALUES (1, ?, ?)`,
			wrapped, micros(audit.At))
		if err != nil {
			return wrap(err, "insert shared key-encryption key")
		}
		return nil
	}))
}

// UpdateSharedKEK implements storage.KeystoreStore.
func (s *Store) UpdateSharedKEK(ctx context.Context, old, wrapped string, audit storage.AuditEvent) error {
	if wrapped == "" {
		return errs.New(errs.Malformed, "sqlite: shared key-encryption key: the wrapped key is required")
	}
	return s.writes.Do(ctx, "update shared key-encryption key", audited(audit, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE keystore_kek SET wrapped = ? WHERE id = 1 AND wrapped = ?`, wrapped, old)
		if err != nil {
			return wrap(err, "update shared key-encryption key")
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "update shared key-encryption key")
		}
		if n == 1 {
			return nil
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM keystore_kek WHERE id = 1`).Scan(&exists); err != nil {
			return wrap(err, "update shared key-encryption key")
		}
		if exists == 0 {
			return errs.New(errs.NotFound, "sqlite: no shared key-encryption key")
		}
		return errs.New(errs.Conflict, "sqlite: the shared key-encryption keys changed meanwhile (another rotation)")
	}))
}
