package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An operator renews both CAs of the quickstart with `gateway ca renew`
// while the gateway runs, and restarts it: it then serves and chains to the
// new certificates, and what it issued before still verifies (openssl, with
// the old root or the new one as trust anchor) and is still revoked
// through OCSP.
func TestCARenewal(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir)
	file := func(name, s string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	issue := func(g *Gateway, name string) (serial, leaf, chain string) {
		t.Helper()
		code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{name}})
		if code != 201 {
			t.Fatalf("issue %s: %d %s", name, code, body)
		}
		var issued struct{ Serial, Certificate, Chain string }
		if err := json.Unmarshal(body, &issued); err != nil {
			t.Fatal(err)
		}
		return issued.Serial, file(name+".pem", issued.Certificate), file(name+".chain.pem", issued.Chain)
	}
	// gateway runs a command and returns its standard output, and its
	// error output after it.
	gateway := func(args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(gatewayBin, append(args, "-config", filepath.Join("var", "gateway.yaml"))...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(dir, "var", "softhsm2.conf"))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		return string(out) + stderr.String(), err
	}

	oldRoot := file("old-root.pem", readFile(t, filepath.Join(dir, "var", "root.pem")))
	oldSerial, oldLeaf, oldChain := issue(g, "before.renewal.test")
	out, err := gateway("ca", "list")
	if err != nil || !strings.Contains(out, "NOT AFTER") || !strings.Contains(out, "\nroot ") || !strings.Contains(out, "\nissuing ") {
		t.Fatalf("gateway ca list: %v\n%s", err, out)
	}

	// A renewal that would end earlier than the current certificate
	// changes nothing.
	if out, err := gateway("ca", "renew", "-ca", "issuing", "-validity", "1d"); err == nil || !strings.Contains(out, "no later than its current certificate") {
		t.Fatalf("gateway ca renew -validity 1d: %v\n%s", err, out)
	}
	if out, err := gateway("ca", "renew", "-ca", "root", "-validity", "7400d", "-o", "new-root.pem"); err != nil || !strings.Contains(out, "renewed CA root") {
		t.Fatalf("gateway ca renew -ca root: %v\n%s", err, out)
	}
	if out, err := gateway("ca", "renew", "-ca", "issuing", "-o", "new-issuing.pem"); err != nil || !strings.Contains(out, "renewed CA issuing") {
		t.Fatalf("gateway ca renew -ca issuing: %v\n%s", err, out)
	}
	newRoot, newIssuing := filepath.Join(dir, "new-root.pem"), filepath.Join(dir, "new-issuing.pem")
	served := func() string {
		t.Helper()
		code, body, err := get(g.Client(t), "http://"+g.HTTP+"/ca/issuing.crt")
		if err != nil || code != 200 {
			t.Fatalf("/ca/issuing.crt: %d %v", code, err)
		}
		return fingerprint(t, file("served.der", body))
	}

	// Until it restarts, the running gateway serves what it loaded, and
	// the REST API says so.
	if served() != fingerprint(t, oldChain) {
		t.Error("/ca/issuing.crt changed before the restart")
	}
	pending := func() string {
		t.Helper()
		code, body := g.API(t, "GET", "/api/v1/cas", nil)
		var list struct {
			CAs []struct {
				Name          string `json:"name"`
				ServingSerial string `json:"serving_serial"`
			} `json:"cas"`
		}
		if err := json.Unmarshal(body, &list); code != 200 || err != nil {
			t.Fatalf("GET /api/v1/cas: %d %v %s", code, err, body)
		}
		var names []string
		for _, c := range list.CAs {
			if c.ServingSerial != "" {
				names = append(names, c.Name)
			}
		}
		return strings.Join(names, ",")
	}
	if got := pending(); got != "root,issuing" {
		t.Errorf("GET /api/v1/cas before the restart: serving an earlier certificate of %q, want root,issuing", got)
	}
	g.Stop(t)
	g = StartQuickstart(t, dir)
	if got, want := readFile(t, filepath.Join(dir, "var", "root.pem")), readFile(t, newRoot); got != want {
		t.Error("var/root.pem is not the renewed root after the restart")
	}
	if served() != fingerprint(t, newIssuing) || fingerprint(t, newIssuing) == fingerprint(t, oldChain) {
		t.Fatal("/ca/issuing.crt after the restart is not the renewed certificate")
	}
	if got := pending(); got != "" {
		t.Errorf("GET /api/v1/cas after the restart: serving an earlier certificate of %q", got)
	}
	_, newLeaf, newChain := issue(g, "after.renewal.test")
	if chain := readFile(t, newChain); !strings.HasPrefix(chain, readFile(t, newIssuing)) {
		t.Error("a certificate issued after the restart does not come with the renewed issuing CA")
	}

	// Old and new leaves verify through either issuing certificate to
	// either root.
	for _, v := range []struct{ root, chain, leaf string }{
		{newRoot, newChain, oldLeaf}, {oldRoot, newChain, oldLeaf}, {newRoot, oldChain, newLeaf}, {oldRoot, oldChain, newLeaf},
	} {
		openssl(t, "verify", "-CAfile", v.root, "-untrusted", v.chain, "-purpose", "sslserver", v.leaf)
	}

	// Revoking the old leaf: the OCSP responder, checked against the
	// renewed issuing certificate and the renewed root, says so.
	if code, body := g.API(t, "POST", "/api/v1/certificates/"+oldSerial+"/revoke", map[string]string{"reason": "superseded"}); code != 200 {
		t.Fatalf("revoke: %d %s", code, body)
	}
	out = openssl(t, "ocsp", "-issuer", newIssuing, "-cert", oldLeaf, "-url", "http://"+g.HTTP+"/ocsp/issuing", "-CAfile", newRoot)
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, ": revoked") {
		t.Fatalf("openssl ocsp for the old leaf after the renewal:\n%s", out)
	}
}

// fingerprint is the SHA-256 fingerprint of the first certificate in a
// file, PEM or DER.
func fingerprint(t *testing.T, path string) string {
	t.Helper()
	form := "DER"
	if strings.Contains(readFile(t, path), "-----BEGIN CERTIFICATE-----") {
		form = "PEM"
	}
	return openssl(t, "x509", "-inform", form, "-in", path, "-noout", "-fingerprint", "-sha256")
}
