package config

import (
	"encoding/asn1"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// LeafKeyTypes are the subject key types a profile may allow.
var leafKeyTypes = map[string]bool{
	"ecdsa-p256": true, "ecdsa-p384": true,
	"rsa-2048": true, "rsa-3072": true, "rsa-4096": true, "ed25519": true,
}

// KeyUsageNames and ExtKeyUsageNames are the names a profile may use.
var (
	KeyUsageNames    = []string{"digital_signature", "key_encipherment", "key_agreement", "content_commitment"}
	ExtKeyUsageNames = []string{"server_auth", "client_auth", "email_protection", "code_signing", "time_stamping"}
)

func validateProfilePolicy(add func(path, format string, args ...any), path string, p Profile) {
	for i, kt := range p.KeyTypes {
		if !leafKeyTypes[kt] {
			add(fmt.Sprintf("%s.key_types[%d]", path, i), "must be one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519, got %q", kt)
		}
	}
	if d := p.Description; len(d) > 200 || strings.ContainsAny(d, "\r\n") {
		add(path+".description", "must be one line of at most 200 characters")
	}
	positive(add, path+".max_validity", p.MaxValidity)
	positive(add, path+".default_validity", p.DefaultValidity)
	if p.DefaultValidity > p.MaxValidity {
		add(path+".default_validity", "%s is longer than max_validity %s", p.DefaultValidity, p.MaxValidity)
	}
	for i, u := range p.KeyUsage {
		if !contains(KeyUsageNames, u) {
			add(fmt.Sprintf("%s.key_usage[%d]", path, i), "must be one of %s, got %q", strings.Join(KeyUsageNames, ", "), u)
		}
	}
	for i, u := range p.ExtKeyUsage {
		if !contains(ExtKeyUsageNames, u) {
			add(fmt.Sprintf("%s.ext_key_usage[%d]", path, i), "must be one of %s, got %q", strings.Join(ExtKeyUsageNames, ", "), u)
		}
	}
	for i, o := range p.CertificatePolicies {
		at := fmt.Sprintf("%s.certificate_policies[%d]", path, i)
		if _, ok := ParseOID(o); !ok {
			add(at, "must be an OID in dotted form such as 1.3.6.1.4.1.99999.1, got %q", o)
		} else if o == "2.5.29.32.0" || strings.HasPrefix(o, "2.23.140.1.") {
			add(at, "%s is anyPolicy or a CA/B Forum reserved policy, which the gateway sets itself; name the CA's own policies", o)
		}
	}
	fixed := p.Subject.Fixed()
	for _, name := range slices.Sorted(maps.Keys(fixed)) {
		if err := CheckSubjectValue(name, fixed[name]); err != nil {
			add(path+".subject."+name, "%v", err)
		}
	}
	for i, name := range p.Subject.FromCSR {
		at := fmt.Sprintf("%s.subject.from_csr[%d]", path, i)
		switch _, known := SubjectAttributes[name]; {
		case !known:
			add(at, "must be one of %s, got %q", SubjectAttributeNames(), name)
		case fixed[name] != "":
			add(at, "%s is fixed (subject.%s), so a request cannot set it", name, name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Subject.Patterns)) {
		at := path + ".subject.patterns." + name
		if name != "common_name" && !slices.Contains(p.Subject.FromCSR, name) {
			add(at, "only common_name and the attributes of subject.from_csr come from a request")
		}
		if _, err := CompileSubjectPattern(p.Subject.Patterns[name]); err != nil {
			add(at, "%v", err)
		}
	}
	if p.Upstream != "" && (len(fixed) > 0 || len(p.Subject.FromCSR) > 0 || len(p.Subject.Patterns) > 0) {
		add(path+".subject", "an external ACME CA decides the subject of its certificates")
	}
	n := p.Names
	for i, r := range n.DNS {
		if r != "*" && !validDNSRule(r) {
			add(fmt.Sprintf("%s.names.dns[%d]", path, i), "must be a DNS name, .suffix or *, got %q", r)
		}
	}
	for i, r := range n.IPRanges {
		if _, _, err := net.ParseCIDR(r); err != nil {
			add(fmt.Sprintf("%s.names.ip_ranges[%d]", path, i), "must be a CIDR range, got %q", r)
		}
	}
	for i, r := range n.Emails {
		if r != "*" && (strings.Count(r, "@") != 1 || strings.HasSuffix(r, "@")) {
			add(fmt.Sprintf("%s.names.emails[%d]", path, i), "must be user@domain, @domain or *, got %q", r)
		}
	}
	for i, r := range n.URIs {
		if u, err := url.Parse(r); r != "*" && (err != nil || u.Scheme == "" || u.User != nil) {
			add(fmt.Sprintf("%s.names.uris[%d]", path, i), "must be an absolute URI (a prefix ending in /) or *, got %q", r)
		}
	}
	oneOf(add, path+".names.common_name", n.CommonName, "forbid", "allow", "require")
	if n.Max < 1 {
		add(path+".names.max", "must be at least 1, got %d", n.Max)
	}
	if p.AutoRenew.RenewBeforeDays < 1 {
		add(path+".auto_renew.renew_before_days", "must be at least 1, got %d", p.AutoRenew.RenewBeforeDays)
	}
	for i, a := range p.EST.Auth {
		if a != "basic" && a != "client_cert" {
			add(fmt.Sprintf("%s.est.auth[%d]", path, i), "must be basic or client_cert, got %q", a)
		}
	}
	for i, m := range p.Approval.Methods {
		at := fmt.Sprintf("%s.approval.methods[%d]", path, i)
		switch {
		case m == "acme":
			add(at, "acme orders are authorized by their challenges and cannot wait for approval; use est, scep, cmp or api")
		case m != "est" && m != "scep" && m != "cmp" && m != "api":
			add(at, "must be est, scep, cmp or api, got %q", m)
		case !contains(p.Methods, m):
			add(at, "%s is not one of the profile's methods", m)
		}
	}
	if p.Approval.RetryAfter < 0 {
		add(path+".approval.retry_after", "must not be negative, got %s", p.Approval.RetryAfter)
	}
	if p.Approval.Approvals < 1 || p.Approval.Approvals > maxApprovals {
		add(path+".approval.approvals", "must be 1 to %d, got %d", maxApprovals, p.Approval.Approvals)
	}
	if p.Approval.ExpireAfter < 0 {
		add(path+".approval.expire_after", "must not be negative, got %s", p.Approval.ExpireAfter)
	}
	if u := p.Approval.NotifyURL; u != "" {
		if x, err := url.Parse(u); err != nil || (x.Scheme != "http" && x.Scheme != "https") || x.Host == "" {
			add(path+".approval.notify_url", "must be an absolute http:// or https:// URL, got %q", u)
		}
		if len(p.Approval.Methods) == 0 {
			add(path+".approval.notify_url", "nothing waits for approval: approval.methods is empty")
		}
	} else if p.Approval.NotifySecretFile != "" {
		add(path+".approval.notify_secret_file", "signs notifications, and approval.notify_url is not set")
	}
	if u := p.SCEP.ChallengeURL; u != "" {
		if x, err := url.Parse(u); err != nil || (x.Scheme != "http" && x.Scheme != "https") || x.Host == "" {
			add(path+".scep.challenge_url", "must be an absolute http:// or https:// URL, got %q", u)
		}
	} else if p.SCEP.ChallengeSecretFile != "" {
		add(path+".scep.challenge_secret_file", "signs challenge requests, and scep.challenge_url is not set")
	}
	if u := p.Notify.URL; u != "" {
		if x, err := url.Parse(u); err != nil || (x.Scheme != "http" && x.Scheme != "https") || x.Host == "" {
			add(path+".notify.url", "must be an absolute http:// or https:// URL, got %q", u)
		}
		if p.Notify.ExpiringWithin < 0 {
			add(path+".notify.expiring_within", "must not be negative, got %s", p.Notify.ExpiringWithin)
		}
		for i, ev := range p.Notify.Events {
			if !contains(NotifyEvents, ev) {
				add(fmt.Sprintf("%s.notify.events[%d]", path, i), "must be one of %s, got %q", strings.Join(NotifyEvents, ", "), ev)
			}
		}
	} else if p.Notify.SecretFile != "" || len(p.Notify.Events) > 0 {
		add(path+".notify", "events and secret_file need notify.url")
	}
	if p.AutoRenew.Enabled && !p.ServerKeygen {
		add(path+".auto_renew.enabled", "server-driven renewal needs server_keygen: the gateway renews only keys it holds")
	}
}

func validDNSRule(r string) bool {
	r = strings.TrimPrefix(r, ".")
	if r == "" || len(r) > 253 {
		return false
	}
	for _, label := range strings.Split(r, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Allows reports whether the profile accepts the enrollment method.
func (p Profile) Allows(method string) bool { return contains(p.Methods, method) }

// ParseOID reads an object identifier in dotted form: at least two arcs,
// the first 0, 1 or 2, each a decimal number without leading zeros.
func ParseOID(s string) (asn1.ObjectIdentifier, bool) {
	arcs := strings.Split(s, ".")
	if len(arcs) < 2 || len(arcs[0]) != 1 || arcs[0] > "2" {
		return nil, false
	}
	oid := make(asn1.ObjectIdentifier, 0, len(arcs))
	for _, a := range arcs {
		if a == "" || len(a) > 1 && a[0] == '0' || len(a) > 18 {
			return nil, false
		}
		n, err := strconv.Atoi(a)
		if err != nil || n < 0 {
			return nil, false
		}
		oid = append(oid, n)
	}
	return oid, true
}

// maxApprovals bounds approval.approvals: each approval is an operator's
// decision kept with the request.
const maxApprovals = 10
