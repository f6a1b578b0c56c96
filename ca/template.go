// Templates, serials, the lint gate and pre-signing of package ca.
// (Deliberately not a package doc comment, hence the blank line below: the
// package documentation belongs to doc.go.)
//
// Certificates are built from explicit parameters only: a template never
// copies an extension from a CSR, so a client can ask for names but never for
// key usages, basic constraints, policies or URLs. The templates are shaped
// by the zlint v3.7.3 registry (lint.go): a root and the issuing CA pass all
// of it with no warning or error, and a TLS leaf all of it but one of two
// lints that contradict each other (see DefaultExcludedLints); every choice
// that a lint forced is explained where it is made. Before the HSM is asked
// to sign, a certificate is signed with a throwaway key of the same type and
// linted (presign.go); its serial is 128 random bits (serial.go).

package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1" // RFC 5280 4.2.1.2 method 1 names SHA-1; not used for signatures.
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"net/url"
	"slices"
	"time"

	"github.com/certgw/gateway/errs"
)

// Certificate policy identifiers (RFC 5280 4.2.1.4, CA/Browser Forum BR
// 7.1.6.1). Unexported because a slice cannot be a constant.
var (
	// oidAnyPolicy is anyPolicy, 2.5.29.32.0.
	oidAnyPolicy = asn1.ObjectIdentifier{2, 5, 29, 32, 0}
	// oidDomainValidated is the CABF reserved DV policy, 2.23.140.1.2.1.
	oidDomainValidated = asn1.ObjectIdentifier{2, 23, 140, 1, 2, 1}
	// oidOrganizationValidated is the CABF reserved OV policy, 2.23.140.1.2.2.
	oidOrganizationValidated = asn1.ObjectIdentifier{2, 23, 140, 1, 2, 2}
)

// CAParams describe a CA certificate, root or subordinate.
//
// Validity is taken as given (truncated to whole seconds, as X.509 encodes
// it): the caller decides the backdate, and is expected to pass NotBefore a
// minute or so before now so that relying parties with a slow clock accept
// the certificate at once. No backdate is added here, so that the template
// persisted before signing is exactly the certificate signed.
type CAParams struct {
	Subject   pkix.Name // must carry CN, O and C (BR 7.1.2.10.2; zlint checks)
	NotBefore time.Time
	NotAfter  time.Time
	// MaxPathLen is the basicConstraints pathLenConstraint; -1 leaves it out
	// (unlimited). Note the zero value means pathlen 0, the right value for
	// an issuing CA. A root should use -1: BR 7.1.2.1.4 says a root SHOULD
	// NOT carry a pathLenConstraint, and zlint warns
	// (w_root_ca_basic_constraints_path_len_constraint_field_present).
	MaxPathLen int

	// PublicKey is the key this certificate certifies (for a root, its own
	// key; for a subordinate, the subordinate's key). Required: the subject
	// key identifier is computed from it.
	PublicKey crypto.PublicKey
	// IssuerKey is the public key of the CA that signs a subordinate; it
	// decides the signature algorithm. Ignored for a root, which is signed
	// by PublicKey.
	IssuerKey crypto.PublicKey

	// Policies go into certificatePolicies of a subordinate. Nil means
	// anyPolicy alone, which BR 7.1.2.10.5 allows for a CA operated by the
	// same organization as its root ("affiliate"), and which lets the
	// issuing CA sign DV and OV leaves alike. A root gets no policies unless
	// given (BR 7.1.2.1: SHOULD NOT; zlint w_root_ca_contains_cert_policy).
	Policies []asn1.ObjectIdentifier

	// NameConstraints go into a subordinate, critical.
	NameConstraints NameConstraints

	// URLs of the issuer, put into a subordinate CA certificate (not into a
	// root, which has no issuer to point to):
	CRLURLs   []string // cRLDistributionPoints, in order
	OCSPURL   string   // authorityInfoAccess id-ad-ocsp (may be empty)
	IssuerURL string   // authorityInfoAccess id-ad-caIssuers
}

// LeafParams describe an end-entity certificate. Names come from the request
// after the profile has checked them; everything else comes from the profile
// and the issuing CA.
type LeafParams struct {
	Subject        pkix.Name // CN optional; if present it must also be a SAN (zlint checks)
	DNSNames       []string
	IPAddresses    []net.IP
	EmailAddresses []string
	URIs           []*url.URL
	// NotBefore and NotAfter are used as given, see CAParams.
	NotBefore, NotAfter time.Time
	// KeyUsage, if zero, is derived from the subject key: digitalSignature
	// for ECDSA and Ed25519, digitalSignature|keyEncipherment for RSA (RSA
	// key transport in TLS 1.2 needs keyEncipherment; BR 7.1.2.7.11 allows
	// both).
	KeyUsage x509.KeyUsage
	// ExtKeyUsage, if nil, is serverAuth and clientAuth. An empty non-nil
	// slice leaves the extension out.
	//
	// TODO: the Chrome Root Program forbids clientAuth in serverAuth leaves
	// from 2027-03-15 (zlint e_client_auth_not_allowed, effective by
	// NotBefore). Leaves issued after that date with the default EKU fail
	// the full registry; profiles must then ask for serverAuth alone, or
	// the Chrome source must be excluded for a private CA.
	ExtKeyUsage []x509.ExtKeyUsage
	// UnknownExtKeyUsage adds purposes crypto/x509 has no name for, such
	// as id-kp-cmcRA for the SCEP registration authority.
	UnknownExtKeyUsage []asn1.ObjectIdentifier
	// Policies for certificatePolicies. Nil means, for a leaf that can
	// authenticate a TLS server, one CABF reserved policy chosen from the
	// subject (BR 7.1.2.7.9 requires exactly one): OV (2.23.140.1.2.2) when
	// the subject names an organization, otherwise DV (2.23.140.1.2.1),
	// whose subject may hold nothing but CN (zlint
	// e_cab_dv_subject_invalid_values). A leaf without serverAuth gets no
	// policy: a CABF policy would make zlint treat it as a TLS server
	// certificate and hold it to the BRs.
	Policies []asn1.ObjectIdentifier
	// MorePolicies follow Policies (or the CA/B Forum policy chosen for
	// it): a profile's own policies (certificate_policies).
	MorePolicies []asn1.ObjectIdentifier
	// IssuerKey is the public key of the signing CA; it decides the
	// signature algorithm. Required.
	IssuerKey crypto.PublicKey

	// URLs of the issuing CA.
	CRLURLs   []string // cRLDistributionPoints, in order
	OCSPURL   string   // authorityInfoAccess id-ad-ocsp (may be empty)
	IssuerURL string   // authorityInfoAccess id-ad-caIssuers
}

// RootTemplate returns the template of a self-signed root CA certificate:
// basicConstraints critical CA:TRUE (pathlen per p.MaxPathLen), keyUsage
// critical keyCertSign|cRLSign|digitalSignature, a subject key identifier
// (RFC 5280 4.2.1.2 method 1), no authority key identifier (RFC 5280
// 4.2.1.1 lets a self-signed certificate omit it, and no lint asks for it),
// no extendedKeyUsage (BR 7.1.2.1: MUST NOT; zlint
// e_root_ca_extended_key_usage_present), no CDP or AIA.
//
// digitalSignature is set although the lints only note its absence
// (n_ca_digital_signature_not_set): BR 7.1.2.10.7 requires it when the CA
// key signs OCSP responses itself, and the revocation service may answer for
// the issuing CA with the root key instead of a delegated responder.
func RootTemplate(p CAParams, serial *big.Int) (*x509.Certificate, error) {
	if p.PublicKey == nil {
		return nil, errs.New(errs.Internal, "root template: no public key")
	}
	t, err := caTemplate(p, serial, p.PublicKey)
	if err != nil {
		return nil, err
	}
	if err := setPolicies(t, p.Policies); err != nil {
		return nil, err
	}
	return t, nil
}

// SubordinateTemplate returns the template of an issuing CA certificate, the
// CA that signs TLS server and client certificates, delegated OCSP responder
// certificates and CRLs: basicConstraints critical CA:TRUE (pathlen per
// p.MaxPathLen, 0 for an issuing CA), keyUsage critical
// keyCertSign|cRLSign|digitalSignature, subject key identifier, the
// authority key identifier that x509.CreateCertificate copies from the
// parent's subject key identifier, certificatePolicies, and CDP and AIA
// pointing at the issuer.
//
// It carries NO extendedKeyUsage. The BRs (7.1.2.6, 7.1.2.10.6) and Mozilla
// policy 5.3 expect an EKU on a subordinate that issues TLS certificates
// (and need one for it to count as "technically constrained"), but zlint
// v3.7.3 only notes its absence (n_sub_ca_eku_missing, n_mp_allowed_eku,
// n_sub_ca_eku_not_technically_constrained: notices, which pass the gate),
// while an EKU would break the OCSP responders: Go's
// verifier (and others) require every EKU of a leaf to be allowed by each
// CA above it, so an issuing CA limited to serverAuth+clientAuth cannot
// vouch for an id-kp-OCSPSigning responder certificate, and adding
// OCSPSigning next to serverAuth is an error (e_ca_invalid_eku, BR 7.1.2.10.6
// forbids it). The combination that passes every lint and keeps delegated
// OCSP working is no EKU at all. The trade-off: the issuing CA is not
// technically constrained by EKU, which a publicly trusted hierarchy could
// not accept; in the private hierarchy this gateway runs, what bounds it is
// the root's trust and the profiles. (The alternative, a separate CA for
// OCSP responders, would double the CA keys for nothing a private PKI
// needs; TestIssuingCAVouchesForOCSPResponder pins the behaviour.)
func SubordinateTemplate(p CAParams, serial *big.Int) (*x509.Certificate, error) {
	if p.PublicKey == nil {
		return nil, errs.New(errs.Internal, "subordinate template: no public key")
	}
	if p.IssuerKey == nil {
		return nil, errs.New(errs.Internal, "subordinate template: no issuer key")
	}
	t, err := caTemplate(p, serial, p.IssuerKey)
	if err != nil {
		return nil, err
	}
	policies := p.Policies
	if policies == nil {
		// BR 7.1.2.10.5: a subordinate MUST carry certificatePolicies
		// (zlint e_sub_ca_certificate_policies_missing); anyPolicy must
		// then stand alone (e_invalid_ca_certificate_policies).
		policies = []asn1.ObjectIdentifier{oidAnyPolicy}
	}
	if err := setPolicies(t, policies); err != nil {
		return nil, err
	}
	setURLs(t, p.CRLURLs, p.OCSPURL, p.IssuerURL)
	p.NameConstraints.apply(t)
	return t, nil
}

// caTemplate holds what a root and a subordinate share.
func caTemplate(p CAParams, serial *big.Int, signer crypto.PublicKey) (*x509.Certificate, error) {
	if err := checkSerial(serial); err != nil {
		return nil, err
	}
	notBefore, notAfter, err := validity(p.NotBefore, p.NotAfter)
	if err != nil {
		return nil, err
	}
	if p.MaxPathLen < -1 {
		return nil, errs.New(errs.Config, "CA template: MaxPathLen %d: must be -1 (absent) or more", p.MaxPathLen)
	}
	sigAlg, err := SignatureAlgorithmFor(signer)
	if err != nil {
		return nil, err
	}
	ski, err := SubjectKeyID(p.PublicKey)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:       new(big.Int).Set(serial),
		Subject:            p.Subject,
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		SignatureAlgorithm: sigAlg,
		// RFC 5280 4.2.1.9 and BR 7.1.2.10.4: basicConstraints critical,
		// cA TRUE. crypto/x509 always marks it critical.
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            p.MaxPathLen,
		MaxPathLenZero:        p.MaxPathLen == 0,
		// RFC 5280 4.2.1.3 and BR 7.1.2.10.7: keyUsage critical with
		// keyCertSign and cRLSign; crypto/x509 marks it critical.
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		// Set explicitly: Go 1.25 switched its default to a truncated
		// SHA-256 (RFC 7093), and the identifier must not change with the
		// toolchain the gateway is built with.
		SubjectKeyId: ski,
	}, nil
}

// LeafTemplate returns the template of an end-entity certificate for the
// subject key pub: basicConstraints CA:FALSE, keyUsage and extKeyUsage per
// p, the SANs, a certificate policy (see LeafParams.Policies), CDP and AIA.
// The authority key
// identifier is copied from the parent by x509.CreateCertificate; there is
// no subject key identifier (BR 7.1.2.7.6: NOT RECOMMENDED for subscriber
// certificates; zlint w_ext_subject_key_identifier_not_recommended_subscriber;
// the RFC 5280 lint that wants one is in DefaultExcludedLints, see there).
//
// The lint gate also warns on a commonName in a TLS leaf (BR 7.1.2.7.1,
// w_subject_common_name_included): leave p.Subject empty unless the profile
// wants the warning to stop issuance.
//
// A subject key of a type the gateway cannot certify is a BadCSR.
//
// Ed25519 subject keys are accepted here, but BR 7.1.3.1 admits only RSA and
// ECDSA (P-256, P-384, P-521) keys in TLS server certificates (zlint
// e_algorithm_identifier_improper_encoding), so a profile should offer
// Ed25519 only for leaves without serverAuth, e.g. clientAuth alone.
func LeafTemplate(p LeafParams, pub crypto.PublicKey, serial *big.Int) (*x509.Certificate, error) {
	if err := checkSerial(serial); err != nil {
		return nil, err
	}
	if p.IssuerKey == nil {
		return nil, errs.New(errs.Internal, "leaf template: no issuer key")
	}
	notBefore, notAfter, err := validity(p.NotBefore, p.NotAfter)
	if err != nil {
		return nil, err
	}
	sigAlg, err := SignatureAlgorithmFor(p.IssuerKey)
	if err != nil {
		return nil, err
	}
	ku := p.KeyUsage
	if ku == 0 {
		if ku, err = leafKeyUsage(pub); err != nil {
			return nil, err
		}
	} else if _, err := leafKeyUsage(pub); err != nil {
		return nil, err
	}
	eku := p.ExtKeyUsage
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	if p.KeyUsage == 0 && clientOnly(eku) {
		// keyEncipherment serves RSA key transport to a TLS server or an
		// S/MIME recipient; a TLS client certificate only signs
		// (e_key_usage_and_extended_key_usage_inconsistent).
		ku &^= x509.KeyUsageKeyEncipherment
	}
	t := &x509.Certificate{
		SerialNumber:       new(big.Int).Set(serial),
		Subject:            p.Subject,
		NotBefore:          notBefore,
		NotAfter:           notAfter,
		SignatureAlgorithm: sigAlg,
		// BR 7.1.2.7.8: basicConstraints MAY be present with cA FALSE; it
		// is, so that no relying party can mistake the leaf for a CA.
		BasicConstraintsValid: true,
		IsCA:                  false,
		MaxPathLen:            -1,
		KeyUsage:              ku,
		ExtKeyUsage:           append([]x509.ExtKeyUsage(nil), eku...),
		UnknownExtKeyUsage:    append([]asn1.ObjectIdentifier(nil), p.UnknownExtKeyUsage...),
		DNSNames:              append([]string(nil), p.DNSNames...),
		IPAddresses:           append([]net.IP(nil), p.IPAddresses...),
		EmailAddresses:        append([]string(nil), p.EmailAddresses...),
		URIs:                  append([]*url.URL(nil), p.URIs...),
	}
	policies := p.Policies
	if policies == nil && tlsServer(eku, p.UnknownExtKeyUsage) {
		policies = []asn1.ObjectIdentifier{oidDomainValidated}
		if len(p.Subject.Organization) > 0 {
			policies = []asn1.ObjectIdentifier{oidOrganizationValidated}
		}
	}
	if len(p.MorePolicies) > 0 {
		policies = append(slices.Clone(policies), p.MorePolicies...)
	}
	if err := setPolicies(t, policies); err != nil {
		return nil, err
	}
	setURLs(t, p.CRLURLs, p.OCSPURL, p.IssuerURL)
	return t, nil
}

// SignatureAlgorithmFor returns the signature algorithm that a CA with the
// public key pub signs with: the hash matched to the curve for ECDSA (P-256
// SHA-256, P-384 SHA-384, P-521 SHA-512; BR 7.1.3.2.2 names exactly these
// pairs), SHA-256 with PKCS#1 v1.5 for RSA of any size (BR 7.1.3.2.1; PSS is
// allowed too but less widely verified), and Ed25519. It is set explicitly so
// that the choice does not depend on crypto/x509's defaults.
func SignatureAlgorithmFor(pub crypto.PublicKey) (x509.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return x509.ECDSAWithSHA256, nil
		case elliptic.P384():
			return x509.ECDSAWithSHA384, nil
		case elliptic.P521():
			return x509.ECDSAWithSHA512, nil
		}
		return 0, errs.New(errs.Config, "unsupported ECDSA curve %s", curveName(k.Curve))
	case *rsa.PublicKey:
		return x509.SHA256WithRSA, nil
	case ed25519.PublicKey:
		return x509.PureEd25519, nil
	}
	return 0, errs.New(errs.Config, "unsupported issuer key type %T", pub)
}

// SubjectKeyID returns the key identifier of pub by RFC 5280 4.2.1.2
// method 1: the SHA-1 hash of the BIT STRING subjectPublicKey, without tag,
// length and unused-bits octet.
func SubjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "subject key identifier of %T", pub)
	}
	var spki struct {
		Algorithm        pkix.AlgorithmIdentifier
		SubjectPublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "subject key identifier: parse SubjectPublicKeyInfo")
	}
	sum := sha1.Sum(spki.SubjectPublicKey.Bytes)
	return sum[:], nil
}

// leafKeyUsage derives the key usage of a leaf from its key (RFC 5280
// 4.2.1.3, BR 7.1.2.7.11, RFC 8813 for ECDSA, RFC 8410 for Ed25519) and
// rejects key types that cannot be certified.
func leafKeyUsage(pub crypto.PublicKey) (x509.KeyUsage, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return x509.KeyUsageDigitalSignature, nil
		}
		return 0, errs.New(errs.BadCSR, "unsupported ECDSA curve %s", curveName(k.Curve))
	case ed25519.PublicKey:
		return x509.KeyUsageDigitalSignature, nil
	case *rsa.PublicKey:
		return x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, nil
	}
	return 0, errs.New(errs.BadCSR, "unsupported public key type %T", pub)
}

// clientOnly reports whether eku is clientAuth alone.
func clientOnly(eku []x509.ExtKeyUsage) bool {
	return len(eku) == 1 && eku[0] == x509.ExtKeyUsageClientAuth
}

// tlsServer reports whether a leaf with these EKUs can authenticate a TLS
// server, which is when the BRs apply to it: with serverAuth or
// anyExtendedKeyUsage, or with no extended key usage at all.
func tlsServer(eku []x509.ExtKeyUsage, unknown []asn1.ObjectIdentifier) bool {
	if len(eku) == 0 && len(unknown) == 0 {
		return true
	}
	for _, u := range eku {
		if u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny {
			return true
		}
	}
	return false
}

func checkSerial(serial *big.Int) error {
	// RFC 5280 4.1.2.2: positive, at most 20 octets.
	if serial == nil || serial.Sign() <= 0 {
		return errs.New(errs.Internal, "certificate serial must be positive")
	}
	if serial.BitLen() > 159 {
		return errs.New(errs.Internal, "certificate serial %s longer than 20 octets", SerialHex(serial))
	}
	return nil
}

func validity(notBefore, notAfter time.Time) (time.Time, time.Time, error) {
	if notBefore.IsZero() || notAfter.IsZero() {
		return time.Time{}, time.Time{}, errs.New(errs.Config, "certificate validity: NotBefore and NotAfter are required")
	}
	// X.509 times have whole seconds; truncate here so that the template
	// equals what is encoded.
	nb, na := notBefore.UTC().Truncate(time.Second), notAfter.UTC().Truncate(time.Second)
	if !na.After(nb) {
		return time.Time{}, time.Time{}, errs.New(errs.Config, "certificate validity: NotAfter %s is not after NotBefore %s",
			na.Format(time.RFC3339), nb.Format(time.RFC3339))
	}
	return nb, na, nil
}

// setPolicies fills both policy fields of t: crypto/x509 marshals Policies
// by default and PolicyIdentifiers under GODEBUG x509usepolicies=0, and the
// certificate must not depend on the environment.
func setPolicies(t *x509.Certificate, oids []asn1.ObjectIdentifier) error {
	t.PolicyIdentifiers = nil
	t.Policies = nil
	for _, o := range oids {
		ints := make([]uint64, len(o))
		for i, v := range o {
			if v < 0 {
				return errs.New(errs.Config, "certificate policy %v: negative arc", o)
			}
			ints[i] = uint64(v)
		}
		oid, err := x509.OIDFromInts(ints)
		if err != nil {
			return errs.Wrap(errs.Config, err, "certificate policy %v", o)
		}
		t.PolicyIdentifiers = append(t.PolicyIdentifiers, append(asn1.ObjectIdentifier(nil), o...))
		t.Policies = append(t.Policies, oid)
	}
	return nil
}

// setURLs sets cRLDistributionPoints (RFC 5280 4.2.1.13, one distribution
// point per URL) and authorityInfoAccess (RFC 5280 4.2.2.1).
func setURLs(t *x509.Certificate, crls []string, ocsp, issuer string) {
	t.CRLDistributionPoints = append([]string(nil), crls...)
	if ocsp != "" {
		t.OCSPServer = []string{ocsp}
	}
	if issuer != "" {
		t.IssuingCertificateURL = []string{issuer}
	}
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "<nil>"
	}
	return c.Params().Name
}
