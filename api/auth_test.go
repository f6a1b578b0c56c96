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
	{"POST", "/api/v1/certificates/0a/renew", "issue"},
	{"GET", "/api/v1/audit", "admin"},
	{"POST", "/api/v1/cas/nope/renew", "admin"},
	{"POST", "/api/v1/cas/nope/revoke", "admin"},
	{"POST", "/api/v1/tokens", "admin"},
	{"GET", "/api/v1/tokens", "admin"},
	{"POST", "/api/v1/tokens/nope/revoke", "admin"},
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

// A token limited to a profile issues, reads and revokes under it only:
// other profiles are a 403, their certificates do not exist for it (404),
// and its inventory lists its profile's certificates. An admin token
// cannot be limited, nor a token to a profile that does not exist.
func TestTokenLimitedToProfiles(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		secret, rec, err := api.NewToken("web-pipeline", []string{"issue", "read", "revoke"}, e.t0)
		if err != nil {
			t.Fatal(err)
		}
		known := func(p string) bool { return p == "web" || p == "device" }
		if err := api.LimitToken(&rec, []string{"web"}, known); err != nil {
			t.Fatal(err)
		}
		if err := e.store.InsertToken(t.Context(), rec, storage.AuditEvent{At: e.t0, Actor: "test", Action: "token-create"}); err != nil {
			t.Fatal(err)
		}
		limited := "Bearer " + secret
		admin := rec
		admin.Scopes = []string{"admin"}
		if err := api.LimitToken(&admin, []string{"web"}, known); err == nil {
			t.Error("an admin token was limited to a profile")
		}
		if err := api.LimitToken(&rec, []string{"nope"}, known); err == nil {
			t.Error("a token was limited to a profile that does not exist")
		}

		gen := func(name string) map[string]any {
			return map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{name}}
		}
		var web issued
		e.doAuth("POST", "/api/v1/profiles/web/certificates", limited, gen("w.example.com")).decode(t, http.StatusCreated, &web)
		e.doAuth("POST", "/api/v1/profiles/device/certificates", limited, gen("d.example.com")).problem(t, http.StatusForbidden, "forbidden", "web-pipeline", "device")
		e.doAuth("GET", "/api/v1/profiles/device/latest", limited, nil).problem(t, http.StatusForbidden, "forbidden", "device")
		device := e.issue("device", gen("d.example.com")) // by an unlimited token

		var page struct{ Certificates []certificate }
		e.doAuth("GET", "/api/v1/certificates", limited, nil).decode(t, http.StatusOK, &page)
		if len(page.Certificates) != 1 || page.Certificates[0].Serial != web.Serial {
			t.Errorf("the limited token lists %+v, want its profile's one certificate", page.Certificates)
		}
		e.doAuth("GET", "/api/v1/certificates?profile=device", limited, nil).problem(t, http.StatusForbidden, "forbidden", "device")
		for _, rt := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/certificates/" + device.Serial, nil},
			{"GET", "/api/v1/certificates/" + device.Serial + "/pem", nil},
			{"POST", "/api/v1/certificates/" + device.Serial + "/pkcs12", map[string]string{"password": "secret-password"}},
			{"POST", "/api/v1/certificates/" + device.Serial + "/revoke", map[string]string{"reason": "superseded"}},
		} {
			e.doAuth(rt.method, rt.path, limited, rt.body).problem(t, http.StatusNotFound, "notFound", device.Serial)
		}
		if c := e.get(device.Serial); c.Status != "active" {
			t.Errorf("the device certificate is %s after the limited token's refused revocation", c.Status)
		}
		e.doAuth("GET", "/api/v1/certificates/"+web.Serial, limited, nil).decode(t, http.StatusOK, new(certificate))
		e.doAuth("POST", "/api/v1/certificates/"+web.Serial+"/revoke", limited, map[string]string{"reason": "superseded"}).decode(t, http.StatusOK, new(certificate))
	})
}
