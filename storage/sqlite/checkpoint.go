package sqlite

import (
	"context"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// AuditEventsAfter implements storage.AuditCheckpointStore.
func (s *Store) AuditEventsAfter(ctx context.Context, afterID int64, limit int) ([]storage.AuditEvent, error) {
	if limit < 1 || limit > storage.MaxAuditLimit {
		return nil, errs.New(errs.Malformed, "sqlite: audit events: limit must be 1 to %d", storage.MaxAuditLimit)
	}
	return s.auditEvents(ctx, `SELECT id, at, actor, action, profile, serial, detail, der FROM audit WHERE id > ? ORDER BY id LIMIT ?`, afterID, limit)
}

const checkpointColumns = `seq, last_id, events, hash, signature, key_uri, at`

// LastAuditCheckpoint implements storage.AuditCheckpointStore.
func (s *Store) LastAuditCheckpoint(ctx context.Context) (storage.AuditCheckpoint, error) {
	cps, err := s.checkpoints(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`)
	if err != nil {
		return storage.AuditCheckpoint{}, err
	}
	if len(cps) == 0 {
		return storage.AuditCheckpoint{}, errs.New(errs.NotFound, "sqlite: no audit checkpoint")
	}
	return cps[0], nil
}

// InsertAuditCheckpoint implements storage.AuditCheckpointStore.
func (s *Store) InsertAuditCheckpoint(ctx context.Context, cp storage.AuditCheckpoint) error {
	return s.writes.Do(ctx, "insert audit checkpoint", func(ctx context.Context, tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (`+checkpointColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			cp.Seq, cp.LastID, cp.Events, cp.Hash, cp.Signature, cp.KeyURI, micros(cp.At))
		if err != nil {
			return wrap(err, "insert audit checkpoint %d", cp.Seq)
		}
		return nil
	})
}

// ListAuditCheckpoints implements storage.AuditCheckpointStore.
func (s *Store) ListAuditCheckpoints(ctx context.Context, afterSeq int64, limit int) ([]storage.AuditCheckpoint, error) {
	if limit < 1 || limit > storage.MaxAuditCheckpoints {
		return nil, errs.New(errs.Malformed, "sqlite: audit checkpoints: limit must be 1 to %d", storage.MaxAuditCheckpoints)
	}
	return s.checkpoints(ctx, `SELECT `+checkpointColumns+` FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?`, afterSeq, limit)
}

func (s *Store) checkpoints(ctx context.Context, query string, args ...any) ([]storage.AuditCheckpoint, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "audit checkpoints")
	}
	defer rows.Close()
	var out []storage.AuditCheckpoint
	for rows.Next() {
		var (
			cp storage.AuditCheckpoint
			at int64
		)
		if err := rows.Scan(&cp.Seq, &cp.LastID, &cp.Events, &cp.Hash, &cp.Signature, &cp.KeyURI, &at); err != nil {
			return nil, wrap(err, "audit checkpoints")
		}
		cp.At = fromMicros(at)
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "audit checkpoints")
	}
	return out, nil
}

// AuditForwarded implements storage.AuditForwardStore.
func (s *Store) AuditForwarded(ctx context.Context, target string) (int64, error) {
	var id int64
	err := s.read.QueryRowContext(ctx, `SELECT COALESCE(MAX(last_id), 0) FROM audit_forward WHERE target = ?`, target).Scan(&id)
	if err != nil {
		return 0, wrap(err, "audit forward position of %s", target)
	}
	return id, nil
}

// AdvanceAuditForward implements storage.AuditForwardStore.
func (s *Store) AdvanceAuditForward(ctx context.Context, target string, from, to int64, at time.Time) (bool, error) {
	var moved bool
	err := s.writes.Do(ctx, "advance audit forward", func(ctx context.Context, tx *txn) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO audit_forward (target, last_id, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (target) DO UPDATE SET last_id = excluded.last_id, updated_at = excluded.updated_at
			WHERE audit_forward.last_id = ?`, target, to, micros(at), from)
		if err != nil {
			return wrap(err, "advance audit forward of %s", target)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return wrap(err, "advance audit forward of %s", target)
		}
		// A first position (from 0) inserts; a later one updates.
		moved = n == 1
		return nil
	})
	return moved, err
}
