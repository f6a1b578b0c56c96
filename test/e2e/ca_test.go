package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/test/teststore"
)

// An operator renews both CAs of the quickstart with `gateway ca renew`
// while the gateway runs, and sends it SIGHUP: without a restart it then
// serves and chains to the new certificates (CA download, HTTPS, EST
// cacerts, SCEP GetCACert, new leaves), what it issued before still
// verifies (openssl, with the old root or the new one as trust anchor) and
// is still revoked through OCSP, and the root's OCSP responder says good
// for the old issuing certificate as for the new.
func TestCARenewal(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir)
	file := func(name, s string) string { return writeIn(t, dir, name, s) }
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
		out, errOut, err := gatewayCLI(dir, args...)
		return out + errOut, err
	}

	started := time.Now()
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
	// A day longer than the quickstart's 3650d: a renewal must end later
	// than the current certificate, which may be younger than a second.
	if out, err := gateway("ca", "renew", "-ca", "issuing", "-validity", "3651d", "-o", "new-issuing.pem"); err != nil || !strings.Contains(out, "renewed CA issuing") {
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

	// Until it reloads (each minute, or at once on SIGHUP), the running
	// gateway serves what it loaded, and the REST API says so. The check
	// holds only while the first periodic reload is still ahead.
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
	if time.Since(started) < 50*time.Second {
		if served() != fingerprint(t, oldChain) {
			t.Error("/ca/issuing.crt changed before the reload")
		}
		if got := pending(); got != "root,issuing" {
			t.Errorf("GET /api/v1/cas before the reload: serving an earlier certificate of %q, want root,issuing", got)
		}
	}
	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// eventually polls what until it holds, for up to 30 seconds.
	eventually := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("after SIGHUP: %s", what)
			}
		}
	}
	eventually("/ca/issuing.crt is not the renewed certificate", func() bool { return served() == fingerprint(t, newIssuing) })
	if fingerprint(t, newIssuing) == fingerprint(t, oldChain) {
		t.Fatal("the renewal did not change the issuing certificate")
	}
	if got := pending(); got != "" {
		t.Errorf("GET /api/v1/cas after the reload: serving an earlier certificate of %q", got)
	}
	issuingPEM := strings.TrimSpace(readFile(t, newIssuing))
	// The HTTPS listener's chain is issued again with the renewed CA.
	eventually("the HTTPS chain does not carry the renewed issuing CA", func() bool {
		resp, err := g.Client(t).Get("https://" + g.HTTPS + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		chain := resp.TLS.PeerCertificates
		return len(chain) > 1 && strings.Contains(issuingPEM, strings.TrimSpace(string(ca.PEMChain(chain[1]))))
	})
	// EST cacerts and SCEP GetCACert hand out the renewed certificates.
	for _, u := range []struct {
		url    string
		base64 bool
	}{
		{"https://" + g.HTTPS + "/.well-known/est/cacerts", true},
		{"http://" + g.HTTP + "/scep/default?operation=GetCACert", false},
	} {
		code, body, err := get(g.Client(t), u.url)
		if err != nil || code != 200 {
			t.Fatalf("%s: %d %v", u.url, code, err)
		}
		if u.base64 { // EST: base64 DER (RFC 7030 section 4.1.3)
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
			if err != nil {
				t.Fatalf("%s: %v", u.url, err)
			}
			body = string(der)
		}
		certs := openssl(t, "pkcs7", "-inform", "DER", "-in", file("answer.p7", body), "-print_certs")
		if !strings.Contains(certs, issuingPEM) || u.base64 && !strings.Contains(certs, strings.TrimSpace(readFile(t, newRoot))) {
			t.Errorf("%s after the reload does not carry the renewed CAs:\n%s", u.url, certs)
		}
	}
	_, newLeaf, newChain := issue(g, "after.renewal.test")
	if chain := readFile(t, newChain); !strings.HasPrefix(chain, readFile(t, newIssuing)) {
		t.Error("a certificate issued after the reload does not come with the renewed issuing CA")
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
	// The root's responder knows both issuing certificates: the renewed
	// one, and the one relying parties with the old chain still ask about.
	for _, c := range []string{newIssuing, oldChain} {
		out = openssl(t, "ocsp", "-issuer", newRoot, "-cert", c, "-url", "http://"+g.HTTP+"/ocsp/root", "-CAfile", newRoot)
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, ": good") {
			t.Errorf("openssl ocsp for issuing certificate %s at the root's responder:\n%s", c, out)
		}
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

// Two replicas over one PostgreSQL database: a CA renewed through the REST
// API of one is served by it at once, and by the other once it reloads (on
// SIGHUP here; by itself within a minute).
func TestCARenewalTwoReplicas(t *testing.T) {
	dir := t.TempDir()
	pg := []string{"GATEWAY_STORAGE_DRIVER=postgres", "GATEWAY_STORAGE_DSN=" + teststore.NewDatabase(t)}
	g1 := StartQuickstart(t, dir, pg...)
	g2 := StartQuickstart(t, dir, pg...)
	started := time.Now()
	served := func(g *Gateway) string {
		t.Helper()
		code, body, err := get(g.Client(t), "http://"+g.HTTP+"/ca/issuing.crt")
		if err != nil || code != 200 {
			t.Fatalf("/ca/issuing.crt: %d %v", code, err)
		}
		return body
	}
	old := served(g1)
	renew := func(name string, body any) *x509.Certificate {
		t.Helper()
		code, resp := g1.API(t, "POST", "/api/v1/cas/"+name+"/renew", body)
		var got struct{ Certificate, Replaces string }
		if err := json.Unmarshal(resp, &got); code != 200 || err != nil || got.Replaces == "" {
			t.Fatalf("POST /api/v1/cas/%s/renew: %d %v %s", name, code, err, resp)
		}
		block, _ := pem.Decode([]byte(got.Certificate))
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	renew("root", map[string]string{"validity": "7400d"})
	issuing := renew("issuing", map[string]string{"validity": "3651d"}) // later than the current certificate, however young
	if served(g1) != string(issuing.Raw) {
		t.Fatal("the replica that renewed does not serve the renewed issuing CA at once")
	}
	if time.Since(started) < 50*time.Second && served(g2) != old {
		t.Error("the other replica changed before it reloaded")
	}
	if err := g2.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); served(g2) != string(issuing.Raw); time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the other replica does not serve the renewed issuing CA after SIGHUP")
		}
	}
	code, body := g2.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"replica.test"}})
	var leaf struct{ Chain string }
	if err := json.Unmarshal(body, &leaf); code != 201 || err != nil {
		t.Fatalf("issue on the other replica: %d %v %s", code, err, body)
	}
	if block, _ := pem.Decode([]byte(leaf.Chain)); block == nil || !bytes.Equal(block.Bytes, issuing.Raw) {
		t.Error("the other replica issues with the old chain after reloading")
	}
}

// An operator revokes the quickstart's issuing CA with `gateway ca revoke`
// while the gateway runs: the root's OCSP responder says the issuing
// certificate is revoked (openssl ocsp), the root's CRL lists it, so
// `openssl verify -crl_check_all` refuses a leaf issued under it, and after
// SIGHUP the gateway issues nothing more under it.
func TestCARevocation(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir)
	file := func(name, s string) string { return writeIn(t, dir, name, s) }
	root := filepath.Join(dir, "var", "root.pem")
	code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"before.revocation.test"}})
	var issued struct{ Certificate, Chain string }
	if err := json.Unmarshal(body, &issued); code != 201 || err != nil {
		t.Fatalf("issue: %d %v %s", code, err, body)
	}
	leaf, chain := file("leaf.pem", issued.Certificate), file("chain.pem", issued.Chain)
	crls := func() []string {
		t.Helper()
		var out []string
		for _, name := range []string{"root", "issuing"} {
			code, body, err := get(g.Client(t), "http://"+g.HTTP+"/crl/"+name+".pem")
			if err != nil || code != 200 {
				t.Fatalf("CRL of %s: %d %v", name, code, err)
			}
			out = append(out, "-CRLfile", file(name+".crl.pem", body))
		}
		return out
	}
	verify := func() (string, error) {
		args := append([]string{"verify", "-crl_check_all", "-CAfile", root, "-untrusted", chain}, crls()...)
		out, err := exec.Command("openssl", append(args, leaf)...).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(); err != nil {
		t.Fatalf("openssl verify -crl_check_all before the revocation: %v\n%s", err, out)
	}

	cmd := exec.Command(gatewayBin, "ca", "revoke", "-ca", "issuing", "-reason", "keyCompromise", "-config", filepath.Join("var", "gateway.yaml"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(dir, "var", "softhsm2.conf"))
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "revoked CA issuing") {
		t.Fatalf("gateway ca revoke: %v\n%s", err, out)
	}
	// The running gateway follows the revocation in the store.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := verify()
		if err != nil && strings.Contains(out, "certificate revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("openssl verify -crl_check_all after revoking the issuing CA: %v\n%s", err, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
	out := openssl(t, "ocsp", "-issuer", root, "-cert", chain, "-url", "http://"+g.HTTP+"/ocsp/root", "-CAfile", root)
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, ": revoked") || !strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("openssl ocsp for the issuing CA at the root's responder:\n%s", out)
	}

	if err := g.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"after.revocation.test"}})
		if code == 503 {
			if !strings.Contains(string(body), "CA issuing was revoked") {
				t.Errorf("the 503 does not say why: %s", body)
			}
			break
		}
		if code != 201 || time.Now().After(deadline) {
			t.Fatalf("issue after revoking the issuing CA and SIGHUP: %d %s", code, body)
		}
	}
}

// writeIn writes s to the file name in dir and returns its path.
func writeIn(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Key rollover as the README describes it: a second issuing CA is added to
// the configuration, the profile and the HTTPS listener move to it, and
// after a restart new certificates come from its key while the old CA
// still answers for what it issued (OCSP says an old leaf is revoked).
func TestCAKeyRollover(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir)
	issue := func(name string) (serial, leaf, chain string) {
		t.Helper()
		code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{name}})
		var issued struct{ Serial, Certificate, Chain string }
		if err := json.Unmarshal(body, &issued); code != 201 || err != nil {
			t.Fatalf("issue %s: %d %v %s", name, code, err, body)
		}
		return issued.Serial, writeIn(t, dir, name+".pem", issued.Certificate), writeIn(t, dir, name+".chain.pem", issued.Chain)
	}
	oldSerial, oldLeaf, oldChain := issue("before.rollover.test")
	g.Stop(t)

	path := filepath.Join(dir, "var", "gateway.yaml")
	y := readFile(t, path)
	for old, repl := range map[string]string{
		"\nprofiles:\n": `
  - name: issuing-2
    parent: root
    key: {type: ecdsa-p256, label: gateway-issuing-2}
    subject: {common_name: Gateway quickstart issuing CA 2, organization: Certificate Gateway, country: XX}
profiles:
`,
		"    ca: issuing\n    methods:":   "    ca: issuing-2\n    methods:",   // the profile default
		"    ca: issuing\n    dns_names:": "    ca: issuing-2\n    dns_names:", // listen.tls.ca
	} {
		if strings.Count(y, old) != 1 {
			t.Fatalf("%s: want one %q", path, old)
		}
		y = strings.Replace(y, old, repl, 1)
	}
	writeIn(t, filepath.Join(dir, "var"), "gateway.yaml", y)
	g = StartQuickstart(t, dir)

	_, newLeaf, newChain := issue("after.rollover.test")
	root := filepath.Join(dir, "var", "root.pem")
	for _, v := range []struct{ chain, leaf string }{{oldChain, oldLeaf}, {newChain, newLeaf}} {
		openssl(t, "verify", "-CAfile", root, "-untrusted", v.chain, "-purpose", "sslserver", v.leaf)
	}
	if out := openssl(t, "x509", "-in", newLeaf, "-noout", "-issuer"); !strings.Contains(out, "issuing CA 2") {
		t.Errorf("after the rollover the profile issues from %s", out)
	}
	resp, err := g.Client(t).Get("https://" + g.HTTPS + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cn := resp.TLS.PeerCertificates[0].Issuer.CommonName; cn != "Gateway quickstart issuing CA 2" {
		t.Errorf("the HTTPS certificate is issued by %q after the rollover", cn)
	}
	if code, body := g.API(t, "POST", "/api/v1/certificates/"+oldSerial+"/revoke", map[string]string{"reason": "superseded"}); code != 200 {
		t.Fatalf("revoke the old leaf: %d %s", code, body)
	}
	out := openssl(t, "ocsp", "-issuer", oldChain, "-cert", oldLeaf, "-url", "http://"+g.HTTP+"/ocsp/issuing", "-CAfile", root)
	if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, ": revoked") {
		t.Fatalf("openssl ocsp for a leaf of the old CA after the rollover:\n%s", out)
	}
}
