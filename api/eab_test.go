package api_test

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/certgw/gateway/protocols/acme"
)

func TestCreateEAB(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		const path = "/api/v1/profiles/acme-only/acme/eab"
		type eab struct {
			KeyID   string `json:"key_id"`
			HMACKey string `json:"hmac_key"`
		}
		var k1, k2 eab
		e.do("POST", path, admin, nil).decode(t, http.StatusCreated, &k1)
		e.do("POST", path, admin, nil).decode(t, http.StatusCreated, &k2)
		if k1.KeyID == "" || k1.KeyID == k2.KeyID || k1.HMACKey == k2.HMACKey {
			t.Fatalf("two keys: %+v %+v", k1, k2)
		}
		mac, err := base64.RawURLEncoding.DecodeString(k1.HMACKey)
		if err != nil || len(mac) != 32 {
			t.Fatalf("hmac_key %q is not 32 bytes of base64url: %v", k1.HMACKey, err)
		}

		// The store holds it, bound to the profile and to no account yet.
		rec, err := e.store.(acme.Store).GetACMEEABKey(t.Context(), k1.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Profile != "acme-only" || rec.AccountID != "" || !bytes.Equal(rec.HMACKey, mac) {
			t.Errorf("stored key: profile %q account %q, same MAC key %t", rec.Profile, rec.AccountID, bytes.Equal(rec.HMACKey, mac))
		}

		// Audited under the token's name, with the key ID and never the MAC key.
		var ev auditPage
		e.do("GET", "/api/v1/audit?profile=acme-only", admin, nil).decode(t, http.StatusOK, &ev)
		if len(ev.Events) != 2 {
			t.Fatalf("audit: %+v", ev.Events)
		}
		for i, want := range []string{k2.KeyID, k1.KeyID} {
			got := ev.Events[i]
			if got.Action != "acme-eab-create" || got.Actor != admin || !strings.Contains(got.Detail, want) ||
				strings.Contains(got.Detail, k1.HMACKey) || strings.Contains(got.Detail, k2.HMACKey) {
				t.Errorf("audit event %d: %+v", i, got)
			}
		}

		// A key for a team's names only.
		var scoped struct {
			KeyID string   `json:"key_id"`
			Names []string `json:"names"`
		}
		e.do("POST", path, admin, map[string]any{"names": []string{".team-a.example.com"}}).decode(t, http.StatusCreated, &scoped)
		if rec, err := e.store.(acme.Store).GetACMEEABKey(t.Context(), scoped.KeyID); err != nil || len(rec.Names) != 1 || len(scoped.Names) != 1 {
			t.Errorf("scoped key: %+v, stored %+v, %v", scoped, rec, err)
		}
		e.do("POST", path, admin, map[string]any{"names": []string{"Team-A.example.com"}}).problem(t, http.StatusBadRequest, "malformed", "lowercase")
		e.do("POST", path, admin, map[string]any{"domains": []string{"x"}}).problem(t, http.StatusBadRequest, "malformed", "domains")

		for _, tc := range []struct {
			name, path, tok string
			status          int
			kind            string
		}{
			{"unknown profile", "/api/v1/profiles/nope/acme/eab", admin, 404, "notFound"},
			{"profile without acme", "/api/v1/profiles/web/acme/eab", admin, 404, "notFound"},
			{"no token", path, "", 401, "unauthorized"},
			{"issue scope", path, issuer, 403, "forbidden"},
			{"read scope", path, reader, 403, "forbidden"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.do("POST", tc.path, tc.tok, nil).problem(t, tc.status, tc.kind)
			})
		}
		if r := e.do("GET", path, admin, nil); r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "POST" {
			t.Errorf("GET: %d, Allow %q", r.status, r.header.Get("Allow"))
		}
		// Refused requests made no key.
		e.do("GET", "/api/v1/audit?profile=web", admin, nil).decode(t, http.StatusOK, &ev)
		if len(ev.Events) != 0 {
			t.Errorf("audit of web: %+v", ev.Events)
		}
	})
}
