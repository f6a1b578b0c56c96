package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.KeystoreStore = (*Store)(nil)

// The keystore's wrapped key-encryption key: one row (id 1), written once,
// a transaction of its own on the pool. Replicas publishing at once are
// kept apart by the primary key: one insert wins, the others get
// errs.Conflict and read the winner's. Messages never quote the wrapped
// key.

// SharedKEK implements storage.KeystoreStore.
func (s *Store) SharedKEK(ctx context.Context) (string, error) {
	var wrapped string
	err := s.pool.QueryRow(ctx, `SELECT wrapped FROM keystore_kek WHERE id = 1`).Scan(&wrapped)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errs.New(errs.NotFound, "postgres: no shared key-encryption key")
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
		return errs.New(errs.Malformed, "postgres: shared key-encryption key: the wrapped key is required")
	}
	return s.audited(ctx, "insert shared key-encryption key", audit, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO keystore_kek (id, wrapped, created_at) VALUES (1, $1, $2)`,
			wrapped, audit.At)
		if err != nil {
			return wrap(err, "insert shared key-encryption key")
		}
		return nil
	})
}

// UpdateSharedKEK implements storage.KeystoreStore.
func (s *Store) UpdateSharedKEK(ctx context.Context, old, wrapped string, audit storage.AuditEvent) error {
	if wrapped == "" {
		return errs.New(errs.Malformed, "postgres: shared key-encryption key: the wrapped key is required")
	}
	return s.audited(ctx, "update shared key-encryption key", audit, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE keystore_kek SET wrapped = $1 WHERE id = 1 AND wrapped = $2`, wrapped, old)
		if err != nil {
			return wrap(err, "update shared key-encryption key")
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM keystore_kek WHERE id = 1)`).Scan(&exists); err != nil {
			return wrap(err, "update shared key-encryption key")
		}
		if !exists {
			return errs.New(errs.NotFound, "postgres: no shared key-encryption key")
		}
		return errs.New(errs.Conflict, "postgres: the shared key-encryption keys changed meanwhile (another rotation)")
	})
}

// SealedUpstreamKeys implements storage.SealedKeyStore.
func (s *Store) SealedUpstreamKeys(ctx context.Context) ([]storage.SealedKey, error) {
	return s.sealedKeys(ctx, "list upstream account keys",
		`SELECT '', upstream, directory, key_pem FROM upstream_accounts ORDER BY upstream, directory`)
}

// SealedCertificateKeys implements storage.SealedKeyStore.
func (s *Store) SealedCertificateKeys(ctx context.Context, after string, limit int) ([]storage.SealedKey, error) {
	return s.sealedKeys(ctx, "list held keys",
		`SELECT serial, '', '', key_pem FROM certificates WHERE key_pem IS NOT NULL AND serial > $1 ORDER BY serial LIMIT $2`, after, limit)
}

func (s *Store) sealedKeys(ctx context.Context, what, query string, args ...any) ([]storage.SealedKey, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "%s", what)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storage.SealedKey, error) {
		var k storage.SealedKey
		err := row.Scan(&k.Serial, &k.Upstream, &k.Directory, &k.Sealed)
		return k, err
	})
	if err != nil {
		return nil, wrap(err, "%s", what)
	}
	return out, nil
}

// ResealKey implements storage.SealedKeyStore.
func (s *Store) ResealKey(ctx context.Context, k storage.SealedKey, sealed []byte) error {
	if len(sealed) == 0 {
		return errs.New(errs.Malformed, "postgres: reseal a key: the sealed key is required")
	}
	update, exists := `UPDATE certificates SET key_pem = $1 WHERE serial = $2 AND key_pem = $3`,
		`SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = $1 AND key_pem IS NOT NULL)`
	args := []any{k.Serial}
	if k.Serial == "" {
		update, exists = `UPDATE upstream_accounts SET key_pem = $1 WHERE upstream = $2 AND directory = $3 AND key_pem = $4`,
			`SELECT EXISTS (SELECT 1 FROM upstream_accounts WHERE upstream = $1 AND directory = $2)`
		args = []any{k.Upstream, k.Directory}
	}
	tag, err := s.pool.Exec(ctx, update, append(append([]any{sealed}, args...), k.Sealed)...)
	if err != nil {
		return wrap(err, "reseal a key")
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var found bool
	if err := s.pool.QueryRow(ctx, exists, args...).Scan(&found); err != nil {
		return wrap(err, "reseal a key")
	}
	if !found {
		return errs.New(errs.NotFound, "postgres: no held key %s%s", k.Serial, k.Upstream)
	}
	return errs.New(errs.Conflict, "postgres: held key %s%s changed meanwhile", k.Serial, k.Upstream)
}
