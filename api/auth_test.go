package api_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/storage"
)

// routes is every route of the API with the scope it needs.
var routes = []struct {
	method, path, scope string
}{
	{"POST", "/api/v1/profiles/web/certificates", "issue"},
	{"GET", "/api/v1/profiles/web/latest", "issue"},
	{"GET", "/api/v1/certificates", "read"},
	{"GET", "/api/v1/certificates/0a", "read"},
	{"GET", "/api/v1/certificates/0a/pem", "read"},
	{"POST", "/api/v1/certificates/0a/pkcs12", "issue"},
	{"POST", "/api/v1/certificates/0a/revoke", "revoke"},
	{"POST", "/api/v1/certificates/0a/release-hold", "revoke"},
	{"POST", "/api/v1/certificates/0a/auto-renew", "admin"},
	{"GET", "/api/v1/audit", "admin"},
	{"POST", "/api/v1/cas/nope/renew", "admin"},
	{"POST", "/api/v1/cas/nope/revoke", "admin"},
	{"POST", "/api/v1/admin/reconcile", "admin"},
}

func TestAuth(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		for _, rt := range routes {
			t.Run(rt.method+" "+rt.path, func(t *testing.T) {
				// No token: 401 with a challenge.
				r := e.doAuth(rt.method, rt.path, "", "{}")
				r.problem(t, http.StatusUnauthorized, "unauthorized", "Bearer")
				if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="gateway"` {
					t.Errorf("WWW-Authenticate %q", got)
				}
				// A token the store does not know, and other schemes.
				for _, h := range []string{"Bearer gwt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "Basic YWRtaW46YWRtaW4=", "Bearer", "bearer "} {
					r := e.doAuth(rt.method, rt.path, h, "{}")
					r.problem(t, http.StatusUnauthorized, "unauthorized")
					if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="gateway", error="invalid_token"` {
						t.Errorf("%q: WWW-Authenticate %q", h, got)
					}
				}
				// Every token without the scope (admin has them all): 403.
				for name, scopes := range tokenScopes {
					allowed := slices.Contains(scopes, rt.scope) || slices.Contains(scopes, "admin")
					r := e.do(rt.method, rt.path, name, "{}")
					if allowed {
						if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
							t.Errorf("token %s (%v): status %d: %s", name, scopes, r.status, r.body)
						}
						continue
					}
					r.problem(t, http.StatusForbidden, "forbidden", rt.scope, name)
				}
			})
		}
		// The scheme is case-insensitive.
		r := e.doAuth("GET", "/api/v1/certificates", "bEaReR "+e.tokens[reader], nil)
		if r.status != http.StatusOK {
			t.Errorf("lower-case scheme: %d %s", r.status, r.body)
		}
	})
}

// Routes the API does not have, and methods a route does not take, are
// problem documents too.
func TestUnknownRoutes(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.do("GET", "/api/v1/nothing-here", admin, nil).problem(t, http.StatusNotFound, "notFound", "/api/v1/nothing-here")
		r := e.do("DELETE", "/api/v1/certificates", admin, nil)
		r.problem(t, http.StatusMethodNotAllowed, "methodNotAllowed", "DELETE")
		if got := r.header.Get("Allow"); got != "GET" {
			t.Errorf("Allow %q, want GET", got)
		}
		r = e.do("GET", "/api/v1/certificates/0a/revoke", admin, nil)
		r.problem(t, http.StatusMethodNotAllowed, "methodNotAllowed")
		if got := r.header.Get("Allow"); got != "POST" {
			t.Errorf("Allow %q, want POST", got)
		}
	})
}

// A deleted token stops working once the API's cache of found tokens
// (10 seconds) has let go of it; a new token works at once.
func TestDeletedTokenStopsWorking(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		secret, rec, err := api.NewToken("short-lived", []string{"read"}, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.InsertToken(t.Context(), rec, storage.AuditEvent{At: time.Now(), Actor: "test", Action: "token-create"}); err != nil {
			t.Fatal(err)
		}
		auth := "Bearer " + secret
		e.doAuth("GET", "/api/v1/certificates", auth, nil).decode(t, http.StatusOK, &listPage{})
		if err := e.store.DeleteToken(t.Context(), rec.ID, storage.AuditEvent{At: time.Now(), Actor: "test", Action: "token-revoke"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(10 * time.Second)
		e.doAuth("GET", "/api/v1/certificates", auth, nil).problem(t, http.StatusUnauthorized, "unauthorized")
	})
}
