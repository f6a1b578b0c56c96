package est

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/internal/ratelimit"
)

// simpleenroll answers POST simpleenroll (RFC 7030 section 4.2.1): an
// authenticated client sends a CSR and gets the certificate.
func (s *Server) simpleenroll(w http.ResponseWriter, r *http.Request, ps *profileState) {
	id, csr, err := s.enrollment(w, r, ps)
	if err == nil {
		err = s.limiter.Take(ratelimit.Requester(ps.name, id.requester), s.now())
	}
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	issued, err := s.issue(r.Context(), ca.IssueRequest{Profile: ps.name, Method: "est", Requester: id.requester, CheckedCSR: csr})
	if p, ok := ca.AsPending(err); ok {
		s.pending(w, p)
		return
	}
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	s.writeCert(w, r, ps, issued.Cert)
}

// pending answers an enrollment that waits (RFC 7030 section 4.2.3): for
// an operator's approval, or for the external ACME CA that backs the
// profile, which took longer than Settings.UpstreamWait. The answer is 202 with
// Retry-After, and the client repeats the same request until it gets the
// certificate (or a refusal: a rejected request, the external CA's
// error). The gateway recognizes the repeat by the CSR's key and names,
// so the client keeps no state but its key.
func (s *Server) pending(w http.ResponseWriter, p *ca.PendingError) {
	waitsFor := "an operator's approval"
	if p.Request.DecidedBy == ca.AsyncActor {
		waitsFor = "its certificate from the external CA"
	}
	s.log.Info("enrollment waits", "protocol", "est", "profile", p.Request.Profile,
		"requester", p.Request.Requester, "request", p.Request.ID, "for", waitsFor)
	w.Header().Set("Retry-After", p.RetryAfterHeader())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "request %s waits for %s; repeat this request later\n", p.Request.ID, waitsFor)
}

// enrollment is what simpleenroll and serverkeygen share: authenticate
// (before reading the body, so that an unauthenticated client costs
// nothing more), read the CSR, check channel binding and the names a client
// certificate binds.
func (s *Server) enrollment(w http.ResponseWriter, r *http.Request, ps *profileState) (identity, *x509.CertificateRequest, error) {
	id, err := s.authenticate(r, ps)
	if err != nil {
		return id, nil, err
	}
	csr, err := s.readCSR(w, r)
	if err != nil {
		return id, nil, err
	}
	if err := checkChannelBinding(r, ps, csr); err != nil {
		return id, nil, err
	}
	if err := checkBoundNames(ps, id, csr); err != nil {
		return id, nil, err
	}
	return id, csr, nil
}

// simplereenroll answers POST simplereenroll (RFC 7030 section 4.2.2): the
// client authenticates with the certificate it renews, and the CSR keeps
// that certificate's subject and SANs (with the same or a new key). The new
// certificate records the old one as the one it replaces; the old one stays
// valid unless the profile revokes on renewal.
func (s *Server) simplereenroll(w http.ResponseWriter, r *http.Request, ps *profileState) {
	old, rec, err := s.renewedCertificate(r.Context(), r, ps)
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	csr, err := s.readCSR(w, r)
	if err == nil {
		err = checkSameNames(s.core.Profiles[ps.name], old, csr)
	}
	if err == nil {
		err = checkChannelBinding(r, ps, csr)
	}
	if err == nil {
		err = s.limiter.Take(ratelimit.Subject(ps.name, old.Subject), s.now())
	}
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	requester := "cert:" + rec.Serial
	issued, err := s.issue(r.Context(), ca.IssueRequest{
		Profile: ps.name, Method: "est", Requester: requester, CheckedCSR: csr, Replaces: rec.Serial,
	})
	if p, ok := ca.AsPending(err); ok {
		s.pending(w, p)
		return
	}
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	// The certificate is issued (or was, when the external CA took
	// longer and this is the repeat): the bookkeeping must not be cut
	// short by a client that hangs up.
	s.core.Renewed(context.WithoutCancel(r.Context()), rec.Serial, issued.Serial, requester, ps.set.RevokeOnRenewal)
	s.writeCert(w, r, ps, issued.Cert)
}

// readCSR reads and decodes a CSR body.
func (s *Server) readCSR(w http.ResponseWriter, r *http.Request) (*x509.CertificateRequest, error) {
	body, err := readBody(w, r, s.maxBody)
	if err != nil {
		return nil, err
	}
	return ParseCSRBody(body)
}

// issue asks the core and logs a grant; fail logs refusals. An external
// CA's issuance of a CSR goes on in the background after
// Settings.UpstreamWait; serverkeygen waits for it, as a device cannot
// poll for a key it does not have.
func (s *Server) issue(ctx context.Context, req ca.IssueRequest) (*ca.Issued, error) {
	if p := s.core.Profiles[req.Profile]; p != nil && p.Upstream != "" && req.CheckedCSR != nil {
		req.Async, req.AsyncWait = true, s.upstreamWait
	}
	issued, err := s.core.Issue(ctx, req)
	if err != nil {
		return nil, err
	}
	if issued.Earlier {
		s.log.Info("approved request repeated", "protocol", "est", "profile", req.Profile, "requester", req.Requester, "serial", issued.Serial)
		return issued, nil
	}
	s.log.Info("issuance granted", "protocol", "est", "profile", req.Profile, "requester", req.Requester,
		"serial", issued.Serial, "replaces", req.Replaces, "generated_key", issued.Key != nil, "not_after", issued.Cert.NotAfter)
	return issued, nil
}

// writeCert answers an enrollment: the issued certificate alone as a
// certs-only PKCS#7 (RFC 7030 section 4.2.3: "containing only the
// certificate that was issued").
func (s *Server) writeCert(w http.ResponseWriter, r *http.Request, ps *profileState, cert *x509.Certificate) {
	p7, err := certsOnly(cert)
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	writeBase64(w, mediaCertsOnly, p7)
}
