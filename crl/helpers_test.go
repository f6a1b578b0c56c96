package crl

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/signer"
	"github.com/certgw/gateway/storage"
)

// countingKey counts the signatures the "HSM" makes.
type countingKey struct {
	signer.Key
	n atomic.Int32
}

func (k *countingKey) SignContext(ctx context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	k.n.Add(1)
	return k.Key.SignContext(ctx, d, o)
}

func (k *countingKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	k.n.Add(1)
	return k.Key.Sign(r, d, o)
}

// hierarchy is a root (P-384) and an issuing CA (P-256, or issuingKey) made
// with the software signer and stored in st, as `gateway init` makes them.
func hierarchy(t *testing.T, st storage.Store, issuingKey string) map[string]*ca.Authority {
	t.Helper()
	if issuingKey == "" {
		issuingKey = "ecdsa-p256"
	}
	cfg := &config.Config{
		Listen: config.Listen{PublicURL: "http://pki.example.net"},
		CAs: []config.CA{
			{Name: "root", Key: config.Key{Type: "ecdsa-p384", Label: "root"}, Validity: config.Duration(10 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "Root", Organization: "Example", Country: "DE"}},
			{Name: "issuing", Parent: "root", Key: config.Key{Type: issuingKey, Label: "issuing"}, Validity: config.Duration(5 * 365 * 24 * time.Hour),
				Subject: config.Subject{CommonName: "Issuing", Organization: "Example", Country: "DE"}},
		},
	}
	sg, err := signer.NewSoftware(filepath.Join(t.TempDir(), "keys"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &ca.Hierarchy{Config: cfg, Signer: sg, Store: st, Linter: testLinter(t), Presign: ca.NewPresigner(),
		Log: slog.New(slog.DiscardHandler), Now: time.Now}
	if _, err := h.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	cas, err := h.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return cas
}

// testLinter is the gateway's default lint gate with the CRL exclusions.
func testLinter(t *testing.T) *ca.Linter {
	t.Helper()
	l, err := ca.NewLinter(nil, append(append(ca.DefaultExcludedLints(), ca.PrivatePKIExcludedLints()...), ExcludedLints()...))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// fullLinter is the whole zlint registry.
func fullLinter(t *testing.T) *ca.Linter {
	t.Helper()
	l, err := ca.NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// opensslCmd runs openssl, failing the test if it is missing or fails.
func opensslCmd(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed: run `make test`, which installs it, or `apt-get install openssl`")
	}
	cmd := exec.Command("openssl", args...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// activeCert stores an active certificate of ca with a fake DER.
func activeCert(t *testing.T, st storage.Store, caName, serial string, notAfter time.Time) {
	t.Helper()
	ctx := t.Context()
	now := time.Now()
	c := storage.Certificate{Serial: serial, CA: caName, Profile: "p", Method: "api", Requester: "test",
		NotBefore: now.Add(-time.Hour), NotAfter: notAfter, CreatedAt: now}
	if err := st.InsertPendingCertificate(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := st.ActivateCertificate(ctx, serial, []byte{0x30, 0}, c.NotBefore, c.NotAfter); err != nil {
		t.Fatal(err)
	}
}

// serveCRLs serves p's routes for the length of the test and returns a
// GET of a path on them.
func serveCRLs(t *testing.T, p *Publisher) func(path string) (*http.Response, []byte) {
	r := chi.NewRouter()
	p.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
}

// issueLeaf has issuer issue a certificate of a, valid for a day, for a
// fresh P-256 key.
func issueLeaf(t *testing.T, issuer *ca.Issuer, a *ca.Authority) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert, err := issuer.Issue(t.Context(), a, ca.LeafParams{DNSNames: []string{"a.example.net"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(24 * time.Hour)}, key.Public(),
		ca.Request{Profile: "p", Method: "api", Requester: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
