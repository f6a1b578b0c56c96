package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/internal/certquery"
	"github.com/certgw/gateway/storage/internal/migrate"
	"github.com/certgw/gateway/storage/storagetest"
)

const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// adminDSN is the server the tests create their databases on.
func adminDSN() string {
	if dsn := os.Getenv("GATEWAY_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return defaultDSN
}

// adminConn connects to the admin DSN. A test that cannot reach PostgreSQL
// fails: skipping would let `make test` pass without testing this store.
func adminConn(t testing.TB, ctx context.Context) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, adminDSN())
	if err != nil {
		t.Fatalf("cannot reach the test PostgreSQL (GATEWAY_TEST_POSTGRES_DSN, default %s): %v\n"+
			"Run `make test`, which starts one, or start one with "+
			"`export GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)`, "+
			"or point GATEWAY_TEST_POSTGRES_DSN at a server where the user may CREATE DATABASE.",
			defaultDSN, err)
	}
	return conn
}

// newDatabase creates an empty database gw_test_<random>, drops it when t
// ends, and returns a DSN for it.
func newDatabase(t testing.TB) string {
	t.Helper()
	ctx := t.Context()
	conn := adminConn(t, ctx)
	defer conn.Close(context.WithoutCancel(ctx))

	b := make([]byte, 8)
	rand.Read(b)
	name := "gw_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		// t.Context() is done by now.
		ctx := context.Background()
		conn := adminConn(t, ctx)
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	return withDatabase(t, adminDSN(), name)
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("GATEWAY_TEST_POSTGRES_DSN is not a valid URL")
		}
		u.Path = "/" + name
		u.RawPath = ""
		return u.String()
	}
	return dsn + " dbname=" + name // in key=value form the last value wins
}

// openTemp opens a store on a fresh database and closes it when t ends.
func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	dsn := newDatabase(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

func TestConformance(t *testing.T) {
	// One clear failure, rather than one per sub-test, if there is no server.
	conn := adminConn(t, t.Context())
	conn.Close(t.Context())

	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, _ := openTemp(t)
		return s
	})
}

// BenchmarkIssueWrites is the two writes of an issuance from
// storagetest.BenchClients goroutines; see storagetest.BenchIssueWrites.
func BenchmarkIssueWrites(b *testing.B) {
	s, _ := openTemp(b)
	storagetest.BenchIssueWrites(b, s)
}

// versions returns how many times each migration version is recorded.
func versions(t *testing.T, s *Store) map[int]int {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), "SELECT version, count(*) FROM schema_migrations GROUP BY version")
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]int{}
	for rows.Next() {
		var v, n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		got[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// wantVersions is every embedded migration recorded once.
func wantVersions(t *testing.T) map[int]int {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]int{}
	for _, m := range ms {
		want[m.Version] = 1
	}
	return want
}

// TestConcurrentMigrations is several replicas starting at once against a
// new database: all must start, and each migration must be applied once.
// Without the advisory lock they race on CREATE TABLE and fail.
func TestConcurrentMigrations(t *testing.T) {
	for range 3 {
		dsn := newDatabase(t)
		const replicas = 4
		var (
			wg     sync.WaitGroup
			stores [replicas]*Store
			errors [replicas]error
		)
		start := make(chan struct{})
		for i := range replicas {
			wg.Go(func() {
				<-start
				stores[i], errors[i] = Open(t.Context(), dsn)
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errors {
			if err != nil {
				t.Fatalf("Open #%d = %v", i, err)
			}
			t.Cleanup(func() { stores[i].Close() })
		}
		if got, want := versions(t, stores[0]), wantVersions(t); !reflect.DeepEqual(got, want) {
			t.Errorf("recorded versions (version: times) = %v, want %v", got, want)
		}
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	s1, dsn := openTemp(t)
	s1.Close()
	s2, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("second Open() = %v", err)
	}
	defer s2.Close()
	if got, want := versions(t, s2), wantVersions(t); !reflect.DeepEqual(got, want) {
		t.Errorf("recorded versions (version: times) = %v, want %v", got, want)
	}
}

// TestOpenErrors checks the kinds Open fails with, and that the password in
// the DSN appears in no message.
func TestOpenErrors(t *testing.T) {
	const password = "s3cr3t-Pa55"
	tests := []struct {
		name string
		dsn  string
		kind errs.Kind
	}{
		{"empty", "", errs.Config},
		{"unparseable URL", "postgres://gw:" + password + "@127.0.0.1:notaport/test", errs.Config},
		{"unparseable key=value", "host=127.0.0.1 password=" + password + " port=x", errs.Config},
		{"nothing listening", "postgres://gw:" + password + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", errs.Unavailable},
		{"wrong database", withDatabase(t, adminDSN(), "gw_test_does_not_exist"), errs.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open() succeeded")
			}
			if !errs.Is(err, tt.kind) {
				t.Errorf("Open() = %v (kind %v), want kind %v", err, errs.KindOf(err), tt.kind)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("Open() error shows the password: %v", err)
			}
		})
	}
}

func TestCanceledContextIsUnavailable(t *testing.T) {
	s, _ := openTemp(t)
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
	s, _ := openTemp(t)
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
	if _, err := s.pool.Exec(ctx, `UPDATE certificates SET status = 'revoked', revoked_at = $1, revocation_reason = 1 WHERE serial = '0a'`, revokedAt); err != nil {
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
// a binary from before 0002 did, then opens the database, which applies the
// later migrations: the row reads back with the new fields empty, SAN
// search finds it (the backfill folds case exactly like certquery.SANText,
// whatever the database's locale) and the new methods work on it.
func TestMigration0002KeepsRows(t *testing.T) {
	ctx := t.Context()
	dsn := newDatabase(t)
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := applyMigration(ctx, pool, ms[0]); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 2, 3, 4, 5, 6, 7000, time.UTC)
	sans := []string{"WWW.Example.COM", "192.0.2.1", "ÄRGER.example"}
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO cas (name, key_uri, cert_der, created_at) VALUES ('root', 'k', '\x01', $1)`, []any{now}},
		{`INSERT INTO certificates (serial, ca, profile, method, requester, status, sans, not_before, not_after, der, created_at)
		  VALUES ('0a', 'root', 'default', 'acme', 'acct/1', 'active', '["WWW.Example.COM", "192.0.2.1", "ÄRGER.example"]',
		          $1, $2, '\x30', $1)`, []any{now, now.Add(time.Hour)}},
		{`INSERT INTO certificates (serial, ca, profile, method, requester, status, not_before, not_after, created_at)
		  VALUES ('0b', 'root', 'default', 'acme', 'acct/1', 'pending', $1, $1, $1)`, []any{now.Add(-time.Hour)}},
	} {
		if _, err := pool.Exec(ctx, stmt.sql, stmt.args...); err != nil {
			t.Fatal(err)
		}
	}
	pool.Close()

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
	if err := s.pool.QueryRow(ctx, `SELECT sans_lower FROM certificates WHERE serial = '0a'`).Scan(&lower); err != nil {
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

// TestUnflushedBatches: a batch of unflushed writes alone commits with
// synchronous_commit off, pipelined or one by one, and only for its own
// transaction; a flushed batch keeps the server's setting (on).
func TestUnflushedBatches(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	setting := func(writeBatch func(context.Context, *pgx.Conn, []write, []error, bool) error, flush bool) string {
		t.Helper()
		var got string
		w := []write{{sql: "SELECT current_setting('synchronous_commit')", result: func(row pgx.Row) error { return row.Scan(&got) }}}
		results := make([]error, 1)
		if err := writeBatch(ctx, conn.Conn(), w, results, flush); err != nil || results[0] != nil {
			t.Fatalf("write: %v, %v", err, results[0])
		}
		return got
	}
	for name, writeBatch := range map[string]func(context.Context, *pgx.Conn, []write, []error, bool) error{"pipeline": pipeline, "oneByOne": oneByOne} {
		if got := setting(writeBatch, false); got != "off" {
			t.Errorf("%s, unflushed: synchronous_commit = %s, want off", name, got)
		}
		if got := setting(writeBatch, true); got != "on" {
			t.Errorf("%s, flushed after an unflushed one on the same connection: synchronous_commit = %s, want on", name, got)
		}
	}
}
