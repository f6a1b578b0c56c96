package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Result().Body)
	if w.Code != 200 {
		t.Fatalf("scrape: %d %s", w.Code, b)
	}
	return string(b)
}

func TestMetrics(t *testing.T) {
	m := New()
	m.Issued("web", "acme", "issuing")
	m.Issued("web", "acme", "issuing")
	m.Issued("public", "api", "letsencrypt")
	m.Refused("web", "est", errs.New(errs.RejectedIdentifier, "profile web: rule names.dns"))
	m.Refused("web", "est", errs.New(errs.Unavailable, "store down"))
	m.Revoked("issuing", 1)
	m.Upstream("letsencrypt", 3*time.Second, nil)
	m.Upstream("letsencrypt", time.Second, errs.New(errs.Unavailable, "rate limited"))
	m.Request("https", "/api/v1/certificates/{serial}", 200, 3*time.Millisecond)
	m.Request("http", "", 404, time.Millisecond)
	m.WatchSigner(func() []MemberStatus {
		return []MemberStatus{{Member: "softhsm gateway", Up: true, Uses: 42}, {Member: "hsm b", Up: false}}
	})
	m.WatchCAs(map[string]func() time.Time{"issuing": func() time.Time { return time.Unix(1900000000, 0) }})
	m.SignerOperation("softhsm gateway", "sign", 80*time.Microsecond, nil)
	m.SignerOperation("hsm b", "sign", time.Millisecond, errs.New(errs.Unavailable, "device error"))
	m.Commit(3, true, 800*time.Microsecond, nil)
	m.Commit(1, false, 100*time.Microsecond, nil)
	m.Notification("certificate.renewed", nil)
	m.Notification("request.pending", errs.New(errs.Unavailable, "webhook answered 503"))
	m.RateLimited("est.issuances_per_minute")
	out := scrape(t, m)
	for _, want := range []string{
		`gateway_ca_certificate_not_after_seconds{ca="issuing"} 1.9e+09`,
		`gateway_certificates_issued_total{issuer="issuing",method="acme",profile="web"} 2`,
		`gateway_certificates_issued_total{issuer="letsencrypt",method="api",profile="public"} 1`,
		`gateway_issuance_failures_total{kind="rejectedIdentifier",method="est",profile="web"} 1`,
		`gateway_issuance_failures_total{kind="unavailable",method="est",profile="web"} 1`,
		`gateway_certificates_revoked_total{issuer="issuing",reason="1"} 1`,
		`gateway_upstream_order_duration_seconds_count{result="ok",upstream="letsencrypt"} 1`,
		`gateway_upstream_order_duration_seconds_count{result="unavailable",upstream="letsencrypt"} 1`,
		`gateway_http_request_duration_seconds_count{code="200",listener="https",route="/api/v1/certificates/{serial}"} 1`,
		`gateway_http_request_duration_seconds_count{code="404",listener="http",route="unmatched"} 1`,
		`gateway_signer_member_up{member="softhsm gateway"} 1`,
		`gateway_signer_member_up{member="hsm b"} 0`,
		`gateway_signer_operations_total{member="softhsm gateway"} 42`,
		`gateway_signer_operation_duration_seconds_count{member="softhsm gateway",operation="sign",result="ok"} 1`,
		`gateway_signer_operation_duration_seconds_count{member="hsm b",operation="sign",result="error"} 1`,
		`gateway_store_commit_duration_seconds_bucket{flushed="true",result="ok",le="0.001"} 1`,
		`gateway_store_commit_duration_seconds_count{flushed="false",result="ok"} 1`,
		`gateway_store_commit_writes_sum 4`,
		`gateway_store_commit_writes_count 2`,
		`gateway_notifications_total{event="certificate.renewed",result="delivered"} 1`,
		`gateway_notifications_total{event="request.pending",result="failed"} 1`,
		`gateway_rate_limited_total{setting="est.issuances_per_minute"} 1`,
		"go_goroutines", "process_cpu_seconds_total",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	// Each Metrics has its own registry.
	if strings.Contains(scrape(t, New()), "gateway_certificates_issued_total{") {
		t.Error("a new Metrics shares counters with another")
	}
}
