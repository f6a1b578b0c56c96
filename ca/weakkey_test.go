package ca_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// An RSA key with ROCA's structure (CVE-2017-15361) is refused as a bad
// CSR under a profile that allows its type, before anything is stored or
// signed; an ordinary RSA key of the same size is issued.
func TestWeakKeys(t *testing.T) {
	weak := coretest.ROCAKey(t)
	if err := ca.CheckWeakKey(weak.Public()); !errs.Is(err, errs.BadCSR) || !strings.Contains(err.Error(), "CVE-2017-15361") {
		t.Fatalf("CheckWeakKey(ROCA key) = %v", err)
	}
	good, _ := rsa.GenerateKey(rand.Reader, 2048)
	if err := ca.CheckWeakKey(good.Public()); err != nil {
		t.Fatalf("CheckWeakKey(ordinary key) = %v", err)
	}
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(nil))
		issue := func(k *rsa.PrivateKey) error {
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"rsa.example.com"}}, k)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.core.Issue(context.Background(), ca.IssueRequest{Profile: "web", Method: "api", Requester: "t", CSR: der})
			return err
		}
		before, signed := countCerts(t, st), f.key.n.Load()
		if err := issue(weak); !errs.Is(err, errs.BadCSR) || !strings.Contains(err.Error(), "ROCA") {
			t.Errorf("ROCA key: %v, want a bad CSR naming ROCA", err)
		}
		if countCerts(t, st) != before || f.key.n.Load() != signed {
			t.Error("a request for a ROCA key stored or signed something")
		}
		if err := issue(good); err != nil {
			t.Errorf("ordinary RSA key: %v", err)
		}
	})
}
