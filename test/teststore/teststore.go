// Package teststore gives tests fresh stores of both kinds: an embedded
// SQLite file and an empty PostgreSQL database, so that every suite that
// touches storage runs against both.
//
// PostgreSQL comes from GATEWAY_TEST_POSTGRES_DSN (default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable), where the user
// may CREATE DATABASE; `make test` starts a throwaway server when none
// answers. A test that cannot reach it fails: a skip would let `make test`
// pass without testing that store.
package teststore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/jackc/pgx/v5"
)

// DefaultDSN is the PostgreSQL server used when GATEWAY_TEST_POSTGRES_DSN
// is not set.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// AdminDSN is the server tests create their databases on.
func AdminDSN() string {
	if dsn := os.Getenv("GATEWAY_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn
	}
	return DefaultDSN
}

// Each runs fn as a sub-test once with a fresh SQLite store and once with
// a fresh PostgreSQL store.
func Each(t *testing.T, fn func(t *testing.T, s storage.Store)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// SQLite opens a store on a new file, closed when t ends.
func SQLite(t testing.TB) storage.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gateway.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Postgres opens a store on a new database, dropped when t ends.
func Postgres(t testing.TB) storage.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// NewDatabase creates an empty database gw_test_<random>, drops it when t
// ends, and returns its DSN.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	conn := adminConn(t, ctx)
	defer conn.Close(ctx)
	b := make([]byte, 8)
	rand.Read(b)
	name := "gw_test_" + hex.EncodeToString(b)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		conn := adminConn(t, ctx)
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	return WithDatabase(t, AdminDSN(), name)
}

func adminConn(t testing.TB, ctx context.Context) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		t.Fatalf("cannot reach the test PostgreSQL (GATEWAY_TEST_POSTGRES_DSN, default %s): %v\n"+
			"Run `make test`, which starts one, or `export GATEWAY_TEST_POSTGRES_DSN=$(test/postgres/ensure.sh)`.",
			DefaultDSN, err)
	}
	return conn
}

// WithDatabase returns dsn with its database replaced by name.
func WithDatabase(t testing.TB, dsn, name string) string {
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
