package storagetest

import (
	"crypto/sha256"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RunRequests runs the conformance tests of storage.RequestStore. open must
// return a new, empty store each time it is called, closed when t ends (as
// for Run). It takes a whole Store to read the audit trail: an insert or a
// decision appends its event with the change, and a refused one appends
// nothing (AuditedChanges checks the event itself).
func RunRequests(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRequestRoundTrip(t, open) })
	t.Run("Malformed", func(t *testing.T) { testRequestMalformed(t, open) })
	t.Run("DuplicateID", func(t *testing.T) { testRequestDuplicateID(t, open) })
	t.Run("LiveDuplicateCSR", func(t *testing.T) { testRequestLiveDuplicate(t, open) })
	t.Run("FindRequest", func(t *testing.T) { testFindRequest(t, open) })
	t.Run("FindSCEPRequest", func(t *testing.T) { testFindSCEPRequest(t, open) })
	t.Run("List", func(t *testing.T) { testListRequests(t, open) })
	t.Run("ListDefaultLimit", func(t *testing.T) { testListRequestsLimit(t, open) })
	t.Run("CountPending", func(t *testing.T) { testCountPendingRequests(t, open) })
	t.Run("Decide", func(t *testing.T) { testDecideRequest(t, open) })
	t.Run("Approvals", func(t *testing.T) { testAddApproval(t, open) })
	t.Run("ConcurrentDecisions", func(t *testing.T) { testConcurrentDecisions(t, open) })
	t.Run("Complete", func(t *testing.T) { testCompleteRequest(t, open) })
	t.Run("ConcurrentCompletions", func(t *testing.T) { testConcurrentCompletions(t, open) })
	t.Run("Expire", func(t *testing.T) { testExpireRequests(t, open) })
}

// requestID is the n-th request ID of a test: 32 lowercase hex digits, as
// the caller chooses them, in the order of n.
func requestID(n int) string { return fmt.Sprintf("%032x", n) }

// enrollment is a pending request of profile created at, whose CSR (a
// fake, byte exact as testDER) is told apart from the others by csr.
func enrollment(n int, profile string, csr byte, at time.Time) storage.Request {
	der := testDER(csr)
	return storage.Request{
		ID:        requestID(n),
		Profile:   profile,
		Method:    "est",
		Requester: "device-" + requestID(n)[28:],
		CSR:       der,
		CSRHash:   csrHash(der),
		Names:     []string{"device.example.com", "192.0.2.7"},
		Status:    storage.RequestPending,
		CreatedAt: at,
	}
}

// csrHash stands in for a request's CSRHash (a 32-byte digest the core
// makes of the CSR's key and names; the store only compares it).
func csrHash(der []byte) []byte {
	h := sha256.Sum256(der)
	return h[:]
}

// normRequest is what a store returns for r: times in UTC to the
// microsecond, an empty list as nil.
func normRequest(r storage.Request) storage.Request {
	r.CreatedAt = normTime(r.CreatedAt)
	if !r.DecidedAt.IsZero() {
		r.DecidedAt = normTime(r.DecidedAt)
	}
	if len(r.Names) == 0 {
		r.Names = nil
	}
	// Approvals are kept as JSON, to the nanosecond.
	r.Approvals = slices.Clone(r.Approvals)
	for i := range r.Approvals {
		r.Approvals[i].At = r.Approvals[i].At.UTC()
	}
	return r
}

func checkRequestUTC(t *testing.T, r storage.Request) {
	t.Helper()
	checkUTC(t, "Request.CreatedAt", r.CreatedAt)
	if !r.DecidedAt.IsZero() {
		checkUTC(t, "Request.DecidedAt", r.DecidedAt)
	}
}

func insertRequest(t *testing.T, s storage.Store, r storage.Request) {
	t.Helper()
	must(t, "InsertRequest("+r.ID+")", s.InsertRequest(t.Context(), r, Event("request", "")))
}

func decideRequest(t *testing.T, s storage.Store, id, status string) {
	t.Helper()
	must(t, "DecideRequest("+id+", "+status+")",
		s.DecideRequest(t.Context(), id, status, "operator", "checked", base.Add(time.Hour), Event("request-"+status, "")))
}

// wantRequest fails t unless the stored request id is want (as the store
// returns it).
func wantRequest(t *testing.T, s storage.Store, what string, want storage.Request) {
	t.Helper()
	got, err := s.GetRequest(t.Context(), want.ID)
	if err != nil {
		t.Errorf("%s: GetRequest(%s) = %v", what, want.ID, err)
		return
	}
	if want = normRequest(want); !reflect.DeepEqual(got, want) {
		t.Errorf("%s: GetRequest(%s) =\n%+v\nwant\n%+v", what, want.ID, got, want)
	}
	checkRequestUTC(t, got)
}

// wantAppended fails t unless s's trail has n more events than before.
func wantAppended(t *testing.T, s storage.Store, what string, before []storage.AuditEvent, n int) {
	t.Helper()
	if after := trail(t, s); len(after) != len(before)+n {
		t.Errorf("%s appended %d audit events, want %d", what, len(after)-len(before), n)
	}
}

// ids are the IDs of rs, in order.
func ids(rs []storage.Request) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// A request comes back as it went in, except what the store decides: it
// is pending and undecided whatever the caller said, times are in UTC to
// the microsecond, and an empty list is nil.
func testRequestRoundTrip(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	scep := enrollment(1, "devices", 1, base)
	scep.Method, scep.TransactionID = "scep", "7f3a9c0e-transaction"
	// Whatever these say, a new request is pending and undecided.
	scep.Status = storage.RequestIssued
	scep.DecidedAt, scep.DecidedBy, scep.Reason, scep.Serial = base, "someone", "a reason", "0a"
	noNames := enrollment(2, "devices", 2, base.Add(time.Second))
	noNames.Names = nil
	emptyNames := enrollment(3, "web", 3, base.Add(2*time.Second))
	emptyNames.Names = []string{}
	emptyNames.Method, emptyNames.Requester = "api", ""

	for _, r := range []storage.Request{scep, noNames, emptyNames} {
		insertRequest(t, s, r)
		want := r
		want.Status = storage.RequestPending
		want.DecidedAt, want.DecidedBy, want.Reason, want.Serial = time.Time{}, "", "", ""
		wantRequest(t, s, "inserted", want)
	}
	_, err := s.GetRequest(ctx, requestID(9))
	wantKind(t, "GetRequest(unknown)", err, errs.NotFound)
}

// A request without what the store needs is refused before anything is
// written or appended.
func testRequestMalformed(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	before := trail(t, s)
	for name, change := range map[string]func(r *storage.Request){
		"no ID":        func(r *storage.Request) { r.ID = "" },
		"no profile":   func(r *storage.Request) { r.Profile = "" },
		"no CSR":       func(r *storage.Request) { r.CSR = nil },
		"empty CSR":    func(r *storage.Request) { r.CSR = []byte{} },
		"no hash":      func(r *storage.Request) { r.CSRHash = nil },
		"31-byte hash": func(r *storage.Request) { r.CSRHash = r.CSRHash[:31] },
		"33-byte hash": func(r *storage.Request) { r.CSRHash = append(slices.Clone(r.CSRHash), 0) },
	} {
		r := enrollment(1, "devices", 1, base)
		change(&r)
		wantKind(t, "InsertRequest("+name+")", s.InsertRequest(ctx, r, Event("request", "")), errs.Malformed)
	}
	wantAppended(t, s, "refused inserts", before, 0)
	_, err := s.GetRequest(ctx, requestID(1))
	wantKind(t, "GetRequest after refused inserts", err, errs.NotFound)
	r := enrollment(1, "devices", 1, base)
	_, err = s.FindRequest(ctx, r.Profile, r.CSRHash)
	wantKind(t, "FindRequest after refused inserts", err, errs.NotFound)
}

// An ID is taken once, whatever the rest of the request says; the first
// request stays as it was and the refused insert appends nothing.
func testRequestDuplicateID(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	first := enrollment(1, "devices", 1, base)
	insertRequest(t, s, first)
	decideRequest(t, s, first.ID, storage.RequestRejected) // no longer live: only the ID clashes
	before := trail(t, s)
	for _, second := range []storage.Request{
		enrollment(1, "devices", 1, base.Add(time.Minute)),
		enrollment(1, "web", 2, base.Add(time.Minute)),
	} {
		wantKind(t, "InsertRequest(same ID, profile "+second.Profile+")",
			s.InsertRequest(ctx, second, Event("request", "")), errs.Conflict)
	}
	wantAppended(t, s, "refused inserts", before, 0)
	first.Status, first.DecidedAt, first.DecidedBy, first.Reason = storage.RequestRejected, base.Add(time.Hour), "operator", "checked"
	wantRequest(t, s, "the first, after refused inserts", first)
}

// One live (pending or approved) request per profile and CSR: a client
// repeating its request while it waits is refused, and the same CSR may
// come again once the request is rejected, issued or failed.
func testRequestLiveDuplicate(t *testing.T, open func(t *testing.T) storage.Store) {
	for _, tt := range []struct {
		name string
		end  func(t *testing.T, s storage.Store, id string)
	}{
		{"after rejected", func(t *testing.T, s storage.Store, id string) {
			decideRequest(t, s, id, storage.RequestRejected)
		}},
		{"after issued", func(t *testing.T, s storage.Store, id string) {
			must(t, "CompleteRequest(issued)", s.CompleteRequest(t.Context(), id, storage.RequestIssued, "0a", ""))
		}},
		{"after failed", func(t *testing.T, s storage.Store, id string) {
			must(t, "CompleteRequest(failed)", s.CompleteRequest(t.Context(), id, storage.RequestFailed, "", "CA expired"))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ctx := open(t), t.Context()
			first := enrollment(1, "devices", 1, base)
			insertRequest(t, s, first)
			again := func(n int) storage.Request {
				return enrollment(n, "devices", 1, base.Add(time.Duration(n)*time.Minute))
			}

			refused := func(what string, r storage.Request) {
				t.Helper()
				before := trail(t, s)
				wantKind(t, "InsertRequest(same CSR, "+what+")", s.InsertRequest(ctx, r, Event("request", "")), errs.Conflict)
				wantAppended(t, s, "InsertRequest(same CSR, "+what+")", before, 0)
			}
			refused("pending", again(2))
			if tt.name != "after rejected" {
				decideRequest(t, s, first.ID, storage.RequestApproved)
				refused("approved", again(3))
			}
			for _, n := range []int{2, 3} {
				_, err := s.GetRequest(ctx, requestID(n))
				wantKind(t, fmt.Sprintf("GetRequest(refused %d)", n), err, errs.NotFound)
			}

			tt.end(t, s, first.ID)
			insertRequest(t, s, again(4))
			got, err := s.FindRequest(ctx, "devices", first.CSRHash)
			must(t, "FindRequest", err)
			if got.ID != requestID(4) || got.Status != storage.RequestPending {
				t.Errorf("FindRequest() = %s (%s), want %s (pending)", got.ID, got.Status, requestID(4))
			}
			refused("pending again", again(5)) // the new one is live in its turn
		})
	}

	t.Run("other profile", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		insertRequest(t, s, enrollment(1, "devices", 1, base))
		decideRequest(t, s, requestID(1), storage.RequestApproved)
		insertRequest(t, s, enrollment(2, "web", 1, base))
		insertRequest(t, s, enrollment(3, "devices", 2, base)) // another CSR
		for profile, want := range map[string]string{"devices": requestID(1), "web": requestID(2)} {
			got, err := s.FindRequest(ctx, profile, csrHash(testDER(1)))
			if err != nil || got.ID != want {
				t.Errorf("FindRequest(%s) = %s, %v; want %s", profile, got.ID, err, want)
			}
		}
	})
}

// FindRequest returns the newest request of the profile with the CSR,
// whatever its status: by CreatedAt, then by ID.
func testFindRequest(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	later := base.Add(time.Minute)
	// Inserted in this order, each rejected before the next, so that the
	// order of the rows is not that of their IDs or times.
	for _, r := range []storage.Request{
		enrollment(0x0c, "devices", 1, base),  // the greatest ID, but older
		enrollment(0x0b, "devices", 1, later), // newest, and of those the greatest ID
		enrollment(0x0a, "devices", 1, later),
	} {
		insertRequest(t, s, r)
		decideRequest(t, s, r.ID, storage.RequestRejected)
	}
	insertRequest(t, s, enrollment(0x0d, "web", 1, later.Add(time.Hour))) // another profile
	insertRequest(t, s, enrollment(0x0e, "devices", 2, later.Add(time.Hour)))

	got, err := s.FindRequest(ctx, "devices", csrHash(testDER(1)))
	must(t, "FindRequest", err)
	want := enrollment(0x0b, "devices", 1, later)
	want.Status, want.DecidedAt, want.DecidedBy, want.Reason = storage.RequestRejected, base.Add(time.Hour), "operator", "checked"
	if want = normRequest(want); !reflect.DeepEqual(got, want) {
		t.Errorf("FindRequest() =\n%+v\nwant\n%+v", got, want)
	}
	checkRequestUTC(t, got)

	for name, find := range map[string]func() (storage.Request, error){
		"unknown CSR":   func() (storage.Request, error) { return s.FindRequest(ctx, "devices", csrHash(testDER(3))) },
		"other profile": func() (storage.Request, error) { return s.FindRequest(ctx, "servers", csrHash(testDER(1))) },
		"no hash":       func() (storage.Request, error) { return s.FindRequest(ctx, "devices", nil) },
	} {
		_, err := find()
		wantKind(t, "FindRequest("+name+")", err, errs.NotFound)
	}
}

// FindSCEPRequest returns the newest request of the profile with the
// transactionID, and never a request of another method, which has none.
func testFindSCEPRequest(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	scep := func(n int, csr byte, tid string, at time.Time) storage.Request {
		r := enrollment(n, "devices", csr, at)
		r.Method, r.TransactionID = "scep", tid
		return r
	}
	// A client that resends its PKCSReq with a new key keeps its
	// transactionID: the newest request is the one it polls for.
	insertRequest(t, s, scep(1, 1, "tid-1", base))
	decideRequest(t, s, requestID(1), storage.RequestRejected)
	insertRequest(t, s, scep(2, 2, "tid-1", base.Add(time.Minute)))
	insertRequest(t, s, scep(3, 3, "tid-2", base.Add(2*time.Minute)))
	insertRequest(t, s, enrollment(4, "devices", 4, base.Add(3*time.Minute))) // EST: no transactionID
	other := scep(5, 5, "tid-1", base.Add(4*time.Minute))
	other.Profile = "servers"
	insertRequest(t, s, other)

	got, err := s.FindSCEPRequest(ctx, "devices", "tid-1")
	must(t, "FindSCEPRequest", err)
	if want := normRequest(scep(2, 2, "tid-1", base.Add(time.Minute))); !reflect.DeepEqual(got, want) {
		t.Errorf("FindSCEPRequest() =\n%+v\nwant\n%+v", got, want)
	}
	checkRequestUTC(t, got)
	if got, err := s.FindSCEPRequest(ctx, "servers", "tid-1"); err != nil || got.ID != requestID(5) {
		t.Errorf("FindSCEPRequest(servers) = %s, %v; want %s", got.ID, err, requestID(5))
	}
	for _, tt := range []struct{ profile, tid string }{
		{"devices", "tid-3"},
		{"devices", "TID-1"},
		{"web", "tid-1"},
		{"devices", ""}, // the EST request has none
	} {
		_, err := s.FindSCEPRequest(ctx, tt.profile, tt.tid)
		wantKind(t, fmt.Sprintf("FindSCEPRequest(%s, %q)", tt.profile, tt.tid), err, errs.NotFound)
	}
}

// ListRequests filters by profile, profiles and status, returns the
// newest first (by CreatedAt, then ID), and pages by Before.
func testListRequests(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	for _, r := range []struct {
		n       int
		profile string
		minutes int
		status  string
	}{
		{0, "a", 0, storage.RequestPending},
		{1, "b", 1, storage.RequestPending},
		{2, "a", 2, storage.RequestApproved},
		{3, "c", 3, storage.RequestRejected},
		{5, "b", 4, storage.RequestPending}, // inserted before 4, listed before it: same time, greater ID
		{4, "a", 4, storage.RequestPending},
	} {
		insertRequest(t, s, enrollment(r.n, r.profile, byte(r.n), base.Add(time.Duration(r.minutes)*time.Minute)))
		if r.status != storage.RequestPending {
			decideRequest(t, s, requestID(r.n), r.status)
		}
	}
	at := func(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }
	want := func(ns ...int) []string {
		out := []string{}
		for _, n := range ns {
			out = append(out, requestID(n))
		}
		return out
	}
	for _, tt := range []struct {
		name string
		f    storage.RequestFilter
		want []string
	}{
		{"all", storage.RequestFilter{}, want(5, 4, 3, 2, 1, 0)},
		{"profile", storage.RequestFilter{Profile: "a"}, want(4, 2, 0)},
		{"unknown profile", storage.RequestFilter{Profile: "d"}, want()},
		{"profiles", storage.RequestFilter{Profiles: []string{"a", "c"}}, want(4, 3, 2, 0)},
		{"one of profiles", storage.RequestFilter{Profiles: []string{"c"}}, want(3)},
		{"no profiles", storage.RequestFilter{Profiles: []string{}}, want()},
		{"profiles nil", storage.RequestFilter{Profiles: nil}, want(5, 4, 3, 2, 1, 0)},
		{"profile within profiles", storage.RequestFilter{Profile: "a", Profiles: []string{"a", "b"}}, want(4, 2, 0)},
		{"profile outside profiles", storage.RequestFilter{Profile: "a", Profiles: []string{"b"}}, want()},
		{"status", storage.RequestFilter{Status: storage.RequestPending}, want(5, 4, 1, 0)},
		{"status and profile", storage.RequestFilter{Status: storage.RequestPending, Profile: "b"}, want(5, 1)},
		{"status and profiles", storage.RequestFilter{Status: storage.RequestPending, Profiles: []string{"a", "c"}}, want(4, 0)},
		{"status none", storage.RequestFilter{Status: storage.RequestIssued}, want()},
		{"limit", storage.RequestFilter{Limit: 2}, want(5, 4)},
		{"before", storage.RequestFilter{Before: at(4)}, want(3, 2, 1, 0)},
		{"before, not UTC", storage.RequestFilter{Before: at(2).In(time.FixedZone("UTC-7", -7*60*60))}, want(1, 0)},
		{"before a microsecond", storage.RequestFilter{Before: normTime(at(3)).Add(time.Microsecond)}, want(3, 2, 1, 0)},
		{"before the first", storage.RequestFilter{Before: at(0)}, want()},
		{"before and filters", storage.RequestFilter{Before: at(4), Profile: "a", Status: storage.RequestApproved}, want(2)},
	} {
		got, err := s.ListRequests(ctx, tt.f)
		if err != nil {
			t.Errorf("ListRequests(%s) = %v", tt.name, err)
			continue
		}
		if g := ids(got); !slices.Equal(g, tt.want) {
			t.Errorf("ListRequests(%s) = %v, want %v", tt.name, g, tt.want)
		}
		for _, r := range got {
			checkRequestUTC(t, r)
		}
	}

	// Paging: each page starts after the last request of the one before
	// (its CreatedAt and ID), so requests created at the same time are
	// neither skipped nor repeated: here pages of 1, 2 and 4 end between
	// or after the two of minute 4.
	for _, size := range []int{1, 2, 4} {
		var paged []string
		f := storage.RequestFilter{Limit: size}
		for page := 0; ; page++ {
			got, err := s.ListRequests(ctx, f)
			must(t, "ListRequests(page)", err)
			if len(got) == 0 {
				break
			}
			if page > 6 {
				t.Fatalf("ListRequests: more pages than requests")
			}
			paged = append(paged, ids(got)...)
			f.Before, f.BeforeID = got[len(got)-1].CreatedAt, got[len(got)-1].ID
		}
		if w := want(5, 4, 3, 2, 1, 0); !slices.Equal(paged, w) {
			t.Errorf("ListRequests by pages of %d = %v, want %v", size, paged, w)
		}
	}

	for _, status := range []string{"Pending", "unknown", "active"} {
		_, err := s.ListRequests(ctx, storage.RequestFilter{Status: status})
		wantKind(t, "ListRequests(status "+status+")", err, errs.Malformed)
	}

	// The listed requests are whole.
	got, err := s.ListRequests(ctx, storage.RequestFilter{Profile: "c"})
	must(t, "ListRequests(c)", err)
	wantC := enrollment(3, "c", 3, at(3))
	wantC.Status, wantC.DecidedAt, wantC.DecidedBy, wantC.Reason = storage.RequestRejected, base.Add(time.Hour), "operator", "checked"
	if len(got) != 1 || !reflect.DeepEqual(got[0], normRequest(wantC)) {
		t.Errorf("ListRequests(c) =\n%+v\nwant\n%+v", got, normRequest(wantC))
	}
}

// Limit 0 means 100; a larger one is kept.
func testListRequestsLimit(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	for n := range 101 {
		r := enrollment(n, "devices", 0, base.Add(time.Duration(n)*time.Second))
		r.CSR = append(testDER(0), byte(n))
		r.CSRHash = csrHash(r.CSR)
		insertRequest(t, s, r)
	}
	for _, tt := range []struct{ limit, want int }{{0, 100}, {100, 100}, {101, 101}, {500, 101}} {
		got, err := s.ListRequests(ctx, storage.RequestFilter{Limit: tt.limit})
		must(t, "ListRequests", err)
		if len(got) != tt.want {
			t.Errorf("ListRequests(Limit %d) = %d requests, want %d", tt.limit, len(got), tt.want)
			continue
		}
		if got[0].ID != requestID(100) {
			t.Errorf("ListRequests(Limit %d) starts with %s, want %s", tt.limit, got[0].ID, requestID(100))
		}
	}
}

// CountPendingRequests counts the pending requests by profile; profiles
// with none are absent.
func testCountPendingRequests(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	got, err := s.CountPendingRequests(ctx)
	if err != nil || len(got) != 0 {
		t.Errorf("CountPendingRequests() of an empty store = %v, %v; want none", got, err)
	}
	for n, profile := range []string{"a", "a", "a", "b", "b", "c", "d"} {
		insertRequest(t, s, enrollment(n, profile, byte(n), base))
	}
	decideRequest(t, s, requestID(0), storage.RequestApproved) // a: 2 left
	decideRequest(t, s, requestID(3), storage.RequestRejected) // b: 1 left
	decideRequest(t, s, requestID(5), storage.RequestApproved) // c: none
	must(t, "CompleteRequest", s.CompleteRequest(ctx, requestID(5), storage.RequestIssued, "0c", ""))
	got, err = s.CountPendingRequests(ctx)
	must(t, "CountPendingRequests", err)
	if want := map[string]int{"a": 2, "b": 1, "d": 1}; !reflect.DeepEqual(got, want) {
		t.Errorf("CountPendingRequests() = %v, want %v", got, want)
	}
}

// A decision is made once, on a pending request: it sets the decision's
// time, author and reason, and appends its event; a refused one changes
// and appends nothing.
func testDecideRequest(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	approved, rejected := enrollment(1, "devices", 1, base), enrollment(2, "devices", 2, base)
	insertRequest(t, s, approved)
	insertRequest(t, s, rejected)
	at := base.Add(90 * time.Minute) // not UTC, with nanoseconds

	before := trail(t, s)
	must(t, "DecideRequest(approve)", s.DecideRequest(ctx, approved.ID, storage.RequestApproved, "alice", "known device", at, Event("request-approve", "")))
	must(t, "DecideRequest(reject)", s.DecideRequest(ctx, rejected.ID, storage.RequestRejected, "bob", "unknown device", at, Event("request-reject", "")))
	wantAppended(t, s, "two decisions", before, 2)
	approved.Status, approved.DecidedAt, approved.DecidedBy, approved.Reason = storage.RequestApproved, at, "alice", "known device"
	rejected.Status, rejected.DecidedAt, rejected.DecidedBy, rejected.Reason = storage.RequestRejected, at, "bob", "unknown device"
	wantRequest(t, s, "approved", approved)
	wantRequest(t, s, "rejected", rejected)

	pending := enrollment(3, "devices", 3, base)
	insertRequest(t, s, pending)
	issued := enrollment(4, "devices", 4, base)
	insertRequest(t, s, issued)
	decideRequest(t, s, issued.ID, storage.RequestApproved)
	must(t, "CompleteRequest", s.CompleteRequest(ctx, issued.ID, storage.RequestIssued, "0d", ""))

	before = trail(t, s)
	later := at.Add(time.Hour)
	for _, tt := range []struct {
		name, id, status string
		at               time.Time
		want             errs.Kind
	}{
		{"approve approved", approved.ID, storage.RequestApproved, later, errs.Conflict},
		{"reject approved", approved.ID, storage.RequestRejected, later, errs.Conflict},
		{"approve rejected", rejected.ID, storage.RequestApproved, later, errs.Conflict},
		{"approve issued", issued.ID, storage.RequestApproved, later, errs.Conflict},
		{"unknown", requestID(9), storage.RequestApproved, later, errs.NotFound},
		{"no ID", "", storage.RequestApproved, later, errs.NotFound},
		{"status pending", pending.ID, storage.RequestPending, later, errs.Malformed},
		{"status issued", pending.ID, storage.RequestIssued, later, errs.Malformed},
		{"status failed", pending.ID, storage.RequestFailed, later, errs.Malformed},
		{"status upper case", pending.ID, "Approved", later, errs.Malformed},
		{"no status", pending.ID, "", later, errs.Malformed},
		{"bad status of an unknown request", requestID(9), "yes", later, errs.Malformed},
		{"no time", pending.ID, storage.RequestApproved, time.Time{}, errs.Malformed},
	} {
		err := s.DecideRequest(ctx, tt.id, tt.status, "mallory", "again", tt.at, Event("request-decide", ""))
		wantKind(t, "DecideRequest("+tt.name+")", err, tt.want)
	}
	wantAppended(t, s, "refused decisions", before, 0)
	wantRequest(t, s, "approved, after refused decisions", approved)
	wantRequest(t, s, "rejected, after refused decisions", rejected)
	wantRequest(t, s, "pending, after refused decisions", pending)
}

// Operators deciding one request at once (two consoles, a double click):
// exactly one decision is made, and it is the one stored.
func testConcurrentDecisions(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	r := enrollment(1, "devices", 1, base)
	insertRequest(t, s, r)
	before := trail(t, s)
	decision := func(i int) (status, by string) {
		if i%2 == 0 {
			return storage.RequestApproved, fmt.Sprintf("operator-%d", i)
		}
		return storage.RequestRejected, fmt.Sprintf("operator-%d", i)
	}
	results := concurrently(func(i int) error {
		status, by := decision(i)
		return s.DecideRequest(ctx, r.ID, status, by, "", base.Add(time.Duration(i)*time.Second), Event("request-"+status, ""))
	})
	winner := oneWinner(t, "DecideRequest", results, isConflict)
	wantAppended(t, s, "concurrent decisions", before, 1)
	if winner < 0 {
		return
	}
	r.Status, r.DecidedBy = decision(winner)
	r.DecidedAt = base.Add(time.Duration(winner) * time.Second)
	wantRequest(t, s, "decided", r)
}

// An approved request ends issued, with its certificate's serial, or
// failed, with why; any other request cannot be completed.
func testCompleteRequest(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	approve := func(n int) storage.Request {
		r := enrollment(n, "devices", byte(n), base)
		insertRequest(t, s, r)
		decideRequest(t, s, r.ID, storage.RequestApproved)
		r.Status, r.DecidedAt, r.DecidedBy, r.Reason = storage.RequestApproved, base.Add(time.Hour), "operator", "checked"
		return r
	}
	issued, failed := approve(1), approve(2)
	before := trail(t, s)
	must(t, "CompleteRequest(issued)", s.CompleteRequest(ctx, issued.ID, storage.RequestIssued, "0a1b2c", ""))
	must(t, "CompleteRequest(failed)", s.CompleteRequest(ctx, failed.ID, storage.RequestFailed, "", "the CA expired"))
	wantAppended(t, s, "completions", before, 0) // the caller audits the issuance itself
	// The decision is kept; an issued request keeps the reason of its
	// approval, a failed one says why it failed.
	issued.Status, issued.Serial = storage.RequestIssued, "0a1b2c"
	failed.Status, failed.Reason = storage.RequestFailed, "the CA expired"
	wantRequest(t, s, "issued", issued)
	wantRequest(t, s, "failed", failed)

	pending := enrollment(3, "devices", 3, base)
	insertRequest(t, s, pending)
	rejected := enrollment(4, "devices", 4, base)
	insertRequest(t, s, rejected)
	decideRequest(t, s, rejected.ID, storage.RequestRejected)
	approved := approve(5)
	for _, tt := range []struct {
		name, id, status, serial string
		want                     errs.Kind
	}{
		{"pending", pending.ID, storage.RequestIssued, "0e", errs.Conflict},
		{"pending, failed", pending.ID, storage.RequestFailed, "", errs.Conflict},
		{"rejected", rejected.ID, storage.RequestIssued, "0e", errs.Conflict},
		{"issued again", issued.ID, storage.RequestIssued, "0e", errs.Conflict},
		{"issued, then failed", issued.ID, storage.RequestFailed, "", errs.Conflict},
		{"failed, then issued", failed.ID, storage.RequestIssued, "0e", errs.Conflict},
		{"unknown", requestID(9), storage.RequestIssued, "0e", errs.NotFound},
		{"issued without serial", approved.ID, storage.RequestIssued, "", errs.Malformed},
		{"status approved", approved.ID, storage.RequestApproved, "0e", errs.Malformed},
		{"status rejected", approved.ID, storage.RequestRejected, "", errs.Malformed},
		{"status pending", approved.ID, storage.RequestPending, "", errs.Malformed},
		{"no status", approved.ID, "", "0e", errs.Malformed},
		{"without serial, unknown", requestID(9), storage.RequestIssued, "", errs.Malformed},
	} {
		err := s.CompleteRequest(ctx, tt.id, tt.status, tt.serial, "a reason")
		wantKind(t, "CompleteRequest("+tt.name+")", err, tt.want)
	}
	wantRequest(t, s, "issued, after refused completions", issued)
	wantRequest(t, s, "failed, after refused completions", failed)
	wantRequest(t, s, "approved, after refused completions", approved)
	wantRequest(t, s, "pending, after refused completions", pending)
	must(t, "CompleteRequest(after refused ones)", s.CompleteRequest(ctx, approved.ID, storage.RequestIssued, "0f", ""))
}

// Two replicas finishing one approved request at once: exactly one does.
func testConcurrentCompletions(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	r := enrollment(1, "devices", 1, base)
	insertRequest(t, s, r)
	decideRequest(t, s, r.ID, storage.RequestApproved)
	serial := func(i int) string { return fmt.Sprintf("%02x", i+1) }
	results := concurrently(func(i int) error {
		return s.CompleteRequest(ctx, r.ID, storage.RequestIssued, serial(i), "")
	})
	winner := oneWinner(t, "CompleteRequest", results, isConflict)
	if winner < 0 {
		return
	}
	got, err := s.GetRequest(ctx, r.ID)
	must(t, "GetRequest", err)
	if got.Status != storage.RequestIssued || got.Serial != serial(winner) {
		t.Errorf("GetRequest() = %s with serial %q, want issued with the winner's %q", got.Status, got.Serial, serial(winner))
	}
}

// Expiry ends the pending requests of one profile created before the
// cutoff, and nothing else; an expired request is decided (by "gateway"),
// no longer live (its CSR may come again) and listed as expired.
func testExpireRequests(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	old, fresh := base, base.Add(2*time.Hour)
	insertRequest(t, s, enrollment(1, "a", 1, old))   // expires
	insertRequest(t, s, enrollment(2, "a", 2, old))   // approved first: stays
	insertRequest(t, s, enrollment(3, "a", 3, fresh)) // too young
	insertRequest(t, s, enrollment(4, "b", 4, old))   // another profile
	decideRequest(t, s, requestID(2), storage.RequestApproved)
	cutoff, at := base.Add(time.Hour), base.Add(3*time.Hour)
	n, err := s.ExpireRequests(ctx, "a", cutoff, at, "not decided within 1h")
	must(t, "ExpireRequests", err)
	if n != 1 {
		t.Fatalf("ExpireRequests ended %d requests, want 1", n)
	}
	got, err := s.GetRequest(ctx, requestID(1))
	must(t, "GetRequest", err)
	if got.Status != storage.RequestExpired || !got.DecidedAt.Equal(at.Truncate(time.Microsecond)) || got.DecidedBy != "gateway" || got.Reason != "not decided within 1h" {
		t.Errorf("expired request %+v", got)
	}
	for id, want := range map[int]string{2: storage.RequestApproved, 3: storage.RequestPending, 4: storage.RequestPending} {
		if r, err := s.GetRequest(ctx, requestID(id)); err != nil || r.Status != want {
			t.Errorf("request %d: %s, %v; want %s", id, r.Status, err, want)
		}
	}
	if n, err := s.ExpireRequests(ctx, "a", cutoff, at, "again"); err != nil || n != 0 {
		t.Errorf("a second expiry ended %d, %v; want 0", n, err)
	}
	wantKind(t, "DecideRequest(expired)", s.DecideRequest(ctx, requestID(1), storage.RequestApproved, "op", "", at, Event("approve-request", "")), errs.Conflict)
	again := enrollment(5, "a", 1, at) // the expired request's CSR
	must(t, "InsertRequest(CSR of an expired request)", s.InsertRequest(ctx, again, Event("request", "")))
	list, err := s.ListRequests(ctx, storage.RequestFilter{Status: storage.RequestExpired})
	must(t, "ListRequests(expired)", err)
	if len(list) != 1 || list[0].ID != requestID(1) {
		t.Errorf("expired requests %+v", list)
	}
}

// Approvals gather on a pending request, each operator's once, each with
// its event; they stay with the request once it is decided, and none is
// added then.
func testAddApproval(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	r := enrollment(1, "devices", 1, base)
	insertRequest(t, s, r)
	at := base.Add(time.Hour) // not UTC, with nanoseconds
	before := trail(t, s)
	list, err := s.AddApproval(ctx, r.ID, "alice", at, Event("request-approval", ""))
	must(t, "AddApproval(alice)", err)
	if len(list) != 1 || list[0].By != "alice" || !list[0].At.Equal(at) {
		t.Fatalf("approvals after alice's: %+v", list)
	}
	wantKind(t, "AddApproval(alice again)", func() error {
		_, err := s.AddApproval(ctx, r.ID, "alice", at.Add(time.Minute), Event("request-approval", ""))
		return err
	}(), errs.Conflict)
	list, err = s.AddApproval(ctx, r.ID, "bob", at.Add(time.Minute), Event("request-approval", ""))
	must(t, "AddApproval(bob)", err)
	if len(list) != 2 || list[1].By != "bob" {
		t.Fatalf("approvals after bob's: %+v", list)
	}
	wantAppended(t, s, "two approvals", before, 2)
	r.Approvals = []storage.Approval{{By: "alice", At: at}, {By: "bob", At: at.Add(time.Minute)}}
	wantRequest(t, s, "approved twice", r)

	must(t, "DecideRequest", s.DecideRequest(ctx, r.ID, storage.RequestApproved, "bob", "", at.Add(time.Minute), Event("request-approve", "")))
	before = trail(t, s)
	for _, tc := range []struct {
		id   string
		want errs.Kind
	}{{r.ID, errs.Conflict}, {requestID(9), errs.NotFound}} {
		_, err := s.AddApproval(ctx, tc.id, "carol", at, Event("request-approval", ""))
		wantKind(t, "AddApproval("+tc.id+")", err, tc.want)
	}
	wantAppended(t, s, "refused approvals", before, 0)
	got, err := s.GetRequest(ctx, r.ID)
	must(t, "GetRequest", err)
	if len(got.Approvals) != 2 {
		t.Fatalf("approvals of the decided request: %+v", got.Approvals)
	}
	page, err := s.ListRequests(ctx, storage.RequestFilter{})
	must(t, "ListRequests", err)
	if len(page) != 1 || len(page[0].Approvals) != 2 {
		t.Fatalf("ListRequests: %+v", page)
	}
}
