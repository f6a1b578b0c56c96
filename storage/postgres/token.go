package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// InsertToken implements storage.Store.
func (s *Store) InsertToken(ctx context.Context, t storage.Token, audit storage.AuditEvent) error {
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode scopes of token %q", t.ID)
	}
	profiles, err := encodeList(t.Profiles)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode profiles of token %q", t.ID)
	}
	// The messages name the ID, never the hash: the hash of a token is not
	// a secret, but there is no reason to spread it.
	return s.audited(ctx, "insert token "+t.ID, audit, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_tokens (id, name, hash, scopes, profiles, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			t.ID, t.Name, t.Hash, scopes, profiles, t.CreatedAt, nullTime(t.ExpiresAt))
		if err != nil {
			return wrap(err, "insert token %q", t.ID)
		}
		return nil
	})
}

// tokenColumns is what every read of a token selects, in the order
// scanToken reads it.
const tokenColumns = `id, name, hash, scopes::text, profiles::text, created_at, expires_at`

func scanToken(row pgx.Row) (storage.Token, error) {
	var (
		t                storage.Token
		scopes, profiles string
		expires          *time.Time
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &scopes, &profiles, &t.CreatedAt, &expires); err != nil {
		return storage.Token{}, wrap(err, "read token")
	}
	var err error
	if t.Scopes, err = decodeList(scopes); err != nil {
		return storage.Token{}, errs.Wrap(errs.Internal, err, "postgres: decode scopes of token %q", t.ID)
	}
	if t.Profiles, err = decodeList(profiles); err != nil {
		return storage.Token{}, errs.Wrap(errs.Internal, err, "postgres: decode profiles of token %q", t.ID)
	}
	t.CreatedAt = utc(t.CreatedAt)
	t.ExpiresAt = fromNullTime(expires)
	return t, nil
}

// TokenByHash implements storage.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (storage.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Token{}, errs.New(errs.NotFound, "postgres: token not found")
	}
	return t, err
}

// ListTokens implements storage.Store.
func (s *Store) ListTokens(ctx context.Context) ([]storage.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id COLLATE "C"`)
	if err != nil {
		return nil, wrap(err, "list tokens")
	}
	tokens, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, wrap(err, "list tokens")
	}
	if len(tokens) == 0 {
		return nil, nil
	}
	return tokens, nil
}

// DeleteToken implements storage.Store.
func (s *Store) DeleteToken(ctx context.Context, id string, audit storage.AuditEvent) error {
	return s.audited(ctx, "delete token "+id, audit, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, id)
		if err != nil {
			return wrap(err, "delete token %q", id)
		}
		if tag.RowsAffected() == 0 {
			return errs.New(errs.NotFound, "postgres: token %q not found", id)
		}
		return nil
	})
}
