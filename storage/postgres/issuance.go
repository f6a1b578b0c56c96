package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// CompleteIssuance implements storage.Store in one statement, so that it
// is one batched write and a batch still goes out in one round trip (see
// batch.go): a WITH query inserts the audit event and runs
// ActivateCertificate's conditional UPDATE, and reads, as ActivateCertificate
// does, the status that tells a missing serial from a finished one.
// PostgreSQL runs the data-modifying parts of a WITH to completion whether
// or not the outer SELECT reads them, and an UPDATE that finds nothing
// pending changes nothing without an error, so the event is committed
// whatever the activation finds.
//
// A statement is atomic, though: a database error in it (a lock wait cut
// short by lock_timeout or statement_timeout, a deadlock the batch's replay
// did not get past) undoes the event with the activation. On that path
// alone, and so that the DER is not lost, CompleteIssuance then appends the
// event by itself, a second write. It does so whatever ctx says by then,
// as a batched write is made once its turn has come (see storage).
func (s *Store) CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, notBefore, notAfter time.Time) (int64, error) {
	if len(der) == 0 {
		return 0, errs.New(errs.Internal, "postgres: complete issuance of %s: empty DER", serial)
	}
	var (
		id         int64
		failed     bool // the statement itself failed, in the last attempt of the batch
		activation error
	)
	err := s.writes.Do(ctx, "complete issuance of "+serial, write{
		sql: `WITH audited AS (` + insertAuditSQL + ` RETURNING id),
			activated AS (
				UPDATE certificates
				SET status = $8, der = $9, not_before = $10, not_after = $11
				WHERE serial = $12 AND status = $13
				RETURNING serial)
			SELECT (SELECT id FROM audited), EXISTS (SELECT FROM activated),
				(SELECT status FROM certificates WHERE serial = $12)`,
		args: append(auditArgs(e),
			string(storage.StatusActive), der, notBefore, notAfter, serial, string(storage.StatusPending)),
		// A batch may run this twice (pipelined, then one by one), so
		// every variable is set afresh each time.
		result: func(row pgx.Row) error {
			var (
				activated bool
				status    *string // NULL: no such certificate
			)
			if err := row.Scan(&id, &activated, &status); err != nil {
				failed, activation = true, nil
				return wrap(err, "complete issuance of %s", serial)
			}
			failed = false
			switch {
			case activated:
				activation = nil
			case status == nil:
				activation = errs.New(errs.NotFound, "postgres: certificate %s not found", serial)
			default:
				activation = errs.New(errs.Conflict, "postgres: certificate %s is %s, not pending", serial, *status)
			}
			// The event is written either way: the write succeeded.
			return nil
		},
	})
	if err == nil {
		return id, activation
	}
	if !failed {
		return 0, err // not started, or the batch failed as a whole
	}
	// The statement failed, so neither part of it is written, but the
	// database took the rest of the batch: keep the DER.
	id, aerr := s.AppendAudit(context.WithoutCancel(ctx), e)
	if aerr != nil {
		return 0, err
	}
	return id, err
}
