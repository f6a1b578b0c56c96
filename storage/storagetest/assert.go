package storagetest

import (
	"testing"

	"github.com/certgw/gateway/errs"
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
