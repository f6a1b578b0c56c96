package sqlite

import (
	"context"

	"github.com/certgw/gateway/storage"
)

// AppendAudit implements storage.Store.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error) {
	var id int64
	err := s.writes.Do(ctx, "append audit "+e.Action, func(ctx context.Context, tx *txn) error {
		var err error
		id, err = appendAudit(ctx, tx, e)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// appendAudit inserts e in tx and returns its ID; AppendAudit and
// CompleteIssuance share it.
func appendAudit(ctx context.Context, tx *txn, e storage.AuditEvent) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO audit (at, actor, action, profile, serial, detail, der)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		micros(e.At), e.Actor, e.Action, e.Profile, e.Serial, e.Detail, nullBytes(e.DER)).Scan(&id)
	if err != nil {
		return 0, wrap(err, "append audit %q", e.Action)
	}
	return id, nil
}

// audited returns change followed by the append of audit, as one write: in
// the write's savepoint, so that the change and its audit event are
// committed together, and a change that fails appends nothing.
func audited(audit storage.AuditEvent, change op) op {
	return func(ctx context.Context, tx *txn) error {
		if err := change(ctx, tx); err != nil {
			return err
		}
		_, err := appendAudit(ctx, tx, audit)
		return err
	}
}

// ListAudit implements storage.Store.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	query, args := auditQuery(f)
	return s.auditEvents(ctx, query, args...)
}

// auditEvents runs query, which selects id, at, actor, action, profile,
// serial, detail and der, and reads the events.
func (s *Store) auditEvents(ctx context.Context, query string, args ...any) ([]storage.AuditEvent, error) {
	rows, err := s.read.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "list audit")
	}
	defer rows.Close()
	var events []storage.AuditEvent
	for rows.Next() {
		var (
			e  storage.AuditEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Profile, &e.Serial, &e.Detail, &e.DER); err != nil {
			return nil, wrap(err, "list audit")
		}
		e.At = fromMicros(at)
		e.DER = nullBytes(e.DER)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "list audit")
	}
	return events, nil
}

// auditQuery builds the SELECT for f. Only the filters that are set become
// conditions, so the planner can use the (serial, at) and (profile, at)
// indexes.
func auditQuery(f storage.AuditFilter) (string, []any) {
	var c conditions
	if f.Serial != "" {
		c.add("serial = ?", f.Serial)
	}
	if f.Profile != "" {
		c.add("profile = ?", f.Profile)
	}
	if f.Action != "" {
		c.add("action = ?", f.Action)
	}
	if f.Actor != "" {
		c.add("actor = ?", f.Actor)
	}
	if f.AfterID != 0 {
		c.add("(at < ? OR at = ? AND id < ?)", micros(f.AfterAt), micros(f.AfterAt), f.AfterID)
	}
	if !f.Since.IsZero() {
		c.add("at >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		c.add("at < ?", micros(f.Until))
	}
	return c.query("SELECT id, at, actor, action, profile, serial, detail, der FROM audit", "at DESC, id DESC", f.EffectiveLimit())
}
