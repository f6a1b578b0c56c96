package ca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"
	"github.com/zmap/zlint/v3/util"

	"github.com/certgw/gateway/errs"
)

// Finding is one lint result that stops issuance.
type Finding struct {
	Lint    string // zlint name, e.g. "e_sub_cert_eku_check"
	Status  string // "warn", "error" or "fatal" (the lint could not run)
	Details string // the lint's explanation; often empty
}

// LintError lists every error, warning and fatal result of one linting run.
// The Linter returns it wrapped in an *errs.Error of kind Config: a
// certificate that fails the lint gate is a profile or CA set up wrong (the
// profile let a name or a validity through that it should have refused, or a
// CA's parameters are wrong), which an operator must fix and a client cannot,
// so it is a 5xx that is logged at Error and never shown to the client.
// Use errors.As to get at the findings.
type LintError struct {
	Findings []Finding
}

func (e *LintError) Error() string {
	var b strings.Builder
	b.WriteString("zlint: ")
	for i, f := range e.Findings {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Lint)
		b.WriteString(": ")
		b.WriteString(f.Status)
		if f.Details != "" {
			b.WriteString(" (")
			b.WriteString(f.Details)
			b.WriteString(")")
		}
	}
	return b.String()
}

// Linter is the lint gate: a zlint v3.7.3 registry, filtered once, that
// every certificate and CRL passes through before the HSM signs it. Any
// warning, error or fatal result stops issuance; notices (info), NA, NE and
// pass do not. A Linter is immutable after NewLinter and safe for concurrent
// use.
type Linter struct {
	registry lint.Registry
	// certLints and config are the registry's certificate lints and
	// configuration, taken once: LintCertificate runs them itself rather
	// than through zlint.LintCertificateEx, which lists and sorts the
	// registry's names and fills a map of every result on each call (more
	// than half of its time for one leaf), and makes and configures a new
	// instance of every lint for every certificate (some compile regular
	// expressions in their constructors). LintCertificate keeps zlint's
	// rules for running a lint (see run); tests hold its findings equal to
	// zlint.LintCertificateEx's.
	certLints []*lint.CertificateLint
	config    lint.Configuration
	// instances holds *lintInstances: configured instances of certLints,
	// each set used by one LintCertificate call at a time.
	instances sync.Pool
}

// lintInstances is one configured instance of each of a Linter's
// certificate lints. zlint's lints keep nothing of one certificate for the
// next (their fields are configuration and tables built by their
// constructors), so an instance serves certificate after certificate; it
// is only never shared by two calls at once.
type lintInstances struct {
	lints     []lint.CertificateLintInterface
	configErr []error // what configuring lints[i] returned
}

// newInstance makes and configures an instance of lint i. A constructor
// or configuration that panics leaves the error (which run reports as a
// fatal result, as zlint would) instead.
func (l *Linter) newInstance(i int) (in lint.CertificateLintInterface, err error) {
	defer func() {
		if p := recover(); p != nil {
			in, err = nil, fmt.Errorf("'%s' panicked. Error: %v", l.certLints[i].Name, p)
		}
	}()
	in = l.certLints[i].Lint()
	return in, l.config.MaybeConfigure(in, l.certLints[i].Name)
}

func (l *Linter) newInstances() *lintInstances {
	s := &lintInstances{
		lints:     make([]lint.CertificateLintInterface, len(l.certLints)),
		configErr: make([]error, len(l.certLints)),
	}
	for i := range l.certLints {
		s.lints[i], s.configErr[i] = l.newInstance(i)
	}
	return s
}

// frameworkScope is what zlint's framework asks of a certificate before a
// lint of the CA/B Forum's TLS, S/MIME or code signing requirements may
// run on it (lint.CertificateLint.Execute), asked once per certificate
// instead of once per lint.
type frameworkScope struct {
	serverAuth, emailProtection, codeSigning bool
}

func scopeOf(c *zx509.Certificate) frameworkScope {
	return frameworkScope{
		serverAuth:      util.IsServerAuthCert(c),
		emailProtection: util.IsEmailProtectionCert(c),
		codeSigning:     util.IsCodeSigning(c.PolicyIdentifiers),
	}
}

// run runs lint i on c as zlint's CertificateLint.Execute does: NA outside
// the lint source's framework scope (unless the lint overrides it), fatal
// if the lint could not be configured, NA unless CheckApplies, NE outside
// the lint's effective dates, then Execute; a panic is a fatal result.
// The instance of a lint that panicked is replaced, in case the panic left
// it half-changed.
func (l *Linter) run(s *lintInstances, i int, c *zx509.Certificate, scope frameworkScope) (result *lint.LintResult) {
	lt := l.certLints[i]
	defer func() {
		if err := recover(); err != nil {
			result = &lint.LintResult{Status: lint.Fatal, Details: fmt.Sprintf("'%s' panicked. Error: %v", lt.Name, err)}
			s.lints[i], s.configErr[i] = l.newInstance(i)
		}
	}()
	if !lt.OverrideFrameworkFilter {
		switch {
		case lt.Source == lint.CABFBaselineRequirements && !scope.serverAuth,
			lt.Source == lint.CABFSMIMEBaselineRequirements && !scope.emailProtection,
			lt.Source == lint.CABFCSBaselineRequirements && !scope.codeSigning:
			return resultNA
		}
	}
	if err := s.configErr[i]; err != nil {
		return &lint.LintResult{Status: lint.Fatal, Details: err.Error()}
	}
	in := s.lints[i]
	if !in.CheckApplies(c) {
		return resultNA
	}
	if !lt.CheckEffective(c) {
		return resultNE
	}
	return in.Execute(c)
}

// resultNA and resultNE are the results run returns for a lint that does
// not apply and one not in effect: shared, as most lints give one of them
// for every certificate. Nobody changes a result.
var (
	resultNA = &lint.LintResult{Status: lint.NA}
	resultNE = &lint.LintResult{Status: lint.NE}
)

// DefaultExcludedLints names the lints that the gateway leaves out unless
// configured otherwise. All exist in zlint v3.7.3.
//
//   - w_ext_subject_key_identifier_missing_sub_cert (RFC5280 source) warns
//     when an end-entity certificate has no subject key identifier, because
//     RFC 5280 4.2.1.2 says SHOULD; w_ext_subject_key_identifier_not_recommended_subscriber
//     (CABF_BR source) warns when a TLS subscriber certificate has one,
//     because BR 7.1.2.7.6 (ballot SC62) says NOT RECOMMENDED. Every TLS
//     leaf trips one of the two (zlint issues #749, #1046), so a gate that
//     stops at warnings must drop one. The gateway follows the BRs, the
//     later and more specific rule (Let's Encrypt made the same choice), and
//     omits the SKI from leaves; so the RFC 5280 lint goes.
//   - e_cert_issued_by_compromised_emudhra_ca verifies the signature of every
//     ECDSA-signed certificate against eight known-compromised eMudhra
//     intermediate keys: 4-6 ms per certificate (eight P-384
//     verifications), over nine tenths of the full registry's time, and it
//     can only ever fire for a certificate signed by one of those public
//     CAs, never by ours. (On a pre-signed certificate it checks the
//     throwaway key, which makes it doubly moot.)
//   - e_ecdsa_small_private_key searches for ECDSA subject keys whose private
//     scalar is below 2^16 (0.07 ms for a P-256 key, more for larger curves,
//     plus a one-time table per curve). It only catches a grossly broken
//     key generator: CA keys are generated inside the HSM, and a client's
//     key is its own to protect; the profile's key checks are the place for
//     key policy.
//
// Measured on a 2-core VM (BenchmarkLintLeaf*): a P-256 TLS leaf from a
// P-256 issuing CA lints in about 5-6 ms with the full registry and 0.39 ms
// with these exclusions; from an RSA issuing CA, 0.50 ms and 0.39 ms.
//
// Operators who want them back pass an empty list to NewLinter.
func DefaultExcludedLints() []string {
	return []string{
		"w_ext_subject_key_identifier_missing_sub_cert",
		"e_cert_issued_by_compromised_emudhra_ca",
		"e_ecdsa_small_private_key",
	}
}

// NewLinter prepares the full zlint registry minus the given sources (zlint
// lint.LintSource values such as "ETSI_ESI", "Mozilla", "Apple", "Chrome",
// "CABF_SMIME_BR") and lint names. An unknown source or name is a Config
// error, so that a typo in the configuration cannot silently leave a lint on
// (or off).
func NewLinter(excludeSources, excludeNames []string) (*Linter, error) {
	var opts lint.FilterOptions
	var bad []string
	for _, s := range excludeSources {
		src, err := parseLintSource(s)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		opts.ExcludeSources = append(opts.ExcludeSources, src)
	}
	global := lint.GlobalRegistry()
	for _, n := range excludeNames {
		n = strings.TrimSpace(n)
		if global.CertificateLints().ByName(n) == nil &&
			global.RevocationListLints().ByName(n) == nil &&
			global.OcspResponseLints().ByName(n) == nil {
			bad = append(bad, fmt.Sprintf("unknown lint name %q", n))
			continue
		}
		opts.ExcludeNames = append(opts.ExcludeNames, n)
	}
	if len(bad) > 0 {
		return nil, errs.New(errs.Config, "lint exclusions: %s", strings.Join(bad, "; "))
	}
	reg, err := global.Filter(opts)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "lint exclusions")
	}
	l := &Linter{registry: reg, certLints: reg.CertificateLints().Lints(), config: reg.GetConfiguration()}
	l.instances.New = func() any { return l.newInstances() }
	return l, nil
}

// parseLintSource accepts exactly the LintSource values zlint itself knows.
// LintSource.UnmarshalJSON is the one place zlint lists them all
// (FromString misses RFC6960), so it is asked rather than a copy kept here.
func parseLintSource(s string) (lint.LintSource, error) {
	s = strings.TrimSpace(s)
	raw, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	var src lint.LintSource
	if err := src.UnmarshalJSON(raw); err != nil {
		return "", fmt.Errorf("unknown lint source %q", s)
	}
	return src, nil
}

// LintCertificate lints a DER certificate. It returns nil, or an
// *errs.Error of kind Config wrapping a *LintError with every warning, error
// and fatal finding, or an Internal error if the DER does not parse.
//
// A CA certificate whose issuer name equals its subject name and whose
// authority key identifier is absent or equal to its subject key identifier
// is linted as a self-signed root even when its signature does not verify
// under its own key. zcrypto decides "self-signed" by checking the
// signature, and a root pre-signed with a throwaway key (presign.go) keeps
// its real SubjectPublicKeyInfo, so without this it would be linted as a
// subordinate CA and get the subordinate's verdict, not the one the real
// root will get. The rule cannot turn a real subordinate into a root: a
// subordinate has a name other than its issuer's, or, if self-issued (a key
// rollover certificate), carries its issuer's key identifier as AKI. What
// the rule does not do is check the signature; crypto/x509 does that when
// the HSM signs.
func (l *Linter) LintCertificate(der []byte) error {
	c, err := zx509.ParseCertificate(der)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "lint: parse certificate")
	}
	if c.IsCA && !c.SelfSigned && bytes.Equal(c.RawSubject, c.RawIssuer) &&
		(len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)) {
		c.SelfSigned = true
	}
	s := l.instances.Get().(*lintInstances)
	defer l.instances.Put(s)
	scope := scopeOf(c)
	var fs []Finding
	for i, lt := range l.certLints {
		if r := l.run(s, i, c, scope); r.Status >= lint.Warn { // Warn, Error, Fatal
			fs = append(fs, Finding{Lint: lt.Name, Status: r.Status.String(), Details: r.Details})
		}
	}
	return rejected("certificate", fs)
}

// LintRevocationList lints a DER CRL the same way (RFC 5280 section 5
// lints and the CABF ones that apply to CRLs).
func (l *Linter) LintRevocationList(der []byte) error {
	crl, err := zx509.ParseRevocationList(der)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "lint: parse CRL")
	}
	return verdict("CRL", zlint.LintRevocationListEx(crl, l.registry))
}

func verdict(what string, rs *zlint.ResultSet) error {
	var fs []Finding
	for name, r := range rs.Results {
		if r.Status >= lint.Warn { // Warn, Error, Fatal
			fs = append(fs, Finding{Lint: name, Status: r.Status.String(), Details: r.Details})
		}
	}
	return rejected(what, fs)
}

// rejected is the lint gate's error for the findings fs, sorted by lint
// name, or nil if there are none.
func rejected(what string, fs []Finding) error {
	if len(fs) == 0 {
		return nil
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Lint < fs[j].Lint })
	return errs.Wrap(errs.Config, &LintError{Findings: fs}, "%s rejected by the lint gate", what)
}
