package acme

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// Authorizations: RFC 8555 sections 7.1.4, 7.5 and 7.5.2 (deactivation).

type challengeJSON struct {
	Type      string          `json:"type"`
	URL       string          `json:"url"`
	Token     string          `json:"token"`
	Status    string          `json:"status"`
	Validated string          `json:"validated,omitempty"`
	Error     json.RawMessage `json:"error,omitempty"`
}

type authzJSON struct {
	Identifier storage.ACMEIdentifier `json:"identifier"`
	Status     string                 `json:"status"`
	Expires    string                 `json:"expires"`
	Challenges []challengeJSON        `json:"challenges"`
	Wildcard   bool                   `json:"wildcard,omitempty"`
}

func challengeBody(base string, c storage.ACMEChallenge) challengeJSON {
	j := challengeJSON{Type: c.Type, URL: base + "/chall/" + c.ID, Token: c.Token, Status: c.Status, Error: c.Error}
	if !c.Validated.IsZero() {
		j.Validated = c.Validated.UTC().Format(time.RFC3339)
	}
	return j
}

// authzStatus is the status a client sees: pending past expiry is expired.
func (s *Server) authzStatus(a storage.ACMEAuthz) string {
	if a.Status == storage.ACMEPending && !s.now().Before(a.Expires) {
		return "expired"
	}
	return a.Status
}

func (s *Server) authzBody(base string, a storage.ACMEAuthz) authzJSON {
	j := authzJSON{Identifier: a.Identifier, Status: s.authzStatus(a), Expires: a.Expires.UTC().Format(time.RFC3339), Wildcard: a.Wildcard, Challenges: []challengeJSON{}}
	for _, c := range a.Challenges {
		j.Challenges = append(j.Challenges, challengeBody(base, c))
	}
	return j
}

// ownAuthz loads an authorization of the signing account; another
// account's is 404.
func (s *Server) ownAuthz(ctx context.Context, req *request, id string) (storage.ACMEAuthz, error) {
	a, err := s.store.GetACMEAuthz(ctx, id)
	if errs.Is(err, errs.NotFound) || err == nil && a.AccountID != req.account.ID {
		return a, probNotFound("no such authorization")
	}
	return a, err
}

// authz is POST-as-GET of an authorization, or its deactivation.
func (s *Server) authz(ctx context.Context, req *request) (*response, error) {
	a, err := s.ownAuthz(ctx, req, chi.URLParam(req.r, "id"))
	if err != nil {
		return nil, err
	}
	if !req.postAsGet {
		var p struct {
			Status string `json:"status"`
		}
		if err := decodePayload(req, &p); err != nil {
			return nil, err
		}
		if p.Status != storage.ACMEDeactivated {
			return nil, malformed("an authorization's status can only be set to deactivated")
		}
		// Section 7.5.2: a pending or valid authorization can be
		// deactivated; its order then cannot become valid.
		done := false
		for _, from := range []string{storage.ACMEPending, storage.ACMEValid} {
			ok, err := s.store.SetACMEAuthzStatus(ctx, a.ID, from, storage.ACMEDeactivated)
			if err != nil {
				return nil, err
			}
			if ok {
				done = true
				break
			}
		}
		if !done {
			return nil, malformed("authorization is %s and cannot be deactivated", a.Status)
		}
		for _, from := range []string{storage.ACMEPending, storage.ACMEReady} {
			if _, err := s.store.SetACMEOrderStatus(ctx, a.OrderID, from, storage.ACMEInvalid, nil, ""); err != nil {
				return nil, err
			}
		}
		if a, err = s.store.GetACMEAuthz(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	resp := &response{status: http.StatusOK, body: s.authzBody(req.base, a)}
	for _, c := range a.Challenges {
		if c.Status == storage.ACMEProcessing {
			resp.retryAfter = true
		}
	}
	return resp, nil
}
