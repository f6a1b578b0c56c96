package est

import (
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/certgw/gateway/errs"
)

// oidChallengePassword is PKCS#9 challengePassword (RFC 2985 section 5.4.1).
var oidChallengePassword = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 7}

// checkChannelBinding enforces RFC 7030 section 3.5 where the profile asks
// for it: the CSR's challengePassword must hold the base64 channel
// binding of the TLS connection it came over, which ties the request to the
// authenticated TLS session and stops a man in the middle from relaying
// someone else's CSR. The binding is the one the TLS version has:
// tls-unique (RFC 5929 section 3) on TLS 1.2, tls-exporter (RFC 9266,
// 32 bytes of the exporter labelled "EXPORTER-Channel-Binding", no
// context) on TLS 1.3, which has no tls-unique.
func checkChannelBinding(r *http.Request, ps *profileState, csr *x509.CertificateRequest) error {
	if !ps.set.RequireChannelBinding || r.TLS == nil {
		return nil
	}
	binding, name, err := channelBinding(r.TLS)
	if err != nil {
		return errs.Wrap(errs.Unauthorized, err, "profile %s requires channel binding", ps.name)
	}
	want := base64.StdEncoding.EncodeToString(binding)
	got, found, err := challengePassword(csr)
	switch {
	case err != nil:
		return err
	case !found:
		return errs.New(errs.Unauthorized, "profile %s requires channel binding: put the base64 %s value of the TLS session in the CSR's challengePassword (RFC 7030 section 3.5)", ps.name, name)
	case subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(want)) != 1:
		return errs.New(errs.Unauthorized, "the CSR's challengePassword is not the %s value of this TLS session (RFC 7030 section 3.5)", name)
	}
	return nil
}

// channelBinding returns the channel binding of a TLS connection and its
// name.
func channelBinding(cs *tls.ConnectionState) ([]byte, string, error) {
	switch cs.Version {
	case tls.VersionTLS12:
		if cs.TLSUnique == nil {
			// A resumed TLS 1.2 session without the extended master
			// secret (RFC 7627) has no usable tls-unique.
			return nil, "", errors.New("this resumed TLS session cannot give it: connect anew")
		}
		return cs.TLSUnique, "tls-unique", nil
	case tls.VersionTLS13:
		b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
		if err != nil {
			return nil, "", err
		}
		return b, "tls-exporter", nil
	}
	return nil, "", fmt.Errorf("TLS version %s has no channel binding the gateway checks", tls.VersionName(cs.Version))
}

// challengePassword reads the challengePassword attribute of a CSR, which
// crypto/x509 does not parse.
func challengePassword(csr *x509.CertificateRequest) (string, bool, error) {
	values, found, err := csrAttribute(csr, oidChallengePassword)
	if err != nil || !found {
		return "", false, err
	}
	if len(values) != 1 {
		return "", false, errs.New(errs.BadCSR, "challengePassword must have exactly one value")
	}
	var s string
	if _, err := asn1.Unmarshal(values[0].FullBytes, &s); err != nil {
		return "", false, errs.Wrap(errs.BadCSR, err, "challengePassword is not a string")
	}
	return s, true, nil
}

// csrAttribute returns the values of the first attribute of type oid in
// a CSR. crypto/x509 keeps only the attributes whose values are sequences
// of type-value pairs, which leaves out challengePassword and the key
// identifiers of RFC 7030 section 4.4.1.
//
//	CertificationRequestInfo ::= SEQUENCE {
//	     version       INTEGER { v1(0) },
//	     subject       Name,
//	     subjectPKInfo SubjectPublicKeyInfo,
//	     attributes    [0] IMPLICIT SET OF Attribute }
func csrAttribute(csr *x509.CertificateRequest, oid asn1.ObjectIdentifier) ([]asn1.RawValue, bool, error) {
	var info struct {
		Version       int
		Subject       asn1.RawValue
		PublicKey     asn1.RawValue
		RawAttributes []asn1.RawValue `asn1:"tag:0"`
	}
	if _, err := asn1.Unmarshal(csr.RawTBSCertificateRequest, &info); err != nil {
		return nil, false, errs.Wrap(errs.BadCSR, err, "the attributes of the certification request")
	}
	for _, raw := range info.RawAttributes {
		var attr struct {
			Type   asn1.ObjectIdentifier
			Values []asn1.RawValue `asn1:"set"`
		}
		if _, err := asn1.Unmarshal(raw.FullBytes, &attr); err != nil {
			return nil, false, errs.Wrap(errs.BadCSR, err, "an attribute of the certification request")
		}
		if attr.Type.Equal(oid) {
			return attr.Values, true, nil
		}
	}
	return nil, false, nil
}
