package est

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// TestEST drives every operation over TLS against both stores. Each
// rejection is checked for its status and for leaving the inventory as it
// was.
func TestEST(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		maker := newTestCA(t, "Manufacturer CA")
		stranger := newTestCA(t, "Stranger CA")
		bootstrap := maker.writePEM(t)
		set := Settings{DefaultProfile: "dev", Profiles: map[string]ProfileSettings{
			"factory": {Auth: []string{AuthClientCert}, BootstrapCAFile: bootstrap, BindCSRToClientCert: true, RevokeOnRenewal: true},
			"bound":   {Auth: []string{AuthBasic}, RequireChannelBinding: true},
			"both":    {Auth: []string{AuthBasic, AuthClientCert}, RequireAll: true, BootstrapCAFile: bootstrap},
		}}
		f := newFixture(t, st, set,
			estProfile("dev", nil),
			estProfile("other", func(p *config.Profile) { p.ServerKeygen = false }),
			estProfile("factory", func(p *config.Profile) { p.KeyTypes = []string{"ecdsa-p256"}; p.ServerKeygen = false }),
			estProfile("bound", nil),
			estProfile("both", nil),
			estProfile("noest", func(p *config.Profile) { p.Methods = []string{"api"} }),
		)
		f.addUser("dev", "dev-user", "dev-pass")
		f.addUser("other", "other-user", "other-pass")
		f.addUser("bound", "bound-user", "bound-pass")
		f.addUser("both", "both-user", "both-pass")
		plain := f.client(clientOpts{})

		t.Run("cacerts", func(t *testing.T) { testCACerts(t, f, plain) })
		t.Run("routing", func(t *testing.T) { testRouting(t, f, plain) })
		t.Run("csrattrs", func(t *testing.T) { testCSRAttrsAnswer(t, f, plain) })
		t.Run("simpleenroll", func(t *testing.T) { testSimpleEnroll(t, f, stranger, maker) })
		t.Run("simplereenroll", func(t *testing.T) { testReenroll(t, f, stranger) })
		t.Run("serverkeygen", func(t *testing.T) { testServerKeygen(t, f) })
		t.Run("bootstrap", func(t *testing.T) { testBootstrap(t, f, maker, stranger) })
		t.Run("channelBinding", func(t *testing.T) { testChannelBinding(t, f) })
		t.Run("deletedUser", func(t *testing.T) { testDeletedUser(t, f, plain) })
		t.Run("requireAll", func(t *testing.T) { testRequireAll(t, f, maker) })
	})
}

func testCACerts(t *testing.T, f *fixture, c *http.Client) {
	a := f.core.CAs["issuing"]
	for _, path := range []string{"/.well-known/est/cacerts", "/.well-known/est/dev/cacerts", "/.well-known/est/factory/cacerts"} {
		got := f.request(c, "GET", path, nil, "", "")
		if got.status != 200 {
			t.Fatalf("GET %s: %d %s", path, got.status, got.body)
		}
		if ct := got.header.Get("Content-Type"); ct != "application/pkcs7-mime" {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if te := got.header.Get("Content-Transfer-Encoding"); te != "base64" {
			t.Errorf("GET %s: Content-Transfer-Encoding %q", path, te)
		}
		certs := certsFrom(t, got.body)
		if len(certs) != 2 || !certs[0].Equal(a.Cert()) || !certs[1].Equal(a.Chain()[0]) {
			t.Errorf("GET %s: %d certificates, want the issuing CA then the root", path, len(certs))
		}
	}
}

func testRouting(t *testing.T, f *fixture, c *http.Client) {
	for _, tc := range []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/.well-known/est/nosuch/cacerts", 404, `no EST service for profile "nosuch"`},
		{"GET", "/.well-known/est/noest/cacerts", 404, `no EST service for profile "noest"`},
		{"GET", "/.well-known/est/dev/nosuchop", 404, "no EST operation"},
		{"GET", "/.well-known/est/simpleenroll", 405, "use POST"},
		{"POST", "/.well-known/est/dev/cacerts", 405, "use GET"},
		{"POST", "/.well-known/est/dev/fullcmc", 501, "use simpleenroll"},
		{"POST", "/.well-known/est/fullcmc", 501, "Full CMC"},
	} {
		got := f.request(c, tc.method, tc.path, []byte{}, "", "")
		if got.status != tc.status || !strings.Contains(string(got.body), tc.contains) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, got.status, got.body, tc.status, tc.contains)
		}
		if ct := got.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s %s: Content-Type %q, want text", tc.method, tc.path, ct)
		}
		if tc.status == 405 && got.header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
}

func testCSRAttrsAnswer(t *testing.T, f *fixture, c *http.Client) {
	got := f.request(c, "GET", "/.well-known/est/dev/csrattrs", nil, "", "")
	if got.status != 200 || got.header.Get("Content-Type") != "application/csrattrs" || got.header.Get("Content-Transfer-Encoding") != "base64" {
		t.Fatalf("csrattrs: %d %v %s", got.status, got.header, got.body)
	}
	der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(got.body), "\n", ""))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := csrAttrs(f.mustProfile(t, "dev"))
	if !bytes.Equal(der, want) {
		t.Error("csrattrs answer differs from the profile's attributes")
	}
}

func (f *fixture) mustProfile(t *testing.T, name string) *profileState {
	t.Helper()
	p, err := compile(Settings{Profiles: map[string]ProfileSettings{}}, map[string]*ca.Profile{name: f.core.Profiles[name]}, f.core.CAs)
	if err != nil {
		t.Fatal(err)
	}
	return p[name]
}

func testSimpleEnroll(t *testing.T, f *fixture, stranger, maker *testCA) {
	devCert := f.issueDirect("dev", newKey(t), "client.example.com", "client.example.com")
	otherCert := f.issueDirect("other", newKey(t), "other.example.com", "other.example.com")
	revokedKey := newKey(t)
	revoked := f.issueDirect("dev", revokedKey, "revoked.example.com", "revoked.example.com")
	if err := f.core.Revoke(context.Background(), ca.SerialHex(revoked.Leaf.SerialNumber), 1, "test"); err != nil {
		t.Fatal(err)
	}
	strangerCert := stranger.leaf(t, newKey(t), "dev9.example.com", "dev9.example.com")
	makerCert := maker.leaf(t, newKey(t), "dev8.example.com", "dev8.example.com") // not a bootstrap CA of dev

	good := csrDER(t, newKey(t), "dev1.example.com", "dev1.example.com")
	pemBody := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: good})
	oneLine := []byte(base64.StdEncoding.EncodeToString(good))
	crlf := bytes.ReplaceAll(b64(good), []byte("\n"), []byte("\r\n"))
	badSig := bytes.Clone(good)
	badSig[len(badSig)-5] ^= 0xff
	edKey := ed25519Key(t)

	for _, tc := range []struct {
		name       string
		path       string
		cert       *tls.Certificate
		user, pass string
		body       []byte
		status     int
		contains   string
		requester  string
	}{
		{name: "basic", user: "dev-user", pass: "dev-pass", body: b64(good), status: 200, requester: "basic:dev-user"},
		{name: "basic, one line", user: "dev-user", pass: "dev-pass", body: oneLine, status: 200},
		{name: "basic, CRLF lines", user: "dev-user", pass: "dev-pass", body: crlf, status: 200},
		{name: "basic, PEM", user: "dev-user", pass: "dev-pass", body: pemBody, status: 200},
		{name: "basic, labelled", path: "/.well-known/est/dev/simpleenroll", user: "dev-user", pass: "dev-pass", body: b64(good), status: 200},
		{name: "gateway client certificate", cert: devCert, body: b64(good), status: 200,
			requester: "cert:" + ca.SerialHex(devCert.Leaf.SerialNumber)},

		{name: "wrong password", user: "dev-user", pass: "nope", body: b64(good), status: 401, contains: "unknown user or wrong password"},
		{name: "unknown user", user: "nobody", pass: "dev-pass", body: b64(good), status: 401, contains: "unknown user or wrong password"},
		{name: "user of another profile", user: "other-user", pass: "other-pass", body: b64(good), status: 401},
		{name: "no credentials", body: b64(good), status: 401, contains: "no HTTP Basic credentials"},
		{name: "client certificate from an unknown CA", cert: strangerCert, body: b64(good), status: 401, contains: "certificate signed by unknown authority"},
		{name: "bootstrap CA of another profile", cert: makerCert, body: b64(good), status: 401},
		{name: "client certificate of another profile", cert: otherCert, body: b64(good), status: 401, contains: "issued under profile other"},
		{name: "revoked client certificate", cert: revoked, body: b64(good), status: 401, contains: "is revoked"},
		{name: "unknown CA with a wrong password", cert: strangerCert, user: "dev-user", pass: "x", body: b64(good), status: 401},

		{name: "name outside the profile", user: "dev-user", pass: "dev-pass",
			body: b64(csrDER(t, newKey(t), "", "dev1.example.org")), status: 400, contains: "rule names.dns"},
		{name: "key type outside the profile", user: "dev-user", pass: "dev-pass",
			body: b64(csrDER(t, edKey, "", "dev1.example.com")), status: 400, contains: "rule key_types"},
		{name: "no SAN", user: "dev-user", pass: "dev-pass",
			body: b64(csrDER(t, newKey(t), "dev1")), status: 400},
		{name: "garbage", user: "dev-user", pass: "dev-pass", body: []byte("this is not base64!"), status: 400, contains: "not base64"},
		{name: "base64 garbage", user: "dev-user", pass: "dev-pass", body: []byte("aGVsbG8gd29ybGQ="), status: 400, contains: "not a DER PKCS#10"},
		{name: "bad signature", user: "dev-user", pass: "dev-pass", body: b64(badSig), status: 400},
		{name: "empty", user: "dev-user", pass: "dev-pass", body: []byte{}, status: 400, contains: "empty body"},
		{name: "a certificate instead", user: "dev-user", pass: "dev-pass",
			body: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: devCert.Leaf.Raw}), status: 400},
		{name: "oversized", user: "dev-user", pass: "dev-pass", body: bytes.Repeat([]byte("QUFB\n"), DefaultMaxBodyBytes/4), status: 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tc.path
			if path == "" {
				path = "/.well-known/est/simpleenroll"
			}
			before := f.countCerts()
			got := f.request(f.client(clientOpts{cert: tc.cert}), "POST", path, tc.body, tc.user, tc.pass)
			if got.status != tc.status || !strings.Contains(string(got.body), tc.contains) {
				t.Fatalf("status %d %q, want %d with %q", got.status, got.body, tc.status, tc.contains)
			}
			if tc.status != 200 {
				if n := f.countCerts(); n != before {
					t.Errorf("a refused request changed the inventory: %d certificates, %d before", n, before)
				}
				if !strings.HasPrefix(got.header.Get("Content-Type"), "text/plain") {
					t.Errorf("error Content-Type %q, want text/plain", got.header.Get("Content-Type"))
				}
				if tc.status == 401 && !strings.HasPrefix(got.header.Get("WWW-Authenticate"), `Basic realm="EST dev"`) {
					t.Errorf("401 with WWW-Authenticate %q", got.header.Get("WWW-Authenticate"))
				}
				return
			}
			if ct := got.header.Get("Content-Type"); ct != "application/pkcs7-mime; smime-type=certs-only" {
				t.Errorf("Content-Type %q", ct)
			}
			if te := got.header.Get("Content-Transfer-Encoding"); te != "base64" {
				t.Errorf("Content-Transfer-Encoding %q", te)
			}
			certs := certsFrom(t, got.body)
			if len(certs) != 1 {
				t.Fatalf("%d certificates in the answer, want only the issued one", len(certs))
			}
			if certs[0].DNSNames[0] != "dev1.example.com" {
				t.Errorf("issued for %v", certs[0].DNSNames)
			}
			rec, err := f.store.GetCertificate(context.Background(), ca.SerialHex(certs[0].SerialNumber))
			if err != nil {
				t.Fatal(err)
			}
			if rec.Method != "est" || rec.Profile != "dev" || rec.Status != storage.StatusActive {
				t.Errorf("stored as method %q profile %q status %q", rec.Method, rec.Profile, rec.Status)
			}
			if tc.requester != "" && rec.Requester != tc.requester {
				t.Errorf("requester %q, want %q", rec.Requester, tc.requester)
			}
		})
	}
}

// enrollBasic enrolls a CSR on dev with HTTP Basic and returns the
// certificate as a TLS client certificate with its key.
func enrollBasic(t *testing.T, f *fixture, profile, user, pass string, key *ecdsa.PrivateKey, cn string, dns ...string) *tls.Certificate {
	t.Helper()
	got := f.request(f.client(clientOpts{}), "POST", "/.well-known/est/"+profile+"/simpleenroll", b64(csrDER(t, key, cn, dns...)), user, pass)
	if got.status != 200 {
		t.Fatalf("enroll: %d %s", got.status, got.body)
	}
	return tlsCert(certsFrom(t, got.body)[0], key)
}

func testReenroll(t *testing.T, f *fixture, stranger *testCA) {
	ctx := context.Background()
	key := newKey(t)
	old := enrollBasic(t, f, "dev", "dev-user", "dev-pass", key, "r1.example.com", "r1.example.com", "r1b.example.com")
	oldSerial := ca.SerialHex(old.Leaf.SerialNumber)
	path := "/.well-known/est/dev/simplereenroll"

	t.Run("renew", func(t *testing.T) {
		got := f.request(f.client(clientOpts{cert: old}), "POST", path, b64(csrDER(t, key, "r1.example.com", "r1b.example.com", "r1.example.com")), "", "")
		if got.status != 200 {
			t.Fatalf("reenroll: %d %s", got.status, got.body)
		}
		next := certsFrom(t, got.body)[0]
		rec, _ := f.store.GetCertificate(ctx, ca.SerialHex(next.SerialNumber))
		if rec.Replaces != oldSerial || rec.Method != "est" || rec.Requester != "cert:"+oldSerial {
			t.Errorf("new certificate: replaces %q requester %q, want %s", rec.Replaces, rec.Requester, oldSerial)
		}
		oldRec, _ := f.store.GetCertificate(ctx, oldSerial)
		if oldRec.Status != storage.StatusActive || oldRec.RenewedBy != rec.Serial {
			t.Errorf("old certificate: status %s renewed by %q, want active and %s", oldRec.Status, oldRec.RenewedBy, rec.Serial)
		}
		// Re-keying, and renewing again from the same certificate (a client
		// that lost the first answer), both work.
		got = f.request(f.client(clientOpts{cert: old}), "POST", path, b64(csrDER(t, newKey(t), "r1.example.com", "r1.example.com", "r1b.example.com")), "", "")
		if got.status != 200 {
			t.Fatalf("rekey: %d %s", got.status, got.body)
		}
	})

	otherKey := newKey(t)
	otherProfile := enrollBasic(t, f, "other", "other-user", "other-pass", otherKey, "o1.example.com", "o1.example.com")
	expiringKey := newKey(t)
	expiring := enrollBasic(t, f, "dev", "dev-user", "dev-pass", expiringKey, "e1.example.com", "e1.example.com")
	revokedKey := newKey(t)
	revoked := enrollBasic(t, f, "dev", "dev-user", "dev-pass", revokedKey, "v1.example.com", "v1.example.com")
	if err := f.core.Revoke(ctx, ca.SerialHex(revoked.Leaf.SerialNumber), 1, "test"); err != nil {
		t.Fatal(err)
	}
	strangerCert := stranger.leaf(t, key, "r1.example.com", "r1.example.com")

	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		user     string
		body     []byte
		status   int
		contains string
	}{
		{"different subject", old, "", b64(csrDER(t, key, "r2.example.com", "r1.example.com", "r1b.example.com")), 400, "must keep the subject"},
		{"fewer SANs", old, "", b64(csrDER(t, key, "r1.example.com", "r1.example.com")), 400, "must keep the subject alternative names"},
		{"other SANs", old, "", b64(csrDER(t, key, "r1.example.com", "r1.example.com", "r1c.example.com")), 400, "subject alternative names"},
		{"no client certificate", nil, "", b64(csrDER(t, key, "r1.example.com", "r1.example.com", "r1b.example.com")), 401, "needs TLS client authentication"},
		{"HTTP Basic is not enough", nil, "dev-user", b64(csrDER(t, key, "r1.example.com", "r1.example.com", "r1b.example.com")), 401, "needs TLS client authentication"},
		{"client certificate from an unknown CA", strangerCert, "", b64(csrDER(t, key, "r1.example.com", "r1.example.com", "r1b.example.com")), 401, "not a valid certificate of this gateway"},
		{"revoked", revoked, "", b64(csrDER(t, revokedKey, "v1.example.com", "v1.example.com")), 401, "is revoked"},
		{"certificate of another profile", otherProfile, "", b64(csrDER(t, otherKey, "o1.example.com", "o1.example.com")), 403, "issued under profile other"},
		{"garbage", old, "", []byte("@@@"), 400, "not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.countCerts()
			got := f.request(f.client(clientOpts{cert: tc.cert}), "POST", path, tc.body, tc.user, "dev-pass")
			if got.status != tc.status || !strings.Contains(string(got.body), tc.contains) {
				t.Fatalf("status %d %q, want %d with %q", got.status, got.body, tc.status, tc.contains)
			}
			if n := f.countCerts(); n != before {
				t.Errorf("a refused re-enrollment changed the inventory: %d certificates, %d before", n, before)
			}
		})
	}

	t.Run("expired", func(t *testing.T) {
		f.clock.Advance(31 * 24 * time.Hour)
		defer f.clock.Advance(-31 * 24 * time.Hour)
		before := f.countCerts()
		got := f.request(f.client(clientOpts{cert: expiring}), "POST", path, b64(csrDER(t, expiringKey, "e1.example.com", "e1.example.com")), "", "")
		if got.status != 401 || !strings.Contains(string(got.body), "expired") {
			t.Fatalf("status %d %q, want 401 naming the expiry", got.status, got.body)
		}
		if f.countCerts() != before {
			t.Error("a refused re-enrollment changed the inventory")
		}
	})
}

func testServerKeygen(t *testing.T, f *fixture) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	keyID := asn1.RawValue{Tag: asn1.TagOctetString, Bytes: []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	for _, tc := range []struct {
		name, profile string
		csr           []byte
		user, pass    string
		status        int
		keyType       string
		body          string // in the answer of a refused request
	}{
		{"key encrypted to a symmetric key", "dev", csrWithAttribute(t, newKey(t), oidDecryptKeyID, keyID, "k6.example.com", "k6.example.com"),
			"dev-user", "dev-pass", 400, "", "DecryptKeyIdentifier"},
		{"key encrypted to an asymmetric key", "dev", csrWithAttribute(t, newKey(t), oidAsymmetricDecryptKeyID, keyID, "k7.example.com", "k7.example.com"),
			"dev-user", "dev-pass", 400, "", "AsymmetricDecryptKeyIdentifier"},
		{"key type of the CSR", "dev", csrDER(t, p384, "k1.example.com", "k1.example.com"), "dev-user", "dev-pass", 200, "ecdsa-p384", ""},
		{"default key type", "dev", csrDER(t, ed25519Key(t), "k2.example.com", "k2.example.com"), "dev-user", "dev-pass", 200, "ecdsa-p256", ""},
		{"wrong password", "dev", csrDER(t, newKey(t), "k3.example.com", "k3.example.com"), "dev-user", "x", 401, "", ""},
		{"name outside the profile", "dev", csrDER(t, newKey(t), "k4.example.org", "k4.example.org"), "dev-user", "dev-pass", 400, "", ""},
		{"profile without server_keygen", "other", csrDER(t, newKey(t), "k5.example.com", "k5.example.com"), "other-user", "other-pass", 403, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.countCerts()
			got := f.request(f.client(clientOpts{}), "POST", "/.well-known/est/"+tc.profile+"/serverkeygen", b64(tc.csr), tc.user, tc.pass)
			if got.status != tc.status {
				t.Fatalf("status %d %q, want %d", got.status, got.body, tc.status)
			}
			if tc.status != 200 {
				if !strings.Contains(string(got.body), tc.body) {
					t.Errorf("answer %q does not name %s", got.body, tc.body)
				}
				if f.countCerts() != before {
					t.Error("a refused request changed the inventory")
				}
				return
			}
			if cc := got.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			key, cert := readKeygen(t, got)
			if ca.KeyTypeName(cert.PublicKey) != tc.keyType {
				t.Errorf("key type %s, want %s", ca.KeyTypeName(cert.PublicKey), tc.keyType)
			}
			if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
				t.Error("the key does not belong to the certificate")
			}
		})
	}
}

// signerKey is a parsed private key.
type signerKey interface{ Public() crypto.PublicKey }

func ed25519Key(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// readKeygen parses a serverkeygen answer as RFC 7030 section 4.4.2 has it.
func readKeygen(t *testing.T, got answer) (signerKey, *x509.Certificate) {
	t.Helper()
	mt, params, err := mime.ParseMediaType(got.header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q", got.header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(got.body), params["boundary"])
	var key signerKey
	var cert *x509.Certificate
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part)
		if part.Header.Get("Content-Transfer-Encoding") != "base64" {
			t.Errorf("part %d: Content-Transfer-Encoding %q", i, part.Header.Get("Content-Transfer-Encoding"))
		}
		switch ct := part.Header.Get("Content-Type"); ct {
		case "application/pkcs8":
			der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\n", ""))
			if err != nil {
				t.Fatal(err)
			}
			k, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				t.Fatal(err)
			}
			key = k.(signerKey)
		case "application/pkcs7-mime; smime-type=certs-only":
			certs := certsFrom(t, body)
			if len(certs) != 1 {
				t.Fatalf("%d certificates", len(certs))
			}
			cert = certs[0]
		default:
			t.Fatalf("part %d: Content-Type %q", i, ct)
		}
	}
	if key == nil || cert == nil {
		t.Fatal("the answer lacks the key or the certificate")
	}
	return key, cert
}

func testBootstrap(t *testing.T, f *fixture, maker, stranger *testCA) {
	devKey := newKey(t)
	idevid := maker.leaf(t, devKey, "dev7.example.com", "dev7.example.com")
	path := "/.well-known/est/factory/simpleenroll"
	for _, tc := range []struct {
		name     string
		cert     *tls.Certificate
		user     string
		csr      []byte
		status   int
		contains string
	}{
		{"manufacturer certificate", idevid, "", csrDER(t, newKey(t), "dev7.example.com", "dev7.example.com"), 200, ""},
		{"name not in the manufacturer certificate", idevid, "", csrDER(t, newKey(t), "dev7.example.com", "dev7.example.com", "x.example.com"), 403, "does not carry the CSR's dns:x.example.com"},
		{"stranger", stranger.leaf(t, newKey(t), "dev7.example.com", "dev7.example.com"), "", csrDER(t, newKey(t), "dev7.example.com", "dev7.example.com"), 401, "not valid"},
		{"HTTP Basic is not accepted here", nil, "dev-user", csrDER(t, newKey(t), "dev7.example.com", "dev7.example.com"), 401, "needs a TLS client certificate"},
		{"key type outside the profile", idevid, "", csrDER(t, ed25519Key(t), "dev7.example.com", "dev7.example.com"), 400, "key_types"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.countCerts()
			got := f.request(f.client(clientOpts{cert: tc.cert}), "POST", path, b64(tc.csr), tc.user, "dev-pass")
			if got.status != tc.status || !strings.Contains(string(got.body), tc.contains) {
				t.Fatalf("status %d %q, want %d with %q", got.status, got.body, tc.status, tc.contains)
			}
			if tc.status != 200 && f.countCerts() != before {
				t.Error("a refused request changed the inventory")
			}
			if tc.status == 200 {
				rec, _ := f.store.GetCertificate(context.Background(), ca.SerialHex(certsFrom(t, got.body)[0].SerialNumber))
				if want := "bootstrap:" + idevid.Leaf.Subject.String(); rec.Requester != want {
					t.Errorf("requester %q, want %q", rec.Requester, want)
				}
			}
		})
	}

	// factory revokes on renewal: the LDevID it issued renews itself, and
	// the old one is revoked as superseded.
	ldevKey := newKey(t)
	got := f.request(f.client(clientOpts{cert: idevid}), "POST", path, b64(csrDER(t, ldevKey, "dev7.example.com", "dev7.example.com")), "", "")
	if got.status != 200 {
		t.Fatalf("enroll: %d %s", got.status, got.body)
	}
	ldev := tlsCert(certsFrom(t, got.body)[0], ldevKey)
	got = f.request(f.client(clientOpts{cert: ldev}), "POST", "/.well-known/est/factory/simplereenroll", b64(csrDER(t, ldevKey, "dev7.example.com", "dev7.example.com")), "", "")
	if got.status != 200 {
		t.Fatalf("reenroll: %d %s", got.status, got.body)
	}
	old, _ := f.store.GetCertificate(context.Background(), ca.SerialHex(ldev.Leaf.SerialNumber))
	if old.Status != storage.StatusRevoked || old.RevocationReason != 4 { // 4: superseded
		t.Errorf("renewed certificate: status %s reason %d, want revoked as superseded", old.Status, old.RevocationReason)
	}
	// The revoked certificate no longer renews.
	got = f.request(f.client(clientOpts{cert: ldev}), "POST", "/.well-known/est/factory/simplereenroll", b64(csrDER(t, ldevKey, "dev7.example.com", "dev7.example.com")), "", "")
	if got.status != 401 {
		t.Errorf("reenroll with the revoked certificate: %d %s", got.status, got.body)
	}
}

func testChannelBinding(t *testing.T, f *fixture) {
	path := "/.well-known/est/bound/simpleenroll"
	key := newKey(t)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		for _, tc := range []struct {
			name      string
			challenge func(binding []byte) string // nil: no challengePassword
			status    int
		}{
			{"binding", func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }, 200},
			{"missing", nil, 401},
			{"another session's", func(b []byte) string {
				other := bytes.Clone(b)
				other[0] ^= 0xff
				return base64.StdEncoding.EncodeToString(other)
			}, 401},
		} {
			t.Run(tls.VersionName(version)+"/"+tc.name, func(t *testing.T) {
				c, binding := f.dialTLS(clientOpts{}, version)
				if len(binding) == 0 {
					t.Fatal("no channel binding on the connection")
				}
				csr := csrDER(t, key, "cb.example.com", "cb.example.com")
				if tc.challenge != nil {
					csr = csrWithChallenge(t, key, tc.challenge(binding), "cb.example.com", "cb.example.com")
				}
				before := f.countCerts()
				got := f.request(c, "POST", path, b64(csr), "bound-user", "bound-pass")
				if got.status != tc.status {
					t.Fatalf("status %d %q, want %d", got.status, got.body, tc.status)
				}
				if tc.status != 200 && f.countCerts() != before {
					t.Error("a refused request changed the inventory")
				}
			})
		}
	}
	// The TLS 1.2 value does not pass on TLS 1.3, nor the other way round.
	t.Run("cross-version", func(t *testing.T) {
		_, unique := f.dialTLS(clientOpts{}, tls.VersionTLS12)
		c, _ := f.dialTLS(clientOpts{}, tls.VersionTLS13)
		csr := csrWithChallenge(t, key, base64.StdEncoding.EncodeToString(unique), "cb.example.com", "cb.example.com")
		if got := f.request(c, "POST", path, b64(csr), "bound-user", "bound-pass"); got.status != 401 {
			t.Fatalf("status %d %q, want 401", got.status, got.body)
		}
	})
}

func testRequireAll(t *testing.T, f *fixture, maker *testCA) {
	idevid := maker.leaf(t, newKey(t), "both.example.com", "both.example.com")
	csr := b64(csrDER(t, newKey(t), "both.example.com", "both.example.com"))
	path := "/.well-known/est/both/simpleenroll"
	for _, tc := range []struct {
		name   string
		cert   *tls.Certificate
		user   string
		status int
	}{
		{"password alone", nil, "both-user", 401},
		{"certificate alone", idevid, "", 401},
		{"both", idevid, "both-user", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.request(f.client(clientOpts{cert: tc.cert}), "POST", path, csr, tc.user, "both-pass")
			if got.status != tc.status {
				t.Fatalf("status %d %q, want %d", got.status, got.body, tc.status)
			}
			if tc.status == 200 {
				rec, _ := f.store.GetCertificate(context.Background(), ca.SerialHex(certsFrom(t, got.body)[0].SerialNumber))
				if !strings.Contains(rec.Requester, "bootstrap:") || !strings.Contains(rec.Requester, "basic:both-user") {
					t.Errorf("requester %q names neither or only one method", rec.Requester)
				}
			}
		})
	}
}

// A deleted user stops working once the server's cache of password hashes
// (10 seconds) has let go of it.
func testDeletedUser(t *testing.T, f *fixture, c *http.Client) {
	f.addUser("dev", "leaving", "leaving-pass")
	path := "/.well-known/est/dev/simpleenroll"
	if got := f.request(c, "POST", path, b64(csrDER(t, newKey(t), "d1.example.com", "d1.example.com")), "leaving", "leaving-pass"); got.status != 200 {
		t.Fatalf("before the deletion: %d %s", got.status, got.body)
	}
	if err := f.store.DeleteESTCredential(t.Context(), "dev", "leaving", storage.AuditEvent{At: time.Now(), Actor: "test", Action: "est-user-delete"}); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Second)
	defer f.clock.Advance(-10 * time.Second)
	before := f.countCerts()
	if got := f.request(c, "POST", path, b64(csrDER(t, newKey(t), "d2.example.com", "d2.example.com")), "leaving", "leaving-pass"); got.status != 401 {
		t.Fatalf("after the deletion: %d %s, want 401", got.status, got.body)
	}
	if f.countCerts() != before {
		t.Error("a deleted user's request changed the inventory")
	}
}
