package scep

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smallstep/scep"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/protocols/internal/throttle"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// Store is what the SCEP server reads and writes itself; issuance and
// revocation go through the core.
type Store interface {
	ca.CertificateGetter
	// LatestCertificate finds the current RA certificate of a CA, which
	// is recorded under the profile raProfile(CA).
	LatestCertificate(ctx context.Context, profile string, now time.Time) (storage.Certificate, error)
	// ListCertificates finds the RA's earlier certificates, to which
	// devices that fetched GetCACert before a renewal still encrypt.
	ListCertificates(ctx context.Context, f storage.CertificateFilter) ([]storage.Certificate, string, error)
	// LatestCRL is the CRL a CA publishes, for GetCRL.
	LatestCRL(ctx context.Context, ca string) (storage.PublishedCRL, error)
	// Wrong challenges are counted in the store, so every replica sees
	// them (throttle.Shared).
	throttle.Shared
}

// raProfile is the inventory profile of a CA's RA certificates; profile
// names from the configuration cannot hold ':'.
func raProfile(caName string) string { return "scep-ra:" + caName }

// raLabel is the token label of a CA's RA key.
func raLabel(caName string) string { return "scep-ra-" + caName }

// ra is an RA key and its certificate, with the GetCACert answer.
type ra struct {
	cert    *x509.Certificate
	key     signer.Key
	caCerts []byte        // degenerate PKCS#7: the RA certificate, then the CA chain
	ca      *ca.Certified // the CA certificate and chain in caCerts
}

// raState is the RA of one CA. Its key lives in the token for good; its
// certificate is renewed RARenewBefore its end, by whichever replica gets
// there first (two at once both make one, and each is valid).
type raState struct {
	a   *ca.Authority
	cfg *Config    // New's, with its defaults filled in
	mu  sync.Mutex // held while a certificate is made
	cur atomic.Pointer[ra]
}

// fresh reports whether cert can serve at now: before RARenewBefore its
// end, or for as long as the CA allows when it ends with the CA (a new one
// could not outlive it).
func (st *raState) fresh(cert *x509.Certificate, now time.Time) bool {
	return now.Before(cert.NotAfter.Add(-st.cfg.RARenewBefore)) ||
		(!cert.NotAfter.Before(st.a.Cert().NotAfter) && now.Before(cert.NotAfter))
}

// current returns the RA, finding or making its key and certificate when
// there is none yet or the certificate is due for renewal.
func (st *raState) current(ctx context.Context) (*ra, error) {
	now := st.cfg.Now()
	if r := st.cur.Load(); r != nil && st.fresh(r.cert, now) && r.ca == st.a.Certified() {
		return r, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	r := st.cur.Load()
	if r != nil && st.fresh(r.cert, now) {
		if r.ca == st.a.Certified() {
			return r, nil
		}
		// The CA was renewed: the RA certificate stays (the same CA key
		// signed it), the GetCACert answer carries the new CA certificate.
		return st.publish(r.cert, r.key)
	}
	key, err := st.key(ctx)
	if err != nil {
		return nil, err
	}
	cert, err := st.certificate(ctx, key, now)
	if err != nil {
		return nil, err
	}
	return st.publish(cert, key)
}

// publish makes the RA current with its GetCACert answer.
func (st *raState) publish(cert *x509.Certificate, key signer.Key) (*ra, error) {
	c := st.a.Certified()
	chain := append([]*x509.Certificate{cert, c.Cert}, c.Chain...)
	deg, err := scep.DegenerateCertificates(chain)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "scep: GetCACert answer")
	}
	r := &ra{cert: cert, key: key, caCerts: deg, ca: c}
	st.cur.Store(r)
	return r, nil
}

// key finds the RA key in the token or makes it (RSA 2048: the key size
// every SCEP client takes). Two replicas that make it at once: the second
// gets a conflict and finds the first's. The signer keeps the lookup.
func (st *raState) key(ctx context.Context) (signer.Key, error) {
	sg, label := st.cfg.Signer, raLabel(st.a.Name)
	key, err := sg.Key(ctx, sg.URI(label))
	if errs.Is(err, errs.NotFound) {
		key, err = sg.Generate(ctx, label, signer.RSA2048)
		if errs.Is(err, errs.Conflict) {
			key, err = sg.Key(ctx, sg.URI(label))
		} else if err == nil {
			st.cfg.Log.Info("SCEP RA key created", "ca", st.a.Name, "key", key.URI())
		}
	}
	if err != nil {
		return nil, errs.Wrap(errs.KindOf(err), err, "scep: RA key of CA %s", st.a.Name)
	}
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return nil, errs.New(errs.Config, "scep: the RA key %s of CA %s is not an RSA key", key.URI(), st.a.Name)
	}
	return key, nil
}

// certificate returns the newest RA certificate of the store that
// certifies key and is not due for renewal, or has the CA issue a new one
// through the issuer (lint gate, persist, sign, audit: as every
// certificate), recorded under raProfile.
func (st *raState) certificate(ctx context.Context, key signer.Key, now time.Time) (*x509.Certificate, error) {
	cfg := st.cfg
	rec, err := cfg.Store.LatestCertificate(ctx, raProfile(st.a.Name), now)
	switch {
	case errs.Is(err, errs.NotFound):
	case err != nil:
		return nil, err
	default:
		cert, err := x509.ParseCertificate(rec.DER)
		if err != nil {
			return nil, errs.Wrap(errs.Internal, err, "scep: RA certificate %s", rec.Serial)
		}
		pub, ok := cert.PublicKey.(*rsa.PublicKey)
		if ok && pub.Equal(key.Public()) && st.fresh(cert, now) {
			return cert, nil
		}
	}
	notAfter := now.Add(cfg.RAValidity)
	if notAfter.After(st.a.Cert().NotAfter) {
		notAfter = st.a.Cert().NotAfter
	}
	subject := pkix.Name{
		CommonName:   st.a.Cert().Subject.CommonName + " SCEP RA",
		Organization: st.a.Cert().Subject.Organization,
		Country:      st.a.Cert().Subject.Country,
	}
	cert, err := cfg.Core.Issuer.Issue(ctx, st.a, ca.LeafParams{
		Subject: subject, NotBefore: now.Add(-ca.Backdate), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		// id-kp-cmcRA (RFC 6402) alone: the certificate signs CMS and
		// receives envelopes, nothing a TLS or e-mail client accepts.
		ExtKeyUsage:        []x509.ExtKeyUsage{},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 28}},
	}, key.Public(), ca.Request{Profile: raProfile(st.a.Name), Method: "internal", Requester: "scep"})
	if err != nil {
		return nil, errs.Wrap(errs.KindOf(err), err, "scep: issue the RA certificate of CA %s", st.a.Name)
	}
	cfg.Log.Info("SCEP RA certificate issued", "ca", st.a.Name, "serial", ca.SerialHex(cert.SerialNumber), "not_after", cert.NotAfter)
	return cert, nil
}

// maxEarlierRACerts bounds how many earlier RA certificates a request is
// tried against: a year each, a device would have to have kept one for
// years to need more.
const maxEarlierRACerts = 5

// decrypt opens a request's envelope with the RA key. A device that
// fetched GetCACert before the RA certificate was renewed encrypts to the
// earlier certificate (its issuer and serial name the recipient, RFC 8894
// section 3.2.2); the key is the same, so the earlier certificates, still
// valid, are tried in turn, newest first.
func (s *Server) decrypt(ctx context.Context, msg *scep.PKIMessage, st *raState, cur *ra) error {
	return s.decryptWith(ctx, st, cur, func(c *x509.Certificate) error { return msg.DecryptPKIEnvelope(c, cur.key) })
}

// decryptWith is decrypt for an envelope that open opens as addressed to
// an RA certificate.
func (s *Server) decryptWith(ctx context.Context, st *raState, cur *ra, open func(*x509.Certificate) error) error {
	err := open(cur.cert)
	if err == nil || errs.Is(err, errs.Unavailable) {
		return err
	}
	earlier, _, lerr := s.store.ListCertificates(ctx, storage.CertificateFilter{
		Profile: raProfile(st.a.Name), CA: st.a.Name, Status: "active", Now: s.now(), Limit: maxEarlierRACerts + 1,
	})
	if lerr != nil {
		return errs.Wrap(errs.Unavailable, lerr, "scep: earlier RA certificates")
	}
	for _, rec := range earlier {
		c, perr := x509.ParseCertificate(rec.DER)
		if perr != nil || c.Equal(cur.cert) {
			continue
		}
		if derr := open(c); derr == nil {
			s.log.Info("scep: request encrypted to an earlier RA certificate", "ca", st.a.Name, "serial", rec.Serial)
			return nil
		} else if errs.Is(derr, errs.Unavailable) {
			return derr
		}
	}
	return err
}
