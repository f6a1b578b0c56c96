package postgres_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/storagetest"
	"github.com/certgw/gateway/test/teststore"
)

// openRevocation opens a store on dsn and closes it when t ends.
func openRevocation(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRevocationConformance(t *testing.T) {
	storagetest.RunRevocation(t, func(t *testing.T) storagetest.RevocationStore {
		return openRevocation(t, teststore.NewDatabase(t))
	})
}

// Two replicas on one database: CRL numbers are never handed out twice and
// keep increasing when a replica restarts; a replica that publishes late
// with an older number does not replace the newer CRL; a revocation made
// through one replica shows in the other's revocation state at once.
func TestRevocationReplicas(t *testing.T) {
	dsn := teststore.NewDatabase(t)
	ctx := t.Context()
	a, b := openRevocation(t, dsn), openRevocation(t, dsn)
	now := time.Now()
	if err := a.InsertCA(ctx, storage.CA{Name: "issuing", KeyURI: "pkcs11:object=i", CertDER: []byte{1}, CreatedAt: now}, storagetest.Event("init-ca", "")); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Go(func() {
			for range 10 {
				n, err := s.NextCRLNumber(ctx, "issuing")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				got = append(got, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(got)
	for i, n := range got {
		if n != int64(i+1) {
			t.Fatalf("numbers from two replicas = %v, want 1..40 each once", got)
		}
	}

	crl := func(n int64) storage.PublishedCRL {
		return storage.PublishedCRL{CA: "issuing", Number: n, ThisUpdate: now, NextUpdate: now.Add(time.Hour), DER: []byte{0x30, byte(n)}}
	}
	if ok, err := b.PublishCRL(ctx, crl(40)); err != nil || !ok {
		t.Fatalf("PublishCRL(40) on b = %v, %v", ok, err)
	}
	if ok, err := a.PublishCRL(ctx, crl(39)); err != nil || ok {
		t.Fatalf("PublishCRL(39) on a after 40 on b = %v, %v; want false", ok, err)
	}
	if c, err := a.LatestCRL(ctx, "issuing"); err != nil || c.Number != 40 {
		t.Fatalf("LatestCRL on a = %d, %v; want 40", c.Number, err)
	}

	c := storage.Certificate{Serial: "0a", CA: "issuing", Profile: "p", Method: "api", Requester: "r",
		NotBefore: now, NotAfter: now.Add(time.Hour), CreatedAt: now}
	if err := a.InsertPendingCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := a.ActivateCertificate(ctx, "0a", []byte{1}, c.NotBefore, c.NotAfter); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeCertificate(ctx, "0a", 1, now, storagetest.Event("revoke", "0a")); err != nil {
		t.Fatal(err)
	}
	if st, err := b.RevocationState(ctx, "issuing"); err != nil || st.Generation != 1 {
		t.Fatalf("RevocationState on b = %+v, %v; want generation 1", st, err)
	}

	// a restarts.
	a.Close()
	a2 := openRevocation(t, dsn)
	if n, err := a2.NextCRLNumber(ctx, "issuing"); err != nil || n != 41 {
		t.Fatalf("NextCRLNumber after a restart = %d, %v; want 41", n, err)
	}
}
