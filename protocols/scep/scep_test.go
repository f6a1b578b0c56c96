package scep

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/smallstep/scep"
	"github.com/smallstep/scep/x509util"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

const challenge = "correct horse battery staple"

// fixture is a SCEP server over a core with a software-signer hierarchy,
// served by httptest over plain HTTP, as the gateway's HTTP listener does.
type fixture struct {
	t      testing.TB
	env    *coretest.Env
	store  storage.Store
	cfg    Config
	server *Server
	srv    *httptest.Server
	clock  *coretest.Clock
	ra     *x509.Certificate
	chain  []*x509.Certificate // GetCACert's answer: RA, issuing, root
	client *http.Client
}

func scepProfile(name string) config.Profile {
	yes := true
	return config.Profile{
		Name: name, CA: "issuing", Methods: []string{"scep", "api"},
		Names:    config.Names{DNS: []string{".example.com"}, CommonName: "allow", CommonNameInSAN: &yes, Max: 10},
		KeyTypes: []string{"ecdsa-p256", "rsa-2048"},
		// Device certificates, for TLS clients (and valid past 2027-03-15,
		// when the Chrome Root Program stops clientAuth next to serverAuth;
		// TestRAKeptAndRenewed's clock gets there).
		ExtKeyUsage: []string{"client_auth"},
		MaxValidity: config.Duration(90 * 24 * time.Hour), DefaultValidity: config.Duration(30 * 24 * time.Hour),
	}
}

// newFixture serves the profiles "devices" (challenge set) and "renewals"
// (none: one-time challenges only, revoke on renewal), "other", a profile
// without scep, for certificates that must not renew over SCEP, and "held"
// (one-time challenges, first enrollments wait for approval).
func newFixture(t testing.TB, st storage.Store) *fixture {
	t.Helper()
	f := &fixture{t: t, store: st, clock: coretest.NewClock(time.Now().Truncate(time.Second)), client: &http.Client{Timeout: 30 * time.Second}}
	other := scepProfile("other")
	other.Methods = []string{"api"}
	held := scepProfile("held")
	held.Approval = config.ProfileApproval{Methods: []string{"scep"}, RetryAfter: config.Duration(time.Minute)}
	f.env = coretest.New(t, st, coretest.Options{Profiles: []config.Profile{scepProfile("devices"), scepProfile("renewals"), other, held}, Now: f.clock.Now})
	f.cfg = Config{
		Core: f.env.Core, Store: st, Challenges: st, Signer: f.env.Signer, Log: slog.New(slog.DiscardHandler), Now: f.clock.Now,
		Profiles: map[string]ProfileSettings{
			"devices":  {Challenge: challenge},
			"renewals": {RevokeOnRenewal: true},
			"held":     {},
		},
	}
	f.serve()
	f.getCACert("devices")
	return f
}

// serve starts a SCEP server over f.cfg at f.srv (again, after a test
// changed f.cfg).
func (f *fixture) serve() {
	f.t.Helper()
	srv, err := New(context.Background(), f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.server = srv
	r := chi.NewRouter()
	srv.Routes(r)
	f.srv = httptest.NewServer(r)
	f.t.Cleanup(f.srv.Close)
}

// getCACert fetches and checks the RA and CA certificates of a profile.
func (f *fixture) getCACert(profile string) {
	f.t.Helper()
	a := f.do("GET", "/scep/"+profile+"?operation=GetCACert", nil)
	if a.status != 200 || a.header.Get("Content-Type") != "application/x-x509-ca-ra-cert" {
		f.t.Fatalf("GetCACert: %d %s %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	certs, err := scep.CACerts(a.body)
	if err != nil {
		f.t.Fatal(err)
	}
	f.chain = certs
	f.ra = certs[0]
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (f *fixture) do(method, path string, body []byte) answer {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func (f *fixture) countCerts() int { return coretest.CountCertificates(f.t, f.store) }

// device is a SCEP client: its key and the certificate it signs with.
type device struct {
	key  crypto.Signer
	cert *x509.Certificate
}

func rsaKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newDevice makes a key and the self-signed certificate a first
// enrollment is signed with.
func newDevice(t testing.TB, key crypto.Signer) *device {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "device"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &device{key: key, cert: c}
}

// csr makes a CSR of the device's key with a challengePassword.
func (d *device) csr(t testing.TB, cn, challenge string, dns ...string) *x509.CertificateRequest {
	t.Helper()
	der, err := x509util.CreateCertificateRequest(rand.Reader, &x509util.CertificateRequest{
		CertificateRequest: x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: dns},
		ChallengePassword:  challenge,
	}, d.key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

// message builds a pkiMessage of type typ for csr, encrypted to
// recipient (the RA when nil) and signed by d.
func (f *fixture) message(d *device, typ scep.MessageType, csr *x509.CertificateRequest, recipient *x509.Certificate) []byte {
	f.t.Helper()
	if recipient == nil {
		recipient = f.ra
	}
	msg, err := scep.NewCSRRequest(csr, &scep.PKIMessage{
		MessageType: typ, Recipients: []*x509.Certificate{recipient}, SignerKey: d.key, SignerCert: d.cert,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return msg.Raw
}

// pkiOperation posts a message and reads the CertRep; for SUCCESS it
// opens the certificate with the device's key.
func (f *fixture) pkiOperation(profile string, d *device, raw []byte) *scep.PKIMessage {
	f.t.Helper()
	a := f.do("POST", "/scep/"+profile+"?operation=PKIOperation", raw)
	return f.certRep(a, d)
}

func (f *fixture) certRep(a answer, d *device) *scep.PKIMessage {
	f.t.Helper()
	if a.status != 200 || a.header.Get("Content-Type") != "application/x-pki-message" {
		f.t.Fatalf("PKIOperation: %d %s %s", a.status, a.header.Get("Content-Type"), a.body)
	}
	rep, err := scep.ParsePKIMessage(a.body, scep.WithCACerts(f.chain))
	if err != nil {
		f.t.Fatalf("CertRep: %v", err)
	}
	if rep.MessageType != scep.CertRep {
		f.t.Fatalf("answer of type %s, want CertRep", rep.MessageType)
	}
	if rep.PKIStatus == scep.SUCCESS {
		if err := rep.DecryptPKIEnvelope(d.cert, d.key); err != nil {
			f.t.Fatalf("open the CertRep: %v", err)
		}
	}
	return rep
}

// enroll runs a first enrollment that must succeed.
func (f *fixture) enroll(profile string, d *device, cn string, dns ...string) *x509.Certificate {
	f.t.Helper()
	rep := f.pkiOperation(profile, d, f.message(d, scep.PKCSReq, d.csr(f.t, cn, challenge, dns...), nil))
	if rep.PKIStatus != scep.SUCCESS {
		f.t.Fatalf("enroll %s: %s %s", cn, rep.PKIStatus, rep.FailInfo)
	}
	return rep.CertRepMessage.Certificate
}

func TestCapabilitiesAndCACerts(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	a := f.do("GET", "/scep/devices?operation=GetCACaps", nil)
	for _, want := range []string{"POSTPKIOperation", "SHA-256", "AES", "Renewal", "SCEPStandard"} {
		if a.status != 200 || !strings.Contains(string(a.body), want+"\n") {
			t.Errorf("GetCACaps: %d %q lacks %s", a.status, a.body, want)
		}
	}
	issuing := f.env.CAs["issuing"]
	if len(f.chain) != 3 || !f.chain[1].Equal(issuing.Cert()) || !f.chain[2].Equal(issuing.Chain()[0]) {
		t.Fatalf("GetCACert: %d certificates, want the RA, the issuing CA and the root", len(f.chain))
	}
	ra := f.ra
	if err := ra.CheckSignatureFrom(issuing.Cert()); err != nil {
		t.Errorf("the RA certificate is not issued by the CA: %v", err)
	}
	if _, ok := ra.PublicKey.(*rsa.PublicKey); !ok || ra.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageKeyEncipherment ||
		len(ra.ExtKeyUsage) != 0 || len(ra.UnknownExtKeyUsage) != 1 || ra.UnknownExtKeyUsage[0].String() != "1.3.6.1.5.5.7.3.28" || ra.IsCA {
		t.Errorf("RA certificate: key %T, usage %v, extended %v %v", ra.PublicKey, ra.KeyUsage, ra.ExtKeyUsage, ra.UnknownExtKeyUsage)
	}
	// One RA per CA: both profiles of the issuing CA answer the same.
	f.getCACert("renewals")
	if !f.chain[0].Equal(ra) {
		t.Error("two profiles of one CA have different RAs")
	}
}

// Both stores: a first enrollment by POST and by GET, then a renewal.
func TestEnrollAndRenew(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ctx := context.Background()
		d := newDevice(t, rsaKey(t))
		cert := f.enroll("devices", d, "dev1.example.com", "dev1.example.com")
		if cert.Subject.CommonName != "dev1.example.com" || cert.PublicKey.(*rsa.PublicKey).N.Cmp(d.key.Public().(*rsa.PublicKey).N) != 0 {
			t.Fatalf("enrolled certificate %q is not for the device's key", cert.Subject.CommonName)
		}
		if err := cert.CheckSignatureFrom(f.env.CAs["issuing"].Cert()); err != nil {
			t.Fatal(err)
		}
		rec, err := st.GetCertificate(ctx, ca.SerialHex(cert.SerialNumber))
		if err != nil || rec.Method != "scep" || rec.Requester != "scep challenge" || rec.Profile != "devices" || rec.Status != storage.StatusActive {
			t.Fatalf("inventory record %+v, %v", rec, err)
		}

		// RFC 8894 section 4.1: a PKIOperation by GET carries the message
		// in base64, URL-escaped.
		d2 := newDevice(t, rsaKey(t))
		raw := f.message(d2, scep.PKCSReq, d2.csr(t, "dev2.example.com", challenge, "dev2.example.com"), nil)
		rep := f.certRep(f.do("GET", "/scep/devices/pkiclient.exe?operation=PKIOperation&message="+url.QueryEscape(base64.StdEncoding.EncodeToString(raw)), nil), d2)
		if rep.PKIStatus != scep.SUCCESS || rep.CertRepMessage.Certificate.Subject.CommonName != "dev2.example.com" {
			t.Fatalf("GET PKIOperation: %s %s", rep.PKIStatus, rep.FailInfo)
		}

		// Renewal: signed with the certificate, same names, a new key.
		renewer := &device{key: d.key, cert: cert}
		newKey := newDevice(t, rsaKey(t))
		rep = f.pkiOperation("devices", renewer, f.message(renewer, scep.RenewalReq, newKey.csr(t, "dev1.example.com", "", "dev1.example.com"), nil))
		if rep.PKIStatus != scep.SUCCESS {
			t.Fatalf("renewal: %s %s", rep.PKIStatus, rep.FailInfo)
		}
		renewed := rep.CertRepMessage.Certificate
		newRec, err := st.GetCertificate(ctx, ca.SerialHex(renewed.SerialNumber))
		if err != nil || newRec.Replaces != rec.Serial || newRec.Requester != "cert:"+rec.Serial {
			t.Fatalf("renewed record %+v, %v; want it to replace %s", newRec, err, rec.Serial)
		}
		if old, _ := st.GetCertificate(ctx, rec.Serial); old.Status != storage.StatusActive || old.RenewedBy != newRec.Serial {
			t.Errorf("the renewed certificate: status %s, renewed by %q; the profile keeps it valid", old.Status, old.RenewedBy)
		}
	})
}

// Each refusal is a CertRep FAILURE with the failInfo RFC 8894 names for
// it, signed by the RA, and nothing is stored.
func TestRefusals(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	good := newDevice(t, rsaKey(t))
	ecDevice := newDevice(t, must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader)))
	stranger := newDevice(t, rsaKey(t)) // not the RA: an envelope it cannot open
	issued := f.enroll("devices", good, "dev1.example.com", "dev1.example.com")
	renewer := &device{key: good.key, cert: issued}
	otherIssued, err := f.env.Core.Issue(context.Background(), ca.IssueRequest{Profile: "other", Method: "api", Requester: "test",
		CheckedCSR: good.csr(t, "dev1.example.com", "", "dev1.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	otherProfile := &device{key: good.key, cert: otherIssued.Cert}

	for _, tc := range []struct {
		name    string
		profile string
		d       *device
		raw     func() []byte
		want    scep.FailInfo
	}{
		{"wrong challenge", "devices", good, func() []byte {
			return f.message(good, scep.PKCSReq, good.csr(t, "dev2.example.com", "wrong", "dev2.example.com"), nil)
		}, scep.BadRequest},
		{"no challenge", "devices", good, func() []byte {
			return f.message(good, scep.PKCSReq, good.csr(t, "dev2.example.com", "", "dev2.example.com"), nil)
		}, scep.BadRequest},
		{"profile without a challenge", "renewals", good, func() []byte {
			return f.message(good, scep.PKCSReq, good.csr(t, "dev2.example.com", challenge, "dev2.example.com"), nil)
		}, scep.BadRequest},
		{"name outside the profile", "devices", good, func() []byte {
			return f.message(good, scep.PKCSReq, good.csr(t, "dev2.example.org", challenge, "dev2.example.org"), nil)
		}, scep.BadRequest},
		{"ECDSA signer", "devices", ecDevice, func() []byte {
			return f.message(ecDevice, scep.PKCSReq, ecDevice.csr(t, "dev2.example.com", challenge, "dev2.example.com"), stranger.cert)
		}, scep.BadAlg},
		{"envelope for another recipient", "devices", good, func() []byte {
			return f.message(good, scep.PKCSReq, good.csr(t, "dev2.example.com", challenge, "dev2.example.com"), stranger.cert)
		}, scep.BadMessageCheck},
		{"renewal signed by a self-signed certificate", "devices", good, func() []byte {
			return f.message(good, scep.RenewalReq, good.csr(t, "dev1.example.com", "", "dev1.example.com"), nil)
		}, scep.BadRequest},
		{"renewal with other names", "devices", renewer, func() []byte {
			return f.message(renewer, scep.RenewalReq, good.csr(t, "dev1.example.com", "", "dev1.example.com", "dev9.example.com"), nil)
		}, scep.BadRequest},
		{"renewal under another profile", "renewals", renewer, func() []byte {
			return f.message(renewer, scep.RenewalReq, good.csr(t, "dev1.example.com", "", "dev1.example.com"), nil)
		}, scep.BadRequest},
		{"renewal of a certificate of a profile without scep", "devices", otherProfile, func() []byte {
			return f.message(otherProfile, scep.RenewalReq, good.csr(t, "dev1.example.com", "", "dev1.example.com"), nil)
		}, scep.BadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.countCerts()
			rep := f.pkiOperation(tc.profile, tc.d, tc.raw())
			if rep.PKIStatus != scep.FAILURE || rep.FailInfo != tc.want {
				t.Errorf("got %s %s, want FAILURE %s", rep.PKIStatus, rep.FailInfo, tc.want)
			}
			if after := f.countCerts(); after != before {
				t.Errorf("a refused request changed the inventory: %d certificates, %d before", after, before)
			}
		})
	}
}

// What cannot be answered with a CertRep is an HTTP status with a reason.
func TestHTTPErrors(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	d := newDevice(t, rsaKey(t))
	valid := f.message(d, scep.PKCSReq, d.csr(t, "dev1.example.com", challenge, "dev1.example.com"), nil)
	before := f.countCerts()
	for _, tc := range []struct {
		name, method, path string
		body               []byte
		status             int
		reason             string
	}{
		{"unknown profile", "GET", "/scep/nope?operation=GetCACaps", nil, 404, "no SCEP service for profile"},
		{"profile without scep", "GET", "/scep/other?operation=GetCACert", nil, 404, "no SCEP service for profile"},
		{"no operation", "GET", "/scep/devices", nil, 400, "operation parameter is missing"},
		{"unknown operation", "GET", "/scep/devices?operation=GetNextCACert", nil, 400, "not supported"},
		{"GetCACaps by POST", "POST", "/scep/devices?operation=GetCACaps", []byte("x"), 405, "takes GET"},
		{"garbage", "POST", "/scep/devices?operation=PKIOperation", []byte("not a pkiMessage"), 400, "does not parse"},
		{"empty body", "POST", "/scep/devices?operation=PKIOperation", nil, 400, "body is empty"},
		{"truncated", "POST", "/scep/devices?operation=PKIOperation", valid[:len(valid)/2], 400, "does not parse"},
		{"oversized", "POST", "/scep/devices?operation=PKIOperation", make([]byte, DefaultMaxBodyBytes+1), 413, "too large"},
		{"GET without message", "GET", "/scep/devices?operation=PKIOperation", nil, 400, "needs the message parameter"},
		{"GET bad base64", "GET", "/scep/devices?operation=PKIOperation&message=%%%21", nil, 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := f.do(tc.method, tc.path, tc.body)
			if a.status != tc.status || !strings.Contains(string(a.body), tc.reason) {
				t.Errorf("%d %q, want %d with %q", a.status, a.body, tc.status, tc.reason)
			}
		})
	}
	if after := f.countCerts(); after != before {
		t.Errorf("refused requests changed the inventory: %d certificates, %d before", after, before)
	}
}

// A renewal under a profile that revokes on renewal revokes the old
// certificate as superseded.
func TestRenewalRevokes(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	d := newDevice(t, rsaKey(t))
	issued, err := f.env.Core.Issue(context.Background(), ca.IssueRequest{Profile: "renewals", Method: "scep", Requester: "test",
		CheckedCSR: d.csr(t, "dev1.example.com", "", "dev1.example.com")})
	if err != nil {
		t.Fatal(err)
	}
	renewer := &device{key: d.key, cert: issued.Cert}
	rep := f.pkiOperation("renewals", renewer, f.message(renewer, scep.RenewalReq, d.csr(t, "dev1.example.com", "", "dev1.example.com"), nil))
	if rep.PKIStatus != scep.SUCCESS {
		t.Fatalf("renewal: %s %s", rep.PKIStatus, rep.FailInfo)
	}
	old, _ := f.store.GetCertificate(context.Background(), issued.Serial)
	if old.Status != storage.StatusRevoked || old.RevocationReason != 4 { // superseded
		t.Errorf("renewed certificate: %s reason %d, want revoked as superseded", old.Status, old.RevocationReason)
	}
	// A revoked certificate renews no more.
	rep = f.pkiOperation("renewals", renewer, f.message(renewer, scep.RenewalReq, d.csr(t, "dev1.example.com", "", "dev1.example.com"), nil))
	if rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadRequest {
		t.Errorf("renewal with a revoked certificate: %s %s", rep.PKIStatus, rep.FailInfo)
	}
}

// The RA key stays in the token and its certificate in the store: a
// restarted server (or another replica) uses both; near its end the
// certificate is renewed for the same key.
func TestRAKeptAndRenewed(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	first := f.ra
	again, err := New(context.Background(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := again.profiles["devices"].ra.current(context.Background())
	if err != nil || !r.cert.Equal(first) {
		t.Fatalf("a second server made a new RA certificate (%v)", err)
	}
	if _, err := f.env.Signer.Key(context.Background(), f.env.Signer.URI("scep-ra-issuing")); err != nil {
		t.Fatalf("no RA key labelled scep-ra-issuing: %v", err)
	}

	f.clock.Advance(first.NotAfter.Sub(f.clock.Now()) - 29*24*time.Hour) // inside the 30 days before its end
	f.getCACert("devices")
	if f.ra.Equal(first) || !f.ra.NotAfter.After(first.NotAfter) {
		t.Fatal("the RA certificate was not renewed in its last 30 days")
	}
	if !f.ra.PublicKey.(*rsa.PublicKey).Equal(first.PublicKey) {
		t.Error("the renewed RA certificate has a new key; devices holding the old certificate could not reach it")
	}
}

// A device that kept the RA certificate from before a renewal encrypts to
// it; the key is the same, so the request still opens.
func TestEarlierRACertificate(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		first := f.ra
		// Renew within minutes (CertRep signing times are real time, so
		// the clock must not move far).
		f.server.profiles["devices"].ra.cfg.RARenewBefore = 365*24*time.Hour - 30*time.Second
		f.clock.Advance(40 * time.Second)
		f.getCACert("devices")
		if f.ra.Equal(first) {
			t.Fatal("the RA certificate was not renewed")
		}
		d := newDevice(t, rsaKey(t))
		if rep := f.pkiOperation("devices", d, f.message(d, scep.PKCSReq, d.csr(t, "old-ra.example.com", challenge, "old-ra.example.com"), first)); rep.PKIStatus != scep.SUCCESS {
			t.Errorf("a request encrypted to the earlier RA certificate: %s %s", rep.PKIStatus, rep.FailInfo)
		}
	})
}

// The RA key of a software signer must be RSA: a key of another type
// under the label is a configuration error, not a silent failure.
func TestRAKeyMustBeRSA(t *testing.T) {
	st := teststore.SQLite(t)
	env := coretest.New(t, st, coretest.Options{Profiles: []config.Profile{scepProfile("devices")}})
	if _, err := env.Signer.Generate(context.Background(), "scep-ra-issuing", signer.ECDSAP256); err != nil {
		t.Fatal(err)
	}
	_, err := New(context.Background(), Config{Core: env.Core, Store: st, Signer: env.Signer, Profiles: map[string]ProfileSettings{"devices": {Challenge: "x"}}})
	if err == nil || !strings.Contains(err.Error(), "not an RSA key") {
		t.Fatalf("New with an ECDSA RA key: %v", err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Attacker bytes as a PKIOperation body: every answer is a CertRep or a
// 4xx, never a panic or a 5xx, and nothing is issued without the
// challenge (the seeds include a valid request with a wrong one).
func FuzzPKIOperation(f *testing.F) {
	fx := newFixture(f, teststore.SQLite(f))
	d := newDevice(f, rsaKey(f))
	valid := fx.message(d, scep.PKCSReq, d.csr(f, "dev1.example.com", "wrong", "dev1.example.com"), nil)
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(fx.certPoll(d, "no-such-transaction")) // CertPoll, read by the gateway itself
	// GetCert and GetCRL, read by the gateway too (the CRL one names
	// another issuer: the fixture publishes no CRL, which is a 503).
	f.Add(fx.signedMessage(d, scep.GetCert, "t", must(asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: fx.chain[1].RawSubject}, SerialNumber: big.NewInt(7)}))))
	f.Add(fx.signedMessage(d, scep.GetCRL, "t", must(asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: fx.chain[2].RawSubject}, SerialNumber: big.NewInt(7)}))))
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02})
	f.Add([]byte("garbage"))
	h := chi.NewRouter()
	srv, err := New(context.Background(), fx.cfg)
	if err != nil {
		f.Fatal(err)
	}
	srv.Routes(h)
	before := fx.countCerts()
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("POST", "/scep/devices?operation=PKIOperation", bytes.NewReader(body)))
		if w.Code >= 500 || (w.Code == 200 && w.Header().Get("Content-Type") != "application/x-pki-message") {
			t.Fatalf("%d %s: %s", w.Code, w.Header().Get("Content-Type"), w.Body.Bytes())
		}
	})
	if after := fx.countCerts(); after != before {
		f.Errorf("fuzzed requests issued %d certificates", after-before)
	}
}

// One-time challenges (both stores): each enrolls one device under its own
// profile, once, before it expires; the profile "renewals" has no static
// challenge and takes them.
func TestOneTimeChallenges(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ctx := context.Background()
		mk := func(profile string, validFor time.Duration) string {
			c, _, err := CreateChallenge(ctx, st, profile, "tester", f.clock.Now(), validFor)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		enroll := func(profile, challenge, name string) *scep.PKIMessage {
			d := newDevice(t, rsaKey(t))
			return f.pkiOperation(profile, d, f.message(d, scep.PKCSReq, d.csr(t, name, challenge, name), nil))
		}
		f.getCACert("renewals")
		one := mk("renewals", time.Hour)
		if rep := enroll("renewals", one, "ot1.example.com"); rep.PKIStatus != scep.SUCCESS {
			t.Fatalf("enrollment with a one-time challenge: %s %s", rep.PKIStatus, rep.FailInfo)
		} else if rec, err := st.GetCertificate(ctx, ca.SerialHex(rep.CertRepMessage.Certificate.SerialNumber)); err != nil || rec.Requester != "scep one-time challenge" {
			t.Fatalf("inventory record %+v, %v", rec, err)
		}
		before := f.countCerts()
		if rep := enroll("renewals", one, "ot2.example.com"); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadRequest {
			t.Errorf("a used challenge: %s %s", rep.PKIStatus, rep.FailInfo)
		}
		// A challenge of another profile neither enrolls here nor is used up.
		other := mk("devices", time.Hour)
		if rep := enroll("renewals", other, "ot3.example.com"); rep.PKIStatus != scep.FAILURE {
			t.Errorf("another profile's challenge: %s", rep.PKIStatus)
		}
		expiring := mk("renewals", time.Minute)
		f.clock.Advance(2 * time.Minute)
		if rep := enroll("renewals", expiring, "ot4.example.com"); rep.PKIStatus != scep.FAILURE {
			t.Errorf("an expired challenge: %s", rep.PKIStatus)
		}
		if after := f.countCerts(); after != before {
			t.Errorf("refused enrollments changed the inventory: %d, %d before", after, before)
		}
		f.getCACert("devices")
		if rep := enroll("devices", other, "ot5.example.com"); rep.PKIStatus != scep.SUCCESS {
			t.Errorf("a one-time challenge beside the static one: %s %s", rep.PKIStatus, rep.FailInfo)
		}
		if _, _, err := CreateChallenge(ctx, st, "devices", "tester", f.clock.Now(), 31*24*time.Hour); !errs.Is(err, errs.Malformed) {
			t.Errorf("a challenge valid for 31 days: %v", err)
		}
	})
}

// Wrong challenges from one address are throttled: after ten in ten
// minutes even the right one is refused, until the window has passed.
func TestWrongChallengesThrottled(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	enroll := func(challenge string) *scep.PKIMessage {
		d := newDevice(t, rsaKey(t))
		return f.pkiOperation("devices", d, f.message(d, scep.PKCSReq, d.csr(t, "dev9.example.com", challenge, "dev9.example.com"), nil))
	}
	for range maxChallengeFailures {
		if rep := enroll("guess"); rep.PKIStatus != scep.FAILURE {
			t.Fatalf("a wrong challenge: %s", rep.PKIStatus)
		}
	}
	if rep := enroll(challenge); rep.PKIStatus != scep.FAILURE {
		t.Fatalf("the right challenge after %d wrong ones: %s", maxChallengeFailures, rep.PKIStatus)
	}
	f.clock.Advance(challengeFailureWindow)
	if rep := enroll(challenge); rep.PKIStatus != scep.SUCCESS {
		t.Fatalf("the right challenge once the window passed: %s %s", rep.PKIStatus, rep.FailInfo)
	}
}

// With scep.issuances_per_minute, a subject gets that many certificates
// a minute under a profile: more is a 429 with Retry-After, before the
// request's one-time challenge is spent, which works once the wait is
// over; renewals count too; requests that fail authentication spend
// nothing.
func TestIssuanceRateLimit(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	ctx := context.Background()
	f.cfg.Limiter = ratelimit.New(1, "scep.issuances_per_minute")
	f.serve()
	f.getCACert("renewals")
	mk := func() string {
		c, _, err := CreateChallenge(ctx, f.store, "renewals", "tester", f.clock.Now(), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// A request without a valid challenge spends none of the subject's
	// issuances.
	d := newDevice(t, rsaKey(t))
	if rep := f.pkiOperation("renewals", d, f.message(d, scep.PKCSReq, d.csr(t, "rl.example.com", "not-a-challenge", "rl.example.com"), nil)); rep.PKIStatus != scep.FAILURE {
		t.Fatalf("a wrong challenge: %s", rep.PKIStatus)
	}
	rep := f.pkiOperation("renewals", d, f.message(d, scep.PKCSReq, d.csr(t, "rl.example.com", mk(), "rl.example.com"), nil))
	if rep.PKIStatus != scep.SUCCESS {
		t.Fatalf("first enrollment: %s %s", rep.PKIStatus, rep.FailInfo)
	}
	cert := rep.CertRepMessage.Certificate
	d2 := newDevice(t, rsaKey(t))
	second := mk()
	raw := f.message(d2, scep.PKCSReq, d2.csr(t, "rl.example.com", second, "rl.example.com"), nil)
	before := f.countCerts()
	a := f.do("POST", "/scep/renewals?operation=PKIOperation", raw)
	if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "60" || !strings.Contains(string(a.body), "scep.issuances_per_minute") {
		t.Fatalf("second enrollment of the subject in a minute: %d %v %s, want 429", a.status, a.header, a.body)
	}
	renewer := &device{key: d.key, cert: cert}
	a = f.do("POST", "/scep/renewals?operation=PKIOperation", f.message(renewer, scep.RenewalReq, d.csr(t, "rl.example.com", "", "rl.example.com"), nil))
	if a.status != http.StatusTooManyRequests {
		t.Errorf("a renewal within the minute: %d %s, want 429", a.status, a.body)
	}
	if f.countCerts() != before {
		t.Error("a refused request issued")
	}
	f.clock.Advance(time.Minute)
	if rep := f.pkiOperation("renewals", d2, f.message(d2, scep.PKCSReq, d2.csr(t, "rl.example.com", second, "rl.example.com"), nil)); rep.PKIStatus != scep.SUCCESS {
		t.Errorf("the challenge refused by the limit, a minute later: %s %s", rep.PKIStatus, rep.FailInfo)
	}
}

// With a challenge webhook, a challenge that is neither the profile's nor
// a one-time one is the webhook's to decide: it gets the challenge and
// the CSR's names, signed with the profile's secret; {"allow": true}
// enrolls, {"allow": false} is refused with its reason, and a webhook
// that fails is a 503 the device retries. The static challenge does not
// ask it.
func TestChallengeWebhook(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t))
	var asked atomic.Int32
	var failing atomic.Bool
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte("hook-secret"))
		mac.Write(body)
		if r.Header.Get("X-Gateway-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		var req challengeRequest
		json.Unmarshal(body, &req)
		allow := req.Challenge == "mdm-issued-1" && req.Profile == "renewals" && len(req.DNSNames) == 1 && req.DNSNames[0] == "mdm.example.com" &&
			strings.Contains(req.CSR, "BEGIN CERTIFICATE REQUEST")
		json.NewEncoder(w).Encode(map[string]any{"allow": allow, "reason": "not a challenge the MDM handed out"})
	}))
	t.Cleanup(hook.Close)
	f.cfg.Profiles["renewals"] = ProfileSettings{ChallengeWebhook: &ChallengeWebhook{URL: hook.URL, Secret: []byte("hook-secret")}}
	f.cfg.Profiles["devices"] = ProfileSettings{Challenge: challenge, ChallengeWebhook: &ChallengeWebhook{URL: hook.URL, Secret: []byte("hook-secret")}}
	f.serve()
	f.getCACert("renewals")
	enroll := func(profile, pass string) *scep.PKIMessage {
		d := newDevice(t, rsaKey(t))
		return f.pkiOperation(profile, d, f.message(d, scep.PKCSReq, d.csr(t, "mdm.example.com", pass, "mdm.example.com"), nil))
	}
	if rep := enroll("renewals", "mdm-issued-1"); rep.PKIStatus != scep.SUCCESS {
		t.Fatalf("a challenge the webhook allows: %s %s", rep.PKIStatus, rep.FailInfo)
	} else if rec, err := f.store.GetCertificate(context.Background(), ca.SerialHex(rep.CertRepMessage.Certificate.SerialNumber)); err != nil || rec.Requester != "scep challenge webhook" {
		t.Errorf("inventory record %+v, %v", rec, err)
	}
	before := f.countCerts()
	if rep := enroll("renewals", "guessed"); rep.PKIStatus != scep.FAILURE || rep.FailInfo != scep.BadRequest {
		t.Errorf("a challenge the webhook refuses: %s %s", rep.PKIStatus, rep.FailInfo)
	}
	failing.Store(true)
	d := newDevice(t, rsaKey(t))
	if a := f.do("POST", "/scep/renewals?operation=PKIOperation", f.message(d, scep.PKCSReq, d.csr(t, "mdm.example.com", "mdm-issued-1", "mdm.example.com"), nil)); a.status != http.StatusServiceUnavailable {
		t.Errorf("a failing webhook: %d %s, want 503", a.status, a.body)
	}
	if f.countCerts() != before {
		t.Error("a refused enrollment issued")
	}
	failing.Store(false)
	n := asked.Load()
	f.getCACert("devices")
	if rep := enroll("devices", challenge); rep.PKIStatus != scep.SUCCESS || asked.Load() != n {
		t.Errorf("the static challenge: %s, webhook asked %d times more", rep.PKIStatus, asked.Load()-n)
	}
}
