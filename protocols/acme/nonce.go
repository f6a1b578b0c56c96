package acme

import (
	"context"
	"net/http"
)

// Nonces (RFC 8555 section 7.2) are 128 random bits kept in the store until
// they are used or expire, so that any replica accepts a nonce another one
// handed out, and each exactly once.

func (s *Server) issueNonce(ctx context.Context) (string, error) {
	n := randomID()
	if err := s.store.InsertACMENonce(ctx, n, s.now().Add(s.set.NonceLifetime)); err != nil {
		return "", err
	}
	return n, nil
}

// useNonce consumes a nonce: a missing, unknown, expired or reused one is
// badNonce (section 6.5).
func (s *Server) useNonce(ctx context.Context, n string) error {
	if n == "" {
		return prob(probBadNonce, http.StatusBadRequest, "JWS has no nonce")
	}
	ok, err := s.store.ConsumeACMENonce(ctx, n, s.now())
	if err != nil {
		return err
	}
	if !ok {
		return prob(probBadNonce, http.StatusBadRequest, "JWS has an invalid, expired or already used nonce")
	}
	return nil
}

// setNonce puts a fresh nonce in Replay-Nonce. Failing to make one is
// logged, not fatal: the client asks newNonce again.
func (s *Server) setNonce(w http.ResponseWriter, r *http.Request) {
	n, err := s.issueNonce(r.Context())
	if err != nil {
		s.log.Error("acme: cannot store a nonce", "err", err)
		return
	}
	w.Header().Set("Replay-Nonce", n)
}

// newNonce answers HEAD with 200 and GET with 204 (section 7.2).
func (s *Server) newNonce(w http.ResponseWriter, r *http.Request) {
	n, err := s.issueNonce(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Replay-Nonce", n)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Link", `<`+baseURL(r)+`/directory>;rel="index"`)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
