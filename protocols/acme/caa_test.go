package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/test/teststore"
)

// With acme.validation.caa_identities, an authorization is valid only
// where CAA (RFC 8659) lets one of them issue: the relevant record set is
// the nearest up the name's parents; issuewild rules a wildcard where
// present; an unknown critical property forbids; no record, or records
// about other things than issuing, allow. A refusal is a caa problem
// naming the record, and the order turns invalid.
func TestCAA(t *testing.T) {
	f, dns, h01, c := caaFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	acct, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS)
	if err != nil {
		t.Fatal(err)
	}
	dns.setCAA("ours.test", caaRecord{0, "issue", "pki.example.net; account=1"}, caaRecord{0, "iodef", "mailto:sec@ours.test"})
	dns.setCAA("theirs.test", caaRecord{0, "issue", "letsencrypt.org"})
	dns.setCAA("nobody.test", caaRecord{0, "issue", ";"})
	dns.setCAA("report.test", caaRecord{0, "iodef", "mailto:sec@report.test"})
	dns.setCAA("critical.test", caaRecord{128, "tbs", "x"}, caaRecord{0, "issue", "pki.example.net"})
	dns.setCAA("wild.test", caaRecord{0, "issue", "pki.example.net"}, caaRecord{0, "issuewild", "letsencrypt.org"})
	// RFC 8657: a record naming the gateway for one account, or for some
	// validation methods only.
	dns.setCAA("mine.test", caaRecord{0, "issue", "pki.example.net; accounturi=" + acct.URI})
	dns.setCAA("notmine.test", caaRecord{0, "issue", "pki.example.net; accounturi=https://elsewhere.example/acct/1"})
	dns.setCAA("dnsonly.test", caaRecord{0, "issue", "pki.example.net; validationmethods=dns-01"})
	dns.setCAA("httpok.test", caaRecord{0, "issue", "pki.example.net; validationmethods=dns-01,http-01"})
	authorize := func(name string) error {
		t.Helper()
		_, err := authorizeHTTP01(ctx, t, c, dns, h01, name)
		return err
	}
	for _, tc := range []struct {
		name string
		want string // "" for allowed
	}{
		{"www.ours.test", ""},
		{"a.b.ours.test", ""},
		{"plain.test", ""}, // no CAA anywhere
		{"www.report.test", ""},
		{"www.theirs.test", "CAA issue records at theirs.test let letsencrypt.org issue for www.theirs.test, not this gateway (pki.example.net)"},
		{"x.y.theirs.test", "at theirs.test"},
		{"nobody.test", `"" (no CA)`},
		{"critical.test", `critical property "tbs"`},
		{"www.wild.test", ""},
		{"*.wild.test", "CAA issuewild records at wild.test let letsencrypt.org issue"},
		{"www.mine.test", ""},
		{"www.notmine.test", "CAA issue records at notmine.test name this gateway for www.notmine.test, but only for the account https://elsewhere.example/acct/1"},
		{"www.dnsonly.test", "only after validation by dns-01, not http-01"},
		{"www.httpok.test", ""},
	} {
		err := authorize(tc.name)
		var ae *xacme.AuthorizationError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v, want valid", tc.name, err)
		case tc.want != "" && (!errors.As(err, &ae) || !strings.Contains(err.Error(), "caa") || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want a caa problem saying %q", tc.name, err, tc.want)
		}
	}

	// An order of a profile backed by an external CA leaves CAA to that
	// CA, which checks it under its own identities.
	p, err := ca.CompileProfile(func() config.Profile { p := testProfile(); p.Name, p.CA, p.Upstream = "ext", "", "ext-ca"; return p }())
	if err != nil {
		t.Fatal(err)
	}
	f.core.Profiles["ext"] = p
	ext := &xacme.Client{Key: c.Key, DirectoryURL: f.ts.URL + "/acme/ext/directory", HTTPClient: c.HTTPClient}
	if _, err := ext.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	c = ext
	if err := authorize("www.theirs.test"); err != nil {
		t.Errorf("an order for an external CA: %v, want valid whatever CAA names", err)
	}
}

// A resolver that does not answer is a dns problem: a CA must not issue
// when it cannot tell what CAA says.
func TestCAALookupFailure(t *testing.T) {
	c := newCAAChecker([]string{"pki.example.net"}, "127.0.0.1:1")
	c.client.Timeout = 200 * time.Millisecond
	err := c.check(t.Context(), "www.example.com", false, "https://gw.example/acme/default/acct/1", "http-01")
	p, ok := toProblem(err)
	if !ok || p.Type != probDNS || !strings.Contains(p.Detail, "CAA lookup of www.example.com failed") {
		t.Fatalf("check() = %v, want a dns problem", err)
	}
	if newCAAChecker(nil, "") != nil {
		t.Error("a checker without identities")
	}
}

// authorizeHTTP01 orders name and answers its challenge: dns-01 for a
// wildcard, http-01 otherwise. It returns the order and the outcome of
// the authorization.
func authorizeHTTP01(ctx context.Context, t *testing.T, c *xacme.Client, dns *dnsServer, h01 *http01Server, name string) (*xacme.Order, error) {
	t.Helper()
	o, err := c.AuthorizeOrder(ctx, []xacme.AuthzID{{Type: "dns", Value: name}})
	if err != nil {
		t.Fatalf("AuthorizeOrder(%s): %v", name, err)
	}
	z, err := c.GetAuthorization(ctx, o.AuthzURLs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range z.Challenges {
		switch {
		case ch.Type == "dns-01" && z.Wildcard:
			rec, _ := c.DNS01ChallengeRecord(ch.Token)
			dns.setTXT("_acme-challenge."+z.Identifier.Value, rec)
		case ch.Type == "http-01" && !z.Wildcard:
			body, _ := c.HTTP01ChallengeResponse(ch.Token)
			h01.set(c.HTTP01ChallengePath(ch.Token), body)
		default:
			continue
		}
		if _, err := c.Accept(ctx, ch); err != nil {
			t.Fatalf("Accept: %v", err)
		}
	}
	_, err = c.WaitAuthorization(ctx, o.AuthzURLs[0])
	return o, err
}

// CAA is looked up again at finalization when the challenge validated
// more than 8 hours before (Baseline Requirements 3.2.2.8): a record
// changed since then refuses the order with a caa problem, and the order
// turns invalid; a fresher validation is not looked up again.
func TestCAARecheckAtFinalize(t *testing.T) {
	f, dns, h01, c := caaFixture(t)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	finalize := func(o *xacme.Order, name string) error {
		t.Helper()
		if _, err := c.WaitOrder(ctx, o.URI); err != nil {
			t.Fatalf("WaitOrder(%s): %v", name, err)
		}
		ck, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, ck)
		_, _, err := c.CreateOrderCert(ctx, o.FinalizeURL, csr, false)
		return err
	}

	dns.setCAA("fresh.test", caaRecord{0, "issue", "pki.example.net"})
	dns.setCAA("stale.test", caaRecord{0, "issue", "pki.example.net"})
	fresh, err := authorizeHTTP01(ctx, t, c, dns, h01, "www.fresh.test")
	if err != nil {
		t.Fatal(err)
	}
	stale, err := authorizeHTTP01(ctx, t, c, dns, h01, "www.stale.test")
	if err != nil {
		t.Fatal(err)
	}
	// Both domains now name another CA only.
	dns.setCAA("fresh.test", caaRecord{0, "issue", "letsencrypt.org"})
	dns.setCAA("stale.test", caaRecord{0, "issue", "letsencrypt.org"})

	f.clock.Advance(7 * time.Hour)
	if err := finalize(fresh, "www.fresh.test"); err != nil {
		t.Errorf("finalize 7 hours after the validation: %v, want the certificate", err)
	}
	f.clock.Advance(2 * time.Hour)
	err = finalize(stale, "www.stale.test")
	var ae *xacme.Error
	if !errors.As(err, &ae) || ae.ProblemType != errNS+"caa" || !strings.Contains(ae.Detail, "let letsencrypt.org issue for www.stale.test") {
		t.Fatalf("finalize 9 hours after the validation: %v, want a caa problem", err)
	}
	o, err := c.GetOrder(ctx, stale.URI)
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != xacme.StatusInvalid {
		t.Errorf("order %s after the refusal, want invalid", o.Status)
	}
}

// caaFixture is an ACME server that checks CAA for pki.example.net
// through an in-process DNS server, an http-01 responder, and a client
// of it with a new key.
func caaFixture(t *testing.T) (*fixture, *dnsServer, *http01Server, *xacme.Client) {
	dns := startDNS(t)
	h01 := startHTTP01(t)
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{Resolver: dns.addr, HTTP01Port: h01.port, AllowPrivateTargets: true,
		CAAIdentities: []string{"pki.example.net"}}, Settings{RetryAfter: 100 * time.Millisecond, ValidationHeadStart: 50 * time.Millisecond})
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &xacme.Client{Key: key, DirectoryURL: f.dir, HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: f.tsRoots()}}}}
	return f, dns, h01, c
}
