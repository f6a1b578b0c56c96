package ca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RenewRequest asks for a certificate's successor now (REST API POST
// /certificates/SERIAL/renew), where server-driven renewal (RenewDue)
// waits for the renew-before window and needs a key the gateway holds.
type RenewRequest struct {
	Serial    string
	Requester string
	// CSR, if set, is a DER PKCS#10 for the successor's key, which must
	// name what the certificate names (KeepsNames). Without it the
	// gateway must hold the certificate's key, and generates a new key
	// of the same type.
	CSR []byte
	// Validity, if set, is the successor's lifetime, at most the
	// profile's maximum; otherwise the profile's default, as for any
	// issuance.
	Validity time.Duration
	// CheckedCSR, instead of CSR, is a request the caller parsed and
	// whose proof of possession it checked (CMP's CRMF requests).
	CheckedCSR *x509.CertificateRequest
	// Method is the enrollment method that asks (default "api").
	Method string
	// Profile, if set, is the profile the certificate must be of (the
	// one whose endpoint was asked); another's is errs.NotFound.
	Profile string
	// Revoke revokes the certificate (superseded) once its successor is
	// issued.
	Revoke bool
}

// Renew issues the successor of an active certificate now, under its
// profile (by the api method, or req.Method) and for its names, and links the two: the
// certificate leaves the server-driven renewal schedule, its successor
// becomes the profile's latest bundle and, for a generated key, takes over
// its auto-renewal setting. A renewal is not held for approval, as its
// names were approved with the certificate it renews. A certificate that
// is not active (pending, revoked) or was renewed already is an
// errs.Conflict, and so is one being renewed at the same time (the store's
// renewal claim: of concurrent renewals, server-driven ones included, one
// goes ahead).
func (c *Core) Renew(ctx context.Context, req RenewRequest) (*Issued, error) {
	old, err := c.Store.GetCertificate(ctx, req.Serial)
	if errs.Is(err, errs.NotFound) {
		return nil, errs.New(errs.NotFound, "no certificate has serial %s", req.Serial)
	}
	if err != nil {
		return nil, err
	}
	if req.Profile != "" && old.Profile != req.Profile {
		return nil, errs.New(errs.NotFound, "no certificate of profile %s has serial %s", req.Profile, req.Serial)
	}
	switch {
	case old.Status != storage.StatusActive:
		return nil, errs.New(errs.Conflict, "certificate %s is %s: only an active certificate can be renewed", old.Serial, old.Status)
	case old.RenewedBy != "":
		return nil, errs.New(errs.Conflict, "certificate %s was renewed already, by %s", old.Serial, old.RenewedBy)
	}
	cert, err := x509.ParseCertificate(old.DER)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "certificate %s: stored DER", old.Serial)
	}
	if req.CSR == nil && req.CheckedCSR == nil && old.KeyPEM == nil {
		return nil, errs.New(errs.Conflict, "certificate %s: the gateway does not hold its key, so it cannot make the new one; send a CSR for the new key", old.Serial)
	}
	method := req.Method
	if method == "" {
		method = "api"
	}
	ir := IssueRequest{Profile: old.Profile, Method: method, Requester: req.Requester, Validity: req.Validity, Replaces: old.Serial}
	if req.CSR != nil || req.CheckedCSR != nil {
		csr := req.CheckedCSR
		if csr == nil {
			if csr, err = c.parseRequest(method, req.CSR); err != nil {
				return nil, err
			}
		}
		if err := KeepsNames(cert, csr); err != nil {
			return nil, err
		}
		ir.CheckedCSR = csr
	} else {
		ir.Generate = successorKey(cert)
		ir.AutoRenew = &old.AutoRenew
	}
	// One renewal at a time, on every replica, server-driven ones
	// included: the store's renewal claim, under a name of this call's
	// own. A renewal that fails before the CA could have signed gives it
	// back; one that fails after keeps it until the lease ends, so that a
	// retry cannot race a certificate the reconcile step may still bring in.
	lease := c.ClaimLease()
	claimant := "renew:" + req.Requester + ":" + rand.Text()
	won, err := c.Store.ClaimRenewal(ctx, old.Serial, claimant, c.Now(), lease)
	if err != nil {
		return nil, err
	}
	if !won {
		return nil, errs.New(errs.Conflict, "certificate %s is being renewed already, or a renewal of it failed after the CA was asked to sign; try again after %s", old.Serial, lease)
	}
	issued, err := c.Issue(ctx, ir)
	if err != nil {
		if !c.mayHaveSigned(old.Profile, err) {
			if rerr := c.Store.ReleaseRenewal(context.WithoutCancel(ctx), old.Serial, claimant); rerr != nil {
				c.Log.Error("release the renewal claim of a failed renewal", "serial", old.Serial, "err", rerr)
			}
		}
		return nil, err
	}
	c.Renewed(ctx, old.Serial, issued.Serial, req.Requester, req.Revoke)
	return issued, nil
}

// mayHaveSigned reports whether an issuance under profile that failed with
// err may have produced a certificate: the CA was asked to sign (the
// pending record was stored, ErrReserved), or an external CA's order ended
// in a fault of its or ours rather than a refusal.
func (c *Core) mayHaveSigned(profile string, err error) bool {
	if errors.Is(err, ErrReserved) {
		return true
	}
	p := c.Profiles[profile]
	return p != nil && p.Upstream != "" && !errs.ClientFault(err)
}

// ClaimLease is how long a request that may issue holds what it claims (a
// renewal on request its certificate, a REST API request its idempotency
// key) before it is taken for dead: longer than an issuance takes (an
// external CA's, up to UpstreamTimeout).
func (c *Core) ClaimLease() time.Duration {
	return max(2*time.Minute, c.UpstreamTimeout+time.Minute)
}

// successorKey asks for a new key of cert's key type for cert's names
// and the subject attributes its profile took from the request.
func successorKey(cert *x509.Certificate) *GenerateRequest {
	return &GenerateRequest{
		KeyType: KeyTypeName(cert.PublicKey), CommonName: cert.Subject.CommonName, Subject: cert.Subject,
		DNSNames: cert.DNSNames, IPs: Strings(cert.IPAddresses), Emails: cert.EmailAddresses, URIs: Strings(cert.URIs),
	}
}

// KeepsNames checks that csr, for the successor of cert, names what cert
// names: the subject common name and the SANs, as sets (the gateway takes
// nothing else from a CSR).
func KeepsNames(cert *x509.Certificate, csr *x509.CertificateRequest) error {
	list := func(m map[string]bool) string { return strings.Join(slices.Sorted(maps.Keys(m)), ", ") }
	if got, want := list(CSRIdentifiers(csr)), list(CertIdentifiers(cert)); got != want {
		return errs.New(errs.BadCSR, "a renewal must keep the names: the CSR has [%s], the certificate [%s]", got, want)
	}
	return nil
}
