package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Gateway is a gateway process started by the quickstart script in its own
// directory, on free ports.
type Gateway struct {
	Dir       string // the working directory; state is in Dir/var
	HTTPS     string // host:port
	HTTP      string
	cmd       *exec.Cmd
	log       *bytes.Buffer
	exited    chan struct{}
	exitState error
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartQuickstart runs scripts/quickstart.sh in dir (creating state on the
// first run, reusing it after) and waits until both listeners are ready.
func StartQuickstart(t *testing.T, dir string, env ...string) *Gateway {
	t.Helper()
	g := &Gateway{Dir: dir, HTTPS: freePort(t), HTTP: freePort(t), log: &bytes.Buffer{}, exited: make(chan struct{})}
	g.cmd = exec.Command(filepath.Join(repoRoot, "scripts", "quickstart.sh"))
	g.cmd.Dir = dir
	g.cmd.Env = append(os.Environ(),
		"GATEWAY_BIN="+gatewayBin,
		"GATEWAY_LISTEN_HTTPS="+g.HTTPS,
		"GATEWAY_LISTEN_HTTP="+g.HTTP,
		"GATEWAY_LISTEN_PUBLIC_URL=http://"+g.HTTP,
	)
	g.cmd.Env = append(g.cmd.Env, env...)
	g.cmd.Stdout, g.cmd.Stderr = g.log, g.log
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.exitState = g.cmd.Wait(); close(g.exited) }()
	t.Cleanup(func() {
		g.Stop(t)
		if t.Failed() {
			t.Logf("gateway output:\n%s", g.log.String())
		}
	})
	g.WaitReady(t)
	return g
}

// gatewayCLI runs a gateway command on the quickstart state in dir (its
// configuration and token) and returns its standard and error output.
func gatewayCLI(dir string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(gatewayBin, append(args, "-config", filepath.Join("var", "gateway.yaml"))...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(dir, "var", "softhsm2.conf"))
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	return string(out), errOut.String(), err
}

// Client trusts var/root.pem only.
func (g *Gateway) Client(t *testing.T) *http.Client {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(g.Dir, "var", "root.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("var/root.pem holds no certificate")
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
}

// API calls the REST API with the admin token the quickstart wrote,
// sending body (unless nil) as JSON, and returns the status and the body.
// It allows a minute: an issuance by an external CA includes its
// validation.
func (g *Gateway) API(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	code, _, out := g.APIWith(t, method, path, body, nil)
	return code, out
}

// APIWith is API with more request headers, answering the response's
// headers too.
func (g *Gateway) APIWith(t *testing.T, method, path string, body any, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, g.HTTPSURL("localhost")+path, rd)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(readFile(t, filepath.Join(g.Dir, "var", "admin-token"))))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	c := g.Client(t)
	c.Timeout = time.Minute
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, out
}

// HTTPSURL is the HTTPS base URL under the name the certificate carries.
func (g *Gateway) HTTPSURL(host string) string {
	_, port, _ := net.SplitHostPort(g.HTTPS)
	return "https://" + net.JoinHostPort(host, port)
}

// WaitReady polls /readyz on both listeners, HTTPS validated against the
// gateway's root.
func (g *Gateway) WaitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-g.exited:
			t.Fatalf("gateway exited before it was ready: %v", g.exitState)
		default:
		}
		// The quickstart may be writing var/root.pem: wait until it
		// holds the certificate.
		if b, err := os.ReadFile(filepath.Join(g.Dir, "var", "root.pem")); err == nil && x509.NewCertPool().AppendCertsFromPEM(b) {
			c := g.Client(t)
			ok := true
			for _, u := range []string{g.HTTPSURL("localhost") + "/readyz", g.HTTPSURL("127.0.0.1") + "/readyz", "http://" + g.HTTP + "/readyz"} {
				code, body, err := get(c, u)
				if err != nil || code != 200 {
					ok, last = false, fmt.Sprintf("%s: %d %q %v", u, code, body, err)
					break
				}
			}
			if ok {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("gateway not ready after 2 minutes; last: %s", last)
}

// Stop sends SIGTERM and waits for a clean exit.
func (g *Gateway) Stop(t *testing.T) {
	t.Helper()
	select {
	case <-g.exited:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.exited:
		if g.exitState != nil {
			t.Errorf("gateway exited with %v after SIGTERM", g.exitState)
		}
	case <-time.After(30 * time.Second):
		g.cmd.Process.Kill()
		t.Error("gateway did not stop within 30s of SIGTERM")
	}
}

func get(c *http.Client, url string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func readPEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

// pkcs11Objects lists the objects of the quickstart token with pkcs11-tool.
func pkcs11Objects(t *testing.T, dir, module string) string {
	t.Helper()
	pin, err := os.ReadFile(filepath.Join(dir, "var", "pin"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pkcs11-tool", "--module", module, "--token-label", "gateway", "--login",
		"--pin", strings.TrimSpace(string(pin)), "--list-objects", "--type", "privkey")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(dir, "var", "softhsm2.conf"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool: %v\n%s", err, out)
	}
	return string(out)
}
