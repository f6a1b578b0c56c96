package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/storage"
)

// insertAuditSQL appends an event; auditArgs are its arguments.
const insertAuditSQL = `INSERT INTO audit (at, actor, action, profile, serial, detail, der)
	VALUES ($1, $2, $3, $4, $5, $6, $7)`

func auditArgs(e storage.AuditEvent) []any {
	return []any{e.At, e.Actor, e.Action, e.Profile, e.Serial, e.Detail, nullBytes(e.DER)}
}

// AppendAudit implements storage.Store.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error) {
	var id int64
	err := s.writes.Do(ctx, "append audit "+e.Action, write{
		sql:  insertAuditSQL + " RETURNING id",
		args: auditArgs(e),
		result: func(row pgx.Row) error {
			if err := row.Scan(&id); err != nil {
				return wrap(err, "append audit %q", e.Action)
			}
			return nil
		},
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// audited runs change and appends audit in one transaction, so that the
// change and its audit event are committed together and a change that
// fails (an error from change) appends nothing. The transaction is READ
// COMMITTED whatever default_transaction_isolation says: the changes that
// decide on a row lock it first (SELECT ... FOR UPDATE) and must then read
// what the lock's last holder committed. what names the change in errors.
func (s *Store) audited(ctx context.Context, what string, audit storage.AuditEvent, change func(tx pgx.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return wrap(err, "%s: begin", what)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := change(tx); err != nil {
		return err
	}
	if err := insertAudit(ctx, tx, audit); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return wrap(err, "%s: commit", what)
	}
	return nil
}

// insertAudit appends e in tx, for the writes that commit their event with
// them.
func insertAudit(ctx context.Context, tx pgx.Tx, e storage.AuditEvent) error {
	if _, err := tx.Exec(ctx, insertAuditSQL, auditArgs(e)...); err != nil {
		return wrap(err, "append audit %q", e.Action)
	}
	return nil
}

// ListAudit implements storage.Store.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error) {
	query, args := auditQuery(f)
	return s.auditEvents(ctx, query, args...)
}

// auditEvents runs query, which selects id, at, actor, action, profile,
// serial, detail and der, and reads the events.
func (s *Store) auditEvents(ctx context.Context, query string, args ...any) ([]storage.AuditEvent, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err, "list audit")
	}
	events, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Profile, &e.Serial, &e.Detail, &e.DER)
		e.At = utc(e.At)
		e.DER = nullBytes(e.DER)
		return e, err
	})
	if err != nil {
		return nil, wrap(err, "list audit")
	}
	if len(events) == 0 {
		return nil, nil
	}
	return events, nil
}

// auditQuery builds the SELECT for f. Only the filters that are set become
// conditions, so the planner can use the (serial, at) and (profile, at)
// indexes.
func auditQuery(f storage.AuditFilter) (string, []any) {
	var c conditions
	if f.Serial != "" {
		c.add("serial = $%d", f.Serial)
	}
	if f.Profile != "" {
		c.add("profile = $%d", f.Profile)
	}
	if f.Action != "" {
		c.add("action = $%d", f.Action)
	}
	if f.Actor != "" {
		c.add("actor = $%d", f.Actor)
	}
	if f.AfterID != 0 {
		c.args = append(c.args, f.AfterAt, f.AfterID)
		n := len(c.args)
		c.where = append(c.where, fmt.Sprintf("(at < $%d OR at = $%d AND id < $%d)", n-1, n-1, n))
	}
	if !f.Since.IsZero() {
		c.add("at >= $%d", f.Since)
	}
	if !f.Until.IsZero() {
		c.add("at < $%d", f.Until)
	}
	return c.query("SELECT id, at, actor, action, profile, serial, detail, der FROM audit", "at DESC, id DESC", f.EffectiveLimit())
}
