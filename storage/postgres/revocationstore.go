package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// The revocation service's data (storage.RevocationStore). Replicas share
// it: CRL numbers come from one upsert (the row lock makes it atomic),
// PublishCRL is a conditional upsert (a replica that finishes later with an
// older number changes nothing), and the revocation counter and its events
// are written by the trigger of migration 0003 inside RevokeCertificate's
// transaction.

var _ storage.RevocationStore = (*Store)(nil)

// NextCRLNumber implements storage.RevocationStore.
func (s *Store) NextCRLNumber(ctx context.Context, ca string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `INSERT INTO revocation_state AS s (ca, crl_number) VALUES ($1, 1)
		ON CONFLICT (ca) DO UPDATE SET crl_number = s.crl_number + 1
		RETURNING s.crl_number`, ca).Scan(&n)
	if err != nil {
		if kind(err) == errs.NotFound {
			return 0, errs.New(errs.NotFound, "postgres: CA %q not found", ca)
		}
		return 0, wrap(err, "next CRL number of %q", ca)
	}
	return n, nil
}

// PublishCRL implements storage.RevocationStore.
func (s *Store) PublishCRL(ctx context.Context, c storage.PublishedCRL) (bool, error) {
	if err := certquery.CheckPublished(c); err != nil {
		return false, errs.Wrap(errs.Malformed, err, "postgres: publish CRL of %q", c.CA)
	}
	var stored bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			dNumber, dBase, dBaseGen *int64
			dBaseThis, dNext         *time.Time
			dDER                     []byte
		)
		if d := c.Delta; d != nil {
			dNumber, dBase, dBaseGen, dBaseThis, dNext, dDER = &d.Number, &d.Base, &d.BaseGeneration, &d.BaseThisUpdate, &d.NextUpdate, d.DER
		}
		tag, err := tx.Exec(ctx, `INSERT INTO crls AS l (ca, number, this_update, next_update, generation, der,
				delta_number, delta_base, delta_base_this_update, delta_base_generation, delta_next_update, delta_der)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
			ON CONFLICT (ca) DO UPDATE SET number = EXCLUDED.number, this_update = EXCLUDED.this_update,
				next_update = EXCLUDED.next_update, generation = EXCLUDED.generation, der = EXCLUDED.der,
				delta_number = EXCLUDED.delta_number, delta_base = EXCLUDED.delta_base,
				delta_base_this_update = EXCLUDED.delta_base_this_update, delta_base_generation = EXCLUDED.delta_base_generation,
				delta_next_update = EXCLUDED.delta_next_update,
				delta_der = EXCLUDED.delta_der
			WHERE EXCLUDED.number > l.number`,
			c.CA, c.Number, c.ThisUpdate, c.NextUpdate, c.Generation, c.DER, dNumber, dBase, dBaseThis, dBaseGen, dNext, dDER)
		if err != nil {
			if kind(err) == errs.NotFound {
				return errs.New(errs.NotFound, "postgres: CA %q not found", c.CA)
			}
			return wrap(err, "publish CRL %d of %q", c.Number, c.CA)
		}
		stored = tag.RowsAffected() == 1
		if !stored {
			return nil
		}
		// The shards of the stored CRL replace those of the last one; the
		// crls row lock taken above orders concurrent publications.
		if _, err := tx.Exec(ctx, `DELETE FROM crl_shards WHERE ca = $1`, c.CA); err != nil {
			return wrap(err, "publish CRL %d of %q: shards", c.Number, c.CA)
		}
		for i, der := range c.Shards {
			if _, err := tx.Exec(ctx, `INSERT INTO crl_shards (ca, shard, der) VALUES ($1, $2, $3)`, c.CA, i, der); err != nil {
				return wrap(err, "publish CRL %d of %q: shard %d", c.Number, c.CA, i)
			}
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return stored, nil
}

// LatestCRL implements storage.RevocationStore.
func (s *Store) LatestCRL(ctx context.Context, ca string) (storage.PublishedCRL, error) {
	c := storage.PublishedCRL{CA: ca}
	var (
		dNumber, dBase, dBaseGen *int64
		dBaseThis, dNext         *time.Time
		dDER                     []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT number, this_update, next_update, generation, der,
			delta_number, delta_base, delta_base_this_update, delta_base_generation, delta_next_update, delta_der FROM crls WHERE ca = $1`, ca).
		Scan(&c.Number, &c.ThisUpdate, &c.NextUpdate, &c.Generation, &c.DER, &dNumber, &dBase, &dBaseThis, &dBaseGen, &dNext, &dDER)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.PublishedCRL{}, errs.New(errs.NotFound, "postgres: CA %q has published no CRL", ca)
	}
	if err != nil {
		return storage.PublishedCRL{}, wrap(err, "latest CRL of %q", ca)
	}
	c.ThisUpdate, c.NextUpdate = utc(c.ThisUpdate), utc(c.NextUpdate)
	if dNumber != nil {
		c.Delta = &storage.DeltaCRL{Number: *dNumber, Base: *dBase, BaseThisUpdate: utc(*dBaseThis), BaseGeneration: *dBaseGen, NextUpdate: utc(*dNext), DER: dDER}
	}
	rows, err := s.pool.Query(ctx, `SELECT shard, der FROM crl_shards WHERE ca = $1 ORDER BY shard`, ca)
	if err != nil {
		return storage.PublishedCRL{}, wrap(err, "CRL shards of %q", ca)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			i   int
			der []byte
		)
		if err := rows.Scan(&i, &der); err != nil {
			return storage.PublishedCRL{}, wrap(err, "CRL shards of %q", ca)
		}
		if i != len(c.Shards) {
			return storage.PublishedCRL{}, errs.New(errs.Internal, "postgres: CRL shards of %q: shard %d missing", ca, len(c.Shards))
		}
		c.Shards = append(c.Shards, der)
	}
	if err := rows.Err(); err != nil {
		return storage.PublishedCRL{}, wrap(err, "CRL shards of %q", ca)
	}
	return c, nil
}

// RevocationState implements storage.RevocationStore.
func (s *Store) RevocationState(ctx context.Context, ca string) (storage.RevocationState, error) {
	st := storage.RevocationState{CA: ca, Published: storage.PublishedCRL{CA: ca}}
	var this, next *time.Time
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(s.generation, 0), COALESCE(s.crl_number, 0),
			COALESCE(l.number, 0), l.this_update, l.next_update, COALESCE(l.generation, 0)
		FROM cas c
		LEFT JOIN revocation_state s ON s.ca = c.name
		LEFT JOIN crls l ON l.ca = c.name
		WHERE c.name = $1`, ca).
		Scan(&st.Generation, &st.CRLNumber, &st.Published.Number, &this, &next, &st.Published.Generation)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.RevocationState{}, errs.New(errs.NotFound, "postgres: CA %q not found", ca)
	}
	if err != nil {
		return storage.RevocationState{}, wrap(err, "revocation state of %q", ca)
	}
	st.Published.ThisUpdate, st.Published.NextUpdate = fromNullTime(this), fromNullTime(next)
	return st, nil
}

// RevocationEvents implements storage.RevocationStore.
func (s *Store) RevocationEvents(ctx context.Context, ca string, after int64, limit int) ([]storage.RevocationEvent, error) {
	n, err := certquery.CheckRevokedLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "postgres: revocation events")
	}
	rows, err := s.pool.Query(ctx, `SELECT generation, serial FROM revocation_events
		WHERE ca = $1 AND generation > $2 ORDER BY generation LIMIT $3`, ca, after, n)
	if err != nil {
		return nil, wrap(err, "revocation events of %q", ca)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.RevocationEvent, error) {
		e := storage.RevocationEvent{CA: ca}
		err := r.Scan(&e.Generation, &e.Serial)
		return e, err
	})
	if err != nil {
		return nil, wrap(err, "revocation events of %q", ca)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// PruneRevocationEvents implements storage.RevocationStore. Replicas
// pruning at once delete overlapping prefixes: the second waits on the
// rows the first deletes and then skips them. New events are inserted
// above the range, so revocations never wait on a prune. The bound on the
// oldest event caps one call at MaxRevokedLimit rows (generations are
// unique per CA).
func (s *Store) PruneRevocationEvents(ctx context.Context, ca string, through int64) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM revocation_events
		WHERE ca = $1 AND generation <= $2
		AND generation < (SELECT min(generation) FROM revocation_events WHERE ca = $1) + $3`,
		ca, through, storage.MaxRevokedLimit)
	if err != nil {
		return 0, wrap(err, "prune revocation events of %q", ca)
	}
	return int(tag.RowsAffected()), nil
}

// CountRevoked implements storage.RevocationStore.
func (s *Store) CountRevoked(ctx context.Context, ca string, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM certificates
		WHERE ca = $1 AND status = 'revoked' AND not_after >= $2`, ca, since).Scan(&n)
	if err != nil {
		return 0, wrap(err, "count revoked certificates of %q", ca)
	}
	return n, nil
}

// ListRevoked implements storage.RevocationStore: an index-only range scan
// of certificates_revoked_idx from (ca, since), serials compared bytewise
// (COLLATE "C") as the index orders them.
func (s *Store) ListRevoked(ctx context.Context, ca string, since time.Time, after storage.RevokedEntry, limit int) ([]storage.RevokedEntry, error) {
	n, err := certquery.CheckRevokedLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "postgres: list revoked")
	}
	// The keyset: strictly after (not_after, serial) of the last entry,
	// and never before since. timestamptz holds microseconds, so compare
	// at that precision.
	from, afterSerial := since.Truncate(time.Microsecond), ""
	if after.Serial != "" && !after.NotAfter.Truncate(time.Microsecond).Before(from) {
		from, afterSerial = after.NotAfter.Truncate(time.Microsecond), after.Serial
	}
	rows, err := s.pool.Query(ctx, `SELECT serial, not_after, revoked_at, revocation_reason FROM certificates
		WHERE ca = $1 AND status = 'revoked' AND not_after >= $2
			AND (not_after > $2 OR serial COLLATE "C" > $3)
		ORDER BY not_after, serial COLLATE "C" LIMIT $4`, ca, from, afterSerial, n)
	if err != nil {
		return nil, wrap(err, "list revoked certificates of %q", ca)
	}
	defer rows.Close()
	out := make([]storage.RevokedEntry, 0, min(n, 1024))
	for rows.Next() {
		var (
			e       storage.RevokedEntry
			revoked *time.Time
			reason  *int
		)
		if err := rows.Scan(&e.Serial, &e.NotAfter, &revoked, &reason); err != nil {
			return nil, wrap(err, "list revoked certificates of %q", ca)
		}
		e.NotAfter, e.RevokedAt = utc(e.NotAfter), fromNullTime(revoked)
		if reason != nil {
			e.Reason = *reason
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list revoked certificates of %q", ca)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// CertificateStatus implements storage.RevocationStore.
func (s *Store) CertificateStatus(ctx context.Context, serial string) (storage.CertificateStatus, error) {
	var (
		c       storage.CertificateStatus
		status  string
		revoked *time.Time
		reason  *int
	)
	err := s.pool.QueryRow(ctx, `SELECT serial, ca, status, not_after, revoked_at, revocation_reason
		FROM certificates WHERE serial = $1`, serial).Scan(&c.Serial, &c.CA, &status, &c.NotAfter, &revoked, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.CertificateStatus{}, errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
	}
	if err != nil {
		return storage.CertificateStatus{}, wrap(err, "status of certificate %s", serial)
	}
	c.Status = storage.CertStatus(status)
	c.NotAfter, c.RevokedAt = utc(c.NotAfter), fromNullTime(revoked)
	if c.Status == storage.StatusRevoked && reason != nil {
		c.Reason = *reason
	}
	return c, nil
}

// InsertOCSPResponder implements storage.RevocationStore.
func (s *Store) InsertOCSPResponder(ctx context.Context, r storage.OCSPResponder) error {
	if r.KeyURI == "" || len(r.CertDER) == 0 {
		return errs.New(errs.Malformed, "postgres: OCSP responder of %q: key URI and certificate are required", r.CA)
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO ocsp_responders (key_uri, ca, cert_der, not_after, created_at)
		VALUES ($1, $2, $3, $4, $5)`, r.KeyURI, r.CA, r.CertDER, r.NotAfter, r.CreatedAt)
	if err != nil {
		return wrap(err, "insert OCSP responder %s of %q", r.KeyURI, r.CA)
	}
	return nil
}

// LatestOCSPResponder implements storage.RevocationStore.
func (s *Store) LatestOCSPResponder(ctx context.Context, ca string) (storage.OCSPResponder, error) {
	r := storage.OCSPResponder{CA: ca}
	err := s.pool.QueryRow(ctx, `SELECT key_uri, cert_der, not_after, created_at FROM ocsp_responders
		WHERE ca = $1 ORDER BY not_after DESC, created_at DESC, key_uri COLLATE "C" DESC LIMIT 1`, ca).
		Scan(&r.KeyURI, &r.CertDER, &r.NotAfter, &r.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.OCSPResponder{}, errs.New(errs.NotFound, "postgres: CA %q has no OCSP responder", ca)
	}
	if err != nil {
		return storage.OCSPResponder{}, wrap(err, "latest OCSP responder of %q", ca)
	}
	r.NotAfter, r.CreatedAt = utc(r.NotAfter), utc(r.CreatedAt)
	return r, nil
}

// ExpiredOCSPResponders implements storage.RevocationStore.
func (s *Store) ExpiredOCSPResponders(ctx context.Context, ca string, before time.Time) ([]storage.OCSPResponder, error) {
	rows, err := s.pool.Query(ctx, `SELECT key_uri, cert_der, not_after, created_at FROM ocsp_responders
		WHERE ca = $1 AND not_after < $2 ORDER BY not_after, key_uri COLLATE "C"`, ca, before)
	if err != nil {
		return nil, wrap(err, "expired OCSP responders of %q", ca)
	}
	defer rows.Close()
	var out []storage.OCSPResponder
	for rows.Next() {
		r := storage.OCSPResponder{CA: ca}
		if err := rows.Scan(&r.KeyURI, &r.CertDER, &r.NotAfter, &r.CreatedAt); err != nil {
			return nil, wrap(err, "expired OCSP responders of %q", ca)
		}
		r.NotAfter, r.CreatedAt = utc(r.NotAfter), utc(r.CreatedAt)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "expired OCSP responders of %q", ca)
	}
	return out, nil
}

// DeleteOCSPResponder implements storage.RevocationStore.
func (s *Store) DeleteOCSPResponder(ctx context.Context, keyURI string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM ocsp_responders WHERE key_uri = $1`, keyURI); err != nil {
		return wrap(err, "delete OCSP responder %s", keyURI)
	}
	return nil
}
