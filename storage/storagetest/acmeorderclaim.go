package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testACMEOrderClaim: ClaimACMEOrder moves an order ready→processing and
// records when, as the finalize of a profile backed by an external CA
// does before its issuance runs on in the background; StaleACMEOrders
// lists the orders so claimed before a time, oldest first, and never one
// claimed by a certificate's pending record, which reconcile finishes.
func testACMEOrderClaim(t *testing.T, open func(t *testing.T) storage.Store) {
	setup := func(t *testing.T, ready []string, pending ...string) storage.Store {
		t.Helper()
		s, ctx := withCA(t, open)
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, storage.ACMEAccount{ID: "acct", Profile: "default", Thumbprint: "th",
			JWK: []byte(`{"kty":"EC"}`), Status: storage.ACMEValid, CreatedAt: base}))
		insert := func(id, status string) {
			must(t, "InsertACMEOrder("+id+")", s.InsertACMEOrder(ctx, storage.ACMEOrder{ID: id, AccountID: "acct", Profile: "default", Status: status,
				Identifiers: []storage.ACMEIdentifier{{Type: "dns", Value: "example.com"}}, Expires: base.Add(time.Hour), CreatedAt: base}, nil))
		}
		for _, id := range ready {
			insert(id, storage.ACMEReady)
		}
		for _, id := range pending {
			insert(id, storage.ACMEPending)
		}
		return s
	}
	claim := func(t *testing.T, s storage.Store, id string, now time.Time) {
		t.Helper()
		ok, err := s.ClaimACMEOrder(t.Context(), id, now)
		must(t, "ClaimACMEOrder("+id+")", err)
		if !ok {
			t.Fatalf("ClaimACMEOrder(%s) = false, want true", id)
		}
	}
	wantStatus := func(t *testing.T, s storage.Store, id, status string) {
		t.Helper()
		o, err := s.GetACMEOrder(t.Context(), id)
		must(t, "GetACMEOrder("+id+")", err)
		if o.Status != status {
			t.Errorf("order %s is %s, want %s", id, o.Status, status)
		}
	}

	t.Run("Claim", func(t *testing.T) {
		s := setup(t, []string{"ready"}, "pending")
		ctx := t.Context()
		claim(t, s, "ready", base)
		wantStatus(t, s, "ready", storage.ACMEProcessing)
		if ok, err := s.ClaimACMEOrder(ctx, "ready", base.Add(time.Minute)); err != nil || ok {
			t.Errorf("ClaimACMEOrder(processing) = %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.ClaimACMEOrder(ctx, "pending", base); err != nil || ok {
			t.Errorf("ClaimACMEOrder(pending) = %v, %v; want false, nil", ok, err)
		}
		wantStatus(t, s, "pending", storage.ACMEPending)
		_, err := s.ClaimACMEOrder(ctx, "nope", base)
		wantKind(t, "ClaimACMEOrder(missing)", err, errs.NotFound)
	})

	t.Run("Stale", func(t *testing.T) {
		// o2 is claimed before o1, so that oldest first is not the order
		// of the IDs; o3 by a certificate's pending record; o4 stays ready
		// and o5 pending.
		s := setup(t, []string{"o1", "o2", "o3", "o4"}, "o5")
		ctx := t.Context()
		claim(t, s, "o2", base)
		claim(t, s, "o1", base.Add(time.Minute))
		c := pendingCert("0a")
		c.ACMEOrder = "o3"
		must(t, "InsertPendingCertificate(order o3)", s.InsertPendingCertificate(ctx, c))
		wantStatus(t, s, "o3", storage.ACMEProcessing)

		stale := func(before time.Time, limit int) []string {
			t.Helper()
			ids, err := s.StaleACMEOrders(ctx, before, limit)
			must(t, "StaleACMEOrders", err)
			return ids
		}
		for _, tt := range []struct {
			name   string
			before time.Time
			limit  int
			want   []string
		}{
			{"before the first claim", base.Add(-time.Hour), 10, nil},
			{"at the first claim", base, 10, nil},
			{"just after the first claim", base.Add(time.Microsecond), 10, []string{"o2"}},
			{"between the claims", base.Add(30 * time.Second), 10, []string{"o2"}},
			{"after both claims", base.Add(2 * time.Minute), 10, []string{"o2", "o1"}},
			{"limit", base.Add(2 * time.Minute), 1, []string{"o2"}},
			{"much later", base.Add(24 * time.Hour), 10, []string{"o2", "o1"}},
		} {
			if got := stale(tt.before, tt.limit); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s: StaleACMEOrders(%v, %d) = %v, want %v", tt.name, tt.before, tt.limit, got, tt.want)
			}
		}

		// Once its outcome is recorded, an order is no longer stale.
		if ok, err := s.SetACMEOrderStatus(ctx, "o2", storage.ACMEProcessing, storage.ACMEInvalid, []byte(`{"type":"x"}`), ""); err != nil || !ok {
			t.Fatalf("SetACMEOrderStatus(o2 invalid) = %v, %v", ok, err)
		}
		if got, want := stale(base.Add(24*time.Hour), 10), []string{"o1"}; !reflect.DeepEqual(got, want) {
			t.Errorf("StaleACMEOrders() after o2 turned invalid = %v, want %v", got, want)
		}
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		s := setup(t, []string{"o1"})
		won := make([]bool, goroutines)
		errors := concurrently(func(i int) error {
			var err error
			won[i], err = s.ClaimACMEOrder(t.Context(), "o1", base.Add(time.Duration(i)*time.Second))
			return err
		})
		var winners int
		for i, err := range errors {
			if err != nil {
				t.Errorf("ClaimACMEOrder() = %v (kind %v), want no error", err, errs.KindOf(err))
			}
			if won[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("%d of %d concurrent claimers got the order, want exactly 1", winners, goroutines)
		}
		wantStatus(t, s, "o1", storage.ACMEProcessing)
	})
}
