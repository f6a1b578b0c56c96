package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// IssueStore is what issuance needs of the store.
type IssueStore interface {
	InsertPendingCertificate(ctx context.Context, c storage.Certificate) error
	CompleteIssuance(ctx context.Context, e storage.AuditEvent, serial string, der []byte, notBefore, notAfter time.Time) (int64, error)
}

// ErrReserved is in the error of an issuance that failed after its pending
// record was stored (the HSM did not sign, or the signed certificate could
// not be recorded), and so after its Request.ACMEOrder was claimed.
// Without it, the issuance failed before anything was stored. Test with
// errors.Is.
var ErrReserved = errors.New("failed after the pending record was stored")

// ErrAwaitingReconcile is in the error of an issuance whose certificate
// was signed and its DER audited, but which could not be stored: the
// reconcile step stores it later (and so finishes what the certificate
// was for, such as an ACME order). Test with errors.Is.
var ErrAwaitingReconcile = errors.New("signed and audited, stored by the next reconcile")

// Request says who asks for a certificate, by which method and under which
// profile; it goes to the inventory and the audit trail with what the
// inventory keeps beside the certificate.
type Request struct {
	Profile   string
	Method    string
	Requester string
	// Key is the subject's private key when the gateway generated it and
	// keeps it (sealed) for bundles and server-driven renewal.
	Key       crypto.Signer
	AutoRenew bool
	// RenewAt, when set, is computed from the certificate's validity.
	RenewAt   func(notBefore, notAfter time.Time) time.Time
	Replaces  string
	ACMEOrder string // see IssueRequest.ACMEOrder
	// Approval, for a request an operator approved, says which and by
	// whom, for the audit record.
	Approval string
}

// Issuer signs end-entity certificates, persisting before it signs.
//
// Core puts the profile policy in front of it; the gateway's own HTTPS
// certificate takes it directly.
type Issuer struct {
	Store   IssueStore
	Linter  *Linter
	Presign *Presigner
	Sealer  *Sealer // needed only when a Request carries a Key
	URLs    URLs
	Log     *slog.Logger
	Now     func() time.Time
}

// Issue signs a leaf for pub under a. In order: build the template, sign
// a draft with a throwaway key and lint it, reserve the serial with a
// pending record, sign with the CA key, then audit the issuance (with the
// DER) and activate the certificate in one write, so one commit. The
// certificate ends no later than a's (withinIssuer).
func (is *Issuer) Issue(ctx context.Context, a *Authority, p LeafParams, pub crypto.PublicKey, req Request) (*x509.Certificate, error) {
	var err error
	if p.NotAfter, err = withinIssuer(a, is.Now(), p.NotAfter); err != nil {
		return nil, err
	}
	// A serial clash (1 in 2^64 after 2^64 certificates) fails the
	// pending insert with a Conflict; draw again rather than fail.
	for attempt := 0; ; attempt++ {
		serial, err := NewSerial(rand.Reader)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "serial")
		}
		tmpl, draft, err := is.lintedDraft(a, p, pub, serial)
		if err != nil {
			return nil, err
		}
		hex := SerialHex(serial)
		rec := storage.Certificate{
			Serial: hex, CA: a.Name, Profile: req.Profile, Method: req.Method, Requester: req.Requester,
			Status: storage.StatusPending, SANs: sans(tmpl), NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter,
			CreatedAt: is.Now(), Subject: tmpl.Subject.String(),
			AutoRenew: req.AutoRenew, Replaces: req.Replaces, ACMEOrder: req.ACMEOrder,
		}
		if req.Key != nil {
			if rec.KeyPEM, err = is.seal(hex, req.Key); err != nil {
				return nil, err
			}
		}
		if req.RenewAt != nil {
			rec.RenewAt = req.RenewAt(tmpl.NotBefore, tmpl.NotAfter)
		}
		err = is.Store.InsertPendingCertificate(ctx, rec)
		if errs.Is(err, errs.Conflict) && !errors.Is(err, storage.ErrACMEOrderNotReady) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		der, cert, err := signDraft(ctx, draft, a.Cert(), a.Key)
		if err != nil {
			return nil, reserved(err, "sign certificate %s", hex)
		}
		if err := complete(ctx, is.Store, is.Log, is.Now(), req, slog.String("ca", a.Name), hex, der, sans(tmpl), tmpl.NotBefore, tmpl.NotAfter); err != nil {
			return nil, err
		}
		return cert, nil
	}
}

// withinIssuer cuts a certificate's end to its issuer's: relying parties
// reject a chain whose CA certificate has expired, so a leaf outliving it
// would promise a lifetime it does not have (Boulder refuses such requests;
// this issues the shorter certificate: clients renew by what they get).
// An issuer that has expired cannot issue at all until an operator renews
// it (`gateway ca renew`).
func withinIssuer(a *Authority, now, notAfter time.Time) (time.Time, error) {
	cur := a.Certified()
	if r := cur.Revoked; r != nil {
		return time.Time{}, errs.Publicf(errs.Unavailable, "CA %s cannot issue: CA %s was revoked at %s (reason %d)", a.Name, r.CA, r.At.UTC().Format(time.RFC3339), r.Reason)
	}
	end := cur.Cert.NotAfter
	if !now.Before(end) {
		return time.Time{}, errs.Publicf(errs.Unavailable, "CA %s cannot issue: its certificate expired at %s", a.Name, end.UTC().Format(time.RFC3339))
	}
	if notAfter.After(end) {
		return end, nil
	}
	return notAfter, nil
}

// lintedDraft builds the template of a leaf for pub under a with serial,
// signs it with a throwaway key and runs the CA's lint gate on it.
func (is *Issuer) lintedDraft(a *Authority, p LeafParams, pub crypto.PublicKey, serial *big.Int) (*x509.Certificate, []byte, error) {
	p.IssuerKey = a.Key.Public()
	p.OCSPURL = is.URLs.OCSP(a.Name)
	p.IssuerURL = is.URLs.Issuer(a.Name)
	// RFC 5280 4.2.1.13: the gateway's CRL first (the certificate's shard
	// of it when the CA partitions its CRL), then the mirrors, which carry
	// the full CRL.
	first := is.URLs.CRL(a.Name)
	if a.CRLShards > 1 {
		first = is.URLs.CRLShard(a.Name, CRLShard(serial.Bytes(), a.CRLShards))
	}
	p.CRLURLs = append([]string{first}, a.CRLMirrors...)
	tmpl, err := LeafTemplate(p, pub, serial)
	if err != nil {
		return nil, nil, err
	}
	draft, err := is.Presign.PreSign(tmpl, a.Cert(), pub, p.IssuerKey)
	if err != nil {
		return nil, nil, err
	}
	linter := is.Linter
	if a.Linter != nil {
		linter = a.Linter
	}
	if err := linter.LintCertificate(draft); err != nil {
		return nil, nil, err
	}
	return tmpl, draft, nil
}

// complete audits an issuance with the certificate's DER and activates its
// pending record, in one commit (IssueStore.CompleteIssuance). The store
// commits the event even when the activation fails: then nothing signed is
// lost, and Reconcile restores the certificate from the pending record and
// the DER in the trail. issuer is the CA or upstream, for the trail and
// the log.
func complete(ctx context.Context, st IssueStore, log *slog.Logger, at time.Time, req Request, issuer slog.Attr, serial string, der []byte, sanList []string, notBefore, notAfter time.Time) error {
	detail := fmt.Sprintf("method=%s %s=%s sans=%s", req.Method, issuer.Key, issuer.Value, strings.Join(sanList, ","))
	if req.Approval != "" {
		detail += " (" + req.Approval + ")"
	}
	auditID, err := st.CompleteIssuance(ctx, storage.AuditEvent{
		At: at, Actor: req.Requester, Action: "issue", Profile: req.Profile, Serial: serial,
		Detail: detail, DER: der,
	}, serial, der, notBefore, notAfter)
	if err != nil {
		if auditID != 0 {
			log.Error("signed certificate audited but not activated; reconcile restores it",
				"serial", serial, issuer, "audit_id", auditID, "err", err)
			err = fmt.Errorf("%w: %w", ErrAwaitingReconcile, err)
		}
		return reserved(err, "certificate %s", serial)
	}
	log.Info("issued", "serial", serial, issuer, "profile", req.Profile, "method", req.Method, "sans", sanList)
	return nil
}

// reserved marks err, which happened after the pending record was stored,
// with ErrReserved, keeping its kind.
func reserved(err error, format string, args ...any) error {
	return errs.Wrap(errs.KindOf(err), fmt.Errorf("%w: %w", ErrReserved, err), format, args...)
}

func (is *Issuer) seal(serial string, key crypto.Signer) ([]byte, error) {
	if is.Sealer == nil {
		return nil, errs.New(errs.Internal, "no key sealer configured for a gateway-held key")
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "marshal key")
	}
	return is.Sealer.Seal(serial, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func sans(c *x509.Certificate) []string {
	return sanStrings(c.DNSNames, c.IPAddresses, c.EmailAddresses, c.URIs)
}

// sanStrings lists SANs as text: DNS names, IP addresses, e-mail
// addresses, URIs.
func sanStrings(dns []string, ips []net.IP, emails []string, uris []*url.URL) []string {
	var out []string
	out = append(out, dns...)
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	out = append(out, emails...)
	for _, u := range uris {
		out = append(out, u.String())
	}
	return out
}
