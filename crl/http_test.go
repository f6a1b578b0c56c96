package crl

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/test/teststore"
)

func TestHTTP(t *testing.T) {
	st := teststore.SQLite(t)
	cas := hierarchy(t, st, "")
	c := &clock{}
	p := newPub(t, st, cas, c)
	r := chi.NewRouter()
	p.Routes(r)
	srv := httptest.NewServer(r)
	defer srv.Close()

	do := func(method, path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}

	// Before the first CRL.
	if resp, _ := do("GET", "/crl/issuing.crl"); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("before Start: %d, want 503 with Retry-After", resp.StatusCode)
	}
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	cur := p.Current("issuing")

	resp, body := do("GET", "/crl/issuing.crl")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" || string(body) != string(cur.DER) {
		t.Fatalf("GET .crl: %d %s, same DER: %v", resp.StatusCode, resp.Header.Get("Content-Type"), string(body) == string(cur.DER))
	}
	etag, lastMod := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag != `"crl-1"` || lastMod != cur.ThisUpdate.Format(http.TimeFormat) {
		t.Errorf("ETag %s, Last-Modified %s; want \"crl-1\" and thisUpdate", etag, lastMod)
	}
	cc := resp.Header.Get("Cache-Control")
	age, err := strconv.Atoi(strings.TrimPrefix(cc, "public, max-age="))
	if err != nil || age <= 0 || time.Duration(age)*time.Second > DefaultMaxAge {
		t.Errorf("Cache-Control %q, want public with 0 < max-age <= %v", cc, DefaultMaxAge)
	}

	// Conditional requests.
	if resp, body := do("GET", "/crl/issuing.crl", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: %d with %d bytes, want 304", resp.StatusCode, len(body))
	}
	if resp, _ := do("GET", "/crl/issuing.crl", "If-None-Match", `"crl-0"`); resp.StatusCode != 200 {
		t.Errorf("If-None-Match of another CRL: %d, want 200", resp.StatusCode)
	}
	if resp, _ := do("GET", "/crl/issuing.crl", "If-Modified-Since", lastMod); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since thisUpdate: %d, want 304", resp.StatusCode)
	}
	if resp, _ := do("GET", "/crl/issuing.crl", "If-Modified-Since", cur.ThisUpdate.Add(-time.Hour).Format(http.TimeFormat)); resp.StatusCode != 200 {
		t.Errorf("If-Modified-Since before thisUpdate: %d, want 200", resp.StatusCode)
	}

	// PEM.
	resp, body = do("GET", "/crl/issuing.pem")
	block, _ := pem.Decode(body)
	if resp.StatusCode != 200 || block == nil || block.Type != "X509 CRL" || string(block.Bytes) != string(cur.DER) {
		t.Fatalf("GET .pem: %d, %q", resp.StatusCode, body)
	}
	if resp.Header.Get("ETag") == etag {
		t.Error("PEM and DER share an ETag")
	}
	if _, err := x509.ParseRevocationList(block.Bytes); err != nil {
		t.Fatal(err)
	}
	if resp, body := do("HEAD", "/crl/issuing.crl"); resp.StatusCode != 200 || len(body) != 0 || resp.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %d, %d bytes", resp.StatusCode, len(body))
	}
	for _, path := range []string{"/crl/nope.crl", "/crl/issuing.der", "/crl/issuing", "/crl/.crl"} {
		if resp, _ := do("GET", path); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}

	// A new CRL gets a new ETag.
	if _, err := p.Rebuild(t.Context(), "issuing"); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do("GET", "/crl/issuing.crl", "If-None-Match", etag); resp.StatusCode != 200 || resp.Header.Get("ETag") != `"crl-2"` {
		t.Errorf("after a rebuild: %d, ETag %s", resp.StatusCode, resp.Header.Get("ETag"))
	}
}

func TestMaxAge(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		next  time.Duration
		limit time.Duration
		want  int
	}{
		{24 * time.Hour, time.Minute, 60},
		{30 * time.Second, time.Minute, 29},
		{1500 * time.Millisecond, time.Minute, 0},
		{-time.Hour, time.Minute, 0},
	} {
		if got := maxAge(now, now.Add(tt.next), tt.limit); got != tt.want {
			t.Errorf("maxAge(next in %v, limit %v) = %d, want %d", tt.next, tt.limit, got, tt.want)
		}
	}
}
