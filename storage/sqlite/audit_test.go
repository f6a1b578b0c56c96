package sqlite

import (
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

func TestAuditQuery(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 1500, time.UTC)
	until := since.Add(time.Hour)
	const sel = "SELECT id, at, actor, action, profile, serial, detail, der FROM audit"
	const order = " ORDER BY at DESC, id DESC LIMIT ?"
	tests := []struct {
		name      string
		filter    storage.AuditFilter
		wantQuery string
		wantArgs  []any
	}{
		{"no filter", storage.AuditFilter{}, sel + order, []any{100}},
		{"serial", storage.AuditFilter{Serial: "ab", Limit: 5}, sel + " WHERE serial = ?" + order, []any{"ab", 5}},
		{"profile", storage.AuditFilter{Profile: "p"}, sel + " WHERE profile = ?" + order, []any{"p", 100}},
		{"time range", storage.AuditFilter{Since: since, Until: until},
			sel + " WHERE at >= ? AND at < ?" + order, []any{since.UnixMicro(), until.UnixMicro(), 100}},
		{"everything", storage.AuditFilter{Serial: "ab", Profile: "p", Since: since, Until: until, Limit: 5000},
			sel + " WHERE serial = ? AND profile = ? AND at >= ? AND at < ?" + order,
			[]any{"ab", "p", since.UnixMicro(), until.UnixMicro(), storage.MaxAuditLimit}},
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
