package ca_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// The certificates of a profile with notify.expiring_within that end
// within it, unrenewed, are told once each, however many replicas sweep;
// not those that end later, were renewed or revoked, nor those of a
// profile without it.
func TestCoreTellsExpiring(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		told := webProfile(func(p *config.Profile) {
			p.Notify = config.ProfileNotify{URL: "https://hooks.example/x", Events: []string{"expiring"}, ExpiringWithin: config.Duration(14 * 24 * time.Hour)}
		})
		silent := webProfile(func(p *config.Profile) { p.Name = "silent" })
		f := newFixture(t, st, told, silent)
		ctx := context.Background()
		var mu sync.Mutex
		var events []ca.CertificateEvent
		f.core.OnEvent = func(_ context.Context, ev ca.CertificateEvent) {
			mu.Lock()
			defer mu.Unlock()
			if ev.Kind == "expiring" {
				events = append(events, ev)
			}
		}
		issue := func(profile, name string, validity time.Duration) *ca.Issued {
			t.Helper()
			issued, err := f.core.Issue(ctx, ca.IssueRequest{Profile: profile, Method: "api", Requester: "t", Validity: validity,
				Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{name}}})
			if err != nil {
				t.Fatal(err)
			}
			return issued
		}
		soon := issue("web", "soon.example.com", 10*24*time.Hour)
		issue("web", "later.example.com", 30*24*time.Hour)
		issue("silent", "silent.example.com", 10*24*time.Hour)
		revoked := issue("web", "revoked.example.com", 10*24*time.Hour)
		if err := f.core.Revoke(ctx, revoked.Serial, 1, "t"); err != nil {
			t.Fatal(err)
		}
		renewed := issue("web", "renewed.example.com", 10*24*time.Hour)
		if _, err := f.core.Renew(ctx, ca.RenewRequest{Serial: renewed.Serial, Requester: "t", Validity: 60 * 24 * time.Hour}); err != nil {
			t.Fatal(err)
		}

		// Two replicas sweep at once.
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			wg.Go(func() {
				n, err := f.core.TellExpiring(ctx)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			})
		}
		wg.Wait()
		if counts[0]+counts[1] != 1 || len(events) != 1 {
			t.Fatalf("told %v times, events %+v; want soon.example.com once", counts, events)
		}
		if ev := events[0]; ev.Serial != soon.Serial || !slices.Equal(ev.SANs, []string{"soon.example.com"}) || ev.Profile != "web" || !ev.NotAfter.Equal(soon.Cert.NotAfter) {
			t.Errorf("event %+v", ev)
		}
		if n, err := f.core.TellExpiring(ctx); err != nil || n != 0 {
			t.Fatalf("the next round told %d, %v", n, err)
		}
	})
}
