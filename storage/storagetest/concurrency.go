package storagetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

const goroutines = 20

// concurrently runs f(i) for i in [0, goroutines) in as many goroutines,
// released together so that they really overlap, and returns their errors.
func concurrently(f func(i int) error) []error {
	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]error, goroutines)
	)
	for i := range goroutines {
		wg.Go(func() {
			<-start
			results[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return results
}

func testConcurrency(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("DistinctSerials", func(t *testing.T) {
		s, ctx := withCA(t, open)
		serial := func(i int) string { return fmt.Sprintf("%032x", i+1) }
		errors := concurrently(func(i int) error {
			return s.InsertPendingCertificate(ctx, pendingCert(serial(i)))
		})
		for i, err := range errors {
			if err != nil {
				t.Errorf("InsertPendingCertificate(%s) = %v", serial(i), err)
			}
		}
		for i := range goroutines {
			if _, err := s.GetCertificate(ctx, serial(i)); err != nil {
				t.Errorf("GetCertificate(%s) = %v", serial(i), err)
			}
		}
	})

	t.Run("SameSerial", func(t *testing.T) {
		s, ctx := withCA(t, open)
		errors := concurrently(func(i int) error {
			c := pendingCert("5e7a1")
			c.Requester = fmt.Sprint("requester-", i)
			return s.InsertPendingCertificate(ctx, c)
		})
		var ok, conflict int
		for _, err := range errors {
			switch {
			case err == nil:
				ok++
			case errs.Is(err, errs.Conflict):
				conflict++
			default:
				t.Errorf("InsertPendingCertificate() = %v (kind %v), want success or conflict", err, errs.KindOf(err))
			}
		}
		if ok != 1 || conflict != goroutines-1 {
			t.Errorf("%d succeeded and %d got Conflict, want 1 and %d", ok, conflict, goroutines-1)
		}
	})

	t.Run("ActivateRace", func(t *testing.T) {
		s, ctx := withCA(t, open)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("01")))
		errors := concurrently(func(i int) error {
			return s.ActivateCertificate(ctx, "01", testDER(byte(i)), base, base.Add(1))
		})
		var ok, conflict int
		for _, err := range errors {
			switch {
			case err == nil:
				ok++
			case errs.Is(err, errs.Conflict):
				conflict++
			default:
				t.Errorf("ActivateCertificate() = %v (kind %v), want success or conflict", err, errs.KindOf(err))
			}
		}
		if ok != 1 || conflict != goroutines-1 {
			t.Errorf("%d activations succeeded and %d got Conflict, want 1 and %d", ok, conflict, goroutines-1)
		}
	})
}
