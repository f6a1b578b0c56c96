// Package storagetest is the conformance suite for storage.Store: both
// storage/sqlite and storage/postgres run it, so consumers can rely on the
// behaviour it pins down whichever store is configured, and on nothing more.
//
// The suite uses only the Store interface. Every sub-test asks for a fresh,
// empty store, so sub-tests do not depend on each other's rows and a failure
// names one behaviour.
package storagetest

import (
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called and arrange (with t.Cleanup) for it to be closed and
// removed when t ends.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	t.Run("Ping", func(t *testing.T) {
		if err := open(t).Ping(t.Context()); err != nil {
			t.Fatalf("Ping() = %v", err)
		}
	})
	t.Run("CA", func(t *testing.T) { testCA(t, open) })
	t.Run("Certificate", func(t *testing.T) { testCertificate(t, open) })
	t.Run("CompleteIssuance", func(t *testing.T) { testCompleteIssuance(t, open) })
	t.Run("Inventory", func(t *testing.T) { testInventory(t, open) })
	t.Run("Revocation", func(t *testing.T) { testRevocation(t, open) })
	t.Run("Renewal", func(t *testing.T) { testRenewal(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("ConcurrentWrites", func(t *testing.T) { testConcurrentWrites(t, open) })
	t.Run("Token", func(t *testing.T) { testToken(t, open) })
	t.Run("AuthFailures", func(t *testing.T) { testAuthFailures(t, open) })
	t.Run("IdempotencyKeys", func(t *testing.T) { testIdempotencyKeys(t, open) })
	t.Run("Notifications", func(t *testing.T) { testNotifications(t, open) })
	t.Run("Tidy", func(t *testing.T) { testTidy(t, open) })
	t.Run("SealedKeys", func(t *testing.T) { testSealedKeys(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("AuditedChanges", func(t *testing.T) { testAuditedChanges(t, open) })
	t.Run("AuditCheckpoints", func(t *testing.T) { testAuditCheckpoints(t, open) })
	t.Run("AuditForward", func(t *testing.T) { testAuditForward(t, open) })
	t.Run("BlockedKeys", func(t *testing.T) { testBlockedKeys(t, open) })
	t.Run("RevokeForKeyCompromise", func(t *testing.T) { testRevokeForKeyCompromise(t, open) })
	t.Run("RevokeCertificates", func(t *testing.T) { testRevokeCertificates(t, open) })
	t.Run("ACMEOrderLink", func(t *testing.T) { testACMEOrderLink(t, open) })
	t.Run("ACMEStale", func(t *testing.T) { testACMEStale(t, open) })
	t.Run("ACMEOrderClaim", func(t *testing.T) { testACMEOrderClaim(t, open) })
}

// base is the suite's reference time: not in UTC and with nanoseconds, so
// that every round trip checks the conversion to UTC and the truncation to
// microseconds.
var base = time.Date(2026, 5, 1, 12, 30, 45, 123456789, time.FixedZone("UTC+2", 2*60*60))

// normTime is what a store returns for t: UTC, microsecond precision.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// checkUTC reports a returned time that is not in UTC.
func checkUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Errorf("%s: location = %v, want UTC", what, tm.Location())
	}
}

// testDER is a fake certificate with every byte value, a leading zero and a
// trailing 0xff, to catch any encoding that is not byte exact.
func testDER(seed byte) []byte {
	der := []byte{0x00}
	for i := range 512 {
		der = append(der, byte(i)+seed)
	}
	return append(der, 0xff)
}
