package est

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"net/http"
	"strings"

	"github.com/certgw/gateway/errs"
)

// oidChallengePassword is PKCS#9 challengePassword (RFC 2985 section 5.4.1).
var oidChallengePassword = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}

// checkChannelBinding enforces RFC 7030 section 3.5 where the profile asks
// for it: the CSR's challengePassword must hold the base64 tls-unique value
// (RFC 5929 section 3) of the connection it came over, which ties the
// request to the authenticated TLS session and stops a man in the middle
// from relaying someone else's CSR.
//
// tls-unique exists for TLS 1.2 only. On TLS 1.3 nothing is checked.
// TODO: RFC 9266 defines tls-exporter as the TLS 1.3 channel binding;
// check it in the challengePassword once EST clients send it there.
func checkChannelBinding(r *http.Request, ps *profileState, csr *x509.CertificateRequest) error {
	if !ps.set.RequireChannelBinding || r.TLS == nil || r.TLS.Version != tls.VersionTLS12 {
		return nil
	}
	if r.TLS.TLSUnique == nil {
		// A resumed TLS 1.2 session without the extended master secret
		// (RFC 7627) has no usable tls-unique.
		return errs.New(errs.Unauthorized, "profile %s requires channel binding, which this resumed TLS session cannot give: connect anew", ps.name)
	}
	want := base64.StdEncoding.EncodeToString(r.TLS.TLSUnique)
	got, found, err := challengePassword(csr)
	switch {
	case err != nil:
		return err
	case !found:
		return errs.New(errs.Unauthorized, "profile %s requires channel binding: put the base64 tls-unique value of the TLS session in the CSR's challengePassword (RFC 7030 section 3.5)", ps.name)
	case strings.TrimSpace(got) != want:
		return errs.New(errs.Unauthorized, "the CSR's challengePassword is not the tls-unique value of this TLS session (RFC 7030 section 3.5)")
	}
	return nil
}

// challengePassword reads the challengePassword attribute of a CSR, which
// crypto/x509 does not parse.
//
//	CertificationRequestInfo ::= SEQUENCE {
//	     version       INTEGER { v1(0) },
//	     subject       Name,
//	     subjectPKInfo SubjectPublicKeyInfo,
//	     attributes    [0] IMPLICIT SET OF Attribute }
func challengePassword(csr *x509.CertificateRequest) (string, bool, error) {
	var info struct {
		Version       int
		Subject       asn1.RawValue
		PublicKey     asn1.RawValue
		RawAttributes []asn1.RawValue `asn1:"tag:0"`
	}
	if _, err := asn1.Unmarshal(csr.RawTBSCertificateRequest, &info); err != nil {
		return "", false, errs.Wrap(errs.BadCSR, err, "the attributes of the certification request")
	}
	for _, raw := range info.RawAttributes {
		var attr struct {
			Type   asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}
		if _, err := asn1.Unmarshal(raw.FullBytes, &attr); err != nil {
			return "", false, errs.Wrap(errs.BadCSR, err, "an attribute of the certification request")
		}
		if !attr.Type.Equal(oidChallengePassword) {
			continue
		}
		if len(attr.Values) != 1 {
			return "", false, errs.New(errs.BadCSR, "challengePassword must have exactly one value")
		}
		var s string
		if _, err := asn1.Unmarshal(attr.Values[0].FullBytes, &s); err != nil {
			return "", false, errs.Wrap(errs.BadCSR, err, "challengePassword is not a string")
		}
		return s, true, nil
	}
	return "", false, nil
}
