package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

// Profile is a compiled certificate profile: the policy every request
// under it passes before anything is stored or signed.
type Profile struct {
	Name string
	// Description says in a line what the profile is for (config).
	Description string
	// ACMEOffers are the other profiles this profile's ACME directory
	// offers to orders that name them (draft-ietf-acme-profiles).
	ACMEOffers []string
	CA         string
	// Upstream, instead of CA, names the external ACME CA that issues
	// (Core.Upstreams).
	Upstream        string
	Methods         []string
	dnsRules        []string
	wildcards       bool
	ipRanges        []netip.Prefix
	emailRules      []string
	uriRules        []string
	commonName      string // forbid | allow | require
	cnInSAN         bool
	maxNames        int
	KeyTypes        []string
	MaxValidity     time.Duration
	DefaultValidity time.Duration
	KeyUsage        x509.KeyUsage           // zero: derived from the key type
	ExtKeyUsage     []x509.ExtKeyUsage      // never nil
	Policies        []asn1.ObjectIdentifier // certificate_policies, after any CA/B Forum one
	ServerKeygen    bool
	AutoRenew       bool
	RenewBefore     time.Duration
	// Approval lists the methods whose first enrollments wait for an
	// operator (config.ProfileApproval); RetryAfter is what their clients
	// are told to wait before asking again.
	Approval   []string
	RetryAfter time.Duration
	// ExpireAfter ends the requests nobody decided within it.
	ExpireAfter time.Duration
	// Approvals is how many operators must approve a held request.
	Approvals int
	// ExpiryNotice is how long before its end a certificate nothing
	// renewed is told to OnEvent as expiring; 0: never.
	ExpiryNotice time.Duration
	subject      profileSubject
}

var keyUsageByName = map[string]x509.KeyUsage{
	"digital_signature":  x509.KeyUsageDigitalSignature,
	"key_encipherment":   x509.KeyUsageKeyEncipherment,
	"key_agreement":      x509.KeyUsageKeyAgreement,
	"content_commitment": x509.KeyUsageContentCommitment,
}

var extKeyUsageByName = map[string]x509.ExtKeyUsage{
	"server_auth":      x509.ExtKeyUsageServerAuth,
	"client_auth":      x509.ExtKeyUsageClientAuth,
	"email_protection": x509.ExtKeyUsageEmailProtection,
	"code_signing":     x509.ExtKeyUsageCodeSigning,
	"time_stamping":    x509.ExtKeyUsageTimeStamping,
}

// CompileProfile turns a validated configuration profile into a Profile.
func CompileProfile(p config.Profile) (*Profile, error) {
	cp := &Profile{
		Name: p.Name, Description: p.Description, ACMEOffers: slices.Clone(p.ACME.Profiles), CA: p.CA, Upstream: p.Upstream, Methods: slices.Clone(p.Methods),
		wildcards: p.Names.Wildcards, commonName: p.Names.CommonName, cnInSAN: p.Names.CommonNameInSAN == nil || *p.Names.CommonNameInSAN,
		maxNames: p.Names.Max, KeyTypes: slices.Clone(p.KeyTypes),
		MaxValidity: p.MaxValidity.D(), DefaultValidity: p.DefaultValidity.D(),
		ServerKeygen: p.ServerKeygen, AutoRenew: p.AutoRenew.Enabled,
		RenewBefore: time.Duration(p.AutoRenew.RenewBeforeDays) * 24 * time.Hour,
		Approval:    slices.Clone(p.Approval.Methods), RetryAfter: p.Approval.RetryAfter.D(), ExpireAfter: p.Approval.ExpireAfter.D(),
		Approvals:    max(p.Approval.Approvals, 1),
		ExpiryNotice: expiryNotice(p.Notify),
	}
	var err error
	if cp.subject, err = compileSubject(p.Subject); err != nil {
		return nil, errs.Wrap(errs.Config, err, "profile %s", p.Name)
	}
	for _, r := range p.Names.DNS {
		cp.dnsRules = append(cp.dnsRules, strings.ToLower(r))
	}
	for _, r := range p.Names.IPRanges {
		pfx, err := netip.ParsePrefix(r)
		if err != nil {
			return nil, errs.Wrap(errs.Config, err, "profile %s: names.ip_ranges", p.Name)
		}
		cp.ipRanges = append(cp.ipRanges, pfx.Masked())
	}
	for _, r := range p.Names.Emails {
		cp.emailRules = append(cp.emailRules, strings.ToLower(r))
	}
	cp.uriRules = slices.Clone(p.Names.URIs)
	for _, u := range p.KeyUsage {
		cp.KeyUsage |= keyUsageByName[u]
	}
	cp.ExtKeyUsage = []x509.ExtKeyUsage{}
	for _, u := range p.ExtKeyUsage {
		cp.ExtKeyUsage = append(cp.ExtKeyUsage, extKeyUsageByName[u])
	}
	if len(p.ExtKeyUsage) == 0 {
		cp.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	for _, o := range p.CertificatePolicies {
		oid, ok := config.ParseOID(o)
		if !ok {
			return nil, errs.New(errs.Config, "profile %s: certificate_policies: %q is not an OID", p.Name, o)
		}
		cp.Policies = append(cp.Policies, oid)
	}
	return cp, nil
}

// Allows reports whether the profile accepts the enrollment method.
func (p *Profile) Allows(method string) bool { return slices.Contains(p.Methods, method) }

// Held reports whether first enrollments by method wait for approval.
func (p *Profile) Held(method string) bool { return slices.Contains(p.Approval, method) }

// Names are the identifiers of one request.
type Names struct {
	CommonName string
	DNS        []string
	IPs        []net.IP
	Emails     []string
	URIs       []*url.URL
}

// Count is the number of SANs.
func (n Names) Count() int { return len(n.DNS) + len(n.IPs) + len(n.Emails) + len(n.URIs) }

func reject(kind errs.Kind, profile, rule, format string, args ...any) error {
	return errs.New(kind, "profile %s: rule %s: %s", profile, rule, fmt.Sprintf(format, args...))
}

// CheckNames applies the identifier policy. A rejection names the rule and
// the value.
func (p *Profile) CheckNames(n Names) error {
	if n.Count() == 0 {
		return reject(errs.BadCSR, p.Name, "names", "at least one subject alternative name is required")
	}
	if n.Count() > p.maxNames {
		return reject(errs.RejectedIdentifier, p.Name, "names.max", "%d names, at most %d allowed", n.Count(), p.maxNames)
	}
	seen := map[string]bool{}
	for _, d := range n.DNS {
		if seen["dns:"+d] {
			return reject(errs.BadCSR, p.Name, "names", "duplicate DNS name %q", d)
		}
		seen["dns:"+d] = true
		if err := p.checkDNS(d); err != nil {
			return err
		}
	}
	for _, ip := range n.IPs {
		addr, ok := netip.AddrFromSlice(ip)
		if !ok {
			return reject(errs.BadCSR, p.Name, "names.ip_ranges", "invalid IP address %v", ip)
		}
		addr = addr.Unmap()
		if !slices.ContainsFunc(p.ipRanges, func(r netip.Prefix) bool { return r.Contains(addr) }) {
			return reject(errs.RejectedIdentifier, p.Name, "names.ip_ranges", "IP address %s is not allowed", addr)
		}
	}
	for _, e := range n.Emails {
		if err := p.checkEmail(e); err != nil {
			return err
		}
	}
	for _, u := range n.URIs {
		if err := p.checkURI(u); err != nil {
			return err
		}
	}
	switch {
	case p.commonName == "forbid" && n.CommonName != "":
		return reject(errs.BadCSR, p.Name, "names.common_name", "a common name is not allowed, got %q", n.CommonName)
	case p.commonName == "require" && n.CommonName == "":
		return reject(errs.BadCSR, p.Name, "names.common_name", "a common name is required")
	}
	if n.CommonName != "" && p.cnInSAN && !n.hasSAN(n.CommonName) {
		return reject(errs.BadCSR, p.Name, "names.common_name_in_san", "common name %q is not one of the subject alternative names", n.CommonName)
	}
	return nil
}

func (n Names) hasSAN(v string) bool {
	lv := strings.ToLower(v)
	if slices.Contains(n.DNS, lv) || slices.ContainsFunc(n.Emails, func(e string) bool { return strings.EqualFold(e, v) }) {
		return true
	}
	ip := net.ParseIP(v)
	return ip != nil && slices.ContainsFunc(n.IPs, ip.Equal)
}

func (p *Profile) checkDNS(name string) error {
	if name != strings.ToLower(name) {
		return reject(errs.BadCSR, p.Name, "names.dns", "DNS name %q must be lower case", name)
	}
	base := name
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		if !p.wildcards {
			return reject(errs.RejectedIdentifier, p.Name, "names.wildcards", "wildcard name %q is not allowed", name)
		}
		base = rest
	}
	if !validHostname(base) {
		return reject(errs.BadCSR, p.Name, "names.dns", "%q is not a valid DNS name", name)
	}
	if dnsAllowed(p.dnsRules, base) {
		return nil
	}
	return reject(errs.RejectedIdentifier, p.Name, "names.dns", "DNS name %q is not allowed", name)
}

// dnsAllowed reports whether a DNS name (of a wildcard, the name after
// "*.") matches a rule: "*", the name itself, or a ".suffix" of it.
func dnsAllowed(rules []string, base string) bool {
	for _, r := range rules {
		switch {
		case r == "*",
			r == base,
			strings.HasPrefix(r, ".") && strings.HasSuffix(base, r):
			return true
		}
	}
	return false
}

// validHostname checks RFC 1034 preferred syntax (with digits first
// allowed, RFC 1123), at least two labels.
func validHostname(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return s == "localhost"
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkURI applies names.uris: an absolute URI (RFC 5280 4.2.1.6: a
// scheme and a scheme-specific part, no user information) that a rule
// allows: the URI itself, a prefix ending in "/", or "*".
func (p *Profile) checkURI(u *url.URL) error {
	s := u.String()
	if u.Scheme == "" || u.User != nil || u.Opaque == "" && u.Host == "" && u.Path == "" {
		return reject(errs.BadCSR, p.Name, "names.uris", "%q is not an absolute URI without user information", s)
	}
	for _, r := range p.uriRules {
		prefix := strings.HasSuffix(r, "/")
		if r == "*" || !prefix && r == s || prefix && strings.HasPrefix(s, r) && len(s) > len(r) {
			return nil
		}
	}
	return reject(errs.RejectedIdentifier, p.Name, "names.uris", "URI %q is not allowed", s)
}

func (p *Profile) checkEmail(e string) error {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 {
		return reject(errs.BadCSR, p.Name, "names.emails", "%q is not an e-mail address", e)
	}
	le := strings.ToLower(e)
	for _, r := range p.emailRules {
		if r == "*" || r == le || (strings.HasPrefix(r, "@") && strings.HasSuffix(le, r)) {
			return nil
		}
	}
	return reject(errs.RejectedIdentifier, p.Name, "names.emails", "e-mail address %q is not allowed", e)
}

// KeyTypeName names a subject public key as profiles do, or describes an
// unsupported one.
func KeyTypeName(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ecdsa-p256"
		case elliptic.P384():
			return "ecdsa-p384"
		}
		return "ecdsa-" + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.N.BitLen())
	case ed25519.PublicKey:
		return "ed25519"
	}
	return fmt.Sprintf("%T", pub)
}

// CheckKey applies the key type rule.
func (p *Profile) CheckKey(pub crypto.PublicKey) error {
	kt := KeyTypeName(pub)
	if !slices.Contains(p.KeyTypes, kt) {
		return reject(errs.BadCSR, p.Name, "key_types", "key type %s is not allowed (allowed: %s)", kt, strings.Join(p.KeyTypes, ", "))
	}
	return nil
}

// Validity returns the lifetime for a request: the profile default when
// asked for none, the request when within the maximum.
func (p *Profile) Validity(requested time.Duration) (time.Duration, error) {
	switch {
	case requested == 0:
		return p.DefaultValidity, nil
	case requested < 0:
		return 0, reject(errs.Malformed, p.Name, "max_validity", "validity must be positive")
	case requested > p.MaxValidity:
		return 0, reject(errs.Malformed, p.Name, "max_validity", "validity %s exceeds the maximum %s", requested, p.MaxValidity)
	}
	return requested, nil
}

// RenewAt is when server-driven renewal replaces a certificate: RenewBefore
// ahead of notAfter, but not before two thirds of a short lifetime.
func (p *Profile) RenewAt(notBefore, notAfter time.Time) time.Time {
	at := notAfter.Add(-p.RenewBefore)
	if floor := notBefore.Add(notAfter.Sub(notBefore) * 2 / 3); at.Before(floor) {
		at = floor
	}
	return at
}

// expiryNotice is how long before their end a profile's certificates are
// told as expiring: its webhook's expiring_within, if it is told of
// expiring ones.
func expiryNotice(n config.ProfileNotify) time.Duration {
	if n.URL == "" || !slices.Contains(n.Events, "expiring") {
		return 0
	}
	return n.ExpiringWithin.D()
}

// NameRules is what a profile lets a certificate name, as its
// configuration (names) says it.
type NameRules struct {
	DNS             []string // exact names, .suffixes, "*"
	Wildcards       bool
	IPRanges        []string
	Emails          []string
	URIs            []string
	CommonName      string // forbid | allow | require
	CommonNameInSAN bool
	Max             int
}

// Names returns p's name rules.
func (p *Profile) Names() NameRules {
	r := NameRules{DNS: slices.Clone(p.dnsRules), Wildcards: p.wildcards, Emails: slices.Clone(p.emailRules), URIs: slices.Clone(p.uriRules),
		CommonName: p.commonName, CommonNameInSAN: p.cnInSAN, Max: p.maxNames}
	for _, pfx := range p.ipRanges {
		r.IPRanges = append(r.IPRanges, pfx.String())
	}
	return r
}
