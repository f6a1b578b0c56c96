package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
)

func testProfile(t *testing.T, edit func(p *config.Profile)) *Profile {
	t.Helper()
	yes := true
	p := config.Profile{
		Name: "web", CA: "issuing", Methods: []string{"api"},
		Names: config.Names{
			DNS:        []string{"exact.example.com", ".corp.example.com"},
			IPRanges:   []string{"10.0.0.0/8", "2001:db8::/32"},
			Emails:     []string{"ops@example.com", "@mail.example.com"},
			CommonName: "allow", CommonNameInSAN: &yes, Max: 3,
		},
		KeyTypes:    []string{"ecdsa-p256", "rsa-2048"},
		MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(30 * 24 * time.Hour),
		AutoRenew: config.AutoRenew{RenewBeforeDays: 10},
	}
	if edit != nil {
		edit(&p)
	}
	cp, err := CompileProfile(p)
	if err != nil {
		t.Fatal(err)
	}
	return cp
}

// Each rule accepts what it should and rejects the rest with a message
// naming the rule and the value.
func TestProfileNames(t *testing.T) {
	ips := func(s ...string) []net.IP {
		var out []net.IP
		for _, v := range s {
			out = append(out, net.ParseIP(v))
		}
		return out
	}
	p := testProfile(t, nil)
	wild := testProfile(t, func(p *config.Profile) { p.Names.Wildcards = true })
	any := testProfile(t, func(p *config.Profile) { p.Names.DNS = []string{"*"}; p.Names.Emails = []string{"*"} })
	forbidCN := testProfile(t, func(p *config.Profile) { p.Names.CommonName = "forbid" })
	requireCN := testProfile(t, func(p *config.Profile) { p.Names.CommonName = "require" })
	looseCN := testProfile(t, func(p *config.Profile) { no := false; p.Names.CommonNameInSAN = &no })
	spiffe := testProfile(t, func(p *config.Profile) { p.Names.URIs = []string{"spiffe://example.org/", "urn:example:device:7"} })
	anyURI := testProfile(t, func(p *config.Profile) { p.Names.URIs = []string{"*"} })
	uris := func(s ...string) []*url.URL {
		var out []*url.URL
		for _, v := range s {
			u, err := url.Parse(v)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, u)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		p     *Profile
		n     Names
		kind  errs.Kind // -1: accepted
		rule  string
		value string
	}{
		{"exact name", p, Names{DNS: []string{"exact.example.com"}}, -1, "", ""},
		{"exact rule is not a suffix", p, Names{DNS: []string{"a.exact.example.com"}}, errs.RejectedIdentifier, "names.dns", "a.exact.example.com"},
		{"suffix rule", p, Names{DNS: []string{"host.corp.example.com", "a.b.corp.example.com"}}, -1, "", ""},
		{"suffix rule excludes its base", p, Names{DNS: []string{"corp.example.com"}}, errs.RejectedIdentifier, "names.dns", "corp.example.com"},
		{"lookalike suffix", p, Names{DNS: []string{"evilcorp.example.com"}}, errs.RejectedIdentifier, "names.dns", "evilcorp.example.com"},
		{"other domain", p, Names{DNS: []string{"example.org"}}, errs.RejectedIdentifier, "names.dns", "example.org"},
		{"upper case", p, Names{DNS: []string{"Exact.example.com"}}, errs.BadCSR, "names.dns", "Exact.example.com"},
		{"bad syntax", any, Names{DNS: []string{"bad_name.example.com"}}, errs.BadCSR, "names.dns", "bad_name.example.com"},
		{"any name", any, Names{DNS: []string{"anything.test"}}, -1, "", ""},
		{"wildcard off", p, Names{DNS: []string{"*.corp.example.com"}}, errs.RejectedIdentifier, "names.wildcards", "*.corp.example.com"},
		{"wildcard on", wild, Names{DNS: []string{"*.x.corp.example.com"}}, -1, "", ""},
		{"wildcard base not allowed", wild, Names{DNS: []string{"*.example.org"}}, errs.RejectedIdentifier, "names.dns", "*.example.org"},
		{"nested wildcard", wild, Names{DNS: []string{"*.*.corp.example.com"}}, errs.BadCSR, "names.dns", "*.*.corp.example.com"},
		{"ip in range", p, Names{IPs: ips("10.1.2.3", "2001:db8::1")}, -1, "", ""},
		{"ip out of range", p, Names{IPs: ips("192.168.1.1")}, errs.RejectedIdentifier, "names.ip_ranges", "192.168.1.1"},
		{"mapped ip", p, Names{IPs: ips("::ffff:10.0.0.1")}, -1, "", ""},
		{"exact email", p, Names{Emails: []string{"ops@example.com"}}, -1, "", ""},
		{"domain email", p, Names{Emails: []string{"anyone@mail.example.com"}}, -1, "", ""},
		{"email elsewhere", p, Names{Emails: []string{"ops@example.org"}}, errs.RejectedIdentifier, "names.emails", "ops@example.org"},
		{"not an email", p, Names{Emails: []string{"nobody"}}, errs.BadCSR, "names.emails", "nobody"},
		{"uri under a prefix", spiffe, Names{URIs: uris("spiffe://example.org/ns/prod/sa/web")}, -1, "", ""},
		{"exact uri", spiffe, Names{URIs: uris("urn:example:device:7")}, -1, "", ""},
		{"uri prefix itself", spiffe, Names{URIs: uris("spiffe://example.org/")}, errs.RejectedIdentifier, "names.uris", "spiffe://example.org/"},
		{"uri of another trust domain", spiffe, Names{URIs: uris("spiffe://example.org.evil/x")}, errs.RejectedIdentifier, "names.uris", "spiffe://example.org.evil/x"},
		{"uri not allowed at all", p, Names{URIs: uris("spiffe://example.org/x")}, errs.RejectedIdentifier, "names.uris", "spiffe://example.org/x"},
		{"relative uri", anyURI, Names{URIs: uris("/just/a/path")}, errs.BadCSR, "names.uris", "/just/a/path"},
		{"uri with user information", anyURI, Names{URIs: uris("https://user@example.org/")}, errs.BadCSR, "names.uris", "user@example.org"},
		{"any uri", anyURI, Names{URIs: uris("https://example.org/device/7")}, -1, "", ""},
		{"no names", p, Names{}, errs.BadCSR, "names", "at least one"},
		{"too many", p, Names{DNS: []string{"a.corp.example.com", "b.corp.example.com", "c.corp.example.com", "d.corp.example.com"}}, errs.RejectedIdentifier, "names.max", "4 names"},
		{"duplicate", p, Names{DNS: []string{"a.corp.example.com", "a.corp.example.com"}}, errs.BadCSR, "names", "a.corp.example.com"},
		{"cn repeats san", p, Names{CommonName: "exact.example.com", DNS: []string{"exact.example.com"}}, -1, "", ""},
		{"cn not a san", p, Names{CommonName: "other", DNS: []string{"exact.example.com"}}, errs.BadCSR, "names.common_name_in_san", "other"},
		{"cn free when allowed", looseCN, Names{CommonName: "Device 7", DNS: []string{"exact.example.com"}}, -1, "", ""},
		{"cn forbidden", forbidCN, Names{CommonName: "exact.example.com", DNS: []string{"exact.example.com"}}, errs.BadCSR, "names.common_name", "exact.example.com"},
		{"cn required", requireCN, Names{DNS: []string{"exact.example.com"}}, errs.BadCSR, "names.common_name", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.CheckNames(tc.n)
			if tc.kind == -1 {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if errs.KindOf(err) != tc.kind || !strings.Contains(err.Error(), "rule "+tc.rule+":") || !strings.Contains(err.Error(), tc.value) {
				t.Fatalf("got %s %q; want kind %s naming rule %s and %q", errs.KindOf(err), err, tc.kind, tc.rule, tc.value)
			}
		})
	}
}

func TestProfileKeysAndValidity(t *testing.T) {
	p := testProfile(t, nil)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	r1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	if err := p.CheckKey(p256.Public()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []any{p384.Public(), r1024.Public()} {
		err := p.CheckKey(k)
		if !errs.Is(err, errs.BadCSR) || !strings.Contains(err.Error(), "rule key_types:") {
			t.Fatalf("%T accepted or badly reported: %v", k, err)
		}
	}
	if d, err := p.Validity(0); err != nil || d != 30*24*time.Hour {
		t.Fatalf("default validity %v %v", d, err)
	}
	if d, err := p.Validity(90 * 24 * time.Hour); err != nil || d != 90*24*time.Hour {
		t.Fatalf("max validity %v %v", d, err)
	}
	if _, err := p.Validity(91 * 24 * time.Hour); err == nil || !strings.Contains(err.Error(), "rule max_validity:") {
		t.Fatalf("over the maximum: %v", err)
	}
	nb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := p.RenewAt(nb, nb.Add(90*24*time.Hour)); !got.Equal(nb.Add(80 * 24 * time.Hour)) {
		t.Fatalf("renew at %v", got)
	}
	if got := p.RenewAt(nb, nb.Add(3*24*time.Hour)); !got.Equal(nb.Add(2 * 24 * time.Hour)) {
		t.Fatalf("renew at for a short lifetime %v", got)
	}
}
