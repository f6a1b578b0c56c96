package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.ESTStore = (*Store)(nil)

// EST credentials. They are written by the CLI, rarely, so each write is
// one statement on the pool rather than a part of a group commit.
// Messages name the profile and the user, never the hash.

func checkESTKey(profile, username string) error {
	if profile == "" || username == "" {
		return errs.New(errs.Malformed, "postgres: EST credential: profile and username are required")
	}
	return nil
}

// InsertESTCredential implements storage.ESTStore.
func (s *Store) InsertESTCredential(ctx context.Context, c storage.ESTCredential, audit storage.AuditEvent) error {
	if err := checkESTKey(c.Profile, c.Username); err != nil {
		return err
	}
	if c.Hash == "" {
		return errs.New(errs.Malformed, "postgres: EST credential %s/%s: empty hash", c.Profile, c.Username)
	}
	return s.audited(ctx, "insert EST credential "+c.Profile+"/"+c.Username, audit, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO est_credentials (profile, username, hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)`,
			c.Profile, c.Username, c.Hash, c.CreatedAt, c.UpdatedAt)
		if err != nil {
			return wrap(err, "insert EST credential %s/%s", c.Profile, c.Username)
		}
		return nil
	})
}

// UpdateESTCredential implements storage.ESTStore.
func (s *Store) UpdateESTCredential(ctx context.Context, c storage.ESTCredential, audit storage.AuditEvent) error {
	if err := checkESTKey(c.Profile, c.Username); err != nil {
		return err
	}
	if c.Hash == "" {
		return errs.New(errs.Malformed, "postgres: EST credential %s/%s: empty hash", c.Profile, c.Username)
	}
	return s.audited(ctx, "update EST credential "+c.Profile+"/"+c.Username, audit, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx,
			`UPDATE est_credentials SET hash = $1, updated_at = $2 WHERE profile = $3 AND username = $4`,
			c.Hash, c.UpdatedAt, c.Profile, c.Username)
		return estOneRow(tag, err, "update EST credential %s/%s", c.Profile, c.Username)
	})
}

// GetESTCredential implements storage.ESTStore.
func (s *Store) GetESTCredential(ctx context.Context, profile, username string) (storage.ESTCredential, error) {
	if err := checkESTKey(profile, username); err != nil {
		return storage.ESTCredential{}, err
	}
	c := storage.ESTCredential{Profile: profile, Username: username}
	err := s.pool.QueryRow(ctx,
		`SELECT hash, created_at, updated_at FROM est_credentials WHERE profile = $1 AND username = $2`,
		profile, username).Scan(&c.Hash, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ESTCredential{}, errs.New(errs.NotFound, "postgres: no EST user %q in profile %s", username, profile)
	}
	if err != nil {
		return storage.ESTCredential{}, wrap(err, "get EST credential %s/%s", profile, username)
	}
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return c, nil
}

// ListESTCredentials implements storage.ESTStore.
func (s *Store) ListESTCredentials(ctx context.Context, profile string) ([]storage.ESTCredential, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT profile, username, hash, created_at, updated_at FROM est_credentials
		WHERE $1 = '' OR profile = $1 ORDER BY profile, username`, profile)
	if err != nil {
		return nil, wrap(err, "list EST credentials")
	}
	defer rows.Close()
	var out []storage.ESTCredential
	for rows.Next() {
		var c storage.ESTCredential
		if err := rows.Scan(&c.Profile, &c.Username, &c.Hash, &c.CreatedAt, &c.UpdatedAt); err != nil {
			return nil, wrap(err, "list EST credentials")
		}
		c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
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
	return s.audited(ctx, "delete EST credential "+profile+"/"+username, audit, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM est_credentials WHERE profile = $1 AND username = $2`, profile, username)
		return estOneRow(tag, err, "delete EST credential %s/%s", profile, username)
	})
}

// estOneRow turns the result of an UPDATE or DELETE by primary key into nil
// (one row changed) or errs.NotFound (none).
func estOneRow(tag pgconn.CommandTag, err error, format string, args ...any) error {
	if err != nil {
		return wrap(err, format, args...)
	}
	if tag.RowsAffected() == 0 {
		return errs.New(errs.NotFound, "postgres: "+format+": no such EST user", args...)
	}
	return nil
}
