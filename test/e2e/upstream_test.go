package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/test/stepca"
)

// Profiles backed by an external ACME CA: pebble (Let's Encrypt's test
// CA, pinned in test/tools) and step-ca (built from the module proxy,
// test/stepca) stand in for it. They resolve names with
// pebble-challtestsrv (every A record is 127.0.0.1); pebble fetches
// http-01 tokens from the gateway's HTTP listener, as Let's Encrypt would
// on port 80; dns-01 records go to challtestsrv through an exec script.

var (
	pebbleBin = toolBin("pebble", "github.com/letsencrypt/pebble/v2/cmd/pebble")
	// One directory across runs, so the binary is not left behind once
	// per run.
	stepcaBin = sync.OnceValues(func() (string, error) {
		return stepca.Build(filepath.Join(os.TempDir(), "gateway-e2e-stepca-"+stepca.Version))
	})
)

type pebbleEnv struct {
	addr, mgmt string // host:port of the ACME and management listeners
	certPEM    string // its TLS certificate (self-signed), the gateway's roots_file
	client     *http.Client
}

// writePebbleTLS makes pebble's self-signed TLS certificate for 127.0.0.1.
func writePebbleTLS(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	certPath, keyPath = filepath.Join(dir, "pebble-cert.pem"), filepath.Join(dir, "pebble-key.pem")
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}), 0o600)
	return certPath, keyPath
}

// startPebble runs pebble validating http-01 on httpPort and resolving
// with dnsAddr; it refuses blocked.example.org. With eab (key ID → base64url
// MAC key), new accounts need an External Account Binding.
func startPebble(t *testing.T, dir, addr, mgmt, certPath, keyPath, httpPort, dnsAddr string, eab map[string]string) *pebbleEnv {
	t.Helper()
	bin, err := pebbleBin()
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress": addr, "managementListenAddress": mgmt,
		"certificate": certPath, "privateKey": keyPath,
		"httpPort": mustAtoi(t, httpPort), "tlsPort": 1,
		"externalAccountBindingRequired": len(eab) > 0, "externalAccountMACKeys": eab,
		"domainBlocklist": []string{"blocked.example.org"},
		"retryAfter":      map[string]int{"authz": 1, "order": 1},
	}}
	b, _ := json.Marshal(cfg)
	cfgPath := filepath.Join(dir, "pebble-"+portOf(t, addr)+".json")
	os.WriteFile(cfgPath, b, 0o644)
	cmd := exec.Command(bin, "-config", cfgPath, "-dnsserver", dnsAddr)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	startProcess(t, "pebble", cmd)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(readFile(t, certPath)))
	p := &pebbleEnv{addr: addr, mgmt: mgmt, certPEM: certPath,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}}
	for i := 0; ; i++ {
		resp, err := p.client.Get("https://" + addr + "/dir")
		if err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatalf("pebble does not answer: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p
}

func mustAtoi(t *testing.T, s string) int {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mgmtGet reads pebble's management interface.
func (p *pebbleEnv) mgmtGet(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := p.client.Get("https://" + p.mgmt + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestUpstreamACMECAs(t *testing.T) {
	e := newACMEEnv(t) // challtestsrv, and the ports the gateway's own ACME validates on
	dir := t.TempDir()
	// step-ca validates http-01 on port 80 only, so it gets dns-01.
	stepBin, err := stepcaBin()
	if err != nil {
		t.Fatal(err)
	}
	step, err := stepca.Start(stepca.Options{Bin: stepBin, Dir: filepath.Join(dir, "step-ca"), Challenges: []string{"dns-01"}, Resolver: e.dnsAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		step.Stop()
		if t.Failed() {
			t.Logf("step-ca output:\n%s", readFile(t, step.Log))
		}
	})
	setupQuickstart(t, dir)
	certPath, keyPath := writePebbleTLS(t, dir)
	pebbleAddr, pebbleMgmt := freePort(t), freePort(t)
	// A second pebble that requires External Account Binding, as ZeroSSL
	// and Google do.
	eabAddr, eabMAC := freePort(t), "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	macFile := filepath.Join(dir, "eab-hmac")
	os.WriteFile(macFile, []byte(eabMAC+"\n"), 0o600)
	script := filepath.Join(dir, "settxt.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
case "$1" in
  present) curl -s -X POST -d "{\"host\":\"$2\",\"value\":\"$3\"}" http://`+e.management+`/set-txt ;;
  cleanup) curl -s -X POST -d "{\"host\":\"$2\"}" http://`+e.management+`/clear-txt ;;
esac
`), 0o755)
	addProfile(t, dir, `  - name: public
    upstream: pebble
    methods: [api, acme, est]
    names: {dns: ["*"]}
    server_keygen: true
  - name: public-dns
    upstream: pebble-dns
    methods: [api]
    names: {dns: [".example.org"], wildcards: true}
  - name: bound
    upstream: pebble-eab
    methods: [api]
    names: {dns: [".example.org"]}
  - name: internal
    upstream: stepca
    methods: [api, est]
    names: {dns: [".corp.example"]}
    server_keygen: true
`)
	cfgPath := filepath.Join(dir, "var", "gateway.yaml")
	y := readFile(t, cfgPath) + fmt.Sprintf(`
upstreams:
  - name: pebble
    directory_url: https://%[1]s/dir
    email: ops@example.org
    agree_tos: true
    roots_file: %[2]s
    timeout: 30s
  - name: pebble-dns
    directory_url: https://%[1]s/dir
    agree_tos: true
    roots_file: %[2]s
    challenge: dns-01
    timeout: 30s
    dns: &challtestsrv
      provider: exec
      program: %[3]s
      resolvers: [%[4]s]
      skip_authoritative_check: true
      propagation_timeout: 30s
  - name: pebble-eab
    directory_url: https://%[7]s/dir
    agree_tos: true
    roots_file: %[2]s
    timeout: 30s
    eab: {kid: gateway-kid, hmac_file: %[8]s}
  - name: stepca
    directory_url: %[5]s
    agree_tos: true
    roots_file: %[6]s
    challenge: dns-01
    timeout: 30s
    dns: *challtestsrv
`, pebbleAddr, certPath, script, e.dnsAddr, step.Directory, step.RootPEM, eabAddr, macFile)
	os.WriteFile(cfgPath, []byte(y), 0o600)
	const estPass = "device-password-0123456789"
	cmd := exec.Command(gatewayBin, "est", "user", "add", "-profile", "public", "-user", "device", "-password-stdin", "-config", cfgPath)
	cmd.Dir, cmd.Stdin = dir, strings.NewReader(estPass+"\n")
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+filepath.Join(dir, "var", "softhsm2.conf"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gateway est user add: %v\n%s", err, out)
	}

	e.g = e.start(t, dir)
	g := e.g
	p := startPebble(t, dir, pebbleAddr, pebbleMgmt, certPath, keyPath, portOf(t, g.HTTP), e.dnsAddr, nil)
	startPebble(t, dir, eabAddr, freePort(t), certPath, keyPath, portOf(t, g.HTTP), e.dnsAddr, map[string]string{"gateway-kid": eabMAC})
	_, pebbleRoot := p.mgmtGet(t, "/roots/0")
	rootPath := filepath.Join(dir, "pebble-root.pem")
	os.WriteFile(rootPath, []byte(pebbleRoot), 0o644)

	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		return g.API(t, method, path, body)
	}
	w := func(name, s string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	csrFor := func(name string) string {
		key := filepath.Join(dir, name+".key")
		openssl(t, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
		return openssl(t, "req", "-new", "-key", key, "-subj", "/CN="+name, "-addext", "subjectAltName=DNS:"+name)
	}
	inventorySize := func() int {
		code, body := call("GET", "/api/v1/certificates?limit=500", nil)
		if code != 200 {
			t.Fatalf("inventory: %d %s", code, body)
		}
		return strings.Count(string(body), `"serial"`)
	}
	var issued struct{ Serial, Certificate, Chain string }

	// gateway check asks each external CA for its directory, through
	// its roots_file.
	t.Run("GatewayCheck", func(t *testing.T) {
		out, errOut, err := gatewayCLI(dir, "check")
		if err != nil {
			t.Fatalf("gateway check: %v\n%s%s", err, out, errOut)
		}
		for _, name := range []string{"pebble", "pebble-dns", "pebble-eab", "stepca"} {
			if !strings.Contains(out, "ok    upstream "+name+" ") {
				t.Errorf("gateway check says\n%s\nwant upstream %s ok", out, name)
			}
		}
	})
	t.Run("RESTAPIWithCSR", func(t *testing.T) {
		code, body := call("POST", "/api/v1/profiles/public/certificates", map[string]string{"csr": csrFor("www.example.org")})
		if code != 201 {
			t.Fatalf("issue: %d %s", code, body)
		}
		json.Unmarshal(body, &issued)
		cert, chain := w("up-leaf.pem", issued.Certificate), w("up-chain.pem", issued.Chain)
		// Issued by pebble, not by the gateway's CA: it chains to pebble's root.
		openssl(t, "verify", "-CAfile", rootPath, "-untrusted", chain, cert)
		if _, err := openssl2("verify", "-CAfile", filepath.Join(dir, "var", "root.pem"), "-untrusted", chain, cert); err == nil {
			t.Error("a certificate from the external CA verifies under the gateway's root")
		}
		code, body = call("GET", "/api/v1/certificates/"+issued.Serial, nil)
		if code != 200 || !strings.Contains(string(body), `"ca":"pebble"`) || !strings.Contains(string(body), `"status":"active"`) {
			t.Fatalf("inventory record: %d %s", code, body)
		}
		code, body = call("GET", "/api/v1/certificates/"+issued.Serial+"/pem", nil)
		if code != 200 || strings.Count(string(body), "BEGIN CERTIFICATE") < 2 {
			t.Fatalf("PEM with chain: %d %s", code, body)
		}
		openssl(t, "verify", "-CAfile", rootPath, "-untrusted", w("up-pem.pem", string(body)), cert)
	})

	// Prefer: respond-async: 202 with the request while pebble validates;
	// the same POST repeated answers the certificate once it is issued.
	t.Run("RESTAPIAsync", func(t *testing.T) {
		body := map[string]string{"csr": csrFor("async.example.org")}
		code, h, out := g.APIWith(t, "POST", "/api/v1/profiles/public/certificates", body, http.Header{"Prefer": {"respond-async"}})
		if code != 202 || h.Get("Preference-Applied") != "respond-async" || !strings.HasPrefix(h.Get("Location"), "/api/v1/requests/") || h.Get("Retry-After") == "" {
			t.Fatalf("issue with respond-async: %d %v %s", code, h, out)
		}
		location := h.Get("Location")
		deadline := time.Now().Add(45 * time.Second)
		for code != 200 {
			if code != 202 || time.Now().After(deadline) {
				t.Fatalf("repeated: %d %s", code, out)
			}
			time.Sleep(time.Second)
			code, _, out = g.APIWith(t, "POST", "/api/v1/profiles/public/certificates", body, http.Header{"Prefer": {"respond-async"}})
		}
		var got struct{ Serial, Certificate, Chain string }
		json.Unmarshal(out, &got)
		openssl(t, "verify", "-CAfile", rootPath, "-untrusted", w("async-chain.pem", got.Chain), w("async.pem", got.Certificate))
		code, out = call("GET", location, nil)
		if code != 200 || !strings.Contains(string(out), `"status":"issued"`) || !strings.Contains(string(out), got.Serial) {
			t.Fatalf("GET %s: %d %s", location, code, out)
		}
	})

	// A key the gateway generates, asynchronously: 202 with the request,
	// read until it is issued, then the key and the certificate as
	// PKCS#12.
	t.Run("RESTAPIAsyncGeneratedKey", func(t *testing.T) {
		code, h, out := g.APIWith(t, "POST", "/api/v1/profiles/public/certificates",
			map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"async-kg.example.org"}}, http.Header{"Prefer": {"respond-async"}})
		if code != 202 || h.Get("Preference-Applied") != "respond-async" {
			t.Fatalf("issue with a generated key and respond-async: %d %v %s", code, h, out)
		}
		var req struct{ Status, Serial, CSR string }
		for deadline := time.Now().Add(45 * time.Second); req.Status != "issued"; time.Sleep(time.Second) {
			code, out = call("GET", h.Get("Location"), nil)
			json.Unmarshal(out, &req)
			if code != 200 || req.Status != "approved" && req.Status != "issued" || time.Now().After(deadline) {
				t.Fatalf("GET %s: %d %s", h.Get("Location"), code, out)
			}
		}
		code, out = call("POST", "/api/v1/certificates/"+req.Serial+"/pkcs12", map[string]string{"password": "pipeline-secret"})
		if code != 200 {
			t.Fatalf("PKCS#12 of %s: %d %s", req.Serial, code, out)
		}
		p12 := filepath.Join(dir, "async-kg.p12")
		os.WriteFile(p12, out, 0o600)
		bundle := w("async-kg-bundle.pem", openssl(t, "pkcs12", "-in", p12, "-passin", "pass:pipeline-secret", "-nodes"))
		keyPub := openssl(t, "pkey", "-in", bundle, "-pubout")
		if certPub := openssl(t, "x509", "-in", bundle, "-noout", "-pubkey"); keyPub != certPub {
			t.Fatal("the PKCS#12's key does not match its certificate")
		}
		if csrPub := openssl(t, "req", "-in", w("async-kg.csr", req.CSR), "-noout", "-pubkey"); csrPub != keyPub {
			t.Error("the request's CSR is not for the generated key")
		}
	})

	// The same with an Idempotency-Key: the pipeline repeats its POST
	// until it gets the certificate, and gets the one key the gateway
	// made, not a key of a second request.
	t.Run("RESTAPIAsyncGeneratedKeyIdempotent", func(t *testing.T) {
		body := map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"async-kg2.example.org"}}
		hdr := http.Header{"Prefer": {"respond-async"}, "Idempotency-Key": {"deploy-42"}}
		code, h, out := g.APIWith(t, "POST", "/api/v1/profiles/public/certificates", body, hdr)
		if code != 202 {
			t.Fatalf("first POST: %d %s", code, out)
		}
		request := h.Get("Location")
		var got struct {
			Serial      string `json:"serial"`
			Certificate string `json:"certificate"`
			PrivateKey  string `json:"private_key"`
		}
		for deadline := time.Now().Add(45 * time.Second); code != 200; time.Sleep(time.Second) {
			code, h, out = g.APIWith(t, "POST", "/api/v1/profiles/public/certificates", body, hdr)
			if code == 202 && h.Get("Location") != request || code != 202 && code != 200 || time.Now().After(deadline) {
				t.Fatalf("repeated POST: %d %v %s, want 202 for %s, then 200", code, h, out, request)
			}
		}
		json.Unmarshal(out, &got)
		if h.Get("Idempotent-Replayed") != "true" || got.PrivateKey == "" {
			t.Fatalf("the certificate's answer: %v %s", h, out)
		}
		keyPub := openssl(t, "pkey", "-in", w("async-kg2.key", got.PrivateKey), "-pubout")
		if certPub := openssl(t, "x509", "-in", w("async-kg2.pem", got.Certificate), "-noout", "-pubkey"); keyPub != certPub {
			t.Fatal("the replayed key does not match the certificate")
		}
		var list struct{ Certificates []struct{ Serial string } }
		_, out = call("GET", "/api/v1/certificates?san=async-kg2.example.org", nil)
		json.Unmarshal(out, &list)
		if len(list.Certificates) != 1 || list.Certificates[0].Serial != got.Serial {
			t.Errorf("inventory for async-kg2.example.org: %s, want the one certificate %s", out, got.Serial)
		}
	})

	t.Run("RESTAPIGeneratedKey", func(t *testing.T) {
		code, body := call("POST", "/api/v1/profiles/public/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"keygen.example.org"}})
		if code != 201 {
			t.Fatalf("issue: %d %s", code, body)
		}
		var out struct{ Certificate, Chain string }
		json.Unmarshal(body, &out)
		keyPub := openssl(t, "pkey", "-in", w("kg.key", jsonField(t, body, "private_key")), "-pubout")
		cert := w("kg.pem", out.Certificate)
		if certPub := openssl(t, "x509", "-in", cert, "-noout", "-pubkey"); keyPub != certPub {
			t.Fatal("the returned key does not match the certificate")
		}
		openssl(t, "verify", "-CAfile", rootPath, "-untrusted", w("kg-chain.pem", out.Chain), cert)
		code, body = call("GET", "/api/v1/profiles/public/latest", nil)
		if code != 200 || !strings.Contains(string(body), "PRIVATE KEY") {
			t.Fatalf("latest bundle: %d %s", code, body)
		}
	})

	t.Run("RefusedByTheExternalCA", func(t *testing.T) {
		before := inventorySize()
		code, body := call("POST", "/api/v1/profiles/public/certificates", map[string]string{"csr": csrFor("blocked.example.org")})
		if code < 400 || code >= 500 || !strings.Contains(string(body), "upstream pebble") {
			t.Fatalf("a name the external CA refuses: %d %s", code, body)
		}
		if n := inventorySize(); n != before {
			t.Errorf("inventory grew from %d to %d", before, n)
		}
	})

	t.Run("DNS01", func(t *testing.T) {
		code, body := call("POST", "/api/v1/profiles/public-dns/certificates", map[string]string{"csr": csrFor("*.dns.example.org")})
		if code != 201 {
			t.Fatalf("issue: %d %s", code, body)
		}
		var out struct{ Certificate, Chain string }
		json.Unmarshal(body, &out)
		openssl(t, "verify", "-CAfile", rootPath, "-untrusted", w("dns-chain.pem", out.Chain), w("dns.pem", out.Certificate))
		// The profile's own rules come first: the external CA is not asked.
		code, body = call("POST", "/api/v1/profiles/public-dns/certificates", map[string]string{"csr": csrFor("www.example.net")})
		if code != 400 && code != 403 || !strings.Contains(string(body), "rule") {
			t.Fatalf("a name outside the profile: %d %s", code, body)
		}
	})

	t.Run("ExternalAccountBinding", func(t *testing.T) {
		code, body := call("POST", "/api/v1/profiles/bound/certificates", map[string]string{"csr": csrFor("eab.example.org")})
		if code != 201 {
			t.Fatalf("issue from a CA that requires EAB: %d %s", code, body)
		}
	})

	t.Run("StepCA", func(t *testing.T) {
		code, body := call("POST", "/api/v1/profiles/internal/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"db.corp.example"}})
		if code != 201 {
			t.Fatalf("issue: %d %s", code, body)
		}
		var out struct{ Serial, Certificate, Chain string }
		json.Unmarshal(body, &out)
		openssl(t, "verify", "-CAfile", step.RootPEM, "-untrusted", w("step-chain.pem", out.Chain), w("step.pem", out.Certificate))
		// EST's cacerts: step-ca's intermediate as its ACME chain sent it,
		// and its root from roots_file (RFC 7030 4.1.3 wants the root).
		resp, err := g.Client(t).Get(g.HTTPSURL("localhost") + "/.well-known/est/internal/cacerts")
		if err != nil {
			t.Fatal(err)
		}
		b64, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("cacerts: %d %s", resp.StatusCode, b64)
		}
		p7 := w("step-cacerts.b64", string(b64))
		openssl(t, "base64", "-d", "-in", p7, "-out", p7+".der")
		certs := openssl(t, "pkcs7", "-inform", "DER", "-in", p7+".der", "-print_certs")
		rootSubject := strings.TrimSpace(openssl(t, "x509", "-in", step.RootPEM, "-noout", "-subject"))
		if strings.Count(certs, "BEGIN CERTIFICATE") != 2 || !strings.Contains(certs, strings.TrimPrefix(rootSubject, "subject=")) {
			t.Errorf("cacerts of a profile backed by step-ca, want its intermediate and root (%s):\n%s", rootSubject, certs)
		}
		code, body = call("POST", "/api/v1/certificates/"+out.Serial+"/revoke", map[string]string{"reason": "superseded"})
		if code != 200 {
			t.Fatalf("revoke at step-ca: %d %s", code, body)
		}
	})

	t.Run("ACMEFrontDoorWithLego", func(t *testing.T) {
		lego, err := legoBin()
		if err != nil {
			t.Fatal(err)
		}
		d := t.TempDir()
		runTool(t, []string{"LEGO_CA_CERTIFICATES=" + e.rootPEM()}, lego, "--server", e.directory(t, g, "public"),
			"--email", "ops@example.org", "--accept-tos", "--path", d, "--http", "--http.port", ":"+e.http01, "-d", "acme.example.org", "run")
		crt := filepath.Join(d, "certificates", "acme.example.org.crt") // lego writes the chain after the leaf
		openssl(t, "verify", "-CAfile", rootPath, "-untrusted", crt, crt)
	})

	// EST in front of pebble, with the globalsign estclient: cacerts is
	// pebble's chain, as the gateway last received it; an enrollment and
	// a re-enrollment (TLS client authentication with pebble's
	// certificate, which the gateway finds in its inventory) get pebble's
	// certificates. An enrollment answered 202 (pebble slower than
	// est.upstream_wait) is repeated, as a device would.
	t.Run("ESTWithEstclient", func(t *testing.T) {
		bin, err := estclientBin()
		if err != nil {
			t.Fatal(err)
		}
		_, port, _ := net.SplitHostPort(g.HTTPS)
		ee := &estEnv{g: g, dir: t.TempDir(), root: filepath.Join(dir, "var", "root.pem"), server: "localhost:" + port, user: "device", pass: estPass}
		common := []string{"-server", ee.server, "-aps", "public", "-explicit", ee.root}
		est := func(cmd string, args ...string) (string, error) {
			return ee.try(bin, append(append([]string{cmd}, common...), args...)...)
		}
		if out, err := est("cacerts", "-out", "cacerts.pem"); err != nil {
			t.Fatalf("estclient cacerts: %v\n%s", err, out)
		}
		ee.run(t, "openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "dev.key")
		repeat := func(cmd string, args ...string) {
			t.Helper()
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(time.Second) {
				out, err := est(cmd, args...)
				if err == nil {
					return
				}
				if !strings.Contains(out, "repeat this request later") || time.Now().After(deadline) {
					t.Fatalf("estclient %s: %v\n%s", cmd, err, out)
				}
			}
		}
		repeat("enroll", "-user", ee.user, "-pass", ee.pass, "-key", "dev.key", "-cn", "est.example.org", "-dnsnames", "est.example.org", "-out", "dev.pem")
		ee.run(t, "openssl", "verify", "-CAfile", rootPath, "-untrusted", "cacerts.pem", "dev.pem")
		first := serialOf(t, ee.path("dev.pem"))
		if c := ee.certificate(t, first); c.Method != "est" || c.Requester != "basic:device" {
			t.Errorf("enrolled certificate: method %q requester %q", c.Method, c.Requester)
		}
		repeat("reenroll", "-key", "dev.key", "-certs", "dev.pem", "-out", "dev2.pem")
		ee.run(t, "openssl", "verify", "-CAfile", rootPath, "-untrusted", "cacerts.pem", "dev2.pem")
		second := serialOf(t, ee.path("dev2.pem"))
		if c := ee.certificate(t, second); second == first || c.Replaces == nil || *c.Replaces != first || c.Requester != "cert:"+first {
			t.Errorf("re-enrolled certificate %s does not replace %s: %+v", second, first, c)
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		code, body := call("POST", "/api/v1/certificates/"+issued.Serial+"/revoke", map[string]string{"reason": "keyCompromise"})
		if code != 200 {
			t.Fatalf("revoke: %d %s", code, body)
		}
		// The external CA revoked it, not only the inventory.
		if code, body := p.mgmtGet(t, "/cert-status-by-serial/"+issued.Serial); code != 200 || !strings.Contains(body, `"Revoked"`) {
			t.Fatalf("pebble's status of %s: %d %s", issued.Serial, code, body)
		}
		code, body = call("POST", "/api/v1/certificates/"+issued.Serial+"/revoke", map[string]string{"reason": "keyCompromise"})
		if code != 409 {
			t.Fatalf("second revoke: %d %s", code, body)
		}
	})

	t.Run("OneAccountPerUpstream", func(t *testing.T) {
		code, body := call("GET", "/api/v1/audit?limit=500", nil)
		if code != 200 {
			t.Fatalf("audit: %d %s", code, body)
		}
		if n := strings.Count(string(body), `"action":"upstream-account"`); n != 4 {
			t.Errorf("%d account registrations audited, want 4 (pebble, pebble-dns, pebble-eab, stepca):\n%s", n, body)
		}
	})
}

// openssl2 runs openssl and returns its error instead of failing.
func openssl2(args ...string) (string, error) {
	out, err := exec.Command("openssl", args...).CombinedOutput()
	return string(out), err
}
