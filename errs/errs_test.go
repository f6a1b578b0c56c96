package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/certgw/gateway/errs"
)

// A public message is found through wrapping, and only the public
// error's own message is given, never the causes around or below it.
func TestPublicMessage(t *testing.T) {
	cause := errors.New("open /var/lib/secret: permission denied")
	public := errs.Publicf(errs.Unavailable, "CA issuing cannot issue: its certificate expired")
	for _, tc := range []struct {
		err  error
		want string
		ok   bool
	}{
		{nil, "", false},
		{cause, "", false},
		{errs.Wrap(errs.Unavailable, cause, "store"), "", false},
		{public, "CA issuing cannot issue: its certificate expired", true},
		{fmt.Errorf("issue: %w", public), "CA issuing cannot issue: its certificate expired", true},
		{errs.Wrap(errs.Unavailable, public, "host db.internal"), "CA issuing cannot issue: its certificate expired", true},
	} {
		got, ok := errs.PublicMessage(tc.err)
		if got != tc.want || ok != tc.ok {
			t.Errorf("PublicMessage(%v) = %q, %t; want %q, %t", tc.err, got, ok, tc.want, tc.ok)
		}
	}
	if errs.KindOf(public) != errs.Unavailable || errs.ClientFault(public) {
		t.Error("a public error keeps its kind and is not the client's fault")
	}
}
