package storage

import "testing"

func TestEffectiveLimit(t *testing.T) {
	tests := []struct {
		limit, want int
	}{
		{limit: 0, want: DefaultAuditLimit},
		{limit: -5, want: DefaultAuditLimit},
		{limit: 1, want: 1},
		{limit: MaxAuditLimit, want: MaxAuditLimit},
		{limit: MaxAuditLimit + 1, want: MaxAuditLimit},
	}
	for _, tt := range tests {
		if got := (AuditFilter{Limit: tt.limit}).EffectiveLimit(); got != tt.want {
			t.Errorf("AuditFilter{Limit: %d}.EffectiveLimit() = %d, want %d", tt.limit, got, tt.want)
		}
	}
}
