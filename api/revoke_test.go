package api_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRevoke(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		a := e.issueCSR("web", "a.example.com")
		path := "/api/v1/certificates/" + a.Serial + "/revoke"

		// An unknown reason changes nothing.
		e.do("POST", path, revoker, map[string]string{"reason": "stolen"}).problem(t, 400, "malformed", `"stolen"`, "keyCompromise")
		e.do("POST", path, revoker, map[string]string{"reason": "KeyCompromise"}).problem(t, 400, "malformed")
		e.do("POST", path, revoker, map[string]any{"reason": 1}).problem(t, 400, "malformed", `"reason"`)
		if c := e.get(a.Serial); c.Status != "active" {
			t.Fatalf("status %s after refused revocations", c.Status)
		}

		revokedAt := e.clock.Now()
		var c certificate
		e.do("POST", "/api/v1/certificates/"+strings.ToUpper(a.Serial)+"/revoke", revoker, map[string]string{"reason": "keyCompromise"}).
			decode(t, http.StatusOK, &c)
		if c.Serial != a.Serial || c.Status != "revoked" || c.RevocationReason == nil || *c.RevocationReason != "keyCompromise" ||
			c.RevokedAt == nil || !c.RevokedAt.Equal(revokedAt) {
			t.Fatalf("revoked: %+v", c)
		}

		// Again, later, with another reason: 409, and the first stands.
		e.clock.Advance(time.Hour)
		e.do("POST", path, revoker, map[string]string{"reason": "superseded"}).problem(t, 409, "conflict", "already revoked", "keyCompromise")
		if got := e.get(a.Serial); !equalCert(got, c) {
			t.Errorf("after a second revocation:\n%+v\nwas\n%+v", got, c)
		}

		// Without a body or a reason: unspecified.
		for _, body := range []any{nil, map[string]string{}} {
			b := e.issueCSR("web", "b.example.com")
			e.do("POST", "/api/v1/certificates/"+b.Serial+"/revoke", revoker, body).decode(t, http.StatusOK, &c)
			if c.RevocationReason == nil || *c.RevocationReason != "unspecified" {
				t.Errorf("body %v: %+v", body, c)
			}
		}
		// Every RFC 5280 name.
		for _, reason := range []string{"unspecified", "keyCompromise", "cACompromise", "affiliationChanged", "superseded",
			"cessationOfOperation", "certificateHold", "privilegeWithdrawn", "aACompromise"} {
			b := e.issueCSR("web", "r.example.com")
			e.do("POST", "/api/v1/certificates/"+b.Serial+"/revoke", revoker, map[string]string{"reason": reason}).decode(t, http.StatusOK, &c)
			if *c.RevocationReason != reason {
				t.Errorf("revoked with %s, shown as %s", reason, *c.RevocationReason)
			}
		}

		// RFC 5280 5.3.1: removeFromCRL belongs to delta CRLs; the
		// certificate stays as it was.
		rm := e.issueCSR("web", "rm.example.com")
		e.do("POST", "/api/v1/certificates/"+rm.Serial+"/revoke", revoker, map[string]string{"reason": "removeFromCRL"}).problem(t, 400, "malformed", "delta CRLs")
		if got := e.get(rm.Serial); got.Status != "active" {
			t.Errorf("after a removeFromCRL revocation: status %s, want active", got.Status)
		}

		e.do("POST", "/api/v1/certificates/0badc0de/revoke", revoker, nil).problem(t, 404, "notFound")
		e.do("POST", "/api/v1/certificates/not-hex/revoke", revoker, nil).problem(t, 400, "malformed", "not-hex")
		e.do("POST", path, revoker, map[string]string{"reason": "keyCompromise", "comment": "x"}).problem(t, 400, "malformed", `"comment"`)

		// The audit trail names who revoked, and why; keyCompromise
		// blocked the key.
		var ev auditPage
		e.do("GET", "/api/v1/audit?serial="+a.Serial, admin, nil).decode(t, http.StatusOK, &ev)
		if len(ev.Events) != 3 || ev.Events[0].Action != "block-key" || ev.Events[1].Action != "revoke" || ev.Events[1].Actor != revoker ||
			ev.Events[1].Detail != "reason=1" || ev.Events[2].Action != "issue" {
			t.Errorf("audit: %+v", ev.Events)
		}
	})
}

// Revocations that race: one wins, the others are told it is already
// revoked, and the winner's reason stands.
func TestRevokeRace(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		x := e.issueCSR("web", "race.example.com")
		reasons := []string{"keyCompromise", "superseded", "affiliationChanged", "cessationOfOperation", "privilegeWithdrawn", "unspecified"}
		type result struct {
			status int
			body   string
		}
		results := make([]result, len(reasons))
		var wg sync.WaitGroup
		for i, reason := range reasons {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/certificates/"+x.Serial+"/revoke",
					strings.NewReader(`{"reason": "`+reason+`"}`))
				req.Header.Set("Authorization", e.bearer(revoker))
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					results[i] = result{body: err.Error()}
					return
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				results[i] = result{resp.StatusCode, string(b)}
			})
		}
		wg.Wait()
		var winner string
		for i, r := range results {
			switch {
			case r.status == http.StatusOK:
				if winner != "" {
					t.Errorf("two revocations succeeded: %s and %s", winner, reasons[i])
				}
				winner = reasons[i]
			case r.status == http.StatusConflict && strings.Contains(r.body, "already revoked") && !strings.Contains(r.body, "sqlite") && !strings.Contains(r.body, "postgres"):
			default:
				t.Errorf("%s: %d %s", reasons[i], r.status, r.body)
			}
		}
		if c := e.get(x.Serial); c.RevocationReason == nil || *c.RevocationReason != winner {
			t.Errorf("revoked with %v, the winner was %s", c.RevocationReason, winner)
		}
	})
}

func TestReleaseHold(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		h := e.issueCSR("web", "hold.example.com")
		release := "/api/v1/certificates/" + h.Serial + "/release-hold"
		e.do("POST", release, revoker, nil).problem(t, 409, "conflict", "active, not on hold")

		var c certificate
		e.do("POST", "/api/v1/certificates/"+h.Serial+"/revoke", revoker, map[string]string{"reason": "certificateHold"}).decode(t, http.StatusOK, &c)
		e.do("POST", release, reader, nil).problem(t, 403, "forbidden")
		e.do("POST", release, revoker, map[string]string{"reason": "x"}).problem(t, 400, "malformed", `"reason"`)
		if got := e.get(h.Serial); got.Status != "revoked" {
			t.Fatalf("refused releases changed the certificate: %+v", got)
		}
		e.do("POST", release, revoker, nil).decode(t, http.StatusOK, &c)
		if c.Status != "active" || c.RevokedAt != nil || c.RevocationReason != nil {
			t.Errorf("after the release: %+v", c)
		}
		e.do("POST", release, revoker, nil).problem(t, 409, "conflict", "not on hold")

		// Any other reason is for good.
		k := e.issueCSR("web", "gone.example.com")
		e.do("POST", "/api/v1/certificates/"+k.Serial+"/revoke", revoker, map[string]string{"reason": "keyCompromise"}).decode(t, http.StatusOK, &c)
		e.do("POST", "/api/v1/certificates/"+k.Serial+"/release-hold", revoker, nil).problem(t, 409, "conflict", "for good", "keyCompromise")
		e.do("POST", "/api/v1/certificates/0badc0de/release-hold", revoker, nil).problem(t, 404, "notFound")

		var ev auditPage
		e.do("GET", "/api/v1/audit?serial="+h.Serial, admin, nil).decode(t, http.StatusOK, &ev)
		if len(ev.Events) != 3 || ev.Events[0].Action != "release-hold" || ev.Events[0].Actor != revoker || ev.Events[1].Action != "revoke" {
			t.Errorf("audit: %+v", ev.Events)
		}
	})
}
