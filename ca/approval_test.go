package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

func heldProfile() config.Profile {
	return webProfile(func(p *config.Profile) {
		p.Methods = []string{"api", "est", "acme"}
		p.Approval = config.ProfileApproval{Methods: []string{"api", "est"}, RetryAfter: config.Duration(time.Minute)}
	})
}

// pending issues req and wants it held: nothing signed, nothing in the
// inventory.
func pending(t *testing.T, f *fixture, st storage.Store, req ca.IssueRequest) storage.Request {
	t.Helper()
	signed, certs := f.key.n.Load(), countCerts(t, st)
	_, err := f.core.Issue(context.Background(), req)
	p, ok := ca.AsPending(err)
	if !ok {
		t.Fatalf("Issue: want a pending request, got %v", err)
	}
	if !errs.Is(err, errs.Conflict) {
		t.Errorf("a PendingError is an errs.Conflict to an edge that does not know it, got %v", errs.KindOf(err))
	}
	if p.RetryAfter != time.Minute {
		t.Errorf("RetryAfter %s, want the profile's 1m", p.RetryAfter)
	}
	if n := f.key.n.Load(); n != signed {
		t.Errorf("a held request was signed (%d signatures)", n-signed)
	}
	if n := countCerts(t, st); n != certs {
		t.Errorf("a held request stored %d certificates", n-certs)
	}
	return p.Request
}

func TestCoreApproval(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, heldProfile())
		ctx := context.Background()
		csr := csrFor(t, "device.example.com", "device.example.com")
		req := ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csr}
		var told []string
		f.core.OnHeld = func(_ context.Context, r storage.Request) { told = append(told, r.ID) }

		r := pending(t, f, st, req)
		if r.Status != storage.RequestPending || r.Requester != "pipeline" || r.Method != "api" ||
			strings.Join(r.Names, ",") != "device.example.com" || len(r.ID) != 32 {
			t.Fatalf("request %+v", r)
		}
		// The same CSR again: the same request, still pending.
		if again := pending(t, f, st, req); again.ID != r.ID {
			t.Fatalf("a repeat made request %s, want %s", again.ID, r.ID)
		}
		if len(told) != 1 || told[0] != r.ID {
			t.Fatalf("OnHeld told of %v, want the new request once", told)
		}
		// So is a CSR signed anew for the same key and names (as a client
		// that makes its CSR at each attempt sends), names in another
		// order included; other names with that key are another request.
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		resigned := func(dns ...string) []byte {
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: dns}, key)
			if err != nil {
				t.Fatal(err)
			}
			return der
		}
		k1 := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: resigned("a.example.com", "b.example.com")})
		if k2 := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: resigned("b.example.com", "a.example.com")}); k2.ID != k1.ID {
			t.Errorf("a CSR signed anew made request %s, want %s", k2.ID, k1.ID)
		}
		if k3 := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: resigned("a.example.com")}); k3.ID == k1.ID {
			t.Errorf("other names with the same key were taken for request %s", k1.ID)
		}

		// Four eyes: whoever asked may not approve.
		if _, err := f.core.Approve(ctx, r.ID, "pipeline"); !errs.Is(err, errs.Forbidden) {
			t.Fatalf("self-approval: %v, want Forbidden", err)
		}
		issued, err := f.core.Approve(ctx, r.ID, "operator")
		if err != nil {
			t.Fatal(err)
		}
		if issued.Cert.DNSNames[0] != "device.example.com" {
			t.Fatalf("issued %v", issued.Cert.DNSNames)
		}
		got, err := st.GetRequest(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != storage.RequestIssued || got.Serial != issued.Serial || got.DecidedBy != "operator" {
			t.Fatalf("request after approval %+v", got)
		}
		// The issuance is the requester's, and the trail says who approved.
		events, err := st.ListAudit(ctx, storage.AuditFilter{Serial: issued.Serial})
		if err != nil || len(events) != 1 || events[0].Actor != "pipeline" || !strings.Contains(events[0].Detail, "approved by operator") {
			t.Fatalf("audit of the issuance: %+v %v", events, err)
		}
		if _, err := f.core.Approve(ctx, r.ID, "operator"); !errs.Is(err, errs.Conflict) {
			t.Fatalf("second approval: %v, want Conflict", err)
		}

		// The repeat now gets the certificate, without a new signature.
		signed := f.key.n.Load()
		again, err := f.core.Issue(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if again.Serial != issued.Serial || !again.Earlier || f.key.n.Load() != signed {
			t.Fatalf("repeat after approval: serial %s (want %s), earlier %v, %d signatures", again.Serial, issued.Serial, again.Earlier, f.key.n.Load()-signed)
		}

		// Revoked, the certificate no longer answers the repeat: a new
		// request waits. (Not for keyCompromise, which blocks the key:
		// TestBlockedKeys.)
		if err := f.core.Revoke(ctx, issued.Serial, 5, "operator"); err != nil {
			t.Fatal(err)
		}
		if next := pending(t, f, st, req); next.ID == r.ID {
			t.Fatal("a repeat of a request whose certificate was revoked was answered from it")
		}
	})
}

func TestCoreApprovalReject(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, heldProfile())
		ctx := context.Background()
		req := ca.IssueRequest{Profile: "web", Method: "est", Requester: "est:device", CSR: csrFor(t, "", "d1.example.com")}
		r := pending(t, f, st, req)
		got, err := f.core.Reject(ctx, r.ID, "operator", "unknown device")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != storage.RequestRejected || got.Reason != "unknown device" || got.DecidedBy != "operator" {
			t.Fatalf("rejected request %+v", got)
		}
		_, err = f.core.Issue(ctx, req)
		if !errs.Is(err, errs.Forbidden) || !strings.Contains(err.Error(), "unknown device") {
			t.Fatalf("repeat of a rejected request: %v, want Forbidden with the reason", err)
		}
		if _, err := f.core.Approve(ctx, r.ID, "operator"); !errs.Is(err, errs.Conflict) {
			t.Fatalf("approving a rejected request: %v, want Conflict", err)
		}
		if _, err := f.core.Reject(ctx, "00000000000000000000000000000000", "operator", ""); !errs.Is(err, errs.NotFound) {
			t.Fatalf("rejecting an unknown request: %v, want NotFound", err)
		}
	})
}

// What the approval does not hold, and what it refuses before holding.
func TestCoreApprovalScope(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, heldProfile())
		ctx := context.Background()
		// ACME is not held (config refuses it in approval.methods).
		if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "acme", Requester: "acct", CSR: csrFor(t, "", "a.example.com")}); err != nil {
			t.Fatalf("acme: %v", err)
		}
		// A request against the profile's rules is refused, not held.
		_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "p", CSR: csrFor(t, "", "www.other.org")})
		if !errs.Is(err, errs.RejectedIdentifier) {
			t.Fatalf("name outside the profile: %v, want RejectedIdentifier", err)
		}
		// A generated key cannot wait.
		_, err = f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "p",
			Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{"g.example.com"}}})
		if !errs.Is(err, errs.Forbidden) || !strings.Contains(err.Error(), "rule approval") {
			t.Fatalf("generated key under approval: %v, want Forbidden naming the rule", err)
		}
		list, err := st.ListRequests(ctx, storage.RequestFilter{})
		if err != nil || len(list) != 0 {
			t.Fatalf("requests stored: %d %v", len(list), err)
		}
		// A renewal (Replaces) is not held.
		first, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "acme", Requester: "acct", CSR: csrFor(t, "", "r.example.com")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "est", Requester: "cert:" + first.Serial,
			CSR: csrFor(t, "", "r.example.com"), Replaces: first.Serial}); err != nil {
			t.Fatalf("renewal: %v", err)
		}
	})
}

// Two replicas approving one request at once issue one certificate.
func TestCoreApprovalConcurrent(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, heldProfile())
		r := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "api", Requester: "p", CSR: csrFor(t, "", "c.example.com")})
		certs := countCerts(t, st)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 6 {
			wg.Go(func() {
				_, err := f.core.Approve(context.Background(), r.ID, "operator")
				mu.Lock()
				defer mu.Unlock()
				if err == nil {
					won++
				} else if !errs.Is(err, errs.Conflict) {
					t.Errorf("concurrent approval: %v", err)
				}
			})
		}
		wg.Wait()
		if won != 1 || countCerts(t, st) != certs+1 {
			t.Fatalf("%d approvals won, %d certificates issued; want 1 and 1", won, countCerts(t, st)-certs)
		}
	})
}

// A request nobody decides within expire_after ends expired: the client's
// next attempt makes a new request, a late decision is refused, and the
// sweep ends the rest.
func TestCoreApprovalExpiry(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		p := heldProfile()
		p.Approval.ExpireAfter = config.Duration(24 * time.Hour)
		f := newFixture(t, st, p)
		ctx := context.Background()
		req := ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "x.example.com")}
		first := pending(t, f, st, req)
		late := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "est", Requester: "est:d", CSR: csrFor(t, "", "y.example.com")})
		swept := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "est", Requester: "est:d", CSR: csrFor(t, "", "z.example.com")})

		f.now = f.now.Add(23 * time.Hour)
		if again := pending(t, f, st, req); again.ID != first.ID {
			t.Fatalf("within expire_after a repeat made request %s, want %s", again.ID, first.ID)
		}
		f.now = f.now.Add(time.Hour + time.Second)
		again := pending(t, f, st, req)
		if again.ID == first.ID {
			t.Fatal("past expire_after a repeat was answered from the expired request")
		}
		if r, err := st.GetRequest(ctx, first.ID); err != nil || r.Status != storage.RequestExpired || r.DecidedBy != "gateway" || !strings.Contains(r.Reason, "1d") {
			t.Fatalf("the old request: %+v %v", r, err)
		}
		// Ending one stale request ended the profile's others.
		if r, _ := st.GetRequest(ctx, swept.ID); r.Status != storage.RequestExpired {
			t.Fatalf("another stale request: %s", r.Status)
		}
		if _, err := f.core.Approve(ctx, late.ID, "operator"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("approving an expired request: %v, want Conflict saying expired", err)
		}
		// The sweep ends what nobody touched.
		if n, err := f.core.ExpireRequests(ctx); err != nil || n != 0 {
			t.Fatalf("ExpireRequests: %d, %v; want 0 (the new request is young)", n, err)
		}
		f.now = f.now.Add(25 * time.Hour)
		if n, err := f.core.ExpireRequests(ctx); err != nil || n != 1 {
			t.Fatalf("ExpireRequests a day later: %d, %v; want 1", n, err)
		}
		if r, _ := st.GetRequest(ctx, again.ID); r.Status != storage.RequestExpired {
			t.Fatalf("the swept request: %s", r.Status)
		}
	})
}

// An approved request whose outcome was lost (its record failed, or the
// replica stopped mid-issuance) is settled from the audit trail once
// ca.SettleAfter has passed: issued where the trail holds its certificate,
// failed otherwise. Its client then gets the certificate, or makes a new
// request, instead of hearing "pending" forever.
func TestCoreApprovalSettle(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, heldProfile())
		ctx := context.Background()

		// Issued, but recording the certificate failed.
		req := ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "a.example.com")}
		r := pending(t, f, st, req)
		f.store.failCompleteRequest.Store(true)
		issued, err := f.core.Approve(ctx, r.ID, "operator")
		f.store.failCompleteRequest.Store(false)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := st.GetRequest(ctx, r.ID); err != nil || got.Status != storage.RequestApproved {
			t.Fatalf("request after the lost record: %+v %v", got, err)
		}
		f.now = f.now.Add(ca.SettleAfter - time.Second)
		if again := pending(t, f, st, req); again.ID != r.ID {
			t.Fatalf("within SettleAfter a repeat made request %s, want %s pending", again.ID, r.ID)
		}
		f.now = f.now.Add(2 * time.Second)
		signed := f.key.n.Load()
		got, err := f.core.Issue(ctx, req)
		if err != nil || got.Serial != issued.Serial || !got.Earlier {
			t.Fatalf("repeat after SettleAfter: %+v %v; want the approved certificate %s", got, err, issued.Serial)
		}
		if f.key.n.Load() != signed {
			t.Error("settling signed a certificate")
		}
		if rec, err := st.GetRequest(ctx, r.ID); err != nil || rec.Status != storage.RequestIssued || rec.Serial != issued.Serial {
			t.Fatalf("settled request: %+v %v", rec, err)
		}

		// Approved, and its replica stopped before issuing: nothing in
		// the trail names it. The sweep ends it failed; the client's
		// repeat makes a new request.
		req2 := ca.IssueRequest{Profile: "web", Method: "est", Requester: "est:dev", CSR: csrFor(t, "", "b.example.com")}
		r2 := pending(t, f, st, req2)
		if err := st.DecideRequest(ctx, r2.ID, storage.RequestApproved, "operator", "", f.now,
			storage.AuditEvent{At: f.now, Actor: "operator", Action: "approve-request", Profile: "web", Detail: "request " + r2.ID}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.core.Approve(ctx, r2.ID, "operator"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "approved") {
			t.Fatalf("deciding an approved request: %v, want Conflict saying approved", err)
		}
		f.now = f.now.Add(ca.SettleAfter + time.Second)
		if _, err := f.core.ExpireRequests(ctx); err != nil {
			t.Fatal(err)
		}
		rec, err := st.GetRequest(ctx, r2.ID)
		if err != nil || rec.Status != storage.RequestFailed || !strings.Contains(rec.Reason, "no certificate was issued") {
			t.Fatalf("swept request: %+v %v", rec, err)
		}
		if again := pending(t, f, st, req2); again.ID == r2.ID {
			t.Fatal("a repeat of a failed approval was answered from it")
		}
		// The issued request stays as it was.
		if rec, _ := st.GetRequest(ctx, r.ID); rec.Status != storage.RequestIssued {
			t.Fatalf("the sweep changed an issued request: %s", rec.Status)
		}
	})
}

// OnDecided hears of every outcome of a held request once: issued (with
// its serial), failed (the issuance failed after the approval), rejected
// (with the reason), and settled.
func TestCoreApprovalTellsOutcomes(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, heldProfile())
		ctx := context.Background()
		var told []storage.Request
		f.core.OnDecided = func(_ context.Context, r storage.Request) { told = append(told, r) }
		req := func(dns string) ca.IssueRequest {
			return ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", dns)}
		}
		a := pending(t, f, st, req("a.example.com"))
		issued, err := f.core.Approve(ctx, a.ID, "operator")
		if err != nil {
			t.Fatal(err)
		}
		b := pending(t, f, st, req("b.example.com"))
		if _, err := f.core.Reject(ctx, b.ID, "operator", "unknown device"); err != nil {
			t.Fatal(err)
		}
		c := pending(t, f, st, req("c.example.com"))
		f.store.fail.Store(true) // the certificate is signed, but not stored: the issuance fails
		if _, err := f.core.Approve(ctx, c.ID, "operator"); err == nil {
			t.Fatal("an approval whose issuance failed succeeded")
		}
		f.store.fail.Store(false)
		if len(told) != 3 {
			t.Fatalf("told of %d outcomes, want 3: %+v", len(told), told)
		}
		for i, want := range []struct{ id, status, serial, reason string }{
			{a.ID, storage.RequestIssued, issued.Serial, ""},
			{b.ID, storage.RequestRejected, "", "unknown device"},
			{c.ID, storage.RequestFailed, "", "injected activation failure"},
		} {
			r := told[i]
			if r.ID != want.id || r.Status != want.status || r.Serial != want.serial || !strings.Contains(r.Reason, want.reason) || r.DecidedBy != "operator" {
				t.Errorf("outcome %d: %+v, want %+v", i, r, want)
			}
		}
	})
}

// OnDecided hears of requests that expired undecided, once, whether the
// sweep or a client's repeat ended them.
func TestCoreApprovalTellsExpiries(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		p := heldProfile()
		p.Approval.ExpireAfter = config.Duration(24 * time.Hour)
		f := newFixture(t, st, p)
		ctx := context.Background()
		var told []storage.Request
		f.core.OnDecided = func(_ context.Context, r storage.Request) { told = append(told, r) }
		a := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "a.example.com")})
		f.now = f.now.Add(25 * time.Hour)
		freshReq := ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "b.example.com")}
		fresh := pending(t, f, st, freshReq)
		if n, err := f.core.ExpireRequests(ctx); err != nil || n != 1 {
			t.Fatalf("ExpireRequests: %d, %v", n, err)
		}
		if n, err := f.core.ExpireRequests(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep: %d, %v", n, err)
		}
		if len(told) != 1 || told[0].ID != a.ID || told[0].Status != storage.RequestExpired || !strings.Contains(told[0].Reason, "not decided within 1d") {
			t.Fatalf("told %+v, want request %s expired once", told, a.ID)
		}
		// A repeat after expire_after ends it too, and tells of it.
		f.now = f.now.Add(25 * time.Hour)
		if again := pending(t, f, st, freshReq); again.ID == fresh.ID {
			t.Fatal("a repeat past expire_after was answered from the expired request")
		}
		if len(told) != 2 || told[1].ID != fresh.ID || told[1].Status != storage.RequestExpired {
			t.Fatalf("told %+v, want request %s expired", told, fresh.ID)
		}
	})
}

// A sweep tells of every request it expires, over more than one page of
// the store's list.
func TestCoreApprovalTellsManyExpiries(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		p := heldProfile()
		p.Approval.ExpireAfter = config.Duration(time.Hour)
		f := newFixture(t, st, p)
		ctx := context.Background()
		const n = 501 // the page is 500
		want := map[string]bool{}
		for i := range n {
			_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", fmt.Sprintf("h%d.example.com", i))})
			r, ok := ca.AsPending(err)
			if !ok {
				t.Fatalf("Issue: want a pending request, got %v", err)
			}
			want[r.Request.ID] = true
			if i%100 == 0 {
				f.now = f.now.Add(time.Second) // several creation times, and ties
			}
		}
		told := map[string]bool{}
		f.core.OnDecided = func(_ context.Context, r storage.Request) { told[r.ID] = true }
		f.now = f.now.Add(2 * time.Hour)
		if got, err := f.core.ExpireRequests(ctx); err != nil || got != n {
			t.Fatalf("ExpireRequests: %d, %v; want %d", got, err, n)
		}
		if !maps.Equal(told, want) {
			t.Errorf("told of %d expired requests, want all %d", len(told), n)
		}
	})
}

// A profile that wants two approvals: the first is recorded and the
// request waits (nothing signed); the same operator again, or the
// requester, is refused; the second operator's issues. A rejection after
// one approval ends it.
func TestCoreApprovalNeedsTwo(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		prof := heldProfile()
		prof.Approval.Approvals = 2
		f := newFixture(t, st, prof)
		ctx := context.Background()
		var told []int
		f.core.OnApproval = func(_ context.Context, r storage.Request, need int) { told = append(told, len(r.Approvals), need) }
		req := ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "two.example.com")}
		r := pending(t, f, st, req)

		signed := f.key.n.Load()
		issued, err := f.core.Approve(ctx, r.ID, "alice")
		if err != nil || issued != nil {
			t.Fatalf("first approval: %v, %v; want it recorded", issued, err)
		}
		if n := f.key.n.Load(); n != signed {
			t.Fatal("one approval of two signed")
		}
		got, err := st.GetRequest(ctx, r.ID)
		if err != nil || got.Status != storage.RequestPending || len(got.Approvals) != 1 || got.Approvals[0].By != "alice" {
			t.Fatalf("after one approval: %+v, %v", got, err)
		}
		if fmt.Sprint(told) != "[1 2]" {
			t.Errorf("OnApproval told %v, want [1 2]", told)
		}
		if _, err := f.core.Approve(ctx, r.ID, "alice"); !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "alice approved it already") {
			t.Fatalf("alice again: %v", err)
		}
		if _, err := f.core.Approve(ctx, r.ID, "pipeline"); !errs.Is(err, errs.Forbidden) {
			t.Fatalf("the requester: %v", err)
		}
		// The repeat of the requester still waits.
		if again := pending(t, f, st, req); again.ID != r.ID {
			t.Fatalf("repeat: request %s, want %s", again.ID, r.ID)
		}
		issued, err = f.core.Approve(ctx, r.ID, "bob")
		if err != nil || issued == nil {
			t.Fatalf("second approval: %v", err)
		}
		got, _ = st.GetRequest(ctx, r.ID)
		if got.Status != storage.RequestIssued || got.DecidedBy != "bob" || got.Serial != issued.Serial || len(got.Approvals) != 2 {
			t.Fatalf("after two approvals: %+v", got)
		}
		events, err := st.ListAudit(ctx, storage.AuditFilter{Profile: "web", Limit: 20})
		if err != nil {
			t.Fatal(err)
		}
		actions := map[string]int{}
		for _, e := range events {
			actions[e.Action]++
		}
		if actions["request-approval"] != 2 || actions["approve-request"] != 1 {
			t.Errorf("audit actions %v, want two request-approval and one approve-request", actions)
		}

		// Rejected after one approval: ended, and no approval more.
		other := pending(t, f, st, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "three.example.com")})
		if _, err := f.core.Approve(ctx, other.ID, "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.core.Reject(ctx, other.ID, "bob", "not ours"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.core.Approve(ctx, other.ID, "carol"); !errs.Is(err, errs.Conflict) {
			t.Fatalf("approval of a rejected request: %v", err)
		}
	})
}
