package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

// An admin manages API tokens through the API: a new token's secret is
// answered once and works at once (within its scopes and profiles), the
// list never shows a secret, a token revoked through this gateway's API
// stops working at once (though the gateway trusted it a moment before),
// and all of it is audited.
func TestTokensAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		for _, bad := range []struct {
			body any
			want string
		}{
			{map[string]any{"scopes": []string{"issue"}}, "name"},
			{map[string]any{"name": "x", "scopes": []string{"root"}}, `"root"`},
			{map[string]any{"name": "x", "scopes": []string{"admin"}, "profiles": []string{"web"}}, "admin token cannot be limited"},
			{map[string]any{"name": "x", "scopes": []string{"issue"}, "profiles": []string{"nope"}}, `"nope"`},
		} {
			e.do("POST", "/api/v1/tokens", admin, bad.body).problem(t, http.StatusBadRequest, "malformed", bad.want)
		}

		var tok struct {
			ID, Name, Token  string
			Scopes, Profiles []string
			CreatedAt        time.Time `json:"created_at"`
		}
		e.do("POST", "/api/v1/tokens", admin, map[string]any{"name": "ci", "scopes": []string{"issue"}, "profiles": []string{"web"}}).decode(t, http.StatusCreated, &tok)
		if tok.ID == "" || !strings.HasPrefix(tok.Token, "gwt_") || tok.Name != "ci" || len(tok.Profiles) != 1 || !tok.CreatedAt.Equal(e.t0) {
			t.Fatalf("created token %+v", tok)
		}
		bearer := "Bearer " + tok.Token
		gen := map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"ci.example.com"}}
		e.doAuth("POST", "/api/v1/profiles/web/certificates", bearer, gen).decode(t, http.StatusCreated, new(issued))
		e.doAuth("POST", "/api/v1/profiles/device/certificates", bearer, gen).problem(t, http.StatusForbidden, "forbidden", "device")

		r := e.do("GET", "/api/v1/tokens", admin, nil)
		var list struct {
			Tokens []struct{ ID, Name, Token string }
		}
		r.decode(t, http.StatusOK, &list)
		if strings.Contains(string(r.body), tok.Token) || strings.Contains(string(r.body), `"token"`) || len(list.Tokens) != len(e.tokens)+1 {
			t.Fatalf("GET /tokens: %s", r.body)
		}

		e.do("POST", "/api/v1/tokens/nope/revoke", admin, nil).problem(t, http.StatusNotFound, "notFound", "nope")
		if r := e.do("POST", "/api/v1/tokens/"+tok.ID+"/revoke", admin, nil); r.status != http.StatusNoContent {
			t.Fatalf("revoke: %d %s", r.status, r.body)
		}
		e.doAuth("POST", "/api/v1/profiles/web/certificates", bearer, gen).problem(t, http.StatusUnauthorized, "unauthorized")
		e.clock.Advance(11 * time.Second) // past the token cache: the store says so too
		e.doAuth("POST", "/api/v1/profiles/web/certificates", bearer, gen).problem(t, http.StatusUnauthorized, "unauthorized")

		events, err := e.store.ListAudit(t.Context(), storage.AuditFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		var created, revoked bool
		for _, ev := range events {
			created = created || ev.Action == "token-create" && ev.Actor == admin && strings.Contains(ev.Detail, "profiles=web")
			revoked = revoked || ev.Action == "token-revoke" && ev.Actor == admin && strings.Contains(ev.Detail, tok.ID)
		}
		if !created || !revoked {
			t.Errorf("audit: created %t, revoked %t", created, revoked)
		}
	})
}

// A token made with valid_for works until then, and is refused after,
// saying it expired; the list shows when.
func TestTokenExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		var made struct {
			ID        string     `json:"id"`
			Token     string     `json:"token"`
			ExpiresAt *time.Time `json:"expires_at"`
		}
		e.do("POST", "/api/v1/tokens", admin, map[string]any{"name": "short", "scopes": []string{"read"}, "valid_for": "1h"}).decode(t, http.StatusCreated, &made)
		if made.ExpiresAt == nil || !made.ExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
			t.Fatalf("expires_at %v, want an hour from now", made.ExpiresAt)
		}
		bearer := "Bearer " + made.Token
		if resp := e.doAuth("GET", "/api/v1/cas", bearer, nil); resp.status != http.StatusOK {
			t.Fatalf("before it expires: %d %s", resp.status, resp.body)
		}
		e.clock.Advance(time.Hour)
		e.doAuth("GET", "/api/v1/cas", bearer, nil).problem(t, http.StatusUnauthorized, "unauthorized", `"short" expired at`)
		var list struct {
			Tokens []struct {
				Name      string     `json:"name"`
				ExpiresAt *time.Time `json:"expires_at"`
			} `json:"tokens"`
		}
		e.do("GET", "/api/v1/tokens", admin, nil).decode(t, http.StatusOK, &list)
		for _, tok := range list.Tokens {
			if (tok.Name == "short") != (tok.ExpiresAt != nil) {
				t.Errorf("token %s: expires_at %v", tok.Name, tok.ExpiresAt)
			}
		}
		for _, bad := range []string{"0s", "-1h", "soon"} {
			e.do("POST", "/api/v1/tokens", admin, map[string]any{"name": "bad", "scopes": []string{"read"}, "valid_for": bad}).problem(t, http.StatusBadRequest, "malformed", "valid_for")
		}
	})
}
