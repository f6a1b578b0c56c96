package api_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/net/http/httpguts"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// oidcProvider is an OpenID Connect issuer over HTTPS: its discovery
// document and key set, and ID tokens signed by its key (or another).
type oidcProvider struct {
	srv     *httptest.Server
	key     *ecdsa.PrivateKey
	kid     string
	fetches atomic.Int32
}

func newOIDCProvider(t testing.TB) *oidcProvider {
	t.Helper()
	p := &oidcProvider{kid: "k1"}
	p.key, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": p.srv.URL, "jwks_uri": p.srv.URL + "/keys"})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		p.fetches.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: p.key.Public(), KeyID: p.kid, Algorithm: "ES256", Use: "sig"}}})
	})
	p.srv = httptest.NewTLSServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// tokenTB is an ID token with claims, signed by the provider's key.
func (p *oidcProvider) tokenTB(t testing.TB, claims jwt.Claims) string {
	return p.token(t, p.key, p.kid, claims, nil)
}

// token is an ID token with claims, signed by key under kid.
func (p *oidcProvider) token(t testing.TB, key *ecdsa.PrivateKey, kid string, claims jwt.Claims, extra map[string]any) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(sig).Claims(claims).Claims(extra).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A CI job's ID token from a trusted issuer acts as a token with the
// issuer's scopes and profiles, named by its subject; tokens that are
// expired, for another audience, from another issuer, signed by another
// key or without the required claims are refused, and a key the gateway
// has not seen is fetched once.
func TestOIDCTokens(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		p := newOIDCProvider(t)
		e := newEnv(t, st, func(c *api.Config) {
			c.OIDC = []config.OIDCIssuer{{Name: "ci", Issuer: p.srv.URL, Audience: "https://pki.example.com", Scopes: []string{"issue", "read"},
				Profiles: []string{"web"}, Claims: map[string]string{"repository": "example/*", "ref": "refs/heads/main", "groups": "pki-*", "ref_protected": "true", "project_id": "42"}, MaxLifetime: config.Duration(time.Hour)}}
			c.OIDCClient = p.srv.Client()
		})
		now := e.clock.Now()
		claims := func(mod func(*jwt.Claims)) jwt.Claims {
			c := jwt.Claims{Issuer: p.srv.URL, Subject: "repo:example/app:ref:refs/heads/main", Audience: jwt.Audience{"https://pki.example.com"},
				IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute))}
			if mod != nil {
				mod(&c)
			}
			return c
		}
		// Arrays (groups) match when one of their values does; booleans
		// and numbers as JSON writes them.
		job := map[string]any{"repository": "example/app", "ref": "refs/heads/main", "groups": []string{"devs", "pki-operators"}, "ref_protected": true, "project_id": 42}
		with := func(claim string, v any) map[string]any {
			m := maps.Clone(job)
			m[claim] = v
			return m
		}
		call := func(tok, method, path string, body any) response {
			t.Helper()
			return e.doAuth(method, path, "Bearer "+tok, body)
		}
		good := p.token(t, p.key, p.kid, claims(nil), job)
		var issued struct{ Serial string }
		call(good, "POST", "/api/v1/profiles/web/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"ci.example.com"}}).
			decode(t, http.StatusCreated, &issued)
		rec, err := st.GetCertificate(t.Context(), issued.Serial)
		if err != nil || rec.Requester != "oidc:ci:repo:example/app:ref:refs/heads/main" {
			t.Fatalf("the certificate's requester: %+v, %v", rec, err)
		}
		call(good, "GET", "/api/v1/certificates/"+issued.Serial, nil).decode(t, http.StatusOK, &struct{}{})
		call(good, "POST", "/api/v1/profiles/device/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"ci.example.com"}}).
			problem(t, http.StatusForbidden, "forbidden", "may not use profile device")
		call(good, "POST", "/api/v1/certificates/"+issued.Serial+"/revoke", map[string]string{"reason": "superseded"}).
			problem(t, http.StatusForbidden, "forbidden", "revoke scope")

		other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for _, tc := range []struct {
			name, tok string
			status    int
			want      string
		}{
			{"expired", p.token(t, p.key, p.kid, claims(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-2 * time.Minute)) }), job), 401, "expired at"},
			{"no expiry", p.token(t, p.key, p.kid, claims(func(c *jwt.Claims) { c.Expiry = nil }), job), 401, "no expiry"},
			{"a year long", p.token(t, p.key, p.kid, claims(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(365 * 24 * time.Hour)) }), job), 401, "max_lifetime"},
			{"another audience", p.token(t, p.key, p.kid, claims(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other.example"} }), job), 401, "not meant for this gateway"},
			{"another issuer", p.token(t, p.key, p.kid, claims(func(c *jwt.Claims) { c.Issuer = "https://evil.example" }), job), 401, "not one the gateway trusts"},
			{"another key", p.token(t, other, p.kid, claims(nil), job), 401, "signature does not verify"},
			{"an unknown key", p.token(t, other, "k2", claims(nil), job), 401, `no key "k2"`},
			{"another repository", p.token(t, p.key, p.kid, claims(nil), with("repository", "mallory/app")), 403, `claim "repository" is "mallory/app"`},
			{"another branch", p.token(t, p.key, p.kid, claims(nil), with("ref", "refs/heads/dev")), 403, `claim "ref"`},
			{"no group", p.token(t, p.key, p.kid, claims(nil), with("groups", []string{"devs", "ops"})), 403, `claim "groups" is ["devs" "ops"]`},
			{"an unprotected branch", p.token(t, p.key, p.kid, claims(nil), with("ref_protected", false)), 403, `claim "ref_protected" is "false"`},
			{"the flag as an object", p.token(t, p.key, p.kid, claims(nil), with("ref_protected", map[string]any{"v": true})), 403, `claim "ref_protected" is []`},
			{"another project", p.token(t, p.key, p.kid, claims(nil), with("project_id", 42.5)), 403, `claim "project_id" is "42.5"`},
			{"no flag", p.token(t, p.key, p.kid, claims(nil), with("ref_protected", nil)), 403, `claim "ref_protected" is []`},
			{"garbage", "eyJhbGciOiJFUzI1NiJ9.e30.AAAA", 401, "not valid"},
		} {
			r := call(tc.tok, "GET", "/api/v1/certificates", nil)
			kind := map[int]string{401: "unauthorized", 403: "forbidden"}[tc.status]
			r.problem(t, tc.status, kind, tc.want)
		}
		// The key set was fetched for the first token, not for every
		// request, nor at once for a key it lacks; half a minute later,
		// a key it lacks is looked for once more.
		if n := p.fetches.Load(); n != 1 {
			t.Errorf("the key set was fetched %d times, want once", n)
		}
		e.clock.Advance(31 * time.Second)
		call(p.token(t, other, "k2", claims(nil), job), "GET", "/api/v1/certificates", nil).problem(t, 401, "unauthorized", `no key "k2"`)
		if n := p.fetches.Load(); n != 2 {
			t.Errorf("the key set was fetched %d times, want twice", n)
		}
		// The API's own tokens still work beside them.
		e.do("GET", "/api/v1/certificates", reader, nil).decode(t, http.StatusOK, &struct{}{})
	})
}

// Whatever a bearer token holds, an API with an OpenID Connect issuer
// answers 401 (or 403) and never a server error: the ID token path reads
// attacker bytes.
func FuzzOIDCToken(f *testing.F) {
	p := newOIDCProvider(f)
	e := newEnv(f, teststore.SQLite(f), func(c *api.Config) {
		c.OIDC = []config.OIDCIssuer{{Name: "ci", Issuer: p.srv.URL, Audience: "gw", Scopes: []string{"read"}}}
		c.OIDCClient = p.srv.Client()
	})
	now := e.clock.Now()
	good := p.tokenTB(f, jwt.Claims{Issuer: p.srv.URL, Subject: "job", Audience: jwt.Audience{"gw"}, Expiry: jwt.NewNumericDate(now.Add(time.Hour))})
	for _, s := range []string{good, good[:len(good)-3], "eyJ.eyJ.", "eyJhbGciOiJub25lIn0.e30.", "ey..", "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0." + good[len(good)/2:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		if !httpguts.ValidHeaderFieldValue(tok) {
			t.Skip("not a value an HTTP client can send")
		}
		req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/profiles", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("token %q: status %d", tok, resp.StatusCode)
		}
	})
}

// FetchOIDCKeys reads an issuer's key set through its discovery document,
// as the API does, and fails on an issuer that does not serve one.
func TestFetchOIDCKeys(t *testing.T) {
	p := newOIDCProvider(t)
	if n, err := api.FetchOIDCKeys(t.Context(), config.OIDCIssuer{Name: "ci", Issuer: p.srv.URL}, p.srv.Client()); err != nil || n != 1 {
		t.Errorf("FetchOIDCKeys() = %d, %v; want 1 key", n, err)
	}
	if _, err := api.FetchOIDCKeys(t.Context(), config.OIDCIssuer{Name: "ci", Issuer: p.srv.URL + "/elsewhere"}, p.srv.Client()); err == nil {
		t.Error("FetchOIDCKeys(an issuer without a discovery document) succeeded")
	}
}
