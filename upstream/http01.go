package upstream

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/errs"
)

// http01Provider publishes lego's http-01 answers in the store (lego's
// challenge.Provider), for the Handler of every replica to serve.
type http01Provider struct {
	ctx     context.Context
	store   Store
	expires time.Time
	now     func() time.Time
}

func (p *http01Provider) Present(_, token, keyAuth string) error {
	return p.store.PutHTTP01(p.ctx, token, keyAuth, p.expires)
}

func (p *http01Provider) CleanUp(_, token, _ string) error {
	// The operation's context may have ended: clean up regardless.
	return p.store.DeleteHTTP01(context.WithoutCancel(p.ctx), token, p.now())
}

// TokenStore is what the Handler reads.
type TokenStore interface {
	HTTP01(ctx context.Context, token string, now time.Time) (string, error)
}

// Handler answers external CAs' http-01 validations (RFC 8555 section
// 8.3) on the gateway's HTTP listener.
type Handler struct {
	Store TokenStore
	Now   func() time.Time
}

// Routes mounts GET /.well-known/acme-challenge/{token}.
func (h *Handler) Routes(r chi.Router) {
	r.Get("/.well-known/acme-challenge/{token}", h.serve)
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	keyAuth, err := h.Store.HTTP01(r.Context(), chi.URLParam(r, "token"), h.Now())
	switch {
	case errs.Is(err, errs.NotFound):
		http.NotFound(w, r)
		return
	case err != nil:
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write([]byte(keyAuth))
}
