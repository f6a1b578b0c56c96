package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// InsertToken implements storage.Store.
func (s *Store) InsertToken(ctx context.Context, t storage.Token, audit storage.AuditEvent) error {
	scopes, err := encodeList(t.Scopes)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode scopes of token %q", t.ID)
	}
	profiles, err := encodeList(t.Profiles)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "sqlite: encode profiles of token %q", t.ID)
	}
	// The messages name the ID, never the hash: the hash of a token is not
	// a secret, but there is no reason to spread it.
	return s.writes.Do(ctx, "insert token "+t.ID, audited(audit, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO api_tokens (id, name, hash, scopes, profiles, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			t.ID, t.Name, t.Hash, scopes, profiles, micros(t.CreatedAt), nullMicros(t.ExpiresAt))
		if err != nil {
			return wrap(err, "insert token %q", t.ID)
		}
		return nil
	}))
}

// tokenColumns is what every read of a token selects, in the order
// scanToken reads it.
const tokenColumns = `id, name, hash, scopes, profiles, created_at, expires_at`

func scanToken(row interface{ Scan(...any) error }) (storage.Token, error) {
	var (
		t        storage.Token
		scopes   string
		profiles string
		created  int64
		expires  sql.NullInt64
	)
	if err := row.Scan(&t.ID, &t.Name, &t.Hash, &scopes, &profiles, &created, &expires); err != nil {
		return storage.Token{}, wrap(err, "read token")
	}
	var err error
	if t.Scopes, err = decodeList(scopes); err != nil {
		return storage.Token{}, errs.Wrap(errs.Internal, err, "sqlite: decode scopes of token %q", t.ID)
	}
	if t.Profiles, err = decodeList(profiles); err != nil {
		return storage.Token{}, errs.Wrap(errs.Internal, err, "sqlite: decode profiles of token %q", t.ID)
	}
	t.CreatedAt = fromMicros(created)
	t.ExpiresAt = fromNullMicros(expires)
	return t, nil
}

// TokenByHash implements storage.Store.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (storage.Token, error) {
	t, err := scanToken(s.read.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Token{}, errs.New(errs.NotFound, "sqlite: token not found")
	}
	return t, err
}

// ListTokens implements storage.Store.
func (s *Store) ListTokens(ctx context.Context) ([]storage.Token, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap(err, "list tokens")
	}
	defer rows.Close()
	var tokens []storage.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		tokens = append(tokens, t)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list tokens")
	}
	return tokens, nil
}

// DeleteToken implements storage.Store.
func (s *Store) DeleteToken(ctx context.Context, id string, audit storage.AuditEvent) error {
	return s.writes.Do(ctx, "delete token "+id, audited(audit, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
		if err != nil {
			return wrap(err, "delete token %q", id)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "delete token %q", id)
		}
		if n == 0 {
			return errs.New(errs.NotFound, "sqlite: token %q not found", id)
		}
		return nil
	}))
}
