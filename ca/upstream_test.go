package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// fakeUpstream is an external CA in memory: it signs what it is asked
// with its own key, or does what its hooks say.
type fakeUpstream struct {
	mu      sync.Mutex
	key     *ecdsa.PrivateKey
	cert    *x509.Certificate
	now     func() time.Time
	obtains int
	revoked map[string]int // serial → reason
	// replaced lists what each Obtain said it replaces ("" for nothing).
	replaced []string
	// edit, if set, changes the template before signing (a misbehaving CA).
	edit      func(*x509.Certificate)
	obtainErr error
	revokeErr error
	serial    *big.Int // if set, every certificate gets it
	// gate, if set, holds every Obtain until it is closed (a slow
	// validation).
	gate chan struct{}
}

func newFakeUpstream(t *testing.T, now func() time.Time) *fakeUpstream {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "External Issuing CA"},
		NotBefore: now().Add(-time.Hour), NotAfter: now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &fakeUpstream{key: k, cert: c, now: now, revoked: map[string]int{}}
}

func (u *fakeUpstream) Obtain(ctx context.Context, csr *x509.CertificateRequest, replaces *x509.Certificate) (*x509.Certificate, []*x509.Certificate, error) {
	if u.gate != nil {
		<-u.gate
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.obtains++
	if replaces != nil {
		u.replaced = append(u.replaced, ca.SerialHex(replaces.SerialNumber))
	} else {
		u.replaced = append(u.replaced, "")
	}
	if u.obtainErr != nil {
		return nil, nil, u.obtainErr
	}
	serial := u.serial
	if serial == nil {
		serial, _ = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: csr.Subject.CommonName},
		DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses,
		NotBefore: u.now(), NotAfter: u.now().Add(90 * 24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	pub := csr.PublicKey
	if u.edit != nil {
		u.edit(tmpl)
		if tmpl.PublicKey != nil {
			pub = tmpl.PublicKey
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, u.cert, pub, u.key)
	if err != nil {
		return nil, nil, err
	}
	c, _ := x509.ParseCertificate(der)
	return c, []*x509.Certificate{u.cert}, nil
}

func (u *fakeUpstream) Revoke(ctx context.Context, cert *x509.Certificate, reason int) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.revokeErr != nil {
		return u.revokeErr
	}
	u.revoked[ca.SerialHex(cert.SerialNumber)] = reason
	return nil
}

func (u *fakeUpstream) counts() (obtains, revoked int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.obtains, len(u.revoked)
}

// upstreamFixture is a core whose profile "ext" is backed by a fake
// external CA named "acme-ca".
func upstreamFixture(t *testing.T, st storage.Store, edit func(*config.Profile)) (*fixture, *fakeUpstream) {
	t.Helper()
	f := newFixture(t, st, webProfile(func(p *config.Profile) {
		p.Name, p.CA, p.Upstream = "ext", "", "acme-ca"
		if edit != nil {
			edit(p)
		}
	}))
	u := newFakeUpstream(t, func() time.Time { return f.now })
	f.core.Upstreams = map[string]ca.Upstream{"acme-ca": u}
	if err := st.InsertCA(context.Background(), storage.CA{Name: "acme-ca", KeyURI: "acme:https://ca.example/dir", CertDER: []byte{}, CreatedAt: f.now},
		storage.AuditEvent{At: f.now, Actor: "test", Action: "upstream-add"}); err != nil {
		t.Fatal(err)
	}
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
		if got.Cert.CheckSignatureFrom(u.cert) != nil || len(got.Chain) != 1 || !got.Chain[0].Equal(u.cert) {
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
		if err != nil || len(b.Chain) != 1 || !b.Chain[0].Equal(u.cert) {
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
		if n, _ := u.counts(); n != 2 || u.replaced[0] != "" || u.replaced[1] != first.Serial {
			t.Errorf("the external CA was asked %d times, replacing %q, want 2, the second replacing %s", n, u.replaced, first.Serial)
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
	if n, _ := u.counts(); n != 0 || countCerts(t, f.store) != 0 {
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
		u.obtainErr = errs.New(errs.RejectedIdentifier, "upstream acme-ca: no")
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
			u.edit = edit
			_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.com")})
			if !errs.Is(err, errs.Internal) {
				t.Fatalf("err %v", err)
			}
			if _, revoked := u.counts(); revoked != 1 || countCerts(t, f.store) != 0 {
				t.Errorf("%d revoked at the CA, %d stored", revoked, countCerts(t, f.store))
			}
		})
	}
	t.Run("NotRecorded", func(t *testing.T) {
		// The CA gives a serial the inventory already holds: the second
		// certificate cannot be recorded, so it is revoked at the CA.
		f, u := upstreamFixture(t, teststore.SQLite(t), nil)
		u.serial = big.NewInt(0x5eed)
		if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "a.example.com")}); err != nil {
			t.Fatal(err)
		}
		_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "b.example.com")})
		if !errs.Is(err, errs.Conflict) {
			t.Fatalf("err %v", err)
		}
		if _, revoked := u.counts(); revoked != 1 || countCerts(t, f.store) != 1 {
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
		u.revokeErr = errs.New(errs.Unavailable, "upstream acme-ca: down")
		if err := f.core.Revoke(ctx, held, 1, "op"); !errs.Is(err, errs.Unavailable) {
			t.Fatalf("revoke while the CA is down: %v", err)
		}
		if rec, _ := st.GetCertificate(ctx, held); rec.Status != storage.StatusActive {
			t.Fatalf("a revocation the CA refused was recorded: %s", rec.Status)
		}
		u.revokeErr = nil
		if err := f.core.Revoke(ctx, held, 1, "op"); err != nil {
			t.Fatal(err)
		}
		if rec, _ := st.GetCertificate(ctx, held); rec.Status != storage.StatusRevoked || u.revoked[held] != 1 {
			t.Fatalf("status %s, revoked at the CA with %v", rec.Status, u.revoked)
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
	u.obtainErr = errs.New(errs.Unavailable, "upstream acme-ca: rate limited")
	if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "ext", Method: "api", CSR: csrFor(t, "", "www.example.com")}); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("err %v", err)
	}
	if want := []string{"acme-ca ok", "acme-ca unavailable"}; !slices.Equal(obs.upstreams, want) {
		t.Errorf("observed %v, want %v", obs.upstreams, want)
	}
}
