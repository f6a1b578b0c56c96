package ca

import (
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

	"github.com/certgw/gateway/errs"
)

func TestLintRejectsBadCertificates(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	full, err := NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := testKey(t, kindP256).Public()
	tests := []struct {
		name     string
		edit     func(p *LeafParams)
		editTmpl func(c *x509.Certificate)
		want     string // a lint that must be among the findings
	}{
		{
			name: "5-year TLS leaf",
			edit: func(p *LeafParams) { p.NotAfter = p.NotBefore.AddDate(5, 0, 0) },
			want: "e_tls_server_cert_valid_time_longer_than_398_days",
		},
		{
			name: "201-day TLS leaf after SC-081",
			edit: func(p *LeafParams) { p.NotAfter = p.NotBefore.Add(201 * 24 * time.Hour) },
			want: "e_server_cert_valid_time_longer_than_200_days",
		},
		{
			name: "CA:TRUE leaf without keyCertSign",
			editTmpl: func(c *x509.Certificate) {
				c.IsCA = true
				c.MaxPathLen = -1
			},
			want: "e_ca_key_cert_sign_not_set",
		},
		{
			name: "commonName in a TLS leaf",
			edit: func(p *LeafParams) { p.Subject.CommonName = "www.example.com" },
			want: "w_subject_common_name_included",
		},
		{
			name: "internal name",
			edit: func(p *LeafParams) { p.DNSNames = []string{"localhost"} },
			want: "e_dnsname_not_valid_tld",
		},
		{
			// The default EKU (serverAuth+clientAuth) fails the Chrome
			// lint for leaves issued from 2027-03-15; see LeafParams.
			name: "clientAuth in a TLS leaf from 2027-03-15",
			edit: func(p *LeafParams) {
				p.NotBefore = time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC)
				p.NotAfter = p.NotBefore.Add(90 * 24 * time.Hour)
			},
			want: "e_client_auth_not_allowed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := leafParams(h.issKey.Public())
			if tc.edit != nil {
				tc.edit(&p)
			}
			tmpl, err := LeafTemplate(p, pub, testSerial(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.editTmpl != nil {
				tc.editTmpl(tmpl)
			}
			leaf := sign(t, tmpl, h.iss, pub, h.issKey)
			err = full.LintCertificate(leaf.Raw)
			if err == nil {
				t.Fatalf("lint passed, want %s", tc.want)
			}
			fs := findings(t, err)
			if !slices.Contains(lintNames(fs), tc.want) {
				t.Fatalf("findings %v do not include %s", fs, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want+": ") {
				t.Fatalf("error %q does not name %s", err, tc.want)
			}
			// The gate runs the lints itself; zlint's own driver must
			// find exactly the same.
			zc, err := zx509.ParseCertificate(leaf.Raw)
			if err != nil {
				t.Fatal(err)
			}
			var ref []Finding
			if err := verdict("certificate", zlint.LintCertificateEx(zc, full.registry)); err != nil {
				ref = findings(t, err)
			}
			if !slices.Equal(fs, ref) {
				t.Fatalf("findings %v, zlint.LintCertificateEx finds %v", fs, ref)
			}
		})
	}
}

// TestLeafSubjectKeyIdentifierConflict documents why
// w_ext_subject_key_identifier_missing_sub_cert is in DefaultExcludedLints:
// the RFC 5280 lint warns when a leaf has no SKI and the BR lint warns when
// a TLS leaf has one, so the full registry warns on every TLS leaf (zlint
// issues #749 and #1046). Should a zlint update resolve it, this test fails
// and the exclusion can go.
func TestLeafSubjectKeyIdentifierConflict(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	full, err := NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	key := testKey(t, kindP256)
	ski, err := SubjectKeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		ski  []byte
		want string
	}{
		{"without SKI", nil, "w_ext_subject_key_identifier_missing_sub_cert"},
		{"with SKI", ski, "w_ext_subject_key_identifier_not_recommended_subscriber"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := LeafTemplate(leafParams(h.issKey.Public()), key.Public(), testSerial(t))
			if err != nil {
				t.Fatal(err)
			}
			tmpl.SubjectKeyId = tc.ski
			leaf := sign(t, tmpl, h.iss, key.Public(), h.issKey)
			fs := findings(t, full.LintCertificate(leaf.Raw))
			if len(fs) != 1 || fs[0].Lint != tc.want || fs[0].Status != "warn" {
				t.Fatalf("findings %v, want only %s: warn", fs, tc.want)
			}
		})
	}
}

func TestNewLinter(t *testing.T) {
	tests := []struct {
		name    string
		sources []string
		names   []string
		wantErr string
	}{
		{"full registry", nil, nil, ""},
		{"defaults", nil, DefaultExcludedLints(), ""},
		{"known sources", []string{"ETSI_ESI", "Mozilla", "Apple", "Chrome", "CABF_SMIME_BR", "RFC6960"}, nil, ""},
		{"unknown source", []string{"ETSI_ESI", "AppleRootStorePolicy"}, nil, `unknown lint source "AppleRootStorePolicy"`},
		{"unknown name", nil, []string{"e_cert_issued_by_compromised_emudhra_ca", "e_no_such_lint"}, `unknown lint name "e_no_such_lint"`},
		{"both unknown", []string{"nope"}, []string{"e_nope"}, `unknown lint source "nope"; unknown lint name "e_nope"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLinter(tc.sources, tc.names)
			if tc.wantErr == "" {
				if err != nil || l == nil {
					t.Fatalf("NewLinter: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("NewLinter accepted %v %v", tc.sources, tc.names)
			}
			if !errs.Is(err, errs.Config) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewLinter error %v (kind %v), want config error containing %s", err, errs.KindOf(err), tc.wantErr)
			}
		})
	}
}

// TestDefaultExcludedLints checks that every default exclusion names a
// certificate lint of zlint v3.7.3 and that NewLinter really leaves it out.
func TestDefaultExcludedLints(t *testing.T) {
	global := lint.GlobalRegistry()
	l, err := NewLinter(nil, DefaultExcludedLints())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range DefaultExcludedLints() {
		if global.CertificateLints().ByName(n) == nil {
			t.Fatalf("%s is not a zlint certificate lint", n)
		}
		if l.registry.CertificateLints().ByName(n) != nil {
			t.Fatalf("%s still in the filtered registry", n)
		}
	}
	if got, want := len(l.registry.CertificateLints().Lints()), len(global.CertificateLints().Lints())-len(DefaultExcludedLints()); got != want {
		t.Fatalf("filtered registry has %d certificate lints, want %d", got, want)
	}
}

func TestExcludeSource(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	p := leafParams(h.issKey.Public())
	p.NotBefore = time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC)
	p.NotAfter = p.NotBefore.Add(90 * 24 * time.Hour)
	leaf := h.leaf(t, p, testKey(t, kindP256).Public())
	l, err := NewLinter([]string{"Chrome"}, DefaultExcludedLints())
	if err != nil {
		t.Fatal(err)
	}
	if err := l.LintCertificate(leaf.Raw); err != nil {
		t.Fatalf("with the Chrome source excluded: %v", err)
	}
}

func TestLintConcurrent(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	l, err := NewLinter(nil, DefaultExcludedLints())
	if err != nil {
		t.Fatal(err)
	}
	good := h.leaf(t, leafParams(h.issKey.Public()), testKey(t, kindP256).Public())
	bp := leafParams(h.issKey.Public())
	bp.NotAfter = bp.NotBefore.AddDate(5, 0, 0)
	bad := h.leaf(t, bp, testKey(t, kindP256).Public())
	var wg sync.WaitGroup
	errc := make(chan string, 16)
	for i := range 16 {
		wg.Go(func() {
			if i%2 == 0 {
				if err := l.LintCertificate(good.Raw); err != nil {
					errc <- "good leaf: " + err.Error()
				}
			} else if l.LintCertificate(bad.Raw) == nil {
				errc <- "bad leaf passed"
			}
		})
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		t.Fatal(e)
	}
}

func TestLintGarbage(t *testing.T) {
	l, err := NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []func([]byte) error{l.LintCertificate, l.LintRevocationList} {
		err := fn([]byte("not DER"))
		if err == nil || !errs.Is(err, errs.Internal) {
			t.Fatalf("garbage: %v (kind %v), want an internal error", err, errs.KindOf(err))
		}
	}
}

func TestLintRevocationList(t *testing.T) {
	h := newHierarchy(t, kindP384, kindP256)
	l, err := NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.RevocationList{
		SignatureAlgorithm: x509.ECDSAWithSHA256,
		Number:             big.NewInt(7),
		ThisUpdate:         testNow,
		NextUpdate:         testNow.Add(7 * 24 * time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{{
			SerialNumber:   testSerial(t),
			RevocationTime: testNow.Add(-time.Hour),
			ReasonCode:     1, // keyCompromise
		}},
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, h.iss, h.issKey)
	if err != nil {
		t.Fatal(err)
	}
	if fs := findings(t, l.LintRevocationList(der)); len(fs) > 0 {
		t.Fatalf("CRL findings: %v", fs)
	}
	// A revocation after thisUpdate (RFC 5280 5.1.2.6), which crypto/x509
	// lets through.
	tmpl.RevokedCertificateEntries[0].RevocationTime = testNow.Add(time.Hour)
	der, err = x509.CreateRevocationList(rand.Reader, tmpl, h.iss, h.issKey)
	if err != nil {
		t.Fatal(err)
	}
	fs := findings(t, l.LintRevocationList(der))
	if !slices.Contains(lintNames(fs), "e_crl_revocation_time_after_this_update") {
		t.Fatalf("CRL findings %v, want e_crl_revocation_time_after_this_update", fs)
	}
}

func TestLintErrorMessage(t *testing.T) {
	e := &LintError{Findings: []Finding{
		{Lint: "e_one", Status: "error", Details: "why"},
		{Lint: "w_two", Status: "warn"},
	}}
	if got, want := e.Error(), "zlint: e_one: error (why); w_two: warn"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

// benchLeaf is the certificate the lint benchmarks lint: the default TLS
// leaf with a P-256 key from a P-256 issuing CA.
func benchLeaf(b *testing.B) []byte {
	h := newHierarchy(b, kindP384, kindP256)
	return h.leaf(b, leafParams(h.issKey.Public()), testKey(b, kindP256).Public()).Raw
}

func benchLint(b *testing.B, excluded []string, der []byte) {
	l, err := NewLinter(nil, excluded)
	if err != nil {
		b.Fatal(err)
	}
	_ = l.LintCertificate(der) // build zlint's one-time tables
	for b.Loop() {
		_ = l.LintCertificate(der)
	}
}

func BenchmarkLintLeafFullRegistry(b *testing.B) {
	benchLint(b, nil, benchLeaf(b))
}

func BenchmarkLintLeafDefaultExclusions(b *testing.B) {
	benchLint(b, DefaultExcludedLints(), benchLeaf(b))
}

func BenchmarkLintLeafRSAIssuerFullRegistry(b *testing.B) {
	h := newHierarchy(b, kindRSA4096, kindRSA2048)
	benchLint(b, nil, h.leaf(b, leafParams(h.issKey.Public()), testKey(b, kindP256).Public()).Raw)
}

func BenchmarkLintLeafRSAIssuerDefaultExclusions(b *testing.B) {
	h := newHierarchy(b, kindRSA4096, kindRSA2048)
	benchLint(b, DefaultExcludedLints(), h.leaf(b, leafParams(h.issKey.Public()), testKey(b, kindP256).Public()).Raw)
}

func BenchmarkLintLeafPrivatePKI(b *testing.B) {
	l, err := NewLinter(PrivatePKIExcludedSources(), append(DefaultExcludedLints(), PrivatePKIExcludedLints()...))
	if err != nil {
		b.Fatal(err)
	}
	der := benchLeaf(b)
	_ = l.LintCertificate(der)
	for b.Loop() {
		_ = l.LintCertificate(der)
	}
}

// TestLintInstancesServeOneCertificateAfterAnother: LintCertificate keeps
// configured lint instances and runs them on certificate after
// certificate, several calls at once. Whatever order the certificates come
// in, each must get exactly the findings zlint's own driver (fresh
// instances per certificate) gives it.
func TestLintInstancesServeOneCertificateAfterAnother(t *testing.T) {
	l, err := NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := newHierarchy(t, kindP384, kindP256)
	rsa := newHierarchy(t, kindRSA4096, kindRSA2048)
	pub := testKey(t, kindP256).Public()
	edits := []func(p *LeafParams){
		func(p *LeafParams) {},
		func(p *LeafParams) { p.NotAfter = p.NotBefore.AddDate(5, 0, 0) },
		func(p *LeafParams) { p.Subject.CommonName = "www.example.com" },
		func(p *LeafParams) { p.DNSNames = []string{"localhost"} },
		func(p *LeafParams) {
			p.DNSNames, p.IPAddresses = nil, nil
			p.EmailAddresses = []string{"a@example.com"}
		},
	}
	var ders [][]byte
	for _, hh := range []hierarchy{h, rsa} {
		for _, edit := range edits {
			p := leafParams(hh.issKey.Public())
			edit(&p)
			tmpl, err := LeafTemplate(p, pub, testSerial(t))
			if err != nil {
				t.Fatal(err)
			}
			ders = append(ders, sign(t, tmpl, hh.iss, pub, hh.issKey).Raw)
		}
	}
	want := make([][]Finding, len(ders))
	for i, der := range ders {
		zc, err := zx509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		if err := verdict("certificate", zlint.LintCertificateEx(zc, l.registry)); err != nil {
			want[i] = findings(t, err)
		}
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for pass := range 3 {
				for k := range ders {
					i := (k*(g+2) + pass) % len(ders) // a different order per goroutine and pass
					var got []Finding
					if err := l.LintCertificate(ders[i]); err != nil {
						got = findings(t, err)
					}
					if !slices.Equal(got, want[i]) {
						t.Errorf("certificate %d: findings %v, zlint.LintCertificateEx finds %v", i, got, want[i])
					}
				}
			}
		})
	}
	wg.Wait()
}

// panicky is a lint whose CheckApplies panics.
type panicky struct{}

func (panicky) CheckApplies(*zx509.Certificate) bool { panic("boom in CheckApplies") }
func (panicky) Execute(*zx509.Certificate) *lint.LintResult {
	return &lint.LintResult{Status: lint.Pass}
}

// A lint that panics, in its constructor or when it runs, is a fatal
// finding that names it, as with zlint's driver, not a panic of the caller.
func TestPanickingLintIsFatal(t *testing.T) {
	meta := func(name string) lint.LintMetadata {
		return lint.LintMetadata{Name: name, Source: lint.Community, Description: "test"}
	}
	l := &Linter{certLints: []*lint.CertificateLint{
		{LintMetadata: meta("e_panics_when_made"), Lint: func() lint.CertificateLintInterface { panic("boom in the constructor") }},
		{LintMetadata: meta("e_panics_when_run"), Lint: func() lint.CertificateLintInterface { return panicky{} }},
	}}
	l.instances.New = func() any { return l.newInstances() }
	h := newHierarchy(t, kindP384, kindP256)
	der := h.leaf(t, leafParams(h.issKey.Public()), testKey(t, kindP256).Public()).Raw
	for range 2 { // the second time with the instance that replaced the one that panicked
		fs := findings(t, l.LintCertificate(der))
		if len(fs) != 2 || fs[0].Lint != "e_panics_when_made" || fs[1].Lint != "e_panics_when_run" ||
			fs[0].Status != "fatal" || fs[1].Status != "fatal" ||
			!strings.Contains(fs[0].Details, "boom in the constructor") || !strings.Contains(fs[1].Details, "boom in CheckApplies") {
			t.Fatalf("findings %+v, want both lints fatal with their panics", fs)
		}
	}
}
