package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// CertificateGetter is the part of a store IssuedRecord reads.
type CertificateGetter interface {
	GetCertificate(ctx context.Context, serial string) (storage.Certificate, error)
}

// IssuedRecord finds a certificate a client presents (to authenticate an
// EST request, to sign a SCEP renewal) in the inventory and checks that it
// may speak for profile: the same DER, active, issued under that profile.
// The caller has verified its chain to one of the gateway's CAs.
func IssuedRecord(ctx context.Context, st CertificateGetter, cert *x509.Certificate, profile string) (storage.Certificate, error) {
	serial := SerialHex(cert.SerialNumber)
	rec, err := st.GetCertificate(ctx, serial)
	switch {
	case errs.Is(err, errs.NotFound):
		return rec, errs.New(errs.Unauthorized, "certificate %s is not in the gateway's inventory", serial)
	case err != nil:
		return rec, err
	case !bytes.Equal(rec.DER, cert.Raw):
		return rec, errs.New(errs.Unauthorized, "certificate %s differs from the one in the gateway's inventory", serial)
	case rec.Status == storage.StatusRevoked:
		return rec, errs.New(errs.Unauthorized, "certificate %s is revoked", serial)
	case rec.Status != storage.StatusActive:
		return rec, errs.New(errs.Unauthorized, "certificate %s is %s", serial, rec.Status)
	case rec.Profile != profile:
		// A certificate speaks only for its own profile: otherwise any
		// certificate of a permissive profile could enroll under a strict
		// one.
		return rec, errs.New(errs.Forbidden, "certificate %s was issued under profile %s, not %s", serial, rec.Profile, profile)
	}
	return rec, nil
}

// identifierSet lists the identifiers of a subject: its common name and
// SANs, each tagged with its type and in a canonical form ("cn:", "dns:",
// "email:", "ip:", "uri:").
func identifierSet(cn string, dns, emails []string, ips []string, uris []string) map[string]bool {
	set := map[string]bool{}
	if cn != "" {
		set["cn:"+strings.ToLower(cn)] = true
	}
	for _, d := range dns {
		set["dns:"+strings.ToLower(d)] = true
	}
	for _, e := range emails {
		set["email:"+strings.ToLower(e)] = true
	}
	for _, ip := range ips {
		set["ip:"+ip] = true
	}
	for _, u := range uris {
		set["uri:"+u] = true
	}
	return set
}

// CSRIdentifiers and CertIdentifiers list the identifiers of a CSR and of
// a certificate (identifierSet).
func CSRIdentifiers(c *x509.CertificateRequest) map[string]bool {
	return identifierSet(c.Subject.CommonName, c.DNSNames, c.EmailAddresses, Strings(c.IPAddresses), Strings(c.URIs))
}

func CertIdentifiers(c *x509.Certificate) map[string]bool {
	return identifierSet(c.Subject.CommonName, c.DNSNames, c.EmailAddresses, Strings(c.IPAddresses), Strings(c.URIs))
}

// Strings formats values such as IP addresses and URIs as text.
func Strings[T fmt.Stringer](l []T) []string {
	var out []string
	for _, v := range l {
		out = append(out, v.String())
	}
	return out
}
