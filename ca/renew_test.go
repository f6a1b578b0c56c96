package ca_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// renewable is a fixture with profile web and a certificate of it whose
// key the gateway holds.
func renewable(t *testing.T, st storage.Store) (*fixture, *ca.Issued) {
	t.Helper()
	f := newFixture(t, st, webProfile(nil))
	old, err := f.core.Issue(context.Background(), ca.IssueRequest{Profile: "web", Method: "api", Requester: "t",
		Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{"r.example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	return f, old
}

// Of concurrent renewals of one certificate on request, one issues; the
// others are refused (being renewed, or renewed already).
func TestCoreRenewOneAtATime(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, old := renewable(t, st)
		ctx := context.Background()
		const n = 4
		errc := make(chan error, n)
		for range n {
			go func() {
				_, err := f.core.Renew(ctx, ca.RenewRequest{Serial: old.Serial, Requester: "t"})
				errc <- err
			}()
		}
		won := 0
		for range n {
			switch err := <-errc; {
			case err == nil:
				won++
			case !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "renewed already") && !strings.Contains(err.Error(), "being renewed"):
				t.Errorf("a concurrent renewal: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d renewals issued, want 1", won)
		}
		if n := countCerts(t, st); n != 2 {
			t.Errorf("%d certificates, want the old one and one successor", n)
		}
	})
}

// A renewal on request that fails before the CA signs (here: a lifetime
// the profile refuses) gives its claim back, so a corrected retry goes
// ahead at once; one that fails after the CA signed (the store lost the
// completion) keeps it until its lease ends, as the reconcile step may
// still bring that successor in.
func TestCoreRenewReleasesClaim(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, old := renewable(t, st)
		ctx := context.Background()
		_, err := f.core.Renew(ctx, ca.RenewRequest{Serial: old.Serial, Requester: "t", Validity: 365 * 24 * time.Hour})
		if !errs.ClientFault(err) || errors.Is(err, ca.ErrReserved) {
			t.Fatalf("renewal with a refused lifetime: %v, want a refusal before signing", err)
		}
		signed := f.key.n.Load()
		f.store.fail.Store(true)
		_, err = f.core.Renew(ctx, ca.RenewRequest{Serial: old.Serial, Requester: "t"})
		if !errors.Is(err, ca.ErrReserved) || f.key.n.Load() != signed+1 {
			t.Fatalf("renewal whose completion fails: %v after %d signatures, want ErrReserved after one", err, f.key.n.Load()-signed)
		}
		f.store.fail.Store(false)
		_, err = f.core.Renew(ctx, ca.RenewRequest{Serial: old.Serial, Requester: "t"})
		if !errs.Is(err, errs.Conflict) || !strings.Contains(err.Error(), "after the CA was asked to sign") {
			t.Fatalf("renewal while a signed one awaits the reconcile step: %v, want a conflict", err)
		}
		f.now = f.now.Add(3 * time.Minute) // the claim's lease ended
		if _, err := f.core.Renew(ctx, ca.RenewRequest{Serial: old.Serial, Requester: "t"}); err != nil {
			t.Fatalf("renewal after the lease: %v", err)
		}
	})
}

// OnEvent hears of each certificate issued, renewed and revoked, with
// what a webhook tells; not of a refusal.
func TestCoreEvents(t *testing.T) {
	f, old := renewable(t, teststore.SQLite(t))
	ctx := context.Background()
	var events []ca.CertificateEvent
	f.core.OnEvent = func(_ context.Context, ev ca.CertificateEvent) { events = append(events, ev) }
	issued, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "e.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "", "e.example.org")}); err == nil {
		t.Fatal("a name outside the profile was issued")
	}
	renewed, err := f.core.Renew(ctx, ca.RenewRequest{Serial: old.Serial, Requester: "t", Revoke: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events {
		got = append(got, fmt.Sprintf("%s %s %s %s %v %s %d", ev.Kind, ev.Serial, ev.Requester, ev.Replaces, ev.SANs, ev.Profile, ev.Reason))
	}
	want := []string{
		fmt.Sprintf("issued %s pipeline  [e.example.com] web 0", issued.Serial),
		fmt.Sprintf("renewed %s t %s [r.example.com] web 0", renewed.Serial, old.Serial),
		fmt.Sprintf("revoked %s t  [r.example.com] web 4", old.Serial),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events\n%q\nwant\n%q", got, want)
	}
	if ev := events[0]; ev.CA != "issuing" || ev.Method != "api" || !ev.NotAfter.Equal(issued.Cert.NotAfter) || ev.At.IsZero() {
		t.Errorf("issued event %+v", ev)
	}
}
