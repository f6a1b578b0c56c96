package open

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/test/teststore"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		name     string
		driver   string
		path     string
		dsn      string
		wantKind errs.Kind // when wantErr
		wantErr  bool
	}{
		{name: "sqlite", driver: "sqlite", path: filepath.Join(t.TempDir(), "gateway.db")},
		{name: "sqlite without path", driver: "sqlite", dsn: "postgres://x", wantErr: true, wantKind: errs.Config},
		{name: "postgres without dsn", driver: "postgres", path: "x.db", wantErr: true, wantKind: errs.Config},
		{name: "postgres unreachable", driver: "postgres",
			dsn: "postgres://gw@127.0.0.1:1/gw?sslmode=disable&connect_timeout=5", wantErr: true, wantKind: errs.Unavailable},
		{name: "unknown driver", driver: "mysql", wantErr: true, wantKind: errs.Config},
		{name: "empty driver", wantErr: true, wantKind: errs.Config},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.driver, tt.path, tt.dsn, nil)
			if tt.wantErr {
				if !errs.Is(err, tt.wantKind) {
					t.Errorf("Open() error = %v (kind %v), want kind %v", err, errs.KindOf(err), tt.wantKind)
				}
				if s != nil {
					t.Errorf("Open() returned a non-nil store %#v with its error", s)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open() = %v", err)
			}
			defer s.Close()
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping() = %v", err)
			}
		})
	}
}

// Schema reads the migrations a store holds without creating or
// migrating it: nothing before Open, all of them after.
func TestSchema(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "gateway.db")
	if _, _, err := Schema(ctx, "sqlite", path, ""); !errs.Is(err, errs.NotFound) || !strings.Contains(err.Error(), "gateway init creates it") {
		t.Errorf("Schema(missing file) = %v, want NotFound", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("Schema created the file")
	}
	dsn := teststore.NewDatabase(t)
	for _, c := range []struct{ driver, path, dsn string }{{"sqlite", path, ""}, {"postgres", "", dsn}} {
		if c.driver == "postgres" {
			if applied, known, err := Schema(ctx, c.driver, c.path, c.dsn); err != nil || applied != 0 || known == 0 {
				t.Errorf("Schema(new postgres database) = %d, %d, %v; want 0 of all", applied, known, err)
			}
		}
		s, err := Open(ctx, c.driver, c.path, c.dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if applied, known, err := Schema(ctx, c.driver, c.path, c.dsn); err != nil || applied != known || known < 31 {
			t.Errorf("%s: Schema() after Open = %d, %d, %v; want all applied", c.driver, applied, known, err)
		}
	}
	if _, _, err := Schema(ctx, "mysql", "", ""); !errs.Is(err, errs.Config) {
		t.Errorf("Schema(mysql) = %v", err)
	}
}
