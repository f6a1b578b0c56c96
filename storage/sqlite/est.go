package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.ESTStore = (*Store)(nil)

// EST credentials. They are written by the CLI, rarely, so they need no
// batching of their own; they go through the one writer like every write
// (see batch.go). Messages name the profile and the user, never the hash.

func checkESTKey(profile, username string) error {
	if profile == "" || username == "" {
		return errs.New(errs.Malformed, "sqlite: EST credential: profile and username are required")
	}
	return nil
}

// InsertESTCredential implements storage.ESTStore.
func (s *Store) InsertESTCredential(ctx context.Context, c storage.ESTCredential, audit storage.AuditEvent) error {
	if err := checkESTKey(c.Profile, c.Username); err != nil {
		return err
	}
	if c.Hash == "" {
		return errs.New(errs.Malformed, "sqlite: EST credential %s/%s: empty hash", c.Profile, c.Username)
	}
	return s.writes.Do(ctx, "insert EST credential "+c.Profile+"/"+c.Username, audited(audit, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO est_credentials (profile, username, hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
			c.Profile, c.Username, c.Hash, micros(c.CreatedAt), micros(c.UpdatedAt))
		if err != nil {
			return wrap(err, "insert EST credential %s/%s", c.Profile, c.Username)
		}
		return nil
	}))
}

// UpdateESTCredential implements storage.ESTStore.
func (s *Store) UpdateESTCredential(ctx context.Context, c storage.ESTCredential, audit storage.AuditEvent) error {
	if err := checkESTKey(c.Profile, c.Username); err != nil {
		return err
	}
	if c.Hash == "" {
		return errs.New(errs.Malformed, "sqlite: EST credential %s/%s: empty hash", c.Profile, c.Username)
	}
	return s.writes.Do(ctx, "update EST credential "+c.Profile+"/"+c.Username, audited(audit, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE est_credentials SET hash = ?, updated_at = ? WHERE profile = ? AND username = ?`,
			c.Hash, micros(c.UpdatedAt), c.Profile, c.Username)
		return estOneRow(res, err, "update EST credential %s/%s", c.Profile, c.Username)
	}))
}

// GetESTCredential implements storage.ESTStore.
func (s *Store) GetESTCredential(ctx context.Context, profile, username string) (storage.ESTCredential, error) {
	if err := checkESTKey(profile, username); err != nil {
		return storage.ESTCredential{}, err
	}
	c := storage.ESTCredential{Profile: profile, Username: username}
	var created, updated int64
	err := s.read.QueryRowContext(ctx,
		`SELECT hash, created_at, updated_at FROM est_credentials WHERE profile = ? AND username = ?`,
		profile, username).Scan(&c.Hash, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ESTCredential{}, errs.New(errs.NotFound, "sqlite: no EST user %q in profile %s", username, profile)
	}
	if err != nil {
		return storage.ESTCredential{}, wrap(err, "get EST credential %s/%s", profile, username)
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// ListESTCredentials implements storage.ESTStore.
func (s *Store) ListESTCredentials(ctx context.Context, profile string) ([]storage.ESTCredential, error) {
	rows, err := s.read.QueryContext(ctx,
		`SELECT profile, username, hash, created_at, updated_at FROM est_credentials
		WHERE ? = '' OR profile = ? ORDER BY profile, username`, profile, profile)
	if err != nil {
		return nil, wrap(err, "list EST credentials")
	}
	defer rows.Close()
	var out []storage.ESTCredential
	for rows.Next() {
		var c storage.ESTCredential
		var created, updated int64
		if err := rows.Scan(&c.Profile, &c.Username, &c.Hash, &created, &updated); err != nil {
			return nil, wrap(err, "list EST credentials")
		}
		c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list EST credentials")
	}
	return out, nil
}

// DeleteESTCredential implements storage.ESTStore.
func (s *Store) DeleteESTCredential(ctx context.Context, profile, username string, audit storage.AuditEvent) error {
	if err := checkESTKey(profile, username); err != nil {
		return err
	}
	return s.writes.Do(ctx, "delete EST credential "+profile+"/"+username, audited(audit, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM est_credentials WHERE profile = ? AND username = ?`, profile, username)
		return estOneRow(res, err, "delete EST credential %s/%s", profile, username)
	}))
}

// estOneRow turns the result of an UPDATE or DELETE by primary key into nil
// (one row changed) or errs.NotFound (none).
func estOneRow(res sql.Result, err error, format string, args ...any) error {
	if err != nil {
		return wrap(err, format, args...)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return wrap(err, format, args...)
	}
	if n == 0 {
		return errs.New(errs.NotFound, "sqlite: "+format+": no such EST user", args...)
	}
	return nil
}
