package postgres

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

var _ storage.SCEPStore = (*Store)(nil)

// One-time SCEP challenges. A challenge is written once, by the CLI or the
// API, and used once, by an enrollment on whichever replica the device
// reaches: rare writes, each a transaction or a statement of its own on
// the pool rather than a part of a group commit. Messages name the
// profile, never the hash.

// InsertSCEPChallenge implements storage.SCEPStore.
func (s *Store) InsertSCEPChallenge(ctx context.Context, c storage.SCEPChallenge, audit storage.AuditEvent) error {
	if c.Profile == "" || len(c.Hash) != sha256.Size {
		return errs.New(errs.Malformed, "postgres: SCEP challenge of profile %q: a profile and a %d-byte hash are required, got %d bytes",
			c.Profile, sha256.Size, len(c.Hash))
	}
	return s.audited(ctx, "insert SCEP challenge of profile "+c.Profile, audit, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO scep_challenges (hash, profile, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
			c.Hash, c.Profile, c.Expires, c.CreatedAt)
		if err != nil {
			return wrap(err, "insert SCEP challenge of profile %s", c.Profile)
		}
		return nil
	})
}

// UseSCEPChallenge implements storage.SCEPStore. The use and the sweep of
// expired challenges are one statement, so the sweep is committed whether
// or not the challenge is found. It runs in a READ COMMITTED transaction
// whatever default_transaction_isolation says: of concurrent uses of one
// challenge, the first deletes the row, and each of the others waits for
// its commit, finds the row gone and deletes nothing (under REPEATABLE
// READ it would fail with a serialization error instead of NotFound). The
// sweep skips the rows another transaction holds (one sweeping them too),
// as ConsumeACMENonce does: it never waits, and two sweeps cannot
// deadlock.
func (s *Store) UseSCEPChallenge(ctx context.Context, profile string, hash []byte, now time.Time) error {
	var used bool
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `WITH used AS (
				DELETE FROM scep_challenges WHERE hash = $1 AND profile = $2 AND expires_at > $3 RETURNING hash
			), swept AS (
				DELETE FROM scep_challenges WHERE hash IN
					(SELECT hash FROM scep_challenges WHERE expires_at <= $3 FOR UPDATE SKIP LOCKED)
			)
			SELECT EXISTS (SELECT 1 FROM used)`, hash, profile, now).Scan(&used)
	})
	if err != nil {
		return wrap(err, "use SCEP challenge of profile %s", profile)
	}
	if !used {
		return errs.New(errs.NotFound, "postgres: no live SCEP challenge with this hash in profile %s", profile)
	}
	return nil
}
