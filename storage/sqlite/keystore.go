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

// SealedUpstreamKeys implements storage.SealedKeyStore.
func (s *Store) SealedUpstreamKeys(ctx context.Context) ([]storage.SealedKey, error) {
	return s.sealedKeys(ctx, "list upstream account keys",
		`SELECT '', upstream, directory, key_pem FROM upstream_accounts ORDER BY upstream, directory`)
}

// SealedCertificateKeys implements storage.SealedKeyStore.
func (s *Store) SealedCertificateKeys(ctx context.Context, after string, limit int) ([]storage.SealedKey, error) {
	return s.sealedKeys(ctx, "list held keys",
		`SELECT serial, '', '', key_pem FROM certificates WHERE key_pem IS NOT NULL AND serial > ? ORDER BY serial LIMIT ?`, after, limit)
}

func (s *Store) sealedKeys(ctx context.Context, what, query string, args ...any) ([]storage.SealedKey, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "%s", what)
	}
	defer rows.Close()
	var out []storage.SealedKey
	for rows.Next() {
		var k storage.SealedKey
		if err := rows.Scan(&k.Serial, &k.Upstream, &k.Directory, &k.Sealed); err != nil {
			return nil, wrap(err, "%s", what)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "%s", what)
	}
	return out, nil
}

// ResealKey implements storage.SealedKeyStore.
func (s *Store) ResealKey(ctx context.Context, k storage.SealedKey, sealed []byte) error {
	if len(sealed) == 0 {
		return errs.New(errs.Malformed, "sqlite: reseal a key: the sealed key is required")
	}
	return s.writes.Do(ctx, "reseal a key", func(ctx context.Context, tx *txn) error {
		update, exists := `UPDATE certificates SET key_pem = ? WHERE serial = ? AND key_pem = ?`,
			`SELECT count(*) FROM certificates WHERE serial = ? AND key_pem IS NOT NULL`
		args := []any{k.Serial}
		if k.Serial == "" {
			update, exists = `UPDATE upstream_accounts SET key_pem = ? WHERE upstream = ? AND directory = ? AND key_pem = ?`,
				`SELECT count(*) FROM upstream_accounts WHERE upstream = ? AND directory = ?`
			args = []any{k.Upstream, k.Directory}
		}
		res, err := tx.ExecContext(ctx, update, append(append([]any{sealed}, args...), k.Sealed)...)
		if err != nil {
			return wrap(err, "reseal a key")
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "reseal a key")
		}
		if n == 1 {
			return nil
		}
		var found int
		if err := tx.QueryRowContext(ctx, exists, args...).Scan(&found); err != nil {
			return wrap(err, "reseal a key")
		}
		if found == 0 {
			return errs.New(errs.NotFound, "sqlite: no held key %s%s", k.Serial, k.Upstream)
		}
		return errs.New(errs.Conflict, "sqlite: held key %s%s changed meanwhile", k.Serial, k.Upstream)
	})
}
