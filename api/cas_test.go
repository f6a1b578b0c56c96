package api_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
)

type caEntry struct {
	Name, Parent, Serial, Subject, Certificate string
	ServingSerial                              string `json:"serving_serial"`
	DaysLeft                                   int    `json:"days_left"`
}

type casPage struct {
	CAs []caEntry `json:"cas"`
}

// byName finds a CA in the list.
func (p casPage) byName(name string) caEntry {
	for _, c := range p.CAs {
		if c.Name == name {
			return c
		}
	}
	return caEntry{}
}

// GET /api/v1/cas lists the CAs with their certificates and days left, and
// names the certificate a gateway still serves after a renewal in the store.
func TestListCAs(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		if r := e.do("GET", "/api/v1/cas", "", nil); r.status != http.StatusUnauthorized {
			t.Fatalf("without a token: %d", r.status)
		}
		var p casPage
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if len(p.CAs) != 2 || p.byName("root").Parent != "" || p.byName("issuing").Parent != "root" {
			t.Fatalf("GET /cas: %+v", p)
		}
		issuing := e.core.CAs["issuing"].Cert()
		got := p.byName("issuing")
		if certs := parseCerts(t, got.Certificate); got.Serial != ca.SerialHex(issuing.SerialNumber) || len(certs) != 1 || !issuing.Equal(certs[0]) ||
			got.DaysLeft < 5*365-1 || got.DaysLeft > 5*365 || got.ServingSerial != "" || got.Subject != issuing.Subject.String() {
			t.Errorf("issuing: %+v", got)
		}

		// Another certificate in the store (as `gateway ca renew` leaves
		// it): this gateway still signs under the one it loaded.
		root := e.core.CAs["root"].Cert()
		if err := e.store.ReplaceCACertificate(context.Background(), "issuing", issuing.Raw, root.Raw, nil, storage.AuditEvent{At: e.t0, Actor: "test", Action: "renew-ca"}); err != nil {
			t.Fatal(err)
		}
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if got := p.byName("issuing"); got.Serial != ca.SerialHex(root.SerialNumber) || got.ServingSerial != ca.SerialHex(issuing.SerialNumber) {
			t.Errorf("after a renewal in the store: %+v", got)
		}
	})
}

// POST /api/v1/cas/NAME/renew renews a CA for its key and this gateway
// serves the new certificate at once: the list shows nothing pending,
// new certificates come with the renewed chain, and the audit trail names
// the token. Refusals change nothing.
func TestRenewCA(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		oldRoot, oldIssuing := e.core.CAs["root"].Cert(), e.core.CAs["issuing"].Cert()
		e.do("POST", "/api/v1/cas/nope/renew", admin, nil).problem(t, http.StatusNotFound, "notFound", "nope")
		e.do("POST", "/api/v1/cas/root/renew", admin, map[string]any{"validity": "soon"}).problem(t, http.StatusBadRequest, "malformed", "validity")
		e.do("POST", "/api/v1/cas/root/renew", admin, map[string]any{"valid": "1d"}).problem(t, http.StatusBadRequest, "malformed", "valid")
		e.do("POST", "/api/v1/cas/issuing/renew", admin, map[string]any{"validity": "1d"}).
			problem(t, http.StatusConflict, "conflict", "no later than its current certificate")
		e.clock.Advance(24 * time.Hour)
		for name, want := range map[string]*x509.Certificate{"root": oldRoot, "issuing": oldIssuing} {
			if rec, err := e.store.GetCA(ctx, name); err != nil || !bytes.Equal(rec.CertDER, want.Raw) || !e.core.CAs[name].Cert().Equal(want) {
				t.Fatalf("a refused renewal changed CA %s (%v)", name, err)
			}
		}

		var got struct {
			caEntry
			Replaces string `json:"replaces"`
		}
		e.do("POST", "/api/v1/cas/root/renew", admin, map[string]any{"validity": "7400d"}).decode(t, http.StatusOK, &got)
		root := e.core.CAs["root"].Cert()
		if root.Equal(oldRoot) || got.Serial != ca.SerialHex(root.SerialNumber) || got.Replaces != ca.SerialHex(oldRoot.SerialNumber) ||
			got.ServingSerial != "" || got.DaysLeft != 7400 || got.Parent != "" {
			t.Fatalf("renewed root: %+v; serving %s", got, ca.SerialHex(root.SerialNumber))
		}
		e.do("POST", "/api/v1/cas/issuing/renew", admin, map[string]any{}).decode(t, http.StatusOK, &got)
		issuing := e.core.CAs["issuing"].Cert()
		if issuing.Equal(oldIssuing) || got.Serial != ca.SerialHex(issuing.SerialNumber) || got.Parent != "root" || got.DaysLeft != 5*365 {
			t.Fatalf("renewed issuing CA: %+v", got)
		}
		var p casPage
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		if p.byName("root").ServingSerial != "" || p.byName("issuing").ServingSerial != "" {
			t.Errorf("GET /cas after renewing through the API: %+v", p)
		}
		chain := parseCerts(t, e.issueCSR("web", "after.example.com").Chain)
		if len(chain) != 2 || !chain[0].Equal(issuing) || !chain[1].Equal(root) {
			t.Error("a certificate issued after the renewal does not come with the renewed chain")
		}
		events, err := e.store.ListAudit(ctx, storage.AuditFilter{Serial: got.Serial})
		if err != nil || len(events) != 1 || events[0].Action != "renew-ca" || events[0].Actor != admin {
			t.Errorf("audit of the renewal: %+v, %v", events, err)
		}
	})
}

// POST /api/v1/cas/NAME/revoke revokes a subordinate CA: its certificate
// is in the inventory, revoked, under the root; GET /cas says so; this
// gateway issues nothing under it from then on. A root is refused, and so
// is a second revocation.
func TestRevokeCA(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		issuing := e.core.CAs["issuing"].Cert()
		e.do("POST", "/api/v1/cas/root/revoke", admin, nil).problem(t, http.StatusConflict, "conflict", "is a root")
		e.do("POST", "/api/v1/cas/issuing/revoke", admin, map[string]string{"reason": "compromised"}).problem(t, http.StatusBadRequest, "malformed", "compromised")
		e.do("POST", "/api/v1/cas/nope/revoke", admin, nil).problem(t, http.StatusNotFound, "notFound", "nope")
		e.issueCSR("web", "before.example.com")

		var got struct {
			CA, Parent, Reason string
			Serials            []string
		}
		e.do("POST", "/api/v1/cas/issuing/revoke", admin, map[string]string{"reason": "keyCompromise"}).decode(t, http.StatusOK, &got)
		serial := ca.SerialHex(issuing.SerialNumber)
		if got.CA != "issuing" || got.Parent != "root" || got.Reason != "keyCompromise" || len(got.Serials) != 1 || got.Serials[0] != serial {
			t.Fatalf("revoke issuing: %+v", got)
		}
		if c := e.get(serial); c.Status != "revoked" || c.Profile != "ca:issuing" || c.CA != "root" {
			t.Errorf("the issuing CA's certificate in the inventory: %+v", c)
		}
		e.do("POST", "/api/v1/cas/issuing/revoke", admin, nil).problem(t, http.StatusConflict, "conflict", "already revoked")
		var p struct {
			CAs []struct {
				Name             string     `json:"name"`
				RevokedAt        *time.Time `json:"revoked_at"`
				RevocationReason string     `json:"revocation_reason"`
			} `json:"cas"`
		}
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		for _, c := range p.CAs {
			if revoked := c.RevokedAt != nil && c.RevocationReason == "keyCompromise"; revoked != (c.Name == "issuing") {
				t.Errorf("GET /cas after revoking issuing: %s %+v", c.Name, c)
			}
		}
		e.do("POST", "/api/v1/profiles/web/certificates", issuer, map[string]any{"csr": csrPEM(t, newP256(t), "", []string{"after.example.com"}, nil)}).
			problem(t, http.StatusServiceUnavailable, "unavailable", "CA issuing was revoked")
	})
}

// A CA an external CA certifies, through the API: GET /cas/NAME/csr
// answers a request for its key, POST /cas/NAME/certificate installs what
// the external CA issued (stored the first time, replacing the current
// certificate later, audited with the token's name), and GET /cas shows
// its chain. Refusals change nothing.
func TestExternalCAThroughAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		e.hierarchy.Config.CAs = append(e.hierarchy.Config.CAs, config.CA{Name: "corp", External: true,
			Key: config.Key{Type: "ecdsa-p256", Label: "corp"}, Subject: config.Subject{CommonName: "Corp Issuing", Organization: "Corp", Country: "DE"}})
		if res, err := e.hierarchy.Init(ctx); err != nil || len(res.Waiting) != 1 {
			t.Fatalf("Init() = %+v, %v", res, err)
		}
		e.do("GET", "/api/v1/cas/corp/csr", reader, nil).problem(t, http.StatusForbidden, "forbidden", "admin")
		e.do("GET", "/api/v1/cas/issuing/csr", admin, nil).problem(t, http.StatusConflict, "conflict", "gateway ca renew")
		e.do("GET", "/api/v1/cas/nope/csr", admin, nil).problem(t, http.StatusNotFound, "notFound", "nope")
		var req struct{ CA, CSR string }
		e.do("GET", "/api/v1/cas/corp/csr", admin, nil).decode(t, http.StatusOK, &req)
		block, _ := pem.Decode([]byte(req.CSR))
		if req.CA != "corp" || block == nil || block.Type != "CERTIFICATE REQUEST" {
			t.Fatalf("GET /cas/corp/csr = %+v", req)
		}
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil || csr.CheckSignature() != nil || csr.Subject.CommonName != "Corp Issuing" {
			t.Fatalf("request: %v, %+v", err, csr)
		}

		extRoot, extKey := externalRoot(t)
		first := certifyRequest(t, csr, extRoot, extKey, 365*24*time.Hour)
		post := func(pemText string) response {
			return e.do("POST", "/api/v1/cas/corp/certificate", admin, map[string]any{"certificate": pemText})
		}
		post("").problem(t, http.StatusBadRequest, "malformed", "certificate")
		post(string(ca.PEMChain(first))).problem(t, http.StatusBadRequest, "malformed", "no self-signed root")
		post(string(ca.PEMChain(extRoot))).problem(t, http.StatusBadRequest, "malformed", "certifies its key")
		if _, err := e.store.GetCA(ctx, "corp"); err == nil {
			t.Fatal("a refused import stored the CA")
		}

		type imported struct {
			Name, Serial, Certificate, Chain, Replaces string
		}
		var got imported
		post(string(ca.PEMChain(first, extRoot))).decode(t, http.StatusOK, &got)
		if chain := parseCerts(t, got.Chain); got.Name != "corp" || got.Serial != ca.SerialHex(first.SerialNumber) || got.Replaces != "" ||
			len(chain) != 1 || !chain[0].Equal(extRoot) {
			t.Fatalf("first import: %+v", got)
		}
		post(string(ca.PEMChain(first, extRoot))).problem(t, http.StatusConflict, "conflict", "already installed")

		second := certifyRequest(t, csr, extRoot, extKey, 2*365*24*time.Hour)
		post(string(ca.PEMChain(extRoot, second))).decode(t, http.StatusOK, &got)
		if got.Serial != ca.SerialHex(second.SerialNumber) || got.Replaces != ca.SerialHex(first.SerialNumber) {
			t.Fatalf("second import: %+v", got)
		}
		var p struct{ CAs []imported }
		e.do("GET", "/api/v1/cas", reader, nil).decode(t, http.StatusOK, &p)
		var listed imported
		for _, c := range p.CAs {
			if c.Name == "corp" {
				listed = c
			}
		}
		if chain := parseCerts(t, listed.Chain); listed.Serial != got.Serial || len(chain) != 1 || !chain[0].Equal(extRoot) {
			t.Errorf("GET /cas lists corp as %+v", listed)
		}
		events, err := e.store.ListAudit(ctx, storage.AuditFilter{Profile: "ca:corp"})
		if err != nil || len(events) != 2 || events[0].Action != "import-ca" || events[0].Actor != admin {
			t.Errorf("audit: %+v, %v", events, err)
		}
	})
}

// externalRoot is a self-signed root outside the gateway.
func externalRoot(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Corp Offline Root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// certifyRequest is what the external root issues for csr: a CA
// certificate valid for validity.
func certifyRequest(t *testing.T, csr *x509.CertificateRequest, root *x509.Certificate, key *ecdsa.PrivateKey, validity time.Duration) *x509.Certificate {
	t.Helper()
	serial, err := ca.NewSerial(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, RawSubject: csr.RawSubject, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validity),
		BasicConstraintsValid: true, IsCA: true, MaxPathLen: 0, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root, csr.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
