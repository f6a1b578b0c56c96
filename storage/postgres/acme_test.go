package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/storagetest"
)

func TestACMEConformance(t *testing.T) {
	storagetest.RunACME(t, func(t *testing.T) storage.ACMEStore {
		s, _ := openTemp(t)
		return s
	})
}

// A finalize whose ready order another transaction holds for a moment (a
// write that leaves it ready) claims it once the lock is gone, rather than
// hearing that the order is not ready; if that transaction moved the
// order on, the claim is refused with ErrACMEOrderNotReady.
func TestClaimOfALockedReadyOrder(t *testing.T) {
	for _, tc := range []struct {
		name   string
		update string // what the locking transaction does before it commits
		want   error
	}{
		{"left ready", "", nil},
		{"turned invalid", `UPDATE acme_orders SET status = 'invalid' WHERE id = 'o1'`, storage.ErrACMEOrderNotReady},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, _ := openTemp(t)
			now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
			must := func(what string, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			}
			must("InsertCA", s.InsertCA(ctx, storage.CA{Name: "root", KeyURI: "k", CertDER: []byte{1}, CreatedAt: now}, storagetest.Event("init-ca", "")))
			must("InsertACMEAccount", s.InsertACMEAccount(ctx, storage.ACMEAccount{ID: "acct", Profile: "default", Thumbprint: "th",
				JWK: []byte(`{"kty":"EC"}`), Status: storage.ACMEValid, CreatedAt: now}))
			must("InsertACMEOrder", s.InsertACMEOrder(ctx, storage.ACMEOrder{ID: "o1", AccountID: "acct", Profile: "default", Status: storage.ACMEReady,
				Identifiers: []storage.ACMEIdentifier{{Type: "dns", Value: "example.com"}}, Expires: now.Add(time.Hour), CreatedAt: now}, nil))

			locker, err := s.pool.BeginTx(ctx, pgx.TxOptions{})
			must("begin", err)
			defer locker.Rollback(context.WithoutCancel(ctx))
			_, err = locker.Exec(ctx, `SELECT FROM acme_orders WHERE id = 'o1' FOR UPDATE`)
			must("lock the order", err)

			c := storage.Certificate{Serial: "0a", CA: "root", Profile: "default", Method: "acme", Requester: "acct",
				NotBefore: now, NotAfter: now.Add(time.Hour), CreatedAt: now, ACMEOrder: "o1"}
			done := make(chan error, 1)
			go func() { done <- s.InsertPendingCertificate(ctx, c) }()
			time.Sleep(30 * time.Millisecond) // the claim finds the order locked, and tries again
			if tc.update != "" {
				_, err = locker.Exec(ctx, tc.update)
				must("update the order", err)
			}
			must("commit", locker.Commit(ctx))
			err = <-done
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("InsertPendingCertificate = %v, want %v", err, tc.want)
			}
			o, err := s.GetACMEOrder(ctx, "o1")
			must("GetACMEOrder", err)
			_, cerr := s.GetCertificate(ctx, "0a")
			if tc.want == nil && (o.Status != storage.ACMEProcessing || cerr != nil) {
				t.Errorf("order %s, certificate %v; want processing and the pending certificate", o.Status, cerr)
			}
			if tc.want != nil && (o.Status != storage.ACMEInvalid || !errs.Is(cerr, errs.NotFound)) {
				t.Errorf("order %s, certificate %v; want invalid and no certificate", o.Status, cerr)
			}
		})
	}
}
