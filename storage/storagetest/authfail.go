package storagetest

import (
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

// testAuthFailures: failures are counted per scope and key within the
// window asked for, and a record forgets every failure older than its
// keepSince.
func testAuthFailures(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	count := func(scope, key string, since time.Time, want int) {
		t.Helper()
		n, err := s.CountAuthFailures(ctx, scope, key, since)
		must(t, "CountAuthFailures", err)
		if n != want {
			t.Errorf("CountAuthFailures(%s, %s, %v) = %d, want %d", scope, key, since, n, want)
		}
	}
	record := func(scope, key string, at time.Time) {
		t.Helper()
		must(t, "RecordAuthFailure", s.RecordAuthFailure(ctx, scope, key, at, at.Add(-10*time.Minute)))
	}
	record("est", "web 192.0.2.1", base)
	record("est", "web 192.0.2.1", base.Add(time.Minute))
	record("est", "web 192.0.2.2", base.Add(time.Minute))
	record("scep", "web 192.0.2.1", base.Add(time.Minute))
	count("est", "web 192.0.2.1", base, 2)
	count("est", "web 192.0.2.1", base.Add(30*time.Second), 1)
	count("est", "web 192.0.2.2", base, 1)
	count("scep", "web 192.0.2.1", base, 1)
	count("est", "other 192.0.2.1", base, 0)
	// Eleven minutes later a record forgets what is older than ten.
	record("est", "web 192.0.2.3", base.Add(11*time.Minute))
	count("est", "web 192.0.2.1", base.Add(-time.Hour), 1)
	count("est", "web 192.0.2.3", base, 1)
}
