package ca_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// Tidy deletes, in commits of Batch, the ACME orders and certificates its
// policy no longer keeps, keeps what it keeps (the younger ones, and the
// kinds whose time is 0), and records what it did in the audit trail.
func TestTidy(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, webProfile(nil))
		ctx := context.Background()
		now := time.Now()
		var short, long []string
		for i := range 5 {
			validity := 10 * 24 * time.Hour
			if i == 4 {
				validity = 60 * 24 * time.Hour
			}
			issued, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "t", Validity: validity,
				Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", DNSNames: []string{fmt.Sprintf("t%d.example.com", i)}}})
			if err != nil {
				t.Fatal(err)
			}
			if i == 4 {
				long = append(long, issued.Serial)
			} else {
				short = append(short, issued.Serial)
			}
		}
		if err := st.InsertACMEAccount(ctx, storage.ACMEAccount{ID: "acct", Profile: "web", Thumbprint: "th", JWK: []byte(`{"kty":"EC"}`),
			Status: storage.ACMEValid, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			o := storage.ACMEOrder{ID: fmt.Sprintf("o%d", i), AccountID: "acct", Profile: "web", Status: storage.ACMEPending,
				Identifiers: []storage.ACMEIdentifier{{Type: "dns", Value: "a.example.com"}}, Expires: now.Add(24 * time.Hour), CreatedAt: now}
			if err := st.InsertACMEOrder(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
		}

		// A notification given up a day after now, one waiting.
		for i, giveUp := range []bool{true, false} {
			id, err := st.EnqueueNotification(ctx, storage.Notification{Target: "notify/web", Event: "certificate.issued", Subject: fmt.Sprint(i),
				Body: []byte("{}"), NextAttempt: now, CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			if giveUp {
				if err := st.GiveUpNotification(ctx, id, now.Add(24*time.Hour), "webhook answered 410"); err != nil {
					t.Fatal(err)
				}
			}
		}

		// Twenty days on: the 10-day certificates expired ten days ago,
		// the orders nineteen; the notification was given up nineteen.
		tidy := &ca.Tidy{Store: st, Log: f.core.Log, Now: func() time.Time { return now.Add(20 * 24 * time.Hour) }, Batch: 2,
			Policy: ca.TidyPolicy{ACMEOrders: 8 * 24 * time.Hour, Certificates: 5 * 24 * time.Hour, Notifications: 7 * 24 * time.Hour}}
		c, err := tidy.Run(ctx)
		if err != nil || c != (ca.TidyCounts{ACMEOrders: 3, Certificates: 4, Notifications: 1}) {
			t.Fatalf("Run = %+v, %v; want 3 orders, 4 certificates and 1 notification", c, err)
		}
		if waiting, err := st.CountNotifications(ctx); err != nil || waiting["notify/web"] != 1 {
			t.Errorf("notifications waiting after the tidy: %v, %v", waiting, err)
		}
		for _, s := range short {
			if _, err := st.GetCertificate(ctx, s); !errs.Is(err, errs.NotFound) {
				t.Errorf("expired certificate %s: %v, want it gone", s, err)
			}
		}
		if _, err := st.GetCertificate(ctx, long[0]); err != nil {
			t.Errorf("the 60-day certificate: %v", err)
		}
		events, err := st.ListAudit(ctx, storage.AuditFilter{Action: "tidy", Limit: 10})
		if err != nil || len(events) != 1 || !strings.Contains(events[0].Detail, "deleted 3 ACME orders") ||
			!strings.Contains(events[0].Detail, "4 certificates") || !strings.Contains(events[0].Detail, "0 requests decided before never (kept)") {
			t.Fatalf("audit: %+v, %v", events, err)
		}
		// Nothing left to delete: nothing is recorded.
		if c, err := tidy.Run(ctx); err != nil || c != (ca.TidyCounts{}) {
			t.Errorf("second Run = %+v, %v", c, err)
		}
		if events, _ := st.ListAudit(ctx, storage.AuditFilter{Action: "tidy", Limit: 10}); len(events) != 1 {
			t.Errorf("%d tidy audit events, want 1", len(events))
		}
	})
}

// A held request whose certificate was tidied away, repeated, is held
// again as a new request, not an error.
func TestTidiedRequestCertificate(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, heldProfile())
	ctx := context.Background()
	req := ca.IssueRequest{Profile: "web", Method: "api", Requester: "pipeline", CSR: csrFor(t, "device.example.com", "device.example.com"),
		Validity: 2 * 24 * time.Hour}
	first := pending(t, f, st, req)
	issued, err := f.core.Approve(ctx, first.ID, "operator")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.TidyCertificates(ctx, issued.Cert.NotAfter.Add(time.Second), 10); err != nil || n != 1 {
		t.Fatalf("TidyCertificates = %d, %v", n, err)
	}
	if again := pending(t, f, st, req); again.ID == first.ID {
		t.Errorf("the repeat answered from request %s, whose certificate is gone", first.ID)
	}
}
