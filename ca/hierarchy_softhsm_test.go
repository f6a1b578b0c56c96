package ca_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThalesIgnite/crypto11"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/certgw/gateway/test/softhsm"
)

func hierarchyConfig(rootType, issuingType string) *config.Config {
	c := &config.Config{
		Listen: config.Listen{PublicURL: "http://pki.example.com:8080"},
		CAs: []config.CA{
			{Name: "root", Key: config.Key{Type: rootType, Label: "root-key"}, Validity: config.Duration(20 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "Test Root", Organization: "Example", Country: "DE"}},
			{Name: "issuing", Parent: "root", Key: config.Key{Type: issuingType, Label: "issuing-key"}, Validity: config.Duration(5 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "Test Issuing", Organization: "Example", Country: "DE"}},
		},
	}
	return c
}

type softHSMHierarchy struct {
	h     *ca.Hierarchy
	pool  *signer.Pool
	store storage.Store
	env   *softhsm.Env
}

func newSoftHSMHierarchy(t *testing.T, cfg *config.Config) *softHSMHierarchy {
	t.Helper()
	env := softhsm.New(t, "gateway")
	pool, err := signer.NewPool(signer.PoolConfig{Members: []signer.Member{{Module: env.Module, TokenLabel: "gateway"}}, PIN: softhsm.PIN})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "gw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	full, err := ca.NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &softHSMHierarchy{
		h: &ca.Hierarchy{Config: cfg, Signer: pool, Store: st, Linter: full, Presign: ca.NewPresigner(),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: time.Now},
		pool: pool, store: st, env: env,
	}
}

// init creates keys inside the token, sensitive and not extractable, for
// every supported key type, certificates that pass the whole zlint
// registry, and a second init changes nothing.
func TestInitOnSoftHSM(t *testing.T) {
	for _, tc := range []struct{ root, issuing string }{
		{"ecdsa-p384", "ecdsa-p256"},
		{"rsa-4096", "rsa-2048"},
		{"rsa-3072", "ecdsa-p384"},
		{"ecdsa-p256", "rsa-3072"},
	} {
		t.Run(tc.root+"/"+tc.issuing, func(t *testing.T) {
			ctx := context.Background()
			s := newSoftHSMHierarchy(t, hierarchyConfig(tc.root, tc.issuing))
			res, err := s.h.Init(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(res.Created, ",") != "root,issuing" || len(res.Waiting) != 0 {
				t.Fatalf("init did %+v", res)
			}
			cas, err := s.h.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			root, issuing := cas["root"].Cert(), cas["issuing"].Cert()
			checkCACert(t, root, root, -1, string(ca.KeyTypeOf(root.PublicKey)) == tc.root)
			checkCACert(t, issuing, root, 0, string(ca.KeyTypeOf(issuing.PublicKey)) == tc.issuing)
			if !bytes.Equal(issuing.AuthorityKeyId, root.SubjectKeyId) {
				t.Error("issuing AKI is not the root's SKI")
			}
			if len(issuing.CRLDistributionPoints) != 1 || issuing.CRLDistributionPoints[0] != "http://pki.example.com:8080/crl/root.crl" ||
				len(issuing.IssuingCertificateURL) != 1 || issuing.IssuingCertificateURL[0] != "http://pki.example.com:8080/ca/root.crt" {
				t.Errorf("issuing CDP %v, AIA %v", issuing.CRLDistributionPoints, issuing.IssuingCertificateURL)
			}
			if got := cas["issuing"].Chain(); len(got) != 1 || !got[0].Equal(root) {
				t.Error("issuing chain is not [root]")
			}

			// Init again: nothing created, same certificates.
			before, _ := s.store.ListCAs(ctx)
			res, err = s.h.Init(ctx)
			if err != nil || len(res.Created) != 0 {
				t.Fatalf("second init did %+v, %v", res, err)
			}
			after, _ := s.store.ListCAs(ctx)
			if len(after) != 2 || !bytes.Equal(before[0].CertDER, after[0].CertDER) || !bytes.Equal(before[1].CertDER, after[1].CertDER) {
				t.Fatal("second init changed the stored CAs")
			}

			// Read the key attributes back through PKCS#11.
			s.pool.Close()
			c, err := crypto11.Configure(&crypto11.Config{Path: s.env.Module, TokenLabel: "gateway", Pin: softhsm.PIN})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			all, err := c.FindAllKeyPairs()
			if err != nil || len(all) != 2 {
				t.Fatalf("token holds %d key pairs after two inits, want 2 (%v)", len(all), err)
			}
			for _, k := range all {
				a, err := c.GetAttributes(k, []crypto11.AttributeType{crypto11.CkaSensitive, crypto11.CkaExtractable, crypto11.CkaNeverExtractable})
				if err != nil {
					t.Fatal(err)
				}
				if a[crypto11.CkaSensitive].Value[0] != 1 || a[crypto11.CkaExtractable].Value[0] != 0 || a[crypto11.CkaNeverExtractable].Value[0] != 1 {
					t.Fatalf("key attributes: %v", a)
				}
			}
		})
	}
}

func checkCACert(t *testing.T, c, issuer *x509.Certificate, pathLen int, typeOK bool) {
	t.Helper()
	if !typeOK {
		t.Errorf("%s: key type %s is not the configured one", c.Subject.CommonName, ca.KeyTypeOf(c.PublicKey))
	}
	if !c.BasicConstraintsValid || !c.IsCA || c.MaxPathLen != pathLen || (pathLen == 0) != c.MaxPathLenZero {
		t.Errorf("%s: basicConstraints CA=%v pathlen=%d zero=%v, want pathlen %d", c.Subject.CommonName, c.IsCA, c.MaxPathLen, c.MaxPathLenZero, pathLen)
	}
	if c.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("%s: keyUsage %b lacks keyCertSign|cRLSign", c.Subject.CommonName, c.KeyUsage)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Errorf("%s: no SKI", c.Subject.CommonName)
	}
	if err := c.CheckSignatureFrom(issuer); err != nil {
		t.Errorf("%s: %v", c.Subject.CommonName, err)
	}
	full, _ := ca.NewLinter(nil, nil)
	if err := full.LintCertificate(c.Raw); err != nil {
		t.Errorf("%s: %v", c.Subject.CommonName, err)
	}
}

// A key under a CA's label but of another type is never taken over or
// replaced: init stops and says why.
func TestInitRefusesForeignKey(t *testing.T) {
	ctx := context.Background()
	s := newSoftHSMHierarchy(t, hierarchyConfig("ecdsa-p384", "ecdsa-p256"))
	if _, err := s.pool.Generate(ctx, "root-key", signer.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	_, err := s.h.Init(ctx)
	if !errs.Is(err, errs.Config) || !strings.Contains(err.Error(), "already holds a ecdsa-p256 key") {
		t.Fatalf("init over a foreign key: %v", err)
	}
	if cas, _ := s.store.ListCAs(ctx); len(cas) != 0 {
		t.Fatalf("init stored %d CAs after refusing", len(cas))
	}
}

// A CA keeps its origin: once created, a configuration that moves it
// under another parent, makes it a root or says an external CA certifies
// it is refused by init and at start-up (Load), naming both, and the CA
// is left as it is.
func TestCAKeepsItsOrigin(t *testing.T) {
	ctx := context.Background()
	cfg := hierarchyConfig("ecdsa-p384", "ecdsa-p256")
	s := newSoftHSMHierarchy(t, cfg)
	if _, err := s.h.Init(ctx); err != nil {
		t.Fatal(err)
	}
	root2 := cfg.CAs[0]
	root2.Name, root2.Key.Label, root2.Subject.CommonName = "root2", "root2-key", "Second Root"
	for _, tc := range []struct {
		name string
		edit func(*config.CA)
		want string
	}{
		{"made a root", func(c *config.CA) { c.Parent = "" }, `CA "issuing" is configured as certified by itself, a root (no parent), but the store holds it certified by the gateway's CA root`},
		{"made external", func(c *config.CA) { c.Parent, c.External = "", true }, "configured as certified by an external CA (external: true), but the store holds it certified by the gateway's CA root"},
		{"moved", func(c *config.CA) { c.Parent = "root2" }, "configured as certified by the gateway's CA root2, but the store holds it certified by the gateway's CA root"},
	} {
		moved := *cfg
		issuing := cfg.CAs[1]
		tc.edit(&issuing)
		moved.CAs = []config.CA{cfg.CAs[0], root2, issuing}
		s.h.Config = &moved
		// Init creates root2 (the first time), then refuses.
		if _, err := s.h.Init(ctx); !errs.Is(err, errs.Config) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Init() = %v, want Config saying %q", tc.name, err, tc.want)
		}
		if _, err := s.h.Load(ctx); !errs.Is(err, errs.Config) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Load() = %v, want Config saying %q", tc.name, err, tc.want)
		}
	}
	s.h.Config = cfg
	if _, err := s.h.Load(ctx); err != nil {
		t.Fatalf("Load() with the configuration restored: %v", err)
	}
}

// Renewing a CA certifies the same key again under the same name: what was
// issued under the old certificate chains to the new one, the new one
// passes the whole zlint registry, and the store holds it with an audit
// record. A renewal that would not extend the CA's life is refused and
// changes nothing.
func TestRenewOnSoftHSM(t *testing.T) {
	ctx := context.Background()
	cfg := hierarchyConfig("ecdsa-p384", "ecdsa-p256")
	cfg.CAs[0].Validity = config.Duration(3 * 365 * 24 * time.Hour) // the issuing CA's 5 years are cut to the root's 3
	s := newSoftHSMHierarchy(t, cfg)
	start := time.Now()
	now := start
	s.h.Now = func() time.Time { return now }
	if _, err := s.h.Init(ctx); err != nil {
		t.Fatal(err)
	}
	cas, err := s.h.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	oldRoot, oldIssuing := cas["root"].Cert(), cas["issuing"].Cert()
	leaf := signLeaf(t, cas["issuing"], start)

	unchanged := func(t *testing.T, what string) {
		t.Helper()
		for name, want := range map[string]*x509.Certificate{"root": oldRoot, "issuing": oldIssuing} {
			if rec, err := s.store.GetCA(ctx, name); err != nil || !bytes.Equal(rec.CertDER, want.Raw) {
				t.Fatalf("%s changed the stored %s certificate (%v)", what, name, err)
			}
		}
	}
	now = start.Add(365 * 24 * time.Hour)
	_, err = s.h.Renew(ctx, "issuing", 0, "test")
	if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "renew root first") {
		t.Fatalf("renewing the issuing CA before its root: %v", err)
	}
	unchanged(t, "the refused renewal")
	if _, err := s.h.Renew(ctx, "root", 24*time.Hour, "test"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "no later than its current certificate") {
		t.Fatalf("renewing the root for a day: %v", err)
	}
	unchanged(t, "the renewal for a day")
	if _, err := s.h.Renew(ctx, "nope", 0, "test"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("renewing an unknown CA: %v", err)
	}

	root, err := s.h.Renew(ctx, "root", 10*365*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := s.h.Renew(ctx, "issuing", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if !issuing.Old.Equal(oldIssuing) || !root.Old.Equal(oldRoot) {
		t.Error("Renewal.Old is not the certificate renewed")
	}
	newRoot, newIssuing := root.Renewed, issuing.Renewed
	checkCACert(t, newRoot, newRoot, -1, true)
	checkCACert(t, newIssuing, newRoot, 0, true)
	for _, pair := range [][2]*x509.Certificate{{oldRoot, newRoot}, {oldIssuing, newIssuing}} {
		o, n := pair[0], pair[1]
		if !bytes.Equal(o.RawSubject, n.RawSubject) || !bytes.Equal(o.SubjectKeyId, n.SubjectKeyId) ||
			!bytes.Equal(o.RawSubjectPublicKeyInfo, n.RawSubjectPublicKeyInfo) || o.SerialNumber.Cmp(n.SerialNumber) == 0 {
			t.Errorf("%s: the renewal changed the subject, the key or its identifier, or kept the serial", o.Subject.CommonName)
		}
	}
	if want := now.Add(10 * 365 * 24 * time.Hour).Truncate(time.Second); !newRoot.NotAfter.Equal(want) {
		t.Errorf("renewed root ends %s, want %s (now + the validity asked for)", newRoot.NotAfter, want)
	}
	if want := now.Add(5 * 365 * 24 * time.Hour).Truncate(time.Second); !newIssuing.NotAfter.Equal(want) {
		t.Errorf("renewed issuing CA ends %s, want %s (now + its validity, inside the renewed root)", newIssuing.NotAfter, want)
	}

	// The leaf issued under the old certificates chains through either
	// issuing certificate to either root.
	for _, c := range []struct{ root, issuing *x509.Certificate }{{newRoot, newIssuing}, {oldRoot, newIssuing}, {newRoot, oldIssuing}} {
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(c.root)
		inter.AddCert(c.issuing)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now.Add(time.Hour)}); err != nil {
			t.Errorf("the old leaf does not chain through issuing %s to root %s: %v", ca.SerialHex(c.issuing.SerialNumber), ca.SerialHex(c.root.SerialNumber), err)
		}
	}

	cas, err = s.h.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !cas["root"].Cert().Equal(newRoot) || !cas["issuing"].Cert().Equal(newIssuing) || !cas["issuing"].Chain()[0].Equal(newRoot) {
		t.Error("Load does not return the renewed certificates")
	}
	events, err := s.store.ListAudit(ctx, storage.AuditFilter{Serial: ca.SerialHex(newIssuing.SerialNumber)})
	if err != nil || len(events) != 1 || events[0].Action != "renew-ca" || events[0].Profile != "ca:issuing" || !bytes.Equal(events[0].DER, newIssuing.Raw) ||
		!strings.Contains(events[0].Detail, ca.SerialHex(oldIssuing.SerialNumber)) {
		t.Errorf("audit of the renewal: %+v, %v", events, err)
	}
}

// signLeaf issues a TLS server certificate under a directly, as the
// issuance core would.
func signLeaf(t *testing.T, a *ca.Authority, now time.Time) *x509.Certificate {
	t.Helper()
	return signLeafFor(t, a, now, "leaf.example.com")
}

// signLeafFor is signLeaf for the DNS name name, past the core and its
// checks.
func signLeafFor(t *testing.T, a *ca.Authority, now time.Time, name string) *x509.Certificate {
	t.Helper()
	key, err := ca.GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	serial, err := ca.NewSerial(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := ca.LeafTemplate(ca.LeafParams{DNSNames: []string{name}, NotBefore: now.Add(-time.Minute),
		NotAfter: now.Add(2 * 365 * 24 * time.Hour), IssuerKey: a.Key.Public()}, key.Public(), serial)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert(), key.Public(), a.Key.WithContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

// CAs loaded by a running gateway take up renewals from the store: the
// renewed CA its certificate, a CA below it its chain, and whatever was
// made from them (a pool, an answer) is made again on next use. A stored
// certificate for another key is refused and changes nothing.
func TestReloadOnSoftHSM(t *testing.T) {
	ctx := context.Background()
	s, running, now := startHierarchy(t)
	start := *now
	root, issuing := running["root"], running["issuing"]
	oldRoot, oldIssuing := root.Cert(), issuing.Cert()
	made := 0
	chainPEM := ca.NewDerived(func() ([]byte, error) { made++; return ca.PEMChain(issuing.Full()...), nil }, issuing)
	pool := ca.PoolOf(running)
	for range 2 {
		if _, err := chainPEM.Get(); err != nil || made != 1 {
			t.Fatalf("Derived made its value %d times for two reads (%v)", made, err)
		}
	}
	if applied, err := s.h.Reload(ctx, running); err != nil || len(applied) != 0 {
		t.Fatalf("reload with nothing renewed: %v, %v", applied, err)
	}

	*now = start.Add(24 * time.Hour)
	r, err := s.h.Renew(ctx, "root", 20*365*24*time.Hour, "test")
	if err != nil {
		t.Fatal(err)
	}
	applied, err := s.h.Reload(ctx, running)
	if err != nil || len(applied) != 1 || applied[0].CA != "root" || !applied[0].Renewed.Equal(r.Renewed) || !applied[0].Old.Equal(oldRoot) {
		t.Fatalf("reload after renewing the root: %+v, %v", applied, err)
	}
	if !root.Cert().Equal(r.Renewed) || !issuing.Cert().Equal(oldIssuing) || !issuing.Chain()[0].Equal(r.Renewed) {
		t.Error("after reloading the renewed root, the issuing CA's chain does not carry it")
	}
	if got, _ := chainPEM.Get(); made != 2 || !bytes.Contains(got, ca.PEMChain(r.Renewed)) {
		t.Errorf("the chain made from the issuing CA was not made again with the renewed root (%d makes)", made)
	}

	*now = start.Add(48 * time.Hour)
	ri, err := s.h.Renew(ctx, "issuing", 0, "test")
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := s.h.Reload(ctx, running); err != nil || len(applied) != 1 || applied[0].CA != "issuing" || !issuing.Cert().Equal(ri.Renewed) {
		t.Fatalf("reload after renewing the issuing CA: %+v, %v", applied, err)
	}
	p, _ := pool.Get()
	leaf := signLeaf(t, issuing, *now)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: p, CurrentTime: *now}); err != nil {
		t.Errorf("a leaf of the renewed issuing CA does not verify against the pool: %v", err)
	}

	// A certificate for another key in the store (a bad restore, a
	// tampered database) is refused; the CA keeps signing under its own.
	foreign := selfSigned(t, oldRoot.Subject)
	if err := s.store.ReplaceCACertificate(ctx, "root", root.Cert().Raw, foreign.Raw, nil, storage.AuditEvent{At: *now, Actor: "test", Action: "test"}); err != nil {
		t.Fatal(err)
	}
	applied, err = s.h.Reload(ctx, running)
	if err == nil || !strings.Contains(err.Error(), "another key") || len(applied) != 0 || !root.Cert().Equal(r.Renewed) {
		t.Fatalf("reload of a certificate for another key: %+v, %v; root serves %s", applied, err, ca.SerialHex(root.Cert().SerialNumber))
	}
}

// selfSigned is a CA certificate for a software key.
func selfSigned(t *testing.T, subject pkix.Name) *x509.Certificate {
	t.Helper()
	key, err := ca.GenerateKey("ecdsa-p256")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: subject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// Revoking a subordinate CA revokes every certificate of its key (the
// current one and the one it renewed) in the inventory, under the root; a
// running gateway's CAs learn it on reload, a new process on load, and the
// CA can be neither renewed nor revoked again. A root is not revoked.
func TestRevokeCAOnSoftHSM(t *testing.T) {
	ctx := context.Background()
	s, running, now := startHierarchy(t)
	start := *now
	first := running["issuing"].Cert()
	pool := ca.PoolOf(running)
	*now = start.Add(24 * time.Hour)
	if _, err := s.h.Renew(ctx, "root", 20*365*24*time.Hour, "test"); err != nil {
		t.Fatal(err)
	}
	renewed, err := s.h.Renew(ctx, "issuing", 0, "test")
	if err != nil {
		t.Fatal(err)
	}

	if _, err := s.h.Revoke(ctx, "root", 1, "test"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "is a root") {
		t.Fatalf("revoking the root: %v", err)
	}
	if _, err := s.h.Revoke(ctx, "issuing", 7, "test"); !errs.Is(err, errs.Malformed) {
		t.Fatalf("revoking with reason 7: %v", err)
	}
	r, err := s.h.Revoke(ctx, "issuing", 1, "test")
	want := []string{ca.SerialHex(renewed.Renewed.SerialNumber), ca.SerialHex(first.SerialNumber)}
	if err != nil || !slices.Equal(r.Serials, want) {
		t.Fatalf("Revoke(issuing) = %+v, %v; want serials %v (current, then the one it renewed)", r, err, want)
	}
	for _, serial := range want {
		rec, err := s.store.GetCertificate(ctx, serial)
		if err != nil || rec.Status != storage.StatusRevoked || rec.CA != "root" || rec.Profile != "ca:issuing" || rec.RevocationReason != 1 {
			t.Errorf("inventory record of %s: %+v, %v", serial, rec, err)
		}
	}
	if _, err := s.h.Revoke(ctx, "issuing", 1, "test"); !errs.Is(err, errs.Conflict) {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := s.h.Renew(ctx, "issuing", 0, "test"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("renewing a revoked CA: %v", err)
	}

	if _, err := s.h.Reload(ctx, running); err != nil {
		t.Fatal(err)
	}
	if rv := running["issuing"].Certified().Revoked; rv == nil || rv.CA != "issuing" || rv.Reason != 1 || running["root"].Certified().Revoked != nil {
		t.Errorf("after reload: issuing revoked %+v, root revoked %+v", rv, running["root"].Certified().Revoked)
	}
	// A client certificate issued under the revoked CA authenticates
	// nothing: its CA is out of the pool of the gateway's CAs.
	roots, _ := pool.Get()
	if _, err := signLeaf(t, running["issuing"], *now).Verify(x509.VerifyOptions{Roots: roots, CurrentTime: *now}); err == nil {
		t.Error("a leaf of the revoked CA verifies against the pool of the gateway's CAs")
	}
	loaded, err := s.h.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if loaded["issuing"].Certified().Revoked == nil {
		t.Error("a new load does not know the CA is revoked")
	}
}

// startHierarchy initialises two ECDSA P-256 CAs, root and issuing, in a
// fresh token and loads them as a running gateway would. The hierarchy's
// clock reads *now.
func startHierarchy(t *testing.T) (*softHSMHierarchy, map[string]*ca.Authority, *time.Time) {
	t.Helper()
	s := newSoftHSMHierarchy(t, hierarchyConfig("ecdsa-p256", "ecdsa-p256"))
	now := time.Now()
	s.h.Now = func() time.Time { return now }
	if _, err := s.h.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	running, err := s.h.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s, running, &now
}
