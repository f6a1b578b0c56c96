package est

import "net/http"

// cacerts answers GET cacerts (RFC 7030 section 4.1): the profile's issuing
// CA and the CAs above it up to the root, as a certs-only PKCS#7. No
// authentication: a client uses it to bootstrap its trust anchors (and must
// then check them out of band, RFC 7030 section 4.1.1). After a CA is
// renewed, its new certificate.
func (s *Server) cacerts(w http.ResponseWriter, r *http.Request, ps *profileState) {
	der, err := ps.cacerts.Get()
	if err != nil {
		s.fail(w, r, ps.name, err)
		return
	}
	writeBase64(w, mediaCACerts, der)
}
