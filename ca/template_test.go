package ca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
)

// testNow pins the clock: zlint picks lints by the certificate's NotBefore,
// so a fixed date keeps the verdicts stable as the calendar moves on (see
// TestLintRejectsBadCertificates for what changes on 2027-03-15).
var testNow = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

type keyKind string

const (
	kindP256    keyKind = "P-256"
	kindP384    keyKind = "P-384"
	kindRSA2048 keyKind = "RSA-2048"
	kindRSA3072 keyKind = "RSA-3072"
	kindRSA4096 keyKind = "RSA-4096"
	kindEd25519 keyKind = "Ed25519"
)

var (
	caKinds   = []keyKind{kindP256, kindP384, kindRSA2048, kindRSA3072, kindRSA4096}
	leafKinds = append(append([]keyKind(nil), caKinds...), kindEd25519)
)

// testKeys generates each kind of key once per test binary: RSA 4096 takes
// seconds, and the tests need the same few keys many times.
var testKeys = struct {
	sync.Mutex
	m map[keyKind]crypto.Signer
}{m: map[keyKind]crypto.Signer{}}

func testKey(t testing.TB, k keyKind) crypto.Signer {
	t.Helper()
	testKeys.Lock()
	defer testKeys.Unlock()
	if s, ok := testKeys.m[k]; ok {
		return s
	}
	s := newKey(t, k)
	testKeys.m[k] = s
	return s
}

// newKey returns a fresh key of kind k.
func newKey(t testing.TB, k keyKind) crypto.Signer {
	t.Helper()
	var (
		s   crypto.Signer
		err error
	)
	switch k {
	case kindP256:
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case kindP384:
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case kindRSA2048:
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	case kindRSA3072:
		s, err = rsa.GenerateKey(rand.Reader, 3072)
	case kindRSA4096:
		s, err = rsa.GenerateKey(rand.Reader, 4096)
	case kindEd25519:
		_, s, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", k)
	}
	if err != nil {
		t.Fatalf("generate %s key: %v", k, err)
	}
	return s
}

func testSerial(t testing.TB) *big.Int {
	t.Helper()
	s, err := NewSerial(rand.Reader)
	if err != nil {
		t.Fatalf("NewSerial: %v", err)
	}
	return s
}

func rootParams(pub crypto.PublicKey) CAParams {
	return CAParams{
		Subject: pkix.Name{
			CommonName:   "Example Root CA",
			Organization: []string{"Example Org"},
			Country:      []string{"US"},
		},
		NotBefore:  testNow.Add(-time.Minute),
		NotAfter:   testNow.AddDate(20, 0, 0),
		MaxPathLen: -1,
		PublicKey:  pub,
	}
}

func subParams(pub, issuerPub crypto.PublicKey) CAParams {
	return CAParams{
		Subject: pkix.Name{
			CommonName:   "Example Issuing CA",
			Organization: []string{"Example Org"},
			Country:      []string{"US"},
		},
		NotBefore:  testNow.Add(-time.Minute),
		NotAfter:   testNow.AddDate(8, 0, 0),
		MaxPathLen: 0,
		PublicKey:  pub,
		IssuerKey:  issuerPub,
		CRLURLs:    []string{"http://pki.example.com/crl/root.crl"},
		OCSPURL:    "http://pki.example.com/ocsp/root",
		IssuerURL:  "http://pki.example.com/ca/root.crt",
	}
}

// leafParams is the TLS leaf the gateway issues by default: serverAuth and
// clientAuth, DNS and IP SANs, 90 days, no subject (BR 7.1.2.7.1: commonName
// NOT RECOMMENDED).
func leafParams(issuerPub crypto.PublicKey) LeafParams {
	return LeafParams{
		DNSNames:    []string{"www.example.com", "example.com"},
		IPAddresses: []net.IP{net.ParseIP("93.184.215.14"), net.ParseIP("2606:2800:21f:cb07:6820:80da:af6b:8b2c")},
		NotBefore:   testNow.Add(-time.Minute),
		NotAfter:    testNow.Add(-time.Minute).Add(90 * 24 * time.Hour),
		IssuerKey:   issuerPub,
		CRLURLs:     []string{"http://pki.example.com/crl/issuing.crl"},
		OCSPURL:     "http://pki.example.com/ocsp/issuing",
		IssuerURL:   "http://pki.example.com/ca/issuing.crt",
	}
}

// hierarchy is a root and an issuing CA signed with software keys.
type hierarchy struct {
	rootKey, issKey crypto.Signer
	root, iss       *x509.Certificate
}

func newHierarchy(t testing.TB, rootKind, issKind keyKind) hierarchy {
	t.Helper()
	h := hierarchy{rootKey: testKey(t, rootKind), issKey: testKey(t, issKind)}
	rt, err := RootTemplate(rootParams(h.rootKey.Public()), testSerial(t))
	if err != nil {
		t.Fatalf("RootTemplate: %v", err)
	}
	h.root = sign(t, rt, nil, h.rootKey.Public(), h.rootKey)
	st, err := SubordinateTemplate(subParams(h.issKey.Public(), h.rootKey.Public()), testSerial(t))
	if err != nil {
		t.Fatalf("SubordinateTemplate: %v", err)
	}
	h.iss = sign(t, st, h.root, h.issKey.Public(), h.rootKey)
	return h
}

// sign signs template with a software key, as the HSM will; parent nil means
// self-signed.
func sign(t testing.TB, template, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = template
	}
	der, err := x509.CreateCertificate(rand.Reader, template, parent, pub, key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	return c
}

func (h hierarchy) leaf(t testing.TB, p LeafParams, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	lt, err := LeafTemplate(p, pub, testSerial(t))
	if err != nil {
		t.Fatalf("LeafTemplate: %v", err)
	}
	return sign(t, lt, h.iss, pub, h.issKey)
}

// findings returns the findings in a lint gate error, and fails the test on
// any other error.
func findings(t testing.TB, err error) []Finding {
	t.Helper()
	if err == nil {
		return nil
	}
	var le *LintError
	if !errors.As(err, &le) {
		t.Fatalf("lint: not a *LintError: %v", err)
	}
	if !errs.Is(err, errs.Config) {
		t.Fatalf("lint error kind = %v, want config", errs.KindOf(err))
	}
	return le.Findings
}

func lintNames(fs []Finding) []string {
	var names []string
	for _, f := range fs {
		names = append(names, f.Lint)
	}
	return names
}

// TestHierarchyPassesZlint is the acceptance test of the templates: for every
// combination of root, issuing CA and leaf key, the root and the issuing CA
// pass the full zlint registry with no warning, error or fatal, and so does
// the TLS leaf (a client leaf for Ed25519) except for the one warning no
// leaf can avoid (TestLeafSubjectKeyIdentifierConflict); with the default
// exclusions the leaf passes clean.
func TestHierarchyPassesZlint(t *testing.T) {
	full, err := NewLinter(nil, nil)
	if err != nil {
		t.Fatalf("NewLinter: %v", err)
	}
	unavoidable := "w_ext_subject_key_identifier_missing_sub_cert"
	gate, err := NewLinter(nil, DefaultExcludedLints())
	if err != nil {
		t.Fatalf("NewLinter(defaults): %v", err)
	}
	for _, rk := range caKinds {
		for _, ik := range caKinds {
			t.Run(fmt.Sprintf("root=%s/issuing=%s", rk, ik), func(t *testing.T) {
				h := newHierarchy(t, rk, ik)
				if fs := findings(t, full.LintCertificate(h.root.Raw)); len(fs) > 0 {
					t.Fatalf("root findings: %v", fs)
				}
				if fs := findings(t, full.LintCertificate(h.iss.Raw)); len(fs) > 0 {
					t.Fatalf("issuing CA findings: %v", fs)
				}
				for _, lk := range leafKinds {
					p := leafParams(h.issKey.Public())
					if lk == kindEd25519 {
						// BR 7.1.3.1 admits only RSA and ECDSA keys
						// in TLS server certificates
						// (e_algorithm_identifier_improper_encoding),
						// so Ed25519 is for client certificates.
						p.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
					}
					leaf := h.leaf(t, p, testKey(t, lk).Public())
					fs := findings(t, full.LintCertificate(leaf.Raw))
					if len(fs) != 1 || fs[0].Lint != unavoidable {
						t.Fatalf("leaf %s: full registry findings %v, want only %s", lk, fs, unavoidable)
					}
					if err := gate.LintCertificate(leaf.Raw); err != nil {
						t.Fatalf("leaf %s: default gate: %v", lk, err)
					}
				}
			})
		}
	}
}

func TestCATemplates(t *testing.T) {
	for _, rk := range caKinds {
		for _, ik := range []keyKind{kindP256, kindP384, kindRSA2048} {
			t.Run(fmt.Sprintf("root=%s/issuing=%s", rk, ik), func(t *testing.T) {
				h := newHierarchy(t, rk, ik)

				// Root: CA:TRUE without pathlen, KU keyCertSign|cRLSign|
				// digitalSignature, SKI by method 1, no AKI, no EKU, no
				// policies, no URLs, self-signed with its own algorithm.
				r := h.root
				checkCA(t, "root", r, -1)
				if len(r.AuthorityKeyId) != 0 {
					t.Fatalf("root has AKI %x", r.AuthorityKeyId)
				}
				if len(r.PolicyIdentifiers) != 0 || len(r.CRLDistributionPoints) != 0 || len(r.OCSPServer) != 0 || len(r.IssuingCertificateURL) != 0 {
					t.Fatalf("root has policies %v CDP %v OCSP %v AIA %v", r.PolicyIdentifiers, r.CRLDistributionPoints, r.OCSPServer, r.IssuingCertificateURL)
				}
				if err := r.CheckSignatureFrom(r); err != nil {
					t.Fatalf("root self-signature: %v", err)
				}
				checkSigAlg(t, "root", r, h.rootKey.Public())

				// Issuing CA: pathlen 0, AKI = root SKI, anyPolicy, URLs.
				s := h.iss
				checkCA(t, "issuing", s, 0)
				if !bytes.Equal(s.AuthorityKeyId, r.SubjectKeyId) {
					t.Fatalf("issuing AKI %x, root SKI %x", s.AuthorityKeyId, r.SubjectKeyId)
				}
				if len(s.PolicyIdentifiers) != 1 || !s.PolicyIdentifiers[0].Equal(oidAnyPolicy) {
					t.Fatalf("issuing policies %v, want anyPolicy", s.PolicyIdentifiers)
				}
				want := subParams(nil, nil)
				if fmt.Sprint(s.CRLDistributionPoints) != fmt.Sprint(want.CRLURLs) ||
					fmt.Sprint(s.OCSPServer) != fmt.Sprint([]string{want.OCSPURL}) ||
					fmt.Sprint(s.IssuingCertificateURL) != fmt.Sprint([]string{want.IssuerURL}) {
					t.Fatalf("issuing URLs CDP %v OCSP %v AIA %v", s.CRLDistributionPoints, s.OCSPServer, s.IssuingCertificateURL)
				}
				if err := s.CheckSignatureFrom(r); err != nil {
					t.Fatalf("issuing signature: %v", err)
				}
				checkSigAlg(t, "issuing", s, h.rootKey.Public())
			})
		}
	}
}

// checkCA checks what roots and subordinates share.
func checkCA(t *testing.T, name string, c *x509.Certificate, pathLen int) {
	t.Helper()
	if !c.BasicConstraintsValid || !c.IsCA {
		t.Fatalf("%s: basicConstraints valid=%v CA=%v", name, c.BasicConstraintsValid, c.IsCA)
	}
	gotPathLen := c.MaxPathLen
	if gotPathLen == 0 && !c.MaxPathLenZero {
		gotPathLen = -1
	}
	if gotPathLen != pathLen {
		t.Fatalf("%s: pathlen %d (zero=%v), want %d", name, c.MaxPathLen, c.MaxPathLenZero, pathLen)
	}
	wantKU := x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	if c.KeyUsage != wantKU {
		t.Fatalf("%s: key usage %b, want %b", name, c.KeyUsage, wantKU)
	}
	for _, oid := range []asn1.ObjectIdentifier{{2, 5, 29, 19}, {2, 5, 29, 15}} {
		if e := extension(c, oid); e == nil || !e.Critical {
			t.Fatalf("%s: extension %v missing or not critical", name, oid)
		}
	}
	if len(c.ExtKeyUsage) != 0 || len(c.UnknownExtKeyUsage) != 0 || extension(c, asn1.ObjectIdentifier{2, 5, 29, 37}) != nil {
		t.Fatalf("%s: has an EKU extension", name)
	}
	if want := method1(t, c); !bytes.Equal(c.SubjectKeyId, want) {
		t.Fatalf("%s: SKI %x, want method 1 value %x", name, c.SubjectKeyId, want)
	}
}

func extension(c *x509.Certificate, oid asn1.ObjectIdentifier) *pkix.Extension {
	for i := range c.Extensions {
		if c.Extensions[i].Id.Equal(oid) {
			return &c.Extensions[i]
		}
	}
	return nil
}

// method1 computes RFC 5280 4.2.1.2 method 1 from the certificate's own
// SubjectPublicKeyInfo, independently of SubjectKeyID.
func method1(t *testing.T, c *x509.Certificate) []byte {
	t.Helper()
	var spki struct {
		Algorithm asn1.RawValue
		Key       asn1.BitString
	}
	if _, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &spki); err != nil {
		t.Fatalf("parse SPKI: %v", err)
	}
	sum := sha1.Sum(spki.Key.Bytes)
	return sum[:]
}

func checkSigAlg(t *testing.T, name string, c *x509.Certificate, issuerPub crypto.PublicKey) {
	t.Helper()
	want := map[string]x509.SignatureAlgorithm{
		"P-256": x509.ECDSAWithSHA256, "P-384": x509.ECDSAWithSHA384, "RSA": x509.SHA256WithRSA,
	}[pubKind(issuerPub)]
	if c.SignatureAlgorithm != want {
		t.Fatalf("%s: signature algorithm %v, want %v for %s issuer", name, c.SignatureAlgorithm, want, pubKind(issuerPub))
	}
}

func pubKind(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return k.Curve.Params().Name
	case *rsa.PublicKey:
		return "RSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// TestSubjectKeyIDKnownAnswer checks method 1 against OpenSSL
// (`openssl req -x509 -addext subjectKeyIdentifier=hash`), so that the
// identifier does not merely agree with itself.
func TestSubjectKeyIDKnownAnswer(t *testing.T) {
	const pubPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE4n1P7fGkm+MQw1o7/o5Z3SIEL/Wp
zzNTnfFjwQC1gcifxL9h1HjELAWz1991FpnU/cApinkgosuLpb7hXp6E8A==
-----END PUBLIC KEY-----`
	const want = "0b70072a0c4ed1f50e457486d464514f625b1133"
	block, _ := pem.Decode([]byte(pubPEM))
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatalf("parse key: %v", err)
	}
	got, err := SubjectKeyID(pub)
	if err != nil {
		t.Fatalf("SubjectKeyID: %v", err)
	}
	if hex.EncodeToString(got) != want {
		t.Fatalf("SubjectKeyID = %x, want %s", got, want)
	}
}

func TestSignatureAlgorithmFor(t *testing.T) {
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		want    x509.SignatureAlgorithm
		wantErr bool
	}{
		{"P-256", testKey(t, kindP256).Public(), x509.ECDSAWithSHA256, false},
		{"P-384", testKey(t, kindP384).Public(), x509.ECDSAWithSHA384, false},
		{"RSA-2048", testKey(t, kindRSA2048).Public(), x509.SHA256WithRSA, false},
		{"RSA-3072", testKey(t, kindRSA3072).Public(), x509.SHA256WithRSA, false},
		{"RSA-4096", testKey(t, kindRSA4096).Public(), x509.SHA256WithRSA, false},
		{"Ed25519", testKey(t, kindEd25519).Public(), x509.PureEd25519, false},
		{"P-224", p224.Public(), 0, true},
		{"nil", nil, 0, true},
		{"string", "not a key", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SignatureAlgorithmFor(tc.pub)
			if tc.wantErr {
				if err == nil || !errs.Is(err, errs.Config) {
					t.Fatalf("SignatureAlgorithmFor = %v, %v; want a config error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SignatureAlgorithmFor = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestLeafTemplate(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	for _, lk := range leafKinds {
		t.Run(string(lk), func(t *testing.T) {
			pub := testKey(t, lk).Public()
			leaf := h.leaf(t, leafParams(h.issKey.Public()), pub)
			wantKU := x509.KeyUsageDigitalSignature
			if strings.HasPrefix(string(lk), "RSA") {
				wantKU |= x509.KeyUsageKeyEncipherment
			}
			if leaf.KeyUsage != wantKU {
				t.Fatalf("key usage %b, want %b", leaf.KeyUsage, wantKU)
			}
			if fmt.Sprint(leaf.ExtKeyUsage) != fmt.Sprint([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
				t.Fatalf("EKU %v, want serverAuth, clientAuth", leaf.ExtKeyUsage)
			}
			if !leaf.BasicConstraintsValid || leaf.IsCA {
				t.Fatalf("basicConstraints valid=%v CA=%v, want CA:FALSE", leaf.BasicConstraintsValid, leaf.IsCA)
			}
			if len(leaf.SubjectKeyId) != 0 {
				t.Fatalf("leaf has SKI %x", leaf.SubjectKeyId)
			}
			if !bytes.Equal(leaf.AuthorityKeyId, h.iss.SubjectKeyId) {
				t.Fatalf("leaf AKI %x, issuing SKI %x", leaf.AuthorityKeyId, h.iss.SubjectKeyId)
			}
			if len(leaf.PolicyIdentifiers) != 1 || !leaf.PolicyIdentifiers[0].Equal(oidDomainValidated) {
				t.Fatalf("policies %v, want DV", leaf.PolicyIdentifiers)
			}
			if got := leaf.NotAfter.Sub(leaf.NotBefore); got != 90*24*time.Hour {
				t.Fatalf("validity %v, want 90 days", got)
			}
			// An empty subject makes the SAN extension critical
			// (RFC 5280 4.2.1.6).
			if e := extension(leaf, asn1.ObjectIdentifier{2, 5, 29, 17}); e == nil || !e.Critical {
				t.Fatalf("SAN missing or not critical with an empty subject")
			}
			checkSigAlg(t, "leaf", leaf, h.issKey.Public())
			if _, err := leaf.Verify(x509.VerifyOptions{
				DNSName:       "www.example.com",
				Roots:         pool(h.root),
				Intermediates: pool(h.iss),
				CurrentTime:   testNow,
			}); err != nil {
				t.Fatalf("verify leaf: %v", err)
			}
		})
	}

	t.Run("organization means OV", func(t *testing.T) {
		p := leafParams(h.issKey.Public())
		p.Subject = pkix.Name{Organization: []string{"Example Org"}, Country: []string{"US"}, Locality: []string{"Springfield"}}
		leaf := h.leaf(t, p, testKey(t, kindP256).Public())
		if len(leaf.PolicyIdentifiers) != 1 || !leaf.PolicyIdentifiers[0].Equal(oidOrganizationValidated) {
			t.Fatalf("policies %v, want OV", leaf.PolicyIdentifiers)
		}
	})
	t.Run("client-only leaf has no CABF policy", func(t *testing.T) {
		p := leafParams(h.issKey.Public())
		p.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		leaf := h.leaf(t, p, testKey(t, kindEd25519).Public())
		if len(leaf.PolicyIdentifiers) != 0 || len(leaf.Policies) != 0 {
			t.Fatalf("policies %v, want none", leaf.PolicyIdentifiers)
		}
	})
	t.Run("explicit KU and EKU", func(t *testing.T) {
		p := leafParams(h.issKey.Public())
		p.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement
		p.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		leaf := h.leaf(t, p, testKey(t, kindP256).Public())
		if leaf.KeyUsage != p.KeyUsage || fmt.Sprint(leaf.ExtKeyUsage) != fmt.Sprint(p.ExtKeyUsage) {
			t.Fatalf("KU %b EKU %v, want %b %v", leaf.KeyUsage, leaf.ExtKeyUsage, p.KeyUsage, p.ExtKeyUsage)
		}
	})
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// TestIssuingCAVouchesForOCSPResponder is why the issuing CA has no EKU: Go's
// verifier requires each EKU of a leaf to be allowed by every CA above it,
// so a delegated OCSP responder (id-kp-OCSPSigning) chains to an issuing CA
// without EKU, and not to one limited to serverAuth and clientAuth.
func TestIssuingCAVouchesForOCSPResponder(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	responderKey := testKey(t, kindP256)
	responder := func(issuer *x509.Certificate, issuerKey crypto.Signer) *x509.Certificate {
		t.Helper()
		tmpl := &x509.Certificate{
			SerialNumber: testSerial(t),
			Subject:      pkix.Name{CommonName: "Example Issuing CA OCSP Responder", Organization: []string{"Example Org"}},
			NotBefore:    testNow.Add(-time.Minute),
			NotAfter:     testNow.AddDate(0, 0, 30),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		}
		return sign(t, tmpl, issuer, responderKey.Public(), issuerKey)
	}
	opts := func(intermediate *x509.Certificate) x509.VerifyOptions {
		return x509.VerifyOptions{
			Roots:         pool(h.root),
			Intermediates: pool(intermediate),
			CurrentTime:   testNow,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		}
	}
	if _, err := responder(h.iss, h.issKey).Verify(opts(h.iss)); err != nil {
		t.Fatalf("responder under the issuing CA does not verify: %v", err)
	}

	// The counterfactual: an issuing CA constrained to TLS.
	st, err := SubordinateTemplate(subParams(h.issKey.Public(), h.rootKey.Public()), testSerial(t))
	if err != nil {
		t.Fatal(err)
	}
	st.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	constrained := sign(t, st, h.root, h.issKey.Public(), h.rootKey)
	if _, err := responder(constrained, h.issKey).Verify(opts(constrained)); err == nil {
		t.Fatalf("responder under a serverAuth+clientAuth issuing CA verified; the EKU trade-off in SubordinateTemplate is stale")
	}
}

func TestTemplateErrors(t *testing.T) {
	root := testKey(t, kindP384).Public()
	iss := testKey(t, kindP256).Public()
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial := big.NewInt(1)
	tests := []struct {
		name string
		make func() error
		kind errs.Kind
	}{
		{"root nil serial", func() error { _, err := RootTemplate(rootParams(root), nil); return err }, errs.Internal},
		{"root zero serial", func() error { _, err := RootTemplate(rootParams(root), big.NewInt(0)); return err }, errs.Internal},
		{"root 21-octet serial", func() error {
			_, err := RootTemplate(rootParams(root), new(big.Int).Lsh(big.NewInt(1), 159))
			return err
		}, errs.Internal},
		{"root no key", func() error { _, err := RootTemplate(rootParams(nil), serial); return err }, errs.Internal},
		{"root pathlen -2", func() error {
			p := rootParams(root)
			p.MaxPathLen = -2
			_, err := RootTemplate(p, serial)
			return err
		}, errs.Config},
		{"root NotAfter before NotBefore", func() error {
			p := rootParams(root)
			p.NotAfter = p.NotBefore.Add(-time.Second)
			_, err := RootTemplate(p, serial)
			return err
		}, errs.Config},
		{"root zero NotBefore", func() error {
			p := rootParams(root)
			p.NotBefore = time.Time{}
			_, err := RootTemplate(p, serial)
			return err
		}, errs.Config},
		{"root unsupported key", func() error { _, err := RootTemplate(rootParams(p224.Public()), serial); return err }, errs.Config},
		{"sub no issuer key", func() error { _, err := SubordinateTemplate(subParams(iss, nil), serial); return err }, errs.Internal},
		{"sub bad policy", func() error {
			p := subParams(iss, root)
			p.Policies = []asn1.ObjectIdentifier{{1}}
			_, err := SubordinateTemplate(p, serial)
			return err
		}, errs.Config},
		{"leaf no issuer key", func() error {
			_, err := LeafTemplate(leafParams(nil), testKey(t, kindP256).Public(), serial)
			return err
		}, errs.Internal},
		{"leaf P-224 key", func() error { _, err := LeafTemplate(leafParams(iss), p224.Public(), serial); return err }, errs.BadCSR},
		{"leaf P-224 key with explicit KU", func() error {
			p := leafParams(iss)
			p.KeyUsage = x509.KeyUsageDigitalSignature
			_, err := LeafTemplate(p, p224.Public(), serial)
			return err
		}, errs.BadCSR},
		{"leaf unknown key", func() error { _, err := LeafTemplate(leafParams(iss), struct{}{}, serial); return err }, errs.BadCSR},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.make()
			if err == nil {
				t.Fatalf("no error")
			}
			if got := errs.KindOf(err); got != tc.kind {
				t.Fatalf("error kind %v, want %v: %v", got, tc.kind, err)
			}
		})
	}
}

// TestTemplateTruncatesTimes: X.509 times have whole seconds, and the
// persisted template must equal what is encoded.
func TestTemplateTruncatesTimes(t *testing.T) {
	p := rootParams(testKey(t, kindP256).Public())
	p.NotBefore = p.NotBefore.Add(1500 * time.Millisecond)
	p.NotAfter = p.NotAfter.In(time.FixedZone("X", 3600)).Add(999 * time.Millisecond)
	tmpl, err := RootTemplate(p, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	c := sign(t, tmpl, nil, p.PublicKey, testKey(t, kindP256))
	if !c.NotBefore.Equal(tmpl.NotBefore) || !c.NotAfter.Equal(tmpl.NotAfter) {
		t.Fatalf("encoded %v..%v, template %v..%v", c.NotBefore, c.NotAfter, tmpl.NotBefore, tmpl.NotAfter)
	}
}

// An RSA leaf for TLS clients alone gets digitalSignature without
// keyEncipherment (zlint e_key_usage_and_extended_key_usage_inconsistent);
// with serverAuth it keeps both.
func TestLeafTemplateRSAClientOnly(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	pub := testKey(t, kindRSA2048).Public()
	p := leafParams(h.issKey.Public())
	p.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if leaf := h.leaf(t, p, pub); leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Fatalf("clientAuth leaf: key usage %b, want digitalSignature alone", leaf.KeyUsage)
	}
	p.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if leaf := h.leaf(t, p, pub); leaf.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment {
		t.Fatalf("serverAuth leaf: key usage %b, want digitalSignature and keyEncipherment", leaf.KeyUsage)
	}
}
