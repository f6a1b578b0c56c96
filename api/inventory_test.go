package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestInventory(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		day := 24 * time.Hour
		a := e.issue("web", map[string]any{"csr": csrFor(t, "a.example.com"), "validity": "1d"})
		b := e.issueCSR("web", "b.example.com") // 90 days
		c := e.issueCSR("web", "c.example.com")
		d := e.issue("device", map[string]any{"key_type": "ecdsa-p256", "common_name": "d.example.com", "dns_names": []string{"d.example.com"}}) // 30 days
		s := e.issue("web", map[string]any{"csr": csrFor(t, "www.shop.example.com"), "validity": "30d"})
		e.do("POST", "/api/v1/certificates/"+c.Serial+"/revoke", revoker, nil).decode(t, http.StatusOK, &certificate{})
		e.clock.Advance(2 * day) // a has expired
		t0 := e.t0
		at := func(d time.Duration) string { return url.QueryEscape(t0.Add(d).Format(time.RFC3339)) }

		all := []string{a.Serial, b.Serial, c.Serial, d.Serial, s.Serial}
		tests := []struct {
			query string
			want  []string
		}{
			{"", all},
			{"?profile=web", []string{a.Serial, b.Serial, c.Serial, s.Serial}},
			{"?profile=device", []string{d.Serial}},
			{"?profile=nope", nil},
			{"?ca=issuing", all},
			{"?ca=root", nil},
			{"?status=expired", []string{a.Serial}},
			{"?status=active", []string{b.Serial, d.Serial, s.Serial}},
			{"?status=revoked", []string{c.Serial}},
			{"?status=pending", nil},
			{"?profile=web&status=active", []string{b.Serial, s.Serial}},
			{"?san=SHOP", []string{s.Serial}},
			{"?san=example.com", all},
			{"?san=b.example", []string{b.Serial}},
			{"?san=nothing", nil},
			{"?subject=" + url.QueryEscape("CN=d.example"), []string{d.Serial}},
			{"?subject=" + url.QueryEscape("cn=d.example"), nil},
			{"?serial=" + strings.ToUpper(b.Serial), []string{b.Serial}},
			{"?requester=" + issuer, all},
			{"?requester=" + reader, nil},
			{"?method=api&profile=device", []string{d.Serial}},
			{"?method=acme", nil},
			{"?expiring_before=" + at(10*day), []string{a.Serial}},
			{"?expiring_before=" + at(31*day), []string{a.Serial, d.Serial, s.Serial}},
			{"?expiring_before=" + at(31*day) + "&status=active", []string{d.Serial, s.Serial}},
		}
		for _, tt := range tests {
			t.Run(tt.query, func(t *testing.T) {
				p := e.list(tt.query)
				var got []string
				for _, c := range p.Certificates {
					got = append(got, c.Serial)
				}
				if !sameSet(got, tt.want) || p.NextCursor != "" {
					t.Errorf("got %v (next %q), want %v", got, p.NextCursor, tt.want)
				}
			})
		}

		// Status as seen at the clock, and the other fields.
		wantStatus := map[string]string{a.Serial: "expired", b.Serial: "active", c.Serial: "revoked", d.Serial: "active", s.Serial: "active"}
		for _, got := range e.list("").Certificates {
			if got.Status != wantStatus[got.Serial] {
				t.Errorf("%s: status %s, want %s", got.Serial, got.Status, wantStatus[got.Serial])
			}
			if got.KeyHeld != (got.Serial == d.Serial) || got.AutoRenew != (got.Serial == d.Serial) {
				t.Errorf("%s: key_held %v, auto_renew %v", got.Serial, got.KeyHeld, got.AutoRenew)
			}
		}

		// Paging: every certificate once, whatever the page size.
		for _, limit := range []int{1, 2, 4, 5, 500} {
			var got []string
			cursor, pages := "", 0
			for {
				q := "?limit=" + strconv.Itoa(limit)
				if cursor != "" {
					q += "&cursor=" + url.QueryEscape(cursor)
				}
				p := e.list(q)
				pages++
				if len(p.Certificates) > limit || pages > 10 {
					t.Fatalf("limit %d: page %d of %d certificates", limit, pages, len(p.Certificates))
				}
				for _, c := range p.Certificates {
					got = append(got, c.Serial)
				}
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			if !sameSet(got, all) || len(got) != len(all) {
				t.Errorf("limit %d: paged %v, want %v", limit, got, all)
			}
			if want := (len(all) + limit - 1) / limit; pages != want {
				t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
			}
		}
		// Paging with a filter.
		p := e.list("?profile=web&limit=3")
		if len(p.Certificates) != 3 || p.NextCursor == "" {
			t.Fatalf("first page: %d, next %q", len(p.Certificates), p.NextCursor)
		}
		p2 := e.list("?profile=web&limit=3&cursor=" + url.QueryEscape(p.NextCursor))
		if len(p2.Certificates) != 1 || p2.NextCursor != "" || slices.ContainsFunc(p.Certificates, func(c certificate) bool { return c.Serial == p2.Certificates[0].Serial }) {
			t.Errorf("second page: %+v", p2)
		}

		for _, tt := range []struct{ query, detail string }{
			{"?status=bogus", "status"},
			{"?limit=0", "limit"},
			{"?limit=ten", "limit"},
			{"?expiring_before=tomorrow", "expiring_before"},
			{"?expiring_before=2026-01-02", "expiring_before"},
			{"?serial=xyz", "serial"},
			{"?cursor=garbage!", "cursor"},
			{"?colour=red", `"colour"`},
			{"?profile=web&profile=device", `"profile"`},
		} {
			e.do("GET", "/api/v1/certificates"+tt.query, reader, nil).problem(t, 400, "malformed", tt.detail)
		}
		e.do("GET", "/api/v1/certificates/0badc0de", reader, nil).problem(t, 404, "notFound", "0badc0de")
		e.do("GET", "/api/v1/certificates/0BAD:C0DE/pem", reader, nil).problem(t, 404, "notFound", "0badc0de")
		e.do("GET", "/api/v1/certificates/g1/pem", reader, nil).problem(t, 400, "malformed")
	})
}

func csrFor(t *testing.T, dns ...string) string {
	t.Helper()
	return csrPEM(t, newP256(t), "", dns, nil)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
