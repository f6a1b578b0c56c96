package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/test/teststore"

	"github.com/certgw/gateway/storage"
)

// With api.issuances_per_minute, a token issues that many certificates in
// a burst, then one every 60/N seconds; the next is a 429 with
// Retry-After that changes nothing; other tokens are not held back; an
// idempotent replay costs nothing.
func TestIssuanceRateLimit(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		e := newEnv(t, st, func(c *api.Config) { c.Limiter = ratelimit.New(2, "api.issuances_per_minute") })
		issue := func(tok, name string, h http.Header) response {
			return e.doHeader("POST", "/api/v1/profiles/web/certificates", withBearer(h, e.tokens[tok]), map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{name}})
		}
		for _, name := range []string{"a.example.com", "b.example.com"} {
			issue(issuer, name, nil).decode(t, http.StatusCreated, &issued{})
		}
		before := countAll(t, st)
		r := issue(issuer, "c.example.com", nil)
		p := r.problem(t, http.StatusTooManyRequests, "rateLimited", "2 certificates a minute", "api.issuances_per_minute")
		if r.header.Get("Retry-After") != "30" {
			t.Errorf("Retry-After %q, want 30 (%s)", r.header.Get("Retry-After"), p.Detail)
		}
		if n := countAll(t, st); n != before {
			t.Errorf("a rate-limited request stored %d certificates", n-before)
		}
		issue(admin, "d.example.com", nil).decode(t, http.StatusCreated, &issued{}) // another token
		e.clock.Advance(30 * time.Second)
		issue(issuer, "c.example.com", nil).decode(t, http.StatusCreated, &issued{})
		issue(issuer, "e.example.com", nil).problem(t, http.StatusTooManyRequests, "rateLimited")

		// A replay of an issued request is no issuance.
		e.clock.Advance(30 * time.Second)
		h := http.Header{"Idempotency-Key": {"job-1"}}
		issue(issuer, "f.example.com", h).decode(t, http.StatusCreated, &issued{})
		issue(issuer, "g.example.com", nil).problem(t, http.StatusTooManyRequests, "rateLimited") // the bucket is empty
		if r := issue(issuer, "f.example.com", h); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay while the bucket is empty: %d %v", r.status, r.header)
		}
	})
}

func countAll(t *testing.T, st storage.Store) int {
	t.Helper()
	certs, _, err := st.ListCertificates(t.Context(), storage.CertificateFilter{Limit: storage.MaxCertificateLimit})
	if err != nil {
		t.Fatal(err)
	}
	return len(certs)
}

func withBearer(h http.Header, secret string) http.Header {
	out := http.Header{"Authorization": {"Bearer " + secret}}
	for k, v := range h {
		out[k] = v
	}
	return out
}
