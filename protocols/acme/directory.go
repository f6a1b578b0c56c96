package acme

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// directory answers the RFC 8555 section 7.1.1 directory of one profile.
func (s *Server) directory(w http.ResponseWriter, r *http.Request) {
	base := baseURL(r)
	meta := map[string]any{}
	if s.set.TermsOfService != "" {
		meta["termsOfService"] = s.set.TermsOfService
	}
	if s.set.Website != "" {
		meta["website"] = s.set.Website
	}
	meta["externalAccountRequired"] = s.set.RequireEAB[chi.URLParam(r, "profile")]
	meta["profiles"] = map[string]string{chi.URLParam(r, "profile"): "certificate profile " + chi.URLParam(r, "profile")}
	writeJSON(w, http.StatusOK, map[string]any{
		"newNonce":    base + "/new-nonce",
		"newAccount":  base + "/new-account",
		"newOrder":    base + "/new-order",
		"revokeCert":  base + "/revoke-cert",
		"keyChange":   base + "/key-change",
		"renewalInfo": base + "/renewal-info",
		"meta":        meta,
	})
}
