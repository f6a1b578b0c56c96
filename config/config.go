// Package config is the gateway's typed configuration.
//
// One YAML file is decoded into Config with unknown keys rejected, then
// environment variables override scalar keys (GATEWAY_ + the key path in upper
// case with dots as underscores: listen.https is GATEWAY_LISTEN_HTTPS), then
// defaults fill what is still empty, and Validate reports every problem at
// once, each with its path. Nothing here reads the PIN itself: the config
// names where the PIN comes from, and the signer reads it when it logs in.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of one gateway process.
type Config struct {
	Log      Log       `yaml:"log"`
	Listen   Listen    `yaml:"listen"`
	Storage  Storage   `yaml:"storage"`
	Signer   Signer    `yaml:"signer"`
	CAs      []CA      `yaml:"cas"`
	Profiles []Profile `yaml:"profiles"`
	// Upstreams are external ACME CAs that profiles can be backed by.
	Upstreams []Upstream `yaml:"upstreams"`
	ACME      ACME       `yaml:"acme"`
	Lint      Lint       `yaml:"lint"`
	Keystore  Keystore   `yaml:"keystore"`
	EST       EST        `yaml:"est"`
	SCEP      RateLimit  `yaml:"scep"`
	CMP       RateLimit  `yaml:"cmp"`
	CRL       CRL        `yaml:"crl"`
	OCSP      OCSP       `yaml:"ocsp"`
	Renewal   Renewal    `yaml:"renewal"`
	Audit     Audit      `yaml:"audit"`
	API       API        `yaml:"api"`
}

// API configures the REST API's authentication besides its own tokens.
type API struct {
	// OIDC lists the OpenID Connect issuers whose ID tokens (JWTs) the
	// API takes as bearer tokens: a CI system's workload identity
	// (GitHub Actions, GitLab CI, Kubernetes service accounts) instead
	// of a long-lived API token.
	OIDC []OIDCIssuer `yaml:"oidc"`
	// ClientCerts let TLS client certificates the gateway issued stand
	// for a token: a service that holds a certificate of the profile
	// uses the API without a bearer token.
	ClientCerts []ClientCertAuth `yaml:"client_certs"`
	// IssuancesPerMinute, if positive, is how many certificates each
	// token may issue a minute through the REST API on one replica; more
	// is answered 429. 0: no limit.
	IssuancesPerMinute int `yaml:"issuances_per_minute"`
}

// ClientCertAuth is a profile whose certificates authenticate to the REST
// API, and what they may do there.
type ClientCertAuth struct {
	Name     string   `yaml:"name"`    // the requester is cert:NAME:SUBJECT
	Profile  string   `yaml:"profile"` // active certificates of this profile, issued by a CA of the gateway
	Scopes   []string `yaml:"scopes"`
	Profiles []string `yaml:"profiles"` // none: every profile
}

// OIDCIssuer is one issuer of ID tokens the API trusts, and what its
// tokens may do.
type OIDCIssuer struct {
	Name     string `yaml:"name"`     // the requester is oidc:NAME:SUB
	Issuer   string `yaml:"issuer"`   // the "iss" claim; its keys are found from its discovery document
	Audience string `yaml:"audience"` // an "aud" the token must carry
	// JWKSURL, if set, is where its keys are, instead of the
	// discovery document's jwks_uri.
	JWKSURL string `yaml:"jwks_url"`
	// Claims are claims the token must carry with these values; a value
	// ending in "*" is a prefix.
	Claims   map[string]string `yaml:"claims"`
	Scopes   []string          `yaml:"scopes"`
	Profiles []string          `yaml:"profiles"` // none: every profile
	// MaxLifetime refuses tokens valid longer than this (exp - iat, or
	// exp - now without iat): a leaked long-lived token is worth little
	// (default 24h).
	MaxLifetime Duration `yaml:"max_lifetime"`
}

// Audit configures the sealing of the audit trail (ca.Checkpointer).
type Audit struct {
	// CheckpointEvery is how often gateway serve seals the events since
	// the last checkpoint (default 10m).
	CheckpointEvery Duration `yaml:"checkpoint_every"`
	// KeyLabel is the label of the audit key in the token (ECDSA P-256,
	// made on first use; default gateway-audit).
	KeyLabel string `yaml:"key_label"`
	// ForwardURL, if set, receives the audit trail as it grows
	// (notify.AuditForwarder): a SIEM's HTTP input. ForwardSecretFile
	// holds the key of the HMAC signature of each post; ForwardEvery is
	// how often new events are sent (default 10s).
	ForwardURL        string   `yaml:"forward_url"`
	ForwardSecretFile string   `yaml:"forward_secret_file"`
	ForwardEvery      Duration `yaml:"forward_every"`
}

// Keystore configures how the gateway keeps the private keys it generates
// for requesters (server-side key generation): sealed with AES-256-GCM
// under a key-encryption key kept in KEKFile (created if missing). With
// Wrap "token" (the default with the pkcs11 signer) the file holds that key
// encrypted under an AES-256 key labelled KEKLabel that never leaves the
// token; with "none" it holds the key in the clear (hex).
type Keystore struct {
	KEKFile  string `yaml:"kek_file"`
	Wrap     string `yaml:"wrap"`
	KEKLabel string `yaml:"kek_label"`
}

// The values of Keystore.Wrap.
const (
	WrapToken = "token"
	WrapNone  = "none"
)

// Renewal configures the server-driven renewal job.
type Renewal struct {
	Interval Duration `yaml:"interval"` // how often due certificates are looked for
}

// Lint chooses the zlint lints of the lint gate that every certificate
// passes before the HSM signs it. Nil lists mean the gateway's defaults (see
// the README); an empty list means none.
type Lint struct {
	ExcludeSources []string `yaml:"exclude_sources"`
	ExcludeLints   []string `yaml:"exclude_lints"`
}

// Log configures the structured logger.
type Log struct {
	Format string `yaml:"format"` // text | json
	Level  string `yaml:"level"`  // debug | info | warn | error
}

// Listen configures the two listeners and the URLs put into certificates.
type Listen struct {
	HTTPS     string `yaml:"https"`      // ACME, EST, REST API
	HTTP      string `yaml:"http"`       // CRL, OCSP, CA certificates, SCEP
	PublicURL string `yaml:"public_url"` // base of CDP and AIA URLs
	// Metrics, if set (host:port), serves Prometheus metrics at /metrics
	// over plain HTTP on a listener of its own; empty: not served.
	Metrics         string   `yaml:"metrics"`
	TLS             TLS      `yaml:"tls"`
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// TLS configures the certificate of the HTTPS listener. With Auto the gateway
// issues it from its own issuing CA and renews it before it expires.
type TLS struct {
	Auto        bool     `yaml:"auto"`
	CertFile    string   `yaml:"cert_file"`
	KeyFile     string   `yaml:"key_file"`
	CA          string   `yaml:"ca"` // the CA that issues it when Auto
	DNSNames    []string `yaml:"dns_names"`
	IPAddresses []string `yaml:"ip_addresses"`
	Validity    Duration `yaml:"validity"`
}

// Storage selects the store.
type Storage struct {
	Driver string `yaml:"driver"` // sqlite | postgres
	Path   string `yaml:"path"`   // sqlite file
	DSN    string `yaml:"dsn"`    // postgres connection string
	// Tidy forgets what has outlived its use.
	Tidy StorageTidy `yaml:"tidy"`
}

// StorageTidy says how long finished records are kept (ca.Tidy): each is
// deleted that long after it expired or was decided; 0 keeps them.
type StorageTidy struct {
	// Every is how often gateway serve tidies (default 1h).
	Every Duration `yaml:"every"`
	// ACMEOrdersAfter: ACME orders, with their authorizations and
	// challenges, after the order expired (default 30d; at least 8d, as
	// acme.duplicate_certificates_per_week counts a week of orders).
	ACMEOrdersAfter Duration `yaml:"acme_orders_after"`
	// CertificatesAfter: certificates, revoked or not, with any key the
	// gateway held, after their notAfter (default 0: kept). The audit
	// trail keeps their DER.
	CertificatesAfter Duration `yaml:"certificates_after"`
	// RequestsAfter: enrollment requests after they were decided (default
	// 0: kept).
	RequestsAfter Duration `yaml:"requests_after"`
	// NotificationsAfter: webhook notifications after they were given up
	// (default 30d).
	NotificationsAfter Duration `yaml:"notifications_after"`
}

// Signer configures where CA keys live.
type Signer struct {
	Type     string         `yaml:"type"` // pkcs11 | software
	PKCS11   PKCS11         `yaml:"pkcs11"`
	Software SoftwareSigner `yaml:"software"`
}

// PKCS11 configures the pool of PKCS#11 tokens. Every member holds the same
// key labels; the pool signs with any healthy member.
type PKCS11 struct {
	Members []PKCS11Member `yaml:"members"`
	// PINFile and PINEnv name where the user PIN comes from; exactly one.
	PINFile string `yaml:"pin_file"`
	PINEnv  string `yaml:"pin_env"`
	// MaxSessions is the number of sessions per member.
	MaxSessions int `yaml:"max_sessions"`
	// SessionWait bounds how long a signature waits for a free session.
	SessionWait Duration `yaml:"session_wait"`
	// HealthInterval is how often every member is checked.
	HealthInterval Duration `yaml:"health_interval"`
	// ReconnectInterval is the least time between two attempts to bring a
	// member that is down back.
	ReconnectInterval Duration `yaml:"reconnect_interval"`
}

// PKCS11Member is one module and token.
type PKCS11Member struct {
	Module      string `yaml:"module"` // path to the PKCS#11 library
	TokenLabel  string `yaml:"token_label"`
	TokenSerial string `yaml:"token_serial"`
	Slot        *int   `yaml:"slot"`
}

// SoftwareSigner keeps PEM keys in a directory. It exists for machines
// without any PKCS#11 module and is not for production.
type SoftwareSigner struct {
	Dir string `yaml:"dir"`
}

// CA is one certificate authority of the hierarchy.
type CA struct {
	Name   string `yaml:"name"`
	Parent string `yaml:"parent"` // empty for a root
	// External is a CA certified by a CA outside the gateway (an offline
	// root, a corporate PKI): gateway init makes its key in the token and
	// a certificate request, and `gateway ca import` installs the
	// certificate that CA issued, with the chain above it. It has no
	// parent here; CAs may be listed under it. Its validity is the
	// external CA's to decide.
	External bool     `yaml:"external"`
	Key      Key      `yaml:"key"`
	Subject  Subject  `yaml:"subject"`
	Validity Duration `yaml:"validity"`
	// PathLen is the basicConstraints pathLenConstraint; nil means the
	// default (unlimited for a root, 0 for a subordinate).
	PathLen *int `yaml:"path_len"`
	// CRLMirrors are up to 4 more http:// or https:// URLs of this CA's CRL,
	// listed in the CRL distribution point of certificates it issues after
	// the gateway's own URL, in order.
	CRLMirrors []string `yaml:"crl_mirrors"`
	// NameConstraints go into the CA's certificate (RFC 5280 4.2.1.10,
	// critical) when it is created or renewed, or into its request for an
	// external CA: validators then refuse what it or a CA under it issues
	// outside them, and the issuance core refuses such names before
	// signing. Not for a root, whose own constraints validators ignore.
	NameConstraints *NameConstraints `yaml:"name_constraints"`
	// Lint, if set, replaces the top-level lint choice for the
	// certificates this CA issues.
	Lint *Lint `yaml:"lint"`
	// CRL overrides the top-level CRL schedule for this CA.
	CRL CRLSchedule `yaml:"crl"`
	// OCSP configures this CA's responder.
	OCSP CAOCSP `yaml:"ocsp"`
}

// NameConstraints are the subtrees a CA's certificate permits and
// excludes.
type NameConstraints struct {
	Permitted NameSubtrees `yaml:"permitted"`
	Excluded  NameSubtrees `yaml:"excluded"`
}

// NameSubtrees are name constraints of each kind (RFC 5280 4.2.1.10).
type NameSubtrees struct {
	// DNS: "example.com" is the domain and every name under it;
	// ".example.com" the names under it only.
	DNS []string `yaml:"dns"`
	// IPRanges are CIDR ranges ("10.0.0.0/8", "2001:db8::/32").
	IPRanges []string `yaml:"ip_ranges"`
	// Emails: a mailbox ("pki@example.com"), every mailbox of a host
	// ("example.com"), or of the hosts under a domain (".example.com").
	Emails []string `yaml:"emails"`
	// URIDomains are the hosts of URIs: "example.com" that host,
	// ".example.com" the hosts under it.
	URIDomains []string `yaml:"uri_domains"`
}

// Empty reports whether s constrains nothing.
func (s NameSubtrees) Empty() bool {
	return len(s.DNS)+len(s.IPRanges)+len(s.Emails)+len(s.URIDomains) == 0
}

// CRLSchedule is when a CA's CRL is valid and rebuilt. Zero values take
// the defaults (valid 24h, rebuilt every 6h).
type CRLSchedule struct {
	Validity     Duration `yaml:"validity"`
	RebuildEvery Duration `yaml:"rebuild_every"`
	// Shards partitions the CA's CRL (cas[].crl only): 0 publishes one
	// full CRL; 2 or more assigns each certificate a shard from its
	// serial at issuance and names the shard's CRL in its distribution
	// point. It cannot change while certificates issued under it are
	// valid.
	Shards int `yaml:"shards"`
	// DeltaValidity, when set, publishes delta CRLs valid this long
	// (RFC 5280 5.2.4) beside the full CRL, which is then rebuilt every
	// half of it; 0: none.
	DeltaValidity Duration `yaml:"delta_validity"`
}

// CAOCSP is the OCSP part of a CA.
type CAOCSP struct {
	// SignWithCAKey signs responses with the CA key itself instead of a
	// delegated responder certificate.
	SignWithCAKey bool `yaml:"sign_with_ca_key"`
}

// CRL configures the CRL publisher. Zero values take the defaults in the
// README.
type CRL struct {
	CRLSchedule  `yaml:",inline"`
	Coalesce     Duration `yaml:"coalesce"`      // wait after a revocation so a burst makes one CRL
	PollInterval Duration `yaml:"poll_interval"` // how often other replicas' revocations are looked for
	MaxAge       Duration `yaml:"max_age"`       // Cache-Control max-age cap
	// PublishDir, if set, receives every CRL the process serves, as
	// files laid out like /crl/ (CA.crl, CA.pem, CA/SHARD.crl,
	// CA/delta.crl), replaced atomically: a directory to sync to the
	// mirrors of cas[].crl_mirrors.
	PublishDir string `yaml:"publish_dir"`
}

// OCSP configures the OCSP responder. Zero values take the defaults in the
// README.
type OCSP struct {
	ResponseValidity   Duration `yaml:"response_validity"`
	ResponderValidity  Duration `yaml:"responder_validity"`
	RotateBefore       Duration `yaml:"rotate_before"`
	MaxAge             Duration `yaml:"max_age"`
	PollInterval       Duration `yaml:"poll_interval"`
	MaxCached          int      `yaml:"max_cached"`
	MaxConcurrentSigns int      `yaml:"max_concurrent_signs"`
	SignWait           Duration `yaml:"sign_wait"`
	MaxRequestSize     int      `yaml:"max_request_size"`
	// KeepRevocationEvents: each CA's latest revocation events kept for
	// replicas to follow (ocsp.Config).
	KeepRevocationEvents int64 `yaml:"keep_revocation_events"`
}

// Key names a CA key: its type and its label in the token (the pkcs11: URI
// is derived from the label and the token).
type Key struct {
	Type  string `yaml:"type"` // ecdsa-p256 | ecdsa-p384 | rsa-2048 | rsa-3072 | rsa-4096
	Label string `yaml:"label"`
}

// Subject is a distinguished name. There is no organizational unit: the
// CA/B Forum Baseline Requirements forbid it (7.1.4.2) and zlint rejects it.
type Subject struct {
	CommonName   string `yaml:"common_name"`
	Organization string `yaml:"organization"`
	Country      string `yaml:"country"`
}

// Profile is a certificate profile: what may be issued, by which
// enrollment methods, from which CA.
type Profile struct {
	Name string `yaml:"name"`
	// Description says what the profile is for, in a line: ACME clients
	// see it in the directory's meta.profiles, API clients in GET
	// /api/v1/profiles.
	Description string `yaml:"description"`
	// CA is the gateway CA that signs; Upstream, instead, names an
	// external ACME CA (upstreams[].name) that issues.
	CA       string   `yaml:"ca"`
	Upstream string   `yaml:"upstream"`
	Methods  []string `yaml:"methods"` // acme | est | scep | cmp | api
	Names    Names    `yaml:"names"`
	// KeyTypes the subject key may have: ecdsa-p256, ecdsa-p384, rsa-2048,
	// rsa-3072, rsa-4096 (RSA sizes in between are refused), ed25519.
	KeyTypes        []string `yaml:"key_types"`
	MaxValidity     Duration `yaml:"max_validity"`
	DefaultValidity Duration `yaml:"default_validity"`
	// KeyUsage names: digital_signature, key_encipherment, key_agreement,
	// content_commitment. Empty: derived from the key type.
	KeyUsage []string `yaml:"key_usage"`
	// ExtKeyUsage names: server_auth, client_auth, email_protection,
	// code_signing, time_stamping. Empty: server_auth and client_auth.
	ExtKeyUsage []string `yaml:"ext_key_usage"`
	// CertificatePolicies are policy OIDs (dotted, e.g. "1.3.6.1.4.1.99999.1.2")
	// every certificate of the profile carries in certificatePolicies, after
	// the CA/B Forum one a TLS server certificate gets.
	CertificatePolicies []string `yaml:"certificate_policies"`
	// ServerKeygen lets the gateway generate the subject key (REST API,
	// EST serverkeygen) and keep it for server-driven renewal.
	ServerKeygen bool        `yaml:"server_keygen"`
	AutoRenew    AutoRenew   `yaml:"auto_renew"`
	EST          ProfileEST  `yaml:"est"`
	ACME         ProfileACME `yaml:"acme"`
	SCEP         ProfileSCEP `yaml:"scep"`
	CMP          ProfileCMP  `yaml:"cmp"`
	// Approval holds requests of some methods until an operator approves
	// them (REST API `POST /api/v1/requests/ID/approve`).
	Approval ProfileApproval `yaml:"approval"`
	// Subject is what the subject carries besides the common name.
	Subject ProfileSubject `yaml:"subject"`
	// Notify posts the profile's certificate events to a webhook.
	Notify ProfileNotify `yaml:"notify"`
}

// ProfileNotify tells a webhook of what happens to a profile's
// certificates (package notify), so that a deployment pipeline learns of
// a server-driven renewal without polling, and an inventory or ticketing
// system of each issuance and revocation.
type ProfileNotify struct {
	// URL is the http(s) webhook; empty: none.
	URL string `yaml:"url"`
	// SecretFile, if set, holds the key that signs each post
	// (X-Gateway-Signature: sha256=HMAC-SHA256 of the body).
	SecretFile string `yaml:"secret_file"`
	// Events are what is told: issued, renewed, revoked, expiring.
	// Default: all.
	Events []string `yaml:"events"`
	// ExpiringWithin is how long before its end a certificate nothing
	// renewed is told as expiring (once). Default 14d.
	ExpiringWithin Duration `yaml:"expiring_within"`
}

// NotifyEvents are the certificate events a profile's webhook may be told.
var NotifyEvents = []string{"issued", "renewed", "revoked", "expiring"}

// ProfileSubject sets subject attributes of a profile's certificates:
// fixed values that every certificate carries, and the attributes a
// request may set itself (FromCSR, by their names in SubjectAttributes).
// A request's other subject attributes are ignored, as before.
type ProfileSubject struct {
	Organization       string   `yaml:"organization"`
	OrganizationalUnit string   `yaml:"organizational_unit"`
	Country            string   `yaml:"country"` // ISO 3166 alpha-2
	Province           string   `yaml:"province"`
	Locality           string   `yaml:"locality"`
	FromCSR            []string `yaml:"from_csr"`
	// Patterns are regular expressions (RE2 syntax) that the whole value
	// of an attribute a request sets must match, by attribute name: any of
	// FromCSR, and common_name.
	Patterns map[string]string `yaml:"patterns"`
}

// SubjectAttributes names the subject attributes a profile may fix or take
// from a request, with their longest values (RFC 5280 appendix A upper
// bounds; a country is two letters).
var SubjectAttributes = map[string]int{
	"organization": 64, "organizational_unit": 64, "country": 2, "province": 128, "locality": 128, "serial_number": 64,
}

// SubjectAttributeNames lists SubjectAttributes' names, sorted, for
// messages.
func SubjectAttributeNames() string {
	return strings.Join(slices.Sorted(maps.Keys(SubjectAttributes)), ", ")
}

// Fixed returns the fixed attributes that are set, by name.
func (s ProfileSubject) Fixed() map[string]string {
	out := map[string]string{}
	for name, v := range map[string]string{"organization": s.Organization, "organizational_unit": s.OrganizationalUnit,
		"country": s.Country, "province": s.Province, "locality": s.Locality} {
		if v != "" {
			out[name] = v
		}
	}
	return out
}

// CompileSubjectPattern compiles a subject.patterns expression so that it
// matches whole values only.
func CompileSubjectPattern(expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, errors.New("empty; leave the attribute out to allow any value")
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("not a regular expression (RE2 syntax): %v", err)
	}
	return re, nil
}

// CheckSubjectValue checks the value of a subject attribute, fixed or
// requested: not blank, within the attribute's length, printable
// characters, and two capital letters for a country.
func CheckSubjectValue(name, v string) error {
	max, ok := SubjectAttributes[name]
	switch {
	case !ok:
		return fmt.Errorf("unknown subject attribute %q", name)
	case strings.TrimSpace(v) != v || v == "":
		return fmt.Errorf("%s %q is empty or starts or ends with spaces", name, v)
	case utf8.RuneCountInString(v) > max:
		return fmt.Errorf("%s %q is longer than %d characters", name, v, max)
	case !utf8.ValidString(v) || strings.IndexFunc(v, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("%s %q holds characters that are not printable", name, v)
	case name == "country" && (len(v) != 2 || v[0] < 'A' || v[0] > 'Z' || v[1] < 'A' || v[1] > 'Z'):
		return fmt.Errorf("country %q is not two capital letters (ISO 3166 alpha-2)", v)
	}
	return nil
}

// ProfileApproval makes first enrollments wait for an operator. A request
// of one of Methods passes the profile's rules, is stored and answered
// "pending" (REST API 202, EST 202 with Retry-After, SCEP PENDING); the
// certificate is issued when a token with the approve scope approves it,
// and the client that repeats its request (or polls) gets it.
// Re-enrollments signed with a current certificate (EST simplereenroll,
// SCEP RenewalReq) and server-driven renewals are not held: their names
// were approved with the certificate they renew.
type ProfileApproval struct {
	// Methods whose requests wait: est, scep, api. ACME is not among them:
	// an ACME order is authorized by its challenges.
	Methods []string `yaml:"methods"`
	// RetryAfter is what clients are told to wait before asking again
	// (EST and REST Retry-After). Default 5m.
	RetryAfter Duration `yaml:"retry_after"`
	// ExpireAfter ends requests nobody decided within it (status
	// expired; the client's next attempt makes a new request). Default 7d.
	ExpireAfter Duration `yaml:"expire_after"`
	// NotifyURL, if set, is an http(s) webhook told of each request that
	// starts waiting (package notify: JSON with a chat-ready "text").
	NotifyURL string `yaml:"notify_url"`
	// NotifySecretFile, if set, holds the key that signs each
	// notification (X-Gateway-Signature: sha256=HMAC-SHA256 of the body).
	NotifySecretFile string `yaml:"notify_secret_file"`
	// Approvals is how many operators must approve a request, each other
	// than the requester and the others (four eyes and more). Default 1.
	Approvals int `yaml:"approvals"`
}

// Upstream is an external ACME CA (Let's Encrypt, ZeroSSL, step-ca...)
// that the gateway drives as an ACME client (lego) for the profiles that
// name it. The external CA decides validity, key usage and extensions;
// the profile's rules on methods, names and key types still apply first.
type Upstream struct {
	Name         string `yaml:"name"`
	DirectoryURL string `yaml:"directory_url"`
	// Email is the account's contact (optional).
	Email string `yaml:"email"`
	// AgreeTOS must be true: registering agrees to the CA's terms of
	// service on the operator's behalf.
	AgreeTOS bool `yaml:"agree_tos"`
	// RootsFile is a PEM file of roots that the directory's TLS
	// certificate must chain to (a private ACME CA); empty: the system's.
	RootsFile string `yaml:"roots_file"`
	// EAB binds the account to one at the CA (RFC 8555 section 7.3.4).
	EAB UpstreamEAB `yaml:"eab"`
	// ACMEProfile asks the CA for one of its certificate profiles
	// (draft-ietf-acme-profiles), such as Let's Encrypt's "tlsserver".
	ACMEProfile string `yaml:"acme_profile"`
	// Challenge is http-01 (the CA fetches the token from the gateway's
	// HTTP listener, so port 80 of every name must reach it) or dns-01.
	Challenge string      `yaml:"challenge"`
	DNS       UpstreamDNS `yaml:"dns"`
	// Timeout bounds one issuance (order, validation, finalization).
	Timeout Duration `yaml:"timeout"`
}

// UpstreamEAB is an External Account Binding: the key ID and a file
// holding the base64url HMAC key the CA gave.
type UpstreamEAB struct {
	KID      string `yaml:"kid"`
	HMACFile string `yaml:"hmac_file"`
}

// UpstreamDNS configures how dns-01 TXT records are published.
type UpstreamDNS struct {
	// Provider is rfc2136 (dynamic updates, RFC 2136, optionally signed
	// with TSIG) or exec (Program is run as `PROGRAM present FQDN VALUE`
	// and `PROGRAM cleanup FQDN VALUE`).
	Provider   string `yaml:"provider"`
	Nameserver string `yaml:"nameserver"` // rfc2136: host:port
	// TSIGKey names the TSIG key; TSIGSecretFile holds its base64
	// secret; TSIGAlgorithm defaults to hmac-sha256.
	TSIGKey        string `yaml:"tsig_key"`
	TSIGSecretFile string `yaml:"tsig_secret_file"`
	TSIGAlgorithm  string `yaml:"tsig_algorithm"`
	Program        string `yaml:"program"` // exec
	// Resolvers (host:port) are asked whether the record is visible
	// before the CA is told to look; empty: the system's.
	Resolvers []string `yaml:"resolvers"`
	// SkipAuthoritativeCheck waits for the record on Resolvers alone, not
	// on the zone's authoritative servers too (split-horizon DNS).
	SkipAuthoritativeCheck bool `yaml:"skip_authoritative_check"`
	// PropagationTimeout bounds that wait.
	PropagationTimeout Duration `yaml:"propagation_timeout"`
}

// ProfileSCEP is the SCEP part of a profile (RFC 8894).
type ProfileSCEP struct {
	// ChallengeFile holds the challengePassword a device's first
	// enrollment (PKCSReq) must carry. Without it the profile takes no
	// first enrollments over SCEP, only renewals (RenewalReq), which are
	// signed with the certificate being renewed.
	ChallengeFile string `yaml:"challenge_file"`
	// ChallengeURL, if set, is asked about a challengePassword that is
	// neither the profile's nor a one-time one: an MDM (Intune, Jamf, a
	// device inventory) that handed the device its own challenge says
	// whether to enroll it. ChallengeSecretFile signs the request.
	ChallengeURL        string `yaml:"challenge_url"`
	ChallengeSecretFile string `yaml:"challenge_secret_file"`
	// RevokeOnRenewal revokes (superseded) the certificate a RenewalReq
	// replaces.
	RevokeOnRenewal bool `yaml:"revoke_on_renewal"`
}

// ProfileCMP is the CMP part of a profile (package protocols/cmp).
type ProfileCMP struct {
	// Reference names the shared secret in the requests (senderKID, the
	// -ref of openssl cmp).
	Reference string `yaml:"reference"`
	// SecretFile holds the shared secret that protects requests and
	// answers (PasswordBasedMac).
	SecretFile string `yaml:"secret_file"`
}

// ProfileACME is the ACME part of a profile.
type ProfileACME struct {
	// RequireEAB makes new accounts present an External Account Binding
	// key (`gateway acme eab create`).
	RequireEAB bool `yaml:"require_eab"`
	// Profiles are other profiles this profile's ACME directory offers
	// (draft-ietf-acme-profiles): an order that names one in its
	// "profile" field is issued under it, with its rules; an order that
	// names none is issued under this profile.
	Profiles []string `yaml:"profiles"`
}

// EST configures the EST server (RFC 7030).
type EST struct {
	// DefaultProfile answers at /.well-known/est/... without a label; empty
	// means the profile named "default" if it allows est.
	DefaultProfile string `yaml:"default_profile"`
	// MaxBodyBytes caps request bodies (0: 64 KiB).
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// UpstreamWait is how long an enrollment under a profile backed by an
	// external ACME CA waits for the certificate before it is answered
	// 202 with Retry-After (0: 10s).
	UpstreamWait Duration `yaml:"upstream_wait"`
	// IssuancesPerMinute, if positive, is how many certificates each EST
	// user (or client certificate, or renewed subject) may get a minute
	// from one replica; more is answered 429. 0: no limit.
	IssuancesPerMinute int `yaml:"issuances_per_minute"`
}

// RateLimit is the issuance rate limit of a protocol whose requests name
// no user (scep, cmp): each subject may be issued IssuancesPerMinute
// certificates a minute under a profile on one replica; more is refused.
// 0: no limit.
type RateLimit struct {
	IssuancesPerMinute int `yaml:"issuances_per_minute"`
}

// ProfileEST is the EST part of a profile.
type ProfileEST struct {
	// Auth lists the accepted methods: basic, client_cert (default both).
	Auth []string `yaml:"auth"`
	// RequireAllAuth makes every method of Auth necessary, not any one.
	RequireAllAuth bool `yaml:"require_all_auth"`
	// BootstrapCAs is a PEM file of CAs (manufacturers) whose client
	// certificates are accepted besides the gateway's own.
	BootstrapCAs string `yaml:"bootstrap_cas"`
	// BindCSRToClientCert requires every name of the CSR to be one of the
	// authenticating client certificate's.
	BindCSRToClientCert bool `yaml:"bind_csr_to_client_cert"`
	// RevokeOnRenewal revokes (superseded) the certificate a
	// simplereenroll replaces.
	RevokeOnRenewal bool `yaml:"revoke_on_renewal"`
	// ChannelBinding requires the connection's channel binding in the
	// CSR's challengePassword (RFC 7030 3.5): tls-unique on TLS 1.2,
	// tls-exporter (RFC 9266) on TLS 1.3.
	ChannelBinding bool `yaml:"channel_binding"`
}

// Names is a profile's identifier policy.
type Names struct {
	// DNS rules: "host.example.com" allows that name; ".example.com" any
	// name under example.com (not example.com itself); "*" any DNS name.
	DNS []string `yaml:"dns"`
	// Wildcards allows "*.name" SANs whose base name a DNS rule allows.
	Wildcards bool `yaml:"wildcards"`
	// IPRanges in CIDR notation; an IP SAN must fall in one.
	IPRanges []string `yaml:"ip_ranges"`
	// Emails: "user@example.com" allows that address, "@example.com" any
	// address at that domain, "*" any address.
	Emails []string `yaml:"emails"`
	// URIs: "spiffe://example.org/" (ending in "/") allows any URI under
	// that prefix, "urn:example:device" that URI, "*" any absolute URI
	// (SPIFFE IDs, URNs).
	URIs []string `yaml:"uris"`
	// CommonName: forbid, allow or require a subject CN.
	CommonName string `yaml:"common_name"`
	// CommonNameInSAN requires a CN to repeat one of the SANs (default true).
	CommonNameInSAN *bool `yaml:"common_name_in_san"`
	// Max is the most SANs one certificate may carry.
	Max int `yaml:"max"`
}

// AutoRenew configures server-driven renewal of certificates whose key the
// gateway holds.
type AutoRenew struct {
	// Enabled is the default for new certificates; each can be switched.
	Enabled bool `yaml:"enabled"`
	// RenewBeforeDays is how long before notAfter the gateway renews.
	RenewBeforeDays int `yaml:"renew_before_days"`
}

// ACME configures the ACME server. Zero durations take the defaults of
// the acme package (documented in the README).
type ACME struct {
	Validation     ACMEValidation `yaml:"validation"`
	NonceLifetime  Duration       `yaml:"nonce_lifetime"`
	OrderLifetime  Duration       `yaml:"order_lifetime"`
	RetryAfter     Duration       `yaml:"retry_after"`
	TermsOfService string         `yaml:"terms_of_service"` // URL; if set, new accounts must agree
	Website        string         `yaml:"website"`
	// OrdersPerAccountPerHour caps the orders one account creates in an
	// hour (rateLimited beyond); 0 is no limit.
	OrdersPerAccountPerHour int `yaml:"orders_per_account_per_hour"`
	// DuplicateCertificatesPerWeek caps the certificates issued over ACME
	// for one exact set of names in a profile in 7 days, whatever the
	// account (rateLimited beyond; renewals naming what they replace are
	// exempt); 0 is no limit.
	DuplicateCertificatesPerWeek int `yaml:"duplicate_certificates_per_week"`
	// FailedValidationsPerHour caps the validations of one identifier by
	// one account that may fail in an hour (rateLimited beyond); 0 is no
	// limit.
	FailedValidationsPerHour int `yaml:"failed_validations_per_hour"`
}

// ACMEValidation configures challenge validation.
type ACMEValidation struct {
	Resolver            string `yaml:"resolver"` // host:port; empty = system resolver
	HTTP01Port          int    `yaml:"http01_port"`
	TLSALPN01Port       int    `yaml:"tlsalpn01_port"`
	AllowPrivateTargets bool   `yaml:"allow_private_targets"`
	// Timeout bounds one challenge validation.
	Timeout Duration `yaml:"timeout"`
	// MaxHTTPBody caps how much of an http-01 answer is read.
	MaxHTTPBody int `yaml:"max_http_body"`
	// CAAIdentities are the issuer domain names by which CAA records
	// (RFC 8659) may let this gateway issue; with any, a DNS name is
	// issued only if its CAA records allow one of them. Empty: CAA is not
	// checked.
	CAAIdentities []string `yaml:"caa_identities"`
}

// Load reads the file at path, applies environment overrides from environ
// (os.Environ() in production) and defaults, and validates the result.
func Load(path string, environ []string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, environ)
}

// Parse is Load on a reader.
func Parse(r io.Reader, environ []string) (*Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := applyEnv(&c, environ); err != nil {
		return nil, err
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// UpstreamNamed returns the upstream with the given name.
func (c *Config) UpstreamNamed(name string) (Upstream, bool) {
	for _, u := range c.Upstreams {
		if u.Name == name {
			return u, true
		}
	}
	return Upstream{}, false
}

// CA returns the CA with the given name.
func (c *Config) CA(name string) (CA, bool) {
	for _, ca := range c.CAs {
		if ca.Name == name {
			return ca, true
		}
	}
	return CA{}, false
}

// Profile returns the certificate profile named name.
func (c *Config) Profile(name string) (Profile, bool) {
	for _, p := range c.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}
