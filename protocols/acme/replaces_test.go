package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A new order that names, in replaces (RFC 9773), a certificate that was
// already replaced is refused with alreadyReplaced (409), and changes
// nothing; one that names it before is accepted.
func TestNewOrderReplacesAlreadyReplaced(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	k := newECKey(t)
	acct := f.newAccount(k)
	old, certID := f.issueTo(acct, "old.example.com")
	order := func() result {
		return f.post(f.base+"/new-order", k, acct, map[string]any{
			"identifiers": []map[string]string{{"type": "dns", "value": "old.example.com"}}, "replaces": certID})
	}
	if r := order(); r.status != http.StatusCreated {
		t.Fatalf("renewal order before the certificate was replaced: %d %s", r.status, r.body)
	}
	renewed, _ := f.issueTo(acct, "old.example.com")
	if err := f.store.MarkRenewed(t.Context(), old.Serial, renewed.Serial); err != nil {
		t.Fatal(err)
	}
	r := order()
	if r.status != http.StatusConflict || r.prob.Type != probAlreadyReplaced {
		t.Fatalf("renewal order after the certificate was replaced: %d %s, want 409 %s", r.status, r.body, probAlreadyReplaced)
	}
}

// An ACME renewal (replaces) marks the replaced certificate as renewed
// when its certificate is issued: a later order naming it is refused, and
// so is the finalization of an order made before, which raced it.
func TestRenewalOrderMarksTheReplacedCertificate(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{})
		f.srv.val = okValidator{}
		k := newECKey(t)
		acct := f.newAccount(k)
		old, certID := f.issueTo(acct, "renew.example.com")
		renewal := func() (orderBody, result) {
			r := f.post(f.base+"/new-order", k, acct, map[string]any{
				"identifiers": []map[string]string{{"type": "dns", "value": "renew.example.com"}}, "replaces": certID})
			var o orderBody
			json.Unmarshal(r.body, &o)
			return o, r
		}
		validate := func(o orderBody) {
			for _, az := range o.Authorizations {
				var a authzJSON
				json.Unmarshal(f.post(az, k, acct, nil).body, &a)
				if r := f.post(a.Challenges[0].URL, k, acct, map[string]any{}); r.status != http.StatusOK {
					t.Fatalf("challenge: %d %s", r.status, r.body)
				}
			}
		}
		first, r1 := renewal()
		second, r2 := renewal()
		if r1.status != http.StatusCreated || r2.status != http.StatusCreated {
			t.Fatalf("renewal orders: %d %s; %d %s", r1.status, r1.body, r2.status, r2.body)
		}
		validate(first)
		validate(second)
		finalize := func(o orderBody) result {
			return f.post(o.Finalize, k, acct, map[string]any{"csr": csrB64(t, "", "renew.example.com")})
		}
		if r := finalize(first); r.status != http.StatusOK {
			t.Fatalf("finalize the first renewal: %d %s", r.status, r.body)
		}
		rec, err := st.GetCertificate(t.Context(), old.Serial)
		if err != nil || rec.RenewedBy == "" {
			t.Fatalf("the replaced certificate: renewed by %q, %v", rec.RenewedBy, err)
		}
		if r := finalize(second); r.status != http.StatusConflict || r.prob.Type != probAlreadyReplaced {
			t.Errorf("finalize the racing renewal: %d %s, want 409 %s", r.status, r.body, probAlreadyReplaced)
		}
		if _, r := renewal(); r.status != http.StatusConflict || r.prob.Type != probAlreadyReplaced {
			t.Errorf("a later renewal order: %d %s, want 409 %s", r.status, r.body, probAlreadyReplaced)
		}
	})
}

// issueTo issues a certificate for name through the core as if the account
// acct (its URL) had ordered it, and returns it with its RFC 9773 certID.
func (f *fixture) issueTo(acct, name string) (*ca.Issued, string) {
	f.t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	issued, err := f.core.Issue(f.t.Context(), ca.IssueRequest{Profile: "default", Method: "acme", Requester: requester(path.Base(acct)), CSR: csr})
	if err != nil {
		f.t.Fatal(err)
	}
	c := issued.Cert
	return issued, base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(c.SerialNumber.Bytes())
}
