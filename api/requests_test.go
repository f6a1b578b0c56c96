package api_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/storage"
)

// addToken stores a token with scopes (limited to profiles, if any) and
// makes it usable by name.
func (e *env) addToken(name string, scopes []string, profiles ...string) {
	e.t.Helper()
	secret, rec, err := api.NewToken(name, scopes, e.t0)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(profiles) > 0 {
		if err := api.LimitToken(&rec, profiles, func(string) bool { return true }); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := e.store.InsertToken(e.t.Context(), rec, storage.AuditEvent{At: e.t0, Actor: "test", Action: "token-create"}); err != nil {
		e.t.Fatal(err)
	}
	e.tokens[name] = secret
}

func TestApprovalAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.addToken("approver", []string{"approve", "read"})
		e.addToken("web-approver", []string{"approve", "read"}, "web")
		body := map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"held.example.com"}, nil)}

		// Held: 202, the request, where to read it and when to ask again.
		var req api.Request
		r := e.do("POST", "/api/v1/profiles/held/certificates", issuer, body)
		r.decode(t, http.StatusAccepted, &req)
		if req.Status != "pending" || req.Profile != "held" || req.Requester != issuer || req.Method != "api" ||
			len(req.Names) != 1 || req.Names[0] != "held.example.com" || req.CSR == "" {
			t.Fatalf("pending request %+v", req)
		}
		if loc := r.header.Get("Location"); loc != "/api/v1/requests/"+req.ID {
			t.Errorf("Location %q", loc)
		}
		if ra := r.header.Get("Retry-After"); ra != "90" {
			t.Errorf("Retry-After %q, want the profile's 90 seconds", ra)
		}
		if n := len(e.list("").Certificates); n != 0 {
			t.Fatalf("%d certificates after a held request", n)
		}
		// The same POST again: the same request.
		var again api.Request
		e.do("POST", "/api/v1/profiles/held/certificates", issuer, body).decode(t, http.StatusAccepted, &again)
		if again.ID != req.ID {
			t.Fatalf("a repeat made request %s, want %s", again.ID, req.ID)
		}

		// Listing and reading.
		var list struct {
			Requests []api.Request `json:"requests"`
		}
		e.do("GET", "/api/v1/requests?status=pending", reader, nil).decode(t, http.StatusOK, &list)
		if len(list.Requests) != 1 || list.Requests[0].ID != req.ID {
			t.Fatalf("pending requests %+v", list.Requests)
		}
		e.do("GET", "/api/v1/requests?status=waiting", reader, nil).problem(t, http.StatusBadRequest, "malformed", "status")
		e.do("GET", "/api/v1/requests?cursor=xyz", reader, nil).problem(t, http.StatusBadRequest, "malformed", "cursor")
		e.do("GET", "/api/v1/requests?profile=held", "web-approver", nil).problem(t, http.StatusForbidden, "forbidden", "held")
		e.do("GET", "/api/v1/requests", "web-approver", nil).decode(t, http.StatusOK, &list)
		if len(list.Requests) != 0 {
			t.Fatalf("a token limited to web lists %+v", list.Requests)
		}
		e.do("GET", "/api/v1/requests/"+req.ID, "web-approver", nil).problem(t, http.StatusNotFound, "notFound")
		e.do("GET", "/api/v1/requests/nope", reader, nil).problem(t, http.StatusNotFound, "notFound", "nope")

		// Who may decide: the approve scope (or admin), of the profile,
		// and not whoever asked.
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", issuer, nil).problem(t, http.StatusForbidden, "forbidden", "approve")
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", "web-approver", nil).problem(t, http.StatusNotFound, "notFound")
		self, rec, err := api.NewToken(issuer, []string{"approve"}, e.t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.store.InsertToken(t.Context(), rec, storage.AuditEvent{At: e.t0, Actor: "test", Action: "token-create"}); err != nil {
			t.Fatal(err)
		}
		e.doAuth("POST", "/api/v1/requests/"+req.ID+"/approve", "Bearer "+self, nil).problem(t, http.StatusForbidden, "forbidden", "may not approve")

		var decided api.Request
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", "approver", nil).decode(t, http.StatusOK, &decided)
		if decided.Status != "issued" || decided.Serial == "" || decided.DecidedBy != "approver" || decided.DecidedAt == nil {
			t.Fatalf("approved request %+v", decided)
		}
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", "approver", nil).problem(t, http.StatusConflict, "conflict")
		e.do("POST", "/api/v1/requests/"+req.ID+"/reject", admin, map[string]string{"reason": "late"}).problem(t, http.StatusConflict, "conflict")

		// The requester repeats its POST and gets the certificate (200:
		// issued before).
		var got issued
		r = e.do("POST", "/api/v1/profiles/held/certificates", issuer, body)
		r.decode(t, http.StatusOK, &got)
		if got.Serial != decided.Serial {
			t.Fatalf("repeat after approval got %s, want %s", got.Serial, decided.Serial)
		}
		cert := parseCerts(t, got.Certificate)[0]
		e.verify(cert, parseCerts(t, got.Chain))
		if c := e.get(got.Serial); c.Profile != "held" || c.Status != "active" {
			t.Fatalf("inventory %+v", c)
		}

		// Rejection: the repeat is refused with the reason.
		body2 := map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"other.example.com"}, nil)}
		var req2 api.Request
		e.do("POST", "/api/v1/profiles/held/certificates", issuer, body2).decode(t, http.StatusAccepted, &req2)
		e.do("POST", "/api/v1/requests/"+req2.ID+"/reject", "approver", map[string]any{"reason": "not ours", "x": 1}).problem(t, http.StatusBadRequest, "malformed", "x")
		e.do("POST", "/api/v1/requests/"+req2.ID+"/reject", "approver", map[string]string{"reason": "not ours"}).decode(t, http.StatusOK, &decided)
		if decided.Status != "rejected" || decided.Reason != "not ours" {
			t.Fatalf("rejected request %+v", decided)
		}
		e.do("POST", "/api/v1/profiles/held/certificates", issuer, body2).problem(t, http.StatusForbidden, "forbidden", "not ours")

		// Paging: two requests, one a page, each once (the test clock
		// stands still: both were created at the same time, which the
		// cursor tells apart by ID).
		var page struct {
			Requests   []api.Request `json:"requests"`
			NextCursor string        `json:"next_cursor"`
		}
		var paged []string
		for path := "/api/v1/requests?limit=1"; ; path = "/api/v1/requests?limit=1&cursor=" + page.NextCursor {
			page.NextCursor = ""
			e.do("GET", path, reader, nil).decode(t, http.StatusOK, &page)
			for _, r := range page.Requests {
				paged = append(paged, r.ID)
			}
			if page.NextCursor == "" || len(paged) > 3 {
				break
			}
		}
		if slices.Sort(paged); len(paged) != 2 || !slices.Contains(paged, req.ID) || !slices.Contains(paged, req2.ID) || paged[0] == paged[1] {
			t.Fatalf("paged requests %v, want %s and %s", paged, req.ID, req2.ID)
		}

		// The trail: request, approve-request, issue, reject-request.
		var trail struct {
			Events []struct {
				Action string `json:"action"`
				Actor  string `json:"actor"`
			} `json:"events"`
		}
		e.do("GET", "/api/v1/audit?profile=held", admin, nil).decode(t, http.StatusOK, &trail)
		var actions []string
		for _, ev := range trail.Events {
			actions = append(actions, ev.Action+":"+ev.Actor)
		}
		want := []string{"reject-request:approver", "request:" + issuer, "issue:" + issuer, "approve-request:approver", "request:" + issuer}
		if len(actions) != len(want) {
			t.Fatalf("trail %v, want %v", actions, want)
		}
		for i := range want {
			if actions[i] != want[i] {
				t.Fatalf("trail %v, want %v", actions, want)
			}
		}
	})
}

// A profile that wants two approvals: the first answers the request still
// pending with its approval, the same token again is a 409, a second
// token's approval issues, and the requester's repeat gets the
// certificate.
func TestRequestTwoApprovals(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		e.addToken("approver", []string{"approve", "read"})
		e.addToken("approver2", []string{"approve"})
		body := map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"two.example.com"}, nil)}
		var req api.Request
		e.do("POST", "/api/v1/profiles/held2/certificates", issuer, body).decode(t, http.StatusAccepted, &req)
		if req.ApprovalsRequired != 2 || len(req.Approvals) != 0 {
			t.Fatalf("held request: %+v", req)
		}
		var once api.Request
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", "approver", nil).decode(t, http.StatusOK, &once)
		if once.Status != "pending" || len(once.Approvals) != 1 || once.Approvals[0].By != "approver" || once.Serial != "" {
			t.Fatalf("after one approval: %+v", once)
		}
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", "approver", nil).problem(t, http.StatusConflict, "conflict", "approved it already")
		e.do("POST", "/api/v1/profiles/held2/certificates", issuer, body).decode(t, http.StatusAccepted, &api.Request{})

		var twice api.Request
		e.do("POST", "/api/v1/requests/"+req.ID+"/approve", "approver2", nil).decode(t, http.StatusOK, &twice)
		if twice.Status != "issued" || twice.Serial == "" || twice.DecidedBy != "approver2" || len(twice.Approvals) != 2 {
			t.Fatalf("after two approvals: %+v", twice)
		}
		var got issued
		e.do("POST", "/api/v1/profiles/held2/certificates", issuer, body).decode(t, http.StatusOK, &got)
		if got.Serial != twice.Serial {
			t.Fatalf("the repeat got %s, want %s", got.Serial, twice.Serial)
		}
	})
}
