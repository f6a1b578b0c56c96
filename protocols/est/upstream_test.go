package est

import (
	"context"
	"crypto"
	"crypto/x509"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// A profile backed by an external ACME CA serves EST: cacerts answers the
// CA's chain once the gateway has one; an enrollment gets the external
// CA's certificate, or 202 with Retry-After while the CA takes longer than
// est.upstream_wait, and its repeat the certificate; the certificates the
// CA issued authenticate re-enrollment and enrollment by TLS client
// certificate, found in the inventory since the gateway holds no anchor of
// that CA.
// upstreamFixture is an EST server whose profile "ext" is backed by an
// in-memory external CA, waiting 200ms for it, revoking what
// re-enrollments replace; the user "device" has the password "secret".
func upstreamFixture(t *testing.T, st storage.Store) (*fixture, *coretest.ExternalCA) {
	t.Helper()
	set := Settings{UpstreamWait: 200 * time.Millisecond, Profiles: map[string]ProfileSettings{
		"ext": {Auth: []string{AuthBasic, AuthClientCert}, RevokeOnRenewal: true},
	}}
	f := newFixture(t, st, set, estProfile("ext", func(p *config.Profile) { p.CA, p.Upstream = "", "acme-ca" }))
	up := coretest.NewExternalCA(t, f.clock.Now)
	up.Register(t, st, "acme-ca")
	f.core.Upstreams = map[string]ca.Upstream{"acme-ca": up}
	f.addUser("ext", "device", "secret")
	return f, up
}

func TestEnrollmentByExternalCA(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, up := upstreamFixture(t, st)
		ctx := context.Background()
		plain := f.client(clientOpts{})
		enroll := func(c *http.Client, csr []byte, user, pass string) answer {
			return f.request(c, "POST", "/.well-known/est/ext/simpleenroll", csr, user, pass)
		}

		// Before the first certificate the gateway knows no chain.
		got := f.request(plain, "GET", "/.well-known/est/ext/cacerts", nil, "", "")
		if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "" || !strings.Contains(string(got.body), "none is issued yet") {
			t.Fatalf("cacerts before any certificate: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
		}

		key := newKey(t)
		got = enroll(plain, b64(csrDER(t, key, "dev1.example.com", "dev1.example.com")), "device", "secret")
		if got.status != http.StatusOK {
			t.Fatalf("simpleenroll: %d %s", got.status, got.body)
		}
		first := certsFrom(t, got.body)[0]
		if err := first.CheckSignatureFrom(up.Cert); err != nil {
			t.Fatalf("not the external CA's certificate: %v", err)
		}
		rec, err := st.GetCertificate(ctx, ca.SerialHex(first.SerialNumber))
		if err != nil || rec.CA != "acme-ca" || rec.Method != "est" || rec.Requester != "basic:device" || rec.Status != storage.StatusActive {
			t.Fatalf("inventory record %+v %v", rec, err)
		}
		got = f.request(plain, "GET", "/.well-known/est/ext/cacerts", nil, "", "")
		if got.status != http.StatusOK {
			t.Fatalf("cacerts: %d %s", got.status, got.body)
		}
		// The chain as the CA sent it, and the root from its roots_file.
		if chain := certsFrom(t, got.body); len(chain) != 2 || !chain[0].Equal(up.Cert) || !chain[1].Equal(up.Root) {
			t.Fatalf("cacerts answers %d certificates, want the external CA's issuing CA and root", len(chain))
		}

		// The CA takes longer than upstream_wait: 202, and the repeat of
		// the same request gets the certificate once the CA issued it,
		// without a second order.
		up.Gate = make(chan struct{})
		slow := b64(csrDER(t, newKey(t), "dev2.example.com", "dev2.example.com"))
		got = enroll(plain, slow, "device", "secret")
		if got.status != http.StatusAccepted || got.header.Get("Retry-After") != "5" || !strings.Contains(string(got.body), "external CA") {
			t.Fatalf("slow external CA: %d Retry-After %q %s", got.status, got.header.Get("Retry-After"), got.body)
		}
		if got = enroll(plain, slow, "device", "secret"); got.status != http.StatusAccepted {
			t.Fatalf("repeat while the CA works: %d %s", got.status, got.body)
		}
		close(up.Gate)
		for deadline := time.Now().Add(10 * time.Second); got.status != http.StatusOK; time.Sleep(20 * time.Millisecond) {
			if got = enroll(plain, slow, "device", "secret"); got.status != http.StatusOK && (got.status != http.StatusAccepted || time.Now().After(deadline)) {
				t.Fatalf("repeat after the CA issued: %d %s", got.status, got.body)
			}
		}
		if cert := certsFrom(t, got.body)[0]; cert.Subject.CommonName != "dev2.example.com" || cert.CheckSignatureFrom(up.Cert) != nil {
			t.Fatalf("repeat got %s", cert.Subject)
		}
		if obtains, _ := up.Counts(); obtains != 2 {
			t.Fatalf("the external CA was asked %d times, want 2", obtains)
		}

		// Re-enrollment with the external CA's certificate as the TLS
		// client certificate: the successor names what it replaces (ARI)
		// and the profile revokes the old one, at the external CA too.
		withFirst := f.client(clientOpts{cert: tlsCert(first, key, up.Cert)})
		rekey := newKey(t)
		got = f.request(withFirst, "POST", "/.well-known/est/ext/simplereenroll", b64(csrDER(t, rekey, "dev1.example.com", "dev1.example.com")), "", "")
		if got.status != http.StatusOK {
			t.Fatalf("simplereenroll: %d %s", got.status, got.body)
		}
		second := certsFrom(t, got.body)[0]
		oldSerial := ca.SerialHex(first.SerialNumber)
		if r := up.Replaced(); r[len(r)-1] != oldSerial {
			t.Errorf("the renewal told the external CA it replaces %q, want %s", r[len(r)-1], oldSerial)
		}
		if reason, ok := up.Revoked(oldSerial); !ok || reason != 4 {
			t.Errorf("the external CA revoked the renewed certificate: %v, reason %d; want superseded", ok, reason)
		}
		if rec, _ := st.GetCertificate(ctx, oldSerial); rec.Status != storage.StatusRevoked || rec.RenewedBy != ca.SerialHex(second.SerialNumber) {
			t.Errorf("renewed certificate: status %s, renewed by %q", rec.Status, rec.RenewedBy)
		}

		// The successor authenticates a first enrollment by client
		// certificate alone.
		withSecond := f.client(clientOpts{cert: tlsCert(second, rekey, up.Cert)})
		if got = enroll(withSecond, b64(csrDER(t, newKey(t), "dev3.example.com", "dev3.example.com")), "", ""); got.status != http.StatusOK {
			t.Fatalf("simpleenroll with a client certificate of the external CA: %d %s", got.status, got.body)
		}

		// serverkeygen waits for the CA: a device cannot poll for a key it
		// does not have.
		got = f.request(plain, "POST", "/.well-known/est/ext/serverkeygen", b64(csrDER(t, newKey(t), "dev4.example.com", "dev4.example.com")), "device", "secret")
		if got.status != http.StatusOK {
			t.Fatalf("serverkeygen: %d %s", got.status, got.body)
		}
		if k, c := readKeygen(t, got); c.CheckSignatureFrom(up.Cert) != nil || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
			t.Fatal("serverkeygen's key and certificate are not a pair from the external CA")
		}

		// Refused: the revoked certificate; a certificate of the same CA
		// that the gateway never handed out; one past its notAfter.
		strayCSR, err := x509.ParseCertificateRequest(csrDER(t, rekey, "dev9.example.com", "dev9.example.com"))
		if err != nil {
			t.Fatal(err)
		}
		stray, _, err := up.Obtain(ctx, strayCSR, nil)
		if err != nil {
			t.Fatal(err)
		}
		strayClient := f.client(clientOpts{cert: tlsCert(stray, rekey, up.Cert)})
		for _, c := range []struct {
			name   string
			client *http.Client
			op     string
			want   string
		}{
			{"revoked, re-enrollment", withFirst, "simplereenroll", "revoked"},
			{"revoked, enrollment", withFirst, "simpleenroll", "revoked"},
			{"not handed out, re-enrollment", strayClient, "simplereenroll", "not in the gateway's inventory"},
			{"not handed out, enrollment", strayClient, "simpleenroll", "not in the gateway's inventory"},
		} {
			csr := b64(csrDER(t, rekey, "dev1.example.com", "dev1.example.com"))
			if got := f.request(c.client, "POST", "/.well-known/est/ext/"+c.op, csr, "", ""); got.status != http.StatusUnauthorized || !strings.Contains(string(got.body), c.want) {
				t.Errorf("%s: %d %s", c.name, got.status, got.body)
			}
		}
		f.clock.Advance(91 * 24 * time.Hour)
		csr := b64(csrDER(t, rekey, "dev1.example.com", "dev1.example.com"))
		if got := f.request(withSecond, "POST", "/.well-known/est/ext/simplereenroll", csr, "", ""); got.status != http.StatusUnauthorized || !strings.Contains(string(got.body), "not now") {
			t.Errorf("expired certificate: %d %s", got.status, got.body)
		}
		if obtains, _ := up.Counts(); obtains != 6 {
			t.Errorf("the external CA was asked %d times, want 6 (no order for a refused request)", obtains)
		}
		certs, _, err := st.ListCertificates(ctx, storage.CertificateFilter{Profile: "ext", Limit: 100})
		if err != nil || len(certs) != 5 || slices.ContainsFunc(certs, func(c storage.Certificate) bool { return c.Method != "est" }) {
			t.Errorf("inventory: %d certificates, %v", len(certs), err)
		}
	})
}

// A re-enrollment the external CA takes longer for is answered 202; once
// issued, the new certificate is linked to the one it renews whether or
// not the device comes back, and the device's repeat gets it and revokes
// the old one (revoke_on_renewal).
func TestReenrollmentByExternalCAWaits(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, up := upstreamFixture(t, st)
		ctx := context.Background()
		key := newKey(t)
		got := f.request(f.client(clientOpts{}), "POST", "/.well-known/est/ext/simpleenroll", b64(csrDER(t, key, "r.example.com", "r.example.com")), "device", "secret")
		if got.status != http.StatusOK {
			t.Fatalf("simpleenroll: %d %s", got.status, got.body)
		}
		old := certsFrom(t, got.body)[0]
		oldSerial := ca.SerialHex(old.SerialNumber)
		withOld := f.client(clientOpts{cert: tlsCert(old, key, up.Cert)})
		up.Gate = make(chan struct{})
		csr := b64(csrDER(t, newKey(t), "r.example.com", "r.example.com"))
		reenroll := func() answer { return f.request(withOld, "POST", "/.well-known/est/ext/simplereenroll", csr, "", "") }
		if got = reenroll(); got.status != http.StatusAccepted {
			t.Fatalf("simplereenroll while the CA works: %d %s", got.status, got.body)
		}
		close(up.Gate)
		var rec storage.Certificate
		for deadline := time.Now().Add(10 * time.Second); rec.RenewedBy == ""; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the renewal was not linked to the certificate it renews within 10s")
			}
			rec, _ = st.GetCertificate(ctx, oldSerial)
		}
		if rec.Status != storage.StatusActive {
			t.Fatalf("the renewed certificate is %s before the device came back", rec.Status)
		}
		if got = reenroll(); got.status != http.StatusOK {
			t.Fatalf("repeat: %d %s", got.status, got.body)
		}
		if next := certsFrom(t, got.body)[0]; ca.SerialHex(next.SerialNumber) != rec.RenewedBy {
			t.Errorf("the repeat got %s, the link says %s", ca.SerialHex(next.SerialNumber), rec.RenewedBy)
		}
		if rec, _ = st.GetCertificate(ctx, oldSerial); rec.Status != storage.StatusRevoked {
			t.Errorf("after the repeat the renewed certificate is %s, want revoked", rec.Status)
		}
	})
}
