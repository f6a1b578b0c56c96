package config

import (
	"strings"
	"testing"
	"time"
)

const minimal = `
listen:
  tls: {auto: true, cert_file: var/tls.pem, key_file: var/tls.key}
signer:
  pkcs11:
    members: [{module: /usr/lib/softhsm/libsofthsm2.so, token_label: gateway}]
    pin_file: var/pin
cas:
  - name: root
  - name: issuing
    parent: root
profiles:
  - {name: default, ca: issuing, methods: [acme, est, scep, api], scep: {challenge_file: var/scep-challenge}}
`

func TestMinimalConfigGetsDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader(minimal), nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen.https", c.Listen.HTTPS, ":8443"},
		{"listen.http", c.Listen.HTTP, ":8080"},
		{"storage.driver", c.Storage.Driver, "sqlite"},
		{"storage.path", c.Storage.Path, "var/gateway.db"},
		{"root key type", c.CAs[0].Key.Type, "ecdsa-p384"},
		{"issuing key type", c.CAs[1].Key.Type, "ecdsa-p256"},
		{"root label", c.CAs[0].Key.Label, "gateway-root"},
		{"tls ca", c.Listen.TLS.CA, "issuing"},
		{"http01 port", c.ACME.Validation.HTTP01Port, 80},
		{"allow private", c.ACME.Validation.AllowPrivateTargets, false},
		{"session wait", c.Signer.PKCS11.SessionWait.D(), 5 * time.Second},
		{"keystore wrap", c.Keystore.Wrap, "token"},
		{"keystore kek label", c.Keystore.KEKLabel, "gateway-kek"},
		{"tidy every", c.Storage.Tidy.Every.D(), time.Hour},
		{"tidy acme orders", c.Storage.Tidy.ACMEOrdersAfter.D(), 30 * 24 * time.Hour},
		{"tidy certificates", c.Storage.Tidy.CertificatesAfter.D(), time.Duration(0)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestUnknownKeysAreRejected(t *testing.T) {
	for _, doc := range []string{
		minimal + "bogus: 1\n",
		strings.Replace(minimal, "listen:", "listen:\n  htps: \":1\"", 1),
		strings.Replace(minimal, "  - name: root", "  - name: root\n    colour: red", 1),
	} {
		_, err := Parse(strings.NewReader(doc), nil)
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("unknown key accepted or badly reported: %v", err)
		}
	}
}

// The KEK is wrapped by the token by default with the pkcs11 signer; the
// software signer has no token to wrap it, and says so if asked to.
func TestKeystoreWrap(t *testing.T) {
	software := strings.Replace(minimal, "signer:\n", "signer:\n  type: software\n  software: {dir: var/keys}\n", 1)
	c, err := Parse(strings.NewReader(software), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Keystore.Wrap != WrapNone {
		t.Errorf("keystore.wrap with the software signer = %q, want none", c.Keystore.Wrap)
	}
	for doc, want := range map[string]string{
		software + "keystore: {wrap: token}\n":       "keystore.wrap: token needs the pkcs11 signer",
		minimal + "keystore: {kek_label: \"a:b\"}\n": "keystore.kek_label:",
	} {
		if _, err := Parse(strings.NewReader(doc), nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse = %v, want %q", err, want)
		}
	}
}

// Every invalid field is reported at once, each with its path.
func TestValidateReportsEveryProblem(t *testing.T) {
	doc := `
log: {format: xml}
listen:
  https: "8443"
  public_url: "ftp://x"
  tls: {auto: true, cert_file: a, key_file: b, ca: nope, ip_addresses: [not-an-ip]}
storage: {driver: mysql, tidy: {every: 1s, acme_orders_after: 2d, certificates_after: -1h, requests_after: -1h}}
signer:
  pkcs11:
    members: [{token_label: gateway, slot: 1}]
    max_sessions: 1
cas:
  - {name: root, key: {type: dsa-1024}}
  - {name: Issuing, parent: ghost, validity: -1h}
  - {name: root}
  - {name: offline, parent: root, external: true}
  - {name: nc-root, name_constraints: {permitted: {dns: [example.com]}}}
  - {name: nc-empty, parent: root, name_constraints: {}}
  - {name: nc-bad, parent: root, name_constraints: {permitted: {dns: [Bad_Name], ip_ranges: [10.0.0.1/8], emails: ["@x", "ok@example.com", ".example.com"]}, excluded: {uri_domains: ["a..b"]}}}
profiles:
  - {name: default, ca: missing, methods: [acme, telnet], names: {uris: ["spiffe://ok.example/", "no-scheme/path", "https://user@host/"]}, certificate_policies: ["1.3.6.1.4.1.99999.1", "1.3.x", "2.23.140.1.2.1", "01.2"], scep: {challenge_url: "ftp://mdm"}, approval: {methods: [acme, est, ftp], retry_after: -1m, expire_after: -1h, notify_url: "ftp://hooks.example", approvals: 11}, notify: {url: "hooks.example/x", events: [issued, expired], expiring_within: -1h}, subject: {organization: " Acme", country: de, locality: "Berlin", province: "Bay\u0007ern", from_csr: [locality, serial_number, title], patterns: {serial_number: "SN-(", common_name: "", organization: "Acme.*"}}}
acme:
  validation: {resolver: "nohost", http01_port: 70000, caa_identities: [Bad_CA, pki.example.net, .example.org]}
  orders_per_account_per_hour: -1
  duplicate_certificates_per_week: -2
  failed_validations_per_hour: -1
keystore: {wrap: hsm}
est: {issuances_per_minute: -3}
scep: {issuances_per_minute: -1}
cmp: {issuances_per_minute: -1}
audit: {checkpoint_every: 30s, forward_url: "ftp://siem", forward_every: 10ms}
api:
  issuances_per_minute: -1
  oidc:
    - {name: ci, issuer: "http://token.example", scopes: [issue, fly], profiles: [ghost]}
    - {name: ci, issuer: "https://token.example", audience: gw, scopes: [admin], profiles: [default], jwks_url: "ftp://x"}
  client_certs:
    - {name: svc, profile: nope, scopes: []}
`
	_, err := Parse(strings.NewReader(doc), nil)
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		"log.format:", "listen.https:", "listen.public_url:", "listen.tls.ca:", "listen.tls.ip_addresses[0]:",
		"storage.driver:", "storage.tidy.every: at least 1m", "storage.tidy.acme_orders_after: at least 8d",
		"storage.tidy.certificates_after: 0 (kept) or at least 1d", "storage.tidy.requests_after: must be 0", "signer.pkcs11.members[0].module:", "signer.pkcs11.members[0]: exactly one",
		"signer.pkcs11: exactly one of pin_file and pin_env", "signer.pkcs11.max_sessions:",
		"cas[0].key.type:", "cas[1].name:", "cas[1].parent: no CA named \"ghost\"", "cas[1].validity:",
		"cas[2].name: \"root\" is also", "cas[3].external: an external CA certifies this CA",
		"cas[4].name_constraints: a root's name constraints are not applied",
		"api.oidc[0].issuer: must be an https:// URL", "api.oidc[0].audience: is required", "api.oidc[0].scopes[1]: must be one of",
		"api.oidc[0].profiles[0]: no profile named \"ghost\"", "api.oidc[1].name: \"ci\" is listed twice", "api.oidc[1].jwks_url:",
		"api.oidc[1].profiles: an admin scope cannot be limited",
		"api.client_certs[0].profile: no profile named \"nope\"", "api.issuances_per_minute: must be 0 (no limit) or more", "est.issuances_per_minute: must be 0", "scep.issuances_per_minute: must be 0", "cmp.issuances_per_minute: must be 0", "api.client_certs[0].scopes: at least one of",
		"audit.checkpoint_every: at least 1m", "audit.forward_url: must be an http:// or https:// URL", "audit.forward_every: at least 1s", "cas[5].name_constraints: names no permitted or excluded subtree",
		"cas[6].name_constraints.permitted.dns[0]:", "cas[6].name_constraints.permitted.ip_ranges[0]: must be a CIDR range with no host bits",
		"cas[6].name_constraints.permitted.emails[0]:", "cas[6].name_constraints.excluded.uri_domains[0]:", "profiles[0].ca:", "profiles[0].methods[1]:",
		"profiles[0].names.uris[1]:", "profiles[0].names.uris[2]:",
		"profiles[0].certificate_policies[1]: must be an OID", "profiles[0].certificate_policies[2]: 2.23.140.1.2.1 is anyPolicy or a CA/B Forum reserved policy",
		"profiles[0].certificate_policies[3]: must be an OID",
		"profiles[0].approval.methods[0]: acme orders are authorized by their challenges",
		"profiles[0].approval.methods[1]: est is not one of the profile's methods",
		"profiles[0].approval.methods[2]: must be est, scep, cmp or api",
		"profiles[0].scep.challenge_url: must be an absolute http:// or https:// URL",
		"profiles[0].approval.retry_after: must not be negative",
		"profiles[0].approval.expire_after: must not be negative",
		"profiles[0].approval.approvals: must be 1 to 10, got 11",
		"profiles[0].notify.url: must be an absolute http:// or https:// URL",
		"profiles[0].notify.expiring_within: must not be negative",
		"profiles[0].notify.events[1]: must be one of issued, renewed, revoked, expiring, got \"expired\"",
		"profiles[0].approval.notify_url: must be an absolute http:// or https:// URL",
		"profiles[0].subject.country: country \"de\" is not two capital letters",
		"profiles[0].subject.organization: organization \" Acme\" is empty or starts or ends with spaces",
		"profiles[0].subject.province: province", "not printable",
		"profiles[0].subject.from_csr[0]: locality is fixed (subject.locality)",
		"profiles[0].subject.from_csr[2]: must be one of country",
		"profiles[0].subject.patterns.serial_number: not a regular expression (RE2 syntax): error parsing regexp: missing closing )",
		"profiles[0].subject.patterns.common_name: empty; leave the attribute out to allow any value",
		"profiles[0].subject.patterns.organization: only common_name and the attributes of subject.from_csr come from a request",
		"acme.validation.resolver:", "acme.validation.http01_port:", "acme.validation.caa_identities[0]: must be a domain name",
		"acme.validation.caa_identities[2]: must be a domain name", "keystore.wrap: must be token or none",
		"acme.orders_per_account_per_hour: must be 0",
		"acme.duplicate_certificates_per_week: must be 0", "acme.failed_validations_per_hour: must be 0",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	env := []string{
		"GATEWAY_LISTEN_HTTPS=127.0.0.1:9443",
		"GATEWAY_LISTEN_PUBLIC_URL=http://ca.example:8080",
		"GATEWAY_STORAGE_DRIVER=postgres",
		"GATEWAY_STORAGE_DSN=postgres://u@h/db",
		"GATEWAY_ACME_VALIDATION_RESOLVER=127.0.0.1:8053",
		"GATEWAY_ACME_VALIDATION_HTTP01_PORT=5002",
		"GATEWAY_ACME_VALIDATION_TLSALPN01_PORT=5001",
		"GATEWAY_ACME_VALIDATION_ALLOW_PRIVATE_TARGETS=true",
		"GATEWAY_SIGNER_PKCS11_SESSION_WAIT=250ms",
		"GATEWAY_CRL_DELTA_VALIDITY=1h",
		"OTHER=ignored",
	}
	c, err := Parse(strings.NewReader(minimal), env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen.HTTPS != "127.0.0.1:9443" || c.Listen.PublicURL != "http://ca.example:8080" ||
		c.Storage.Driver != "postgres" || c.Storage.DSN != "postgres://u@h/db" ||
		c.ACME.Validation.Resolver != "127.0.0.1:8053" || c.ACME.Validation.HTTP01Port != 5002 ||
		c.ACME.Validation.TLSALPN01Port != 5001 || !c.ACME.Validation.AllowPrivateTargets ||
		c.Signer.PKCS11.SessionWait.D() != 250*time.Millisecond || c.CRL.DeltaValidity.D() != time.Hour {
		t.Fatalf("overrides not applied: %+v", c)
	}
	_, err = Parse(strings.NewReader(minimal), []string{"GATEWAY_ACME_VALIDATION_HTTP01_PORT=eighty"})
	if err == nil || !strings.Contains(err.Error(), "GATEWAY_ACME_VALIDATION_HTTP01_PORT") {
		t.Fatalf("bad override not reported with its variable: %v", err)
	}
}

// The keys that DESIGN.md promises can be set from the environment.
func TestContractKeysAreOverridable(t *testing.T) {
	have := map[string]bool{}
	for _, k := range Keys() {
		have[k] = true
	}
	for _, k := range []string{
		"listen.https", "listen.http", "listen.public_url", "storage.driver", "storage.path", "storage.dsn",
		"acme.validation.resolver", "acme.validation.http01_port", "acme.validation.tlsalpn01_port",
		"acme.validation.allow_private_targets",
	} {
		if !have[k] {
			t.Errorf("contract key %s cannot be set from the environment", k)
		}
	}
}

func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "1h30m": 90 * time.Minute, "250ms": 250 * time.Millisecond} {
		d, err := ParseDuration(in)
		if err != nil || d.D() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"", "d", "1.5d", "ten"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

// The profiles an ACME directory offers besides its own
// (draft-ietf-acme-profiles): each must exist, allow acme and not ask
// for more than the directory's accounts bring.
func TestACMEOffers(t *testing.T) {
	good := minimal + `  - {name: short, description: "7-day certificates", ca: issuing, methods: [acme]}
  - {name: front, ca: issuing, methods: [acme], acme: {profiles: [default, short]}}
`
	c, err := Parse(strings.NewReader(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := c.Profile("front"); len(p.ACME.Profiles) != 2 {
		t.Errorf("front offers %v", p.ACME.Profiles)
	}
	bad := minimal + `  - {name: eab, ca: issuing, methods: [acme], acme: {require_eab: true}}
  - {name: rest, ca: issuing, methods: [api]}
  - {name: front, description: "two\nlines", ca: issuing, methods: [acme], acme: {profiles: [ghost, front, eab, rest, default, default]}}
  - {name: apionly, ca: issuing, methods: [api], acme: {profiles: [default]}}
`
	_, err = Parse(strings.NewReader(bad), nil)
	if err == nil {
		t.Fatal("invalid offers accepted")
	}
	for _, want := range []string{
		"profiles[3].description: must be one line",
		`profiles[3].acme.profiles[0]: no profile named "ghost"`,
		"profiles[3].acme.profiles[1]: a directory offers its own profile already",
		`profiles[3].acme.profiles[2]: profile "eab" requires External Account Binding`,
		`profiles[3].acme.profiles[3]: profile "rest" does not allow acme`,
		`profiles[3].acme.profiles[5]: "default" is listed twice`,
		`profiles[4].acme.profiles: profile "apionly" does not allow acme`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "profiles[3].acme.profiles[4]") {
		t.Errorf("the first listing of default was refused:\n%v", err)
	}
}

// Upstreams (external ACME CAs): defaults, and every problem with its
// path.
func TestUpstreams(t *testing.T) {
	good := minimal + `  - {name: public, upstream: le, methods: [acme, api]}
upstreams:
  - {name: le, directory_url: "https://acme.example/dir", agree_tos: true}
`
	c, err := Parse(strings.NewReader(good), nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := c.Upstreams[0]; u.Challenge != "http-01" || u.Timeout.D() != 5*time.Minute {
		t.Errorf("defaults: challenge %q, timeout %s", u.Challenge, u.Timeout)
	}
	bad := minimal + `  - {name: both, ca: issuing, upstream: le, methods: [api]}
  - {name: ghost, upstream: nope, methods: [api]}
  - {name: device, upstream: le, methods: [est, scep], names: {uris: ["spiffe://example.org/"]}, subject: {organization: Acme}}
upstreams:
  - {name: le, directory_url: "https://acme.example/dir", agree_tos: true}
  - {name: issuing, directory_url: "http://plain.example/dir", eab: {kid: k}}
  - name: dns
    directory_url: "https://acme.example/dir"
    agree_tos: true
    challenge: dns-01
    dns: {provider: route53, resolvers: [nohost]}
  - {name: rfc, directory_url: "https://acme.example/dir", agree_tos: true, challenge: dns-01, dns: {provider: rfc2136, tsig_key: k}}
  - {name: odd, directory_url: "https://acme.example/dir", agree_tos: true, challenge: tls-alpn-01}
`
	_, err = Parse(strings.NewReader(bad), nil)
	if err == nil {
		t.Fatal("invalid upstreams accepted")
	}
	for _, want := range []string{
		"profiles[1]: ca and upstream exclude each other", "profiles[2].upstream: no upstream named \"nope\"",
		"profiles[3].methods[1]: scep is not served",
		"profiles[3].names.uris: an external ACME CA issues DNS names and IP addresses, not URIs",
		"profiles[3].subject: an external ACME CA decides the subject",
		"upstreams[1].name: \"issuing\" is also the name of cas[1]", "upstreams[1].directory_url:",
		"upstreams[1].agree_tos:", "upstreams[1].eab: kid and hmac_file go together",
		"upstreams[2].dns.provider: must be rfc2136 or exec", "upstreams[2].dns.resolvers[0]:",
		"upstreams[3].dns.nameserver:", "upstreams[3].dns: tsig_key and tsig_secret_file go together",
		"upstreams[4].challenge: must be http-01 or dns-01",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing problem %q in:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "profiles[3].methods[0]") {
		t.Errorf("est refused for a profile backed by an upstream:\n%v", err)
	}
}
