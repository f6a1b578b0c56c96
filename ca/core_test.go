package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// countingKey counts signatures and runs a hook before each.
type countingKey struct {
	signer.Key
	n      atomic.Int32
	before func()
}

func (k *countingKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	if k.before != nil {
		k.before()
	}
	k.n.Add(1)
	return k.Key.Sign(r, d, o)
}

func (k *countingKey) SignContext(ctx context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return k.Sign(nil, d, o)
}

func (k *countingKey) WithContext(ctx context.Context) crypto.Signer { return k }

// failingStore, when fail is set, makes CompleteIssuance do what a store
// does when the activation fails: commit the audit event and return the
// activation's error.
type failingStore struct {
	storage.Store
	fail atomic.Bool
	// failCompleteRequest fails recording the outcome of an approved
	// request.
	failCompleteRequest atomic.Bool
}

func (s *failingStore) CompleteRequest(ctx context.Context, id, status, serial, reason string) error {
	if s.failCompleteRequest.Load() {
		return errs.New(errs.Unavailable, "injected failure to complete request %s", id)
	}
	return s.Store.CompleteRequest(ctx, id, status, serial, reason)
}

func (s *failingStore) CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, nb, na time.Time) (int64, error) {
	if !s.fail.Load() {
		return s.Store.CompleteIssuance(ctx, e, serial, der, nb, na)
	}
	id, err := s.Store.AppendAudit(ctx, e)
	if err != nil {
		return 0, err
	}
	return id, errs.New(errs.Unavailable, "injected activation failure of %s", serial)
}

type fixture struct {
	core  *ca.Core
	store *failingStore
	key   *countingKey
	now   time.Time
	h     *ca.Hierarchy
}

func newFixture(t *testing.T, st storage.Store, profiles ...config.Profile) *fixture {
	t.Helper()
	cas := coretest.DefaultCAs()
	cas[1].CRLMirrors = []string{"http://mirror-a.example.net/issuing.crl", "https://mirror-b.example.net/issuing.crl"}
	f := &fixture{store: &failingStore{Store: st}, now: time.Now().Truncate(time.Second)}
	clock := func() time.Time { return f.now }
	env := coretest.New(t, st, coretest.Options{CAs: cas, Profiles: profiles, Now: clock, CoreStore: f.store})
	f.key = &countingKey{Key: env.CAs["issuing"].Key}
	env.CAs["issuing"].Key = f.key
	f.core, f.h = env.Core, env.Hierarchy
	return f
}

func webProfile(edit func(*config.Profile)) config.Profile {
	yes := true
	p := config.Profile{
		Name: "web", CA: "issuing", Methods: []string{"api", "acme"},
		Names:       config.Names{DNS: []string{".example.com"}, IPRanges: []string{"10.0.0.0/8"}, CommonName: "allow", CommonNameInSAN: &yes, Max: 10},
		KeyTypes:    []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048"},
		MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(30 * 24 * time.Hour),
		ServerKeygen: true, AutoRenew: config.AutoRenew{RenewBeforeDays: 10},
	}
	if edit != nil {
		edit(&p)
	}
	return p
}

func csrFor(t *testing.T, cn string, dns ...string) []byte {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func countCerts(t *testing.T, st storage.Store) int {
	t.Helper()
	certs, _, err := st.ListCertificates(context.Background(), storage.CertificateFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	return len(certs)
}

func TestCoreIssue(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(nil))
		ctx := context.Background()
		got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CSR: csrFor(t, "www.example.com", "www.example.com")})
		if err != nil {
			t.Fatal(err)
		}
		// A CSR its caller has parsed and verified issues the same way.
		if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CheckedCSR: parsedCSR(t, "", "www.example.com")}); err != nil {
			t.Fatal(err)
		}
		c := got.Cert
		if c.IsCA || c.Subject.CommonName != "www.example.com" || c.DNSNames[0] != "www.example.com" {
			t.Fatalf("certificate: CA=%v subject %s SANs %v", c.IsCA, c.Subject, c.DNSNames)
		}
		if err := c.CheckSignatureFrom(got.Chain[0]); err != nil {
			t.Fatal(err)
		}
		want := []string{"http://pki.example.net/crl/issuing.crl", "http://mirror-a.example.net/issuing.crl", "https://mirror-b.example.net/issuing.crl"}
		if strings.Join(c.CRLDistributionPoints, " ") != strings.Join(want, " ") {
			t.Fatalf("CDP %v, want %v", c.CRLDistributionPoints, want)
		}
		if c.OCSPServer[0] != "http://pki.example.net/ocsp/issuing" || c.IssuingCertificateURL[0] != "http://pki.example.net/ca/issuing.crt" {
			t.Fatalf("AIA %v %v", c.OCSPServer, c.IssuingCertificateURL)
		}
		if d := c.NotAfter.Sub(f.now); d != 30*24*time.Hour {
			t.Fatalf("validity %v, want the profile default", d)
		}
		rec, err := st.GetCertificate(ctx, got.Serial)
		if err != nil || rec.Status != storage.StatusActive || rec.Requester != "tester" || rec.Method != "api" {
			t.Fatalf("stored %+v, %v", rec, err)
		}
		events, _ := st.ListAudit(ctx, storage.AuditFilter{Serial: got.Serial})
		if len(events) != 1 || events[0].Action != "issue" || string(events[0].DER) != string(c.Raw) {
			t.Fatalf("audit %+v", events)
		}
	})
}

// A rejected request says which rule and value, and changes nothing.
func TestCoreRejectsAndChangesNothing(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), webProfile(nil), webProfile(func(p *config.Profile) {
		p.Name = "est-only"
		p.Methods = []string{"est"}
	}))
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  ca.IssueRequest
		kind errs.Kind
		msg  string
	}{
		{"name", ca.IssueRequest{Profile: "web", Method: "api", CSR: csrFor(t, "", "www.example.org")}, errs.RejectedIdentifier, `rule names.dns: DNS name "www.example.org"`},
		{"method", ca.IssueRequest{Profile: "est-only", Method: "api", CSR: csrFor(t, "", "a.example.com")}, errs.Forbidden, `rule methods`},
		{"profile", ca.IssueRequest{Profile: "nope", Method: "api", CSR: csrFor(t, "", "a.example.com")}, errs.NotFound, `no profile "nope"`},
		{"garbage csr", ca.IssueRequest{Profile: "web", Method: "api", CSR: []byte("junk")}, errs.BadCSR, "parse CSR"},
		{"validity", ca.IssueRequest{Profile: "web", Method: "api", CSR: csrFor(t, "", "a.example.com"), Validity: 365 * 24 * time.Hour}, errs.Malformed, "rule max_validity"},
		{"key type", ca.IssueRequest{Profile: "web", Method: "api", Generate: &ca.GenerateRequest{KeyType: "ed25519", DNSNames: []string{"a.example.com"}}}, errs.BadCSR, "rule key_types"},
		{"checked CSR outside the profile", ca.IssueRequest{Profile: "web", Method: "api", CheckedCSR: parsedCSR(t, "", "www.example.org")}, errs.RejectedIdentifier, `rule names.dns: DNS name "www.example.org"`},
		{"CSR twice", ca.IssueRequest{Profile: "web", Method: "api", CSR: csrFor(t, "", "a.example.com"), CheckedCSR: parsedCSR(t, "", "a.example.com")}, errs.Internal, "CSR twice"},
		{"checked CSR and a key", ca.IssueRequest{Profile: "web", Method: "api", CheckedCSR: parsedCSR(t, "", "a.example.com"), Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256"}}, errs.Malformed, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.core.Issue(ctx, tc.req)
			if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %s: %v; want %s containing %q", errs.KindOf(err), err, tc.kind, tc.msg)
			}
		})
	}
	if n := countCerts(t, f.store); n != 0 {
		t.Fatalf("%d certificates stored after rejections", n)
	}
	if f.key.n.Load() != 0 {
		t.Fatalf("the CA key signed %d times for rejected requests", f.key.n.Load())
	}
}

// A profile that would produce a lint-failing certificate is refused
// before the HSM is asked: zero signatures, nothing stored.
func TestCoreLintGateStopsBeforeSigning(t *testing.T) {
	// keyEncipherment with clientAuth alone: zlint's
	// e_key_usage_and_extended_key_usage_inconsistent (for RSA keys).
	f := newFixture(t, teststore.SQLite(t), webProfile(func(p *config.Profile) {
		p.KeyUsage, p.ExtKeyUsage = []string{"digital_signature", "key_encipherment"}, []string{"client_auth"}
	}))
	_, err := f.core.Issue(context.Background(), ca.IssueRequest{Profile: "web", Method: "api",
		Generate: &ca.GenerateRequest{KeyType: "rsa-2048", DNSNames: []string{"a.example.com"}}})
	var lintErr *ca.LintError
	if !errors.As(err, &lintErr) || errs.ClientFault(err) {
		t.Fatalf("got %v, want a server-side lint error", err)
	}
	if !strings.Contains(err.Error(), "e_key_usage_and_extended_key_usage_inconsistent") {
		t.Fatalf("lint error does not name the lint: %v", err)
	}
	if n := f.key.n.Load(); n != 0 {
		t.Fatalf("the signer was called %d times", n)
	}
	if n := countCerts(t, f.store); n != 0 {
		t.Fatalf("%d certificates stored", n)
	}
}

// Persist, then sign: the pending record exists when the signer is called;
// when the signed certificate cannot be activated, the audit trail holds
// its DER and the reconcile step restores it.
func TestCorePersistThenSignAndReconcile(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(nil))
		ctx := context.Background()
		var pendingAtSign int
		f.key.before = func() {
			p, err := st.PendingCertificates(ctx, f.now.Add(time.Hour), 10)
			if err != nil {
				t.Error(err)
			}
			pendingAtSign = len(p)
		}
		if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", CSR: csrFor(t, "", "a.example.com")}); err != nil {
			t.Fatal(err)
		}
		if pendingAtSign != 1 {
			t.Fatalf("%d pending records when the signer was called, want 1", pendingAtSign)
		}

		f.store.fail.Store(true)
		_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", CSR: csrFor(t, "", "b.example.com")})
		if !errs.Is(err, errs.Unavailable) || !errors.Is(err, ca.ErrAwaitingReconcile) {
			t.Fatalf("issue with a failing activation: %v, want the activation's error, awaiting reconcile", err)
		}
		if n := f.key.n.Load(); n != 2 {
			t.Fatalf("the CA key signed %d times for two issuances", n)
		}
		f.store.fail.Store(false)
		pending, _ := st.PendingCertificates(ctx, f.now.Add(time.Hour), 10)
		if len(pending) != 1 {
			t.Fatalf("%d pending certificates after the failure, want 1", len(pending))
		}
		serial := pending[0].Serial
		events, _ := st.ListAudit(ctx, storage.AuditFilter{Serial: serial})
		if len(events) != 1 || len(events[0].DER) == 0 {
			t.Fatalf("the audit trail does not hold the signed certificate: %+v", events)
		}
		f.now = f.now.Add(2 * time.Minute)
		n, err := f.core.Reconcile(ctx, time.Minute)
		if err != nil || n != 1 {
			t.Fatalf("reconcile restored %d, %v", n, err)
		}
		rec, err := st.GetCertificate(ctx, serial)
		if err != nil || rec.Status != storage.StatusActive || string(rec.DER) != string(events[0].DER) {
			t.Fatalf("after reconcile: %+v %v", rec.Status, err)
		}
	})
}

// Identical requests racing get distinct certificates.
func TestCoreRacingRequestsGetDistinctSerials(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(nil))
		csr := csrFor(t, "", "same.example.com")
		var mu sync.Mutex
		serials := map[string]bool{}
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := f.core.Issue(context.Background(), ca.IssueRequest{Profile: "web", Method: "api", CSR: csr})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				serials[got.Serial] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(serials) != 16 {
			t.Fatalf("%d distinct serials for 16 requests", len(serials))
		}
	})
}

// Server-driven renewal: a held key is re-issued when it enters the
// renew-before window, with the same names and a new key, exactly once.
func TestCoreRenewal(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(func(p *config.Profile) { p.AutoRenew.Enabled = true }))
		ctx := context.Background()
		first, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline",
			Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{"svc.example.com"}, IPs: []string{"10.1.1.1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if renewed, err := f.core.RenewDue(ctx, "t"); err != nil || len(renewed) != 0 {
			t.Fatalf("renewed %v before the window, %v", renewed, err)
		}
		f.now = f.now.Add(25 * 24 * time.Hour) // 30-day lifetime, 10 days before: due at day 20
		renewed, err := f.core.RenewDue(ctx, "t")
		if err != nil || len(renewed) != 1 {
			t.Fatalf("renewed %v, %v", renewed, err)
		}
		b, err := f.core.LatestBundle(ctx, "web")
		if err != nil || b.Record.Serial != renewed[0] || b.Record.Replaces != first.Serial {
			t.Fatalf("latest bundle %+v, %v", b, err)
		}
		if b.Cert.DNSNames[0] != "svc.example.com" || !b.Cert.IPAddresses[0].Equal(first.Cert.IPAddresses[0]) {
			t.Fatal("renewal changed the names")
		}
		if b.Cert.PublicKey.(*ecdsa.PublicKey).Equal(first.Key.Public()) || b.KeyPEM == nil {
			t.Fatal("renewal kept the old key or lost the new one")
		}
		if again, _ := f.core.RenewDue(ctx, "t"); len(again) != 0 {
			t.Fatalf("renewed twice: %v", again)
		}
	})
}

// parsedCSR is csrFor, parsed (a CheckedCSR).
func parsedCSR(t *testing.T, cn string, dns ...string) *x509.CertificateRequest {
	t.Helper()
	csr, err := x509.ParseCertificateRequest(csrFor(t, cn, dns...))
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// A certificate ends no later than its issuing CA; a CA that has expired
// issues nothing and signs nothing.
func TestCoreLeafEndsWithItsIssuer(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, webProfile(nil))
	ctx := context.Background()
	end := f.core.CAs["issuing"].Cert().NotAfter
	f.now = end.Add(-10 * 24 * time.Hour)
	got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CSR: csrFor(t, "", "www.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.NotAfter.Equal(end) {
		t.Errorf("10 days before the CA ends, a 30-day certificate ends %s, want the CA's end %s", got.Cert.NotAfter, end)
	}
	if rec, err := st.GetCertificate(ctx, got.Serial); err != nil || !rec.NotAfter.Equal(end) {
		t.Errorf("stored not_after %v (%v), want %s", rec.NotAfter, err, end)
	}

	f.now = end
	before, signed := countCerts(t, st), f.key.n.Load()
	_, err = f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CSR: csrFor(t, "", "www.example.com")})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "CA issuing cannot issue: its certificate expired") {
		t.Fatalf("issuing under an expired CA: %v", err)
	}
	if countCerts(t, st) != before || f.key.n.Load() != signed {
		t.Error("a refused issuance under an expired CA stored or signed something")
	}
}

// Once its CA is revoked (here or by another process: the core learns it
// as it learns of a renewal), a profile issues nothing: no signature,
// nothing stored. The revocation itself is in the inventory, under the
// root.
func TestCoreRefusesUnderRevokedCA(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, webProfile(nil))
	ctx := context.Background()
	issuing := f.core.CAs["issuing"].Cert()
	r, err := f.h.Revoke(ctx, "issuing", 1, "tester")
	if err != nil || len(r.Serials) != 1 || r.Serials[0] != ca.SerialHex(issuing.SerialNumber) || r.Parent != "root" {
		t.Fatalf("Revoke(issuing): %+v, %v", r, err)
	}
	if st, err := st.CertificateStatus(ctx, r.Serials[0]); err != nil || st.Status != storage.StatusRevoked || st.CA != "root" || st.Reason != 1 {
		t.Fatalf("the issuing CA's certificate in the inventory: %+v, %v", st, err)
	}
	before, signed := countCerts(t, st), f.key.n.Load()
	// The core learns it on reload (gateway serve reloads every minute).
	if _, err := f.h.Reload(ctx, f.core.CAs); err != nil {
		t.Fatal(err)
	}
	_, err = f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CSR: csrFor(t, "", "www.example.com")})
	if !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "CA issuing was revoked") {
		t.Fatalf("issuing under a revoked CA: %v", err)
	}
	if countCerts(t, st) != before || f.key.n.Load() != signed {
		t.Error("a refused issuance under a revoked CA stored or signed something")
	}
}

// Renewals reloaded while requests are being issued: every certificate
// comes out whole, and verifies through the chain it came with to the
// current root (run with -race, this also shows the core reads its CAs
// safely while they change).
func TestReloadWhileIssuing(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, webProfile(nil))
	ctx := context.Background()
	stop := make(chan struct{})
	var mu sync.Mutex
	var issued []*ca.Issued
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CSR: csrFor(t, "", "www.example.com")})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				issued = append(issued, got)
				mu.Unlock()
			}
		})
	}
	halt := sync.OnceFunc(func() { close(stop); wg.Wait() })
	defer halt() // also when the test fails below
	for k := range 3 {
		if _, err := f.h.Renew(ctx, "root", time.Duration(20*365+k)*24*time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.h.Renew(ctx, "issuing", time.Duration(6*365+k)*24*time.Hour, "test"); err != nil {
			t.Fatal(err)
		}
		if applied, err := f.h.Reload(ctx, f.core.CAs); err != nil || len(applied) != 2 {
			t.Fatalf("reload %d: %+v, %v", k, applied, err)
		}
	}
	halt()
	roots := x509.NewCertPool()
	roots.AddCert(f.core.CAs["root"].Cert())
	for _, got := range issued {
		inter := x509.NewCertPool()
		for _, c := range got.Chain {
			inter.AddCert(c)
		}
		if _, err := got.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: f.now}); err != nil {
			t.Fatalf("certificate %s does not verify through its chain: %v", got.Serial, err)
		}
	}
	if len(issued) == 0 {
		t.Fatal("nothing was issued while the CAs were renewed")
	}
	t.Logf("%d certificates issued during three renewals", len(issued))
}

// A profile with names.uris issues URI SANs (a SPIFFE ID beside a DNS
// name) from a CSR and for a generated key, past the lint gate; the
// inventory lists the URI with the other SANs; a URI outside the rules is
// refused with nothing stored.
func TestCoreURINames(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, webProfile(func(p *config.Profile) { p.Names.URIs = []string{"spiffe://example.org/", "urn:example:device:7"} }))
	ctx := context.Background()
	id, _ := url.Parse("spiffe://example.org/ns/prod/sa/web")
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"web.example.com"}, URIs: []*url.URL{id}}, k)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CSR: der})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Cert.URIs) != 1 || got.Cert.URIs[0].String() != id.String() {
		t.Errorf("URIs %v, want %s", got.Cert.URIs, id)
	}
	if rec, err := st.GetCertificate(ctx, got.Serial); err != nil || !slices.Contains(rec.SANs, id.String()) {
		t.Errorf("the inventory's SANs %v (%v) do not list the URI", rec.SANs, err)
	}
	for _, u := range []string{"spiffe://example.org/device/7", "urn:example:device:7"} {
		gen, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester",
			Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", URIs: []string{u}}})
		if err != nil || len(gen.Cert.URIs) != 1 || gen.Cert.URIs[0].String() != u {
			t.Fatalf("generated key with URI %s: %v", u, err)
		}
	}
	before := countCerts(t, st)
	_, err = f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester",
		Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", URIs: []string{"spiffe://other.org/x"}}})
	if !errs.Is(err, errs.RejectedIdentifier) || !strings.Contains(err.Error(), "names.uris") {
		t.Fatalf("a URI outside the rules: %v", err)
	}
	if countCerts(t, st) != before {
		t.Error("a refused URI stored something")
	}
}

// A profile's certificate_policies follow the CA/B Forum policy of a TLS
// server certificate, and are the only policies of one that is not; both
// pass the lint gate.
func TestCoreProfilePolicies(t *testing.T) {
	st := teststore.SQLite(t)
	own := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 2}
	f := newFixture(t, st,
		webProfile(func(p *config.Profile) { p.CertificatePolicies = []string{own.String()} }),
		webProfile(func(p *config.Profile) {
			p.Name, p.ExtKeyUsage, p.CertificatePolicies = "clients", []string{"client_auth"}, []string{own.String()}
		}))
	ctx := context.Background()
	for profile, want := range map[string][]string{
		"web":     {"2.23.140.1.2.1", own.String()},
		"clients": {own.String()},
	} {
		got, err := f.core.Issue(ctx, ca.IssueRequest{Profile: profile, Method: "api", Requester: "tester", CSR: csrFor(t, "", "www.example.com")})
		if err != nil {
			t.Fatalf("%s: %v", profile, err)
		}
		var oids []string
		for _, o := range got.Cert.PolicyIdentifiers {
			oids = append(oids, o.String())
		}
		if !slices.Equal(oids, want) {
			t.Errorf("%s: policies %v, want %v", profile, oids, want)
		}
	}
}

// A CA put on hold (certificateHold) issues nothing until its
// certificates are released; then, on reload, it issues again.
func TestCoreCAOnHold(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, webProfile(nil))
	ctx := context.Background()
	issue := func() error {
		_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "tester", CSR: csrFor(t, "", "www.example.com")})
		return err
	}
	r, err := f.h.Revoke(ctx, "issuing", storage.ReasonCertificateHold, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.Reload(ctx, f.core.CAs); err != nil {
		t.Fatal(err)
	}
	if err := issue(); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("issuing under a CA on hold: %v", err)
	}
	for _, serial := range r.Serials {
		if err := st.ReleaseHold(ctx, serial, storage.AuditEvent{At: f.now, Actor: "tester", Action: "release-hold", Serial: serial}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.h.Reload(ctx, f.core.CAs); err != nil {
		t.Fatal(err)
	}
	if err := issue(); err != nil {
		t.Fatalf("issuing after the CA's release: %v", err)
	}
}
