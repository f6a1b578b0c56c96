package est

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"strings"
	"testing"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// Under a profile that fixes subject attributes, a device that sends only
// its common name enrolls and re-enrolls (RFC 7030 section 4.2.2 holds for
// what the device chose: its common name and the attributes the profile
// lets it set); a new serial number is another subject.
func TestReenrollWithFixedSubject(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, Settings{Profiles: map[string]ProfileSettings{}}, estProfile("org", func(p *config.Profile) {
			p.Subject = config.ProfileSubject{Organization: "Example Corp", Country: "DE", Province: "Berlin", FromCSR: []string{"serial_number"}}
		}))
		f.addUser("org", "u", "p")
		key := newKey(t)
		old := enrollBasic(t, f, "org", "u", "p", key, "d1.example.com", "d1.example.com")
		const want = "CN=d1.example.com,O=Example Corp,ST=Berlin,C=DE"
		if got := old.Leaf.Subject.String(); got != want {
			t.Fatalf("enrolled subject %q, want %q", got, want)
		}
		path := "/.well-known/est/org/simplereenroll"
		got := f.request(f.client(clientOpts{cert: old}), http.MethodPost, path, b64(csrDER(t, key, "d1.example.com", "d1.example.com")), "", "")
		if got.status != http.StatusOK {
			t.Fatalf("reenroll with the common name alone: %d %s", got.status, got.body)
		}
		if s := certsFrom(t, got.body)[0].Subject.String(); s != want {
			t.Errorf("re-enrolled subject %q, want %q", s, want)
		}
		// A CSR that repeats the whole subject renews too.
		whole := csrWithSubject(t, key, old.Leaf.Subject, "d1.example.com")
		if got := f.request(f.client(clientOpts{cert: old}), http.MethodPost, path, b64(whole), "", ""); got.status != http.StatusOK {
			t.Fatalf("reenroll with the whole subject: %d %s", got.status, got.body)
		}
		// A serial number the device sets is part of its subject.
		subj := old.Leaf.Subject
		subj.SerialNumber = "SN-1"
		got = f.request(f.client(clientOpts{cert: old}), http.MethodPost, path, b64(csrWithSubject(t, key, subj, "d1.example.com")), "", "")
		if got.status != http.StatusBadRequest || !strings.Contains(string(got.body), "must keep the subject") {
			t.Fatalf("reenroll with a new serial number: %d %s", got.status, got.body)
		}
	})
}

func csrWithSubject(t *testing.T, key crypto.Signer, subj pkix.Name, dns ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: subj, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
