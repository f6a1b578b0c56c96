package api_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/postgres"
	"github.com/certgw/gateway/storage/sqlite"
	"github.com/certgw/gateway/test/coretest"
	"github.com/certgw/gateway/test/teststore"
)

// Both stores serve the API.
var (
	_ api.Store = (*sqlite.Store)(nil)
	_ api.Store = (*postgres.Store)(nil)
)

// logBuffer collects the log of an environment, for tests that check what
// goes to the operator and not to the client.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is a gateway API over a real core: a software-signer root and
// issuing CA, the lint gate, a sealer, and the profiles below.
type env struct {
	t     testing.TB
	store storage.Store
	core  *ca.Core
	api   *api.API
	srv   *httptest.Server
	clock *coretest.Clock
	logs  *logBuffer
	root  *x509.Certificate
	t0    time.Time
	// hierarchy created the CAs; its Config may gain CAs in a test.
	hierarchy *ca.Hierarchy
	signer    signer.Signer     // the CAs' and the audit key's
	tokens    map[string]string // token name -> secret
}

// Tokens of every environment, by name: one per scope.
const (
	issuer  = "issuer"  // issue
	reader  = "reader"  // read
	revoker = "revoker" // revoke
	admin   = "admin"   // admin
)

var tokenScopes = map[string][]string{
	issuer: {"issue"}, reader: {"read"}, revoker: {"revoke"}, admin: {"admin"},
}

// Profiles of every environment.
//   - web: CSRs and generated keys under .example.com and 10.0.0.0/8,
//     auto-renew off by default.
//   - device: generated keys with auto-renew on, 30 days, renewed 10 days
//     before the end.
//   - csr-only: no server_keygen.
//   - acme-only: the api method is not allowed (acme and scep are); its
//     ACME directory also offers acme-short.
//   - acme-short: ACME only, 7 days.
//   - held: API requests wait for approval.
//   - held2: API requests wait for two approvals.
func profiles() []config.Profile {
	names := config.Names{DNS: []string{".example.com"}, IPRanges: []string{"10.0.0.0/8"}, URIs: []string{"spiffe://example.com/"}, CommonName: "allow", Max: 10}
	day := 24 * time.Hour
	return []config.Profile{
		{Name: "web", CA: "issuing", Methods: []string{"api"}, Names: names,
			KeyTypes: []string{"ecdsa-p256", "rsa-2048"}, MaxValidity: config.Duration(397 * day), DefaultValidity: config.Duration(90 * day),
			ServerKeygen: true, AutoRenew: config.AutoRenew{Enabled: false, RenewBeforeDays: 30}},
		{Name: "device", CA: "issuing", Methods: []string{"api"}, Names: names,
			KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(30 * day), DefaultValidity: config.Duration(30 * day),
			ServerKeygen: true, AutoRenew: config.AutoRenew{Enabled: true, RenewBeforeDays: 10}},
		{Name: "csr-only", CA: "issuing", Methods: []string{"api"}, Names: names,
			KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(90 * day), DefaultValidity: config.Duration(90 * day),
			AutoRenew: config.AutoRenew{RenewBeforeDays: 30}},
		{Name: "acme-only", CA: "issuing", Methods: []string{"acme", "scep"}, Names: names,
			KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(90 * day), DefaultValidity: config.Duration(90 * day),
			AutoRenew: config.AutoRenew{RenewBeforeDays: 30}, ACME: config.ProfileACME{Profiles: []string{"acme-short"}}},
		{Name: "acme-short", Description: "7-day certificates", CA: "issuing", Methods: []string{"acme"}, Names: names,
			KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(7 * day), DefaultValidity: config.Duration(7 * day)},
		{Name: "held", CA: "issuing", Methods: []string{"api"}, Names: names,
			KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(90 * day), DefaultValidity: config.Duration(90 * day),
			AutoRenew: config.AutoRenew{RenewBeforeDays: 30},
			Approval:  config.ProfileApproval{Methods: []string{"api"}, RetryAfter: config.Duration(90 * time.Second)}},
		{Name: "held2", CA: "issuing", Methods: []string{"api"}, Names: names,
			KeyTypes: []string{"ecdsa-p256"}, MaxValidity: config.Duration(90 * day), DefaultValidity: config.Duration(90 * day),
			AutoRenew: config.AutoRenew{RenewBeforeDays: 30},
			Approval:  config.ProfileApproval{Methods: []string{"api"}, RetryAfter: config.Duration(90 * time.Second), Approvals: 2}},
	}
}

// eachStore runs fn once over the embedded SQLite store and once over a
// fresh PostgreSQL database.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	teststore.Each(t, func(t *testing.T, s storage.Store) { fn(t, newEnv(t, s)) })
}

func newEnv(t testing.TB, st storage.Store, opts ...func(*api.Config)) *env {
	t.Helper()
	ctx := context.Background()
	// Whole seconds: X.509 times have no fraction, so a certificate's
	// notBefore is exactly t0 - ca.Backdate.
	clk := coretest.NewClock(time.Now().UTC().Truncate(time.Second))
	logs := &logBuffer{}
	log := logger(logs)

	fx := coretest.New(t, st, coretest.Options{
		PublicURL: "http://pki.example.com:8080",
		CAs: []config.CA{
			{Name: "root", Key: config.Key{Type: "ecdsa-p384", Label: "root"}, Validity: config.Duration(20 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "API Test Root", Organization: "Example", Country: "DE"}},
			{Name: "issuing", Parent: "root", Key: config.Key{Type: "ecdsa-p256", Label: "issuing"}, Validity: config.Duration(5 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "API Test Issuing", Organization: "Example", Country: "DE"}},
		},
		Profiles: profiles(), Now: clk.Now, Log: log,
	})
	core := fx.Core
	// As gateway serve wires it: renewed, then served at once.
	renewCA := func(ctx context.Context, name string, validity time.Duration, actor string) (ca.Renewal, error) {
		r, err := fx.Hierarchy.Renew(ctx, name, validity, actor)
		if err == nil {
			_, err = fx.Hierarchy.Reload(ctx, core.CAs)
		}
		return r, err
	}
	revokeCA := func(ctx context.Context, name string, reason int, actor string) (ca.CARevocation, error) {
		r, err := fx.Hierarchy.Revoke(ctx, name, reason, actor)
		if err == nil {
			_, err = fx.Hierarchy.Reload(ctx, core.CAs)
		}
		return r, err
	}
	importCA := func(ctx context.Context, name string, data []byte, actor string) (ca.Imported, error) {
		im, err := fx.Hierarchy.Import(ctx, name, data, actor)
		if err == nil {
			_, err = fx.Hierarchy.Reload(ctx, core.CAs)
		}
		return im, err
	}
	verifyAudit := func(ctx context.Context) (ca.AuditVerification, error) {
		key, err := ca.AuditKey(ctx, fx.Signer, "gateway-audit", true)
		if err != nil {
			return ca.AuditVerification{}, err
		}
		return ca.VerifyAudit(ctx, st, key.Public())
	}
	cfg := api.Config{Core: core, Store: st, Log: log, Now: clk.Now, RenewCA: renewCA, RevokeCA: revokeCA,
		CARequest: fx.Hierarchy.Request, ImportCA: importCA, VerifyAudit: verifyAudit,
		ExportAudit: func(ctx context.Context, w io.Writer) (int, int, error) {
			key, err := ca.AuditKey(ctx, fx.Signer, "gateway-audit", true)
			if err != nil {
				return 0, 0, err
			}
			return ca.ExportAudit(ctx, st, key.Public(), w)
		}}
	for _, opt := range opts {
		opt(&cfg)
	}
	a := api.New(cfg)
	r := chi.NewRouter()
	a.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	e := &env{t: t, store: st, core: core, api: a, srv: srv, clock: clk, logs: logs,
		root: core.CAs["root"].Cert(), t0: clk.Now(), tokens: map[string]string{}, hierarchy: fx.Hierarchy, signer: fx.Signer}
	for name, scopes := range tokenScopes {
		secret, rec, err := api.NewToken(name, scopes, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.InsertToken(ctx, rec, storage.AuditEvent{At: rec.CreatedAt, Actor: "test", Action: "token-create"}); err != nil {
			t.Fatal(err)
		}
		e.tokens[name] = secret
	}
	return e
}

// response is an answer of the API, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request with the secret of the token named tok ("" for
// none). body is nil (no body), a string (sent as it is) or a value sent
// as JSON.
func (e *env) do(method, path, tok string, body any) response {
	e.t.Helper()
	return e.doAuth(method, path, e.bearer(tok), body)
}

func (e *env) bearer(tok string) string {
	if tok == "" {
		return ""
	}
	secret, ok := e.tokens[tok]
	if !ok {
		e.t.Fatalf("no token %q", tok)
	}
	return "Bearer " + secret
}

// doAuth sends a request with a raw Authorization header ("" for none).
func (e *env) doAuth(method, path, authorization string, body any) response {
	e.t.Helper()
	h := http.Header{}
	if authorization != "" {
		h.Set("Authorization", authorization)
	}
	return e.doHeader(method, path, h, body)
}

// doHeader sends a request with the headers h.
func (e *env) doHeader(method, path string, h http.Header, body any) response {
	e.t.Helper()
	var rd io.Reader
	var sent []byte
	switch b := body.(type) {
	case nil:
	case string:
		sent = []byte(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		sent = j
	}
	if body != nil {
		rd = bytes.NewReader(sent)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	e.checkContract(req, sent, resp.StatusCode, resp.Header, b)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decode checks the status and the JSON content type and decodes the body.
func (r response) decode(t testing.TB, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problem checks that r is a problem document with status and kind (the
// end of its type URI) whose detail holds every one of want.
func (r response) problem(t testing.TB, status int, kind string, want ...string) api.Problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.body)
	}
	var p api.Problem
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	if p.Status != status || p.Type != "urn:certgw:problem:"+kind || p.Title == "" {
		t.Fatalf("problem %+v, want status %d and type urn:certgw:problem:%s", p, status, kind)
	}
	if strings.Contains(p.Detail, "sqlite") || strings.Contains(p.Detail, "postgres") {
		t.Errorf("problem detail %q names the store", p.Detail)
	}
	for _, w := range want {
		if !strings.Contains(p.Detail, w) {
			t.Fatalf("problem detail %q does not mention %q", p.Detail, w)
		}
	}
	return p
}

// issued is the answer of POST /profiles/P/certificates.
type issued struct {
	Serial      string    `json:"serial"`
	Certificate string    `json:"certificate"`
	Chain       string    `json:"chain"`
	NotBefore   time.Time `json:"not_before"`
	NotAfter    time.Time `json:"not_after"`
	PrivateKey  string    `json:"private_key"`
	PKCS12      string    `json:"pkcs12"`
}

// certificate is a certificate of the inventory as the API shows it,
// decoded strictly so that a renamed or added field shows up.
type certificate = api.Certificate

// issue issues under profile and fails the test unless it answers 201.
func (e *env) issue(profile string, body any) issued {
	e.t.Helper()
	var out issued
	r := e.do("POST", "/api/v1/profiles/"+profile+"/certificates", issuer, body)
	r.decode(e.t, http.StatusCreated, &out)
	if loc := r.header.Get("Location"); loc != "/api/v1/certificates/"+out.Serial {
		e.t.Fatalf("Location %q for serial %s", loc, out.Serial)
	}
	return out
}

// issueCSR issues a certificate for a fresh P-256 key.
func (e *env) issueCSR(profile string, dns ...string) issued {
	e.t.Helper()
	return e.issue(profile, map[string]any{"csr": csrPEM(e.t, newP256(e.t), "", dns, nil)})
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// get reads a certificate of the inventory.
func (e *env) get(serial string) certificate {
	e.t.Helper()
	var c certificate
	e.do("GET", "/api/v1/certificates/"+serial, reader, nil).decode(e.t, http.StatusOK, &c)
	return c
}

func csrPEM(t testing.TB, key crypto.Signer, cn string, dns []string, ips []net.IP) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn}, DNSNames: dns, IPAddresses: ips,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// parseCerts reads every PEM certificate of s.
func parseCerts(t testing.TB, s string) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	rest := []byte(s)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			t.Fatalf("PEM block %q, want CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("trailing data after the PEM certificates: %q", rest)
	}
	return out
}

// verify checks that cert chains to the test root through chain at the
// test clock.
func (e *env) verify(cert *x509.Certificate, chain []*x509.Certificate) {
	e.t.Helper()
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(e.root)
	for _, c := range chain {
		inter.AddCert(c)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: e.clock.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		e.t.Fatalf("certificate does not verify: %v", err)
	}
}

// parseKey reads a PKCS#8 PEM key.
func parseKey(t testing.TB, s string) crypto.Signer {
	t.Helper()
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("not a PKCS#8 PEM key: %q", s)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

// samePublic reports whether a key belongs to a certificate.
func samePublic(key crypto.PublicKey, cert *x509.Certificate) bool {
	k, ok := key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(cert.PublicKey)
}

// list reads one page of the inventory.
type listPage struct {
	Certificates []certificate `json:"certificates"`
	NextCursor   string        `json:"next_cursor"`
}

func (e *env) list(query string) listPage {
	e.t.Helper()
	var p listPage
	e.do("GET", "/api/v1/certificates"+query, reader, nil).decode(e.t, http.StatusOK, &p)
	return p
}

func logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
