package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ACME against the built gateway with real clients: certbot (the Debian
// package) and lego (pinned in test/tools), challenges answered on the
// ports the gateway is told to validate on, names resolved by
// pebble-challtestsrv (every A query is 127.0.0.1; TXT records over its
// management API).

// toolBin builds a command of the tools module once per package run.
func toolBin(name, pkg string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "gateway-e2e-"+name)
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", bin, pkg)
		cmd.Dir = filepath.Join(repoRoot, "test", "tools")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("building %s in test/tools: %v\n%s", pkg, err, out)
		}
		return bin, nil
	})
}

var (
	legoBin         = toolBin("lego", "github.com/go-acme/lego/v4/cmd/lego")
	challtestsrvBin = toolBin("pebble-challtestsrv", "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv")
)

func portOf(t *testing.T, hostport string) string {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// acmeEnv is a gateway with a challtestsrv DNS server and the ports the
// validator uses.
type acmeEnv struct {
	g          *Gateway
	dir        string // the directory URL
	http01     string // port
	tlsalpn01  string // port
	dnsAddr    string
	management string
}

func startACME(t *testing.T) *acmeEnv {
	t.Helper()
	e := newACMEEnv(t)
	e.g = e.start(t, t.TempDir())
	e.dir = e.directory(t, e.g, "default")
	return e
}

// newACMEEnv starts pebble-challtestsrv and picks the validation ports; no
// gateway yet (see start).
func newACMEEnv(t *testing.T) *acmeEnv {
	t.Helper()
	bin, err := challtestsrvBin()
	if err != nil {
		t.Fatal(err)
	}
	e := &acmeEnv{http01: portOf(t, freePort(t)), tlsalpn01: portOf(t, freePort(t)), dnsAddr: freePort(t), management: freePort(t)}
	startProcess(t, "pebble-challtestsrv", exec.Command(bin, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dnsserver", e.dnsAddr,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-management", e.management))
	return e
}

// startProcess starts a helper server for the length of the test, and
// shows its output if the test fails.
func startProcess(t *testing.T, name string, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

// start runs a gateway in dir (which may already hold var/gateway.yaml)
// that validates on e's ports and resolves names with e's DNS server.
func (e *acmeEnv) start(t *testing.T, dir string, env ...string) *Gateway {
	t.Helper()
	return StartQuickstart(t, dir, append([]string{
		"GATEWAY_ACME_VALIDATION_HTTP01_PORT=" + e.http01,
		"GATEWAY_ACME_VALIDATION_TLSALPN01_PORT=" + e.tlsalpn01,
		"GATEWAY_ACME_VALIDATION_RESOLVER=" + e.dnsAddr,
	}, env...)...)
}

// directory is the ACME directory URL of a profile of g, checked to answer.
func (e *acmeEnv) directory(t *testing.T, g *Gateway, profile string) string {
	t.Helper()
	dir := g.HTTPSURL("localhost") + "/acme/" + profile + "/directory"
	code, body, err := get(g.Client(t), dir)
	if err != nil || code != http.StatusOK || !strings.Contains(body, "newOrder") {
		t.Fatalf("ACME directory %s: %d %v %s", dir, code, err, body)
	}
	return dir
}

func (e *acmeEnv) rootPEM() string { return filepath.Join(e.g.Dir, "var", "root.pem") }

func runTool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func leafOf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestACMEWithCertbot(t *testing.T) {
	certbot, err := exec.LookPath("certbot")
	if err != nil {
		t.Fatal("certbot is not installed (Debian: apt-get install -y certbot); make test installs it")
	}
	e := startACME(t)
	d := t.TempDir()
	env := []string{"REQUESTS_CA_BUNDLE=" + e.rootPEM()}
	cb := func(args ...string) string {
		base := []string{"--config-dir", d, "--work-dir", d, "--logs-dir", d, "--non-interactive", "--agree-tos",
			"-m", "ops@example.org", "--server", e.dir}
		return runTool(t, env, certbot, append(base, args...)...)
	}
	cb("certonly", "--standalone", "--http-01-port", e.http01, "-d", "one.test", "-d", "two.test", "--key-type", "ecdsa")
	one := leafOf(t, filepath.Join(d, "live", "one.test", "cert.pem"))
	if strings.Join(one.DNSNames, ",") != "one.test,two.test" && strings.Join(one.DNSNames, ",") != "two.test,one.test" {
		t.Errorf("certificate names %v", one.DNSNames)
	}
	cb("certonly", "--standalone", "--http-01-port", e.http01, "-d", "rsa.test", "--key-type", "rsa", "--rsa-key-size", "2048")
	if alg := leafOf(t, filepath.Join(d, "live", "rsa.test", "cert.pem")).PublicKeyAlgorithm; alg != x509.RSA {
		t.Errorf("rsa.test key algorithm %v", alg)
	}
	cb("renew", "--force-renewal", "--no-random-sleep-on-renew", "--standalone", "--http-01-port", e.http01)
	renewed := leafOf(t, filepath.Join(d, "live", "one.test", "cert.pem"))
	if renewed.SerialNumber.Cmp(one.SerialNumber) == 0 {
		t.Errorf("renew --force-renewal kept the same certificate")
	}
	cb("revoke", "--cert-path", filepath.Join(d, "live", "one.test", "cert.pem"), "--reason", "keycompromise", "--no-delete-after-revoke")
	serial := fmt.Sprintf("%x", renewed.SerialNumber)
	c := e.g.Client(t)
	req, _ := http.NewRequest("GET", e.g.HTTPSURL("localhost")+"/api/v1/certificates/"+serial, nil)
	tok, _ := os.ReadFile(filepath.Join(e.g.Dir, "var", "admin-token"))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(buf.String(), "revoked") {
		t.Errorf("certificate %s after certbot revoke: %s", serial, buf.String())
	}
	// keyCompromise blocked the key: a renewal that reuses it is refused
	// (badCSR). Debian's certbot 2.1 may crash printing the ACME error, so
	// the gateway's answer is read from its log.
	cmd := exec.Command(certbot, "--config-dir", d, "--work-dir", d, "--logs-dir", d, "--non-interactive", "--agree-tos",
		"-m", "ops@example.org", "--server", e.dir, "renew", "--cert-name", "one.test", "--force-renewal", "--reuse-key",
		"--no-random-sleep-on-renew", "--standalone", "--http-01-port", e.http01)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	logText, _ := os.ReadFile(filepath.Join(d, "letsencrypt.log"))
	if err == nil || !strings.Contains(string(out)+string(logText), "is blocked since") {
		t.Errorf("certbot renew --reuse-key after a keyCompromise revocation: %v\n%s", err, out)
	}
}

func TestACMEWithLego(t *testing.T) {
	lego, err := legoBin()
	if err != nil {
		t.Fatal(err)
	}
	// The quickstart's default directory also offers a "short" profile
	// (draft-ietf-acme-profiles).
	e := newACMEEnv(t)
	gdir := t.TempDir()
	setupQuickstart(t, gdir)
	offerProfile(t, gdir, "default", "short")
	addProfile(t, gdir, shortProfile)
	// CAA is checked, the gateway answering to "pki.gateway.test".
	cfgPath := filepath.Join(gdir, "var", "gateway.yaml")
	y := strings.Replace(readFile(t, cfgPath), "  validation:\n", "  validation:\n    caa_identities: [pki.gateway.test]\n", 1)
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	e.g = e.start(t, gdir)
	e.dir = e.directory(t, e.g, "default")
	env := []string{"LEGO_CA_CERTIFICATES=" + e.rootPEM()}
	lg := func(t *testing.T, d string, args ...string) string {
		base := []string{"--server", e.dir, "--email", "ops@example.org", "--accept-tos", "--path", d}
		return runTool(t, env, lego, append(base, args...)...)
	}
	t.Run("profile", func(t *testing.T) {
		d := t.TempDir()
		lg(t, d, "--http", "--http.port", ":"+e.http01, "-d", "p.test", "run", "--profile", "short")
		c := leafOf(t, filepath.Join(d, "certificates", "p.test.crt"))
		if life := c.NotAfter.Sub(c.NotBefore); life > 7*24*time.Hour+time.Hour {
			t.Errorf("certificate of profile short valid for %v, want 7 days", life)
		}
		if code, body := e.g.API(t, "GET", "/api/v1/certificates/"+fmt.Sprintf("%x", c.SerialNumber), nil); code != http.StatusOK || !strings.Contains(string(body), `"profile":"short"`) {
			t.Errorf("inventory of the short certificate: %d %s", code, body)
		}
		cmd := exec.Command(lego, "--server", e.dir, "--email", "ops@example.org", "--accept-tos", "--path", d,
			"--http", "--http.port", ":"+e.http01, "-d", "q.test", "run", "--profile", "nosuch")
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "invalidProfile") {
			t.Errorf("lego --profile nosuch: %v\n%s", err, out)
		}
	})
	t.Run("http-01", func(t *testing.T) {
		d := t.TempDir()
		lg(t, d, "--http", "--http.port", ":"+e.http01, "-d", "h.test", "run")
		if c := leafOf(t, filepath.Join(d, "certificates", "h.test.crt")); c.DNSNames[0] != "h.test" {
			t.Errorf("names %v", c.DNSNames)
		}
		// ARI-driven renewal (RFC 9773): lego asks renewalInfo before it
		// renews. Revoking the certificate makes the window "now", so lego
		// renews at once, naming the old certificate in replaces.
		old := leafOf(t, filepath.Join(d, "certificates", "h.test.crt"))
		e.revoke(t, fmt.Sprintf("%x", old.SerialNumber))
		lg(t, d, "--http", "--http.port", ":"+e.http01, "-d", "h.test", "renew", "--no-random-sleep")
		renewed := leafOf(t, filepath.Join(d, "certificates", "h.test.crt"))
		if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
			t.Errorf("lego renew did not renew a revoked certificate")
		}
	})
	// CAA records (served by challtestsrv) that name another CA refuse the
	// name with a caa problem; one that names the gateway lets it issue.
	t.Run("CAA", func(t *testing.T) {
		addCAA := func(host, tag, value string) {
			t.Helper()
			b, _ := json.Marshal(map[string]any{"host": host, "policies": []map[string]string{{"tag": tag, "value": value}}})
			resp, err := http.Post("http://"+e.management+"/add-caa", "application/json", bytes.NewReader(b))
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("challtestsrv add-caa %s: %v %v", host, err, resp)
			}
			resp.Body.Close()
		}
		addCAA("caa-other.test", "issue", "letsencrypt.org")
		addCAA("caa-ours.test", "issue", "pki.gateway.test")
		d := t.TempDir()
		lg(t, d, "--http", "--http.port", ":"+e.http01, "-d", "www.caa-ours.test", "run")
		leafOf(t, filepath.Join(d, "certificates", "www.caa-ours.test.crt"))
		cmd := exec.Command(lego, "--server", e.dir, "--email", "ops@example.org", "--accept-tos", "--path", d,
			"--http", "--http.port", ":"+e.http01, "-d", "www.caa-other.test", "run")
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "caa") || !strings.Contains(string(out), "letsencrypt.org") {
			t.Errorf("lego for a name whose CAA names another CA: %v\n%s", err, out)
		}
	})
	t.Run("tls-alpn-01", func(t *testing.T) {
		d := t.TempDir()
		lg(t, d, "--tls", "--tls.port", ":"+e.tlsalpn01, "-d", "t.test", "run")
		leafOf(t, filepath.Join(d, "certificates", "t.test.crt"))
	})
	t.Run("dns-01", func(t *testing.T) {
		d := t.TempDir()
		script := filepath.Join(d, "settxt.sh")
		os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in
  present) curl -s -X POST -d "{\"host\":\"$2\",\"value\":\"$3\"}" http://`+e.management+`/set-txt ;;
  cleanup) curl -s -X POST -d "{\"host\":\"$2\"}" http://`+e.management+`/clear-txt ;;
esac
`), 0o755)
		cmdEnv := append(env, "EXEC_PATH="+script, "EXEC_POLLING_INTERVAL=1", "EXEC_PROPAGATION_TIMEOUT=30")
		base := []string{"--server", e.dir, "--email", "ops@example.org", "--accept-tos", "--path", d,
			"--dns", "exec", "--dns.resolvers", e.dnsAddr, "--dns.propagation-disable-ans", "-d", "*.w.test", "run"}
		runTool(t, cmdEnv, lego, base...)
		c := leafOf(t, filepath.Join(d, "certificates", "_.w.test.crt"))
		if c.DNSNames[0] != "*.w.test" {
			t.Errorf("names %v", c.DNSNames)
		}
	})
}

// shortProfile is a quickstart profile of 7-day certificates served over
// ACME.
const shortProfile = `  - name: short
    description: 7-day certificates
    ca: issuing
    methods: [acme]
    names:
      dns: ["*"]
    max_validity: 7d
    default_validity: 7d
`

// offerProfile makes the ACME directory of profile dir in the quickstart
// configuration in gdir offer another profile (acme.profiles).
func offerProfile(t *testing.T, gdir, dir, other string) {
	t.Helper()
	path := filepath.Join(gdir, "var", "gateway.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head := "  - name: " + dir + "\n"
	i := strings.Index(string(b), head)
	if i < 0 {
		t.Fatalf("%s has no profile %s", path, dir)
	}
	i += len(head)
	y := string(b[:i]) + "    acme: {profiles: [" + other + "]}\n" + string(b[i:])
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

// revoke revokes a certificate through the REST API.
func (e *acmeEnv) revoke(t *testing.T, serial string) {
	t.Helper()
	if code, body := e.g.API(t, "POST", "/api/v1/certificates/"+serial+"/revoke", map[string]string{"reason": "superseded"}); code != http.StatusOK {
		t.Fatalf("revoke %s through the REST API: %d %s", serial, code, body)
	}
}
