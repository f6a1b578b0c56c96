package ca_test

import (
	"net"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

func TestNameScope(t *testing.T) {
	s, err := ca.ParseNameScope([]string{"app.example.com", ".team.example.com", "10.1.0.0/16", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		names ca.Names
		ok    bool
	}{
		{ca.Names{DNS: []string{"app.example.com"}}, true},
		{ca.Names{DNS: []string{"x.team.example.com", "a.b.team.example.com"}}, true},
		{ca.Names{DNS: []string{"*.team.example.com"}}, true},
		{ca.Names{DNS: []string{"*.x.team.example.com"}}, true},
		{ca.Names{DNS: []string{"team.example.com"}}, false},
		{ca.Names{DNS: []string{"*.app.example.com"}}, false},
		{ca.Names{DNS: []string{"www.example.com"}}, false},
		{ca.Names{DNS: []string{"app.example.com", "evil.org"}}, false},
		{ca.Names{IPs: []net.IP{net.ParseIP("10.1.2.3"), net.ParseIP("2001:db8::1")}}, true},
		{ca.Names{IPs: []net.IP{net.ParseIP("10.2.0.1")}}, false},
		{ca.Names{IPs: []net.IP{net.ParseIP("::ffff:10.1.0.1")}}, true},
	} {
		err := s.Check(tc.names)
		if tc.ok != (err == nil) || err != nil && !errs.Is(err, errs.RejectedIdentifier) {
			t.Errorf("%+v: %v", tc.names, err)
		}
	}
	if err := (ca.NameScope{}).Check(ca.Names{DNS: []string{"anything.org"}}); err != nil {
		t.Errorf("the empty scope refused: %v", err)
	}
	for _, bad := range [][]string{{"*"}, {"UPPER.example.com"}, {"10.0.0.1/8"}, {"not a name"}, {""}} {
		if _, err := ca.ParseNameScope(bad); !errs.Is(err, errs.Malformed) {
			t.Errorf("ParseNameScope(%q) = %v, want Malformed", bad, err)
		}
	}
}
