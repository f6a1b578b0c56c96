package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An operator puts the gateway under a corporate offline root: the
// configuration gains a CA certified by that root (external) and an
// issuing CA under it. `gateway init` makes the key in SoftHSM and writes
// its request; the offline root (openssl) signs it; `gateway ca import`
// installs the certificate with the root, and the next init creates the
// issuing CA under it. The gateway then issues under the external root:
// openssl verifies a leaf up to it, and after revocation finds the leaf
// revoked in the issuing CA's OCSP answer and CRL, both trusted through
// the external root.
func TestExternalRootCA(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir)
	g.Stop(t)

	path := filepath.Join(dir, "var", "gateway.yaml")
	y := readFile(t, path)
	for old, repl := range map[string]string{
		"\nprofiles:\n": `
  - name: corp
    external: true
    key: {type: ecdsa-p384, label: gateway-corp}
    subject: {common_name: Corp gateway CA, organization: Corp, country: DE}
  - name: corp-issuing
    parent: corp
    key: {type: ecdsa-p256, label: gateway-corp-issuing}
    subject: {common_name: Corp gateway issuing CA, organization: Corp, country: DE}
profiles:
`,
		"    ca: issuing\n    methods:": "    ca: corp-issuing\n    methods:", // the profile default
	} {
		if strings.Count(y, old) != 1 {
			t.Fatalf("%s: want one %q", path, old)
		}
		y = strings.Replace(y, old, repl, 1)
	}
	writeIn(t, filepath.Join(dir, "var"), "gateway.yaml", y)

	out, errOut, err := gatewayCLI(dir, "init")
	if err != nil || !strings.Contains(out, "CA corp waits for its certificate") || !strings.Contains(out, "CA corp-issuing waits for CA corp") {
		t.Fatalf("gateway init: %v\n%s%s", err, out, errOut)
	}
	if out, _, err := gatewayCLI(dir, "ca", "list"); err != nil || !strings.Contains(out, "waits for its certificate: gateway ca import -ca corp") ||
		!strings.Contains(out, "not created yet: gateway init") {
		t.Errorf("gateway ca list while corp waits: %v\n%s", err, out)
	}
	csr := filepath.Join(dir, "var", "corp.csr")
	if _, err := os.Stat(csr); err != nil {
		t.Fatal("init wrote no request:", err)
	}
	if _, errOut, err := gatewayCLI(dir, "serve"); err == nil || !strings.Contains(errOut, "corp") {
		t.Fatalf("gateway serve started while CA corp waits: %v %s", err, errOut)
	}

	// The offline root, as its operator would run it.
	off := filepath.Join(dir, "offline")
	if err := os.Mkdir(off, 0o700); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(off, "root.pem")
	openssl(t, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-384", "-nodes", "-keyout", filepath.Join(off, "root.key"),
		"-out", root, "-subj", "/CN=Corp Offline Root/O=Corp/C=DE", "-days", "3650",
		"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	ext := writeIn(t, off, "ext.cnf", "[v3]\nbasicConstraints=critical,CA:TRUE,pathlen:1\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\n"+
		"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
	signed := filepath.Join(off, "corp.pem")
	openssl(t, "x509", "-req", "-in", csr, "-CA", root, "-CAkey", filepath.Join(off, "root.key"), "-CAcreateserial", "-days", "1825",
		"-sha384", "-extfile", ext, "-extensions", "v3", "-out", signed)

	if _, errOut, err := gatewayCLI(dir, "ca", "import", "-ca", "corp", "-cert", signed); err == nil || !strings.Contains(errOut, "no self-signed root") {
		t.Fatalf("import without the root: %v %s", err, errOut)
	}
	bundle := writeIn(t, off, "bundle.pem", readFile(t, signed)+"\n"+readFile(t, root)+"\n")
	out, errOut, err = gatewayCLI(dir, "ca", "import", "-ca", "corp", "-cert", bundle)
	if err != nil || !strings.Contains(out, "imported the certificate of CA corp") || !strings.Contains(out, "gateway init to create the CAs under it: corp-issuing") {
		t.Fatalf("gateway ca import: %v\n%s%s", err, out, errOut)
	}

	g = StartQuickstart(t, dir) // its init creates corp-issuing
	if out, _, err := gatewayCLI(dir, "ca", "list"); err != nil || !strings.Contains(out, "(external)") || !strings.Contains(out, "corp-issuing") {
		t.Fatalf("gateway ca list: %v\n%s", err, out)
	}
	code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"app.corp.test"}})
	var issued struct{ Serial, Certificate, Chain string }
	if err := json.Unmarshal(body, &issued); code != 201 || err != nil {
		t.Fatalf("issue: %d %v %s", code, err, body)
	}
	leaf, chain := writeIn(t, dir, "leaf.pem", issued.Certificate), writeIn(t, dir, "chain.pem", issued.Chain)
	if n := strings.Count(issued.Chain, "BEGIN CERTIFICATE"); n != 3 {
		t.Errorf("the chain holds %d certificates, want corp-issuing, corp and the offline root", n)
	}
	openssl(t, "verify", "-CAfile", root, "-untrusted", chain, "-purpose", "sslserver", leaf)

	if code, body := g.API(t, "POST", "/api/v1/certificates/"+issued.Serial+"/revoke", map[string]string{"reason": "keyCompromise"}); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	out = openssl(t, "ocsp", "-issuer", chain, "-cert", leaf, "-url", "http://"+g.HTTP+"/ocsp/corp-issuing", "-CAfile", root, "-verify_other", chain)
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, ": revoked") {
		t.Fatalf("openssl ocsp after the revocation:\n%s", out)
	}
	// The CRL follows the revocation within crl.coalesce.
	var v []byte
	for try := 0; try < 40; try++ {
		code, crl, err := get(g.Client(t), "http://"+g.HTTP+"/crl/corp-issuing.pem")
		if err != nil || code != 200 {
			t.Fatalf("CRL of corp-issuing: %d %v", code, err)
		}
		v, err = exec.Command("openssl", "verify", "-crl_check", "-CAfile", root, "-untrusted", chain,
			"-CRLfile", writeIn(t, dir, "corp-issuing.crl.pem", crl), leaf).CombinedOutput()
		if err != nil && strings.Contains(string(v), "certificate revoked") {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("openssl verify -crl_check after the revocation:\n%s", v)
}
