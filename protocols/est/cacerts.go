package est

import (
	"bytes"
	"context"
	"crypto/x509"
	"net/http"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// cacerts answers GET cacerts (RFC 7030 section 4.1): the profile's issuing
// CA and the CAs above it up to the root, as a certs-only PKCS#7. No
// authentication: a client uses it to bootstrap its trust anchors (and must
// then check them out of band, RFC 7030 section 4.1.1). After a CA is
// renewed, its new certificate.
func (s *Server) cacerts(w http.ResponseWriter, r *http.Request, ps *profileState) {
	var der []byte
	var err error
	if ps.cacerts != nil {
		der, err = ps.cacerts.Get()
	} else {
		der, err = s.upstreamCACerts(r.Context(), ps)
	}
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	writeBase64(w, mediaCACerts, der)
}

// upstreamCACerts is the cacerts answer of a profile backed by an external
// ACME CA, which has no endpoint for its CA certificates: they come with
// every certificate it issues, so the answer is the chain of the profile's
// newest certificate in the inventory, as the CA sent it, and the root
// that certified its top where the upstream's roots_file holds it (RFC
// 7030 section 4.1.3 wants the root; ACME chains leave it out). An
// external CA that moves to another intermediate is followed with its
// next certificate. Before the first, there is nothing to answer. The
// answer is kept for chainTTL.
func (s *Server) upstreamCACerts(ctx context.Context, ps *profileState) ([]byte, error) {
	now := s.now()
	if der, ok := s.chains.Get(ps.name, now); ok {
		return der, nil
	}
	rec, err := s.store.LatestCertificate(ctx, ps.name, now)
	if errs.Is(err, errs.NotFound) || err == nil && len(rec.Chain) == 0 {
		return nil, errs.Publicf(errs.Unavailable, "profile %s is issued by the external CA %s, whose CA certificates the gateway learns with the first certificate it issues here; none is issued yet",
			ps.name, ps.profile.Upstream)
	}
	if err != nil {
		return nil, err
	}
	chain, err := ca.ParsePEMCertificates(rec.Chain)
	if err != nil {
		return nil, errs.Wrap(errs.Internal, err, "chain of certificate %s", rec.Serial)
	}
	if r, ok := s.core.Upstreams[ps.profile.Upstream].(ca.UpstreamRoots); ok {
		chain = append(chain, rootOf(chain[len(chain)-1], r.Roots())...)
	}
	der, err := certsOnly(chain...)
	if err != nil {
		return nil, err
	}
	s.chains.Put(ps.name, der, now)
	return der, nil
}

// rootOf is the root among roots that certified top, none if top is a
// root itself or none did.
func rootOf(top *x509.Certificate, roots []*x509.Certificate) []*x509.Certificate {
	if bytes.Equal(top.RawIssuer, top.RawSubject) {
		return nil
	}
	for _, r := range roots {
		if bytes.Equal(top.RawIssuer, r.RawSubject) && top.CheckSignatureFrom(r) == nil {
			return []*x509.Certificate{r}
		}
	}
	return nil
}
