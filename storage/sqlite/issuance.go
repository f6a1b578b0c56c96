package sqlite

import (
	"context"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// CompleteIssuance implements storage.Store. The audit event and the
// activation are one op of a batch, so they share its commit and its
// fsync. The activation runs under a savepoint of its own, inside the one
// the batch sets around the op: if it fails, only it is undone, and the
// event, with the DER, is committed with the rest of the batch.
func (s *Store) CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, notBefore, notAfter time.Time) (int64, error) {
	if len(der) == 0 {
		return 0, errs.New(errs.Internal, "sqlite: complete issuance of %s: empty DER", serial)
	}
	var (
		id          int64
		activateErr error
	)
	err := s.writes.Do(ctx, "complete issuance of "+serial, func(ctx context.Context, tx *txn) error {
		var err error
		if id, err = appendAudit(ctx, tx, e); err != nil {
			return err
		}
		activateErr, err = inSavepoint(ctx, tx, "activate", func() error {
			return activate(ctx, tx, serial, der, notBefore, notAfter)
		})
		if err != nil {
			return wrap(err, "complete issuance of %s", serial)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return id, activateErr
}

// inSavepoint runs op in tx under the savepoint name and, if op fails,
// rolls back to it, undoing op's writes alone; it returns op's error as
// opErr. It returns err if a savepoint statement failed: then the
// transaction cannot be trusted and the op must fail whole. The batch's
// own savepoint (groupcommit.InSavepoint) is around it, so name must not
// be that one's.
func inSavepoint(ctx context.Context, tx *txn, name string, op func() error) (opErr, err error) {
	exec := func(stmt string) error {
		_, err := tx.ExecContext(ctx, stmt+" "+name)
		return err
	}
	if err := exec("SAVEPOINT"); err != nil {
		return nil, err
	}
	if opErr = op(); opErr != nil {
		// ROLLBACK TO keeps the savepoint, the RELEASE below drops it.
		if err := exec("ROLLBACK TO SAVEPOINT"); err != nil {
			return opErr, err
		}
	}
	if err := exec("RELEASE SAVEPOINT"); err != nil {
		return opErr, err
	}
	return opErr, nil
}
