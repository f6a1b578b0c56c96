package ca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	zx509 "github.com/zmap/zcrypto/x509"
	"github.com/zmap/zlint/v3"
	"github.com/zmap/zlint/v3/lint"

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
// use (zlint makes a fresh lint instance for every run).
type Linter struct {
	registry lint.Registry
	// certLints and config are the registry's certificate lints and
	// configuration, taken once: LintCertificate runs them itself rather
	// than through zlint.LintCertificateEx, which lists and sorts the
	// registry's names and fills a map of every result on each call (more
	// than half of its time for one leaf). Each lint still runs through
	// zlint's own CertificateLint.Execute, so the framework rules (the
	// source filters, CheckApplies, CheckEffective, configuration, a
	// panicking lint reported as fatal) are zlint's.
	certLints []*lint.CertificateLint
	config    lint.Configuration
}

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
	return &Linter{registry: reg, certLints: reg.CertificateLints().Lints(), config: reg.GetConfiguration()}, nil
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
	var fs []Finding
	for _, lt := range l.certLints {
		if r := lt.Execute(c, l.config); r.Status >= lint.Warn { // Warn, Error, Fatal
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
