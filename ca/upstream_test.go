package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// upstreamFixture is a core whose profile "ext" is backed by a fake
// external CA named "acme-ca".
func upstreamFixture(t *testing.T, st storage.Store, edit func(*config.Profile)) (*fixture, *coretest.ExternalCA) {
	t.Helper()
	f := newFixture(t, st, webProfile(func(p *config.Profile) {
		p.Name, p.CA, p.Upstream = "ext", "", "acme-ca"
		if edit != nil {
			edit(p)
		}
	}))
	u := coretest.NewExternalCA(t, func() time.Time { return f.now })
	f.core.Upstreams = map[string]ca.Upstream{"acme-ca": u}
	u.Register(t, st, "acme-ca")
	return f, u
}

func auditActions(t *testing.T, st storage.Store) map[string]int {
	t.Helper()
	events, err := st.ListAudit(context.Background(), storage.AuditFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range events {
		n[e.Action]++
	}
	return n
}

func TestUpstreamIssue(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, u := upstreamFixture(t, st, nil)
		ctx := context.Background()
		got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", Requester: "tester", CSR: csrFor(t, "www.example.com", "www.example.com")})
		if err != nil {
			t.Fatal(err)
		}
		if got.Cert.CheckSignatureFrom(u.Cert) != nil || len(got.Chain) != 1 || !got.Chain[0].Equal(u.Cert) {
			t.Fatal("the certificate or its chain is not the external CA's")
		}
		if f.key.n.Load() != 0 {
			t.Errorf("the gateway's CA key signed %d times for an external CA's profile", f.key.n.Load())
		}
		rec, err := st.GetCertificate(ctx, got.Serial)
		if err != nil || rec.CA != "acme-ca" || rec.Status != storage.StatusActive || rec.Profile != "ext" {
			t.Fatalf("inventory record %+v, %v", rec, err)
		}
		// The chain comes back from the inventory, not from a gateway CA.
		b, err := f.core.Bundle(ctx, got.Serial)
		if err != nil || len(b.Chain) != 1 || !b.Chain[0].Equal(u.Cert) {
			t.Fatalf("bundle chain %v, %v", b, err)
		}
		if a := auditActions(t, st); a["upstream-request"] != 1 || a["issue"] != 1 {
			t.Errorf("audit actions %v", a)
		}
	})
}

// A generated key is kept, sealed, and server-driven renewal goes back to
// the external CA.
func TestUpstreamGeneratedKeyAndRenewal(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, u := upstreamFixture(t, st, func(p *config.Profile) { p.AutoRenew = config.AutoRenew{Enabled: true, RenewBeforeDays: 30} })
		ctx := context.Background()
		first, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", Requester: "pipeline",
			Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{"svc.example.com"}}})
		if err != nil {
			t.Fatal(err)
		}
		if !first.Cert.PublicKey.(*ecdsa.PublicKey).Equal(first.Key.Public()) {
			t.Fatal("the certificate is not for the generated key")
		}
		f.now = f.now.Add(70 * 24 * time.Hour) // 90 days from the CA, renewed 30 days before
		renewed, err := f.core.RenewDue(ctx, "t")
		if err != nil || len(renewed) != 1 {
			t.Fatalf("renewed %v, %v", renewed, err)
		}
		b, err := f.core.LatestBundle(ctx, "ext")
		if err != nil || b.Record.Serial != renewed[0] || b.Record.Replaces != first.Serial || b.KeyPEM == nil || b.Record.CA != "acme-ca" {
			t.Fatalf("latest bundle %+v, %v", b, err)
		}
		if n, _ := u.Counts(); n != 2 || u.Replaced()[0] != "" || u.Replaced()[1] != first.Serial {
			t.Errorf("the external CA was asked %d times, replacing %q, want 2, the second replacing %s", n, u.Replaced(), first.Serial)
		}
	})
}

// The profile's rules come first: a refused request never reaches the
// external CA, and stores nothing.
func TestUpstreamProfileFirst(t *testing.T) {
	f, u := upstreamFixture(t, teststore.SQLite(t), nil)
	ctx := context.Background()
	for name, req := range map[string]ca.IssueRequest{
		"name outside the profile": {Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.net")},
		"method not allowed":       {Profile: "ext", Method: "est", CSR: csrFor(t, "", "www.example.com")},
		"key type not allowed":     {Profile: "ext", Method: "api", Generate: &ca.GenerateRequest{KeyType: "ed25519", DNSNames: []string{"a.example.com"}}},
	} {
		if _, err := f.core.Issue(ctx, req); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
	if n, _ := u.Counts(); n != 0 || countCerts(t, f.store) != 0 {
		t.Errorf("the external CA was asked %d times; %d certificates stored", n, countCerts(t, f.store))
	}
}

// What the external CA refuses reaches the caller with its kind; a
// certificate it returns that is not what was asked for is refused and
// revoked, and nobody gets it.
func TestUpstreamRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("RefusedByTheCA", func(t *testing.T) {
		f, u := upstreamFixture(t, teststore.SQLite(t), nil)
		u.ObtainErr = errs.New(errs.RejectedIdentifier, "upstream acme-ca: no")
		_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.com")})
		if !errs.Is(err, errs.RejectedIdentifier) || countCerts(t, f.store) != 0 {
			t.Fatalf("err %v, %d stored", err, countCerts(t, f.store))
		}
	})
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, edit := range map[string]func(*x509.Certificate){
		"another key":            func(c *x509.Certificate) { c.PublicKey = &other.PublicKey },
		"another name":           func(c *x509.Certificate) { c.DNSNames = append(c.DNSNames, "extra.example.com") },
		"a name outside profile": func(c *x509.Certificate) { c.DNSNames = []string{"www.example.net"} },
	} {
		t.Run(name, func(t *testing.T) {
			f, u := upstreamFixture(t, teststore.SQLite(t), nil)
			u.Edit = edit
			_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.com")})
			if !errs.Is(err, errs.Internal) {
				t.Fatalf("err %v", err)
			}
			if _, revoked := u.Counts(); revoked != 1 || countCerts(t, f.store) != 0 {
				t.Errorf("%d revoked at the CA, %d stored", revoked, countCerts(t, f.store))
			}
		})
	}
	t.Run("NotRecorded", func(t *testing.T) {
		// The CA gives a serial the inventory already holds: the second
		// certificate cannot be recorded, so it is revoked at the CA.
		f, u := upstreamFixture(t, teststore.SQLite(t), nil)
		u.Serial = big.NewInt(0x5eed)
		if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "a.example.com")}); err != nil {
			t.Fatal(err)
		}
		_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "b.example.com")})
		if !errs.Is(err, errs.Conflict) {
			t.Fatalf("err %v", err)
		}
		if _, revoked := u.Counts(); revoked != 1 || countCerts(t, f.store) != 1 {
			t.Errorf("%d revoked at the CA, %d stored", revoked, countCerts(t, f.store))
		}
	})
}

// Revocation goes to the external CA first; what it refuses is not
// recorded, and there is no hold.
func TestUpstreamRevoke(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, u := upstreamFixture(t, st, nil)
		ctx := context.Background()
		issue := func() string {
			got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.com")})
			if err != nil {
				t.Fatal(err)
			}
			return got.Serial
		}
		var hooked []string
		f.core.OnRevoke = func(_ context.Context, caName, serial string) { hooked = append(hooked, serial) }

		held := issue()
		if err := f.core.Revoke(ctx, held, storage.ReasonCertificateHold, "op"); !errs.Is(err, errs.Malformed) {
			t.Fatalf("hold: %v", err)
		}
		u.RevokeErr = errs.New(errs.Unavailable, "upstream acme-ca: down")
		if err := f.core.Revoke(ctx, held, 1, "op"); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("revoke while the CA is down: %v", err)
		}
		if rec, _ := st.GetCertificate(ctx, held); rec.Status != storage.StatusActive {
			t.Fatalf("a revocation the CA refused was recorded: %s", rec.Status)
		}
		u.RevokeErr = nil
		if err := f.core.Revoke(ctx, held, 1, "op"); err != nil {
			t.Fatal(err)
		}
		reason, _ := u.Revoked(held)
		if rec, _ := st.GetCertificate(ctx, held); rec.Status != storage.StatusRevoked || reason != 1 {
			t.Fatalf("status %s, revoked at the CA with reason %d", rec.Status, reason)
		}
		if err := f.core.Revoke(ctx, held, 1, "op"); !errs.Is(err, errs.Conflict) {
			t.Fatalf("second revoke: %v", err)
		}
		if len(hooked) != 0 {
			t.Errorf("the gateway's CRL and OCSP were told of an external CA's revocation: %v", hooked)
		}
	})
}

// recordingObserver keeps what the core reported of upstream orders.
type recordingObserver struct {
	mu        sync.Mutex
	upstreams []string // "UPSTREAM ok" or "UPSTREAM KIND"
}

func (o *recordingObserver) Issued(profile, method, issuer string)     {}
func (o *recordingObserver) Refused(profile, method string, err error) {}
func (o *recordingObserver) Revoked(issuer string, reason int)         {}
func (o *recordingObserver) Upstream(upstream string, took time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	result := "ok"
	if err != nil {
		result = errs.KindOf(err).String()
	}
	o.upstreams = append(o.upstreams, upstream+" "+result)
}

// Each order at the external CA is reported to the observer (metrics),
// whether it brought a certificate or an error.
func TestUpstreamObserved(t *testing.T) {
	f, u := upstreamFixture(t, teststore.SQLite(t), nil)
	obs := &recordingObserver{}
	f.core.Observer = obs
	ctx := context.Background()
	if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.com")}); err != nil {
		t.Fatal(err)
	}
	u.ObtainErr = errs.New(errs.Unavailable, "upstream acme-ca: rate limited")
	if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.com")}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("err %v", err)
	}
	if want := []string{"acme-ca ok", "acme-ca unavailable"}; !slices.Equal(obs.upstreams, want) {
		t.Errorf("observed %v, want %v", obs.upstreams, want)
	}
}
