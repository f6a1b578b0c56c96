package api

import (
	"context"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/go-chi/chi/v5"
)

// challenge is the RFC 6750 challenge of every 401 and 403.
const challenge = `Bearer realm="gateway"`

type tokenKey struct{}

// require authenticates the bearer token of a request (RFC 6750 section
// 2.1) and checks that it carries scope, or admin, which implies every
// scope. The token goes into the request context for the handler; see
// requester.
//
// A missing or unknown token is a 401 with a challenge; a known token
// without the scope is a 403 (RFC 6750 section 3.1, insufficient_scope).
func (a *API) require(scope string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, err := a.authenticate(r)
			if err != nil {
				if errs.Is(err, errs.Unauthorized) && r.Header.Get("Authorization") != "" {
					w.Header().Set("WWW-Authenticate", challenge+`, error="invalid_token"`)
				}
				a.problem(w, r, err)
				return
			}
			if !slices.Contains(tok.Scopes, scope) && !slices.Contains(tok.Scopes, scopeAdmin) {
				w.Header().Set("WWW-Authenticate", challenge+`, error="insufficient_scope", scope="`+scope+`"`)
				a.problem(w, r, errs.New(errs.Forbidden, "token %q lacks the %s scope this route needs (it has: %s)",
					tok.Name, scope, strings.Join(tok.Scopes, ", ")))
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok)))
		})
	}
}

// mayUse refuses (403) a request whose token is limited to other
// certificate profiles (storage.Token.Profiles) than profile.
func mayUse(r *http.Request, profile string) error {
	tok := tokenOf(r)
	if len(tok.Profiles) == 0 || slices.Contains(tok.Profiles, profile) {
		return nil
	}
	return errs.New(errs.Forbidden, "token %q may not use profile %s (it may use: %s)", tok.Name, profile, strings.Join(tok.Profiles, ", "))
}

// profileAllowed refuses a route under /profiles/{profile} to a token
// limited to other profiles; it runs after require.
func (a *API) profileAllowed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := mayUse(r, chi.URLParam(r, "profile")); err != nil {
			a.problem(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sees says whether the request's token may see certificate c: every
// token sees every certificate but one limited to profiles, which sees
// theirs. A certificate it may not see does not exist for it (404).
func sees(r *http.Request, c storage.Certificate) error {
	tok := tokenOf(r)
	if len(tok.Profiles) == 0 || slices.Contains(tok.Profiles, c.Profile) {
		return nil
	}
	return certError(c.Serial, errs.New(errs.NotFound, "not visible"))
}

// seesSerial is sees for a serial, looked up only for a limited token.
func (a *API) seesSerial(r *http.Request, serial string) error {
	if len(tokenOf(r).Profiles) == 0 {
		return nil
	}
	c, err := a.store.GetCertificate(r.Context(), serial)
	if err != nil {
		return certError(serial, err)
	}
	return sees(r, c)
}

// authenticate finds the token of a request, in the store or, if it was
// found there less than tokenTTL ago, in the API's cache. Secrets that
// match no token are not cached.
//
// The store is searched by the SHA-256 of the secret, never by the secret
// itself, so how long the lookup takes tells an attacker nothing about a
// secret they do not know; the hash comparison after the lookup is
// constant-time in case a store ever matches loosely (a prefix index, a
// case-folding collation).
func (a *API) authenticate(r *http.Request) (storage.Token, error) {
	h := r.Header.Get("Authorization")
	if h == "" && len(a.clientCerts) > 0 && a.caPool != nil {
		return a.authenticateCert(r)
	}
	if h == "" {
		return storage.Token{}, errs.New(errs.Unauthorized, "an Authorization: Bearer token is required")
	}
	scheme, secret, ok := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return storage.Token{}, errs.New(errs.Unauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	if len(a.oidc) > 0 && looksLikeJWT(secret) {
		return a.authenticateOIDC(r.Context(), secret)
	}
	hash := HashToken(secret)
	now := a.now()
	if tok, ok := a.tokens.Get(string(hash), now); ok {
		if _, gone := a.revoked.Get(tok.ID, now); gone {
			return storage.Token{}, errs.New(errs.Unauthorized, "the bearer token is not valid")
		}
		return tok, expired(tok, now)
	}
	tok, err := a.store.TokenByHash(r.Context(), hash)
	if errs.Is(err, errs.NotFound) {
		return storage.Token{}, errs.New(errs.Unauthorized, "the bearer token is not valid")
	}
	if err != nil {
		return storage.Token{}, err
	}
	if _, gone := a.revoked.Get(tok.ID, now); gone || subtle.ConstantTimeCompare(tok.Hash, hash) != 1 {
		return storage.Token{}, errs.New(errs.Unauthorized, "the bearer token is not valid")
	}
	a.tokens.Put(string(hash), tok, now)
	return tok, expired(tok, now)
}

// expired refuses a token past its ExpiresAt, saying so (the token is
// known, and its holder needs a new one, not a retry).
func expired(tok storage.Token, now time.Time) error {
	if !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt) {
		return errs.New(errs.Unauthorized, "the bearer token %q expired at %s", tok.Name, tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// tokenOf is the token of a request that require authenticated.
func tokenOf(r *http.Request) storage.Token {
	tok, _ := r.Context().Value(tokenKey{}).(storage.Token)
	return tok
}

// requester names the token of an authenticated request: it is the
// requester of what the request issues and the actor of what it audits.
func requester(r *http.Request) string { return tokenOf(r).Name }
