package sqlite_test

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/certgw/gateway/storage/storagetest"
)

// openRevocation opens the store at path and closes it when t ends.
func openRevocation(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s) = %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRevocationConformance(t *testing.T) {
	storagetest.RunRevocation(t, func(t *testing.T) storagetest.RevocationStore {
		return openRevocation(t, filepath.Join(t.TempDir(), "gateway.db"))
	})
}

// CRL numbers keep increasing when the process restarts, and two processes
// on one file never hand out the same number.
func TestRevocationCRLNumberAcrossRestartsAndProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.db")
	ctx := t.Context()
	first, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.InsertCA(ctx, storage.CA{Name: "issuing", KeyURI: "file:///k", CertDER: []byte{1}, CreatedAt: time.Now()}, storagetest.Event("init-ca", "")); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := first.NextCRLNumber(ctx, "issuing"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := first.PublishCRL(ctx, storage.PublishedCRL{CA: "issuing", Number: 3, ThisUpdate: time.Now(), NextUpdate: time.Now().Add(time.Hour), DER: []byte{0x30, 0}}); err != nil {
		t.Fatal(err)
	}
	first.Close()

	a, b := openRevocation(t, path), openRevocation(t, path)
	if c, err := a.LatestCRL(ctx, "issuing"); err != nil || c.Number != 3 {
		t.Fatalf("LatestCRL after a restart = %d, %v; want 3", c.Number, err)
	}
	var (
		mu  sync.Mutex
		got []int64
		wg  sync.WaitGroup
	)
	for _, s := range []*sqlite.Store{a, b, a, b} {
		wg.Go(func() {
			for range 5 {
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
		if n != int64(i+4) {
			t.Fatalf("numbers after the restart = %v, want 4..23 each once", got)
		}
	}
}
