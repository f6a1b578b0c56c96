package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

// NameConstraints are the name constraints (RFC 5280 4.2.1.10) a CA
// certificate carries, as crypto/x509 spells them.
type NameConstraints struct {
	PermittedDNS, ExcludedDNS               []string
	PermittedIPs, ExcludedIPs               []*net.IPNet
	PermittedEmails, ExcludedEmails         []string
	PermittedURIDomains, ExcludedURIDomains []string
}

// NameConstraintsOf translates a CA's configured constraints; nil is none.
func NameConstraintsOf(c *config.NameConstraints) (NameConstraints, error) {
	var n NameConstraints
	if c == nil {
		return n, nil
	}
	var err error
	n.PermittedDNS, n.ExcludedDNS = c.Permitted.DNS, c.Excluded.DNS
	n.PermittedEmails, n.ExcludedEmails = c.Permitted.Emails, c.Excluded.Emails
	n.PermittedURIDomains, n.ExcludedURIDomains = c.Permitted.URIDomains, c.Excluded.URIDomains
	if n.PermittedIPs, err = cidrs(c.Permitted.IPRanges); err != nil {
		return n, err
	}
	n.ExcludedIPs, err = cidrs(c.Excluded.IPRanges)
	return n, err
}

func cidrs(list []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for _, s := range list {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, errs.Wrap(errs.Config, err, "name constraint %q", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Empty reports whether n constrains nothing.
func (n NameConstraints) Empty() bool {
	return len(n.PermittedDNS)+len(n.ExcludedDNS)+len(n.PermittedIPs)+len(n.ExcludedIPs)+
		len(n.PermittedEmails)+len(n.ExcludedEmails)+len(n.PermittedURIDomains)+len(n.ExcludedURIDomains) == 0
}

// apply puts n into a CA certificate template, critical (RFC 5280
// 4.2.1.10: conforming CAs MUST mark it critical).
func (n NameConstraints) apply(t *x509.Certificate) {
	if n.Empty() {
		return
	}
	t.PermittedDNSDomainsCritical = true
	t.PermittedDNSDomains, t.ExcludedDNSDomains = n.PermittedDNS, n.ExcludedDNS
	t.PermittedIPRanges, t.ExcludedIPRanges = n.PermittedIPs, n.ExcludedIPs
	t.PermittedEmailAddresses, t.ExcludedEmailAddresses = n.PermittedEmails, n.ExcludedEmails
	t.PermittedURIDomains, t.ExcludedURIDomains = n.PermittedURIDomains, n.ExcludedURIDomains
}

var oidNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}

// extension is n as the extension crypto/x509 writes into a certificate,
// for a certificate request (which crypto/x509 gives no field for): taken
// from a throwaway certificate that carries it.
func (n NameConstraints) extension() (pkix.Extension, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pkix.Extension{}, errs.Wrap(errs.Internal, err, "name constraints")
	}
	t := &x509.Certificate{SerialNumber: big.NewInt(1), BasicConstraintsValid: true, IsCA: true}
	n.apply(t)
	der, err := x509.CreateCertificate(rand.Reader, t, t, k.Public(), k)
	if err != nil {
		return pkix.Extension{}, errs.Wrap(errs.Config, err, "name constraints")
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		return pkix.Extension{}, errs.Wrap(errs.Internal, err, "name constraints")
	}
	for _, e := range c.Extensions {
		if e.Id.Equal(oidNameConstraints) {
			return e, nil
		}
	}
	return pkix.Extension{}, errs.New(errs.Internal, "name constraints: crypto/x509 wrote no extension")
}

// CheckNames applies to n what Issue applies to a request's names: the
// identifier policy of profile and the name constraints of the CAs it
// issues under. It serves a protocol that sees the names before a CSR
// (an ACME new-order).
func (c *Core) CheckNames(profile string, n Names) error {
	p, ok := c.Profiles[profile]
	if !ok {
		return errs.New(errs.NotFound, "no profile %q", profile)
	}
	if err := p.CheckNames(n); err != nil {
		return err
	}
	if a := c.CAs[p.CA]; p.Upstream == "" && a != nil {
		if err := checkNameConstraints(a.Certified(), n); err != nil {
			return fmt.Errorf("profile %s: %w", p.Name, err)
		}
	}
	return nil
}

// checkNameConstraints refuses names that a CA of cur (its certificate,
// then those above it) does not permit or excludes, as a validator would
// refuse the certificate: with errs.RejectedIdentifier naming the name,
// the CA and its subtrees, before anything is signed.
func checkNameConstraints(cur *Certified, names Names) error {
	if err := certNameConstraints(cur.Cert, names); err != nil {
		return err
	}
	for _, c := range cur.Chain {
		if err := certNameConstraints(c, names); err != nil {
			return err
		}
	}
	return nil
}

// hasNameConstraints reports whether c carries name constraints that
// crypto/x509 reads.
func hasNameConstraints(c *x509.Certificate) bool {
	return len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains)+len(c.PermittedIPRanges)+len(c.ExcludedIPRanges)+
		len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) > 0
}

func certNameConstraints(c *x509.Certificate, names Names) error {
	if !hasNameConstraints(c) {
		return nil
	}
	refuse := func(kind, name, how string, subtrees []string) error {
		return errs.New(errs.RejectedIdentifier, "name constraints of CA %q: %s %s is %s %s", c.Subject.CommonName, kind, name, how, strings.Join(subtrees, ", "))
	}
	check := func(kind, name string, permitted, excluded []string, match func(name, constraint string, excluding bool) bool) error {
		if slices.ContainsFunc(excluded, func(x string) bool { return match(name, x, true) }) {
			return refuse(kind, name, "in its excluded subtrees", excluded)
		}
		if len(permitted) > 0 && !slices.ContainsFunc(permitted, func(x string) bool { return match(name, x, false) }) {
			return refuse(kind, name, "outside its permitted subtrees", permitted)
		}
		return nil
	}
	for _, d := range names.DNS {
		if err := check("DNS name", d, c.PermittedDNSDomains, c.ExcludedDNSDomains, matchDNS); err != nil {
			return err
		}
	}
	for _, e := range names.Emails {
		if err := check("e-mail address", e, c.PermittedEmailAddresses, c.ExcludedEmailAddresses, matchEmail); err != nil {
			return err
		}
	}
	for _, u := range names.URIs {
		if err := check("URI", u.String(), c.PermittedURIDomains, c.ExcludedURIDomains, func(_, constraint string, excluding bool) bool {
			return matchHost(uriHost(u), constraint, excluding)
		}); err != nil {
			return err
		}
	}
	for _, ip := range names.IPs {
		in := func(nets []*net.IPNet) bool {
			return slices.ContainsFunc(nets, func(n *net.IPNet) bool { return n.Contains(ip) })
		}
		if in(c.ExcludedIPRanges) {
			return refuse("IP address", ip.String(), "in its excluded subtrees", netStrings(c.ExcludedIPRanges))
		}
		if len(c.PermittedIPRanges) > 0 && !in(c.PermittedIPRanges) {
			return refuse("IP address", ip.String(), "outside its permitted subtrees", netStrings(c.PermittedIPRanges))
		}
	}
	return nil
}

// matchDNS: "example.com" is the domain and every name under it,
// ".example.com" the names under it (as crypto/x509 and OpenSSL read
// it). A wildcard's "*" is a label like any other.
func matchDNS(name, constraint string, _ bool) bool {
	name, constraint = strings.ToLower(strings.TrimSuffix(name, ".")), strings.ToLower(constraint)
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(name, constraint)
	}
	return name == constraint || strings.HasSuffix(name, "."+constraint)
}

// matchHost is a host constraint of an e-mail address or a URI: RFC 5280
// reads "example.com" as that host alone, crypto/x509 as the host and the
// hosts under it. A permitted subtree is read the narrow way and an
// excluded one the wide way, so that what passes passes both readings.
func matchHost(host, constraint string, excluding bool) bool {
	host, constraint = strings.ToLower(host), strings.ToLower(constraint)
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(host, constraint)
	}
	return host == constraint || excluding && strings.HasSuffix(host, "."+constraint)
}

func matchEmail(addr, constraint string, excluding bool) bool {
	at := strings.LastIndexByte(addr, '@')
	if strings.Contains(constraint, "@") {
		c := strings.LastIndexByte(constraint, '@')
		return at >= 0 && addr[:at] == constraint[:c] && strings.EqualFold(addr[at+1:], constraint[c+1:])
	}
	return matchHost(addr[at+1:], constraint, excluding)
}

func uriHost(u *url.URL) string {
	return strings.TrimSuffix(u.Hostname(), ".")
}

func netStrings(nets []*net.IPNet) []string {
	out := make([]string, len(nets))
	for i, n := range nets {
		out[i] = n.String()
	}
	return out
}
