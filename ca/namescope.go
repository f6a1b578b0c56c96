package ca

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/certgw/gateway/errs"
)

// NameScope narrows the identifiers a requester may ask for, within its
// profile's rules: DNS names and .suffixes as in a profile's names.dns,
// and IP ranges. An ACME External Account Binding key carries one
// (storage.ACMEEABKey.Names), so that the account of each team orders
// its own names only.
type NameScope struct {
	rules []string
	dns   []string
	ips   []netip.Prefix
}

// ParseNameScope reads rules: each a DNS name, a .suffix, or an IP range
// in CIDR form. An empty list is no restriction.
func ParseNameScope(rules []string) (NameScope, error) {
	s := NameScope{rules: rules}
	for _, r := range rules {
		if p, err := netip.ParsePrefix(r); err == nil {
			if p != p.Masked() {
				return s, errs.New(errs.Malformed, "names: %q has host bits set: write %s", r, p.Masked())
			}
			s.ips = append(s.ips, p)
			continue
		}
		if r != strings.ToLower(r) || !validHostname(strings.TrimPrefix(r, ".")) {
			return s, errs.New(errs.Malformed, "names: %q is neither a lowercase DNS name or .suffix nor an IP range (CIDR)", r)
		}
		s.dns = append(s.dns, r)
	}
	return s, nil
}

// Check refuses (errs.RejectedIdentifier) a name outside the scope; an
// empty scope allows everything.
func (s NameScope) Check(n Names) error {
	if len(s.rules) == 0 {
		return nil
	}
	for _, d := range n.DNS {
		if !s.allowsDNS(d) {
			return errs.New(errs.RejectedIdentifier, "DNS name %q is outside the names this account may order (%s)", d, strings.Join(s.rules, ", "))
		}
	}
	for _, ip := range n.IPs {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok || !slices.ContainsFunc(s.ips, func(p netip.Prefix) bool { return p.Contains(addr.Unmap()) }) {
			return errs.New(errs.RejectedIdentifier, "IP address %s is outside the names this account may order (%s)", ip, strings.Join(s.rules, ", "))
		}
	}
	return nil
}

// allowsDNS: a name matches as in a profile (itself, or a .suffix of
// it); a wildcard *.X needs a .suffix rule that every name under X
// matches (.X, or one above it), not a rule for the name X alone.
func (s NameScope) allowsDNS(name string) bool {
	base, wild := strings.CutPrefix(name, "*.")
	if !wild {
		return dnsAllowed(s.dns, name)
	}
	return slices.ContainsFunc(s.dns, func(r string) bool {
		return strings.HasPrefix(r, ".") && (base == r[1:] || strings.HasSuffix(base, r))
	})
}
