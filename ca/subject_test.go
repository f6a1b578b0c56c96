package ca_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A profile's subject: fixed attributes in every certificate, the
// attributes it lets a request set taken from the CSR (or a generated
// key's request), checked, and nothing else of the request's subject.
// Renewals keep what the request set; the lint gate passes the result.
func TestCoreSubject(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		// Device certificates: TLS client authentication only, so the
		// Baseline Requirements' lints (no OU in a TLS server
		// certificate) do not apply.
		f := newFixture(t, st, webProfile(func(p *config.Profile) {
			p.ExtKeyUsage = []string{"client_auth"}
			p.Subject = config.ProfileSubject{Organization: "Example Corp", Country: "DE", Locality: "Berlin",
				FromCSR:  []string{"organizational_unit", "serial_number"},
				Patterns: map[string]string{"serial_number": "(SN|P)-[0-9]+", "common_name": `[a-z]+\.example\.com`}}
		}))
		if err := f.core.CheckProfiles(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		csr := func(subj pkix.Name) []byte {
			subj.CommonName = "dev.example.com"
			der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subj, DNSNames: []string{"dev.example.com"}}, key)
			if err != nil {
				t.Fatal(err)
			}
			return der
		}
		const want = "SERIALNUMBER=SN-0042,CN=dev.example.com,OU=Routers,O=Example Corp,L=Berlin,C=DE"
		issued, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "t", CSR: csr(pkix.Name{
			Organization: []string{"Someone Else"}, Country: []string{"US"}, Province: []string{"Nowhere"},
			OrganizationalUnit: []string{"Routers"}, SerialNumber: "SN-0042",
		})})
		if err != nil {
			t.Fatal(err)
		}
		if got := issued.Cert.Subject.String(); got != want {
			t.Errorf("subject %q, want %q", got, want)
		}

		// Without the attributes a request may set: the fixed ones alone.
		plain, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "t", CSR: csr(pkix.Name{})})
		if err != nil {
			t.Fatal(err)
		}
		if got := plain.Cert.Subject.String(); got != "CN=dev.example.com,O=Example Corp,L=Berlin,C=DE" {
			t.Errorf("subject %q", got)
		}

		// Refused values name the rule and store nothing.
		before, signed := countCerts(t, st), f.key.n.Load()
		for _, tt := range []struct {
			subj pkix.Name
			want string
		}{
			{pkix.Name{OrganizationalUnit: []string{strings.Repeat("u", 65)}}, "longer than 64"},
			{pkix.Name{OrganizationalUnit: []string{"a", "b"}}, "one organizational_unit at most"},
			{pkix.Name{SerialNumber: " SN"}, "starts or ends with spaces"},
			{pkix.Name{SerialNumber: "SN\x07"}, "not printable"},
		} {
			_, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "t", CSR: csr(tt.subj)})
			if !errs.Is(err, errs.RejectedIdentifier) || !strings.Contains(err.Error(), "rule subject.from_csr") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%+v: %v, want a refusal saying %q", tt.subj, err, tt.want)
			}
		}
		// Patterns match whole values.
		for _, tt := range []struct {
			req  ca.IssueRequest
			want string
		}{
			{ca.IssueRequest{CSR: csr(pkix.Name{SerialNumber: "X-1"})}, `rule subject.patterns.serial_number: "X-1" does not match ^(?:(SN|P)-[0-9]+)$`},
			{ca.IssueRequest{CSR: csr(pkix.Name{SerialNumber: "SN-1 "})}, "rule subject.from_csr"},
			{ca.IssueRequest{CSR: csr(pkix.Name{SerialNumber: "SN-1x"})}, "rule subject.patterns.serial_number"},
			{ca.IssueRequest{Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", CommonName: "dev1.example.com", DNSNames: []string{"dev1.example.com"}}},
				`rule subject.patterns.common_name: "dev1.example.com" does not match`},
		} {
			tt.req.Profile, tt.req.Method, tt.req.Requester = "web", "api", "t"
			if _, err := f.core.Issue(ctx, tt.req); !errs.Is(err, errs.RejectedIdentifier) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v, want a refusal saying %q", tt.want, err, tt.want)
			}
		}
		if countCerts(t, st) != before || f.key.n.Load() != signed {
			t.Error("a refused subject stored or signed something")
		}

		// A generated key's request names its attributes; its renewal
		// keeps them.
		subj, err := ca.SubjectOf(map[string]string{"organizational_unit": "Printers", "serial_number": "P-7"})
		if err != nil {
			t.Fatal(err)
		}
		gen, err := f.core.Issue(ctx, ca.IssueRequest{Profile: "web", Method: "api", Requester: "t",
			Generate: &ca.GenerateRequest{KeyType: "ecdsa-p256", CommonName: "p.example.com", DNSNames: []string{"p.example.com"}, Subject: subj}})
		if err != nil {
			t.Fatal(err)
		}
		const genWant = "SERIALNUMBER=P-7,CN=p.example.com,OU=Printers,O=Example Corp,L=Berlin,C=DE"
		if got := gen.Cert.Subject.String(); got != genWant {
			t.Errorf("generated key's subject %q, want %q", got, genWant)
		}
		next, err := f.core.Renew(ctx, ca.RenewRequest{Serial: gen.Serial, Requester: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if got := next.Cert.Subject.String(); got != genWant {
			t.Errorf("renewal's subject %q, want %q", got, genWant)
		}
		if _, err := ca.SubjectOf(map[string]string{"title": "x"}); !errs.Is(err, errs.Malformed) {
			t.Errorf("an unknown attribute: %v", err)
		}
	})
}

// A TLS server profile whose subject the Baseline Requirements' lints
// refuse (an OU; an organization without a country) is reported when the
// gateway starts, whether the profile fixes the attribute or lets
// requests set it.
func TestCheckProfilesSubject(t *testing.T) {
	st := teststore.SQLite(t)
	for _, tt := range []struct {
		subject config.ProfileSubject
		want    string
	}{
		{config.ProfileSubject{Organization: "Example Corp", Country: "DE", Locality: "Berlin", OrganizationalUnit: "Web"}, "e_organizational_unit_name_prohibited"},
		{config.ProfileSubject{Country: "DE", Locality: "Berlin", FromCSR: []string{"organizational_unit"}}, "e_organizational_unit_name_prohibited"},
		{config.ProfileSubject{FromCSR: []string{"organization"}}, "country"},
		{config.ProfileSubject{Organization: "Example Corp", Country: "DE", Locality: "Berlin"}, ""},
	} {
		f := newFixture(t, st, webProfile(func(p *config.Profile) { p.Name = "server"; p.Subject = tt.subject }))
		err := f.core.CheckProfiles()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: %v", tt.subject, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: %v, want a finding naming %s", tt.subject, err, tt.want)
		}
	}
}
