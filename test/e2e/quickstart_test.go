package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/test/softhsm"
)

// The README's first command, in a temporary directory: the quickstart
// sets everything up, both listeners become ready over TLS validated
// against var/root.pem, and a second run reuses the token and the CA.
func TestQuickstart(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir)
	v := func(name string) string { return filepath.Join(dir, "var", name) }

	// The contract's files, secrets with mode 0600.
	for _, f := range []string{"gateway.yaml", "softhsm2.conf", "gateway.db", "root.pem", "tls.pem"} {
		if _, err := os.Stat(v(f)); err != nil {
			t.Errorf("var/%s: %v", f, err)
		}
	}
	for _, f := range []string{"pin", "admin-token", "tls.key"} {
		if m := mode(t, v(f)); m != 0o600 {
			t.Errorf("var/%s has mode %o, want 0600", f, m)
		}
	}
	token, _ := os.ReadFile(v("admin-token"))
	if !strings.HasPrefix(string(token), "gwt_") {
		t.Errorf("var/admin-token does not hold a token: %q", token)
	}

	root := readPEMCert(t, v("root.pem"))
	c := g.Client(t)

	// The HTTPS certificate comes from the gateway's own CA, for localhost
	// and 127.0.0.1 (the readiness wait already connected to both names).
	resp, err := c.Get(g.HTTPSURL("127.0.0.1") + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	chain := resp.TLS.VerifiedChains[0]
	if len(chain) != 3 || !chain[2].Equal(root) || chain[1].Subject.CommonName != "Gateway quickstart issuing CA" {
		t.Fatalf("HTTPS chain: %d certificates, want leaf, issuing, root", len(chain))
	}

	// The CA certificates are published for AIA, identical to what init wrote.
	code, body, err := get(c, "http://"+g.HTTP+"/ca/root.crt")
	if err != nil || code != 200 || !bytes.Equal([]byte(body), root.Raw) {
		t.Fatalf("/ca/root.crt: %d, %v, same as var/root.pem: %v", code, err, bytes.Equal([]byte(body), root.Raw))
	}
	code, body, _ = get(c, "http://"+g.HTTP+"/ca/issuing.crt")
	if code != 200 || !bytes.Equal([]byte(body), chain[1].Raw) {
		t.Fatalf("/ca/issuing.crt: %d, not the HTTPS chain's issuing CA", code)
	}

	// Both CA certificates pass the whole zlint registry.
	linter, err := ca.NewLinter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cert := range chain[1:] {
		if err := linter.LintCertificate(cert.Raw); err != nil {
			t.Errorf("%s: %v", cert.Subject.CommonName, err)
		}
	}

	// The keys are in the token: two CA keys, one delegated OCSP
	// responder key per CA, the SCEP registration authority of the
	// issuing CA (the one profile default, which allows scep, issues
	// from), and the audit key that seals the audit trail.
	module := softhsm.Module(t)
	objs := pkcs11Objects(t, dir, module)
	if n := strings.Count(objs, "Private Key Object"); n != 6 {
		t.Fatalf("token holds %d private keys, want 6:\n%s", n, objs)
	}
	for _, l := range []string{"gateway-root", "gateway-issuing", "ocsp-root-", "ocsp-issuing-", "scep-ra-issuing", "gateway-audit"} {
		if !strings.Contains(objs, "label:      "+l) {
			t.Errorf("no key %s in the token:\n%s", l, objs)
		}
	}
	if strings.Count(objs, "Access:     sensitive, always sensitive, never extractable") != 6 {
		t.Errorf("keys are not sensitive and never extractable:\n%s", objs)
	}

	// gateway check, beside the running gateway: the token's keys match
	// the CAs, the profile passes the lint gate, and the audit key and the
	// HTTPS certificate serve made are there.
	out, errOut, err := gatewayCLI(dir, "check")
	if err != nil {
		t.Fatalf("gateway check: %v\n%s%s", err, out, errOut)
	}
	for _, want := range []string{"ok    token        pkcs11 signer open", "ok    audit key", "ok    ca issuing", "ok    ca root", "ok    profiles", "ok    tls", "serve can start"} {
		if !strings.Contains(out, want) {
			t.Errorf("gateway check says\n%s\nwant a line with %q", out, want)
		}
	}

	// SIGTERM stops it cleanly (Stop checks the exit status).
	g.Stop(t)

	// A second run reuses the token and the hierarchy.
	g2 := StartQuickstart(t, dir)
	if again := readPEMCert(t, v("root.pem")); !again.Equal(root) {
		t.Fatal("the second run wrote a different root")
	}
	if n := strings.Count(pkcs11Objects(t, dir, module), "Private Key Object"); n != 6 {
		t.Fatalf("after the second run the token holds %d private keys, want 6", n)
	}
	token2, _ := os.ReadFile(v("admin-token"))
	if !bytes.Equal(token, token2) {
		t.Fatal("the second run replaced var/admin-token")
	}
	g2.Stop(t)
}
