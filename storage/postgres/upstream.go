package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.UpstreamStore = (*Store)(nil)

// The gateway as an ACME client of external CAs. An account is written
// once per upstream and directory, an http-01 token once per challenge:
// rare writes, each a transaction or a statement of its own on the pool
// rather than a part of a group commit. Replicas registering the same
// account at once are kept apart by the primary key: one insert wins, the
// others get errs.Conflict and read the winner's. Messages name the
// upstream, the directory and the token, never a key.

// UpstreamAccount implements storage.UpstreamStore.
func (s *Store) UpstreamAccount(ctx context.Context, upstream, directory string) (storage.UpstreamAccount, error) {
	a := storage.UpstreamAccount{Upstream: upstream, Directory: directory}
	err := s.pool.QueryRow(ctx,
		`SELECT url, key_pem, created_at FROM upstream_accounts WHERE upstream = $1 AND directory = $2`,
		upstream, directory).Scan(&a.URL, &a.KeyPEM, &a.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.UpstreamAccount{}, errs.New(errs.NotFound, "postgres: upstream %q has no account at %s", upstream, directory)
	}
	if err != nil {
		return storage.UpstreamAccount{}, wrap(err, "get account of upstream %q at %s", upstream, directory)
	}
	a.CreatedAt = utc(a.CreatedAt)
	return a, nil
}

// InsertUpstreamAccount implements storage.UpstreamStore.
func (s *Store) InsertUpstreamAccount(ctx context.Context, a storage.UpstreamAccount, audit storage.AuditEvent) error {
	if a.Upstream == "" || a.Directory == "" || a.URL == "" || len(a.KeyPEM) == 0 {
		return errs.New(errs.Malformed, "postgres: account of upstream %q at %s: upstream, directory, URL and key are required", a.Upstream, a.Directory)
	}
	return s.audited(ctx, "insert account of upstream "+a.Upstream, audit, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO upstream_accounts (upstream, directory, url, key_pem, created_at) VALUES ($1, $2, $3, $4, $5)`,
			a.Upstream, a.Directory, a.URL, a.KeyPEM, a.CreatedAt)
		if err != nil {
			return wrap(err, "insert account of upstream %q at %s", a.Upstream, a.Directory)
		}
		return nil
	})
}

// PutHTTP01 implements storage.UpstreamStore.
func (s *Store) PutHTTP01(ctx context.Context, token, keyAuth string, expires time.Time) error {
	if token == "" || keyAuth == "" {
		return errs.New(errs.Malformed, "postgres: http-01 token %q: token and key authorization are required", token)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO upstream_http01 (token, key_auth, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (token) DO UPDATE SET key_auth = excluded.key_auth, expires_at = excluded.expires_at`,
		token, keyAuth, expires)
	if err != nil {
		return wrap(err, "put http-01 token %q", token)
	}
	return nil
}

// HTTP01 implements storage.UpstreamStore.
func (s *Store) HTTP01(ctx context.Context, token string, now time.Time) (string, error) {
	var keyAuth string
	err := s.pool.QueryRow(ctx, `SELECT key_auth FROM upstream_http01 WHERE token = $1 AND expires_at > $2`,
		token, now).Scan(&keyAuth)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", errs.New(errs.NotFound, "postgres: no live http-01 token %q", token)
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
	if _, err := s.pool.Exec(ctx, `DELETE FROM upstream_http01 WHERE token = $1 OR expires_at < $2`, token, now); err != nil {
		return wrap(err, "delete http-01 token %q", token)
	}
	return nil
}
