package certquery

import (
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

func TestCursorRoundTrip(t *testing.T) {
	tests := []Cursor{
		{CreatedAt: time.Date(2026, 5, 1, 10, 30, 45, 123456000, time.UTC), Serial: "0a1b2c"},
		{CreatedAt: time.Date(1950, 1, 1, 0, 0, 0, 1000, time.UTC), Serial: "f"}, // before the epoch
		{CreatedAt: time.UnixMicro(0).UTC(), Serial: strings.Repeat("ff", 20)},
	}
	for _, c := range tests {
		enc := c.Encode()
		if strings.ContainsAny(enc, "+/=") {
			t.Errorf("Encode() = %q, not URL-safe", enc)
		}
		got, err := DecodeCursor(enc)
		if err != nil {
			t.Fatalf("DecodeCursor(%q) = %v", enc, err)
		}
		if got != c {
			t.Errorf("DecodeCursor(Encode(%+v)) = %+v", c, got)
		}
	}
}

func TestSANPattern(t *testing.T) {
	tests := []struct {
		q, want string
		ok      bool
	}{
		{"Example.COM", "%example.com%", true},
		{"100%_sure", `%100\%\_sure%`, true},
		{`a\b`, `%a\\b%`, true},
		{"ÄRGER", "%Ärger%", true}, // ASCII letters only
		{"com\n192", "", false},
	}
	for _, tt := range tests {
		got, ok := SANPattern(tt.q)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SANPattern(%q) = %q, %v; want %q, %v", tt.q, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSANText(t *testing.T) {
	tests := []struct {
		sans []string
		want string
	}{
		{nil, ""},
		{[]string{"WWW.Example.com"}, "www.example.com"},
		{[]string{"A.example", "192.0.2.1", "Admin@Example.COM"}, "a.example\n192.0.2.1\nadmin@example.com"},
		{[]string{"\xff\xfeBAD"}, "\xff\xfebad"}, // not UTF-8: bytes kept
	}
	for _, tt := range tests {
		if got := SANText(tt.sans); got != tt.want {
			t.Errorf("SANText(%q) = %q, want %q", tt.sans, got, tt.want)
		}
	}
}

func TestCheckFilter(t *testing.T) {
	now := time.Now()
	tests := []struct {
		f     storage.CertificateFilter
		valid bool
	}{
		{storage.CertificateFilter{}, true},
		{storage.CertificateFilter{Status: "pending"}, true},
		{storage.CertificateFilter{Status: "revoked"}, true},
		{storage.CertificateFilter{Status: "active", Now: now}, true},
		{storage.CertificateFilter{Status: "expired", Now: now}, true},
		{storage.CertificateFilter{Status: "active"}, false},
		{storage.CertificateFilter{Status: "expired"}, false},
		{storage.CertificateFilter{Status: "valid"}, false},
	}
	for _, tt := range tests {
		if err := CheckFilter(tt.f); (err == nil) != tt.valid {
			t.Errorf("CheckFilter(%+v) = %v, want valid: %v", tt.f, err, tt.valid)
		}
	}
}

func TestCheckLimit(t *testing.T) {
	tests := []struct {
		limit, want int
		valid       bool
	}{
		{0, 0, false},
		{-1, 0, false},
		{1, 1, true},
		{storage.MaxCertificateLimit + 1, storage.MaxCertificateLimit, true},
	}
	for _, tt := range tests {
		got, err := CheckLimit(tt.limit)
		if got != tt.want || (err == nil) != tt.valid {
			t.Errorf("CheckLimit(%d) = %d, %v; want %d, valid: %v", tt.limit, got, err, tt.want, tt.valid)
		}
	}
}

func TestNamesKey(t *testing.T) {
	a := NamesKey([]string{"dns:b.test", "ip:10.0.0.1", "dns:a.test"})
	if b := NamesKey([]string{"ip:10.0.0.1", "dns:a.test", "dns:b.test", "dns:a.test"}); a != b || a != "dns:a.test\ndns:b.test\nip:10.0.0.1" {
		t.Errorf("NamesKey: %q and %q, want one sorted key for one set", a, b)
	}
	if NamesKey([]string{"dns:a.test"}) == a {
		t.Error("a subset has the key of the set")
	}
	in := []string{"dns:z.test", "dns:a.test"}
	NamesKey(in)
	if in[0] != "dns:z.test" {
		t.Error("NamesKey sorted its argument")
	}
}
