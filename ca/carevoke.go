package ca

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"regexp"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// CAProfilePrefix names the profile of a CA's audit events (init-ca,
// renew-ca, record-ca, revoke-ca: GET /api/v1/audit?profile=ca:NAME is
// the CA's history) and of a CA certificate's record in the certificate
// inventory: "ca:" and the CA's name. Revoke puts a revoked CA's
// certificates there, under its parent, so that the parent's CRL lists
// them and its OCSP responder says revoked, on every replica, as for any
// certificate.
const CAProfilePrefix = "ca:"

// CARevocation is what Revoke did.
type CARevocation struct {
	CA     string
	Parent string
	// Serials are the CA's certificates revoked now: every certificate of
	// its key, the current one first, then those it renewed.
	Serials []string
	At      time.Time
	Reason  int
}

// Revoke revokes a subordinate CA, as when its key is compromised or the
// CA is retired: every certificate its parent issued for its key (the
// current one and those renewed before it, from the audit trail) is
// recorded in the certificate inventory under the parent and revoked with
// reason (RFC 5280 section 5.3.1), so the parent's CRL and OCSP responder
// publish it. From then on nothing is issued under the CA or any CA below
// it (running gateways take it up as they take up a renewal, see Reload),
// and it cannot be renewed. A root is not revoked: relying parties remove
// it from their trust stores. Revoking a CA again is errs.Conflict.
func (h *Hierarchy) Revoke(ctx context.Context, name string, reason int, actor string) (CARevocation, error) {
	c, ok := h.Config.CA(name)
	if !ok {
		return CARevocation{}, errs.New(errs.NotFound, "no CA %q in the configuration", name)
	}
	if c.External {
		return CARevocation{}, errs.New(errs.Conflict, "CA %s is certified by an external CA: revoke it there (that CA's CRL and OCSP answer for it)", name)
	}
	if c.Parent == "" {
		return CARevocation{}, errs.New(errs.Conflict, "CA %s is a root: a root is not revoked; relying parties remove it from their trust stores", name)
	}
	if err := storage.CheckReason(reason); err != nil {
		return CARevocation{}, errs.Wrap(errs.Malformed, err, "revoke CA %s", name)
	}
	done, err := h.Load(ctx)
	if err != nil {
		return CARevocation{}, err
	}
	a, parent := done[name], done[c.Parent]
	if r := a.Certified().Revoked; r != nil {
		return CARevocation{}, errs.New(errs.Conflict, "CA %s is already revoked (CA %s, at %s)", name, r.CA, r.At.UTC().Format(time.RFC3339))
	}
	certs, err := h.certificates(ctx, a, parent)
	if err != nil {
		return CARevocation{}, err
	}
	now := h.Now()
	out := CARevocation{CA: name, Parent: c.Parent, At: now, Reason: reason}
	for _, cert := range certs {
		serial := SerialHex(cert.SerialNumber)
		if err := h.record(ctx, name, c.Parent, cert, actor, now); err != nil {
			return out, err
		}
		err := h.Store.RevokeCertificate(ctx, serial, reason, now, storage.AuditEvent{
			At: now, Actor: actor, Action: "revoke-ca", Profile: CAProfilePrefix + name, Serial: serial,
			Detail: fmt.Sprintf("CA %s certificate %s (until %s) revoked by %s, reason=%d", name, serial, cert.NotAfter.UTC().Format(time.RFC3339), c.Parent, reason),
		})
		if errs.Is(err, errs.Conflict) { // revoked before (through the REST API, or an interrupted Revoke)
			continue
		}
		if err != nil {
			return out, err
		}
		out.Serials = append(out.Serials, serial)
	}
	h.Log.Warn("revoked CA", "ca", name, "parent", c.Parent, "serials", out.Serials, "reason", reason, "by", actor)
	return out, nil
}

// record puts a CA certificate in the certificate inventory, under its
// parent, unless it is there: a pending record, then the certificate
// with an audit event that carries it, as an issuance stores a leaf.
func (h *Hierarchy) record(ctx context.Context, name, parent string, cert *x509.Certificate, actor string, now time.Time) error {
	serial := SerialHex(cert.SerialNumber)
	if _, err := h.Store.GetCertificate(ctx, serial); err == nil || !errs.Is(err, errs.NotFound) {
		return err
	}
	err := h.Store.InsertPendingCertificate(ctx, storage.Certificate{
		Serial: serial, CA: parent, Profile: CAProfilePrefix + name, Method: "internal", Requester: actor,
		Status: storage.StatusPending, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, CreatedAt: now, Subject: cert.Subject.String(),
	})
	if err != nil {
		return fmt.Errorf("CA %s: record certificate %s: %w", name, serial, err)
	}
	if _, err := h.Store.CompleteIssuance(ctx, storage.AuditEvent{
		At: now, Actor: actor, Action: "record-ca", Profile: CAProfilePrefix + name, Serial: serial,
		Detail: fmt.Sprintf("CA %s certificate %s issued by %s, recorded in the inventory", name, serial, parent), DER: cert.Raw,
	}, serial, cert.Raw, cert.NotBefore, cert.NotAfter); err != nil {
		return fmt.Errorf("CA %s: record certificate %s: %w", name, serial, err)
	}
	return nil
}

// replacesRE finds the serial a renewal replaced in the detail of its
// audit event (Renew writes "... replaces SERIAL (until ...").
var replacesRE = regexp.MustCompile(`\breplaces ([0-9a-f]+) \(until`)

// certificates are the certificates parent issued for a's key: the
// current one, then each one it renewed, newest first, followed back
// through the audit trail (each renew-ca event names the serial it
// replaced; the first certificate's event is init-ca).
func (h *Hierarchy) certificates(ctx context.Context, a, parent *Authority) ([]*x509.Certificate, error) {
	certs := []*x509.Certificate{a.Cert()}
	seen := map[string]bool{}
	for cert := a.Cert(); ; {
		serial := SerialHex(cert.SerialNumber)
		if seen[serial] {
			return certs, nil
		}
		seen[serial] = true
		events, err := h.Store.ListAudit(ctx, storage.AuditFilter{Serial: serial, Limit: 100})
		if err != nil {
			return nil, err
		}
		var prev string
		for _, e := range events {
			if e.Action == "renew-ca" && bytes.Equal(e.DER, cert.Raw) {
				if m := replacesRE.FindStringSubmatch(e.Detail); m != nil {
					prev = m[1]
				}
			}
		}
		if prev == "" {
			return certs, nil
		}
		earlier, err := AuditedCACertificate(ctx, h.Store, prev, parent.Cert())
		if err != nil {
			return nil, err
		}
		if earlier == nil || !samePublicKey(earlier.PublicKey, a.Key.Public()) {
			h.Log.Warn("CA revocation: an earlier certificate is not in the audit trail", "ca", a.Name, "serial", prev)
			return certs, nil
		}
		cert = earlier
		certs = append(certs, cert)
	}
}

// AuditTrail is the part of the store that reads the audit trail.
type AuditTrail interface {
	ListAudit(ctx context.Context, f storage.AuditFilter) ([]storage.AuditEvent, error)
}

// AuditedCACertificate is the CA certificate with serial that issuer
// signed, from the audit trail, whose init-ca and renew-ca events carry
// every CA certificate's DER, those a renewal replaced included; nil when
// the trail has none.
func AuditedCACertificate(ctx context.Context, trail AuditTrail, serial string, issuer *x509.Certificate) (*x509.Certificate, error) {
	events, err := trail.ListAudit(ctx, storage.AuditFilter{Serial: serial, Limit: 100})
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if e.Action != "init-ca" && e.Action != "renew-ca" {
			continue
		}
		cert, err := x509.ParseCertificate(e.DER)
		if err == nil && cert.IsCA && bytes.Equal(cert.RawIssuer, issuer.RawSubject) && cert.CheckSignatureFrom(issuer) == nil {
			return cert, nil
		}
	}
	return nil, nil
}
