package storage

import "testing"

func TestCertificateFilterEffectiveLimit(t *testing.T) {
	tests := []struct {
		limit, want int
	}{
		{limit: 0, want: DefaultCertificateLimit},
		{limit: -5, want: DefaultCertificateLimit},
		{limit: 1, want: 1},
		{limit: MaxCertificateLimit, want: MaxCertificateLimit},
		{limit: MaxCertificateLimit + 1, want: MaxCertificateLimit},
	}
	for _, tt := range tests {
		if got := (CertificateFilter{Limit: tt.limit}).EffectiveLimit(); got != tt.want {
			t.Errorf("CertificateFilter{Limit: %d}.EffectiveLimit() = %d, want %d", tt.limit, got, tt.want)
		}
	}
}
