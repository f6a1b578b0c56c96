package est

import "net/http"

// cacerts answers GET cacerts (RFC 7030 section 4.1): the profile's issuing
// CA and the CAs above it up to the root, as a certs-only PKCS#7. No
// authentication: a client uses it to bootstrap its trust anchors (and must
// then check them out of band, RFC 7030 section 4.1.1).
func (s *Server) cacerts(w http.ResponseWriter, r *http.Request, ps *profileState) {
	writeBase64(w, mediaCACerts, ps.cacerts)
}
