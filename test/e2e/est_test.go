package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certgw/gateway/ca"
)

// estclientBin builds globalsign's estclient once, from the tools module
// that pins it (test/tools/go.mod: github.com/globalsign/est v1.0.6). By
// hand: cd test/tools && go tool estclient ...
var estclientBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "gateway-e2e-estclient")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "estclient")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/globalsign/est/cmd/estclient")
	cmd.Dir = filepath.Join(repoRoot, "test", "tools")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building estclient in test/tools (github.com/globalsign/est v1.0.6 from the Go module proxy): %v\n%s", err, out)
	}
	return bin, nil
})

// estEnv is one EST test's gateway, working directory and credentials.
type estEnv struct {
	g          *Gateway
	dir        string // where the client's files go
	root       string // var/root.pem
	server     string // localhost:PORT, as estclient takes it
	base       string // https://localhost:PORT/.well-known/est
	user, pass string // from var/est-credentials
}

func startEST(t *testing.T, env ...string) *estEnv {
	t.Helper()
	dir := t.TempDir()
	g := StartQuickstart(t, dir, env...)
	credFile := filepath.Join(dir, "var", "est-credentials")
	if _, err := os.Stat(credFile); err != nil {
		t.Fatalf("the quickstart wrote no var/est-credentials (user:password for EST HTTP Basic on profile default): %v", err)
	}
	if m := mode(t, credFile); m != 0o600 {
		t.Errorf("var/est-credentials has mode %o, want 0600", m)
	}
	user, pass, ok := strings.Cut(readFile(t, credFile), ":")
	if !ok || user == "" || len(pass) < 12 {
		t.Fatalf("var/est-credentials does not hold user:password")
	}
	_, port, _ := net.SplitHostPort(g.HTTPS)
	e := &estEnv{
		g: g, dir: filepath.Join(dir, "client"), root: filepath.Join(dir, "var", "root.pem"),
		server: "localhost:" + port, base: g.HTTPSURL("localhost") + "/.well-known/est",
		user: user, pass: pass,
	}
	if err := os.Mkdir(e.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return e
}

// run runs a command in the client directory and returns its output; it
// fails the test if the command fails.
func (e *estEnv) run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := e.try(name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func (e *estEnv) try(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = e.dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (e *estEnv) path(name string) string { return filepath.Join(e.dir, name) }

// api calls the REST API with the admin token.
func (e *estEnv) api(t *testing.T, path string, out any) {
	t.Helper()
	code, b := e.g.API(t, "GET", "/api/v1"+path, nil)
	if code != 200 {
		t.Fatalf("GET /api/v1%s: %d %s", path, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}

type apiCert struct {
	Serial, Method, Requester, Status string
	Replaces                          *string
}

func (e *estEnv) certificate(t *testing.T, serial string) apiCert {
	t.Helper()
	var c apiCert
	e.api(t, "/certificates/"+serial, &c)
	return c
}

func (e *estEnv) inventorySize(t *testing.T) int {
	t.Helper()
	var l struct{ Certificates []apiCert }
	e.api(t, "/certificates?limit=500", &l)
	return len(l.Certificates)
}

// serialOf reads a PEM certificate's serial as the inventory writes it.
func serialOf(t *testing.T, path string) string {
	t.Helper()
	return ca.SerialHex(readPEMCert(t, path).SerialNumber)
}

// The globalsign EST client, as CLIENTS.md runs it, against the
// quickstart's profile default with the credentials it wrote.
func TestESTWithEstclient(t *testing.T) {
	bin, err := estclientBin()
	if err != nil {
		t.Fatal(err)
	}
	e := startEST(t)
	common := []string{"-server", e.server, "-aps", "default", "-explicit", e.root}
	est := func(cmd string, args ...string) string {
		t.Helper()
		return e.run(t, bin, append(append([]string{cmd}, common...), args...)...)
	}

	est("cacerts", "-out", "cacerts.pem")
	if issuing, root := readPEMCert(t, e.path("cacerts.pem")), readPEMCert(t, e.root); issuing.Subject.CommonName != "Gateway quickstart issuing CA" ||
		issuing.CheckSignatureFrom(root) != nil || strings.Count(readFile(t, e.path("cacerts.pem")), "BEGIN CERTIFICATE") != 2 {
		t.Fatalf("cacerts: want the issuing CA, then the root")
	}

	attrs := est("csrattrs")
	for _, want := range []string{"1.2.840.10045.2.1", "1.2.840.113549.1.9.14", "2.5.29.17"} {
		if !strings.Contains(attrs, want) {
			t.Errorf("csrattrs lacks %s:\n%s", want, attrs)
		}
	}

	e.run(t, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "dev.key")
	est("enroll", "-user", e.user, "-pass", e.pass, "-key", "dev.key", "-cn", "dev1.test", "-dnsnames", "dev1.test", "-out", "dev.pem")
	e.run(t, "openssl", "verify", "-CAfile", e.root, "-untrusted", "cacerts.pem", "dev.pem")
	first := serialOf(t, e.path("dev.pem"))
	if c := e.certificate(t, first); c.Method != "est" || c.Requester != "basic:"+e.user {
		t.Errorf("enrolled certificate: method %q requester %q", c.Method, c.Requester)
	}

	// Not as CLIENTS.md has it: reenroll takes no -cn or -dnsnames, it
	// copies the subject and SANs of the certificate it renews.
	est("reenroll", "-key", "dev.key", "-certs", "dev.pem", "-out", "dev2.pem")
	e.run(t, "openssl", "verify", "-CAfile", e.root, "-untrusted", "cacerts.pem", "dev2.pem")
	second := serialOf(t, e.path("dev2.pem"))
	if c := e.certificate(t, second); second == first || c.Replaces == nil || *c.Replaces != first {
		t.Errorf("re-enrolled certificate %s does not replace %s: %+v", second, first, c)
	}
	if c := e.certificate(t, first); c.Status != "active" {
		t.Errorf("the renewed certificate is %s; the profile keeps it valid", c.Status)
	}

	est("serverkeygen", "-user", e.user, "-pass", e.pass, "-cn", "dev2.test", "-dnsnames", "dev2.test", "-out", "dev-sk.pem", "-keyout", "dev-sk.key")
	e.run(t, "openssl", "verify", "-CAfile", e.root, "-untrusted", "cacerts.pem", "dev-sk.pem")
	if e.run(t, "openssl", "pkey", "-in", "dev-sk.key", "-pubout") != e.run(t, "openssl", "x509", "-in", "dev-sk.pem", "-noout", "-pubkey") {
		t.Error("the server-generated key does not belong to its certificate")
	}

	// A wrong password: estclient fails with the server's reason (it does
	// not print the status; the curl test checks the 401).
	before := e.inventorySize(t)
	out, err := e.try(bin, append(append([]string{"enroll"}, common...),
		"-user", e.user, "-pass", "wrong-password", "-key", "dev.key", "-cn", "dev9.test", "-dnsnames", "dev9.test", "-out", "dev9.pem")...)
	if err == nil || !strings.Contains(out, "unknown user or wrong password") {
		t.Errorf("enroll with a wrong password: %v\n%s", err, out)
	}
	if after := e.inventorySize(t); after != before {
		t.Errorf("a refused enrollment changed the inventory: %d certificates, %d before", after, before)
	}
}

// A device integrator with curl and openssl, step by step as in RFC 7030
// appendix A, then every rejection the issue names, each with its status
// and none leaving anything in the inventory.
func TestESTWithCurlAndOpenSSL(t *testing.T) {
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed (apt-get install -y %s): %v", tool, tool, err)
		}
	}
	e := startEST(t)
	creds := e.user + ":" + e.pass
	// curl prints the status with -w and keeps the body and the headers.
	curl := func(name string, args ...string) (status string, body string, headers string) {
		t.Helper()
		out := e.run(t, "curl", append([]string{"-sS", "--cacert", e.root, "-o", name + ".body", "-D", name + ".headers", "-w", "%{http_code}"}, args...)...)
		b, _ := os.ReadFile(e.path(name + ".body"))
		h, _ := os.ReadFile(e.path(name + ".headers"))
		return out, string(b), string(h)
	}
	header := func(headers, name string) string {
		for _, l := range strings.Split(headers, "\r\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	// p7certs turns a base64 certs-only answer into PEM with openssl.
	p7certs := func(name, out string) string {
		t.Helper()
		e.run(t, "openssl", "base64", "-d", "-in", name+".body", "-out", name+".p7")
		return e.run(t, "openssl", "pkcs7", "-inform", "DER", "-in", name+".p7", "-print_certs", "-out", out)
	}
	csr := func(key, subj, san, out string) {
		t.Helper()
		args := []string{"req", "-new", "-key", key, "-subj", subj, "-outform", "DER", "-out", out + ".der"}
		if san != "" {
			args = append(args, "-addext", "subjectAltName="+san)
		}
		e.run(t, "openssl", args...)
		e.run(t, "openssl", "base64", "-in", out+".der", "-out", out)
	}

	// A.1 CA certificates, without authentication.
	status, _, h := curl("cacerts", e.base+"/cacerts")
	if status != "200" || header(h, "Content-Type") != "application/pkcs7-mime" || header(h, "Content-Transfer-Encoding") != "base64" {
		t.Fatalf("cacerts: %s\n%s", status, h)
	}
	p7certs("cacerts", "cacerts.pem")
	if pemText, _ := os.ReadFile(e.path("cacerts.pem")); strings.Count(string(pemText), "BEGIN CERTIFICATE") != 2 {
		t.Fatalf("cacerts.pem:\n%s", pemText)
	}

	// A.2 CSR attributes.
	status, _, h = curl("csrattrs", e.base+"/csrattrs")
	if status != "200" || header(h, "Content-Type") != "application/csrattrs" {
		t.Fatalf("csrattrs: %s\n%s", status, h)
	}
	e.run(t, "openssl", "base64", "-d", "-in", "csrattrs.body", "-out", "csrattrs.der")
	parsed := e.run(t, "openssl", "asn1parse", "-inform", "DER", "-in", "csrattrs.der")
	for _, want := range []string{"id-ecPublicKey", "prime256v1", "Extension Request", "X509v3 Subject Alternative Name"} {
		if !strings.Contains(parsed, want) {
			t.Errorf("csrattrs lacks %s:\n%s", want, parsed)
		}
	}

	// A.3 Enroll with HTTP Basic, then re-enroll with the certificate.
	e.run(t, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "dev.key")
	csr("dev.key", "/CN=dev3.test", "DNS:dev3.test", "dev.csr")
	status, body, h := curl("enroll", "-u", creds, "-H", "Content-Type: application/pkcs10", "--data-binary", "@dev.csr", e.base+"/simpleenroll")
	if status != "200" || header(h, "Content-Type") != "application/pkcs7-mime; smime-type=certs-only" {
		t.Fatalf("simpleenroll: %s %s\n%s", status, body, h)
	}
	p7certs("enroll", "dev.pem")
	e.run(t, "openssl", "verify", "-CAfile", e.root, "-untrusted", "cacerts.pem", "dev.pem")
	first := serialOf(t, e.path("dev.pem"))

	csr("dev.key", "/CN=dev3.test", "DNS:dev3.test", "renew.csr")
	status, body, _ = curl("reenroll", "--cert", "dev.pem", "--key", "dev.key", "--data-binary", "@renew.csr", e.base+"/simplereenroll")
	if status != "200" {
		t.Fatalf("simplereenroll: %s %s", status, body)
	}
	p7certs("reenroll", "dev2.pem")
	e.run(t, "openssl", "verify", "-CAfile", e.root, "-untrusted", "cacerts.pem", "dev2.pem")
	if c := e.certificate(t, serialOf(t, e.path("dev2.pem"))); c.Replaces == nil || *c.Replaces != first {
		t.Errorf("re-enrolled certificate does not replace %s: %+v", first, c)
	}

	// A.4 Server-side key generation: multipart/mixed, key and certificate.
	e.run(t, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "tmp.key")
	csr("tmp.key", "/CN=dev4.test", "DNS:dev4.test", "keygen.csr")
	status, body, h = curl("keygen", "-u", creds, "--data-binary", "@keygen.csr", e.base+"/serverkeygen")
	if status != "200" {
		t.Fatalf("serverkeygen: %s %s", status, body)
	}
	mt, params, err := mime.ParseMediaType(header(h, "Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("serverkeygen Content-Type %q", header(h, "Content-Type"))
	}
	mr := multipart.NewReader(strings.NewReader(body), params["boundary"])
	for _, want := range []struct{ ctype, file string }{{"application/pkcs8", "sk.key"}, {"application/pkcs7-mime; smime-type=certs-only", "sk.p7"}} {
		part, err := mr.NextPart()
		if err != nil || part.Header.Get("Content-Type") != want.ctype {
			t.Fatalf("serverkeygen part: %v %v, want %s", err, part.Header, want.ctype)
		}
		b, _ := io.ReadAll(part)
		der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(b), "\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(e.path(want.file), der, 0o600)
	}
	e.run(t, "openssl", "pkcs7", "-inform", "DER", "-in", "sk.p7", "-print_certs", "-out", "sk.pem")
	if e.run(t, "openssl", "pkey", "-inform", "DER", "-in", "sk.key", "-pubout") != e.run(t, "openssl", "x509", "-in", "sk.pem", "-noout", "-pubkey") {
		t.Error("the server-generated key does not belong to its certificate")
	}

	// Rejections.
	e.run(t, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
		"-keyout", "stranger.key", "-out", "stranger.pem", "-subj", "/CN=dev3.test", "-addext", "subjectAltName=DNS:dev3.test", "-days", "1")
	csr("dev.key", "/CN=other.test", "DNS:other.test", "other.csr")
	e.run(t, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "nosan.key")
	csr("nosan.key", "/CN=nosan.test", "", "nosan.csr")
	os.WriteFile(e.path("garbage"), []byte("<<< this is not a certification request >>>\n"), 0o600)
	os.WriteFile(e.path("big"), bytes.Repeat([]byte("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"), 2000), 0o600) // 130 KB

	before := e.inventorySize(t)
	for _, tc := range []struct {
		name     string
		args     []string
		status   string
		contains string
	}{
		{"wrong password", []string{"-u", e.user + ":wrong", "--data-binary", "@dev.csr", e.base + "/simpleenroll"}, "401", "unknown user or wrong password"},
		{"client certificate from an unknown CA", []string{"--cert", "stranger.pem", "--key", "stranger.key", "--data-binary", "@dev.csr", e.base + "/simpleenroll"}, "401", "signed by unknown authority"},
		{"re-enrollment with a different subject", []string{"--cert", "dev.pem", "--key", "dev.key", "--data-binary", "@other.csr", e.base + "/simplereenroll"}, "400", "must keep the subject"},
		{"re-enrollment without a client certificate", []string{"-u", creds, "--data-binary", "@renew.csr", e.base + "/simplereenroll"}, "401", "needs TLS client authentication"},
		{"a CSR outside the profile", []string{"-u", creds, "--data-binary", "@nosan.csr", e.base + "/simpleenroll"}, "400", "subject alternative name is required"},
		{"garbage", []string{"-u", creds, "--data-binary", "@garbage", e.base + "/simpleenroll"}, "400", "not base64"},
		{"oversized", []string{"-u", creds, "--data-binary", "@big", e.base + "/simpleenroll"}, "413", "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := curl("reject", tc.args...)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("%s %q, want %s with %q", status, body, tc.status, tc.contains)
			}
			if !strings.HasPrefix(header(h, "Content-Type"), "text/plain") {
				t.Errorf("error Content-Type %q, want text/plain", header(h, "Content-Type"))
			}
			if tc.status == "401" && !strings.HasPrefix(header(h, "WWW-Authenticate"), "Basic realm=") {
				t.Errorf("401 without a Basic challenge:\n%s", h)
			}
		})
	}
	if after := e.inventorySize(t); after != before {
		t.Errorf("refused requests changed the inventory: %d certificates, %d before", after, before)
	}
}

// With est.issuances_per_minute set (here from the environment), a
// device past its limit is refused: estclient fails with the server's
// line naming the setting, nothing is issued, and /metrics counts the
// refusal.
func TestESTRateLimitWithEstclient(t *testing.T) {
	bin, err := estclientBin()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := freePort(t)
	e := startEST(t, "GATEWAY_EST_ISSUANCES_PER_MINUTE=1", "GATEWAY_LISTEN_METRICS="+metricsAddr)
	args := func(n string) []string {
		return []string{"enroll", "-server", e.server, "-aps", "default", "-explicit", e.root,
			"-user", e.user, "-pass", e.pass, "-key", "dev.key", "-cn", n, "-dnsnames", n, "-out", n + ".pem"}
	}
	e.run(t, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "dev.key")
	e.run(t, bin, args("rl1.test")...)
	before := e.inventorySize(t)
	out, err := e.try(bin, args("rl2.test")...)
	if err == nil || !strings.Contains(out, "est.issuances_per_minute") {
		t.Errorf("a second enrollment within the minute: %v\n%s", err, out)
	}
	if after := e.inventorySize(t); after != before {
		t.Errorf("a refused enrollment changed the inventory: %d certificates, %d before", after, before)
	}
	code, body, err := get(http.DefaultClient, "http://"+metricsAddr+"/metrics")
	if err != nil || code != 200 || !strings.Contains(body, `gateway_rate_limited_total{setting="est.issuances_per_minute"} 1`) {
		t.Errorf("/metrics: %d %v, want the refusal counted:\n%s", code, err, body)
	}
}
