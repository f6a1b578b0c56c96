package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// The revocation service's data (storage.RevocationStore). Writes go
// through the write queue like every other (see batch.go). The revocation
// counter and its events are written by the trigger of migration 0003,
// inside RevokeCertificate's transaction.

var _ storage.RevocationStore = (*Store)(nil)

// NextCRLNumber implements storage.RevocationStore with one upsert, in
// the write queue like every write: the read and the increment cannot be
// separated, and writes are serialized.
func (s *Store) NextCRLNumber(ctx context.Context, ca string) (int64, error) {
	var n int64
	err := s.writes.Do(ctx, "next CRL number of "+ca, func(ctx context.Context, tx *txn) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO revocation_state (ca, crl_number) VALUES (?, 1)
			ON CONFLICT (ca) DO UPDATE SET crl_number = crl_number + 1
			RETURNING crl_number`, ca).Scan(&n)
		if err != nil {
			if kind(err) == errs.NotFound {
				return errs.New(errs.NotFound, "sqlite: CA %q not found", ca)
			}
			return wrap(err, "next CRL number of %q", ca)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// PublishCRL implements storage.RevocationStore: a conditional upsert
// that leaves a CRL with a higher or equal number in place.
func (s *Store) PublishCRL(ctx context.Context, c storage.PublishedCRL) (bool, error) {
	if err := certquery.CheckPublished(c); err != nil {
		return false, errs.Wrap(errs.Malformed, err, "sqlite: publish CRL of %q", c.CA)
	}
	var stored bool
	err := s.writes.Do(ctx, "publish CRL of "+c.CA, func(ctx context.Context, tx *txn) error {
		var dNumber, dBase, dBaseThis, dBaseGen, dNext sql.NullInt64
		var dDER []byte
		if d := c.Delta; d != nil {
			valid := func(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: true} }
			dNumber, dBase, dBaseThis, dBaseGen = valid(d.Number), valid(d.Base), valid(micros(d.BaseThisUpdate)), valid(d.BaseGeneration)
			dNext, dDER = valid(micros(d.NextUpdate)), d.DER
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO crls (ca, number, this_update, next_update, generation, der,
				delta_number, delta_base, delta_base_this_update, delta_base_generation, delta_next_update, delta_der)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (ca) DO UPDATE SET number = excluded.number, this_update = excluded.this_update,
				next_update = excluded.next_update, generation = excluded.generation, der = excluded.der,
				delta_number = excluded.delta_number, delta_base = excluded.delta_base,
				delta_base_this_update = excluded.delta_base_this_update, delta_base_generation = excluded.delta_base_generation,
				delta_next_update = excluded.delta_next_update,
				delta_der = excluded.delta_der
			WHERE excluded.number > crls.number`,
			c.CA, c.Number, micros(c.ThisUpdate), micros(c.NextUpdate), c.Generation, c.DER,
			dNumber, dBase, dBaseThis, dBaseGen, dNext, dDER)
		if err != nil {
			if kind(err) == errs.NotFound {
				return errs.New(errs.NotFound, "sqlite: CA %q not found", c.CA)
			}
			return wrap(err, "publish CRL %d of %q", c.Number, c.CA)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "publish CRL %d of %q", c.Number, c.CA)
		}
		stored = n == 1
		if !stored {
			return nil
		}
		// The shards of the stored CRL replace those of the last one.
		if _, err := tx.ExecContext(ctx, `DELETE FROM crl_shards WHERE ca = ?`, c.CA); err != nil {
			return wrap(err, "publish CRL %d of %q: shards", c.Number, c.CA)
		}
		for i, der := range c.Shards {
			if _, err := tx.ExecContext(ctx, `INSERT INTO crl_shards (ca, shard, der) VALUES (?, ?, ?)`, c.CA, i, der); err != nil {
				return wrap(err, "publish CRL %d of %q: shard %d", c.Number, c.CA, i)
			}
		}
		return nil
	})
	return stored, err
}

// LatestCRL implements storage.RevocationStore.
func (s *Store) LatestCRL(ctx context.Context, ca string) (storage.PublishedCRL, error) {
	c := storage.PublishedCRL{CA: ca}
	var (
		this, next                                 int64
		dNumber, dBase, dBaseThis, dBaseGen, dNext sql.NullInt64
		dDER                                       []byte
	)
	err := s.read.QueryRowContext(ctx, `SELECT number, this_update, next_update, generation, der,
			delta_number, delta_base, delta_base_this_update, delta_base_generation, delta_next_update, delta_der FROM crls WHERE ca = ?`, ca).
		Scan(&c.Number, &this, &next, &c.Generation, &c.DER, &dNumber, &dBase, &dBaseThis, &dBaseGen, &dNext, &dDER)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.PublishedCRL{}, errs.New(errs.NotFound, "sqlite: CA %q has published no CRL", ca)
	}
	if err != nil {
		return storage.PublishedCRL{}, wrap(err, "latest CRL of %q", ca)
	}
	c.ThisUpdate, c.NextUpdate = fromMicros(this), fromMicros(next)
	if dNumber.Valid {
		c.Delta = &storage.DeltaCRL{Number: dNumber.Int64, Base: dBase.Int64, BaseThisUpdate: fromMicros(dBaseThis.Int64),
			BaseGeneration: dBaseGen.Int64, NextUpdate: fromMicros(dNext.Int64), DER: dDER}
	}
	rows, err := s.read.QueryContext(ctx, `SELECT shard, der FROM crl_shards WHERE ca = ? ORDER BY shard`, ca)
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
			return storage.PublishedCRL{}, errs.New(errs.Internal, "sqlite: CRL shards of %q: shard %d missing", ca, len(c.Shards))
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
	var this, next sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(s.generation, 0), COALESCE(s.crl_number, 0),
			COALESCE(l.number, 0), l.this_update, l.next_update, COALESCE(l.generation, 0)
		FROM cas c
		LEFT JOIN revocation_state s ON s.ca = c.name
		LEFT JOIN crls l ON l.ca = c.name
		WHERE c.name = ?`, ca).
		Scan(&st.Generation, &st.CRLNumber, &st.Published.Number, &this, &next, &st.Published.Generation)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.RevocationState{}, errs.New(errs.NotFound, "sqlite: CA %q not found", ca)
	}
	if err != nil {
		return storage.RevocationState{}, wrap(err, "revocation state of %q", ca)
	}
	st.Published.ThisUpdate, st.Published.NextUpdate = fromNullMicros(this), fromNullMicros(next)
	return st, nil
}

// RevocationEvents implements storage.RevocationStore.
func (s *Store) RevocationEvents(ctx context.Context, ca string, after int64, limit int) ([]storage.RevocationEvent, error) {
	n, err := certquery.CheckRevokedLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "sqlite: revocation events")
	}
	rows, err := s.read.QueryContext(ctx, `SELECT generation, serial FROM revocation_events
		WHERE ca = ? AND generation > ? ORDER BY generation LIMIT ?`, ca, after, n)
	if err != nil {
		return nil, wrap(err, "revocation events of %q", ca)
	}
	defer rows.Close()
	var out []storage.RevocationEvent
	for rows.Next() {
		e := storage.RevocationEvent{CA: ca}
		if err := rows.Scan(&e.Generation, &e.Serial); err != nil {
			return nil, wrap(err, "revocation events of %q", ca)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "revocation events of %q", ca)
	}
	return out, nil
}

// PruneRevocationEvents implements storage.RevocationStore in the write
// queue. The bound on the oldest event kept caps one call at
// MaxRevokedLimit rows without DELETE ... LIMIT (not in every SQLite
// build); generations are unique per CA, so the range holds no more.
func (s *Store) PruneRevocationEvents(ctx context.Context, ca string, through int64) (int, error) {
	var n int64
	err := s.writes.Do(ctx, "prune revocation events of "+ca, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM revocation_events
			WHERE ca = ? AND generation <= ?
			AND generation < (SELECT min(generation) FROM revocation_events WHERE ca = ?) + ?`,
			ca, through, ca, storage.MaxRevokedLimit)
		if err != nil {
			return wrap(err, "prune revocation events of %q", ca)
		}
		if n, err = res.RowsAffected(); err != nil {
			return wrap(err, "prune revocation events of %q", ca)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// CountRevoked implements storage.RevocationStore (on the partial index of
// migration 0003).
func (s *Store) CountRevoked(ctx context.Context, ca string, since time.Time) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM certificates
		WHERE ca = ? AND status = 'revoked' AND not_after >= ?`, ca, micros(since)).Scan(&n)
	if err != nil {
		return 0, wrap(err, "count revoked certificates of %q", ca)
	}
	return n, nil
}

// ListRevoked implements storage.RevocationStore. The WHERE repeats the
// partial index's condition term by term so that SQLite uses it, and the
// range starts at since: expired entries are never read.
func (s *Store) ListRevoked(ctx context.Context, ca string, since time.Time, after storage.RevokedEntry, limit int) ([]storage.RevokedEntry, error) {
	n, err := certquery.CheckRevokedLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "sqlite: list revoked")
	}
	// The keyset: strictly after (not_after, serial) of the last entry,
	// and never before since.
	from, afterSerial := micros(since), ""
	if after.Serial != "" && micros(after.NotAfter) >= from {
		from, afterSerial = micros(after.NotAfter), after.Serial
	}
	rows, err := s.read.QueryContext(ctx, `SELECT serial, not_after, revoked_at, revocation_reason FROM certificates
		WHERE ca = ? AND status = 'revoked' AND not_after >= ?
			AND (not_after > ? OR serial > ?)
		ORDER BY not_after, serial LIMIT ?`, ca, from, from, afterSerial, n)
	if err != nil {
		return nil, wrap(err, "list revoked certificates of %q", ca)
	}
	defer rows.Close()
	out := make([]storage.RevokedEntry, 0, min(n, 1024))
	for rows.Next() {
		var (
			e                 storage.RevokedEntry
			notAfter, revoked int64
			reason            sql.NullInt64
		)
		if err := rows.Scan(&e.Serial, &notAfter, &revoked, &reason); err != nil {
			return nil, wrap(err, "list revoked certificates of %q", ca)
		}
		e.NotAfter, e.RevokedAt, e.Reason = fromMicros(notAfter), fromMicros(revoked), int(reason.Int64)
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
		c        storage.CertificateStatus
		status   string
		notAfter int64
		revoked  sql.NullInt64
		reason   sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT serial, ca, status, not_after, revoked_at, revocation_reason
		FROM certificates WHERE serial = ?`, serial).Scan(&c.Serial, &c.CA, &status, &notAfter, &revoked, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.CertificateStatus{}, errs.New(errs.NotFound, "sqlite: certificate %s not found", serial)
	}
	if err != nil {
		return storage.CertificateStatus{}, wrap(err, "status of certificate %s", serial)
	}
	c.Status = storage.CertStatus(status)
	c.NotAfter, c.RevokedAt = fromMicros(notAfter), fromNullMicros(revoked)
	if c.Status == storage.StatusRevoked {
		c.Reason = int(reason.Int64)
	}
	return c, nil
}

// InsertOCSPResponder implements storage.RevocationStore.
func (s *Store) InsertOCSPResponder(ctx context.Context, r storage.OCSPResponder) error {
	if r.KeyURI == "" || len(r.CertDER) == 0 {
		return errs.New(errs.Malformed, "sqlite: OCSP responder of %q: key URI and certificate are required", r.CA)
	}
	return s.writes.Do(ctx, "insert OCSP responder of "+r.CA, func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO ocsp_responders (key_uri, ca, cert_der, not_after, created_at)
			VALUES (?, ?, ?, ?, ?)`, r.KeyURI, r.CA, r.CertDER, micros(r.NotAfter), micros(r.CreatedAt))
		if err != nil {
			return wrap(err, "insert OCSP responder %s of %q", r.KeyURI, r.CA)
		}
		return nil
	})
}

// LatestOCSPResponder implements storage.RevocationStore.
func (s *Store) LatestOCSPResponder(ctx context.Context, ca string) (storage.OCSPResponder, error) {
	r := storage.OCSPResponder{CA: ca}
	var notAfter, created int64
	err := s.read.QueryRowContext(ctx, `SELECT key_uri, cert_der, not_after, created_at FROM ocsp_responders
		WHERE ca = ? ORDER BY not_after DESC, created_at DESC, key_uri DESC LIMIT 1`, ca).
		Scan(&r.KeyURI, &r.CertDER, &notAfter, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.OCSPResponder{}, errs.New(errs.NotFound, "sqlite: CA %q has no OCSP responder", ca)
	}
	if err != nil {
		return storage.OCSPResponder{}, wrap(err, "latest OCSP responder of %q", ca)
	}
	r.NotAfter, r.CreatedAt = fromMicros(notAfter), fromMicros(created)
	return r, nil
}

// ExpiredOCSPResponders implements storage.RevocationStore.
func (s *Store) ExpiredOCSPResponders(ctx context.Context, ca string, before time.Time) ([]storage.OCSPResponder, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT key_uri, cert_der, not_after, created_at FROM ocsp_responders
		WHERE ca = ? AND not_after < ? ORDER BY not_after, key_uri`, ca, micros(before))
	if err != nil {
		return nil, wrap(err, "expired OCSP responders of %q", ca)
	}
	defer rows.Close()
	var out []storage.OCSPResponder
	for rows.Next() {
		r := storage.OCSPResponder{CA: ca}
		var notAfter, created int64
		if err := rows.Scan(&r.KeyURI, &r.CertDER, &notAfter, &created); err != nil {
			return nil, wrap(err, "expired OCSP responders of %q", ca)
		}
		r.NotAfter, r.CreatedAt = fromMicros(notAfter), fromMicros(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "expired OCSP responders of %q", ca)
	}
	return out, nil
}

// DeleteOCSPResponder implements storage.RevocationStore.
func (s *Store) DeleteOCSPResponder(ctx context.Context, keyURI string) error {
	return s.writes.Do(ctx, "delete OCSP responder "+keyURI, func(ctx context.Context, tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ocsp_responders WHERE key_uri = ?`, keyURI); err != nil {
			return wrap(err, "delete OCSP responder %s", keyURI)
		}
		return nil
	})
}
