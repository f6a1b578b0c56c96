package config

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Problems is every problem Validate found, each prefixed with its path.
type Problems []string

func (p Problems) Error() string {
	return "invalid configuration:\n  " + strings.Join(p, "\n  ")
}

// KeyTypes lists the CA key types the signer can generate.
var keyTypes = map[string]bool{
	"ecdsa-p256": true, "ecdsa-p384": true,
	"rsa-2048": true, "rsa-3072": true, "rsa-4096": true,
}

var methods = map[string]bool{"acme": true, "est": true, "scep": true, "cmp": true, "api": true}

// Validate checks the whole configuration and reports every problem at once.
func (c *Config) Validate() error {
	var p Problems
	add := func(path, format string, args ...any) {
		p = append(p, path+": "+fmt.Sprintf(format, args...))
	}

	oneOf(add, "log.format", c.Log.Format, "text", "json")
	oneOf(add, "log.level", c.Log.Level, "debug", "info", "warn", "error")

	hostPort(add, "listen.https", c.Listen.HTTPS)
	hostPort(add, "listen.http", c.Listen.HTTP)
	if c.Listen.Metrics != "" {
		hostPort(add, "listen.metrics", c.Listen.Metrics)
	}
	if u, err := url.Parse(c.Listen.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("listen.public_url", "must be an absolute http:// or https:// URL, got %q", c.Listen.PublicURL)
	}
	positive(add, "listen.shutdown_timeout", c.Listen.ShutdownTimeout)
	t := c.Listen.TLS
	if t.CertFile == "" || t.KeyFile == "" {
		add("listen.tls", "cert_file and key_file are required (with auto: true the gateway writes them)")
	}
	if t.Auto {
		if _, ok := c.CA(t.CA); !ok {
			add("listen.tls.ca", "no CA named %q", t.CA)
		}
		positive(add, "listen.tls.validity", t.Validity)
		for i, ip := range t.IPAddresses {
			if net.ParseIP(ip) == nil {
				add(fmt.Sprintf("listen.tls.ip_addresses[%d]", i), "not an IP address: %q", ip)
			}
		}
	}

	switch c.Storage.Driver {
	case "sqlite":
		if c.Storage.Path == "" {
			add("storage.path", "required for the sqlite driver")
		}
	case "postgres":
		if c.Storage.DSN == "" {
			add("storage.dsn", "required for the postgres driver")
		}
	default:
		add("storage.driver", "must be sqlite or postgres, got %q", c.Storage.Driver)
	}

	switch c.Signer.Type {
	case "pkcs11":
		s := c.Signer.PKCS11
		if len(s.Members) == 0 {
			add("signer.pkcs11.members", "at least one module and token is required")
		}
		for i, m := range s.Members {
			path := fmt.Sprintf("signer.pkcs11.members[%d]", i)
			if m.Module == "" {
				add(path+".module", "required")
			}
			n := 0
			for _, set := range []bool{m.TokenLabel != "", m.TokenSerial != "", m.Slot != nil} {
				if set {
					n++
				}
			}
			if n != 1 {
				add(path, "exactly one of token_label, token_serial and slot selects the token")
			}
		}
		if (s.PINFile == "") == (s.PINEnv == "") {
			add("signer.pkcs11", "exactly one of pin_file and pin_env is required")
		}
		if s.MaxSessions < 2 {
			add("signer.pkcs11.max_sessions", "must be at least 2, got %d", s.MaxSessions)
		}
		positive(add, "signer.pkcs11.session_wait", s.SessionWait)
		positive(add, "signer.pkcs11.health_interval", s.HealthInterval)
		positive(add, "signer.pkcs11.reconnect_interval", s.ReconnectInterval)
	case "software":
		if c.Signer.Software.Dir == "" {
			add("signer.software.dir", "required for the software signer")
		}
	default:
		add("signer.type", "must be pkcs11 or software, got %q", c.Signer.Type)
	}

	switch c.Keystore.Wrap {
	case WrapToken:
		if c.Signer.Type != "pkcs11" {
			add("keystore.wrap", "token needs the pkcs11 signer; use none with signer.type %s", c.Signer.Type)
		}
		if c.Keystore.KEKLabel == "" || strings.ContainsAny(c.Keystore.KEKLabel, ":\n") {
			add("keystore.kek_label", "must be a non-empty label without ':' or a line break, got %q", c.Keystore.KEKLabel)
		}
	case WrapNone:
	default:
		add("keystore.wrap", "must be token or none, got %q", c.Keystore.Wrap)
	}

	positive(add, "renewal.interval", c.Renewal.Interval)
	c.validateCAs(add)
	c.validateUpstreams(add)
	c.validateProfiles(add)

	v := c.ACME.Validation
	if v.Resolver != "" {
		hostPort(add, "acme.validation.resolver", v.Resolver)
	}
	for i, id := range v.CAAIdentities {
		if strings.HasPrefix(id, ".") || !validDNSRule(id) {
			add(fmt.Sprintf("acme.validation.caa_identities[%d]", i), "must be a domain name in lower case, as CAA issue records name a CA (e.g. pki.example.com), got %q", id)
		}
	}
	port(add, "acme.validation.http01_port", v.HTTP01Port)
	port(add, "acme.validation.tlsalpn01_port", v.TLSALPN01Port)
	if td := c.Storage.Tidy; td.Every < Duration(time.Minute) {
		add("storage.tidy.every", "at least 1m, got %s", td.Every)
	}
	if d := c.Storage.Tidy.ACMEOrdersAfter; d < Duration(8*24*time.Hour) {
		add("storage.tidy.acme_orders_after", "at least 8d (acme.duplicate_certificates_per_week counts a week of orders; to keep them longer, give a longer time), got %s", d)
	}
	if d := c.Storage.Tidy.CertificatesAfter; d != 0 && d < Duration(24*time.Hour) {
		add("storage.tidy.certificates_after", "0 (kept) or at least 1d (a retried request may ask for its certificate for a day), got %s", d)
	}
	c.validateOIDC(add)
	c.validateClientCerts(add)
	if d := c.Audit.CheckpointEvery; d < Duration(time.Minute) {
		add("audit.checkpoint_every", "at least 1m, got %s", d)
	}
	if u := c.Audit.ForwardURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			add("audit.forward_url", "must be an http:// or https:// URL, got %q", u)
		}
	} else if c.Audit.ForwardSecretFile != "" {
		add("audit.forward_secret_file", "needs audit.forward_url")
	}
	if d := c.Audit.ForwardEvery; d < Duration(time.Second) {
		add("audit.forward_every", "at least 1s, got %s", d)
	}
	if d := c.Storage.Tidy.NotificationsAfter; d < 0 {
		add("storage.tidy.notifications_after", "must be positive, got %s", d)
	}
	if d := c.Storage.Tidy.RequestsAfter; d < 0 {
		add("storage.tidy.requests_after", "must be 0 (kept) or positive, got %s", d)
	}
	// Rate limits: 0 is none.
	for _, l := range []struct {
		key string
		n   int
	}{
		{"api.issuances_per_minute", c.API.IssuancesPerMinute},
		{"est.issuances_per_minute", c.EST.IssuancesPerMinute},
		{"scep.issuances_per_minute", c.SCEP.IssuancesPerMinute},
		{"cmp.issuances_per_minute", c.CMP.IssuancesPerMinute},
		{"acme.duplicate_certificates_per_week", c.ACME.DuplicateCertificatesPerWeek},
		{"acme.failed_validations_per_hour", c.ACME.FailedValidationsPerHour},
		{"acme.orders_per_account_per_hour", c.ACME.OrdersPerAccountPerHour},
	} {
		if l.n < 0 {
			add(l.key, "must be 0 (no limit) or more, got %d", l.n)
		}
	}

	if len(p) > 0 {
		return p
	}
	return nil
}

func (c *Config) validateCAs(add func(path, format string, args ...any)) {
	if len(c.CAs) == 0 {
		add("cas", "at least one CA is required")
	}
	names := map[string]int{}
	labels := map[string]string{}
	for i, ca := range c.CAs {
		path := fmt.Sprintf("cas[%d]", i)
		if !isName(ca.Name) {
			add(path+".name", "must be 1-64 characters of a-z, 0-9, '-' and '_', got %q", ca.Name)
		}
		if j, dup := names[ca.Name]; dup {
			add(path+".name", "%q is also the name of cas[%d]", ca.Name, j)
		}
		names[ca.Name] = i
		if !keyTypes[ca.Key.Type] {
			add(path+".key.type", "must be one of ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, got %q", ca.Key.Type)
		}
		if other, dup := labels[ca.Key.Label]; dup {
			add(path+".key.label", "%q is also the key of CA %q", ca.Key.Label, other)
		}
		labels[ca.Key.Label] = ca.Name
		positive(add, path+".validity", ca.Validity)
		if len(ca.CRLMirrors) > 4 {
			add(path+".crl_mirrors", "at most 4 mirrors, got %d", len(ca.CRLMirrors))
		}
		for j, m := range ca.CRLMirrors {
			if u, err := url.Parse(m); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(fmt.Sprintf("%s.crl_mirrors[%d]", path, j), "must be an absolute http:// or https:// URL, got %q", m)
			}
		}
		// 256 is ca.MaxCRLShards (config cannot import ca).
		if n := ca.CRL.Shards; n != 0 && (n < 2 || n > 256) {
			add(path+".crl.shards", "0 (one full CRL) or from 2 to 256, got %d", n)
		}
		if ca.PathLen != nil && *ca.PathLen < 0 {
			add(path+".path_len", "must not be negative")
		}
		if nc := ca.NameConstraints; nc != nil {
			switch {
			case ca.Parent == "" && !ca.External:
				add(path+".name_constraints", "a root's name constraints are not applied by validators (RFC 5280 6.1): put them on a CA under it")
			case nc.Permitted.Empty() && nc.Excluded.Empty():
				add(path+".name_constraints", "names no permitted or excluded subtree")
			}
			nc.Permitted.validate(path+".name_constraints.permitted", add)
			nc.Excluded.validate(path+".name_constraints.excluded", add)
		}
	}
	if c.CRL.Shards != 0 {
		add("crl.shards", "partitioned CRLs are chosen per CA: set cas[].crl.shards")
	}
	for i, ca := range c.CAs {
		if ca.External && ca.Parent != "" {
			add(fmt.Sprintf("cas[%d].external", i), "an external CA certifies this CA: it has no parent among the gateway's CAs (parent %q)", ca.Parent)
			continue
		}
		if ca.Parent == "" {
			continue
		}
		path := fmt.Sprintf("cas[%d].parent", i)
		j, ok := names[ca.Parent]
		switch {
		case !ok:
			add(path, "no CA named %q", ca.Parent)
		case ca.Parent == ca.Name:
			add(path, "a CA cannot be its own parent")
		case c.cycle(ca.Name):
			add(path, "the chain of parents from %q loops", ca.Name)
		case j > i:
			add(path, "parent %q must be listed before %q", ca.Parent, ca.Name)
		}
	}
}

func (c *Config) cycle(name string) bool {
	seen := map[string]bool{}
	for name != "" {
		if seen[name] {
			return true
		}
		seen[name] = true
		ca, ok := c.CA(name)
		if !ok {
			return false
		}
		name = ca.Parent
	}
	return false
}

func (c *Config) validateProfiles(add func(path, format string, args ...any)) {
	names := map[string]int{}
	for i, pr := range c.Profiles {
		path := fmt.Sprintf("profiles[%d]", i)
		if !isName(pr.Name) {
			add(path+".name", "must be 1-64 characters of a-z, 0-9, '-' and '_', got %q", pr.Name)
		}
		if j, dup := names[pr.Name]; dup {
			add(path+".name", "%q is also the name of profiles[%d]", pr.Name, j)
		}
		names[pr.Name] = i
		switch {
		case pr.Upstream != "" && pr.CA != "":
			add(path, "ca and upstream exclude each other: a profile is signed by a gateway CA or issued by an external one")
		case pr.Upstream != "":
			if _, ok := c.UpstreamNamed(pr.Upstream); !ok {
				add(path+".upstream", "no upstream named %q", pr.Upstream)
			}
			for j, m := range pr.Methods {
				// TODO: SCEP and CMP answer in the name of the issuing CA
				// (SCEP: an RA it certifies; CMP: protection and caPubs),
				// which does not exist for an external CA.
				if m == "scep" || m == "cmp" {
					add(fmt.Sprintf("%s.methods[%d]", path, j), "%s is not served for a profile backed by an upstream; use acme, est or api", m)
				}
			}
			if len(pr.Names.URIs) > 0 {
				add(path+".names.uris", "an external ACME CA issues DNS names and IP addresses, not URIs")
			}
		default:
			if _, ok := c.CA(pr.CA); !ok {
				add(path+".ca", "no CA named %q", pr.CA)
			}
		}
		if len(pr.Methods) == 0 {
			add(path+".methods", "at least one of acme, est, scep, cmp, api is required")
		}
		for j, m := range pr.Methods {
			if !methods[m] {
				add(fmt.Sprintf("%s.methods[%d]", path, j), "must be acme, est, scep, cmp or api, got %q", m)
			}
		}
		if slices.Contains(pr.Methods, "cmp") {
			if n := len(pr.CMP.Reference); n == 0 || n > 128 || strings.ContainsAny(pr.CMP.Reference, "\r\n") {
				add(path+".cmp.reference", "the senderKID that names the shared secret: 1 to 128 characters, one line")
			}
			if pr.CMP.SecretFile == "" {
				add(path+".cmp.secret_file", "required for cmp: the shared secret that protects the messages")
			}
		}
		validateProfilePolicy(add, path, pr)
		c.validateOffers(add, path, pr)
	}
}

// validateOffers checks the profiles a profile's ACME directory offers
// besides its own.
func (c *Config) validateOffers(add func(path, format string, args ...any), path string, pr Profile) {
	if len(pr.ACME.Profiles) > 0 && !slices.Contains(pr.Methods, "acme") {
		add(path+".acme.profiles", "profile %q does not allow acme, so it has no ACME directory to offer them in", pr.Name)
		return
	}
	seen := map[string]bool{}
	for j, name := range pr.ACME.Profiles {
		at := fmt.Sprintf("%s.acme.profiles[%d]", path, j)
		other, ok := c.Profile(name)
		switch {
		case !ok:
			add(at, "no profile named %q", name)
		case name == pr.Name:
			add(at, "a directory offers its own profile already")
		case seen[name]:
			add(at, "%q is listed twice", name)
		case !slices.Contains(other.Methods, "acme"):
			add(at, "profile %q does not allow acme", name)
		case other.ACME.RequireEAB && !pr.ACME.RequireEAB:
			add(at, "profile %q requires External Account Binding (acme.require_eab) and %q does not: its accounts would get %q without one", name, pr.Name, name)
		}
		seen[name] = true
	}
}

func (c *Config) validateUpstreams(add func(path, format string, args ...any)) {
	names := map[string]string{}
	for i, ca := range c.CAs {
		names[ca.Name] = fmt.Sprintf("cas[%d]", i)
	}
	for i, u := range c.Upstreams {
		path := fmt.Sprintf("upstreams[%d]", i)
		if !isName(u.Name) {
			add(path+".name", "must be 1-64 characters of a-z, 0-9, '-' and '_', got %q", u.Name)
		}
		// Certificates name their issuer, CA or upstream, in one field.
		if other, dup := names[u.Name]; dup {
			add(path+".name", "%q is also the name of %s", u.Name, other)
		}
		names[u.Name] = path
		if x, err := url.Parse(u.DirectoryURL); err != nil || x.Scheme != "https" || x.Host == "" {
			add(path+".directory_url", "must be an absolute https:// URL, got %q", u.DirectoryURL)
		}
		if !u.AgreeTOS {
			add(path+".agree_tos", "must be true: registering an account agrees to the CA's terms of service")
		}
		if (u.EAB.KID == "") != (u.EAB.HMACFile == "") {
			add(path+".eab", "kid and hmac_file go together")
		}
		positive(add, path+".timeout", u.Timeout)
		switch u.Challenge {
		case "http-01":
		case "dns-01":
			d := u.DNS
			switch d.Provider {
			case "rfc2136":
				hostPort(add, path+".dns.nameserver", d.Nameserver)
				if (d.TSIGKey == "") != (d.TSIGSecretFile == "") {
					add(path+".dns", "tsig_key and tsig_secret_file go together")
				}
			case "exec":
				if d.Program == "" {
					add(path+".dns.program", "required for the exec provider")
				}
			default:
				add(path+".dns.provider", "must be rfc2136 or exec, got %q", d.Provider)
			}
			for j, r := range d.Resolvers {
				hostPort(add, fmt.Sprintf("%s.dns.resolvers[%d]", path, j), r)
			}
			positive(add, path+".dns.propagation_timeout", d.PropagationTimeout)
		default:
			add(path+".challenge", "must be http-01 or dns-01, got %q", u.Challenge)
		}
	}
}

func isName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

func oneOf(add func(path, format string, args ...any), path, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	add(path, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
}

func hostPort(add func(path, format string, args ...any), path, v string) {
	if _, p, err := net.SplitHostPort(v); err != nil || p == "" {
		add(path, "must be host:port or :port, got %q", v)
	}
}

func port(add func(path, format string, args ...any), path string, v int) {
	if v < 1 || v > 65535 {
		add(path, "must be a port number 1-65535, got %d", v)
	}
}

func positive(add func(path, format string, args ...any), path string, d Duration) {
	if d <= 0 {
		add(path, "must be positive, got %s", d)
	}
}

func (s NameSubtrees) validate(path string, add func(path, format string, args ...any)) {
	for i, d := range s.DNS {
		if !validDNSRule(d) {
			add(fmt.Sprintf("%s.dns[%d]", path, i), "must be a lowercase DNS name or .suffix, got %q", d)
		}
	}
	for i, r := range s.IPRanges {
		if _, n, err := net.ParseCIDR(r); err != nil || n.String() != r {
			add(fmt.Sprintf("%s.ip_ranges[%d]", path, i), "must be a CIDR range with no host bits, such as 10.0.0.0/8, got %q", r)
		}
	}
	for i, e := range s.Emails {
		mailbox, host, found := strings.Cut(e, "@")
		if !found {
			host = e
		}
		if found && (mailbox == "" || strings.ContainsAny(mailbox, " <>")) || !validDNSRule(host) || found && strings.HasPrefix(host, ".") {
			add(fmt.Sprintf("%s.emails[%d]", path, i), "must be a mailbox (pki@example.com), a host (example.com) or a .domain, got %q", e)
		}
	}
	for i, d := range s.URIDomains {
		if !validDNSRule(d) {
			add(fmt.Sprintf("%s.uri_domains[%d]", path, i), "must be a lowercase host or .domain, got %q", d)
		}
	}
}

// The scopes of API tokens (api package), which OIDC issuers grant.
var apiScopes = []string{"admin", "issue", "read", "revoke", "approve"}

func (c *Config) validateOIDC(add func(path, format string, args ...any)) {
	names := map[string]bool{}
	for i, o := range c.API.OIDC {
		path := fmt.Sprintf("api.oidc[%d]", i)
		if u, err := url.Parse(o.Issuer); err != nil || u.Scheme != "https" || u.Host == "" {
			add(path+".issuer", "must be an https:// URL, got %q", o.Issuer)
		}
		if o.Audience == "" {
			add(path+".audience", "is required: the tokens must be meant for this gateway")
		}
		if o.JWKSURL != "" {
			if u, err := url.Parse(o.JWKSURL); err != nil || u.Scheme != "https" || u.Host == "" {
				add(path+".jwks_url", "must be an https:// URL, got %q", o.JWKSURL)
			}
		}
		c.validateGrant(path, o.Name, names, o.Scopes, o.Profiles, add)
		if o.MaxLifetime < 0 {
			add(path+".max_lifetime", "must be positive, got %s", o.MaxLifetime)
		}
		for k := range o.Claims {
			if k == "" {
				add(path+".claims", "a claim needs a name")
			}
		}
	}
}

func (c *Config) validateClientCerts(add func(path, format string, args ...any)) {
	names := map[string]bool{}
	for i, cc := range c.API.ClientCerts {
		path := fmt.Sprintf("api.client_certs[%d]", i)
		if p, ok := c.Profile(cc.Profile); !ok {
			add(path+".profile", "no profile named %q", cc.Profile)
		} else if p.CA == "" {
			add(path+".profile", "profile %s is issued by an external CA: client certificates must come from a CA of the gateway", cc.Profile)
		}
		c.validateGrant(path, cc.Name, names, cc.Scopes, cc.Profiles, add)
	}
}

// validateGrant checks an API identity other than a token (api.oidc[],
// api.client_certs[]): its name, unique among those in seen, its scopes,
// and the profiles it is limited to.
func (c *Config) validateGrant(path, name string, seen map[string]bool, scopes, profiles []string, add func(path, format string, args ...any)) {
	if !isName(name) {
		add(path+".name", "must be 1-64 characters of a-z, 0-9, '-' and '_', got %q", name)
	} else if seen[name] {
		add(path+".name", "%q is listed twice", name)
	}
	seen[name] = true
	if len(scopes) == 0 {
		add(path+".scopes", "at least one of %s", strings.Join(apiScopes, ", "))
	}
	for j, s := range scopes {
		if !contains(apiScopes, s) {
			add(fmt.Sprintf("%s.scopes[%d]", path, j), "must be one of %s, got %q", strings.Join(apiScopes, ", "), s)
		}
	}
	if contains(scopes, "admin") && len(profiles) > 0 {
		add(path+".profiles", "an admin scope cannot be limited to profiles")
	}
	for j, p := range profiles {
		if _, ok := c.Profile(p); !ok {
			add(fmt.Sprintf("%s.profiles[%d]", path, j), "no profile named %q", p)
		}
	}
}
