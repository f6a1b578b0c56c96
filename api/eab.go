package api

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/protocols/acme"
)

// eabResponse is a new External Account Binding key (RFC 8555 section
// 7.3.4): the values certbot (--eab-kid, --eab-hmac-key) and lego (--kid,
// --hmac) take.
type eabResponse struct {
	KeyID   string   `json:"key_id"`
	HMACKey string   `json:"hmac_key"` // base64url without padding
	Names   []string `json:"names,omitempty"`
}

// eabRequest is the optional body of POST /profiles/{profile}/acme/eab.
type eabRequest struct {
	// Names, if set, are the only identifiers the account may order.
	Names []string `json:"names"`
}

// createEAB makes a single-use EAB key for the ACME directory of a
// profile: POST /profiles/{profile}/acme/eab. It goes through the same
// function as `gateway acme eab create` (acme.CreateEABKey), which audits
// it. A profile that does not exist or does not allow acme has no ACME
// directory: 404.
func (a *API) createEAB(w http.ResponseWriter, r *http.Request) {
	profile := chi.URLParam(r, "profile")
	if p, ok := a.core.Profiles[profile]; !ok || !slices.Contains(p.Methods, "acme") {
		a.problem(w, r, errs.New(errs.NotFound, "profile %q does not exist or does not allow acme", profile))
		return
	}
	// Every store keeps ACME state; the API's Store interface names only
	// what the other routes need, so ask for the rest here.
	st, ok := a.store.(acme.EABKeyStore)
	if !ok {
		a.problem(w, r, errs.New(errs.Internal, "the store (%T) does not keep ACME EAB keys", a.store))
		return
	}
	var req eabRequest
	if err := decodeJSON(w, r, &req); err != nil && err != errEmptyBody {
		a.problem(w, r, err)
		return
	}
	kid, key, err := acme.CreateEABKey(r.Context(), st, profile, req.Names, requester(r), a.now())
	if err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Info("acme eab key created", "profile", profile, "key_id", kid, "names", req.Names, "by", requester(r))
	writeJSON(w, http.StatusCreated, eabResponse{KeyID: kid, HMACKey: key, Names: req.Names})
}
