package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/storage"
)

type bulkResult struct {
	Reason  string
	DryRun  bool `json:"dry_run"`
	Matched []string
	Revoked []string
	Failed  []struct{ Serial, Error string }
}

// A bulk revocation revokes the active certificates a filter selects,
// each audited, after a dry run that revokes nothing; a filter that names
// nothing, or that matches more than the limit, is refused whole; CA
// certificates are never chosen; a token limited to profiles reaches
// only its own.
func TestBulkRevoke(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		a1 := e.issueCSR("web", "a1.leak.example.com")
		a2 := e.issueCSR("web", "a2.leak.example.com")
		other := e.issueCSR("web", "keep.example.com")
		dev := e.issueCSR("device", "d.leak.example.com")
		gone := e.issueCSR("web", "gone.leak.example.com")
		e.do("POST", "/api/v1/certificates/"+gone.Serial+"/revoke", revoker, nil).decode(t, http.StatusOK, &certificate{})
		const path = "/api/v1/certificates/revoke"

		var res bulkResult
		e.do("POST", path, revoker, map[string]any{"san": "leak.example.com", "profile": "web", "reason": "keyCompromise", "dry_run": true}).
			decode(t, http.StatusOK, &res)
		want := []string{a1.Serial, a2.Serial}
		slices.Sort(want)
		slices.Sort(res.Matched)
		if !res.DryRun || !slices.Equal(res.Matched, want) || len(res.Revoked) != 0 || res.Reason != "keyCompromise" {
			t.Fatalf("dry run: %+v, want %v matched", res, want)
		}
		if c := e.get(a1.Serial); c.Status != "active" {
			t.Fatalf("a dry run revoked %s", a1.Serial)
		}

		// Refused whole: more than the limit; a filter naming nothing; a CA's profile; a bad reason.
		e.do("POST", path, revoker, map[string]any{"san": "leak.example.com", "limit": 2}).problem(t, http.StatusConflict, "conflict", "more than 2", "nothing was revoked")
		e.do("POST", path, revoker, map[string]any{"reason": "keyCompromise"}).problem(t, http.StatusBadRequest, "malformed", "names what it revokes")
		e.do("POST", path, revoker, map[string]any{"profile": "ca:issuing"}).problem(t, http.StatusBadRequest, "malformed", "gateway ca revoke")
		e.do("POST", path, revoker, map[string]any{"san": "leak", "reason": "stolen"}).problem(t, http.StatusBadRequest, "malformed", `"stolen"`)
		e.do("POST", path, revoker, map[string]any{"san": "leak", "limit": 10001}).problem(t, http.StatusBadRequest, "malformed", "limit")
		e.do("POST", path, reader, map[string]any{"san": "leak"}).problem(t, http.StatusForbidden, "forbidden", "revoke scope")
		for _, s := range []string{a1.Serial, a2.Serial, dev.Serial} {
			if c := e.get(s); c.Status != "active" {
				t.Fatalf("a refused bulk revocation revoked %s", s)
			}
		}

		e.do("POST", path, revoker, map[string]any{"san": "leak.example.com", "reason": "keyCompromise"}).decode(t, http.StatusOK, &res)
		want = []string{a1.Serial, a2.Serial, dev.Serial}
		slices.Sort(want)
		slices.Sort(res.Revoked)
		if res.DryRun || !slices.Equal(res.Revoked, want) || len(res.Failed) != 0 || len(res.Matched) != 3 {
			t.Fatalf("bulk revocation: %+v, want %v revoked", res, want)
		}
		for _, s := range want {
			if c := e.get(s); c.Status != "revoked" || c.RevocationReason == nil || *c.RevocationReason != "keyCompromise" {
				t.Errorf("%s after the bulk revocation: %+v", s, c)
			}
		}
		if c := e.get(other.Serial); c.Status != "active" {
			t.Errorf("a certificate outside the filter is %s", c.Status)
		}
		var ev auditPage
		e.do("GET", "/api/v1/audit?limit=500", admin, nil).decode(t, http.StatusOK, &ev)
		revokes, bulk := 0, 0
		for _, x := range ev.Events {
			switch x.Action {
			case "revoke":
				revokes++
			case "bulk-revoke":
				bulk++
				if x.Actor != revoker || x.Detail != `reason=1 filter=san="leak.example.com" matched=3 revoked=3 failed=0` {
					t.Errorf("bulk-revoke event: %+v", x)
				}
			}
		}
		if revokes != 4 || bulk != 1 { // gone, then the three
			t.Errorf("%d revoke and %d bulk-revoke events, want 4 and 1", revokes, bulk)
		}
		// Nothing left to match: an empty run.
		e.do("POST", path, revoker, map[string]any{"san": "leak.example.com"}).decode(t, http.StatusOK, &res)
		if len(res.Matched) != 0 || len(res.Revoked) != 0 {
			t.Errorf("second run: %+v", res)
		}

		// A token limited to profiles names one of them.
		secret, rec, err := api.NewToken("web-ops", []string{"revoke"}, e.t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := api.LimitToken(&rec, []string{"web", "device"}, func(string) bool { return true }); err != nil {
			t.Fatal(err)
		}
		if err := e.store.InsertToken(t.Context(), rec, storage.AuditEvent{At: e.t0, Actor: "test", Action: "token-create"}); err != nil {
			t.Fatal(err)
		}
		limited := "Bearer " + secret
		e.doAuth("POST", path, limited, map[string]any{"san": "example.com"}).problem(t, http.StatusForbidden, "forbidden", "name one with the profile field")
		e.doAuth("POST", path, limited, map[string]any{"san": "example.com", "profile": "csr-only"}).problem(t, http.StatusForbidden, "forbidden", "csr-only")
		e.doAuth("POST", path, limited, map[string]any{"san": "keep.example.com", "profile": "web", "dry_run": true}).decode(t, http.StatusOK, &res)
		if !slices.Equal(res.Matched, []string{other.Serial}) {
			t.Errorf("limited token's dry run: %+v", res)
		}
	})
}
