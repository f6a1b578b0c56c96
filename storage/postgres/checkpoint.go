package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// AuditEventsAfter implements storage.AuditCheckpointStore.
func (s *Store) AuditEventsAfter(ctx context.Context, afterID int64, limit int) ([]storage.AuditEvent, error) {
	if limit < 1 || limit > storage.MaxAuditLimit {
		return nil, errs.New(errs.Malformed, "postgres: audit events: limit must be 1 to %d", storage.MaxAuditLimit)
	}
	return s.auditEvents(ctx, `SELECT id, at, actor, action, profile, serial, detail, der FROM audit WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
}

const checkpointColumns = `seq, last_id, events, hash, signature, key_uri, at`

// LastAuditCheckpoint implements storage.AuditCheckpointStore.
func (s *Store) LastAuditCheckpoint(ctx context.Context) (storage.AuditCheckpoint, error) {
	cps, err := s.checkpoints(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return storage.AuditCheckpoint{}, err
	}
	if len(cps) == 0 {
		return storage.AuditCheckpoint{}, errs.New(errs.NotFound, "postgres: no audit checkpoint")
	}
	return cps[0], nil
}

// InsertAuditCheckpoint implements storage.AuditCheckpointStore.
func (s *Store) InsertAuditCheckpoint(ctx context.Context, cp storage.AuditCheckpoint) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_checkpoints (`+checkpointColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		cp.Seq, cp.LastID, cp.Events, cp.Hash, cp.Signature, cp.KeyURI, cp.At.UTC())
	if err != nil {
		return wrap(err, "insert audit checkpoint %d", cp.Seq)
	}
	return nil
}

// ListAuditCheckpoints implements storage.AuditCheckpointStore.
func (s *Store) ListAuditCheckpoints(ctx context.Context, afterSeq int64, limit int) ([]storage.AuditCheckpoint, error) {
	if limit < 1 || limit > storage.MaxAuditCheckpoints {
		return nil, errs.New(errs.Malformed, "postgres: audit checkpoints: limit must be 1 to %d", storage.MaxAuditCheckpoints)
	}
	return s.checkpoints(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limit)
}

func (s *Store) checkpoints(ctx context.Context, query string, args ...any) ([]storage.AuditCheckpoint, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "audit checkpoints")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.AuditCheckpoint, error) {
		var cp storage.AuditCheckpoint
		err := r.Scan(&cp.Seq, &cp.LastID, &cp.Events, &cp.Hash, &cp.Signature, &cp.KeyURI, &cp.At)
		cp.At = utc(cp.At)
		return cp, err
	})
	if err != nil {
		return nil, wrap(err, "audit checkpoints")
	}
	return out, nil
}

// AuditForwarded implements storage.AuditForwardStore.
func (s *Store) AuditForwarded(ctx context.Context, target string) (int64, error) {
	var id int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(last_id), 0) FROM audit_forward WHERE target = $1`, target).Scan(&id); err != nil {
		return 0, wrap(err, "audit forward position of %s", target)
	}
	return id, nil
}

// AdvanceAuditForward implements storage.AuditForwardStore.
func (s *Store) AdvanceAuditForward(ctx context.Context, target string, from, to int64, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO audit_forward (target, last_id, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (target) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at
		WHERE audit_forward.last_id = $4`, target, to, at.UTC(), from)
	if err != nil {
		return false, wrap(err, "advance audit forward of %s", target)
	}
	return tag.RowsAffected() == 1, nil
}
