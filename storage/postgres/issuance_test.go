package postgres

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

// When the activation part of CompleteIssuance's one statement fails with
// a database error (here a lock wait cut short by lock_timeout), the
// statement is undone whole; the event, with its DER, must be kept all the
// same.
func TestCompleteIssuanceKeepsAuditWhenTheStatementFails(t *testing.T) {
	ctx := t.Context()
	dsn := newDatabase(t)
	// Unknown DSN parameters become run-time settings of every connection.
	if strings.Contains(dsn, "://") {
		if strings.Contains(dsn, "?") {
			dsn += "&lock_timeout=200ms"
		} else {
			dsn += "?lock_timeout=200ms"
		}
	} else {
		dsn += " lock_timeout=200ms"
	}
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC)
	if err := s.InsertCA(ctx, storage.CA{Name: "root", KeyURI: "k", CertDER: []byte{1}, CreatedAt: now}, storagetest.Event("init-ca", "")); err != nil {
		t.Fatal(err)
	}
	c := storage.Certificate{Serial: "0a", CA: "root", Profile: "p", Method: "api", Requester: "r", NotBefore: now, NotAfter: now, CreatedAt: now}
	if err := s.InsertPendingCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}

	// Another session holds the row, as a revocation does while it
	// decides.
	locker, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Rollback(context.WithoutCancel(ctx))
	if _, err := locker.Exec(ctx, `SELECT FROM certificates WHERE serial = '0a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}

	der := []byte{0x30, 0x00, 0xff}
	e := storage.AuditEvent{At: now, Actor: "r", Action: "issue", Profile: "p", Serial: "0a", DER: der}
	id, err := s.CompleteIssuance(ctx, e, "0a", der, now, now)
	if !errs.Is(err, errs.Unavailable) || id == 0 {
		t.Fatalf("CompleteIssuance() with the row locked = %d, %v (kind %v); want an audit ID and kind unavailable", id, err, errs.KindOf(err))
	}
	if err := locker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	events, err := s.ListAudit(ctx, storage.AuditFilter{Serial: "0a"})
	if err != nil {
		t.Fatal(err)
	}
	e.ID = id
	if !reflect.DeepEqual(events, []storage.AuditEvent{e}) {
		t.Errorf("ListAudit() =\n%+v\nwant the event, once:\n%+v", events, e)
	}
	if got, err := s.GetCertificate(ctx, "0a"); err != nil || got.Status != storage.StatusPending {
		t.Errorf("GetCertificate() = %s, %v; want still pending", got.Status, err)
	}
	// The reconcile step can now activate it from the trail.
	if err := s.ActivateCertificate(ctx, "0a", events[0].DER, now, now); err != nil {
		t.Errorf("ActivateCertificate() after the lock was released = %v", err)
	}
}
