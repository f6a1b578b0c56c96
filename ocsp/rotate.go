package ocsp

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// Delegated responders (RFC 6960 4.2.2.2): each CA's responses are signed
// by a key generated in the token for that purpose, certified by the CA
// for id-kp-OCSPSigning only, for ResponderValidity. The certificate
// carries id-pkix-ocsp-nocheck, so clients do not ask whether the
// responder itself is revoked; the short lifetime is what limits the harm
// of a compromised responder key. A new key and certificate are made
// RotateBefore the current one expires; responses signed by the old one
// stay valid, because none outlives the certificate that signed it.
//
// Replicas share responders through the store: each uses the one with the
// latest NotAfter. Two replicas that find rotation due at the same moment
// both make one; both are valid, and they converge on the later.
//
// Tokens have little room for objects, so once a responder's certificate
// has expired its key is destroyed (destroyExpired): nothing it signed is
// still valid by then. Whichever replica gets there first destroys it; the
// others find the key and its record gone, which is not an error. A key is
// destroyed destroyGrace after its certificate's end, not at once, so that
// a replica whose clock runs ahead does not pull a key from under one
// whose clock runs behind (and which may still sign with it).

// ensureKey makes sure c has a current key to sign with, then destroys
// the keys of the CA's expired responders.
func (r *Responder) ensureKey(ctx context.Context, c *caResponder) error {
	c.rotateMu.Lock()
	defer c.rotateMu.Unlock()
	if err := r.currentKey(ctx, c); err != nil {
		return err
	}
	r.destroyExpired(ctx, c)
	return nil
}

// currentKey makes sure c has a current key, rotating the responder when
// due. The caller holds c.rotateMu.
func (r *Responder) currentKey(ctx context.Context, c *caResponder) error {
	if c.selfSign {
		// Responses never outlive the CA's certificate: a renewed one
		// lets them run longer.
		if k := c.key.Load(); k == nil || !k.notAfter.Equal(c.a.Cert().NotAfter) {
			k, err := r.signingKeyFor(c.a.Key, nil, c.a.Cert().NotAfter)
			if err != nil {
				return err
			}
			c.key.Store(k)
		}
		return nil
	}
	now := r.d.Now()
	rec, err := r.d.Store.LatestOCSPResponder(ctx, c.name)
	switch {
	case errs.Is(err, errs.NotFound):
	case err != nil:
		return err
	case now.Before(rec.NotAfter.Add(-r.cfg.RotateBefore)) || !rec.NotAfter.Before(c.a.Cert().NotAfter):
		// Current (or as long-lived as the CA allows: rotating would not
		// give a later one).
		if cur := c.key.Load(); cur == nil || cur.uri != rec.KeyURI {
			k, err := r.loadResponder(ctx, c, rec)
			if err != nil {
				return err
			}
			c.key.Store(k)
			r.d.Log.Info("OCSP responder in use", "ca", c.name, "key", rec.KeyURI, "not_after", rec.NotAfter)
		}
		return nil
	}
	k, err := r.newResponder(ctx, c, now)
	if err != nil {
		return err
	}
	c.key.Store(k)
	return nil
}

// destroyGrace is how long after its certificate's end a responder key is
// destroyed; see above.
const destroyGrace = time.Hour

// destroyExpired destroys the keys of the CA's responders whose
// certificates expired destroyGrace before now, then deletes their records: the key
// first, so that a crash in between leaves a record whose key is gone
// (the next run destroys it again, which finds nothing, and deletes the
// record), never a key in the token that no record points to. The key in
// use and the CA's own key are never destroyed. A failure is logged and
// retried at the next maintenance; it does not stop the responder. The
// caller holds c.rotateMu.
func (r *Responder) destroyExpired(ctx context.Context, c *caResponder) {
	now := r.d.Now()
	expired, err := r.d.Store.ExpiredOCSPResponders(ctx, c.name, now.Add(-destroyGrace))
	if err != nil {
		r.d.Log.Error("OCSP: cannot list expired responders", "ca", c.name, "err", err)
		return
	}
	var inUse string
	if k := c.key.Load(); k != nil {
		inUse = k.uri
	}
	for _, rec := range expired {
		if rec.KeyURI == inUse || rec.KeyURI == c.a.Key.URI() {
			continue
		}
		if err := r.d.Signer.Destroy(ctx, rec.KeyURI); err != nil {
			r.d.Log.Error("OCSP: cannot destroy the key of an expired responder", "ca", c.name, "key", rec.KeyURI, "err", err)
			continue
		}
		if _, err := r.d.Store.AppendAudit(ctx, storage.AuditEvent{
			At: now, Actor: "gateway ocsp", Action: "destroy-key",
			Detail: fmt.Sprintf("key of the OCSP responder of CA %s, expired %s: %s", c.name, rec.NotAfter.Format(time.RFC3339), rec.KeyURI),
		}); err != nil {
			r.d.Log.Error("OCSP: cannot audit a destroyed responder key", "ca", c.name, "key", rec.KeyURI, "err", err)
			continue
		}
		if err := r.d.Store.DeleteOCSPResponder(ctx, rec.KeyURI); err != nil {
			r.d.Log.Error("OCSP: cannot delete the record of a destroyed responder key", "ca", c.name, "key", rec.KeyURI, "err", err)
			continue
		}
		r.d.Log.Info("OCSP responder key destroyed", "ca", c.name, "key", rec.KeyURI, "not_after", rec.NotAfter)
	}
}

// loadResponder checks a stored responder against its CA and finds its key.
func (r *Responder) loadResponder(ctx context.Context, c *caResponder, rec storage.OCSPResponder) (*signingKey, error) {
	cert, err := x509.ParseCertificate(rec.CertDER)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "OCSP responder of %s: stored certificate", c.name)
	}
	if err := cert.CheckSignatureFrom(c.a.Cert()); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "OCSP responder of %s: certificate not issued by the CA", c.name)
	}
	key, err := r.d.Signer.Key(ctx, rec.KeyURI)
	if err != nil {
		return nil, fmt.Errorf("OCSP responder of %s: key %s: %w", c.name, rec.KeyURI, err)
	}
	if pk, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(cert.PublicKey) {
		return nil, errs.New(errs.Config, "OCSP responder of %s: the key at %s does not match its certificate", c.name, rec.KeyURI)
	}
	return r.signingKeyFor(key, cert, cert.NotAfter)
}

func (r *Responder) signingKeyFor(key signer.Key, cert *x509.Certificate, notAfter time.Time) (*signingKey, error) {
	alg, err := ca.SignatureAlgorithmFor(key.Public())
	if err != nil {
		return nil, err
	}
	algID, hash, err := signatureParams(alg)
	if err != nil {
		return nil, errs.Wrap(errs.Config, err, "OCSP signing key")
	}
	keyHash, err := ca.SubjectKeyID(key.Public()) // SHA-1 of the subjectPublicKey bits: RFC 6960's KeyHash
	if err != nil {
		return nil, err
	}
	k := &signingKey{key: key, uri: key.URI(), cert: cert, keyHash: keyHash, algID: algID, hash: hash, notAfter: notAfter}
	if cert != nil {
		k.certs = [][]byte{cert.Raw}
	}
	return k, nil
}

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1).
func oidOCSPNoCheck() asn1.ObjectIdentifier {
	return asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
}

// ResponderTemplate returns the certificate of a delegated OCSP responder
// for pub under a (RFC 6960 4.2.2.2, CA/B Forum BR 7.1.2.8): end entity,
// digitalSignature, extKeyUsage id-kp-OCSPSigning alone, id-pkix-ocsp-nocheck
// (its value is NULL), the authority key identifier (copied from the CA by
// x509.CreateCertificate), no CRL distribution point or AIA (nothing about
// it is ever checked), and the CA's organization and country in its subject.
func ResponderTemplate(a *ca.Authority, pub any, serial *big.Int, notBefore, notAfter time.Time) (*x509.Certificate, error) {
	alg, err := ca.SignatureAlgorithmFor(a.Key.Public())
	if err != nil {
		return nil, err
	}
	subject := pkix.Name{
		CommonName:   a.Cert().Subject.CommonName + " OCSP Responder",
		Organization: a.Cert().Subject.Organization,
		Country:      a.Cert().Subject.Country,
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore.UTC().Truncate(time.Second),
		NotAfter:              notAfter.UTC().Truncate(time.Second),
		SignatureAlgorithm:    alg,
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions:       []pkix.Extension{{Id: oidOCSPNoCheck(), Value: []byte{0x05, 0x00}}},
	}, nil
}

// newResponder generates a responder key in the token, has the CA certify
// it (lint gate, persist, sign, then audit and activate in one commit, as
// every certificate) and records it as the CA's responder.
func (r *Responder) newResponder(ctx context.Context, c *caResponder, now time.Time) (*signingKey, error) {
	kt := ca.KeyTypeOf(c.a.Key.Public())
	if kt == "" {
		kt = signer.ECDSAP256
	}
	var suffix [2]byte
	rand.Read(suffix[:])
	label := fmt.Sprintf("ocsp-%s-%s-%x", c.name, now.UTC().Format("20060102T150405Z"), suffix)
	serial, err := ca.NewSerial(rand.Reader)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "serial")
	}
	notBefore, notAfter := now.Add(-ca.Backdate), now.Add(r.cfg.ResponderValidity)
	if notAfter.After(c.a.Cert().NotAfter) {
		notAfter = c.a.Cert().NotAfter
	}
	// Lint before the token is asked for anything: the draft carries a
	// throwaway subject key of the same type, the real issuer and the
	// real extensions.
	draftKey, err := ca.GenerateKey(string(kt))
	if err != nil {
		return nil, err
	}
	tmpl, err := ResponderTemplate(c.a, draftKey.Public(), serial, notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	draft, err := r.d.Presign.PreSign(tmpl, c.a.Cert(), draftKey.Public(), c.a.Key.Public())
	if err != nil {
		return nil, err
	}
	if err := r.d.Linter.LintCertificate(draft); err != nil {
		return nil, err
	}

	key, err := r.d.Signer.Generate(ctx, label, kt)
	if err != nil {
		return nil, fmt.Errorf("generate OCSP responder key %s: %w", label, err)
	}
	hexSerial := ca.SerialHex(serial)
	if err := r.d.Store.InsertPendingCertificate(ctx, storage.Certificate{
		Serial: hexSerial, CA: c.name, Profile: "ocsp-responder", Method: "internal", Requester: "ocsp rotation",
		Status: storage.StatusPending, NotBefore: tmpl.NotBefore, NotAfter: tmpl.NotAfter, CreatedAt: now,
		Subject: tmpl.Subject.String(),
	}); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.a.Cert(), key.Public(), c.a.Key.WithContext(ctx))
	if err != nil {
		return nil, errs.Wrap(errs.KindOf(err), err, "sign OCSP responder certificate %s", hexSerial)
	}
	if _, err := r.d.Store.CompleteIssuance(ctx, storage.AuditEvent{
		At: now, Actor: "gateway ocsp", Action: "issue", Profile: "ocsp-responder", Serial: hexSerial,
		Detail: fmt.Sprintf("OCSP responder for CA %s, key %s", c.name, key.URI()), DER: der,
	}, hexSerial, der, tmpl.NotBefore, tmpl.NotAfter); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "parse OCSP responder certificate")
	}
	if err := r.d.Store.InsertOCSPResponder(ctx, storage.OCSPResponder{
		CA: c.name, KeyURI: key.URI(), CertDER: der, NotAfter: cert.NotAfter, CreatedAt: now,
	}); err != nil {
		return nil, err
	}
	r.d.Log.Info("OCSP responder created", "ca", c.name, "key", key.URI(), "serial", hexSerial, "not_after", cert.NotAfter)
	return r.signingKeyFor(key, cert, cert.NotAfter)
}
