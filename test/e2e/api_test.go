package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/storage/sqlite"
)

// An operator with var/admin-token issues a certificate with a key the
// gateway generates, exports it as PKCS#12, and revokes it; openssl checks
// the chain against var/root.pem and reads the PKCS#12.
func TestRESTAPIWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	metricsAddr := freePort(t)
	g := StartQuickstart(t, dir, "GATEWAY_LISTEN_METRICS="+metricsAddr)
	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		return g.API(t, method, path, body)
	}

	code, body := call("POST", "/api/v1/profiles/default/certificates", map[string]any{
		"key_type": "ecdsa-p256", "dns_names": []string{"app.internal.test"}, "ip_addresses": []string{"10.9.8.7"},
		"uris": []string{"spiffe://internal.test/ns/prod/sa/app"}, // a SPIFFE ID (names.uris)
	})
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	var issued struct{ Serial, Certificate, Chain, PrivateKey string }
	if err := json.Unmarshal(body, &issued); err != nil {
		t.Fatal(err)
	}
	issued.PrivateKey = jsonField(t, body, "private_key")
	w := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, chain := w("leaf.pem", issued.Certificate), w("chain.pem", issued.Chain)
	openssl(t, "verify", "-CAfile", filepath.Join(dir, "var", "root.pem"), "-untrusted", chain, "-purpose", "sslserver", cert)
	out := openssl(t, "x509", "-in", cert, "-noout", "-ext", "subjectAltName,crlDistributionPoints,authorityInfoAccess")
	for _, want := range []string{"DNS:app.internal.test", "IP Address:10.9.8.7", "URI:spiffe://internal.test/ns/prod/sa/app", "http://" + g.HTTP + "/crl/issuing.crl", "OCSP - URI:http://" + g.HTTP + "/ocsp/issuing"} {
		if !strings.Contains(out, want) {
			t.Errorf("certificate lacks %q:\n%s", want, out)
		}
	}
	// The key the gateway returned belongs to the certificate.
	keyPub := openssl(t, "pkey", "-in", w("leaf.key", issued.PrivateKey), "-pubout")
	certPub := openssl(t, "x509", "-in", cert, "-noout", "-pubkey")
	if keyPub != certPub {
		t.Fatal("the returned key does not match the certificate")
	}
	// The key the gateway keeps is sealed under var/kek, which the
	// quickstart's token wraps: the file alone does not yield it.
	if kek := readFile(t, filepath.Join(dir, "var", "kek")); !strings.HasPrefix(kek, "pkcs11-aes-gcm:gateway-kek:") {
		t.Errorf("var/kek is not wrapped by the token: %.40q", kek)
	}

	code, body = call("POST", "/api/v1/certificates/"+issued.Serial+"/pkcs12", map[string]string{"password": "s3cret"})
	if code != 200 {
		t.Fatalf("pkcs12: %d %s", code, body)
	}
	p12 := w("leaf.p12", string(body))
	out = openssl(t, "pkcs12", "-in", p12, "-passin", "pass:s3cret", "-nodes")
	if !strings.Contains(out, "PRIVATE KEY") || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Fatalf("openssl pkcs12 output lacks the key or the certificate:\n%s", out)
	}

	code, body = call("POST", "/api/v1/certificates/"+issued.Serial+"/revoke", map[string]string{"reason": "keyCompromise"})
	if code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	code, body = call("POST", "/api/v1/certificates/"+issued.Serial+"/revoke", map[string]string{"reason": "keyCompromise"})
	if code != 409 || !strings.Contains(string(body), "already revoked") {
		t.Fatalf("second revoke: %d %s", code, body)
	}
	code, body = call("GET", "/api/v1/certificates?status=revoked", nil)
	if code != 200 || !strings.Contains(string(body), issued.Serial) {
		t.Fatalf("inventory of revoked certificates: %d %s", code, body)
	}
	// The API's OpenAPI document, as a code generator fetches it: with
	// curl, without a token.
	spec := filepath.Join(dir, "openapi.json")
	if code := runTool(t, nil, "curl", "-sS", "--cacert", filepath.Join(dir, "var", "root.pem"), "-o", spec, "-w", "%{http_code}",
		g.HTTPSURL("localhost")+"/api/v1/openapi.json"); code != "200" {
		t.Fatalf("GET /api/v1/openapi.json: %s %s", code, readFile(t, spec))
	}
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(readFile(t, spec)), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.0.") || doc.Paths["/certificates/{serial}/revoke"] == nil {
		t.Fatalf("openapi.json: %v, version %q, %d paths", err, doc.OpenAPI, len(doc.Paths))
	}

	// Prometheus metrics on their own listener: what was issued, refused
	// and revoked, the requests by route, the token.
	code, body = call("POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"bad_name"}})
	if code != 400 {
		t.Fatalf("a bad name: %d %s", code, body)
	}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`gateway_certificates_issued_total{issuer="issuing",method="api",profile="default"} 1`,
		`gateway_issuance_failures_total{kind="badCSR",method="api",profile="default"} 1`,
		`gateway_certificates_revoked_total{issuer="issuing",reason="1"} 1`,
		`gateway_http_request_duration_seconds_count{code="201",listener="https",route="/api/v1/profiles/{profile}/certificates"} 1`,
		`gateway_signer_member_up{member=`,
		`gateway_store_commit_writes_count`, `gateway_store_commit_duration_seconds_count{flushed="true",result="ok"}`,
		`operation="sign",result="ok"}`,                                   // gateway_signer_operation_duration_seconds_count{member=...}
		`gateway_certificates_expiring{profile="default",within="30d"} 0`, // 90 days left
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", b)
	}

	// Renewal now: a held key's successor, a new key for the same names,
	// the old certificate revoked as superseded.
	code, body = call("POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"renew.internal.test"}})
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	old := jsonField(t, body, "serial")
	code, body = call("POST", "/api/v1/certificates/"+old+"/renew", map[string]any{"revoke": true})
	if code != 201 || jsonField(t, body, "replaces") != old {
		t.Fatalf("renew: %d %s", code, body)
	}
	nextSerial := jsonField(t, body, "serial")
	next := w("next.pem", jsonField(t, body, "certificate"))
	openssl(t, "verify", "-CAfile", filepath.Join(dir, "var", "root.pem"), "-untrusted", w("next-chain.pem", jsonField(t, body, "chain")), "-purpose", "sslserver", next)
	if out := openssl(t, "x509", "-in", next, "-noout", "-ext", "subjectAltName"); !strings.Contains(out, "DNS:renew.internal.test") {
		t.Errorf("renewed certificate names:\n%s", out)
	}
	if keyPub, certPub := openssl(t, "pkey", "-in", w("next.key", jsonField(t, body, "private_key")), "-pubout"), openssl(t, "x509", "-in", next, "-noout", "-pubkey"); keyPub != certPub {
		t.Error("the renewal's key does not match its certificate")
	}
	code, body = call("GET", "/api/v1/certificates/"+old, nil)
	if code != 200 || jsonField(t, body, "status") != "revoked" || jsonField(t, body, "revocation_reason") != "superseded" {
		t.Errorf("the renewed certificate: %d %s", code, body)
	}

	// A backup while the gateway serves: the copy, restored beside it,
	// holds the renewal's certificate as issued.
	backup := filepath.Join(dir, "backup.db")
	cmd := exec.Command(gatewayBin, "backup", "-o", backup, "-config", filepath.Join("var", "gateway.yaml"))
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "integrity_check ok") {
		t.Fatalf("gateway backup: %v\n%s", err, out)
	}
	restored := filepath.Join(t.TempDir(), "gateway.db")
	if err := os.WriteFile(restored, []byte(readFile(t, backup)), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(t.Context(), restored)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.GetCertificate(t.Context(), nextSerial)
	if err != nil || rec.Status != storage.StatusActive {
		t.Fatalf("certificate %s in the restored backup: %+v, %v", nextSerial, rec.Status, err)
	}
	if got := openssl(t, "x509", "-inform", "DER", "-in", w("restored.der", string(rec.DER)), "-noout", "-fingerprint"); got != openssl(t, "x509", "-in", next, "-noout", "-fingerprint") {
		t.Error("the restored certificate differs from the one issued")
	}
}

func jsonField(t *testing.T, body []byte, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[field].(string)
	return s
}

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
