package api_test

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

type auditPage struct {
	Events []struct {
		ID          int64     `json:"id"`
		At          time.Time `json:"at"`
		Actor       string    `json:"actor"`
		Action      string    `json:"action"`
		Profile     string    `json:"profile"`
		Serial      string    `json:"serial"`
		Detail      string    `json:"detail"`
		Certificate string    `json:"certificate"`
	} `json:"events"`
	NextCursor string `json:"next_cursor"`
}

func TestAudit(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		x := e.issueCSR("web", "x.example.com") // t0
		e.clock.Advance(time.Hour)
		e.do("POST", "/api/v1/certificates/"+x.Serial+"/revoke", revoker, map[string]string{"reason": "superseded"}).
			decode(t, http.StatusOK, &certificate{}) // t0+1h
		e.clock.Advance(time.Hour)
		y := e.issue("device", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"y.example.com"}}) // t0+2h
		at := func(d time.Duration) string { return url.QueryEscape(e.t0.Add(d).Format(time.RFC3339)) }

		get := func(query string) auditPage {
			t.Helper()
			var p auditPage
			e.do("GET", "/api/v1/audit"+query, admin, nil).decode(t, http.StatusOK, &p)
			return p
		}
		p := get("?serial=" + x.Serial)
		if len(p.Events) != 2 {
			t.Fatalf("%d events for %s", len(p.Events), x.Serial)
		}
		rev, iss := p.Events[0], p.Events[1]
		if rev.Action != "revoke" || rev.Actor != revoker || rev.Detail != "reason=4" || !rev.At.Equal(e.t0.Add(time.Hour)) ||
			rev.Certificate != "" || rev.Profile != "web" || rev.ID <= iss.ID {
			t.Errorf("revoke event %+v", rev)
		}
		if iss.Action != "issue" || iss.Actor != issuer || iss.Serial != x.Serial || !iss.At.Equal(e.t0) || iss.Certificate != x.Certificate {
			t.Errorf("issue event %+v", iss)
		}

		p = get("?profile=device")
		if len(p.Events) != 1 || p.Events[0].Serial != y.Serial || p.Events[0].Action != "issue" {
			t.Errorf("profile=device: %+v", p.Events)
		}
		// since is inclusive, until exclusive.
		p = get("?since=" + at(time.Hour))
		if len(p.Events) != 2 || p.Events[0].Serial != y.Serial || p.Events[1].Action != "revoke" {
			t.Errorf("since t0+1h: %+v", p.Events)
		}
		p = get("?since=" + at(0) + "&until=" + at(time.Hour))
		// x's issuance, then the fixture's setup: its tokens, its two CAs.
		want := []string{"issue"}
		for range e.tokens {
			want = append(want, "token-create")
		}
		want = append(want, "init-ca", "init-ca")
		var got []string
		for _, ev := range p.Events {
			got = append(got, ev.Action)
		}
		if !slices.Equal(got, want) || p.Events[0].Serial != x.Serial {
			t.Errorf("t0 to t0+1h: actions %v, want %v; events %+v", got, want, p.Events)
		}
		p = get("?limit=1")
		if len(p.Events) != 1 || p.Events[0].Serial != y.Serial {
			t.Errorf("limit=1: %+v", p.Events)
		}
		p = get("?serial=" + x.Serial + "&profile=device")
		if len(p.Events) != 0 {
			t.Errorf("serial and profile that do not meet: %+v", p.Events)
		}

		for _, tt := range []struct{ query, detail string }{
			{"?since=yesterday", "since"},
			{"?until=2026-13-01T00:00:00Z", "until"},
			{"?since=" + at(time.Hour) + "&until=" + at(time.Hour), "before until"},
			{"?limit=-1", "limit"},
			{"?serial=zz", "serial"},
			{"?who=admin", `"who"`},
		} {
			e.do("GET", "/api/v1/audit"+tt.query, admin, nil).problem(t, 400, "malformed", tt.detail)
		}
	})
}

// The trail filtered by action and actor, and paged: each page's
// next_cursor asks for the events after it, until a short page.
func TestAuditFiltersAndPages(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		var serials []string
		for range 5 {
			serials = append(serials, e.issueCSR("web", "p.example.com").Serial)
		}
		e.do("POST", "/api/v1/certificates/"+serials[0]+"/revoke", revoker, nil).decode(t, http.StatusOK, &certificate{})

		var revokes auditPage
		e.do("GET", "/api/v1/audit?action=revoke", admin, nil).decode(t, http.StatusOK, &revokes)
		if len(revokes.Events) != 1 || revokes.Events[0].Serial != serials[0] || revokes.Events[0].Actor != revoker || revokes.NextCursor != "" {
			t.Fatalf("action=revoke: %+v", revokes)
		}
		var byIssuer auditPage
		e.do("GET", "/api/v1/audit?actor="+issuer+"&action=issue", admin, nil).decode(t, http.StatusOK, &byIssuer)
		if len(byIssuer.Events) != 5 {
			t.Fatalf("actor=issuer&action=issue: %d events", len(byIssuer.Events))
		}

		var seen []int64
		path := "/api/v1/audit?action=issue&limit=2"
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			var page auditPage
			e.do("GET", path, admin, nil).decode(t, http.StatusOK, &page)
			for _, ev := range page.Events {
				seen = append(seen, ev.ID)
			}
			if page.NextCursor == "" {
				break
			}
			path = "/api/v1/audit?action=issue&limit=2&cursor=" + page.NextCursor
		}
		if len(seen) != 5 || !slices.IsSortedFunc(seen, func(a, b int64) int { return cmp.Compare(b, a) }) {
			t.Fatalf("paged IDs %v, want the 5 issuances newest first", seen)
		}
		e.do("GET", "/api/v1/audit?cursor=bm90LWEtY3Vyc29y", admin, nil).problem(t, http.StatusBadRequest, "malformed", "cursor")
	})
}

// GET /audit/verify checks the trail against its seals: what is sealed
// for a trail that passes, a 409 naming the checkpoint for one signed by
// another key.
func TestAuditVerify(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.do("GET", "/api/v1/audit/verify", reader, nil).problem(t, http.StatusForbidden, "forbidden", "admin")
		type verification struct {
			Checkpoints int `json:"checkpoints"`
			Sealed      int `json:"sealed_events"`
			Unsealed    int `json:"unsealed_events"`
		}
		var v verification
		e.do("GET", "/api/v1/audit/verify", admin, nil).decode(t, http.StatusOK, &v)
		if v.Checkpoints != 0 || v.Unsealed == 0 {
			t.Fatalf("before any seal: %+v", v)
		}
		key, err := ca.AuditKey(ctx, e.signer, "gateway-audit", true)
		if err != nil {
			t.Fatal(err)
		}
		later := func() time.Time { return time.Now().Add(time.Hour) } // every event is old enough
		c := &ca.Checkpointer{Store: e.store, Key: key, Log: slog.New(slog.DiscardHandler), Now: later}
		if _, err := c.SealAll(ctx); err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/api/v1/audit/verify", admin, nil).decode(t, http.StatusOK, &v)
		if v.Checkpoints != 1 || v.Sealed == 0 || v.Unsealed != 0 {
			t.Fatalf("after a seal: %+v", v)
		}
		// The export an auditor takes away verifies with the audit key.
		r := e.do("GET", "/api/v1/audit/export", admin, nil)
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("GET /audit/export: %d %s", r.status, r.header.Get("Content-Type"))
		}
		if xv, _, err := ca.VerifyAuditExport(bytes.NewReader(r.body), key.Public()); err != nil || xv.Checkpoints != 1 || xv.Sealed != v.Sealed {
			t.Fatalf("the export verifies as %+v, %v; the store as %+v", xv, err, v)
		}
		e.do("GET", "/api/v1/audit/export", reader, nil).problem(t, http.StatusForbidden, "forbidden", "admin")
		if _, err := e.store.AppendAudit(ctx, storage.AuditEvent{At: time.Now(), Actor: "intruder", Action: "issue"}); err != nil {
			t.Fatal(err)
		}
		other, err := ca.AuditKey(ctx, e.signer, "not-the-audit-key", true)
		if err != nil {
			t.Fatal(err)
		}
		forger := &ca.Checkpointer{Store: e.store, Key: other, Log: slog.New(slog.DiscardHandler), Now: later}
		if _, err := forger.SealAll(ctx); err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/api/v1/audit/verify", admin, nil).problem(t, http.StatusConflict, "conflict", "audit checkpoint 2")
	})
}
