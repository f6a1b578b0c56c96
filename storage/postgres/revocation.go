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

// RevokeCertificate implements storage.Store. It locks the row (SELECT ...
// FOR UPDATE) before it decides, in a READ COMMITTED transaction whatever
// default_transaction_isolation says: of replicas revoking one certificate
// at once, one takes the lock and revokes; each of the others waits for
// it, then reads the committed revocation and answers Conflict with that
// revocation's time and reason. A conditional UPDATE alone would be just as
// safe, but could not say reliably why it changed nothing (a pending
// certificate may become active in between). The audit event goes into the
// same transaction.
func (s *Store) RevokeCertificate(ctx context.Context, serial string, reason int, at time.Time, audit storage.AuditEvent) error {
	if err := storage.CheckReason(reason); err != nil {
		return errs.Wrap(errs.Malformed, err, "postgres: revoke certificate %s", serial)
	}
	if at.IsZero() {
		return errs.New(errs.Malformed, "postgres: revoke certificate %s: no revocation time", serial)
	}
	return s.audited(ctx, "revoke certificate "+serial, audit, func(tx pgx.Tx) error {
		return revoke(ctx, tx, serial, reason, at)
	})
}

// revoke is RevokeCertificate's change: it locks the row, decides, and
// revokes.
func revoke(ctx context.Context, tx pgx.Tx, serial string, reason int, at time.Time) error {
	var (
		status        string
		revokedAt     *time.Time
		revokedReason *int
	)
	err := tx.QueryRow(ctx, `SELECT status, revoked_at, revocation_reason FROM certificates WHERE serial = $1 FOR UPDATE`,
		serial).Scan(&status, &revokedAt, &revokedReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
	}
	if err != nil {
		return wrap(err, "revoke certificate %s", serial)
	}
	switch storage.CertStatus(status) {
	case storage.StatusActive:
	case storage.StatusRevoked:
		var r int
		if revokedReason != nil {
			r = *revokedReason
		}
		return errs.New(errs.Conflict, "postgres: certificate %s is already revoked (at %s, reason %d)",
			serial, fromNullTime(revokedAt).Format(time.RFC3339Nano), r)
	default:
		return errs.New(errs.Conflict, "postgres: certificate %s is %s, not active", serial, status)
	}
	if _, err := tx.Exec(ctx, `UPDATE certificates
		SET status = 'revoked', revoked_at = $1, revocation_reason = $2
		WHERE serial = $3`, at, reason, serial); err != nil {
		return wrap(err, "revoke certificate %s", serial)
	}
	return nil
}

// ReleaseHold implements storage.Store, locking the row as RevokeCertificate
// does, with the audit event in the same transaction. Migration 0009's
// trigger logs the revocation event.
func (s *Store) ReleaseHold(ctx context.Context, serial string, audit storage.AuditEvent) error {
	return s.audited(ctx, "release certificate "+serial, audit, func(tx pgx.Tx) error {
		return release(ctx, tx, serial)
	})
}

// release is ReleaseHold's change: it locks the row, decides, and releases.
func release(ctx context.Context, tx pgx.Tx, serial string) error {
	var (
		status string
		reason *int
	)
	err := tx.QueryRow(ctx, `SELECT status, revocation_reason FROM certificates WHERE serial = $1 FOR UPDATE`, serial).Scan(&status, &reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
	}
	if err != nil {
		return wrap(err, "release certificate %s", serial)
	}
	r := 0
	if reason != nil {
		r = *reason
	}
	if err := certquery.CheckOnHold(serial, storage.CertStatus(status), r); err != nil {
		return errs.Wrap(errs.Conflict, err, "postgres")
	}
	if _, err := tx.Exec(ctx, `UPDATE certificates
		SET status = 'active', revoked_at = NULL, revocation_reason = NULL
		WHERE serial = $1`, serial); err != nil {
		return wrap(err, "release certificate %s", serial)
	}
	return nil
}

// RevokeCertificates implements storage.Store in one transaction: each
// revocation locks and decides on its row before it changes anything, so
// a refused one leaves nothing behind and the others go on; the CA's
// revocation counter (migration 0003's trigger) is taken once for all.
func (s *Store) RevokeCertificates(ctx context.Context, revs []storage.Revocation) ([]error, []bool, error) {
	outcomes, blocked := make([]error, len(revs)), make([]bool, len(revs))
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return nil, nil, wrap(err, "revoke %d certificates: begin", len(revs))
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for i, r := range revs {
		if err := storage.CheckRevocation(r); err != nil {
			outcomes[i] = err
			continue
		}
		if err := revoke(ctx, tx, r.Serial, r.Reason, r.At); err != nil {
			if k := errs.KindOf(err); k != errs.NotFound && k != errs.Conflict {
				return nil, nil, err
			}
			outcomes[i] = err
			continue
		}
		if err := insertAudit(ctx, tx, r.Audit); err != nil {
			return nil, nil, err
		}
		if r.Block != nil {
			if blocked[i], err = blockKey(ctx, tx, *r.Block, r.BlockAudit); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, nil, wrap(err, "revoke %d certificates: commit", len(revs))
	}
	return outcomes, blocked, nil
}
