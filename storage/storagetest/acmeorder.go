package storagetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testACMEOrderLink: a certificate that names an ACME order claims the
// order (ready→processing) in the commit of its pending record, or is not
// stored at all, and turns it valid, with its serial, in the commit that
// activates it, whether CompleteIssuance or ActivateCertificate (the
// reconcile step) does; a certificate without an order touches none.
func testACMEOrderLink(t *testing.T, open func(t *testing.T) storage.Store) {
	setup := func(t *testing.T, orderStatus string) (storage.Store, storage.ACMEOrder) {
		s, ctx := withCA(t, open)
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, storage.ACMEAccount{ID: "acct", Profile: "default", Thumbprint: "th",
			JWK: []byte(`{"kty":"EC"}`), Status: storage.ACMEValid, CreatedAt: base}))
		o := storage.ACMEOrder{ID: "o1", AccountID: "acct", Profile: "default", Status: storage.ACMEReady,
			Identifiers: []storage.ACMEIdentifier{{Type: "dns", Value: "example.com"}}, Expires: base.Add(time.Hour), CreatedAt: base}
		must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, nil))
		if orderStatus != storage.ACMEReady {
			if ok, err := s.SetACMEOrderStatus(ctx, o.ID, storage.ACMEReady, orderStatus, nil, ""); err != nil || !ok {
				t.Fatalf("SetACMEOrderStatus(%s) = %v, %v", orderStatus, ok, err)
			}
		}
		return s, o
	}
	wantOrder := func(t *testing.T, s storage.Store, id, status, serial string) {
		t.Helper()
		got, err := s.GetACMEOrder(t.Context(), id)
		must(t, "GetACMEOrder", err)
		if got.Status != status || got.CertSerial != serial {
			t.Errorf("order %s, certificate %q; want %s, %q", got.Status, got.CertSerial, status, serial)
		}
	}
	linked := func(serial string) storage.Certificate {
		c := pendingCert(serial)
		c.ACMEOrder = "o1"
		return c
	}

	t.Run("CompleteIssuance", func(t *testing.T) {
		s, o := setup(t, storage.ACMEReady)
		ctx := t.Context()
		c := linked("0a")
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, c))
		got, err := s.GetCertificate(ctx, c.Serial)
		must(t, "GetCertificate", err)
		if got.ACMEOrder != o.ID {
			t.Errorf("ACMEOrder = %q, want %q", got.ACMEOrder, o.ID)
		}
		wantOrder(t, s, o.ID, storage.ACMEProcessing, "")
		_, err = s.CompleteIssuance(ctx, storage.AuditEvent{At: base, Action: "issue", Serial: c.Serial, DER: testDER(1)}, c.Serial, testDER(1), c.NotBefore, c.NotAfter)
		must(t, "CompleteIssuance", err)
		wantOrder(t, s, o.ID, storage.ACMEValid, c.Serial)
	})

	t.Run("Reconcile", func(t *testing.T) {
		s, o := setup(t, storage.ACMEReady)
		activate(t, s, t.Context(), linked("0b"))
		wantOrder(t, s, o.ID, storage.ACMEValid, "0b")
	})

	t.Run("OrderNotReady", func(t *testing.T) {
		for _, status := range []string{storage.ACMEPending, storage.ACMEProcessing, storage.ACMEInvalid} {
			t.Run(status, func(t *testing.T) {
				s, o := setup(t, status)
				err := s.InsertPendingCertificate(t.Context(), linked("0c"))
				wantKind(t, "InsertPendingCertificate(order "+status+")", err, errs.Conflict)
				if !errors.Is(err, storage.ErrACMEOrderNotReady) {
					t.Errorf("error %v is not ErrACMEOrderNotReady", err)
				}
				_, err = s.GetCertificate(t.Context(), "0c")
				wantKind(t, "GetCertificate(refused)", err, errs.NotFound)
				wantOrder(t, s, o.ID, status, "")
			})
		}
		t.Run("MissingOrder", func(t *testing.T) {
			s, _ := setup(t, storage.ACMEReady)
			c := linked("0c")
			c.ACMEOrder = "nope"
			if err := s.InsertPendingCertificate(t.Context(), c); !errors.Is(err, storage.ErrACMEOrderNotReady) {
				t.Errorf("InsertPendingCertificate(missing order) = %v, want ErrACMEOrderNotReady", err)
			}
		})
	})

	t.Run("ConcurrentClaims", func(t *testing.T) {
		s, o := setup(t, storage.ACMEReady)
		errList := concurrently(func(i int) error {
			return s.InsertPendingCertificate(t.Context(), linked(fmt.Sprintf("1%x", i)))
		})
		oneWinner(t, "InsertPendingCertificate", errList, func(err error) bool { return errors.Is(err, storage.ErrACMEOrderNotReady) })
		wantOrder(t, s, o.ID, storage.ACMEProcessing, "")
	})

	t.Run("NoOrder", func(t *testing.T) {
		s, o := setup(t, storage.ACMEReady)
		activate(t, s, t.Context(), pendingCert("0d"))
		wantOrder(t, s, o.ID, storage.ACMEReady, "")
	})
}
