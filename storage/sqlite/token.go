package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// InsertToken implements storage.Store.
func (s *Store) InsertToken(ctx context.Context, t storage.Token) error {
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode scopes of token %q", t.ID)
	}
	// The messages name the ID, never the hash: the hash of a token is not
	// a secret, but there is no reason to spread it.
	return s.writes.Do(ctx, "insert token "+t.ID, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_tokens (id, name, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Hash, scopes, micros(t.CreatedAt))
		if err != nil {
			return wrap(err, "insert token %q", t.ID)
		}
		return nil
	})
}

// TokenByHash implements storage.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (storage.Token, error) {
	var (
		t       storage.Token
		scopes  string
		created int64
	)
	err := s.read.QueryRowContext(ctx,
		`SELECT id, name, hash, scopes, created_at FROM api_tokens WHERE hash = ?`, hash).Scan(
		&t.ID, &t.Name, &t.Hash, &scopes, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Token{}, errs.New(errs.NotFound, "sqlite: token not found")
	}
	if err != nil {
		return storage.Token{}, wrap(err, "get token by hash")
	}
	if t.Scopes, err = decodeList(scopes); err != nil {
		return storage.Token{}, errs.Wrap(errs.Internal, err, "sqlite: decode scopes of token %q", t.ID)
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}
