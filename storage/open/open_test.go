package open

import (
	"path/filepath"
	"testing"

	"github.com/certgw/gateway/errs"
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
