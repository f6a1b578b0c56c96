package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

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

// oneWinner checks the results of racing calls of what: exactly one
// succeeded and every other failed as lost says a loser fails. It returns
// the index of the winner, or -1 (having reported why) if that is not so.
func oneWinner(t *testing.T, what string, results []error, lost func(error) bool) int {
	t.Helper()
	winner, winners, losers := -1, 0, 0
	for i, err := range results {
		switch {
		case err == nil:
			winner = i
			winners++
		case lost(err):
			losers++
		default:
			t.Errorf("%s() = %v (kind %v), want success or the loser's error", what, err, errs.KindOf(err))
		}
	}
	if winners != 1 || losers != len(results)-1 {
		t.Errorf("%s: %d succeeded and %d lost, want 1 and %d", what, winners, losers, len(results)-1)
		return -1
	}
	return winner
}

// isConflict is the loser's error of most races: errs.Conflict.
func isConflict(err error) bool { return errs.Is(err, errs.Conflict) }

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
		oneWinner(t, "InsertPendingCertificate", errors, isConflict)
	})

	t.Run("ActivateRace", func(t *testing.T) {
		s, ctx := withCA(t, open)
		must(t, "InsertPendingCertificate", s.InsertPendingCertificate(ctx, pendingCert("01")))
		errors := concurrently(func(i int) error {
			return s.ActivateCertificate(ctx, "01", testDER(byte(i)), base, base.Add(1))
		})
		oneWinner(t, "ActivateCertificate", errors, isConflict)
	})

	t.Run("RevokeRace", func(t *testing.T) {
		s, ctx := withCA(t, open)
		activate(t, s, ctx, pendingCert("01"))
		// Each goroutine revokes with its own time and one of two reasons,
		// so the stored revocation names the one that won.
		at := func(i int) time.Time { return base.Add(time.Duration(i+1) * time.Minute) }
		reason := func(i int) int { return 1 + i%2 }
		errors := concurrently(func(i int) error {
			return s.RevokeCertificate(ctx, "01", reason(i), at(i), Event("revoke", "01"))
		})
		winner := oneWinner(t, "RevokeCertificate", errors, isConflict)
		if winner < 0 {
			t.FailNow()
		}
		got, err := s.GetCertificate(ctx, "01")
		must(t, "GetCertificate", err)
		if !got.RevokedAt.Equal(normTime(at(winner))) || got.RevocationReason != reason(winner) {
			t.Errorf("stored revocation at %v, reason %d; the winner revoked at %v, reason %d",
				got.RevokedAt, got.RevocationReason, at(winner), reason(winner))
		}
	})

	t.Run("ReleaseRace", func(t *testing.T) {
		s, ctx := withCA(t, open)
		activate(t, s, ctx, pendingCert("01"))
		must(t, "RevokeCertificate(certificateHold)", s.RevokeCertificate(ctx, "01", 6, base.Add(time.Minute), Event("revoke", "01")))
		errors := concurrently(func(int) error { return s.ReleaseHold(ctx, "01", Event("release-hold", "01")) })
		oneWinner(t, "ReleaseHold", errors, isConflict)
	})

	t.Run("ClaimRace", func(t *testing.T) {
		s, ctx := withCA(t, open)
		activate(t, s, ctx, renewable("01"))
		now := base.Add(60 * 24 * time.Hour)
		won := make([]bool, goroutines)
		errors := concurrently(func(i int) error {
			var err error
			won[i], err = s.ClaimRenewal(ctx, "01", fmt.Sprint("replica-", i), now, time.Minute)
			return err
		})
		var winners int
		for i, err := range errors {
			if err != nil {
				t.Errorf("ClaimRenewal() = %v (kind %v), want no error", err, errs.KindOf(err))
			}
			if won[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Errorf("%d of %d concurrent claimers got the claim, want exactly 1", winners, goroutines)
		}
		if due, err := s.DueForRenewal(ctx, now, 10); err != nil || len(due) != 0 {
			t.Errorf("DueForRenewal() while claimed = %v, %v; want nothing", serialsOf(due), err)
		}
	})

	t.Run("MarkRenewedRace", func(t *testing.T) {
		s, ctx := withCA(t, open)
		activate(t, s, ctx, renewable("01"))
		newSerial := func(i int) string { return fmt.Sprintf("ff%02x", i) }
		errors := concurrently(func(i int) error { return s.MarkRenewed(ctx, "01", newSerial(i)) })
		winner := -1
		var conflict int
		for i, err := range errors {
			switch {
			case err == nil:
				winner = i
			case errs.Is(err, errs.Conflict):
				conflict++
			default:
				t.Errorf("MarkRenewed() = %v (kind %v), want success or conflict", err, errs.KindOf(err))
			}
		}
		if winner == -1 || conflict != goroutines-1 {
			t.Fatalf("%d got Conflict and the winner is %d, want %d and one winner", conflict, winner, goroutines-1)
		}
		got, err := s.GetCertificate(ctx, "01")
		must(t, "GetCertificate", err)
		if got.RenewedBy != newSerial(winner) {
			t.Errorf("RenewedBy = %q, want the winner's %q", got.RenewedBy, newSerial(winner))
		}
	})
}
