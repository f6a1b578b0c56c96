package acme

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/config"
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
	profiles := map[string]string{}
	for _, name := range s.offers(chi.URLParam(r, "profile")) {
		profiles[name] = s.describe(name)
	}
	meta["profiles"] = profiles
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

// offers lists the profiles the directory of profile dir issues under
// (draft-ietf-acme-profiles): its own first, then those it offers.
func (s *Server) offers(dir string) []string {
	return append([]string{dir}, s.profiles[dir].ACMEOffers...)
}

// offered reports whether the directory of profile dir issues under
// profile name.
func (s *Server) offered(dir, name string) bool {
	return name == dir || slices.Contains(s.profiles[dir].ACMEOffers, name)
}

// describe is a profile's line in meta.profiles: its description, or
// what its rules say.
func (s *Server) describe(name string) string {
	p := s.profiles[name]
	switch {
	case p.Description != "":
		return p.Description
	case p.Upstream != "":
		return fmt.Sprintf("certificate profile %s, issued by the external ACME CA %s", name, p.Upstream)
	}
	return fmt.Sprintf("certificate profile %s: valid for %s, at most %s", name, config.Duration(p.DefaultValidity), config.Duration(p.MaxValidity))
}
