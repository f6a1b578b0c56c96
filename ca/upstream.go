package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Upstream is an external ACME CA that issues the certificates of the
// profiles backed by it (package upstream drives it with lego).
//
// The core applies the profile's rules on methods, names and keys before
// it asks; the external CA decides validity, key usage and extensions and
// signs with its own key, so there is no template, no lint gate and no
// persist-then-sign: the serial is the CA's and known only afterwards.
// What stays is the inventory and the audit trail: the request is audited
// before the CA is asked, and the certificate recorded, with its DER in
// the trail, before anyone gets it.
type Upstream interface {
	// Obtain has the CA validate the CSR's names and issue a certificate
	// for it; it returns the certificate and its issuer chain, issuer
	// first. replaces, if not nil, is the CA's certificate this one renews
	// (RFC 9773 section 5: a CA may exempt such orders from rate limits).
	Obtain(ctx context.Context, csr *x509.CertificateRequest, replaces *x509.Certificate) (*x509.Certificate, []*x509.Certificate, error)
	// Revoke asks the CA to revoke cert with an RFC 5280 reason code. A
	// certificate the CA had already revoked is not an error.
	Revoke(ctx context.Context, cert *x509.Certificate, reason int) error
}

// UpstreamRoots is an Upstream that knows the roots its certificates
// chain to (a private ACME CA's roots_file): its chains end below them,
// and EST's cacerts, which must carry the root (RFC 7030 section 4.1.3),
// adds the one that certified the top.
type UpstreamRoots interface {
	Roots() []*x509.Certificate
}

// issueUpstream is Issue for a profile backed by an external CA: csr is
// the requester's (checked), or nil when the gateway generated key.
func (c *Core) issueUpstream(ctx context.Context, p *Profile, u Upstream, csr *x509.CertificateRequest, key crypto.Signer, names Names, meta Request) (*Issued, error) {
	if len(names.URIs) > 0 { // config.Validate refuses names.uris on such a profile
		return nil, errs.New(errs.RejectedIdentifier, "profile %s: rule names.uris: an external ACME CA issues DNS names and IP addresses, not URIs", p.Name)
	}
	if csr == nil {
		var err error
		if csr, err = requestFor(key, names); err != nil {
			return nil, err
		}
	}
	sanList := names.strings()
	if _, err := c.Store.AppendAudit(ctx, storage.AuditEvent{
		At: c.Now(), Actor: meta.Requester, Action: "upstream-request", Profile: p.Name,
		Detail: fmt.Sprintf("method=%s upstream=%s sans=%s", meta.Method, p.Upstream, strings.Join(sanList, ",")),
	}); err != nil {
		return nil, err
	}
	start := time.Now()
	cert, chain, err := u.Obtain(ctx, csr, c.replaced(ctx, p.Upstream, meta.Replaces))
	if c.Observer != nil {
		c.Observer.Upstream(p.Upstream, time.Since(start), err)
	}
	if err != nil {
		return nil, err
	}
	serial := SerialHex(cert.SerialNumber)
	if err := c.checkUpstreamCert(p, csr, cert); err != nil {
		// Nobody gets it, so it should not stay valid either.
		c.Log.Error("external CA issued a certificate the profile does not allow; revoking it", "upstream", p.Upstream, "serial", serial, "err", err)
		if rerr := u.Revoke(ctx, cert, reasonCessationOfOperation); rerr != nil {
			c.Log.Error("revoke a refused certificate at the external CA", "upstream", p.Upstream, "serial", serial, "err", rerr)
		}
		return nil, err
	}

	rec := storage.Certificate{
		Serial: serial, CA: p.Upstream, Profile: p.Name, Method: meta.Method, Requester: meta.Requester,
		Status: storage.StatusPending, SANs: sans(cert), NotBefore: cert.NotBefore, NotAfter: cert.NotAfter,
		CreatedAt: c.Now(), Subject: cert.Subject.String(), AutoRenew: meta.AutoRenew,
		Replaces: meta.Replaces, ACMEOrder: meta.ACMEOrder, Chain: PEMChain(chain...),
	}
	if meta.Key != nil {
		if rec.KeyPEM, err = c.Issuer.seal(serial, meta.Key); err != nil {
			return nil, err
		}
	}
	if meta.RenewAt != nil {
		rec.RenewAt = meta.RenewAt(cert.NotBefore, cert.NotAfter)
	}
	if err := c.Store.InsertPendingCertificate(ctx, rec); err != nil {
		// The CA issued, but the gateway cannot hand the certificate out
		// (a second finalization of one ACME order won the claim, or the
		// store failed): revoke it rather than leave a valid certificate
		// nobody knows of.
		c.Log.Error("certificate from the external CA could not be recorded; revoking it", "upstream", p.Upstream, "serial", serial,
			"err", err, "pem", string(PEMChain(cert)))
		if rerr := u.Revoke(ctx, cert, reasonCessationOfOperation); rerr != nil {
			c.Log.Error("revoke an unrecorded certificate at the external CA", "upstream", p.Upstream, "serial", serial, "err", rerr)
		}
		return nil, err
	}
	if err := complete(ctx, c.Store, c.Log, c.Now(), meta, slog.String("upstream", p.Upstream), serial, cert.Raw, sans(cert), cert.NotBefore, cert.NotAfter); err != nil {
		return nil, err
	}
	return &Issued{Serial: serial, Issuer: p.Upstream, Cert: cert, Chain: chain, Key: key}, nil
}

// replaced is the certificate a renewal replaces, when the same external
// CA issued it; nil otherwise, or if it cannot be read (the renewal then
// goes ahead without naming it).
func (c *Core) replaced(ctx context.Context, upstream, serial string) *x509.Certificate {
	if serial == "" {
		return nil
	}
	rec, err := c.Store.GetCertificate(ctx, serial)
	if err != nil || rec.CA != upstream || rec.DER == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return nil
	}
	return cert
}

// reasonCessationOfOperation is the RFC 5280 CRLReason of a certificate
// the gateway obtained but will not hand out.
const reasonCessationOfOperation = 5

// checkUpstreamCert makes sure that what the external CA returned is what
// was asked for and what the profile allows: the CSR's key, the CSR's SANs
// exactly (the CA may add a CN repeating one of them).
func (c *Core) checkUpstreamCert(p *Profile, csr *x509.CertificateRequest, cert *x509.Certificate) error {
	want, err := x509.MarshalPKIXPublicKey(csr.PublicKey)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "CSR key")
	}
	got, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil || !bytes.Equal(want, got) {
		return errs.New(errs.Internal, "upstream %s: the certificate is not for the requested key", p.Upstream)
	}
	sanSet := func(m map[string]bool) map[string]bool {
		maps.DeleteFunc(m, func(k string, _ bool) bool { return strings.HasPrefix(k, "cn:") })
		return m
	}
	if !maps.Equal(sanSet(CSRIdentifiers(csr)), sanSet(CertIdentifiers(cert))) {
		return errs.New(errs.Internal, "upstream %s: the certificate names %v, the request %v", p.Upstream, sans(cert), csrSANs(csr))
	}
	n := Names{CommonName: cert.Subject.CommonName, DNS: cert.DNSNames, IPs: cert.IPAddresses, Emails: cert.EmailAddresses, URIs: cert.URIs}
	if err := p.CheckNames(n); err != nil {
		return errs.Wrap(errs.Internal, err, "upstream %s: certificate outside the profile", p.Upstream)
	}
	return nil
}

func csrSANs(r *x509.CertificateRequest) []string {
	return sanStrings(r.DNSNames, r.IPAddresses, r.EmailAddresses, r.URIs)
}

// requestFor makes the CSR of a key the gateway generated.
func requestFor(key crypto.Signer, n Names) (*x509.CertificateRequest, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: n.CommonName}, DNSNames: n.DNS, IPAddresses: n.IPs, EmailAddresses: n.Emails,
	}, key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "CSR for a generated key")
	}
	return x509.ParseCertificateRequest(der)
}

func (n Names) strings() []string { return sanStrings(n.DNS, n.IPs, n.Emails, n.URIs) }

// ParsePEMCertificates reads PEM certificates, such as the chain the
// inventory keeps beside a certificate of an external CA, in order; blocks
// of other types are skipped.
func ParsePEMCertificates(p []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for len(p) > 0 {
		var b *pem.Block
		b, p = pem.Decode(p)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate")
	}
	return out, nil
}

// revokeUpstream has the external CA revoke one of its certificates before
// the inventory records it: a revocation the CA refused must not look done.
func (c *Core) revokeUpstream(ctx context.Context, u Upstream, rec storage.Certificate, reason int) error {
	switch {
	case rec.Status == storage.StatusRevoked:
		return errs.New(errs.Conflict, "certificate %s is already revoked", rec.Serial)
	case rec.Status != storage.StatusActive:
		return errs.New(errs.Conflict, "certificate %s is %s", rec.Serial, rec.Status)
	case reason == storage.ReasonCertificateHold:
		// RFC 8555 section 7.6 revokes for good; there is no hold.
		return errs.New(errs.Malformed, "certificate %s was issued by the external CA %s, which cannot put it on hold", rec.Serial, rec.CA)
	}
	cert, err := x509.ParseCertificate(rec.DER)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "stored certificate %s", rec.Serial)
	}
	return u.Revoke(ctx, cert, reason)
}
