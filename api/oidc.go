package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// A pipeline with a workload identity (a GitHub Actions or GitLab CI job,
// a Kubernetes service account) proves who it is with an OpenID Connect
// ID token its platform signs, minutes long, instead of a long-lived API
// token kept in its secrets. The API takes such a token as a bearer token
// when it comes from a configured issuer (api.oidc): signed by one of the
// issuer's keys (its JSON Web Key Set, found from its discovery
// document), meant for the configured audience, not expired, and
// carrying the configured claims. It then acts as a token named
// oidc:NAME:SUB with the issuer's scopes and profiles.

// oidcAlgorithms are the signatures an ID token may carry (RFC 7518; no
// "none", no HMAC).
var oidcAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// oidcLeeway is the clock skew allowed on exp, nbf and iat.
const oidcLeeway = time.Minute

// jwksRefresh is how long a key set is used before it is fetched again,
// and jwksMinInterval the least time between two fetches (a token naming
// an unknown key fetches at most that often).
const (
	jwksRefresh     = time.Hour
	jwksMinInterval = 30 * time.Second
)

// oidcIssuer is one configured issuer with its cached keys.
type oidcIssuer struct {
	cfg    config.OIDCIssuer
	client *http.Client

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time
}

// looksLikeJWT says whether a bearer secret is a compact JWS (three
// base64url parts), not one of the API's own tokens.
func looksLikeJWT(secret string) bool {
	return strings.Count(secret, ".") == 2 && strings.HasPrefix(secret, "ey")
}

// authenticateOIDC checks an ID token against the configured issuers and
// returns the token it acts as.
func (a *API) authenticateOIDC(ctx context.Context, raw string) (storage.Token, error) {
	invalid := func(format string, args ...any) error {
		return errs.New(errs.Unauthorized, "the OpenID Connect token is not valid: "+format, args...)
	}
	tok, err := jwt.ParseSigned(raw, oidcAlgorithms)
	if err != nil {
		return storage.Token{}, invalid("%v", err)
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return storage.Token{}, invalid("%v", err)
	}
	iss := a.oidc[unverified.Issuer]
	if iss == nil {
		return storage.Token{}, invalid("issuer %q is not one the gateway trusts (api.oidc)", unverified.Issuer)
	}
	if len(tok.Headers) != 1 {
		return storage.Token{}, invalid("one signature expected")
	}
	key, err := iss.key(ctx, tok.Headers[0].KeyID, a.now())
	if err != nil {
		return storage.Token{}, err
	}
	var claims jwt.Claims
	extra := map[string]any{}
	if err := tok.Claims(key, &claims, &extra); err != nil {
		return storage.Token{}, invalid("its signature does not verify with the key %q of %s", tok.Headers[0].KeyID, iss.cfg.Issuer)
	}
	now := a.now()
	if claims.Expiry == nil {
		return storage.Token{}, invalid("it has no expiry (exp)")
	}
	switch err := claims.ValidateWithLeeway(jwt.Expected{Issuer: iss.cfg.Issuer, AnyAudience: jwt.Audience{iss.cfg.Audience}, Time: now}, oidcLeeway); {
	case err == jwt.ErrExpired:
		return storage.Token{}, invalid("it expired at %s", claims.Expiry.Time().UTC().Format(time.RFC3339))
	case err == jwt.ErrInvalidAudience:
		return storage.Token{}, invalid("it is not meant for this gateway (aud %v, want %q)", []string(claims.Audience), iss.cfg.Audience)
	case err != nil:
		return storage.Token{}, invalid("%v", err)
	}
	if claims.Subject == "" {
		return storage.Token{}, invalid("it has no subject (sub)")
	}
	from := now
	if claims.IssuedAt != nil {
		from = claims.IssuedAt.Time()
	}
	if max := iss.cfg.MaxLifetime.D(); max > 0 && claims.Expiry.Time().Sub(from) > max {
		return storage.Token{}, invalid("it is valid for %s, longer than the %s issuer %s may give (max_lifetime)",
			claims.Expiry.Time().Sub(from).Round(time.Second), config.Duration(max), iss.cfg.Name)
	}
	name := "oidc:" + iss.cfg.Name + ":" + claims.Subject
	for claim, want := range iss.cfg.Claims {
		got := claimValues(extra[claim])
		if claim == "sub" {
			got = []string{claims.Subject}
		}
		if !slices.ContainsFunc(got, func(v string) bool { return claimMatches(v, want) }) {
			shown := fmt.Sprintf("%q", got)
			if len(got) == 1 {
				shown = fmt.Sprintf("%q", got[0])
			}
			return storage.Token{}, errs.New(errs.Forbidden, "%s: claim %q is %s, and issuer %s lets only %q use the API", name, claim, shown, iss.cfg.Name, want)
		}
	}
	return storage.Token{ID: name, Name: name, Scopes: iss.cfg.Scopes, Profiles: iss.cfg.Profiles, ExpiresAt: claims.Expiry.Time()}, nil
}

// claimValues is a claim as the strings a configured value is compared
// with: a string; a boolean or a number as JSON writes it (GitLab's
// ref_protected, a numeric ID); each of these in an array (the groups or
// roles of an identity provider), any of which may match. An object, or
// a claim that is absent, has none.
func claimValues(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case bool:
		return []string{strconv.FormatBool(v)}
	case float64:
		return []string{strconv.FormatFloat(v, 'f', -1, 64)}
	case []any:
		var out []string
		for _, e := range v {
			if _, nested := e.([]any); !nested {
				out = append(out, claimValues(e)...)
			}
		}
		return out
	}
	return nil
}

// claimMatches compares a claim with a configured value: exactly, or as a
// prefix where the value ends in "*".
func claimMatches(got, want string) bool {
	if prefix, ok := strings.CutSuffix(want, "*"); ok {
		return strings.HasPrefix(got, prefix)
	}
	return got == want
}

// key returns the issuer's key kid, fetching the key set when it is
// stale or lacks kid (at most once per jwksMinInterval).
func (o *oidcIssuer) key(ctx context.Context, kid string, now time.Time) (*jose.JSONWebKey, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	find := func() *jose.JSONWebKey {
		for i, k := range o.keys.Keys {
			if (kid == "" || k.KeyID == kid) && k.Use != "enc" {
				return &o.keys.Keys[i]
			}
		}
		return nil
	}
	if k := find(); k != nil && now.Sub(o.fetched) < jwksRefresh {
		return k, nil
	}
	if now.Sub(o.fetched) >= jwksMinInterval {
		keys, err := o.fetch(ctx)
		if err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, "the keys of OpenID Connect issuer %s", o.cfg.Issuer)
		}
		o.keys, o.fetched = keys, now
	}
	if k := find(); k != nil {
		return k, nil
	}
	return nil, errs.New(errs.Unauthorized, "the OpenID Connect token is not valid: issuer %s has no key %q", o.cfg.Issuer, kid)
}

// FetchOIDCKeys reads the key set of the issuer c as the API does, with
// client (nil: a client with a 10-second timeout), and returns how many
// keys it holds (gateway check).
func FetchOIDCKeys(ctx context.Context, c config.OIDCIssuer, client *http.Client) (int, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	set, err := (&oidcIssuer{cfg: c, client: client}).fetch(ctx)
	return len(set.Keys), err
}

// fetch reads the issuer's key set: from jwks_url, or from the jwks_uri
// of its discovery document (OpenID Connect Discovery 1.0 section 4).
func (o *oidcIssuer) fetch(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	jwksURL := o.cfg.JWKSURL
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := o.getJSON(ctx, strings.TrimSuffix(o.cfg.Issuer, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return set, err
		}
		if doc.Issuer != o.cfg.Issuer {
			return set, fmt.Errorf("its discovery document names the issuer %q", doc.Issuer)
		}
		if !strings.HasPrefix(doc.JWKSURI, "https://") {
			return set, fmt.Errorf("its discovery document has no https jwks_uri (%q)", doc.JWKSURI)
		}
		jwksURL = doc.JWKSURI
	}
	err := o.getJSON(ctx, jwksURL, &set)
	return set, err
}

func (o *oidcIssuer) getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
