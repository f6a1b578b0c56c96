package sqlite

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.SCEPStore = (*Store)(nil)

// One-time SCEP challenges. A challenge is written once, by the CLI or the
// API, and used once, by an enrollment; both go through the one writer
// like every write (see batch.go), which also makes a use atomic: the
// writer runs one op at a time, so of two uses of one challenge the second
// finds it deleted. Messages name the profile, never the hash.

// InsertSCEPChallenge implements storage.SCEPStore.
func (s *Store) InsertSCEPChallenge(ctx context.Context, c storage.SCEPChallenge, audit storage.AuditEvent) error {
	if c.Profile == "" || len(c.Hash) != sha256.Size {
		return errs.New(errs.Malformed, "sqlite: SCEP challenge of profile %q: a profile and a %d-byte hash are required, got %d bytes",
			c.Profile, sha256.Size, len(c.Hash))
	}
	return s.writes.Do(ctx, "insert SCEP challenge of profile "+c.Profile, audited(audit, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO scep_challenges (hash, profile, expires_at, created_at) VALUES (?, ?, ?, ?)`,
			c.Hash, c.Profile, micros(c.Expires), micros(c.CreatedAt))
		if err != nil {
			return wrap(err, "insert SCEP challenge of profile %s", c.Profile)
		}
		return nil
	}))
}

// UseSCEPChallenge implements storage.SCEPStore. The use and the sweep of
// expired challenges are one op, and so one savepoint of one transaction.
// The op reports a challenge it did not find in used rather than by its
// error: an op that fails is rolled back, and the sweep with it.
func (s *Store) UseSCEPChallenge(ctx context.Context, profile string, hash []byte, now time.Time) error {
	var used bool
	err := s.writes.Do(ctx, "use SCEP challenge of profile "+profile, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM scep_challenges WHERE hash = ? AND profile = ? AND expires_at > ?`,
			hash, profile, micros(now))
		if err != nil {
			return wrap(err, "use SCEP challenge of profile %s", profile)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "use SCEP challenge of profile %s", profile)
		}
		used = n == 1
		if _, err := tx.ExecContext(ctx, `DELETE FROM scep_challenges WHERE expires_at <= ?`, micros(now)); err != nil {
			return wrap(err, "sweep expired SCEP challenges")
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !used {
		return errs.New(errs.NotFound, "sqlite: no live SCEP challenge with this hash in profile %s", profile)
	}
	return nil
}
