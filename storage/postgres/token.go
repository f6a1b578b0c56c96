package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// InsertToken implements storage.Store.
func (s *Store) InsertToken(ctx context.Context, t storage.Token) error {
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "postgres: encode scopes of token %q", t.ID)
	}
	// The messages name the ID, never the hash: the hash of a token is not
	// a secret, but there is no reason to spread it.
	return s.writes.Do(ctx, "insert token "+t.ID, write{
		sql: `INSERT INTO api_tokens (id, name, hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)
			RETURNING true`,
		args: []any{t.ID, t.Name, t.Hash, scopes, t.CreatedAt},
		result: func(row pgx.Row) error {
			if err := row.Scan(new(bool)); err != nil {
				return wrap(err, "insert token %q", t.ID)
			}
			return nil
		},
	})
}

// TokenByHash implements storage.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (storage.Token, error) {
	var (
		t      storage.Token
		scopes string
	)
	err := s.pool.QueryRow(ctx,
		`SELECT id, name, hash, scopes::text, created_at FROM api_tokens WHERE hash = $1`, hash).Scan(
		&t.ID, &t.Name, &t.Hash, &scopes, &t.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Token{}, errs.New(errs.NotFound, "postgres: token not found")
	}
	if err != nil {
		return storage.Token{}, wrap(err, "get token by hash")
	}
	if t.Scopes, err = decodeList(scopes); err != nil {
		return storage.Token{}, errs.Wrap(errs.Internal, err, "postgres: decode scopes of token %q", t.ID)
	}
	t.CreatedAt = utc(t.CreatedAt)
	return t, nil
}
