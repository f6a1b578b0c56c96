package certquery

import (
	"slices"
	"strings"
)

// NamesKey is the value of acme_orders.names_key for an order's
// identifiers ("type:value", as the ACME server normalized them): the same
// for every order of the same set of identifiers, whatever their order,
// so that the duplicate-certificate limit finds them with one index.
func NamesKey(identifiers []string) string {
	s := slices.Clone(identifiers)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), "\n")
}
