package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/protocols/scep"
)

// scepChallengeRequest asks for a one-time SCEP challenge; ValidFor is a
// duration such as "1h" or "7d" (default 1h).
type scepChallengeRequest struct {
	ValidFor string `json:"valid_for"`
}

type scepChallengeResponse struct {
	Challenge string    `json:"challenge"`
	Expires   time.Time `json:"expires"`
}

// createSCEPChallenge makes a one-time challengePassword for one SCEP
// first enrollment under a profile: POST
// /profiles/{profile}/scep/challenges, as an MDM asks for one per device.
// It goes through the same function as `gateway scep challenge`
// (scep.CreateChallenge), which audits it. A profile that does not exist
// or does not allow scep: 404.
func (a *API) createSCEPChallenge(w http.ResponseWriter, r *http.Request) {
	profile := chi.URLParam(r, "profile")
	if p, ok := a.core.Profiles[profile]; !ok || !p.Allows("scep") {
		a.problem(w, r, errs.New(errs.NotFound, "profile %q does not exist or does not allow scep", profile))
		return
	}
	var req scepChallengeRequest
	if err := decodeJSON(w, r, &req); err != nil && err != errEmptyBody {
		a.problem(w, r, err)
		return
	}
	validFor := time.Hour
	if req.ValidFor != "" {
		d, err := config.ParseDuration(req.ValidFor)
		if err != nil {
			a.problem(w, r, errs.New(errs.Malformed, "field \"valid_for\": %q is not a duration such as \"7d\" or \"12h\"", req.ValidFor))
			return
		}
		validFor = d.D()
	}
	st, ok := a.store.(scep.ChallengeStore)
	if !ok {
		a.problem(w, r, errs.New(errs.Internal, "the store (%T) does not keep SCEP challenges", a.store))
		return
	}
	challenge, expires, err := scep.CreateChallenge(r.Context(), st, profile, requester(r), a.now(), validFor)
	if err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Info("scep challenge created", "profile", profile, "expires", expires, "by", requester(r))
	writeJSON(w, http.StatusCreated, scepChallengeResponse{Challenge: challenge, Expires: expires})
}
