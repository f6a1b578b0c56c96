package est

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/smallstep/pkcs7"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/certgw/gateway/test/coretest"
)

// Both stores give the EST server what it needs.
var (
	_ Store = (*sqlite.Store)(nil)
	_ Store = (*postgres.Store)(nil)
)

// fullStore is a store with EST credentials, as both stores are.
type fullStore interface {
	storage.Store
	storage.ESTStore
}

// fixture is an EST server over a core with a software-signer hierarchy,
// served over TLS by httptest with client certificates requested, as the
// gateway's listener does.
type fixture struct {
	t       *testing.T
	core    *ca.Core
	store   fullStore
	srv     *httptest.Server
	clock   *coretest.Clock
	set     Settings
	limiter *ratelimit.Limiter // serve's; nil: no limit
}

func estProfile(name string, edit func(*config.Profile)) config.Profile {
	yes := true
	p := config.Profile{
		Name: name, CA: "issuing", Methods: []string{"est", "api"},
		Names:    config.Names{DNS: []string{".example.com"}, IPRanges: []string{"10.0.0.0/8"}, CommonName: "allow", CommonNameInSAN: &yes, Max: 10},
		KeyTypes: []string{"ecdsa-p256", "ecdsa-p384", "rsa-2048"},
		// Certificates outlive the test clock's jumps but expire within a
		// year, so that one test can move past notAfter.
		MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(30 * 24 * time.Hour),
		ServerKeygen: true, AutoRenew: config.AutoRenew{RenewBeforeDays: 10},
	}
	if edit != nil {
		edit(&p)
	}
	return p
}

func newFixture(t *testing.T, st storage.Store, set Settings, profiles ...config.Profile) *fixture {
	t.Helper()
	fs, ok := st.(fullStore)
	if !ok {
		t.Fatalf("%T does not keep EST credentials", st)
	}
	f := &fixture{t: t, store: fs, clock: coretest.NewClock(time.Now().Truncate(time.Second)), set: set}
	f.core = coretest.New(t, st, coretest.Options{Profiles: profiles, Now: f.clock.Now, Log: slog.New(slog.DiscardHandler)}).Core
	f.serve()
	return f
}

// serve starts an EST server over f's core, store and clock at f.srv.
func (f *fixture) serve() {
	f.t.Helper()
	srv, err := New(Config{Core: f.core, Store: f.store, Settings: f.set, Limiter: f.limiter, Log: slog.New(slog.DiscardHandler), Now: f.clock.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	r := chi.NewRouter()
	srv.Routes(r)
	f.srv = httptest.NewUnstartedServer(r)
	f.srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	f.srv.StartTLS()
	f.t.Cleanup(f.srv.Close)
}

// replica is a second gateway: another EST server, with counts of its
// own, over the same store, core and clock.
func (f *fixture) replica() *fixture {
	f.t.Helper()
	r := *f
	r.serve()
	return &r
}

// addUser stores an HTTP Basic credential.
func (f *fixture) addUser(profile, user, password string) {
	f.t.Helper()
	h, err := HashPassword(password)
	if err != nil {
		f.t.Fatal(err)
	}
	now := f.clock.Now()
	if err := f.store.InsertESTCredential(context.Background(), storage.ESTCredential{Profile: profile, Username: user, Hash: h, CreatedAt: now, UpdatedAt: now}, storage.AuditEvent{At: time.Now(), Actor: "test", Action: "est-user-add"}); err != nil {
		f.t.Fatal(err)
	}
}

// clientOpts configures one request's TLS client.
type clientOpts struct {
	cert       *tls.Certificate
	maxVersion uint16
}

func (f *fixture) client(o clientOpts) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	cfg := &tls.Config{RootCAs: pool, MaxVersion: o.maxVersion}
	if o.cert != nil {
		cfg.Certificates = []tls.Certificate{*o.cert}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// answer is an HTTP response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// request sends one EST request; user "" sends no Basic credentials.
func (f *fixture) request(c *http.Client, method, path string, body []byte, user, pass string) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/pkcs10")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

// countCerts is the number of certificates in the store, in any state.
func (f *fixture) countCerts() int { return coretest.CountCertificates(f.t, f.store) }

// issueDirect issues a certificate through the core (method api), for use
// as a client certificate.
func (f *fixture) issueDirect(profile string, key crypto.Signer, cn string, dns ...string) *tls.Certificate {
	f.t.Helper()
	issued, err := f.core.Issue(context.Background(), ca.IssueRequest{Profile: profile, Method: "api", Requester: "test", CSR: csrDER(f.t, key, cn, dns...)})
	if err != nil {
		f.t.Fatal(err)
	}
	return tlsCert(issued.Cert, key, issued.Chain[0])
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func csrDER(t *testing.T, key crypto.Signer, cn string, dns ...string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// b64 is the EST body of a DER request, in lines of 64 as clients send it.
func b64(der []byte) []byte { return base64Lines(der) }

func tlsCert(leaf *x509.Certificate, key crypto.Signer, chain ...*x509.Certificate) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

// testCA is a CA outside the gateway: a manufacturer's, or a stranger's.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, cn string) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

// leaf issues a client certificate (no EKU, as IDevIDs often have none).
func (c *testCA) leaf(t *testing.T, key crypto.Signer, cn string, dns ...string) *tls.Certificate {
	t.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: dns,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return tlsCert(cert, key)
}

func (c *testCA) writePEM(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bootstrap.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certsFrom decodes a base64 certs-only PKCS#7 answer.
func certsFrom(t *testing.T, body []byte) []*x509.Certificate {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\n", ""))
	if err != nil {
		t.Fatalf("answer is not base64: %v\n%s", err, body)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		t.Fatalf("answer is not PKCS#7: %v", err)
	}
	if len(p7.Signers) != 0 || len(p7.Content) != 0 {
		t.Fatalf("answer is not certs-only: %d signers, %d bytes of content", len(p7.Signers), len(p7.Content))
	}
	return p7.Certificates
}

// csrWithChallenge makes a CSR with a challengePassword attribute, which
// crypto/x509 cannot write.
func csrWithChallenge(t *testing.T, key *ecdsa.PrivateKey, challenge, cn string, dns ...string) []byte {
	t.Helper()
	return csrWithAttribute(t, key, oidChallengePassword, asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(challenge)}, cn, dns...)
}

// csrWithAttribute makes a CSR with an attribute of type oid and the one
// value v, which crypto/x509 cannot write unless v is a sequence of
// type-value pairs.
func csrWithAttribute(t *testing.T, key *ecdsa.PrivateKey, oid asn1.ObjectIdentifier, v asn1.RawValue, cn string, dns ...string) []byte {
	t.Helper()
	plain, err := x509.ParseCertificateRequest(csrDER(t, key, cn, dns...))
	if err != nil {
		t.Fatal(err)
	}
	var info struct {
		Version   int
		Subject   asn1.RawValue
		PublicKey asn1.RawValue
		Attrs     []asn1.RawValue `asn1:"tag:0"`
	}
	if _, err := asn1.Unmarshal(plain.RawTBSCertificateRequest, &info); err != nil {
		t.Fatal(err)
	}
	attr, err := asn1.Marshal(struct {
		Type   asn1.ObjectIdentifier
		Values []asn1.RawValue `asn1:"set"`
	}{oid, []asn1.RawValue{v}})
	if err != nil {
		t.Fatal(err)
	}
	info.Attrs = append([]asn1.RawValue{{FullBytes: attr}}, info.Attrs...)
	tbs, err := asn1.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256Sum(tbs)
	sig, err := key.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := asn1.Marshal(struct {
		TBS       asn1.RawValue
		Algorithm pkix.AlgorithmIdentifier
		Signature asn1.BitString
	}{asn1.RawValue{FullBytes: tbs}, pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}},
		asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificateRequest(der); err != nil {
		t.Fatalf("hand-made CSR does not parse: %v", err)
	}
	return der
}

// dialTLS opens one connection with TLS version (tls.VersionTLS12 or 13)
// and returns a client bound to it and its channel binding: tls-unique on
// TLS 1.2, tls-exporter (RFC 9266) on TLS 1.3.
func (f *fixture) dialTLS(o clientOpts, version uint16) (*http.Client, []byte) {
	f.t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(f.srv.Certificate())
	cfg := &tls.Config{RootCAs: pool, MinVersion: version, MaxVersion: version}
	if o.cert != nil {
		cfg.Certificates = []tls.Certificate{*o.cert}
	}
	conn, err := tls.Dial("tcp", f.srv.Listener.Addr().String(), cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	cs := conn.ConnectionState()
	binding := cs.TLSUnique
	if version == tls.VersionTLS13 {
		if binding, err = cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err != nil {
			f.t.Fatal(err)
		}
	}
	used := false
	tr := &http.Transport{DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
		if used {
			f.t.Error("the client needed a second connection; the binding would not match")
		}
		used = true
		return conn, nil
	}}
	f.t.Cleanup(func() { conn.Close() })
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}, binding
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// newKeyF and csrDERF are newKey and csrDER for a fuzz target's setup.
func newKeyF(f *testing.F) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	return k
}

func csrDERF(f *testing.F, key crypto.Signer) []byte {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"fuzz.example.com"}}, key)
	if err != nil {
		f.Fatal(err)
	}
	return der
}
