package api_test

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// opensslPKCS12 runs `openssl pkcs12 -in F -passin pass:P -nodes` on p12
// and returns what it prints. A machine without openssl fails the test:
// the point is that the real tool reads the file.
func opensslPKCS12(t *testing.T, p12 []byte, password string) string {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl is needed to check PKCS#12 files (make test installs it): %v", err)
	}
	f := filepath.Join(t.TempDir(), "export.p12")
	if err := os.WriteFile(f, p12, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "pkcs12", "-in", f, "-passin", "pass:"+password, "-nodes")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("openssl pkcs12: %v\n%s", err, stderr.String())
	}
	return stdout.String()
}

func TestPKCS12Export(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		const password = "s3cret-p12"
		held := e.issue("web", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"held.example.com"}})
		own := e.issueCSR("web", "own.example.com")

		t.Run("held key", func(t *testing.T) {
			r := e.do("POST", "/api/v1/certificates/"+held.Serial+"/pkcs12", issuer, map[string]string{"password": password})
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-pkcs12" {
				t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, held.Serial+".p12") {
				t.Errorf("Content-Disposition %q", cd)
			}
			text := opensslPKCS12(t, r.body, password)
			certs := parseCerts(t, pemBlocks(text, "CERTIFICATE"))
			if len(certs) != 3 || !certs[0].Equal(parseCerts(t, held.Certificate)[0]) || !certs[2].Equal(e.root) {
				t.Fatalf("openssl found %d certificates:\n%s", len(certs), text)
			}
			key := parseKey(t, pemBlocks(text, "PRIVATE KEY"))
			if !samePublic(key.Public(), certs[0]) || pemBlocks(text, "PRIVATE KEY") != held.PrivateKey {
				t.Error("openssl found another key than the one issued")
			}
			// The export is audited.
			var a auditPage
			e.do("GET", "/api/v1/audit?serial="+held.Serial, admin, nil).decode(t, http.StatusOK, &a)
			if len(a.Events) == 0 || a.Events[0].Action != "export-key" || a.Events[0].Actor != issuer || a.Events[0].Detail != "format=pkcs12" {
				t.Errorf("audit after export: %+v", a.Events)
			}
		})
		t.Run("requester's key", func(t *testing.T) {
			r := e.do("POST", "/api/v1/certificates/"+own.Serial+"/pkcs12", issuer, map[string]string{"password": password})
			if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/x-pkcs12" {
				t.Fatalf("%d %q %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			text := opensslPKCS12(t, r.body, password)
			if strings.Contains(text, "PRIVATE KEY") {
				t.Error("a certificate-only export holds a key")
			}
			certs := parseCerts(t, pemBlocks(text, "CERTIFICATE"))
			if len(certs) != 3 || !certs[0].Equal(parseCerts(t, own.Certificate)[0]) {
				t.Fatalf("openssl found %d certificates:\n%s", len(certs), text)
			}
		})
		t.Run("problems", func(t *testing.T) {
			path := "/api/v1/certificates/" + held.Serial + "/pkcs12"
			e.do("POST", path, issuer, map[string]string{"password": ""}).problem(t, 400, "malformed", `"password"`)
			e.do("POST", path, issuer, map[string]string{}).problem(t, 400, "malformed", `"password"`)
			e.do("POST", path, issuer, nil).problem(t, 400, "malformed", "empty")
			e.do("POST", path, issuer, map[string]string{"password": "x", "pin": "1"}).problem(t, 400, "malformed", `"pin"`)
			e.do("POST", "/api/v1/certificates/0badc0de/pkcs12", issuer, map[string]string{"password": "x"}).problem(t, 404, "notFound")
			e.do("POST", "/api/v1/certificates/xyz/pkcs12", issuer, map[string]string{"password": "x"}).problem(t, 400, "malformed", "xyz")
		})
	})
}

// pemBlocks returns the PEM blocks of type typ in text, concatenated, as
// openssl printed them (without its "Bag Attributes" lines).
func pemBlocks(text, typ string) string {
	var out strings.Builder
	begin, end := "-----BEGIN "+typ+"-----", "-----END "+typ+"-----"
	for {
		i := strings.Index(text, begin)
		if i < 0 {
			return out.String()
		}
		j := strings.Index(text[i:], end)
		if j < 0 {
			return out.String()
		}
		out.WriteString(text[i : i+j+len(end)])
		out.WriteString("\n")
		text = text[i+j+len(end):]
	}
}
