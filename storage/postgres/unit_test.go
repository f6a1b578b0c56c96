package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

func TestKind(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	tests := []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"unique violation", pg("23505"), errs.Conflict},
		{"foreign key violation", pg("23503"), errs.NotFound},
		{"check violation", pg("23514"), errs.Internal},
		{"syntax error", pg("42601"), errs.Internal},
		{"serialization failure", pg("40001"), errs.Unavailable},
		{"deadlock", pg("40P01"), errs.Unavailable},
		{"connection failure", pg("08006"), errs.Unavailable},
		{"too many connections", pg("53300"), errs.Unavailable},
		{"admin shutdown", pg("57P01"), errs.Unavailable},
		{"statement timeout", pg("57014"), errs.Unavailable},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), errs.Unavailable},
		{"deadline", context.DeadlineExceeded, errs.Unavailable},
		{"connection cut", io.ErrUnexpectedEOF, errs.Unavailable},
		{"other", errors.New("boom"), errs.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kind(tt.err); got != tt.want {
				t.Errorf("kind(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestAuditQuery(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	until := since.Add(time.Hour)
	const sel = "SELECT id, at, actor, action, profile, serial, detail, der FROM audit"
	tests := []struct {
		name      string
		filter    storage.AuditFilter
		wantQuery string
		wantArgs  []any
	}{
		{"no filter", storage.AuditFilter{}, sel + " ORDER BY at DESC, id DESC LIMIT $1", []any{100}},
		{"serial", storage.AuditFilter{Serial: "ab", Limit: 5},
			sel + " WHERE serial = $1 ORDER BY at DESC, id DESC LIMIT $2", []any{"ab", 5}},
		{"profile and until", storage.AuditFilter{Profile: "p", Until: until},
			sel + " WHERE profile = $1 AND at < $2 ORDER BY at DESC, id DESC LIMIT $3", []any{"p", until, 100}},
		{"everything", storage.AuditFilter{Serial: "ab", Profile: "p", Since: since, Until: until, Limit: 5000},
			sel + " WHERE serial = $1 AND profile = $2 AND at >= $3 AND at < $4 ORDER BY at DESC, id DESC LIMIT $5",
			[]any{"ab", "p", since, until, storage.MaxAuditLimit}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, args := auditQuery(tt.filter)
			if q != tt.wantQuery {
				t.Errorf("query =\n%s\nwant\n%s", q, tt.wantQuery)
			}
			if !reflect.DeepEqual(args, tt.wantArgs) {
				t.Errorf("args = %#v, want %#v", args, tt.wantArgs)
			}
		})
	}
}
