package storagetest

import (
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// serialsOf lists the serials of certs in order.
func serialsOf(certs []storage.Certificate) []string {
	var s []string
	for _, c := range certs {
		s = append(s, c.Serial)
	}
	return s
}

func testInventory(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Filter", func(t *testing.T) { testListFilter(t, open) })
	t.Run("Paging", func(t *testing.T) { testListPaging(t, open) })
	t.Run("PagingWhileInserting", func(t *testing.T) { testListPagingWhileInserting(t, open) })

	t.Run("FullRecords", func(t *testing.T) {
		s, ctx := withCA(t, open)
		want := []storage.Certificate{normCert(renewable("02"))}
		c := renewable("01")
		c.CreatedAt = base.Add(time.Second)
		c.Replaces = "0f"
		want = append([]storage.Certificate{activate(t, s, ctx, c)}, want...)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, renewable("02")))
		got, next, err := s.ListCertificates(ctx, storage.CertificateFilter{})
		must(t, "ListCertificates", err)
		if !reflect.DeepEqual(got, want) || next != "" {
			t.Errorf("ListCertificates() =\n%+v, %q\nwant\n%+v, \"\"", got, next, want)
		}
		for _, c := range got {
			checkCertUTC(t, c)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s, ctx := withCA(t, open)
		got, next, err := s.ListCertificates(ctx, storage.CertificateFilter{})
		if err != nil || len(got) != 0 || next != "" {
			t.Errorf("ListCertificates() on an empty store = %v, %q, %v; want nothing", got, next, err)
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		s, ctx := withCA(t, open)
		cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
		tests := []struct {
			name   string
			filter storage.CertificateFilter
		}{
			{"unknown status", storage.CertificateFilter{Status: "valid"}},
			{"status in capitals", storage.CertificateFilter{Status: "Active", Now: base}},
			{"active without now", storage.CertificateFilter{Status: "active"}},
			{"expired without now", storage.CertificateFilter{Status: "expired"}},
			{"cursor not base64url", storage.CertificateFilter{Cursor: "not a cursor!"}},
			{"cursor of another version", storage.CertificateFilter{Cursor: cursor("2:1:0a")}},
			{"cursor without serial", storage.CertificateFilter{Cursor: cursor("1:1")}},
			{"cursor with a bad time", storage.CertificateFilter{Cursor: cursor("1:x:0a")}},
			{"cursor with a bad serial", storage.CertificateFilter{Cursor: cursor("1:1:0A")}},
			{"cursor with an empty serial", storage.CertificateFilter{Cursor: cursor("1:1:")}},
			{"cursor too long", storage.CertificateFilter{Cursor: cursor("1:1:" + strings.Repeat("a", 300))}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := s.ListCertificates(ctx, tt.filter)
				wantKind(t, "ListCertificates", err, errs.Malformed)
			})
		}
	})
}

// testListFilter checks each filter, and filters together, on one
// inventory of nine certificates.
func testListFilter(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	issuing := rootCA("issuing", base)
	issuing.Parent = "root"
	must(t, "InsertCA(issuing)", s.InsertCA(ctx, issuing, Event("init-ca", "")))

	now := base.Add(30 * 24 * time.Hour)
	day := 24 * time.Hour
	type row struct {
		serial, profile, ca, status string
		sans                        []string
		notAfter                    time.Time
		created                     time.Duration // after base
		subject                     string
	}
	rows := []row{
		{"a1", "default", "root", "active", []string{"www.Example.COM"}, now.Add(10 * day), time.Minute, "SERIALNUMBER=SN-7,CN=www.Example.COM,O=Example Corp,C=DE"},
		{"a2", "default", "issuing", "active", []string{"api.example.com", "192.0.2.1"}, now.Add(60 * day), 2 * time.Minute, "SERIALNUMBER=SN-71,CN=api.example.com,O=Exämple GmbH,C=DE"},
		{"a3", "web", "root", "active", []string{"shop.example.org"}, now.Add(5 * day), 3 * time.Minute, ""},
		{"a4", "default", "root", "active", []string{"old.example.com"}, now.Add(-day), 4 * time.Minute, ""},
		{"a5", "default", "root", "revoked", []string{"www.example.com"}, now.Add(10 * day), 5 * time.Minute, ""},
		{"a6", "default", "root", "pending", []string{"new.example.com"}, now.Add(90 * day), 6 * time.Minute, ""},
		{"a7", "web", "issuing", "active", []string{"100%_sure.example.com"}, now.Add(20 * day), 7 * time.Minute, ""},
		// Expires exactly at now: expired, not active. Its SAN matches
		// 100%_sure if % and _ were wildcards.
		{"a8", "default", "root", "active", []string{"100ab-sure.example.net"}, now, 8 * time.Minute, ""},
		// Created at the same time as a8: the greater serial comes first.
		{"a9", "default", "root", "active", nil, now.Add(day), 8 * time.Minute, ""},
	}
	for _, r := range rows {
		c := pendingCert(r.serial)
		c.Profile, c.CA, c.SANs, c.Subject = r.profile, r.ca, r.sans, r.subject
		c.NotBefore, c.NotAfter = base, r.notAfter
		if r.profile == "web" { // pendingCert's are acme, acct/1
			c.Method, c.Requester = "api", "pipeline"
		}
		c.CreatedAt = base.Add(r.created)
		if r.status == "pending" {
			must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
			continue
		}
		activate(t, s, ctx, c)
		if r.status == "revoked" {
			must(t, "RevokeCertificate", s.RevokeCertificate(ctx, r.serial, 1, now, Event("revoke", r.serial)))
		}
	}

	tests := []struct {
		name   string
		filter storage.CertificateFilter
		want   []string // newest first
	}{
		{"none", storage.CertificateFilter{}, []string{"a9", "a8", "a7", "a6", "a5", "a4", "a3", "a2", "a1"}},
		{"profile", storage.CertificateFilter{Profile: "web"}, []string{"a7", "a3"}},
		{"unknown profile", storage.CertificateFilter{Profile: "nope"}, nil},
		{"CA", storage.CertificateFilter{CA: "issuing"}, []string{"a7", "a2"}},
		{"requester", storage.CertificateFilter{Requester: "pipeline"}, []string{"a7", "a3"}},
		{"method", storage.CertificateFilter{Method: "acme", CA: "issuing"}, []string{"a2"}},
		{"requester is exact", storage.CertificateFilter{Requester: "pipe"}, nil},
		{"pending", storage.CertificateFilter{Status: "pending"}, []string{"a6"}},
		{"active", storage.CertificateFilter{Status: "active", Now: now}, []string{"a9", "a7", "a3", "a2", "a1"}},
		{"active now in another zone", storage.CertificateFilter{Status: "active", Now: now.UTC()}, []string{"a9", "a7", "a3", "a2", "a1"}},
		{"expired", storage.CertificateFilter{Status: "expired", Now: now}, []string{"a8", "a4"}},
		{"revoked", storage.CertificateFilter{Status: "revoked"}, []string{"a5"}},
		{"SAN ignores case", storage.CertificateFilter{SAN: "EXAMPLE.com"}, []string{"a7", "a6", "a5", "a4", "a2", "a1"}},
		{"SAN matches any SAN", storage.CertificateFilter{SAN: "192.0.2"}, []string{"a2"}},
		{"SAN wildcards are literal", storage.CertificateFilter{SAN: "100%_SURE"}, []string{"a7"}},
		{"SAN percent alone", storage.CertificateFilter{SAN: "%"}, []string{"a7"}},
		{"SAN underscore alone", storage.CertificateFilter{SAN: "_"}, []string{"a7"}},
		{"SAN backslash", storage.CertificateFilter{SAN: `\`}, nil},
		{"SAN stays within one SAN", storage.CertificateFilter{SAN: "com\n192"}, nil},
		{"SAN no match", storage.CertificateFilter{SAN: "example.edu"}, nil},
		{"subject substring", storage.CertificateFilter{Subject: "SERIALNUMBER=SN-7"}, []string{"a2", "a1"}},
		{"subject attribute", storage.CertificateFilter{Subject: "SERIALNUMBER=SN-7,"}, []string{"a1"}},
		{"subject is case-sensitive", storage.CertificateFilter{Subject: "o=example corp"}, nil},
		{"subject beyond ASCII", storage.CertificateFilter{Subject: "O=Exämple"}, []string{"a2"}},
		{"subject wildcards are literal", storage.CertificateFilter{Subject: "%"}, nil},
		{"serial", storage.CertificateFilter{Serial: "a3"}, []string{"a3"}},
		{"unknown serial", storage.CertificateFilter{Serial: "ff"}, nil},
		{"expiring before (exclusive)", storage.CertificateFilter{ExpiringBefore: now.Add(5 * day)}, []string{"a9", "a8", "a4"}},
		{"expiring before", storage.CertificateFilter{ExpiringBefore: now.Add(7 * day)}, []string{"a9", "a8", "a4", "a3"}},
		{"profile, status, SAN and expiring before",
			storage.CertificateFilter{Profile: "default", Status: "active", Now: now, SAN: "Example.Com", ExpiringBefore: now.Add(30 * day)},
			[]string{"a1"}},
		{"profile, expired and SAN",
			storage.CertificateFilter{Profile: "default", Status: "expired", Now: now, SAN: "example"}, []string{"a8", "a4"}},
		{"CA and active", storage.CertificateFilter{CA: "root", Status: "active", Now: now}, []string{"a9", "a3", "a1"}},
		{"CA, profile and serial", storage.CertificateFilter{CA: "issuing", Profile: "web", Serial: "a2"}, nil},
		{"revoked and SAN", storage.CertificateFilter{Status: "revoked", SAN: "www."}, []string{"a5"}},
		{"limit", storage.CertificateFilter{Limit: 2}, []string{"a9", "a8"}},
		{"limit with filter", storage.CertificateFilter{Profile: "default", Status: "active", Now: now, Limit: 1}, []string{"a9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, next, err := s.ListCertificates(ctx, tt.filter)
			must(t, "ListCertificates", err)
			if !reflect.DeepEqual(serialsOf(got), tt.want) {
				t.Errorf("ListCertificates(%+v) serials = %v, want %v", tt.filter, serialsOf(got), tt.want)
			}
			morePages := tt.filter.Limit > 0 && len(tt.want) == tt.filter.Limit
			if (next != "") != morePages {
				t.Errorf("ListCertificates(%+v) next cursor = %q, want one: %v", tt.filter, next, morePages)
			}
		})
	}
}

// pagingSerial is the serial of row i of the paging tests: distinct, of
// varying length and not in the order of i.
func pagingSerial(i int) string { return fmt.Sprintf("%x", uint32(i+1)*2654435761) }

// pagingCert is row i of the paging tests; three rows share each creation
// time, so that the serial breaks ties.
func pagingCert(i int) storage.Certificate {
	c := pendingCert(pagingSerial(i))
	c.CreatedAt = base.Add(time.Duration(i/3) * time.Second)
	return c
}

// newestFirst sorts certs the way ListCertificates returns them.
func newestFirst(certs []storage.Certificate) []string {
	certs = slices.Clone(certs)
	slices.SortFunc(certs, func(a, b storage.Certificate) int {
		if c := normTime(b.CreatedAt).Compare(normTime(a.CreatedAt)); c != 0 {
			return c
		}
		return strings.Compare(b.Serial, a.Serial)
	})
	return serialsOf(certs)
}

// listAll pages through f and returns the serials of every page.
func listAll(t *testing.T, s storage.Store, f storage.CertificateFilter) [][]string {
	t.Helper()
	var pages [][]string
	for {
		got, next, err := s.ListCertificates(t.Context(), f)
		must(t, "ListCertificates", err)
		pages = append(pages, serialsOf(got))
		if next == "" || len(pages) > 10 {
			return pages
		}
		f.Cursor = next
	}
}

func testListPaging(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	var certs []storage.Certificate
	for _, i := range rand120() {
		c := pagingCert(i)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		certs = append(certs, c)
	}
	want := newestFirst(certs)

	tests := []struct {
		name   string
		filter storage.CertificateFilter
		sizes  []int
	}{
		{"limit 50", storage.CertificateFilter{Limit: 50}, []int{50, 50, 20}},
		{"default limit", storage.CertificateFilter{}, []int{50, 50, 20}},
		{"pages end exactly", storage.CertificateFilter{Limit: 40}, []int{40, 40, 40}},
		{"one page", storage.CertificateFilter{Limit: 120}, []int{120}},
		{"filtered", storage.CertificateFilter{Profile: "default", Status: "pending", SAN: "example", Limit: 50}, []int{50, 50, 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages := listAll(t, s, tt.filter)
			var sizes []int
			var all []string
			for _, p := range pages {
				sizes = append(sizes, len(p))
				all = append(all, p...)
			}
			if !reflect.DeepEqual(sizes, tt.sizes) {
				t.Errorf("page sizes = %v, want %v", sizes, tt.sizes)
			}
			if dup := firstDuplicate(all); dup != "" {
				t.Errorf("serial %s returned twice", dup)
			}
			if !reflect.DeepEqual(all, want) {
				t.Errorf("pages together =\n%v\nwant (created_at, serial descending)\n%v", all, want)
			}
		})
	}
}

// testListPagingWhileInserting inserts rows between two pages: newer rows
// (which would shift an OFFSET and repeat rows), rows that tie with the
// cursor's creation time, and older rows. No row may come twice; every row
// older than the cursor must come.
func testListPagingWhileInserting(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	var certs []storage.Certificate
	for i := range 120 {
		c := pagingCert(i)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		certs = append(certs, c)
	}
	first, next, err := s.ListCertificates(ctx, storage.CertificateFilter{Limit: 50})
	must(t, "ListCertificates", err)
	if len(first) != 50 || next == "" {
		t.Fatalf("first page: %d rows, cursor %q; want 50 and a cursor", len(first), next)
	}
	last := first[len(first)-1]

	var older []storage.Certificate
	for i := range 30 {
		c := pendingCert(fmt.Sprintf("f%03x", i))
		c.CreatedAt = base.Add(time.Hour + time.Duration(i)*time.Millisecond) // newer than every row
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
	}
	for i := range 5 {
		// Same creation time as the cursor, serial below it: after it.
		c := pendingCert(fmt.Sprintf("%s0%d", last.Serial[:1], i))
		if c.Serial >= last.Serial {
			continue
		}
		c.CreatedAt = last.CreatedAt
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		older = append(older, c)
	}
	for i := range 5 {
		c := pendingCert(fmt.Sprintf("e%03x", i))
		c.CreatedAt = base.Add(-time.Duration(i+1) * time.Second) // older than every row
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		older = append(older, c)
	}

	seen := serialsOf(first)
	for _, p := range listAll(t, s, storage.CertificateFilter{Limit: 50, Cursor: next}) {
		seen = append(seen, p...)
	}
	if dup := firstDuplicate(seen); dup != "" {
		t.Errorf("serial %s returned twice", dup)
	}
	if want := newestFirst(append(certs, older...)); !reflect.DeepEqual(seen, want) {
		t.Errorf("pages together =\n%v\nwant the first rows and those older than the cursor\n%v", seen, want)
	}
}

// rand120 is 0..119 in a fixed shuffled order, so rows are not inserted in
// the order they are listed in.
func rand120() []int {
	order := make([]int, 120)
	for i := range order {
		order[i] = (i * 77) % 120 // 77 is prime to 120
	}
	return order
}

// firstDuplicate returns a serial that occurs twice in serials, or "".
func firstDuplicate(serials []string) string {
	seen := map[string]bool{}
	for _, s := range serials {
		if seen[s] {
			return s
		}
		seen[s] = true
	}
	return ""
}
