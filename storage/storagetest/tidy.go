package storagetest

import (
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testTidy: each tidy call deletes at most its limit of what expired (or
// was decided) before its time, oldest first, with what belongs to it,
// and nothing else: not what is younger, not a pending certificate, not
// a pending request.
func testTidy(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := withCA(t, open)
	tidied := func(what string, n int, err error, want int) {
		t.Helper()
		must(t, what, err)
		if n != want {
			t.Errorf("%s deleted %d, want %d", what, n, want)
		}
	}
	gone := func(what string, err error) {
		t.Helper()
		wantKind(t, what+" after tidying", err, errs.NotFound)
	}

	// ACME orders, by their expiry, with their authorizations and
	// challenges.
	must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, storage.ACMEAccount{ID: "acct", Profile: "default", Thumbprint: "th",
		JWK: []byte(`{"kty":"EC"}`), Status: storage.ACMEValid, CreatedAt: base}))
	order := func(id string, expires time.Duration) {
		t.Helper()
		o := storage.ACMEOrder{ID: id, AccountID: "acct", Profile: "default", Status: storage.ACMEPending,
			Identifiers: []storage.ACMEIdentifier{{Type: "dns", Value: id + ".example.com"}}, Expires: base.Add(expires), CreatedAt: base}
		a := storage.ACMEAuthz{ID: "authz-" + id, OrderID: id, AccountID: "acct", Identifier: o.Identifiers[0], Status: storage.ACMEPending, Expires: o.Expires,
			Challenges: []storage.ACMEChallenge{{ID: "chall-" + id, AuthzID: "authz-" + id, Type: "http-01", Token: "tok-" + id, Status: storage.ACMEPending}}}
		must(t, "InsertACMEOrder("+id+")", s.InsertACMEOrder(ctx, o, []storage.ACMEAuthz{a}))
	}
	order("o1", time.Hour)
	order("o2", 48*time.Hour)
	order("o3", 2*time.Hour)
	n, err := s.TidyACMEOrders(ctx, base.Add(3*time.Hour), 1)
	tidied("TidyACMEOrders(limit 1)", n, err, 1)
	_, err = s.GetACMEOrder(ctx, "o1")
	gone("the order that expired first", err)
	_, err = s.GetACMEAuthz(ctx, "authz-o1")
	gone("its authorization", err)
	_, err = s.GetACMEChallenge(ctx, "chall-o1")
	gone("its challenge", err)
	_, err = s.GetACMEOrder(ctx, "o3")
	must(t, "GetACMEOrder(o3), left by the limit", err)
	n, err = s.TidyACMEOrders(ctx, base.Add(3*time.Hour), 10)
	tidied("TidyACMEOrders", n, err, 1)
	n, err = s.TidyACMEOrders(ctx, base.Add(3*time.Hour), 10)
	tidied("TidyACMEOrders again", n, err, 0)
	if az, err := s.ACMEOrderAuthzs(ctx, "o2"); err != nil || len(az) != 1 || len(az[0].Challenges) != 1 {
		t.Errorf("the order not yet expired lost its authorizations: %+v, %v", az, err)
	}

	// Certificates, by their notAfter, revoked or not; not pending ones.
	cert := func(serial string, notAfter time.Duration) storage.Certificate {
		c := pendingCert(serial)
		c.NotAfter = base.Add(notAfter)
		return c
	}
	activate(t, s, ctx, cert("c1", 24*time.Hour))
	activate(t, s, ctx, cert("c2", 90*24*time.Hour))
	must(t, "InsertPendingCertificate(c3)", s.InsertPendingCertificate(ctx, cert("c3", 24*time.Hour)))
	activate(t, s, ctx, cert("c4", 48*time.Hour))
	must(t, "RevokeCertificate(c4)", s.RevokeCertificate(ctx, "c4", 1, base.Add(time.Hour), Event("revoke", "c4")))
	n, err = s.TidyCertificates(ctx, base.Add(72*time.Hour), 10)
	tidied("TidyCertificates", n, err, 2)
	for serial, want := range map[string]bool{"c1": false, "c2": true, "c3": true, "c4": false} {
		_, err := s.GetCertificate(ctx, serial)
		if kept := err == nil; kept != want {
			t.Errorf("certificate %s kept: %v (%v), want %v", serial, kept, err, want)
		}
	}

	// Requests decided before the time; not pending ones.
	insertRequest(t, s, enrollment(1, "default", 1, base))
	insertRequest(t, s, enrollment(2, "default", 2, base))
	decideRequest(t, s, requestID(2), storage.RequestRejected) // at base+1h
	n, err = s.TidyRequests(ctx, base.Add(30*time.Minute), 10)
	tidied("TidyRequests before the decision", n, err, 0)
	n, err = s.TidyRequests(ctx, base.Add(48*time.Hour), 10)
	tidied("TidyRequests", n, err, 1)
	_, err = s.GetRequest(ctx, requestID(2))
	gone("the decided request", err)
	_, err = s.GetRequest(ctx, requestID(1))
	must(t, "GetRequest of the pending request", err)

	for name, call := range map[string]func() (int, error){
		"TidyACMEOrders":   func() (int, error) { return s.TidyACMEOrders(ctx, base, 0) },
		"TidyCertificates": func() (int, error) { return s.TidyCertificates(ctx, base, 0) },
		"TidyRequests":     func() (int, error) { return s.TidyRequests(ctx, base, 0) },
	} {
		_, err := call()
		wantKind(t, name+"(limit 0)", err, errs.Malformed)
	}
}
