package cmp

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

const (
	testRef    = "device-enroll"
	testSecret = "cmp-shared-secret-0123"
)

// fixture is a CMP server over a real core (software signer) and store.
type fixture struct {
	t     *testing.T
	srv   *httptest.Server
	store storage.Store
	env   *coretest.Env
	dir   string
	root  string // the root CA, PEM
}

func newFixture(t *testing.T, st storage.Store, tune ...func(*Config)) *fixture {
	t.Helper()
	f, _ := newReplicas(t, st, tune...)
	return f
}

// newReplicas is a fixture and a second CMP server over the same core and
// store, as another replica would be (its own nonce and confirmation
// caches), at the URL it returns.
func newReplicas(t *testing.T, st storage.Store, tune ...func(*Config)) (*fixture, string) {
	t.Helper()
	p := config.Profile{Name: "devices", CA: "issuing", Methods: []string{"cmp"},
		Names:       config.Names{DNS: []string{".devices.example.com"}, CommonName: "allow", Max: 5},
		KeyTypes:    []string{"ecdsa-p256", "rsa-2048"},
		MaxValidity: config.Duration(30 * 24 * time.Hour), DefaultValidity: config.Duration(30 * 24 * time.Hour)}
	held := p
	held.Name, held.Approval = "held", config.ProfileApproval{Methods: []string{"cmp"}, RetryAfter: config.Duration(time.Second), Approvals: 1}
	env := coretest.New(t, st, coretest.Options{Profiles: []config.Profile{p, held}})
	env.Core.RequestParsers = map[string]ca.RequestParser{"cmp": ParseRequest} // as cmd/gateway wires it
	server := func() *httptest.Server {
		c := Config{CA: env.Core, Shared: st, Profiles: map[string]ProfileSettings{
			"devices": {Reference: testRef, Secret: []byte(testSecret), CA: env.CAs["issuing"]},
			"held":    {Reference: testRef, Secret: []byte(testSecret), CA: env.CAs["issuing"]},
		}}
		for _, fn := range tune {
			fn(&c)
		}
		s := New(c)
		r := chi.NewRouter()
		s.Routes(r)
		srv := httptest.NewServer(r)
		t.Cleanup(srv.Close)
		return srv
	}
	f := &fixture{t: t, srv: server(), store: st, env: env, dir: t.TempDir()}
	f.root = f.write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: env.CAs["root"].Cert().Raw}))
	return f, server().URL
}

func (f *fixture) write(name string, b []byte) string {
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

// openssl runs openssl cmp against the fixture's profile with args.
func (f *fixture) openssl(args ...string) (string, error) {
	return f.opensslAt("devices", args...)
}

// opensslAt runs openssl cmp against profile with args.
func (f *fixture) opensslAt(profile string, args ...string) (string, error) {
	f.t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		f.t.Fatal("openssl is not installed: run `make test`, which installs it, or `apt-get install openssl`")
	}
	base := []string{"cmp", "-server", strings.TrimPrefix(f.srv.URL, "http://"), "-path", "/.well-known/cmp/p/" + profile,
		"-recipient", "/CN=Issuing", "-ref", testRef}
	out, err := exec.Command("openssl", append(base, args...)...).CombinedOutput()
	return string(out), err
}

func (f *fixture) key() (string, *ecdsa.PrivateKey) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return f.write("key-"+time.Now().Format("150405.000000000")+".pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), k
}

// post sends body to path and returns the status and the answer.
func (f *fixture) post(path, contentType string, body []byte) (int, []byte) {
	f.t.Helper()
	resp, err := f.srv.Client().Post(f.srv.URL+path, contentType, strings.NewReader(string(body)))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// postCMP sends a CMP request to the profile devices and returns the
// answer.
func (f *fixture) postCMP(body []byte) []byte {
	f.t.Helper()
	_, out := f.post("/.well-known/cmp/p/devices", ContentType, body)
	return out
}

// enroll has openssl cmp enroll name.devices.example.com with ir and the
// shared secret, and returns the certificate's and the key's files.
func (f *fixture) enroll(name string) (cert, key string) {
	f.t.Helper()
	key, _ = f.key()
	cert = filepath.Join(f.dir, name+".pem")
	if msg, err := f.openssl("-secret", "pass:"+testSecret, "-cmd", "ir", "-newkey", key, "-subject", "/CN="+name+".devices.example.com",
		"-sans", name+".devices.example.com", "-certout", cert, "-implicit_confirm"); err != nil {
		f.t.Fatalf("ir %s: %v\n%s", name, err, msg)
	}
	return cert, key
}

func (f *fixture) cert(path string) *x509.Certificate {
	f.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		f.t.Fatalf("%s holds no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// openssl cmp enrolls with p10cr, ir and cr, with and without implicit
// confirmation; the certificates are the profile's and in the inventory.
func TestOpenSSLEnrolls(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		keyPath, key := f.key()
		csr, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "p10.devices.example.com"},
			DNSNames: []string{"p10.devices.example.com"}}, key)
		csrPath := f.write("req.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
		for _, tc := range []struct {
			name string
			args []string
			cn   string
		}{
			{"p10cr", []string{"-cmd", "p10cr", "-csr", csrPath}, "p10.devices.example.com"},
			{"ir", []string{"-cmd", "ir", "-newkey", keyPath, "-subject", "/CN=ir.devices.example.com", "-sans", "ir.devices.example.com"}, "ir.devices.example.com"},
			{"cr implicit", []string{"-cmd", "cr", "-newkey", keyPath, "-subject", "/CN=cr.devices.example.com", "-sans", "cr.devices.example.com", "-implicit_confirm"}, "cr.devices.example.com"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(f.dir, strings.ReplaceAll(tc.name, " ", "-")+".pem")
				chain := out + ".chain"
				args := append([]string{"-secret", "pass:" + testSecret, "-certout", out, "-chainout", chain}, tc.args...)
				if msg, err := f.openssl(args...); err != nil {
					t.Fatalf("openssl cmp %s: %v\n%s", tc.name, err, msg)
				}
				c := f.cert(out)
				if c.Subject.CommonName != tc.cn || len(c.DNSNames) != 1 || c.DNSNames[0] != tc.cn || c.NotAfter.Sub(c.NotBefore) > 31*24*time.Hour {
					t.Errorf("certificate %s %v, valid %v", c.Subject, c.DNSNames, c.NotAfter.Sub(c.NotBefore))
				}
				rec, err := st.GetCertificate(t.Context(), ca.SerialHex(c.SerialNumber))
				if err != nil || rec.Method != "cmp" || rec.Profile != "devices" || rec.Requester != "cmp:"+testRef {
					t.Errorf("inventory: %+v, %v", rec, err)
				}
			})
		}
	})
}

// Refusals: a wrong secret is an unprotected badMessageCheck; a name
// outside the profile is a protected rejection naming the problem;
// nothing is issued.
func TestOpenSSLRefusals(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		keyPath, _ := f.key()
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{"wrong secret", []string{"-secret", "pass:not-the-secret", "-unprotected_errors", "-certout", filepath.Join(f.dir, "x.pem"), "-cmd", "ir", "-newkey", keyPath,
				"-subject", "/CN=a.devices.example.com"}, []string{"badMessageCheck", "does not verify with the profile's shared secret"}},
			{"name outside the profile", []string{"-secret", "pass:" + testSecret, "-certout", filepath.Join(f.dir, "y.pem"), "-cmd", "cr", "-newkey", keyPath,
				"-subject", "/CN=www.example.org", "-sans", "www.example.org"}, []string{"notAuthorized", "www.example.org"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out, err := f.openssl(tc.args...)
				if err == nil {
					t.Fatalf("openssl cmp succeeded:\n%s", out)
				}
				for _, w := range tc.want {
					if !strings.Contains(out, w) {
						t.Errorf("openssl cmp output lacks %q:\n%s", w, out)
					}
				}
			})
		}
		if certs, _, err := st.ListCertificates(t.Context(), storage.CertificateFilter{Limit: 10}); err != nil || len(certs) != 0 {
			t.Errorf("refused requests stored %d certificates (%v)", len(certs), err)
		}
	})
}

// What is not a CMP request is an HTTP error with a line of text.
func TestHTTPErrors(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	for _, tc := range []struct {
		name, path, ct string
		body           []byte
		status         int
		want           string
	}{
		{"unknown profile", "/.well-known/cmp/p/nope", ContentType, []byte{0x30, 0}, 404, "no profile"},
		{"content type", "/.well-known/cmp/p/devices", "application/json", []byte("{}"), 400, "application/pkixcmp"},
		{"garbage", "/.well-known/cmp/p/devices", ContentType, []byte("garbage"), 400, "not a DER PKIMessage"},
		{"oversized", "/.well-known/cmp/p/devices", ContentType, make([]byte, maxMessage+1), 413, ""},
	} {
		if status, body := f.post(tc.path, tc.ct, tc.body); status != tc.status || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, status, body, tc.status, tc.want)
		}
	}
}

// A client that rejects the certificate it got (openssl cmp: it does not
// chain to -out_trusted) says so in its certConf, and the certificate is
// revoked.
func TestOpenSSLRejectsCertificate(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	keyPath, key := f.key()
	other := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "Another CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	der, _ := x509.CreateCertificate(rand.Reader, other, other, key.Public(), key)
	wrong := f.write("other-ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	out, err := f.openssl("-secret", "pass:"+testSecret, "-cmd", "ir", "-newkey", keyPath, "-subject", "/CN=rej.devices.example.com", "-sans", "rej.devices.example.com",
		"-out_trusted", wrong, "-certout", filepath.Join(f.dir, "rej.pem"))
	if err == nil {
		t.Fatalf("openssl cmp accepted a certificate that does not chain to -out_trusted:\n%s", out)
	}
	certs, _, err := f.store.ListCertificates(t.Context(), storage.CertificateFilter{Limit: 10})
	if err != nil || len(certs) != 1 || certs[0].Status != storage.StatusRevoked {
		t.Fatalf("after the rejection: %+v, %v; want the certificate revoked\n%s", certs, err, out)
	}
}

// kur: a device updates its certificate to a new key, naming the old one
// (openssl cmp -oldcert); the successor replaces it in the inventory, keeps
// its names, and a second update of the old one is refused.
func TestOpenSSLKeyUpdate(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		oldPath, _ := f.enroll("k")
		old := f.cert(oldPath)
		newKey, _ := f.key()
		newPath := filepath.Join(f.dir, "new.pem")
		if msg, err := f.openssl("-secret", "pass:"+testSecret, "-cmd", "kur", "-oldcert", oldPath, "-newkey", newKey,
			"-certout", newPath); err != nil {
			t.Fatalf("kur: %v\n%s", err, msg)
		}
		renewed := f.cert(newPath)
		if renewed.Subject.CommonName != "k.devices.example.com" || len(renewed.DNSNames) != 1 || renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
			t.Errorf("successor %s %v", renewed.Subject, renewed.DNSNames)
		}
		rec, err := st.GetCertificate(t.Context(), ca.SerialHex(renewed.SerialNumber))
		if err != nil || rec.Replaces != ca.SerialHex(old.SerialNumber) || rec.Method != "cmp" {
			t.Errorf("successor in the inventory: %+v, %v", rec, err)
		}
		if msg, err := f.openssl("-secret", "pass:"+testSecret, "-cmd", "kur", "-oldcert", oldPath, "-newkey", newKey,
			"-certout", filepath.Join(f.dir, "again.pem")); err == nil || !strings.Contains(msg, "renewed already") {
			t.Errorf("a second kur of the same certificate: %v\n%s", err, msg)
		}
	})
}

// rr: a device revokes its certificate with a reason; a second rr is
// refused with certRevoked.
func TestOpenSSLRevocation(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		certPath, _ := f.enroll("r")
		c := f.cert(certPath)
		if msg, err := f.openssl("-secret", "pass:"+testSecret, "-cmd", "rr", "-oldcert", certPath, "-revreason", "1"); err != nil {
			t.Fatalf("rr: %v\n%s", err, msg)
		}
		rec, err := st.GetCertificate(t.Context(), ca.SerialHex(c.SerialNumber))
		if err != nil || rec.Status != storage.StatusRevoked || rec.RevocationReason != 1 || rec.Requester == "" {
			t.Errorf("after rr: %+v, %v", rec, err)
		}
		if msg, err := f.openssl("-secret", "pass:"+testSecret, "-cmd", "rr", "-oldcert", certPath, "-revreason", "1"); err == nil || !strings.Contains(msg, "certRevoked") {
			t.Errorf("a second rr: %v\n%s", err, msg)
		}
	})
}

// A request sent twice is answered once; one whose messageTime is far
// from the gateway's clock is refused with badTime.
func TestReplayAndTime(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	post := func(b []byte) string { return string(f.postCMP(b)) }
	csr := p10(t)
	csrReq := func(at time.Time) []byte { return requestAt(t, bodyP10CR, csr, testSecret, 100, at) }
	req := csrReq(time.Now())
	if got := post(req); strings.Contains(got, "senderNonce") || strings.Contains(got, "messageTime") {
		t.Fatalf("the first request: %q", got)
	}
	if got := post(req); !strings.Contains(got, "senderNonce was used before") {
		t.Errorf("the same request again: %q", got)
	}
	if got := post(csrReq(time.Now().Add(-time.Hour))); !strings.Contains(got, "messageTime") {
		t.Errorf("a request an hour old: %q", got)
	}
	if certs, _, _ := f.store.ListCertificates(t.Context(), storage.CertificateFilter{Limit: 10}); len(certs) != 1 {
		t.Errorf("%d certificates, want the first request's", len(certs))
	}
}

// Replicas share what CMP remembers through the store: a request replayed
// to another replica is refused, and a certConf that rejects a
// certificate revokes it whichever replica it reaches.
func TestReplicasShareNoncesAndConfirmations(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f, other := newReplicas(t, st)
		postTo := func(base string, b []byte) string {
			t.Helper()
			resp, err := f.srv.Client().Post(base+"/.well-known/cmp/p/devices", ContentType, bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			return string(out)
		}
		req := requestAt(t, bodyP10CR, p10(t), testSecret, 100, time.Now())
		if got := postTo(f.srv.URL, req); strings.Contains(got, "senderNonce") {
			t.Fatalf("the first request: %q", got)
		}
		if got := postTo(other, req); !strings.Contains(got, "senderNonce was used before") {
			t.Errorf("the same request at another replica: %q", got)
		}

		certPath, _ := f.enroll("conf")
		cert := f.cert(certPath)
		hash := sha256.Sum256(cert.Raw)
		type certStatusASN struct {
			Hash []byte
			ID   int
			Info asn1.RawValue
		}
		conf := mustMarshal([]certStatusASN{{hash[:], 0, asn1.RawValue{FullBytes: statusInfo(statusRejection, "does not chain to my trust anchor", -1)}}})
		if got := postTo(other, requestAt(t, bodyCertConf, conf, testSecret, 100, time.Now())); strings.Contains(got, "could not") {
			t.Fatalf("certConf at another replica: %q", got)
		}
		rec, err := st.GetCertificate(t.Context(), ca.SerialHex(cert.SerialNumber))
		if err != nil || rec.Status != storage.StatusRevoked {
			t.Fatalf("after a rejecting certConf at another replica: %+v, %v; want it revoked", rec, err)
		}
	})
}

// genm: caCerts (RFC 9483 4.3.1) answers the issuing CA's certificate and
// the root; an infoType the server does not know gets an empty genp
// (openssl cmp -infotype signKeyPairTypes).
func TestGenM(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	if out, err := f.openssl("-secret", "pass:"+testSecret, "-cmd", "genm", "-infotype", "signKeyPairTypes"); err != nil {
		t.Fatalf("openssl cmp genm: %v\n%s", err, out)
	}
	content := mustMarshal([]infoTypeAndValue{{Type: oidCACerts}})
	m, err := parseMessage(f.postCMP(request(t, bodyGenM, content, testSecret, 100)))
	if err != nil || m.bodyTag != bodyGenP {
		t.Fatalf("answer: %v, %s", err, bodyName(m.bodyTag))
	}
	var items []struct {
		Type  asn1.ObjectIdentifier
		Value []asn1.RawValue
	}
	if _, err := asn1.Unmarshal(m.body, &items); err != nil || len(items) != 1 || !items[0].Type.Equal(oidCACerts) || len(items[0].Value) != 2 {
		t.Fatalf("genp %+v, %v; want caCerts with two certificates", items, err)
	}
	issuing, err := x509.ParseCertificate(items[0].Value[0].FullBytes)
	if err != nil || !bytes.Equal(issuing.Raw, f.env.CAs["issuing"].Cert().Raw) {
		t.Errorf("caCerts[0] is not the issuing CA: %v", err)
	}
}

// Ten requests from one address whose protection fails within ten
// minutes: its next requests are refused unchecked, with the right secret
// too.
func TestFailedProtectionThrottle(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	post := func(b []byte) string { return string(f.postCMP(b)) }
	for range maxFailures {
		if got := post(request(t, bodyP10CR, p10(t), "a guess", 100)); !strings.Contains(got, "does not verify") {
			t.Fatalf("a wrong secret: %q", got)
		}
	}
	if got := post(request(t, bodyP10CR, p10(t), testSecret, 100)); !strings.Contains(got, "too many requests from") {
		t.Errorf("the right secret after ten failures: %q", got)
	}
}

// Signature protection: a device's certificate signs its own kur and rr
// (openssl cmp -cert -key), and the answers are signed by the CA, which
// openssl checks against the root; it may not update or revoke another
// certificate, nor enroll new ones.
func TestOpenSSLSignedRequests(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		aCert, aKey := f.enroll("a")
		bCert, _ := f.enroll("b")
		signed := func(args ...string) (string, error) {
			return f.openssl(append([]string{"-cert", aCert, "-key", aKey, "-trusted", f.root}, args...)...)
		}
		newKey, _ := f.key()
		next := filepath.Join(f.dir, "a2.pem")
		if msg, err := signed("-cmd", "kur", "-newkey", newKey, "-certout", next); err != nil {
			t.Fatalf("kur signed by the certificate: %v\n%s", err, msg)
		}
		if c := f.cert(next); c.Subject.CommonName != "a.devices.example.com" {
			t.Errorf("successor %s", c.Subject)
		}
		if msg, err := signed("-cmd", "kur", "-oldcert", bCert, "-newkey", newKey, "-certout", filepath.Join(f.dir, "b2.pem")); err == nil ||
			!strings.Contains(msg, "notAuthorized") {
			t.Errorf("kur of another certificate: %v\n%s", err, msg)
		}
		if msg, err := signed("-cmd", "ir", "-newkey", newKey, "-subject", "/CN=c.devices.example.com", "-sans", "c.devices.example.com",
			"-certout", filepath.Join(f.dir, "c.pem")); err == nil || !strings.Contains(msg, "shared secret") {
			t.Errorf("ir signed by a certificate: %v\n%s", err, msg)
		}
		if msg, err := signed("-cmd", "rr", "-oldcert", bCert, "-revreason", "4"); err == nil || !strings.Contains(msg, "notAuthorized") {
			t.Errorf("rr of another certificate: %v\n%s", err, msg)
		}
		// The successor (with its new key) revokes itself; revoked, it
		// signs nothing more.
		bySuccessor := func(args ...string) (string, error) {
			return f.openssl(append([]string{"-cert", next, "-key", newKey, "-trusted", f.root}, args...)...)
		}
		if msg, err := bySuccessor("-cmd", "rr", "-oldcert", next, "-revreason", "4"); err != nil {
			t.Fatalf("rr signed by the certificate: %v\n%s", err, msg)
		}
		rec, err := st.GetCertificate(t.Context(), ca.SerialHex(f.cert(next).SerialNumber))
		if err != nil || rec.Status != storage.StatusRevoked || rec.RevocationReason != 4 {
			t.Errorf("after its rr: %+v, %v", rec, err)
		}
		if msg, err := bySuccessor("-unprotected_errors", "-cmd", "kur", "-newkey", newKey, "-certout", filepath.Join(f.dir, "a3.pem")); err == nil ||
			!strings.Contains(msg, "is revoked") {
			t.Errorf("kur signed by a revoked certificate: %v\n%s", err, msg)
		}
	})
}

// A profile that holds CMP requests for approval answers "waiting" to
// p10cr, ir and cr; the client polls (pollReq, pollRep with checkAfter)
// and gets its certificate once an operator approves, or the refusal once
// one rejects. A held ir or cr keeps its CRMF request, whose proof of
// possession the issuance after the approval checks again.
func TestOpenSSLPollsForApproval(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		pendingID := func() string {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				rs, err := st.ListRequests(t.Context(), storage.RequestFilter{Profile: "held", Status: storage.RequestPending, Limit: 10})
				if err == nil && len(rs) == 1 {
					return rs[0].ID
				}
			}
			t.Fatal("no request held within 10s")
			return ""
		}
		run := func(cmd, name string) (chan string, chan error) {
			keyPath, key := f.key()
			args := []string{"-secret", "pass:" + testSecret, "-cmd", cmd, "-certout", filepath.Join(f.dir, name+".pem"), "-total_timeout", "30"}
			if cmd == "p10cr" {
				der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}, DNSNames: []string{name}}, key)
				args = append(args, "-csr", f.write(name+".csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})))
			} else {
				args = append(args, "-newkey", keyPath, "-subject", "/CN="+name, "-sans", name)
			}
			outc, errc := make(chan string, 1), make(chan error, 1)
			go func() {
				out, err := f.opensslAt("held", args...)
				outc <- out
				errc <- err
			}()
			return outc, errc
		}
		for _, cmd := range []string{"p10cr", "ir"} {
			name := "approved-" + cmd + ".devices.example.com"
			outc, errc := run(cmd, name)
			id := pendingID()
			r, err := st.GetRequest(t.Context(), id)
			if err != nil || !slices.Equal(r.Names, []string{name}) {
				t.Errorf("%s held for %v, %v", cmd, r.Names, err)
			}
			if cmd == "ir" {
				// What the issuance reads again: the CRMF request as sent,
				// its proof of possession checked once more.
				if csr, err := ParseRequest(r.CSR); err != nil || csr.Subject.CommonName != name {
					t.Errorf("the held ir reads as %v, %v", csr, err)
				}
				bad := slices.Clone(r.CSR)
				bad[len(bad)-1] ^= 1 // in the signature of the proof of possession
				if _, err := ParseRequest(bad); !errs.Is(err, errs.BadCSR) || !strings.Contains(err.Error(), "proof of possession") {
					t.Errorf("a held ir with a broken proof of possession: %v", err)
				}
			}
			if _, err := f.env.Core.Approve(t.Context(), id, "operator"); err != nil {
				t.Fatalf("approve the %s: %v", cmd, err)
			}
			if out, err := <-outc, <-errc; err != nil {
				t.Fatalf("openssl cmp %s polling for an approved request: %v\n%s", cmd, err, out)
			}
			if c := f.cert(filepath.Join(f.dir, name+".pem")); c.Subject.CommonName != name {
				t.Errorf("%s: certificate %s", cmd, c.Subject)
			}
		}
		outc, errc := run("cr", "rejected.devices.example.com")
		if _, err := f.env.Core.Reject(t.Context(), pendingID(), "operator", "not ours"); err != nil {
			t.Fatal(err)
		}
		if out, err := <-outc, <-errc; err == nil || !strings.Contains(out, "not ours") {
			t.Errorf("openssl cmp polling for a rejected request: %v\n%s", err, out)
		}
	})
}

// With cmp.issuances_per_minute, a subject gets that many certificates a
// minute under a profile; more is a rejection with systemUnavail saying
// when to retry, and nothing is issued.
func TestOpenSSLRateLimited(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), func(c *Config) { c.Limiter = ratelimit.New(1, "cmp.issuances_per_minute") })
	keyPath, _ := f.key()
	ir := func(n string) (string, error) {
		return f.openssl("-secret", "pass:"+testSecret, "-certout", filepath.Join(f.dir, n+".pem"), "-cmd", "ir", "-newkey", keyPath,
			"-subject", "/CN=rl.devices.example.com", "-sans", "rl.devices.example.com")
	}
	if out, err := ir("first"); err != nil {
		t.Fatalf("first ir: %v\n%s", err, out)
	}
	out, err := ir("second")
	if err == nil || !strings.Contains(out, "systemUnavail") || !strings.Contains(out, "cmp.issuances_per_minute") {
		t.Errorf("second ir within the minute: %v\n%s", err, out)
	}
	if certs, _, err := f.store.ListCertificates(t.Context(), storage.CertificateFilter{Profile: "devices", Limit: 10}); err != nil || len(certs) != 1 {
		t.Errorf("%d certificates (%v), want the first only", len(certs), err)
	}
}
