package ca_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// A CA configured with name constraints carries them, critical, in its
// certificate; the core refuses a name outside them before anything is
// signed, saying which name and which subtrees; and openssl refuses a
// certificate outside them that the CA key signed anyway.
func TestNameConstraints(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		cas := coretest.DefaultCAs()
		cas[1].NameConstraints = &config.NameConstraints{
			Permitted: config.NameSubtrees{DNS: []string{"example.com", ".internal.test"}, IPRanges: []string{"10.0.0.0/8"}, URIDomains: []string{".example.com"}},
			Excluded:  config.NameSubtrees{DNS: []string{"secret.example.com"}, IPRanges: []string{"10.9.0.0/16"}},
		}
		yes := true
		env := coretest.New(t, st, coretest.Options{CAs: cas, Profiles: []config.Profile{{
			Name: "any", CA: "issuing", Methods: []string{"api"},
			Names:    config.Names{DNS: []string{"*"}, IPRanges: []string{"0.0.0.0/0"}, URIs: []string{"spiffe://"}, CommonName: "allow", CommonNameInSAN: &yes, Max: 10},
			KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(30 * 24 * time.Hour),
			ServerKeygen: true,
		}}})
		key := &countingKey{Key: env.CAs["issuing"].Key}
		env.CAs["issuing"].Key = key
		issuing := env.CAs["issuing"].Cert()
		if !issuing.PermittedDNSDomainsCritical || len(issuing.PermittedDNSDomains) != 2 || len(issuing.ExcludedIPRanges) != 1 {
			t.Fatalf("the issuing CA certificate's constraints: permitted %v (critical %v), excluded IPs %v",
				issuing.PermittedDNSDomains, issuing.PermittedDNSDomainsCritical, issuing.ExcludedIPRanges)
		}
		issue := func(gen ca.GenerateRequest) error {
			gen.KeyType = "ecdsa-p256"
			_, err := env.Core.Issue(context.Background(), ca.IssueRequest{Profile: "any", Method: "api", Requester: "t", Generate: &gen})
			return err
		}
		for _, tc := range []struct {
			gen  ca.GenerateRequest
			want string // "" for issued
		}{
			{ca.GenerateRequest{DNSNames: []string{"example.com", "www.example.com", "a.b.internal.test"}}, ""},
			{ca.GenerateRequest{DNSNames: []string{"www.example.com"}, IPs: []string{"10.1.2.3"}, URIs: []string{"spiffe://svc.example.com/a"}}, ""},
			{ca.GenerateRequest{DNSNames: []string{"www.example.com", "other.org"}}, `DNS name other.org is outside its permitted subtrees example.com, .internal.test`},
			{ca.GenerateRequest{DNSNames: []string{"internal.test"}}, "DNS name internal.test is outside"},
			{ca.GenerateRequest{DNSNames: []string{"x.secret.example.com"}}, "DNS name x.secret.example.com is in its excluded subtrees secret.example.com"},
			{ca.GenerateRequest{DNSNames: []string{"www.example.com"}, IPs: []string{"10.9.1.1"}}, "IP address 10.9.1.1 is in its excluded subtrees 10.9.0.0/16"},
			{ca.GenerateRequest{DNSNames: []string{"www.example.com"}, IPs: []string{"192.168.1.1"}}, "IP address 192.168.1.1 is outside its permitted subtrees 10.0.0.0/8"},
			{ca.GenerateRequest{DNSNames: []string{"www.example.com"}, URIs: []string{"spiffe://example.com/a"}}, "URI spiffe://example.com/a is outside"},
		} {
			before := key.n.Load()
			err := issue(tc.gen)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%+v: %v", tc.gen, err)
			case tc.want != "" && (!errs.Is(err, errs.RejectedIdentifier) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `CA "Issuing"`)):
				t.Errorf("%+v: %v, want rejectedIdentifier saying %q", tc.gen, err, tc.want)
			case tc.want != "" && key.n.Load() != before:
				t.Errorf("%+v: the CA key signed for a refused request", tc.gen)
			}
		}

		// An ACME new-order asks before it has a CSR.
		if err := env.Core.CheckNames("any", ca.Names{DNS: []string{"other.org"}}); !errs.Is(err, errs.RejectedIdentifier) || !strings.Contains(err.Error(), "outside its permitted subtrees") {
			t.Errorf("CheckNames(other.org) = %v", err)
		}
		if err := env.Core.CheckNames("any", ca.Names{DNS: []string{"www.example.com"}}); err != nil {
			t.Errorf("CheckNames(www.example.com) = %v", err)
		}

		// What validators do with a certificate outside the constraints.
		dir := t.TempDir()
		root, chain, leaf := filepath.Join(dir, "root.pem"), filepath.Join(dir, "issuing.pem"), filepath.Join(dir, "leaf.pem")
		writeTestFile(t, root, ca.PEMChain(env.CAs["root"].Cert()))
		writeTestFile(t, chain, ca.PEMChain(issuing))
		writeTestFile(t, leaf, ca.PEMChain(signLeafFor(t, env.CAs["issuing"], time.Now(), "evil.org")))
		out, err := exec.Command("openssl", "verify", "-CAfile", root, "-untrusted", chain, leaf).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "permitted subtree violation") {
			t.Errorf("openssl verify of a leaf outside the constraints: %v\n%s", err, out)
		}
	})
}
