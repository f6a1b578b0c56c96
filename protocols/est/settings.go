package est

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
)

// Authentication methods a profile may accept (ProfileSettings.Auth).
const (
	// AuthBasic is HTTP Basic with a credential of the profile
	// (`gateway est user add`), RFC 7030 section 3.2.3.
	AuthBasic = "basic"
	// AuthClientCert is a TLS client certificate (RFC 7030 section 3.3.2)
	// issued by the gateway under the same profile, or by one of the
	// profile's bootstrap CAs.
	AuthClientCert = "client_cert"
)

// DefaultUpstreamWait is Settings.UpstreamWait unless configured;
// maxUpstreamWait bounds it.
const (
	DefaultUpstreamWait = 10 * time.Second
	maxUpstreamWait     = 5 * time.Minute
)

// DefaultMaxBodyBytes caps a request body. A PKCS#10 request with an RSA
// 4096 key and a hundred SANs is well under 16 KiB, base64 and all.
const DefaultMaxBodyBytes = 64 << 10

// Settings is the EST server's configuration, which cmd/gateway builds
// from the keys named below (DefaultSettings, then the configuration).
type Settings struct {
	// DefaultProfile answers at /.well-known/est/{operation} without a
	// label (RFC 7030 section 3.2.2). "" serves labelled URLs only.
	// Key: est.default_profile.
	DefaultProfile string
	// MaxBodyBytes caps request bodies; a longer one is answered 413.
	// Key: est.max_body_bytes (0 = DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// UpstreamWait is how long an enrollment under a profile backed by an
	// external ACME CA waits for its certificate before it is answered
	// 202 with Retry-After: an http-01 validation usually ends within the
	// default, a dns-01 record that propagates slowly does not, and a
	// device cannot hold its connection for minutes. Key:
	// est.upstream_wait (0 = DefaultUpstreamWait).
	UpstreamWait time.Duration
	// Profiles holds the EST settings of profiles; a profile that allows
	// "est" and is not listed gets DefaultProfileSettings.
	Profiles map[string]ProfileSettings
}

// ProfileSettings is the EST part of one profile.
type ProfileSettings struct {
	// Auth lists the methods accepted for simpleenroll and serverkeygen:
	// AuthBasic, AuthClientCert. Key: profiles[i].est.auth.
	Auth []string
	// RequireAll makes every method of Auth necessary instead of any one
	// (a manufacturer certificate and a password, say).
	// Key: profiles[i].est.require_all_auth.
	RequireAll bool
	// BootstrapCAFile is a PEM file of CA certificates whose client
	// certificates are accepted besides the gateway's own (manufacturer
	// IDevID CAs). Key: profiles[i].est.bootstrap_cas.
	BootstrapCAFile string
	// BindCSRToClientCert requires, of a request authenticated by a client
	// certificate, that every name of the CSR (common name and SANs) be one
	// of the client certificate's. Key: profiles[i].est.bind_csr_to_client_cert.
	BindCSRToClientCert bool
	// RevokeOnRenewal revokes the certificate a simplereenroll replaces
	// (reason superseded); by default it stays valid until it expires.
	// Key: profiles[i].est.revoke_on_renewal.
	RevokeOnRenewal bool
	// RequireChannelBinding requires the channel binding of the
	// connection in the CSR's challengePassword (RFC 7030 section 3.5):
	// tls-unique on TLS 1.2, tls-exporter (RFC 9266) on TLS 1.3. Key:
	// profiles[i].est.channel_binding.
	RequireChannelBinding bool
}

// DefaultProfileSettings accepts HTTP Basic and client certificates, keeps
// renewed certificates valid and does not require channel binding.
func DefaultProfileSettings() ProfileSettings {
	return ProfileSettings{Auth: []string{AuthBasic, AuthClientCert}}
}

// DefaultSettings serves every profile of the core that allows "est" with
// DefaultProfileSettings, and a profile named "default", if it allows
// "est", without a label.
func DefaultSettings(profiles map[string]*ca.Profile) Settings {
	s := Settings{MaxBodyBytes: DefaultMaxBodyBytes, UpstreamWait: DefaultUpstreamWait, Profiles: map[string]ProfileSettings{}}
	if p, ok := profiles["default"]; ok && p.Allows("est") {
		s.DefaultProfile = "default"
	}
	return s
}

// profileState is a profile served over EST, with its settings compiled.
type profileState struct {
	name       string
	profile    *ca.Profile
	authority  *ca.Authority // nil for a profile backed by an external CA
	set        ProfileSettings
	basic      bool
	clientCert bool
	bootstrap  *x509.CertPool      // nil without bootstrap CAs
	cacerts    *ca.Derived[[]byte] // the cacerts answer, DER; nil for an external CA (upstreamCACerts)
	csrattrs   []byte              // the csrattrs answer, DER; nil for none
}

// compile checks settings against the profiles of the core and loads the
// bootstrap CAs. It reports every problem at once, each with its key.
func compile(set Settings, profiles map[string]*ca.Profile, cas map[string]*ca.Authority) (map[string]*profileState, error) {
	var problems []string
	add := func(path, format string, args ...any) {
		problems = append(problems, path+": "+fmt.Sprintf(format, args...))
	}
	if set.MaxBodyBytes < 0 {
		add("est.max_body_bytes", "must not be negative, got %d", set.MaxBodyBytes)
	}
	if set.UpstreamWait < 0 || set.UpstreamWait > maxUpstreamWait {
		add("est.upstream_wait", "must be 0 (the default, %s) to %s, got %s", DefaultUpstreamWait, maxUpstreamWait, set.UpstreamWait)
	}
	if d := set.DefaultProfile; d != "" {
		if p, ok := profiles[d]; !ok || !p.Allows("est") {
			add("est.default_profile", "no profile %q that allows est", d)
		}
	}
	names := make([]string, 0, len(set.Profiles))
	for n := range set.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if p, ok := profiles[n]; !ok || !p.Allows("est") {
			add("profiles."+n+".est", "the profile does not exist or does not allow est")
		}
	}

	out := map[string]*profileState{}
	for name, p := range profiles {
		if !p.Allows("est") {
			continue
		}
		ps, ok := set.Profiles[name]
		if !ok {
			ps = DefaultProfileSettings()
		}
		path := "profiles." + name + ".est"
		st := &profileState{name: name, profile: p, authority: cas[p.CA], set: ps}
		if st.authority == nil && p.Upstream == "" {
			add(path, "CA %q is not loaded", p.CA)
		}
		if len(ps.Auth) == 0 {
			add(path+".auth", "at least one of %s, %s", AuthBasic, AuthClientCert)
		}
		for i, a := range ps.Auth {
			switch a {
			case AuthBasic:
				st.basic = true
			case AuthClientCert:
				st.clientCert = true
			default:
				add(fmt.Sprintf("%s.auth[%d]", path, i), "must be %s or %s, got %q", AuthBasic, AuthClientCert, a)
			}
		}
		if ps.BootstrapCAFile != "" {
			if !st.clientCert {
				add(path+".bootstrap_cas", "needs %s in auth", AuthClientCert)
			}
			pool, err := loadPool(ps.BootstrapCAFile)
			if err != nil {
				add(path+".bootstrap_cas", "%v", err)
			}
			st.bootstrap = pool
		}
		if ps.BindCSRToClientCert && !st.clientCert {
			add(path+".bind_csr_to_client_cert", "needs %s in auth", AuthClientCert)
		}
		out[name] = st
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, errs.New(errs.Config, "EST configuration:\n  %s", strings.Join(problems, "\n  "))
	}
	return out, nil
}

// loadPool reads a PEM file of CA certificates.
func loadPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %v", path, n+1, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("%s: certificate %d (%s) is not a CA certificate", path, n+1, c.Subject)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s: no PEM certificate", path)
	}
	return pool, nil
}
