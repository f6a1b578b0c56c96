package storagetest

import (
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// wantKind fails t unless err carries kind k.
func wantKind(t *testing.T, what string, err error, k errs.Kind) {
	t.Helper()
	if !errs.Is(err, k) {
		t.Errorf("%s: error = %v (kind %v), want kind %v", what, err, errs.KindOf(err), k)
	}
}

// must fails t at once if err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Event is the audit event of action on serial that the store methods
// committing one with their change (RevokeCertificate, ReleaseHold) are
// given, as the core would write it.
func Event(action, serial string) storage.AuditEvent {
	return storage.AuditEvent{At: time.Now().UTC().Truncate(time.Microsecond), Actor: "test", Action: action, Serial: serial}
}
