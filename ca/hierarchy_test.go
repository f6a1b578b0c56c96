package ca_test

import (
	"strings"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/storage"
)

func TestParentsFirst(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"root", "root"},
		{"issuing<root root", "root issuing<root"},
		{"b<a c<b a", "a b<a c<b"},
		{"devices<issuing issuing<root le root orphan<gone", "le root orphan<gone issuing<root devices<issuing"},
	} {
		var in []storage.CA
		for _, f := range strings.Fields(tc.in) {
			name, parent, _ := strings.Cut(f, "<")
			in = append(in, storage.CA{Name: name, Parent: parent})
		}
		var got []string
		for _, c := range ca.ParentsFirst(in) {
			if c.Parent != "" {
				got = append(got, c.Name+"<"+c.Parent)
			} else {
				got = append(got, c.Name)
			}
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("ParentsFirst(%s) = %s, want %s", tc.in, strings.Join(got, " "), tc.want)
		}
	}
}
