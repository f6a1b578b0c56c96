package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"path"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/test/teststore"
)

// A new order that names, in replaces (RFC 9773), a certificate that was
// already replaced is refused with alreadyReplaced (409), and changes
// nothing; one that names it before is accepted.
func TestNewOrderReplacesAlreadyReplaced(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	k := newECKey(t)
	acct := f.newAccount(k)
	issue := func() *ca.Issued {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"old.example.com"}}, key)
		issued, err := f.core.Issue(t.Context(), ca.IssueRequest{Profile: "default", Method: "acme", Requester: requester(path.Base(acct)), CSR: csr})
		if err != nil {
			t.Fatal(err)
		}
		return issued
	}
	old := issue()
	certID := base64.RawURLEncoding.EncodeToString(old.Cert.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(old.Cert.SerialNumber.Bytes())
	order := func() result {
		return f.post(f.base+"/new-order", k, acct, map[string]any{
			"identifiers": []map[string]string{{"type": "dns", "value": "old.example.com"}}, "replaces": certID})
	}
	if r := order(); r.status != http.StatusCreated {
		t.Fatalf("renewal order before the certificate was replaced: %d %s", r.status, r.body)
	}
	if err := f.store.MarkRenewed(t.Context(), old.Serial, issue().Serial); err != nil {
		t.Fatal(err)
	}
	r := order()
	if r.status != http.StatusConflict || r.prob.Type != probAlreadyReplaced {
		t.Fatalf("renewal order after the certificate was replaced: %d %s, want 409 %s", r.status, r.body, probAlreadyReplaced)
	}
}
