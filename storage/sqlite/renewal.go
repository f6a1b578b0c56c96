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

// Server-driven renewal. Each change is one conditional UPDATE, a write of
// its own (see batch.go); when it changes nothing, a second look in the
// same write tells why.

// SetAutoRenew implements storage.Store.
func (s *Store) SetAutoRenew(ctx context.Context, serial string, on bool, audit storage.AuditEvent) error {
	return s.writes.Do(ctx, "set auto-renew of "+serial, audited(audit, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET auto_renew = ? WHERE serial = ?`, boolInt(on), serial)
		if err != nil {
			return wrap(err, "set auto-renew of %s", serial)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "set auto-renew of %s", serial)
		}
		if n != 1 {
			if err := exists(ctx, tx, serial, "set auto-renew of %s"); err != nil {
				return err
			}
		}
		return nil
	}))
}

// DueForRenewal implements storage.Store. Its first four conditions repeat
// the WHERE of the partial index certificates_renew_at_idx term by term, so
// SQLite can see the index applies.
func (s *Store) DueForRenewal(ctx context.Context, now time.Time, limit int) ([]storage.Certificate, error) {
	n, err := certquery.CheckLimit(limit)
	if err != nil {
		return nil, errs.Wrap(errs.Malformed, err, "sqlite: certificates due for renewal")
	}
	t := micros(now)
	return s.queryCertificates(ctx, "certificates due for renewal",
		`SELECT `+certColumns+` FROM certificates
		WHERE status = 'active' AND auto_renew = 1 AND key_pem IS NOT NULL AND renewed_by IS NULL
		  AND renew_at <= ? AND not_after > ?
		  AND (renewal_claim_until IS NULL OR renewal_claim_until <= ?)
		ORDER BY renew_at, serial LIMIT ?`,
		t, t, t, n)
}

// ClaimRenewal implements storage.Store. The claim is one conditional
// UPDATE, and writes are serialized (see batch.go), so of many claimers
// exactly one finds the condition true.
func (s *Store) ClaimRenewal(ctx context.Context, serial, claimant string, now time.Time, lease time.Duration) (bool, error) {
	if claimant == "" || lease <= 0 {
		return false, errs.New(errs.Malformed, "sqlite: claim renewal of %s: need a claimant and a positive lease", serial)
	}
	var claimed bool
	err := s.writes.Do(ctx, "claim renewal of "+serial, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates
			SET renewal_claimant = ?, renewal_claim_until = ?
			WHERE serial = ? AND status = 'active' AND renewed_by IS NULL
			  AND (renewal_claim_until IS NULL OR renewal_claim_until <= ?)`,
			claimant, micros(now.Add(lease)), serial, micros(now))
		if err != nil {
			return wrap(err, "claim renewal of %s", serial)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "claim renewal of %s", serial)
		}
		claimed = n == 1
		if claimed {
			return nil
		}
		return exists(ctx, tx, serial, "claim renewal of %s")
	})
	if err != nil {
		return false, err
	}
	return claimed, nil
}

// ReleaseRenewal implements storage.Store.
func (s *Store) ReleaseRenewal(ctx context.Context, serial, claimant string) error {
	if claimant == "" {
		return errs.New(errs.Malformed, "sqlite: release renewal claim on %s: need a claimant", serial)
	}
	return s.writes.Do(ctx, "release renewal claim on "+serial, func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates
			SET renewal_claimant = NULL, renewal_claim_until = NULL
			WHERE serial = ? AND renewal_claimant = ?`, serial, claimant)
		if err != nil {
			return wrap(err, "release renewal claim on %s", serial)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "release renewal claim on %s", serial)
		}
		if n == 1 {
			return nil
		}
		return exists(ctx, tx, serial, "release renewal claim on %s")
	})
}

// MarkRenewed implements storage.Store.
func (s *Store) MarkRenewed(ctx context.Context, oldSerial, newSerial string) error {
	if err := certquery.CheckRenewal(oldSerial, newSerial); err != nil {
		return errs.Wrap(errs.Malformed, err, "sqlite: mark %s renewed", oldSerial)
	}
	return s.writes.Do(ctx, "mark "+oldSerial+" renewed", func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE certificates SET renewed_by = ?
			WHERE serial = ? AND renewed_by IS NULL`, newSerial, oldSerial)
		if err != nil {
			return wrap(err, "mark %s renewed by %s", oldSerial, newSerial)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "mark %s renewed by %s", oldSerial, newSerial)
		}
		if n == 1 {
			return nil
		}
		var renewedBy string
		err = tx.QueryRowContext(ctx, `SELECT COALESCE(renewed_by, '') FROM certificates WHERE serial = ?`, oldSerial).Scan(&renewedBy)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "sqlite: certificate %s not found", oldSerial)
		}
		if err != nil {
			return wrap(err, "mark %s renewed by %s", oldSerial, newSerial)
		}
		return errs.New(errs.Conflict, "sqlite: certificate %s was already renewed by %s", oldSerial, renewedBy)
	})
}

// exists returns nil if a certificate has that serial, errs.NotFound if
// none has. what is a format with one %s for the serial.
func exists(ctx context.Context, tx *txn, serial, what string) error {
	var found bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM certificates WHERE serial = ?)`, serial).Scan(&found)
	if err != nil {
		return wrap(err, what, serial)
	}
	if !found {
		return errs.New(errs.NotFound, "sqlite: certificate %s not found", serial)
	}
	return nil
}
