package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// tokenJSON is an API token as the API shows it: never its secret, which
// only the answer to its creation carries (Token).
type tokenJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	Profiles  []string  `json:"profiles,omitempty"` // none: every profile
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is when the token stops working; absent: never.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Token     string     `json:"token,omitempty"`
}

func toTokenJSON(t storage.Token) tokenJSON {
	out := tokenJSON{ID: t.ID, Name: t.Name, Scopes: t.Scopes, Profiles: t.Profiles, CreatedAt: t.CreatedAt.UTC()}
	if !t.ExpiresAt.IsZero() {
		at := t.ExpiresAt.UTC()
		out.ExpiresAt = &at
	}
	return out
}

type createTokenRequest struct {
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes"`
	Profiles []string `json:"profiles"`
	// ValidFor, a duration as the configuration writes it ("90d"), makes
	// the token expire; empty: it never does.
	ValidFor string `json:"valid_for"`
}

// createToken makes an API token as `gateway token create` does: POST
// /tokens with {"name", "scopes", "profiles", "valid_for"}; 201 with the
// token, whose secret ("token") is shown this once. Audited (token-create).
func (a *API) createToken(w http.ResponseWriter, r *http.Request) {
	var req createTokenRequest
	if err := decodeJSON(w, r, &req); err != nil {
		a.problem(w, r, err)
		return
	}
	secret, rec, err := NewToken(req.Name, req.Scopes, a.now())
	if err != nil {
		a.problem(w, r, err)
		return
	}
	if err := LimitToken(&rec, req.Profiles, func(p string) bool { _, ok := a.core.Profiles[p]; return ok }); err != nil {
		a.problem(w, r, err)
		return
	}
	if err := ExpireToken(&rec, req.ValidFor); err != nil {
		a.problem(w, r, errs.Wrap(errs.Malformed, err, "field \"valid_for\""))
		return
	}
	if err := a.store.InsertToken(r.Context(), rec, TokenCreated(rec, requester(r))); err != nil {
		a.problem(w, r, err)
		return
	}
	a.log.Info("API token created", "id", rec.ID, "name", rec.Name, "scopes", rec.Scopes, "profiles", rec.Profiles, "by", requester(r))
	out := toTokenJSON(rec)
	out.Token = secret
	w.Header().Set("Location", "/api/v1/tokens/"+rec.ID)
	writeJSON(w, http.StatusCreated, out)
}

// listTokens lists the API tokens, oldest first: GET /tokens.
func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	tokens, err := a.store.ListTokens(r.Context())
	if err != nil {
		a.problem(w, r, err)
		return
	}
	out := make([]tokenJSON, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, toTokenJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

// revokeToken deletes an API token: POST /tokens/{id}/revoke; 204. This
// gateway refuses it at once, every other within tokenTTL. A token may
// revoke itself.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	if err := a.store.DeleteToken(r.Context(), id, storage.AuditEvent{
		At: a.now(), Actor: requester(r), Action: "token-revoke", Detail: "token " + id,
	}); err != nil {
		if errs.Is(err, errs.NotFound) {
			err = errs.New(errs.NotFound, "no API token has ID %s", id)
		}
		a.problem(w, r, err)
		return
	}
	a.revoked.Put(id, struct{}{}, a.now())
	a.tokens.Clear()
	a.log.Info("API token revoked", "id", id, "by", requester(r))
	w.WriteHeader(http.StatusNoContent)
}
