package storagetest

import (
	"fmt"
	"testing"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RunKeystore runs the conformance tests of storage.KeystoreStore. open
// must return a new, empty store each time it is called, closed when t
// ends (as for Run). That the key's audit event is committed with it, and
// only then, is checked by Run (AuditedChanges), which can read the trail.
func RunKeystore(t *testing.T, open func(t *testing.T) storage.KeystoreStore) {
	const wrapped = "pkcs11-aes-gcm:gateway-kek:00ff0123456789abcdef"

	t.Run("NotFound", func(t *testing.T) {
		_, err := open(t).SharedKEK(t.Context())
		wantKind(t, "SharedKEK(none published)", err, errs.NotFound)
	})

	t.Run("RoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertSharedKEK", s.InsertSharedKEK(ctx, wrapped, Event("keystore-kek", "")))
		wantKEK(t, s, wrapped)
	})

	// Another replica published first: the second insert fails, with the
	// same key or another, and the first stays.
	t.Run("Conflict", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertSharedKEK", s.InsertSharedKEK(ctx, wrapped, Event("keystore-kek", "")))
		for _, second := range []string{wrapped + "00", wrapped} {
			wantKind(t, "second InsertSharedKEK", s.InsertSharedKEK(ctx, second, Event("keystore-kek", "")), errs.Conflict)
		}
		wantKEK(t, s, wrapped)
	})

	t.Run("Malformed", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		wantKind(t, "InsertSharedKEK(empty)", s.InsertSharedKEK(ctx, "", Event("keystore-kek", "")), errs.Malformed)
		_, err := s.SharedKEK(ctx)
		wantKind(t, "SharedKEK after a refused insert", err, errs.NotFound)
	})

	// Replicas starting at once, each with a key of its own: exactly one
	// publishes, and every replica then reads that one.
	t.Run("Concurrent", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		key := func(i int) string { return fmt.Sprintf("%s%02x", wrapped, i) }
		results := concurrently(func(i int) error {
			return s.InsertSharedKEK(ctx, key(i), Event("keystore-kek", ""))
		})
		if winner := oneWinner(t, "InsertSharedKEK", results, isConflict); winner >= 0 {
			wantKEK(t, s, key(winner))
		}
	})
}

// wantKEK checks that s holds want as its shared key-encryption key.
func wantKEK(t *testing.T, s storage.KeystoreStore, want string) {
	t.Helper()
	got, err := s.SharedKEK(t.Context())
	must(t, "SharedKEK", err)
	if got != want {
		t.Errorf("SharedKEK() = %q, want %q", got, want)
	}
}
