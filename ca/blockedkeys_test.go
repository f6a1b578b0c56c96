package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A certificate revoked for keyCompromise blocks its key: a request for
// it is refused under every profile, renewals included, and nothing is
// stored or signed; another reason blocks nothing. An operator blocks a
// key directly; a key blocked by another replica (here, in the store
// behind the core's back) is refused once the core's copy is older than
// ten seconds.
func TestBlockedKeys(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(nil), webProfile(func(p *config.Profile) { p.Name = "other" }))
		ctx := context.Background()
		csrOf := func(k *ecdsa.PrivateKey, name string) []byte {
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, k)
			if err != nil {
				t.Fatal(err)
			}
			return der
		}
		issue := func(profile string, k *ecdsa.PrivateKey, name string) (*ca.Issued, error) {
			return f.core.Issue(ctx, ca.IssueRequest{Profile: profile, Method: "api", Requester: "t", CSR: csrOf(k, name)})
		}
		leaked, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		superseded, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		a, err := issue("web", leaked, "a.example.com")
		if err != nil {
			t.Fatal(err)
		}
		b, err := issue("web", superseded, "b.example.com")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.core.Revoke(ctx, b.Serial, 4, "ops"); err != nil {
			t.Fatal(err)
		}
		if _, err := issue("web", superseded, "b.example.com"); err != nil {
			t.Fatalf("a key whose certificate was superseded: %v, want issued", err)
		}
		if err := f.core.Revoke(ctx, a.Serial, 1, "acme:acct"); err != nil {
			t.Fatal(err)
		}
		before, signed := countCerts(t, st), f.key.n.Load()
		for _, profile := range []string{"web", "other"} {
			if _, err := issue(profile, leaked, "c.example.com"); !errs.Is(err, errs.BadCSR) || !strings.Contains(err.Error(), "certificate "+a.Serial+" was revoked for keyCompromise") {
				t.Errorf("profile %s, the compromised key: %v, want a refusal naming the revocation", profile, err)
			}
		}
		if countCerts(t, st) != before || f.key.n.Load() != signed {
			t.Error("a request for a blocked key stored or signed something")
		}
		keys, err := f.core.BlockedKeys(ctx)
		if err != nil || len(keys) != 1 || keys[0].Serial != a.Serial || keys[0].By != "acme:acct" {
			t.Fatalf("blocked keys %+v, %v", keys, err)
		}

		// An operator blocks a key nothing was issued for.
		told, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, blocked, err := f.core.BlockKey(ctx, told.Public(), "cli:ops", "leaked on a paste site"); err != nil || !blocked {
			t.Fatalf("BlockKey() = %v, %v", blocked, err)
		}
		if _, blocked, err := f.core.BlockKey(ctx, told.Public(), "cli:ops", "again"); err != nil || blocked {
			t.Fatalf("BlockKey() again = %v, %v; want false, nil", blocked, err)
		}
		if _, err := issue("web", told, "d.example.com"); !errs.Is(err, errs.BadCSR) || !strings.Contains(err.Error(), "leaked on a paste site") {
			t.Errorf("a key an operator blocked: %v", err)
		}

		// Another replica's block: seen once the copy is ten seconds old.
		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		h, _ := ca.KeyHash(other.Public())
		if _, err := st.BlockKey(ctx, storage.BlockedKey{Hash: h, At: f.now, By: "replica-2", Reason: "blocked elsewhere"}, storage.AuditEvent{At: f.now, Actor: "replica-2", Action: "block-key"}); err != nil {
			t.Fatal(err)
		}
		if _, err := issue("web", other, "e.example.com"); err != nil {
			t.Fatalf("within the copy's ten seconds: %v", err)
		}
		f.now = f.now.Add(11 * time.Second)
		if _, err := issue("web", other, "e.example.com"); !errs.Is(err, errs.BadCSR) || !strings.Contains(err.Error(), "blocked elsewhere") {
			t.Errorf("after the copy aged: %v", err)
		}
	})
}
