package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
)

// RevokeCertificate implements storage.Store. It reads the status, updates
// and appends the audit event in one write (one savepoint of a batch on the one write
// connection, see batch.go) that no other write can interleave with: the
// row it decides on is the row it changes, and a Conflict reports the
// revocation that won.
func (s *Store) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, audit storage.AuditEvent) error {
	if err := storage.CheckReason(reason); err != nil {
		return errs.Wrap(errs.Malformed, err, "sqlite: revoke certificate %s", serial)
	}
	if at.IsZero() {
		return errs.New(errs.Malformed, "sqlite: revoke certificate %s: no revocation time", serial)
	}
	return s.writes.Do(ctx, "revoke certificate "+serial, audited(audit, func(ctx context.Context, tx *txn) error {
		return revoke(ctx, tx, serial, reason, at)
	}))
}

// revoke is RevokeCertificate's change: it reads the row, decides, and
// revokes.
func revoke(ctx context.Context, tx *txn, serial string, reason int, at time.Time) error {
	var (
		status                   string
		revokedAt, revokedReason sql.NullInt64
	)
	err := tx.QueryRowContext(ctx, `SELECT status, revoked_at, revocation_reason FROM certificates WHERE serial = ?`,
		serial).Scan(&status, &revokedAt, &revokedReason)
	if errors.Is(err, sql.ErrNoRows) {
		return errs.New(errs.NotFound, "sqlite: certificate %s not found", serial)
	}
	if err != nil {
		return wrap(err, "revoke certificate %s", serial)
	}
	switch storage.CertStatus(status) {
	case storage.StatusActive:
	case storage.StatusRevoked:
		return errs.New(errs.Conflict, "sqlite: certificate %s is already revoked (at %s, reason %d)",
			serial, fromNullMicros(revokedAt).Format(time.RFC3339Nano), revokedReason.Int64)
	default:
		return errs.New(errs.Conflict, "sqlite: certificate %s is %s, not active", serial, status)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE certificates
		SET status = 'revoked', revoked_at = ?, revocation_reason = ?
		WHERE serial = ?`, micros(at), reason, serial); err != nil {
		return wrap(err, "revoke certificate %s", serial)
	}
	return nil
}

// ReleaseHold implements storage.Store in one write, with its audit event.
// Migration 0009's trigger logs the revocation event.
func (s *Store) ReleaseHold(ctx context.Context, serial string, audit storage.AuditEvent) error {
	return s.writes.Do(ctx, "release certificate "+serial, audited(audit, func(ctx context.Context, tx *txn) error {
		var (
			status string
			reason sql.NullInt64
		)
		err := tx.QueryRowContext(ctx, `SELECT status, revocation_reason FROM certificates WHERE serial = ?`, serial).Scan(&status, &reason)
		if errors.Is(err, sql.ErrNoRows) {
			return errs.New(errs.NotFound, "sqlite: certificate %s not found", serial)
		}
		if err != nil {
			return wrap(err, "release certificate %s", serial)
		}
		if err := certquery.CheckOnHold(serial, storage.CertStatus(status), int(reason.Int64)); err != nil {
			return errs.Wrap(errs.Conflict, err, "sqlite")
		}
		if _, err := tx.ExecContext(ctx, `UPDATE certificates
			SET status = 'active', revoked_at = NULL, revocation_reason = NULL
			WHERE serial = ?`, serial); err != nil {
			return wrap(err, "release certificate %s", serial)
		}
		return nil
	}))
}

// RevokeCertificates implements storage.Store in one write: each
// revocation decides on its row before it changes anything, so a refused
// one leaves nothing behind and the others go on.
func (s *Store) RevokeCertificates(ctx context.Context, revs []storage.Revocation) ([]error, []bool, error) {
	outcomes, blocked := make([]error, len(revs)), make([]bool, len(revs))
	err := s.writes.Do(ctx, fmt.Sprintf("revoke %d certificates", len(revs)), func(ctx context.Context, tx *txn) error {
		clear(outcomes)
		clear(blocked)
		for i, r := range revs {
			if err := storage.CheckRevocation(r); err != nil {
				outcomes[i] = err
				continue
			}
			if err := revoke(ctx, tx, r.Serial, r.Reason, r.At); err != nil {
				if k := errs.KindOf(err); k != errs.NotFound && k != errs.Conflict {
					return err
				}
				outcomes[i] = err
				continue
			}
			if _, err := appendAudit(ctx, tx, r.Audit); err != nil {
				return err
			}
			if r.Block != nil {
				b, err := blockKey(ctx, tx, *r.Block, r.BlockAudit)
				if err != nil {
					return err
				}
				blocked[i] = b
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return outcomes, blocked, nil
}
