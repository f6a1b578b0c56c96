package api_test

import (
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/protocols/scep"
)

func TestCreateSCEPChallenge(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		const path = "/api/v1/profiles/acme-only/scep/challenges"
		type challenge struct {
			Challenge string    `json:"challenge"`
			Expires   time.Time `json:"expires"`
		}
		var c1, c2 challenge
		e.do("POST", path, issuer, nil).decode(t, http.StatusCreated, &c1)
		e.do("POST", path, admin, map[string]string{"valid_for": "7d"}).decode(t, http.StatusCreated, &c2)
		now := e.clock.Now()
		if len(c1.Challenge) != 32 || c1.Challenge == c2.Challenge || !c1.Expires.Equal(now.Add(time.Hour)) || !c2.Expires.Equal(now.Add(7*24*time.Hour)) {
			t.Fatalf("two challenges: %+v %+v", c1, c2)
		}
		// The store holds its hash for the profile: it enrolls once.
		st := e.store.(scep.ChallengeStore)
		h := sha256.Sum256([]byte(c1.Challenge))
		if err := st.UseSCEPChallenge(t.Context(), "acme-only", h[:], now); err != nil {
			t.Fatalf("use: %v", err)
		}
		if err := st.UseSCEPChallenge(t.Context(), "acme-only", h[:], now); err == nil {
			t.Fatal("a challenge was used twice")
		}
		// Audited, without the challenge.
		var ev auditPage
		e.do("GET", "/api/v1/audit?profile=acme-only", admin, nil).decode(t, http.StatusOK, &ev)
		if len(ev.Events) != 2 || ev.Events[1].Action != "scep-challenge-create" || ev.Events[1].Actor != issuer ||
			strings.Contains(ev.Events[0].Detail, c2.Challenge) || strings.Contains(ev.Events[1].Detail, c1.Challenge) {
			t.Fatalf("audit: %+v", ev.Events)
		}

		for _, tc := range []struct {
			name, path, tok string
			body            any
			status          int
			kind            string
		}{
			{"unknown profile", "/api/v1/profiles/nope/scep/challenges", issuer, nil, 404, "notFound"},
			{"profile without scep", "/api/v1/profiles/web/scep/challenges", issuer, nil, 404, "notFound"},
			{"no token", path, "", nil, 401, "unauthorized"},
			{"read scope", path, reader, nil, 403, "forbidden"},
			{"bad duration", path, issuer, map[string]string{"valid_for": "soon"}, 400, "malformed"},
			{"too long", path, issuer, map[string]string{"valid_for": "90d"}, 400, "malformed"},
			{"unknown field", path, issuer, map[string]string{"validity": "7d"}, 400, "malformed"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e.do("POST", tc.path, tc.tok, tc.body).problem(t, tc.status, tc.kind)
			})
		}
	})
}
