package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
	"github.com/certgw/gateway/storage/internal/migrate"
	"github.com/certgw/gateway/storage/storagetest"
)

// openTemp opens the store at path and closes it when t ends.
func openTemp(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}

// BenchmarkIssueWrites is the two writes of an issuance from
// storagetest.BenchClients goroutines; see storagetest.BenchIssueWrites.
func BenchmarkIssueWrites(b *testing.B) {
	storagetest.BenchIssueWrites(b, openTemp(b, filepath.Join(b.TempDir(), "gateway.db")))
}

func TestOpenCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "dir", "gateway.db")
	openTemp(t, path)
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700 | os.ModeDir} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestOpenPathNeedsNoEscaping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag%20", "gate way.db")
	openTemp(t, path)
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not created at %q: %v", path, err)
	}
}

func TestOpenEmptyPath(t *testing.T) {
	_, err := Open(t.Context(), "")
	if !errs.Is(err, errs.Config) {
		t.Fatalf("Open(\"\") = %v, want a Config error", err)
	}
}

// TestPragmasOnEveryConnection holds several connections of each pool open
// at once, so that every answer comes from a different connection.
func TestPragmasOnEveryConnection(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	ctx := t.Context()
	tests := []struct {
		pool      string
		db        *sql.DB
		conns     int
		queryOnly string
	}{
		{"write", s.write.db, 1, "0"},
		{"read", s.read.db, 4, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.pool, func(t *testing.T) {
			for i := range tt.conns {
				c, err := tt.db.Conn(ctx)
				if err != nil {
					t.Fatalf("Conn() = %v", err)
				}
				defer c.Close()
				for pragma, want := range map[string]string{
					"journal_mode": "wal",
					"foreign_keys": "1",
					"busy_timeout": fmt.Sprint(busyTimeoutMillis),
					"synchronous":  "2", // FULL
					"query_only":   tt.queryOnly,
				} {
					var got string
					if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
						t.Fatalf("conn %d: PRAGMA %s: %v", i, pragma, err)
					}
					if got != want {
						t.Errorf("conn %d: %s = %s, want %s", i, pragma, got, want)
					}
				}
			}
		})
	}
}

// TestUnflushedPendingRecord: the pending record's batch commits with
// synchronous=NORMAL (no fsync), and the next write's batch, which must be
// flushed, sets FULL again before it commits, so its fsync also carries the
// pending record to disk.
func TestUnflushedPendingRecord(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	ctx := t.Context()
	synchronous := func() string {
		t.Helper()
		var got string
		// The write pool's one connection: the one the batches ran on.
		if err := s.write.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	now := time.Now()
	if err := s.InsertCA(ctx, storage.CA{Name: "root", KeyURI: "k", CertDER: []byte{1}, CreatedAt: now}, storagetest.Event("init-ca", "")); err != nil {
		t.Fatal(err)
	}
	if got := synchronous(); got != "2" {
		t.Fatalf("after a flushed write: synchronous = %s, want 2 (FULL)", got)
	}
	c := storage.Certificate{Serial: "0a", CA: "root", Profile: "p", Method: "api", Requester: "r", NotBefore: now, NotAfter: now, CreatedAt: now}
	if err := s.InsertPendingCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := synchronous(); got != "1" {
		t.Fatalf("after the pending record alone: synchronous = %s, want 1 (NORMAL)", got)
	}
	// Committed all the same: another connection reads it.
	if got, err := s.GetCertificate(ctx, "0a"); err != nil || got.Status != storage.StatusPending {
		t.Fatalf("pending record read back: %+v, %v", got, err)
	}
	if _, err := s.CompleteIssuance(ctx, storage.AuditEvent{At: now, Action: "issue", Serial: "0a", DER: []byte{0x30}}, "0a", []byte{0x30}, now, now); err != nil {
		t.Fatal(err)
	}
	if got := synchronous(); got != "2" {
		t.Fatalf("after the completion: synchronous = %s, want 2 (FULL)", got)
	}
}

// schema describes the database at path: its objects and its recorded
// migration versions.
func schema(t *testing.T, s *Store) (objects []string, versions []int) {
	t.Helper()
	ctx := t.Context()
	rows, err := s.read.QueryContext(ctx, "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_schema ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			t.Fatal(err)
		}
		objects = append(objects, o)
	}
	vrows, err := s.read.QueryContext(ctx, "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer vrows.Close()
	for vrows.Next() {
		var v int
		if err := vrows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	return objects, versions
}

// wantVersions is every embedded migration, each once.
func wantVersions(t *testing.T) []int {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	s1, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	objects1, versions1 := schema(t, s1)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openTemp(t, path)
	objects2, versions2 := schema(t, s2)

	if want := wantVersions(t); !reflect.DeepEqual(versions1, want) || !reflect.DeepEqual(versions2, want) {
		t.Errorf("recorded versions = %v, then %v; want %v both times", versions1, versions2, want)
	}
	if !reflect.DeepEqual(objects1, objects2) {
		t.Errorf("schema changed on reopening:\n%v\nthen\n%v", objects1, objects2)
	}
	if len(objects1) == 0 {
		t.Error("empty schema")
	}
}

// TestConcurrentOpen is two processes starting at once on a new file: both
// must succeed and every migration must be applied once.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	var (
		wg     sync.WaitGroup
		stores [2]*Store
		errors [2]error
	)
	for i := range stores {
		wg.Go(func() { stores[i], errors[i] = Open(t.Context(), path) })
	}
	wg.Wait()
	for i, err := range errors {
		if err != nil {
			t.Fatalf("Open #%d = %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	if _, versions := schema(t, stores[0]); !reflect.DeepEqual(versions, wantVersions(t)) {
		t.Errorf("recorded versions = %v, want %v", versions, wantVersions(t))
	}
}

// TestTwoStoresOneFile is two processes writing to one file at once: their
// write pools compete for SQLite's lock, which BEGIN IMMEDIATE and the busy
// timeout must resolve without a single SQLITE_BUSY.
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	a, b := openTemp(t, path), openTemp(t, path)
	ctx := t.Context()
	var wg sync.WaitGroup
	errors := make([]error, 40)
	for i := range errors {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, errors[i] = s.AppendAudit(ctx, storage.AuditEvent{Actor: fmt.Sprint(i), Action: "x"})
		})
	}
	wg.Wait()
	for i, err := range errors {
		if err != nil {
			t.Errorf("AppendAudit #%d = %v", i, err)
		}
	}
	got, err := a.ListAudit(ctx, storage.AuditFilter{})
	if err != nil || len(got) != len(errors) {
		t.Errorf("ListAudit() = %d events, %v; want %d", len(got), err, len(errors))
	}
}

func TestCanceledContextIsUnavailable(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		call func() error
	}{
		{"read", func() error { _, err := s.GetCA(ctx, "root"); return err }},
		{"write", func() error { _, err := s.AppendAudit(ctx, storage.AuditEvent{Action: "x"}); return err }},
		{"ping", func() error { return s.Ping(ctx) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errs.Is(err, errs.Unavailable) {
				t.Errorf("error = %v (kind %v), want kind unavailable", err, errs.KindOf(err))
			}
		})
	}
}

// TestGetRevokedCertificate reads revocation columns written by SQL, as a
// tool or an older binary might, rather than by RevokeCertificate.
func TestGetRevokedCertificate(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "gateway.db"))
	ctx := t.Context()
	now := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC)
	if err := s.InsertCA(ctx, storage.CA{Name: "root", KeyURI: "k", CertDER: []byte{1}, CreatedAt: now}, storagetest.Event("init-ca", "")); err != nil {
		t.Fatal(err)
	}
	c := storage.Certificate{Serial: "0a", CA: "root", Profile: "p", Method: "api", Requester: "r", NotBefore: now, NotAfter: now, CreatedAt: now}
	if err := s.InsertPendingCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := s.ActivateCertificate(ctx, "0a", []byte{0x30}, now, now); err != nil {
		t.Fatal(err)
	}
	revokedAt := now.Add(time.Hour)
	if _, err := s.write.db.ExecContext(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = 1 WHERE serial = '0a'`, revokedAt.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetCertificate(ctx, "0a")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != storage.StatusRevoked || !got.RevokedAt.Equal(revokedAt) || got.RevokedAt.Location() != time.UTC || got.RevocationReason != 1 {
		t.Errorf("GetCertificate() = status %q, revoked at %v, reason %d; want revoked, %v, 1", got.Status, got.RevokedAt, got.RevocationReason, revokedAt)
	}
}

// TestMigration0002KeepsRows writes a certificate under the 0001 schema, as
// a binary from before 0002 did, then opens the file, which applies the
// later migrations: the row reads back with the new fields empty, SAN
// search finds it (the backfill folds case exactly like certquery.SANText)
// and the new methods work on it.
func TestMigration0002KeepsRows(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gateway.db")
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if err := createFile(path); err != nil {
		t.Fatal(err)
	}
	db, err := openPool(ctx, path, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyMigration(ctx, db, ms[0]); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC)
	sans := []string{"WWW.Example.COM", "192.0.2.1", "ÄRGER.example"}
	for _, stmt := range []string{
		`INSERT INTO cas (name, key_uri, cert_der, created_at) VALUES ('root', 'k', x'01', 0)`,
		`INSERT INTO certificates (serial, ca, profile, method, requester, status, sans, not_before, not_after, der, created_at)
		 VALUES ('0a', 'root', 'default', 'acme', 'acct/1', 'active', '["WWW.Example.COM","192.0.2.1","ÄRGER.example"]',
		         ` + fmt.Sprint(now.UnixMicro()) + `, ` + fmt.Sprint(now.Add(time.Hour).UnixMicro()) + `, x'30', ` + fmt.Sprint(now.UnixMicro()) + `)`,
		`INSERT INTO certificates (serial, ca, profile, method, requester, status, not_before, not_after, created_at)
		 VALUES ('0b', 'root', 'default', 'acme', 'acct/1', 'pending', 0, 0, 0)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTemp(t, path)
	got, err := s.GetCertificate(ctx, "0a")
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Certificate{Serial: "0a", CA: "root", Profile: "default", Method: "acme", Requester: "acct/1",
		Status: storage.StatusActive, SANs: sans, NotBefore: now, NotAfter: now.Add(time.Hour), DER: []byte{0x30}, CreatedAt: now}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetCertificate() of a 0001 row =\n%+v\nwant\n%+v", got, want)
	}
	var lower string
	if err := s.read.QueryRowContext(ctx, `SELECT sans_lower FROM certificates WHERE serial = '0a'`).Scan(&lower); err != nil {
		t.Fatal(err)
	}
	if want := certquery.SANText(sans); lower != want {
		t.Errorf("backfilled sans_lower = %q, want %q", lower, want)
	}
	for _, q := range []string{"www.EXAMPLE", "192.0.2.1", "Ärger"} {
		certs, _, err := s.ListCertificates(ctx, storage.CertificateFilter{SAN: q})
		if err != nil || len(certs) != 1 || certs[0].Serial != "0a" {
			t.Errorf("ListCertificates(SAN %q) = %d certificates, %v; want 0a", q, len(certs), err)
		}
	}
	if err := s.SetAutoRenew(ctx, "0a", true, storagetest.Event("auto-renew", "0a")); err != nil {
		t.Errorf("SetAutoRenew() = %v", err)
	}
	if err := s.RevokeCertificate(ctx, "0a", 1, now, storagetest.Event("revoke", "0a")); err != nil {
		t.Errorf("RevokeCertificate() = %v", err)
	}
	if pending, err := s.PendingCertificates(ctx, now, 10); err != nil || len(pending) != 1 || pending[0].SANs != nil {
		t.Errorf("PendingCertificates() = %+v, %v; want 0b without SANs", pending, err)
	}
}
