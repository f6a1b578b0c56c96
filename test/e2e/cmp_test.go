package e2e

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// openssl cmp (CMP, RFC 9810) against the quickstart's profile default,
// with the shared secret the quickstart wrote: an ir over the HTTP
// listener, a kur signed with the certificate it got, and a p10cr over
// HTTPS; each certificate chains to the
// quickstart root and is in the inventory, issued by the method cmp. A
// wrong secret is refused.
func TestCMPWithOpenSSL(t *testing.T) {
	e := startEST(t) // the quickstart, a client directory, the admin token
	secret := filepath.Join(e.g.Dir, "var", "cmp-secret")
	if m := mode(t, secret); m != 0o600 {
		t.Errorf("var/cmp-secret has mode %o, want 0600", m)
	}
	openssl(t, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", e.path("cmp.key"))
	_, httpsPort, _ := net.SplitHostPort(e.g.HTTPS)
	cmp := func(server string, args ...string) (string, error) {
		base := []string{"cmp", "-server", server, "-path", "/.well-known/cmp/p/default", "-ref", "quickstart",
			"-recipient", "/CN=Gateway quickstart issuing CA"}
		return e.try("openssl", append(base, args...)...)
	}
	check := func(path string) {
		t.Helper()
		out := openssl(t, "verify", "-CAfile", e.root, "-untrusted", e.path(path+".chain"), e.path(path))
		if !strings.Contains(out, ": OK") {
			t.Fatalf("openssl verify %s: %s", path, out)
		}
		leaf := readPEMCert(t, e.path(path))
		code, body := e.g.API(t, "GET", "/api/v1/certificates/"+fmt.Sprintf("%x", leaf.SerialNumber), nil)
		if code != http.StatusOK || !strings.Contains(string(body), `"method":"cmp"`) || !strings.Contains(string(body), `"requester":"cmp:quickstart"`) {
			t.Errorf("inventory of %s: %d %s", path, code, body)
		}
	}
	if out, err := cmp(e.g.HTTP, "-cmd", "ir", "-secret", "file:"+secret, "-newkey", "cmp.key", "-subject", "/CN=cmp.internal.test",
		"-sans", "cmp.internal.test", "-certout", "ir.pem", "-chainout", "ir.pem.chain"); err != nil {
		t.Fatalf("openssl cmp ir over HTTP: %v\n%s", err, out)
	}
	check("ir.pem")
	// The device updates its certificate to a new key, signing with the
	// old one; the answer is signed by the issuing CA's key in SoftHSM.
	openssl(t, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", e.path("cmp2.key"))
	if out, err := cmp(e.g.HTTP, "-cmd", "kur", "-cert", "ir.pem", "-key", "cmp.key", "-trusted", e.root, "-newkey", "cmp2.key",
		"-certout", "kur.pem", "-chainout", "kur.pem.chain"); err != nil {
		t.Fatalf("openssl cmp kur signed by the device: %v\n%s", err, out)
	}
	check("kur.pem")
	openssl(t, "req", "-new", "-key", e.path("cmp.key"), "-subj", "/CN=p10.internal.test", "-addext", "subjectAltName=DNS:p10.internal.test", "-out", e.path("p10.csr"))
	if out, err := cmp("https://localhost:"+httpsPort, "-tls_used", "-tls_trusted", e.root, "-cmd", "p10cr", "-secret", "file:"+secret,
		"-csr", "p10.csr", "-certout", "p10.pem", "-chainout", "p10.pem.chain"); err != nil {
		t.Fatalf("openssl cmp p10cr over HTTPS: %v\n%s", err, out)
	}
	check("p10.pem")
	if leaf := readPEMCert(t, e.path("p10.pem")); leaf.DNSNames[0] != "p10.internal.test" || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("p10cr certificate: %v %v", leaf.DNSNames, leaf.ExtKeyUsage)
	}
	if out, err := cmp(e.g.HTTP, "-cmd", "ir", "-secret", "pass:wrong", "-unprotected_errors", "-newkey", "cmp.key",
		"-subject", "/CN=no.internal.test", "-certout", "no.pem"); err == nil || !strings.Contains(out, "badMessageCheck") {
		t.Errorf("openssl cmp with a wrong secret: %v\n%s", err, out)
	}
}
