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

// Server-driven renewal. Each change is one conditional UPDATE; when it
// changes nothing, a second look tells why. That look cannot go stale:
// certificates are never deleted and renewed_by, once set, is never cleared.
//
// Of replicas updating one row at once, PostgreSQL lets one through and
// makes the others wait for its commit; at READ COMMITTED (the default)
// each of them then checks the WHERE again against the committed row, so a
// claim or a MarkRenewed that lost finds its condition false and changes
// nothing.

// SetAutoRenew implements storage.Store.
func (s *Store) SetAutoRenew(ctx context.Context, serial string, on bool, audit storage.AuditEvent) error {
	return s.audited(ctx, "set auto-renew of "+serial, audit, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE certificates SET auto_renew = $1 WHERE serial = $2`, on, serial)
		if err != nil {
			return wrap(err, "set auto-renew of %s", serial)
		}
		if tag.RowsAffected() != 1 {
			return errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
		}
		return nil
	})
}

// DueForRenewal implements storage.Store. Its first four conditions are
// those of the partial index certificates_renew_at_idx.
func (s *Store) DueForRenewal(ctx context.Context, now time.Time, limit int) ([]storage.Certificate, error) {
	n, err := certquery.CheckLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "postgres: certificates due for renewal")
	}
	return s.queryCertificates(ctx, "certificates due for renewal",
		`SELECT `+certColumns+` FROM certificates
		WHERE status = 'active' AND auto_renew AND key_pem IS NOT NULL AND renewed_by IS NULL
		  AND renew_at <= $1 AND not_after > $1
		  AND (renewal_claim_until IS NULL OR renewal_claim_until <= $1)
		ORDER BY renew_at, serial COLLATE "C" LIMIT $2`,
		now, n)
}

// ClaimRenewal implements storage.Store.
func (s *Store) ClaimRenewal(ctx context.Context, serial, claimant string, now time.Time, lease time.Duration) (bool, error) {
	if claimant == "" || lease <= 0 {
		return false, errs.New(errs.Malformed, "postgres: claim renewal of %s: need a claimant and a positive lease", serial)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE certificates
		SET renewal_claimant = $1, renewal_claim_until = $2
		WHERE serial = $3 AND status = 'active' AND renewed_by IS NULL
		  AND (renewal_claim_until IS NULL OR renewal_claim_until <= $4)`,
		claimant, now.Add(lease), serial, now)
	if err != nil {
		return false, wrap(err, "claim renewal of %s", serial)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	if err := s.exists(ctx, serial, "claim renewal of %s"); err != nil {
		return false, err
	}
	return false, nil
}

// ReleaseRenewal implements storage.Store.
func (s *Store) ReleaseRenewal(ctx context.Context, serial, claimant string) error {
	if claimant == "" {
		return errs.New(errs.Malformed, "postgres: release renewal claim on %s: need a claimant", serial)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE certificates
		SET renewal_claimant = NULL, renewal_claim_until = NULL
		WHERE serial = $1 AND renewal_claimant = $2`, serial, claimant)
	if err != nil {
		return wrap(err, "release renewal claim on %s", serial)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	return s.exists(ctx, serial, "release renewal claim on %s")
}

// MarkRenewed implements storage.Store.
func (s *Store) MarkRenewed(ctx context.Context, oldSerial, newSerial string) error {
	if err := certquery.CheckRenewal(oldSerial, newSerial); err != nil {
		return errs.Wrap(errs.Malformed, err, "postgres: mark %s renewed", oldSerial)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE certificates SET renewed_by = $1
		WHERE serial = $2 AND renewed_by IS NULL`, newSerial, oldSerial)
	if err != nil {
		return wrap(err, "mark %s renewed by %s", oldSerial, newSerial)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var renewedBy string
	err = s.pool.QueryRow(ctx, `SELECT COALESCE(renewed_by, '') FROM certificates WHERE serial = $1`, oldSerial).Scan(&renewedBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.New(errs.NotFound, "postgres: certificate %s not found", oldSerial)
	}
	if err != nil {
		return wrap(err, "mark %s renewed by %s", oldSerial, newSerial)
	}
	return errs.New(errs.Conflict, "postgres: certificate %s was already renewed by %s", oldSerial, renewedBy)
}

// exists returns nil if a certificate has that serial, errs.NotFound if
// none has. what is a format with one %s for the serial.
func (s *Store) exists(ctx context.Context, serial, what string) error {
	var found bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = $1)`, serial).Scan(&found)
	if err != nil {
		return wrap(err, what, serial)
	}
	if !found {
		return errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
	}
	return nil
}
