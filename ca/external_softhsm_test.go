package ca_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// externalConfig is a hierarchy under an external root: the CA
// "intermediate" is certified outside the gateway, "issuing" under it.
func externalConfig() *config.Config {
	return &config.Config{
		Listen: config.Listen{PublicURL: "http://pki.example.com:8080"},
		CAs: []config.CA{
			{Name: "intermediate", External: true, Key: config.Key{Type: "ecdsa-p384", Label: "intermediate-key"},
				Subject:         config.Subject{CommonName: "Corp Gateway Intermediate", Organization: "Corp", Country: "DE"},
				NameConstraints: &config.NameConstraints{Permitted: config.NameSubtrees{DNS: []string{"corp.example"}}}},
			{Name: "issuing", Parent: "intermediate", Key: config.Key{Type: "ecdsa-p256", Label: "issuing-key"}, Validity: config.Duration(365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "Corp Gateway Issuing", Organization: "Corp", Country: "DE"}},
		},
	}
}

// offlineRoot is the external CA, run with openssl as an operator would
// at an offline root: a self-signed root key and certificate in dir.
type offlineRoot struct {
	t   *testing.T
	dir string
}

func newOfflineRoot(t *testing.T, cn string) *offlineRoot {
	t.Helper()
	return newOfflineRootWith(t, cn, "basicConstraints=critical,CA:TRUE")
}

// newOfflineRootWith makes a root whose basicConstraints are bc.
func newOfflineRootWith(t *testing.T, cn, bc string) *offlineRoot {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed to act as the external root CA (make test installs it):", err)
	}
	r := &offlineRoot{t: t, dir: t.TempDir()}
	r.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes",
		"-keyout", r.path("root.key"), "-out", r.path("root.pem"), "-subj", "/CN="+cn+"/O=Corp/C=DE", "-days", "3650",
		"-addext", bc, "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	return r
}

func (r *offlineRoot) path(name string) string { return filepath.Join(r.dir, name) }

func (r *offlineRoot) openssl(args ...string) {
	r.t.Helper()
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		r.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// sign certifies the request csr (DER) with extensions ext (an openssl
// extension section's lines) and returns the certificate's PEM.
func (r *offlineRoot) sign(csr []byte, ext string, more ...string) []byte {
	r.t.Helper()
	in, out, extFile := r.path("req.csr"), r.path("signed.pem"), r.path("ext.cnf")
	writeTestFile(r.t, in, ca.RequestPEM(csr))
	args := []string{"x509", "-req", "-in", in, "-CA", r.path("root.pem"), "-CAkey", r.path("root.key"), "-set_serial", "0x" + randomHex(r.t),
		"-days", "1825", "-sha384", "-out", out}
	if ext != "" {
		writeTestFile(r.t, extFile, []byte("[ext]\n"+ext+"\n"))
		args = append(args, "-extfile", extFile, "-extensions", "ext")
	}
	r.openssl(append(args, more...)...)
	pemBytes, err := os.ReadFile(out)
	if err != nil {
		r.t.Fatal(err)
	}
	return pemBytes
}

func (r *offlineRoot) cert() []byte {
	b, err := os.ReadFile(r.path("root.pem"))
	if err != nil {
		r.t.Fatal(err)
	}
	return b
}

const caExt = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid"

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func randomHex(t *testing.T) string {
	n, err := ca.NewSerial(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return n.Text(16)
}

// An external CA gets its key in the token and a request at init; the
// CAs under it wait. The certificate an offline root (openssl) issues for
// the request is imported with the root, after which init creates the
// CAs under it, and leaves issued under them verify with openssl up to
// the external root. A later certificate for the same key is imported
// and reloaded by running CAs, the CA under it with its new chain.
func TestExternalCAOnSoftHSM(t *testing.T) {
	ctx := context.Background()
	s := newSoftHSMHierarchy(t, externalConfig())
	res, err := s.h.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Created) != 0 || len(res.Waiting) != 2 || res.Waiting[0].Name != "intermediate" || res.Waiting[0].CSR == nil ||
		!reflect.DeepEqual(res.Waiting[1], ca.WaitingCA{Name: "issuing", Under: "intermediate"}) {
		t.Fatalf("Init() = %+v, want intermediate waiting with a request and issuing under it", res)
	}
	if _, err := s.h.Load(ctx); err == nil {
		t.Fatal("Load() succeeded while the external CA waits for its certificate")
	}
	csr, err := x509.ParseCertificateRequest(res.Waiting[0].CSR)
	if err != nil {
		t.Fatal(err)
	}
	if err := csr.CheckSignature(); err != nil {
		t.Fatal("request signature:", err)
	}
	if csr.Subject.CommonName != "Corp Gateway Intermediate" || ca.KeyTypeOf(csr.PublicKey) != "ecdsa-p384" {
		t.Errorf("request for %s with a %s key", csr.Subject, ca.KeyTypeOf(csr.PublicKey))
	}
	// The request asks for the configured name constraints, critical:
	// openssl x509 -req -copy_extensions copies them into the certificate.
	root := newOfflineRoot(t, "Corp Offline Root")
	copied := root.sign(res.Waiting[0].CSR, "", "-copy_extensions", "copyall")
	if c, err := ca.ParseCertificates(copied); err != nil || !reflect.DeepEqual(c[0].PermittedDNSDomains, []string{"corp.example"}) || !c[0].PermittedDNSDomainsCritical || !c[0].IsCA {
		t.Errorf("the request's extensions copied by openssl: %v, %+v", err, c)
	}
	// Init again: the same key, no second one.
	again, err := s.h.Init(ctx)
	if err != nil {
		t.Fatal(err)
	}
	csr2, _ := x509.ParseCertificateRequest(again.Waiting[0].CSR)
	if !csr2.PublicKey.(*ecdsa.PublicKey).Equal(csr.PublicKey) {
		t.Fatal("a second init made another key")
	}

	signed := root.sign(res.Waiting[0].CSR, caExt)

	// What is refused stores nothing and says why.
	other := newOfflineRoot(t, "Other Root")
	// A root that allows one CA below it: the intermediate, but not the
	// issuing CA configured under it.
	short := newOfflineRootWith(t, "Short Root", "basicConstraints=critical,CA:TRUE,pathlen:1")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("not a certificate"), "neither PEM nor DER"},
		{"no root", signed, "no self-signed root"},
		{"root only", root.cert(), "none of the 1 certificates certifies its key"},
		{"another root", append(append([]byte{}, signed...), other.cert()...), "does not chain to the root"},
		{"not a CA", append(root.sign(res.Waiting[0].CSR, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature"), root.cert()...), "not a CA certificate"},
		{"no cRLSign", append(root.sign(res.Waiting[0].CSR, "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign"), root.cert()...), "cRLSign"},
		{"no room for issuing", append(root.sign(res.Waiting[0].CSR, "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign"), root.cert()...), "allows 0 CAs below it"},
		{"no room for issuing under the root", append(short.sign(res.Waiting[0].CSR, caExt), short.cert()...), "CN=Short Root,O=Corp,C=DE above it allows 1 CAs below it (pathLenConstraint), but the chain and the configuration put 2 there"},
		{"a private key", append(append([]byte{}, signed...), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")...), `"PRIVATE KEY", not a CERTIFICATE`},
	} {
		_, err := s.h.Import(ctx, "intermediate", tc.data, "test")
		if !errs.Is(err, errs.Malformed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Import() = %v, want Malformed saying %q", tc.name, err, tc.want)
		}
	}
	if cas, _ := s.store.ListCAs(ctx); len(cas) != 0 {
		t.Fatalf("refused imports stored %d CAs", len(cas))
	}
	if _, err := s.h.Import(ctx, "issuing", signed, "test"); !errs.Is(err, errs.Conflict) {
		t.Errorf("Import() of a CA the gateway certifies = %v, want Conflict", err)
	}

	// The chain may come in any order, in one file.
	im, err := s.h.Import(ctx, "intermediate", append(root.cert(), signed...), "test")
	if err != nil {
		t.Fatal(err)
	}
	if im.Replaces != nil || !reflect.DeepEqual(im.Uncreated, []string{"issuing"}) || len(im.Chain) != 1 || im.Chain[0].Subject.CommonName != "Corp Offline Root" {
		t.Fatalf("Import() = %+v", im)
	}
	// openssl's certificate has no certificatePolicies, which the BRs
	// want in a subordinate CA, nor the name constraints asked for: said,
	// and installed all the same.
	if !strings.Contains(im.Lint, "e_sub_ca_certificate_policies_missing") || !strings.Contains(im.Lint, "none of the name constraints") {
		t.Errorf("Import().Lint = %q, want the missing policies found", im.Lint)
	}
	events, err := s.store.ListAudit(ctx, storage.AuditFilter{Profile: "ca:intermediate"})
	if err != nil || len(events) != 1 || events[0].Action != "import-ca" || !bytes.Equal(events[0].DER, im.Cert.Raw) {
		t.Fatalf("audit of the import: %+v, %v", events, err)
	}
	res, err = s.h.Init(ctx)
	if err != nil || !reflect.DeepEqual(res.Created, []string{"issuing"}) || len(res.Waiting) != 0 {
		t.Fatalf("Init() after the import = %+v, %v", res, err)
	}
	cas, err := s.h.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// It stays external: configured as a root of the gateway's, it is
	// refused (TestCAKeepsItsOrigin has the other ways round).
	asRoot := externalConfig()
	asRoot.CAs[0].External, asRoot.CAs[0].Validity = false, config.Duration(365*24*time.Hour)
	cfg := s.h.Config
	s.h.Config = asRoot
	if _, err := s.h.Load(ctx); !errs.Is(err, errs.Config) || !strings.Contains(err.Error(), "configured as certified by itself, a root (no parent), but the store holds it certified by an external CA") {
		t.Errorf("Load() with the external CA configured as a root: %v", err)
	}
	s.h.Config = cfg
	inter, issuing := cas["intermediate"], cas["issuing"]
	if !inter.External || issuing.External {
		t.Error("External is not set on the external CA alone")
	}
	if got := issuing.Full(); len(got) != 3 || !got[1].Equal(im.Cert) || !got[2].Equal(im.Chain[0]) {
		t.Fatalf("issuing's chain: %d certificates", len(got))
	}
	verifyWithOpenSSL(t, root.path("root.pem"), signLeaf(t, issuing, time.Now()), issuing.Full()[:2]...)

	// Renewal and revocation are the external CA's.
	if _, err := s.h.Renew(ctx, "intermediate", 0, "test"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "gateway ca import") {
		t.Errorf("Renew() = %v, want Conflict pointing at ca import", err)
	}
	if _, err := s.h.Revoke(ctx, "intermediate", 1, "test"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "revoke it there") {
		t.Errorf("Revoke() = %v, want Conflict", err)
	}

	// A new certificate for the key, from the request Request makes now
	// (the subject of the current certificate), replaces the old one.
	req, err := s.h.Request(ctx, "intermediate")
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := x509.ParseCertificateRequest(req); r == nil || !bytes.Equal(r.RawSubject, im.Cert.RawSubject) {
		t.Fatal("the renewal request does not name the current subject")
	}
	if _, err := s.h.Import(ctx, "intermediate", append(signed, root.cert()...), "test"); !errs.Is(err, errs.Conflict) {
		t.Errorf("Import() of the current certificate again = %v, want Conflict", err)
	}
	renewed := root.sign(req, caExt)
	im2, err := s.h.Import(ctx, "intermediate", append(renewed, root.cert()...), "test")
	if err != nil {
		t.Fatal(err)
	}
	if im2.Replaces == nil || !im2.Replaces.Equal(im.Cert) || len(im2.Uncreated) != 0 {
		t.Fatalf("second Import() = %+v", im2)
	}
	applied, err := s.h.Reload(ctx, cas)
	if err != nil || len(applied) != 1 || applied[0].CA != "intermediate" {
		t.Fatalf("Reload() = %+v, %v", applied, err)
	}
	if got := issuing.Chain(); !got[0].Equal(im2.Cert) || !got[1].Equal(im.Chain[0]) {
		t.Error("issuing's chain was not reloaded with the new intermediate certificate")
	}
	verifyWithOpenSSL(t, root.path("root.pem"), signLeaf(t, issuing, time.Now()), issuing.Full()[:2]...)

	// Another subject for the same key is refused: what the CA issued
	// would not chain to it.
	key := inter.Key
	if _, err := s.h.Import(ctx, "intermediate", foreignSubject(t, key.Public()), "test"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "subject") {
		t.Errorf("Import() of another subject = %v, want Conflict", err)
	}
}

// foreignSubject is a CA certificate for pub under another subject than
// the CA's, with its (Go-made) root, as PEM.
func foreignSubject(t *testing.T, pub crypto.PublicKey) []byte {
	t.Helper()
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Go Root"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	rootCert, _ := x509.ParseCertificate(rootDER)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Someone Else"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(12 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, rootCert, pub, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
}

// verifyWithOpenSSL runs openssl verify on leaf with the trust anchor in
// rootFile and the CAs between them.
func verifyWithOpenSSL(t *testing.T, rootFile string, leaf *x509.Certificate, between ...*x509.Certificate) {
	t.Helper()
	dir := t.TempDir()
	untrusted, leafFile := filepath.Join(dir, "untrusted.pem"), filepath.Join(dir, "leaf.pem")
	writeTestFile(t, untrusted, ca.PEMChain(between...))
	writeTestFile(t, leafFile, ca.PEMChain(leaf))
	out, err := exec.Command("openssl", "verify", "-CAfile", rootFile, "-untrusted", untrusted, leafFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
}
