package e2e

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	xocsp "golang.org/x/crypto/ocsp"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/crl"
	"github.com/certgw/gateway/test/softhsm"
)

// revocationEnv is a quickstart gateway with the files the validators
// need: the root to trust and the issuing CA's certificate.
type revocationEnv struct {
	t       *testing.T
	dir     string
	g       *Gateway
	root    string // var/root.pem
	issuing string // issuing.pem
	ca      *x509.Certificate
}

func startRevocationEnv(t *testing.T, dir string, env ...string) *revocationEnv {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not installed: run `make test`, which installs it, or `apt-get install openssl`")
	}
	e := &revocationEnv{t: t, dir: dir, g: StartQuickstart(t, dir, env...), root: filepath.Join(dir, "var", "root.pem")}
	code, body, err := get(e.g.Client(t), "http://"+e.g.HTTP+"/ca/issuing.pem")
	if err != nil || code != 200 {
		t.Fatalf("/ca/issuing.pem: %d %v", code, err)
	}
	e.issuing = e.write("issuing.pem", []byte(body))
	e.ca = readPEMCert(t, e.issuing)
	if code, _, _ := get(e.g.Client(t), "http://"+e.g.HTTP+"/crl/issuing.crl"); code == http.StatusNotFound {
		t.Fatal("/crl/issuing.crl is not found: the revocation routes are not mounted (startRevocation in cmd/gateway/serve.go)")
	}
	return e
}

func (e *revocationEnv) write(name string, b []byte) string {
	e.t.Helper()
	p := filepath.Join(e.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// api calls the REST API with the admin token.
func (e *revocationEnv) api(method, path string, body any) (int, []byte) {
	e.t.Helper()
	return e.g.API(e.t, method, path, body)
}

// issue has the gateway issue a certificate for name and writes it to
// name.pem.
func (e *revocationEnv) issue(name string) (serial, path string, cert *x509.Certificate) {
	e.t.Helper()
	code, body := e.api("POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{name}})
	if code != 201 {
		e.t.Fatalf("issue %s: %d %s", name, code, body)
	}
	var issued struct{ Serial, Certificate string }
	if err := json.Unmarshal(body, &issued); err != nil {
		e.t.Fatal(err)
	}
	path = e.write(name+".pem", []byte(issued.Certificate))
	return issued.Serial, path, readPEMCert(e.t, path)
}

func (e *revocationEnv) revoke(serial, reason string) {
	e.t.Helper()
	if code, body := e.api("POST", "/api/v1/certificates/"+serial+"/revoke", map[string]string{"reason": reason}); code != 200 {
		e.t.Fatalf("revoke %s: %d %s", serial, code, body)
	}
}

// ocspCheck runs `openssl ocsp` against the gateway's responder for the
// issuing CA, with the root as the only trust anchor, and returns its
// output. openssl sends a nonce and checks that it comes back.
func (e *revocationEnv) ocspCheck(what ...string) string {
	e.t.Helper()
	args := append([]string{"ocsp", "-issuer", e.issuing}, what...)
	args = append(args, "-url", "http://"+e.g.HTTP+"/ocsp/issuing", "-CAfile", e.root)
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		e.t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if !strings.Contains(string(out), "Response verify OK") || strings.Contains(string(out), "nonce") {
		e.t.Fatalf("openssl ocsp did not verify the response (or its nonce):\n%s", out)
	}
	return string(out)
}

// crl fetches the issuing CA's CRL as DER and PEM, checks that both are
// the same CRL, that openssl parses both, that it verifies under the CA and
// passes the whole zlint registry, and writes the PEM to crl.pem.
func (e *revocationEnv) crl() (*x509.RevocationList, string) {
	e.t.Helper()
	c := e.g.Client(e.t)
	code, der, err := get(c, "http://"+e.g.HTTP+"/crl/issuing.crl")
	if err != nil || code != 200 {
		e.t.Fatalf("/crl/issuing.crl: %d %v", code, err)
	}
	code, pemBody, err := get(c, "http://"+e.g.HTTP+"/crl/issuing.pem")
	if err != nil || code != 200 {
		e.t.Fatalf("/crl/issuing.pem: %d %v", code, err)
	}
	block, _ := pem.Decode([]byte(pemBody))
	list, perr := x509.ParseRevocationList([]byte(der))
	if perr != nil || block == nil || block.Type != "X509 CRL" {
		e.t.Fatalf("CRL: %v, PEM block %v", perr, block)
	}
	if !bytes.Equal(block.Bytes, []byte(der)) {
		// A rebuild between the two requests; the next call agrees.
		return e.crl()
	}
	if err := list.CheckSignatureFrom(e.ca); err != nil {
		e.t.Fatalf("CRL signature: %v", err)
	}
	text := openssl(e.t, "crl", "-inform", "DER", "-in", e.write("crl.der", []byte(der)), "-noout", "-text")
	if !strings.Contains(text, "X509v3 CRL Number") || !strings.Contains(text, "X509v3 Authority Key Identifier") {
		e.t.Fatalf("openssl crl -text:\n%s", text)
	}
	pemPath := e.write("crl.pem", []byte(pemBody))
	openssl(e.t, "crl", "-in", pemPath, "-noout")
	// The whole registry but the CA/B reason-code lint, which the gateway
	// leaves out on purpose (crl.ExcludedLints): a certificate on hold is
	// listed with certificateHold, which the BRs do not list.
	linter, err := ca.NewLinter(nil, crl.ExcludedLints())
	if err != nil {
		e.t.Fatal(err)
	}
	if err := linter.LintRevocationList([]byte(der)); err != nil {
		e.t.Fatalf("the CRL fails zlint: %v", err)
	}
	return list, pemPath
}

// verifyWithCRL runs `openssl verify -crl_check` on a certificate.
func (e *revocationEnv) verifyWithCRL(crlPath, cert string) (string, error) {
	out, err := exec.Command("openssl", "verify", "-crl_check", "-CAfile", e.root, "-untrusted", e.issuing,
		"-CRLfile", crlPath, cert).CombinedOutput()
	return string(out), err
}

func listed(l *x509.RevocationList, serial string) (x509.RevocationListEntry, bool) {
	for _, en := range l.RevokedCertificateEntries {
		if hex.EncodeToString(en.SerialNumber.Bytes()) == serial {
			return en, true
		}
	}
	return x509.RevocationListEntry{}, false
}

// within retries check every 100ms for up to 10 seconds and returns how
// long it took to pass.
func within(t *testing.T, what string, check func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// Validators learn of a revocation through the REST API within seconds,
// from OCSP (openssl ocsp, golang.org/x/crypto/ocsp), from the CRL
// (openssl verify -crl_check) and from the delta CRL (crl.delta_validity,
// openssl verify -use_deltas); the CRL number keeps growing across a
// restart, with the responder and its key kept.
func TestRevocationWithOpenSSL(t *testing.T) {
	dir := t.TempDir()
	deltas := "GATEWAY_CRL_DELTA_VALIDITY=1h"
	mirror := filepath.Join(dir, "mirror")
	e := startRevocationEnv(t, dir, deltas, "GATEWAY_CRL_PUBLISH_DIR="+mirror)
	serial, leafPath, leaf := e.issue("x.test")

	// OCSP: good, with the response verified up to var/root.pem.
	if out := e.ocspCheck("-cert", leafPath); !strings.Contains(out, leafPath+": good") {
		t.Fatalf("openssl ocsp before the revocation:\n%s", out)
	}
	// A serial the CA never issued is not good.
	if out := e.ocspCheck("-serial", "0x0123456789abcdef"); !strings.Contains(out, "0x0123456789abcdef: unknown") {
		t.Fatalf("openssl ocsp for an unknown serial:\n%s", out)
	}

	// golang.org/x/crypto/ocsp: GET (RFC 6960 A.1) and POST, verified
	// against the responder certificate, which the CA issued for OCSP
	// signing and which chains to the root.
	reqDER, err := xocsp.CreateRequest(leaf, e.ca, nil)
	if err != nil {
		t.Fatal(err)
	}
	getURL := "http://" + e.g.HTTP + "/ocsp/issuing/" + url.PathEscape(base64.StdEncoding.EncodeToString(reqDER))
	resp, err := http.Get(getURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	r, err := xocsp.ParseResponseForCert(body, leaf, e.ca)
	if err != nil || r.Status != xocsp.Good {
		t.Fatalf("x/crypto/ocsp: %v, %+v", err, r)
	}
	roots := x509.NewCertPool()
	roots.AddCert(readPEMCert(t, e.root))
	inter := x509.NewCertPool()
	inter.AddCert(e.ca)
	if _, err := r.Certificate.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}}); err != nil {
		t.Fatalf("responder certificate: %v", err)
	}
	if resp.Header.Get("ETag") == "" || resp.Header.Get("Last-Modified") == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Errorf("OCSP caching headers: %v", resp.Header)
	}
	postResp, err := http.Post("http://"+e.g.HTTP+"/ocsp/issuing", "application/ocsp-request", bytes.NewReader(reqDER))
	if err != nil {
		t.Fatal(err)
	}
	posted, _ := io.ReadAll(postResp.Body)
	postResp.Body.Close()
	if r, err := xocsp.ParseResponseForCert(posted, leaf, e.ca); err != nil || r.Status != xocsp.Good {
		t.Fatalf("POST: %v", err)
	}

	// CRL: DER and PEM, no entry yet; openssl accepts the certificate.
	before, crlPath := e.crl()
	if out, err := e.verifyWithCRL(crlPath, leafPath); err != nil || !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify -crl_check before the revocation: %v\n%s", err, out)
	}
	beforePath := e.write("before.pem", []byte(readFile(t, crlPath)))
	if text := openssl(t, "crl", "-in", beforePath, "-noout", "-text"); !strings.Contains(text, "Freshest CRL") ||
		!strings.Contains(text, "/crl/issuing/delta.crl") {
		t.Fatalf("the full CRL names no delta CRL:\n%s", text)
	}

	// Revoke through the REST API.
	e.revoke(serial, "keyCompromise")
	took := within(t, "OCSP says revoked", func() bool {
		return strings.Contains(e.ocspCheck("-cert", leafPath), leafPath+": revoked")
	})
	out := e.ocspCheck("-cert", leafPath)
	if !strings.Contains(out, "Reason: keyCompromise") || !strings.Contains(out, "Revocation Time:") {
		t.Fatalf("openssl ocsp after the revocation:\n%s", out)
	}
	t.Logf("OCSP answered revoked %v after the revocation", took)
	var after *x509.RevocationList
	took = within(t, "the CRL lists the certificate", func() bool {
		after, crlPath = e.crl()
		en, ok := listed(after, serial)
		return ok && en.ReasonCode == 1
	})
	t.Logf("the CRL listed it %v after the revocation", took)
	if after.Number.Cmp(before.Number) <= 0 {
		t.Fatalf("CRL number %v after %v", after.Number, before.Number)
	}
	if out, err := e.verifyWithCRL(crlPath, leafPath); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -crl_check accepted a revoked certificate: %v\n%s", err, out)
	}
	// Another certificate of the same CA is still accepted.
	_, otherPath, _ := e.issue("y.test")
	if out, err := e.verifyWithCRL(crlPath, otherPath); err != nil {
		t.Fatalf("openssl verify -crl_check of a valid certificate: %v\n%s", err, out)
	}
	// The delta CRL completes the full CRL fetched before the revocation:
	// openssl, told to use deltas, refuses the certificate with both.
	code, deltaPEM, err := get(e.g.Client(t), "http://"+e.g.HTTP+"/crl/issuing/delta.pem")
	if err != nil || code != 200 {
		t.Fatalf("/crl/issuing/delta.pem: %d %v", code, err)
	}
	deltaPath := e.write("delta.pem", []byte(deltaPEM))
	if text := openssl(t, "crl", "-in", deltaPath, "-noout", "-text"); !strings.Contains(text, "Delta CRL Indicator: critical") || !strings.Contains(text, "Key Compromise") {
		t.Fatalf("the delta CRL:\n%s", text)
	}
	useDeltas := func(cert string, crls ...string) (string, error) {
		args := []string{"verify", "-crl_check", "-use_deltas", "-CAfile", e.root, "-untrusted", e.issuing}
		for _, c := range crls {
			args = append(args, "-CRLfile", c)
		}
		out, err := exec.Command("openssl", append(args, cert)...).CombinedOutput()
		return string(out), err
	}
	if out, err := useDeltas(leafPath, beforePath); err != nil {
		t.Fatalf("openssl verify -use_deltas with the old full CRL alone: %v\n%s", err, out)
	}
	if out, err := useDeltas(leafPath, beforePath, deltaPath); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl verify -use_deltas with the old full CRL and the delta accepted a revoked certificate: %v\n%s", err, out)
	}
	// crl.publish_dir holds what /crl/ serves, for a mirror: the full CRL
	// and the delta, as openssl reads them from disk.
	within(t, "the mirror directory has the CRLs that list the revocation", func() bool {
		out, err := useDeltas(leafPath, filepath.Join(mirror, "issuing.pem"), filepath.Join(mirror, "issuing", "delta.pem"))
		return err != nil && strings.Contains(out, "certificate revoked")
	})
	dumpDelta := filepath.Join(dir, "dump-delta.crl")
	cmd := exec.Command(gatewayBin, "crl", "dump", "-config", filepath.Join("var", "gateway.yaml"), "--ca", "issuing", "--delta", "-o", dumpDelta)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), deltas)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "delta CRL (base ") {
		t.Fatalf("gateway crl dump --delta: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(dumpDelta); len(b) == 0 {
		t.Fatal("gateway crl dump --delta wrote nothing")
	}

	// A hold (certificateHold) shows in OCSP and the CRL, and its release
	// through the REST API takes it out of both.
	held, heldPath, _ := e.issue("held.test")
	e.revoke(held, "certificateHold")
	within(t, "OCSP says on hold", func() bool {
		out := e.ocspCheck("-cert", heldPath)
		return strings.Contains(out, heldPath+": revoked") && strings.Contains(out, "Reason: certificateHold")
	})
	within(t, "openssl verify -crl_check refuses the held certificate", func() bool {
		_, crlPath := e.crl()
		out, err := e.verifyWithCRL(crlPath, heldPath)
		return err != nil && strings.Contains(out, "certificate revoked")
	})
	if code, body := e.api("POST", "/api/v1/certificates/"+held+"/release-hold", nil); code != 200 {
		t.Fatalf("release-hold %s: %d %s", held, code, body)
	}
	within(t, "OCSP says good after the release", func() bool {
		return strings.Contains(e.ocspCheck("-cert", heldPath), heldPath+": good")
	})
	within(t, "openssl verify -crl_check accepts the released certificate", func() bool {
		_, crlPath := e.crl()
		out, err := e.verifyWithCRL(crlPath, heldPath)
		return err == nil && strings.Contains(out, ": OK")
	})

	// `gateway crl dump` writes what is served.
	for _, format := range []string{"DER", "PEM"} {
		file := filepath.Join(dir, "dump."+strings.ToLower(format))
		cmd := exec.Command(gatewayBin, "crl", "dump", "-config", filepath.Join("var", "gateway.yaml"), "--ca", "issuing", "--format", format, "-o", file)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gateway crl dump --format %s: %v\n%s", format, err, out)
		}
		b, _ := os.ReadFile(file)
		if format == "PEM" {
			block, _ := pem.Decode(b)
			if block == nil {
				t.Fatalf("dump is not PEM: %q", b)
			}
			b = block.Bytes
		}
		dumped, err := x509.ParseRevocationList(b)
		if err != nil || dumped.Number.Cmp(after.Number) < 0 {
			t.Fatalf("dumped %s CRL: %v, number %v (served %v)", format, err, dumped.Number, after.Number)
		}
	}

	// Restart on the same state: the CRL number goes on from where it was,
	// the revocation is still listed, and the responder (whose key is in
	// the token) is the same.
	keysBefore := pkcs11Objects(t, dir, softhsm.Module(t))
	e.g.Stop(t)
	e = startRevocationEnv(t, dir, deltas)
	restarted, _ := e.crl()
	if restarted.Number.Cmp(after.Number) < 0 {
		t.Fatalf("after a restart the CRL number is %v, before %v", restarted.Number, after.Number)
	}
	if _, ok := listed(restarted, serial); !ok {
		t.Fatal("after a restart the CRL no longer lists the revoked certificate")
	}
	if keysAfter := pkcs11Objects(t, dir, softhsm.Module(t)); strings.Count(keysAfter, "Private Key Object") != strings.Count(keysBefore, "Private Key Object") {
		t.Fatalf("a restart made new keys:\n%s\nthen\n%s", keysBefore, keysAfter)
	}
	if n := strings.Count(keysBefore, "label:      ocsp-"); n != 2 {
		t.Errorf("%d OCSP responder keys in the token, want one per CA:\n%s", n, keysBefore)
	}
	serial2, leaf2, _ := e.issue("z.test")
	if out := e.ocspCheck("-cert", leaf2); !strings.Contains(out, leaf2+": good") {
		t.Fatalf("after a restart:\n%s", out)
	}
	e.revoke(serial2, "superseded")
	within(t, "a revocation after the restart in the CRL", func() bool {
		l, _ := e.crl()
		_, ok := listed(l, serial2)
		return ok && l.Number.Cmp(restarted.Number) > 0
	})
	if out := e.ocspCheck("-cert", leaf2); !strings.Contains(out, leaf2+": revoked") || !strings.Contains(out, "Reason: superseded") {
		t.Fatalf("after a restart, revoked:\n%s", out)
	}

	// An operator at the host, without an API token: `gateway cert`
	// finds the certificate, shows it as issued, and revokes it; the
	// running gateway publishes the revocation as a replica's.
	gw := func(args ...string) string {
		t.Helper()
		out, errOut, err := gatewayCLI(dir, args...)
		if err != nil {
			t.Fatalf("gateway %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	serial3, leaf3, _ := e.issue("cli.test")
	if out := gw("cert", "list", "-san", "cli.test", "-status", "active"); !strings.Contains(out, serial3) || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("gateway cert list -san cli.test (serial %s):\n%s", serial3, out)
	}
	shown := filepath.Join(dir, "shown.pem")
	if err := os.WriteFile(shown, []byte(gw("cert", "show", "-serial", serial3, "-pem")), 0o600); err != nil {
		t.Fatal(err)
	}
	if !readPEMCert(t, shown).Equal(readPEMCert(t, leaf3)) {
		t.Fatal("gateway cert show -pem printed another certificate than the one issued")
	}
	if out := gw("cert", "revoke", "-serial", serial3, "-reason", "cessationOfOperation"); !strings.Contains(out, "revoked certificate "+serial3) {
		t.Fatalf("gateway cert revoke: %s", out)
	}
	within(t, "OCSP says revoked after gateway cert revoke", func() bool {
		out := e.ocspCheck("-cert", leaf3)
		return strings.Contains(out, leaf3+": revoked") && strings.Contains(out, "Reason: cessationOfOperation")
	})
	within(t, "the CRL lists what gateway cert revoke revoked", func() bool {
		l, _ := e.crl()
		en, ok := listed(l, serial3)
		return ok && en.ReasonCode == 5
	})
	if out := gw("cert", "show", "-serial", serial3); !strings.Contains(out, "revoked") || !strings.Contains(out, "cessationOfOperation") || !strings.Contains(out, "cli.test") {
		t.Fatalf("gateway cert show after the revocation:\n%s", out)
	}
	if _, errOut, err := gatewayCLI(dir, "cert", "revoke", "-serial", serial3); err == nil || !strings.Contains(errOut, "revoked") {
		t.Fatalf("a second gateway cert revoke: %v\n%s", err, errOut)
	}

	// An incident: everything under a name, revoked at once, after a dry
	// run that revokes nothing; OCSP and the CRL follow.
	serial4, leaf4, _ := e.issue("a.leak.test")
	serial5, leaf5, _ := e.issue("b.leak.test")
	if out := gw("cert", "revoke", "-san", "leak.test", "-dry-run"); !strings.Contains(out, serial4) || !strings.Contains(out, serial5) ||
		!strings.Contains(out, "2 active certificates would be revoked") {
		t.Fatalf("gateway cert revoke -san leak.test -dry-run:\n%s", out)
	}
	if out := e.ocspCheck("-cert", leaf4); !strings.Contains(out, leaf4+": good") {
		t.Fatalf("a dry run revoked %s:\n%s", serial4, out)
	}
	if out := gw("cert", "revoke", "-san", "leak.test", "-reason", "keyCompromise"); !strings.Contains(out, "2 of 2 matching certificates revoked") {
		t.Fatalf("gateway cert revoke -san leak.test:\n%s", out)
	}
	for _, leaf := range []string{leaf4, leaf5} {
		within(t, "OCSP says revoked after a bulk revocation", func() bool {
			out := e.ocspCheck("-cert", leaf)
			return strings.Contains(out, leaf+": revoked") && strings.Contains(out, "Reason: keyCompromise")
		})
	}
	within(t, "the CRL lists what the bulk revocation revoked", func() bool {
		l, _ := e.crl()
		_, ok4 := listed(l, serial4)
		_, ok5 := listed(l, serial5)
		return ok4 && ok5
	})

	// keyCompromise blocked both keys; an operator blocks one more, given
	// as a CSR made with openssl, and the running gateway refuses a CSR
	// for it within seconds.
	if out := gw("cert", "blocked-keys"); !strings.Contains(out, serial4) || !strings.Contains(out, serial5) || !strings.Contains(out, "revoked for keyCompromise") {
		t.Fatalf("gateway cert blocked-keys:\n%s", out)
	}
	key := filepath.Join(dir, "leaked.key")
	openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
	csr := openssl(t, "req", "-new", "-key", key, "-subj", "/CN=leaked.test", "-addext", "subjectAltName=DNS:leaked.test")
	csrPath := filepath.Join(dir, "leaked.csr")
	if err := os.WriteFile(csrPath, []byte(csr), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := gw("cert", "block-key", "-file", csrPath, "-reason", "found in a public repository"); !strings.Contains(out, "blocked key") {
		t.Fatalf("gateway cert block-key:\n%s", out)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(500 * time.Millisecond) { // its copy is up to 10 s old
		code, body := e.api("POST", "/api/v1/profiles/default/certificates", map[string]any{"csr": csr})
		if code == 400 && strings.Contains(string(body), "found in a public repository") {
			break
		}
		if code != 201 || time.Now().After(deadline) {
			t.Fatalf("a CSR for the blocked key: %d %s", code, body)
		}
	}
}

// Garbage, truncated and huge requests are answered malformedRequest, and
// the gateway keeps answering.
func TestRevocationMalformedOCSP(t *testing.T) {
	dir := t.TempDir()
	e := startRevocationEnv(t, dir)
	_, _, leaf := e.issue("m.test")
	valid, err := xocsp.CreateRequest(leaf, e.ca, &xocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		t.Fatal(err)
	}
	malformed := []byte{0x30, 0x03, 0x0a, 0x01, 0x01}
	base := "http://" + e.g.HTTP + "/ocsp/issuing"
	for name, body := range map[string][]byte{
		"garbage":   []byte("\x00\xff garbage"),
		"truncated": valid[:len(valid)/2],
		// Well over the limit, but small enough (under net/http's 256 KiB)
		// that the server reads the rest of the body and the client is
		// never cut off while it is still sending.
		"huge":  bytes.Repeat([]byte{0x30}, 200<<10),
		"empty": nil,
	} {
		resp, err := http.Post(base, "application/ocsp-request", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("POST %s: %v", name, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(got, malformed) {
			t.Errorf("POST %s: %d %x, want malformedRequest", name, resp.StatusCode, got)
		}
		if _, err := xocsp.ParseResponse(got, nil); err != (xocsp.ResponseError{Status: xocsp.Malformed}) {
			t.Errorf("POST %s: x/crypto reads %v", name, err)
		}
	}
	for name, path := range map[string]string{
		"garbage":   "/bm90IGFuIE9DU1AgcmVxdWVzdA==",
		"truncated": "/" + url.PathEscape(base64.StdEncoding.EncodeToString(valid[:len(valid)-4])),
		"huge":      "/" + strings.Repeat("MIIB", 8000),
	} {
		code, got, err := get(http.DefaultClient, base+path)
		if err != nil || code != 200 || got != string(malformed) {
			t.Errorf("GET %s: %d %x %v, want malformedRequest", name, code, got, err)
		}
	}
	// Still serving.
	if r, err := xocsp.ParseResponseForCert(postOCSP(t, base, valid), leaf, e.ca); err != nil || r.Status != xocsp.Good {
		t.Fatalf("after the malformed requests: %v", err)
	}
}

func postOCSP(t *testing.T, u string, der []byte) []byte {
	t.Helper()
	resp, err := http.Post(u, "application/ocsp-request", bytes.NewReader(der))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b
}
