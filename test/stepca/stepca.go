// Package stepca builds step-ca (github.com/smallstep/certificates) from
// the Go module proxy and runs it with one ACME provisioner: the peer of
// the ACME benchmark, and an external ACME CA for the upstream tests.
//
// step-ca is built in a throwaway module, not in test/tools: v0.30.2 needs
// github.com/google/go-tpm v0.9, whose tpm2 package no longer has the API
// that estclient (github.com/globalsign/est, in test/tools) compiles
// against, so the two cannot share one module.
package stepca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Version is the step-ca that is built.
const Version = "v0.30.2"

// Build builds step-ca into dir/step-ca (a module of its own in dir/mod)
// and returns the binary's path. dir may hold an earlier build: the module
// is reused, and the Go build cache makes the build quick.
func Build(dir string) (string, error) {
	mod := filepath.Join(dir, "mod")
	if err := os.MkdirAll(mod, 0o700); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "step-ca")
	steps := [][]string{
		{"get", "github.com/smallstep/certificates/cmd/step-ca@" + Version},
		{"build", "-o", bin, "github.com/smallstep/certificates/cmd/step-ca"},
	}
	if _, err := os.Stat(filepath.Join(mod, "go.mod")); err != nil {
		steps = append([][]string{{"mod", "init", "gateway-test/stepca"}}, steps...)
	}
	for _, args := range steps {
		// The module proxy alone (a "direct" fallback to a VCS host that
		// is not reachable can hang for minutes), and a bound on the
		// whole step, so that a stuck download fails and says so.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = mod
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY="+proxyOnly())
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return "", fmt.Errorf("building step-ca %s (go %s): %v\n%s", Version, strings.Join(args, " "), err, out)
		}
	}
	return bin, nil
}

// proxyOnly is GOPROXY without its "direct" and "off" entries (the
// proxy.golang.org default if nothing is left).
func proxyOnly() string {
	out, _ := exec.Command("go", "env", "GOPROXY").Output()
	var keep []string
	for _, p := range strings.FieldsFunc(strings.TrimSpace(string(out)), func(r rune) bool { return r == ',' || r == '|' }) {
		if p != "direct" && p != "off" {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		return "https://proxy.golang.org"
	}
	return strings.Join(keep, ",")
}

// Options configures a step-ca.
type Options struct {
	Bin string // from Build
	Dir string // its state: keys, ca.json, database, log
	// Challenges the ACME provisioner offers: http-01 (validated on port
	// 80), dns-01, tls-alpn-01.
	Challenges []string
	// Resolver, if set, is the DNS server (host:port) step-ca asks for
	// every name (its --resolver).
	Resolver string
	// SignKey, if set, is the public key of a JWK provisioner named
	// SignProvisioner: POST /1.0/sign issues for a one-time token it
	// signed.
	SignKey *jose.JSONWebKey
}

// SignProvisioner names the JWK provisioner of Options.SignKey.
const SignProvisioner = "sign"

// CA is a running step-ca.
type CA struct {
	URL       string // https://127.0.0.1:PORT
	Directory string // the ACME directory URL
	RootPEM   string // its root certificate, which its TLS certificate chains to
	Log       string // the path of its output
	cmd       *exec.Cmd
	logFile   *os.File
}

// Stop ends the process.
func (c *CA) Stop() {
	c.cmd.Process.Kill()
	c.cmd.Wait()
	c.logFile.Close()
}

// Start writes step-ca's configuration (a root and an intermediate made
// here, ECDSA P-256, keys as PEM files; one ACME provisioner named acme;
// a badger database), starts it on a free port of 127.0.0.1, and waits
// until its directory answers.
func Start(o Options) (*CA, error) {
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rootTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test step-ca Root"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		MaxPathLen: 1, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	root, _ := x509.ParseCertificate(rootDER)
	intKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	intTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test step-ca Intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		MaxPathLen: 0, MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	intDER, err := x509.CreateCertificate(rand.Reader, intTmpl, root, &intKey.PublicKey, rootKey)
	if err != nil {
		return nil, err
	}
	var werr error
	writePEM := func(name, typ string, der []byte) string {
		p := filepath.Join(o.Dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			werr = err
		}
		return p
	}
	rootKeyDER, _ := x509.MarshalECPrivateKey(rootKey)
	intKeyDER, _ := x509.MarshalECPrivateKey(intKey)
	rootCrt := writePEM("root_ca.crt", "CERTIFICATE", rootDER)
	writePEM("root_ca_key", "EC PRIVATE KEY", rootKeyDER)
	intCrt := writePEM("intermediate_ca.crt", "CERTIFICATE", intDER)
	intKeyFile := writePEM("intermediate_ca_key", "EC PRIVATE KEY", intKeyDER)
	if werr != nil {
		return nil, werr
	}
	pwFile := filepath.Join(o.Dir, "password")
	if err := os.WriteFile(pwFile, []byte("unused: the intermediate key is not encrypted\n"), 0o600); err != nil {
		return nil, err
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	provisioners := []any{map[string]any{"type": "ACME", "name": "acme", "challenges": o.Challenges}}
	if o.SignKey != nil {
		provisioners = append(provisioners, map[string]any{"type": "JWK", "name": SignProvisioner, "key": o.SignKey})
	}
	conf := map[string]any{
		"root":     rootCrt,
		"crt":      intCrt,
		"key":      intKeyFile,
		"address":  addr,
		"dnsNames": []string{"127.0.0.1", "localhost"},
		"logger":   map[string]any{"format": "text"},
		"db":       map[string]any{"type": "badgerv2", "dataSource": filepath.Join(o.Dir, "db")},
		"authority": map[string]any{
			"provisioners": provisioners,
		},
		"tls": map[string]any{
			"cipherSuites":  []string{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"},
			"minVersion":    1.2,
			"maxVersion":    1.3,
			"renegotiation": false,
		},
	}
	cj, _ := json.MarshalIndent(conf, "", "  ")
	confFile := filepath.Join(o.Dir, "ca.json")
	if err := os.WriteFile(confFile, cj, 0o600); err != nil {
		return nil, err
	}
	c := &CA{URL: "https://" + addr, Directory: "https://" + addr + "/acme/acme/directory", RootPEM: rootCrt, Log: filepath.Join(o.Dir, "step-ca.log")}
	if c.logFile, err = os.Create(c.Log); err != nil {
		return nil, err
	}
	args := []string{"--password-file", pwFile}
	if o.Resolver != "" {
		args = append(args, "--resolver", o.Resolver)
	}
	c.cmd = exec.Command(o.Bin, append(args, confFile)...)
	c.cmd.Env = append(os.Environ(), "STEPPATH="+o.Dir, "HOME="+o.Dir)
	c.cmd.Stdout, c.cmd.Stderr = c.logFile, c.logFile
	if err := c.cmd.Start(); err != nil {
		c.logFile.Close()
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := hc.Get(c.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		if time.Now().After(deadline) {
			c.Stop()
			out, _ := os.ReadFile(c.Log)
			return nil, fmt.Errorf("step-ca did not come up on %s: %v\n%s", addr, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
