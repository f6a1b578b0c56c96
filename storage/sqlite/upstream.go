package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.UpstreamStore = (*Store)(nil)

// The gateway as an ACME client of external CAs. An account is written
// once per upstream and directory, an http-01 token once per challenge;
// both go through the one writer like every write (see batch.go). Messages
// name the upstream, the directory and the token, never a key.

// UpstreamAccount implements storage.UpstreamStore.
func (s *Store) UpstreamAccount(ctx context.Context, upstream, directory string) (storage.UpstreamAccount, error) {
	a := storage.UpstreamAccount{Upstream: upstream, Directory: directory}
	var created int64
	err := s.read.QueryRowContext(ctx,
		`SELECT url, key_pem, created_at FROM upstream_accounts WHERE upstream = ? AND directory = ?`,
		upstream, directory).Scan(&a.URL, &a.KeyPEM, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.UpstreamAccount{}, errs.New(errs.NotFound, "sqlite: upstream %q has no account at %s", upstream, directory)
	}
	if err != nil {
		return storage.UpstreamAccount{}, wrap(err, "get account of upstream %q at %s", upstream, directory)
	}
	a.CreatedAt = fromMicros(created)
	return a, nil
}

// InsertUpstreamAccount implements storage.UpstreamStore.
func (s *Store) InsertUpstreamAccount(ctx context.Context, a storage.UpstreamAccount, audit storage.AuditEvent) error {
	if a.Upstream == "" || a.Directory == "" || a.URL == "" || len(a.KeyPEM) == 0 {
		return errs.New(errs.Malformed, "sqlite: account of upstream %q at %s: upstream, directory, URL and key are required", a.Upstream, a.Directory)
	}
	return s.writes.Do(ctx, "insert account of upstream "+a.Upstream, audited(audit, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO upstream_accounts (upstream, directory, url, key_pem, created_at) VALUES (?, ?, ?, ?, ?)`,
			a.Upstream, a.Directory, a.URL, a.KeyPEM, micros(a.CreatedAt))
		if err != nil {
			return wrap(err, "insert account of upstream %q at %s", a.Upstream, a.Directory)
		}
		return nil
	}))
}

// PutHTTP01 implements storage.UpstreamStore.
func (s *Store) PutHTTP01(ctx context.Context, token, keyAuth string, expires time.Time) error {
	if token == "" || keyAuth == "" {
		return errs.New(errs.Malformed, "sqlite: http-01 token %q: token and key authorization are required", token)
	}
	return s.writes.Do(ctx, "put http-01 token "+token, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO upstream_http01 (token, key_auth, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (token) DO UPDATE SET key_auth = excluded.key_auth, expires_at = excluded.expires_at`,
			token, keyAuth, micros(expires))
		if err != nil {
			return wrap(err, "put http-01 token %q", token)
		}
		return nil
	})
}

// HTTP01 implements storage.UpstreamStore.
func (s *Store) HTTP01(ctx context.Context, token string, now time.Time) (string, error) {
	var keyAuth string
	err := s.read.QueryRowContext(ctx, `SELECT key_auth FROM upstream_http01 WHERE token = ? AND expires_at > ?`,
		token, micros(now)).Scan(&keyAuth)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errs.New(errs.NotFound, "sqlite: no live http-01 token %q", token)
	}
	if err != nil {
		return "", wrap(err, "get http-01 token %q", token)
	}
	return keyAuth, nil
}

// DeleteHTTP01 implements storage.UpstreamStore. The sweep of expired
// tokens rides on the deletion, one statement (token by primary key,
// expired ones by the expires_at index), so the table holds only the
// tokens of validations in flight.
func (s *Store) DeleteHTTP01(ctx context.Context, token string, now time.Time) error {
	return s.writes.Do(ctx, "delete http-01 token "+token, func(ctx context.Context, tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM upstream_http01 WHERE token = ? OR expires_at < ?`, token, micros(now)); err != nil {
			return wrap(err, "delete http-01 token %q", token)
		}
		return nil
	})
}
