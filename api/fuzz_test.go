package api_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// FuzzIssueBody: whatever the body of an issuance request, the API answers
// 201 with a certificate or a 4xx problem document, never a 5xx, and a
// request it refuses adds nothing to the inventory or the audit trail.
func FuzzIssueBody(f *testing.F) {
	e := newEnv(f, teststore.SQLite(f))
	csr := csrPEM(f, newP256(f), "", []string{"a.example.com"}, nil)
	f.Add([]byte(`{"csr":` + strconv.Quote(csr) + `}`))
	f.Add([]byte(`{"csr":` + strconv.Quote(csr) + `,"validity":"30d"}`))
	f.Add([]byte(`{"key_type":"ecdsa-p256","dns_names":["b.example.com"]}`))
	f.Add([]byte(`{"key_type":"rsa-2048","dns_names":["c.example.com"],"format":"pkcs12","password":"pw"}`))
	f.Add([]byte(`{"csr":` + strconv.Quote(csr) + `,"key_type":"ecdsa-p256"}`))
	f.Add([]byte(`{"csr":"-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n"}`))
	f.Add([]byte(`{"dns_names":["x.example.org"]}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) { e.issueOnce(t, body, nil) })
}

// issueOnce posts body to the web profile's issuance, with the issuer's
// token and the headers h, and holds the answer to what any client's
// input must get: 201 with a certificate, or a 4xx problem document that
// left the inventory and the audit trail as they were; never a 5xx.
func (e *env) issueOnce(t *testing.T, body []byte, h http.Header) {
	t.Helper()
	before := newest(t, e.store)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/profiles/web/certificates", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", e.bearer(issuer))
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case resp.StatusCode == http.StatusCreated:
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("status %d with Content-Type %q, want a problem document: %s", resp.StatusCode, ct, b)
		}
		if after := newest(t, e.store); after != before {
			t.Fatalf("a refused request (%d: %s) changed the store: newest %v, then %v", resp.StatusCode, b, before, after)
		}
	default:
		t.Fatalf("status %d for a client's body %q and headers %v: %s", resp.StatusCode, body, h, b)
	}
}

// newest names the newest certificate and audit event of st.
func newest(t *testing.T, st storage.Store) [2]string {
	t.Helper()
	ctx := context.Background()
	certs, _, err := st.ListCertificates(ctx, storage.CertificateFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	events, err := st.ListAudit(ctx, storage.AuditFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	var n [2]string
	if len(certs) > 0 {
		n[0] = certs[0].Serial
	}
	if len(events) > 0 {
		n[1] = strconv.FormatInt(events[0].ID, 10)
	}
	return n
}

// FuzzIdempotencyKey: whatever the Idempotency-Key of an issuance, the API
// answers the certificate (201, or again for a key it knows) or a 4xx
// problem document, never a 5xx; a refused key adds nothing.
func FuzzIdempotencyKey(f *testing.F) {
	e := newEnv(f, teststore.SQLite(f))
	for _, k := range []string{"job-1", `"job-1"`, `""`, `"a"b"`, "", " ", "k\x7f", strings.Repeat("k", 256), "ü"} {
		f.Add(k)
	}
	body := []byte(`{"key_type":"ecdsa-p256","dns_names":["idem.example.com"]}`)
	f.Fuzz(func(t *testing.T, key string) {
		if !httpguts.ValidHeaderFieldValue(key) {
			t.Skip("not a value an HTTP client can send")
		}
		e.issueOnce(t, body, http.Header{"Idempotency-Key": {key}})
	})
}
