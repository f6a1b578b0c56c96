package e2e

import (
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// scepclientBin builds micromdm's scepclient once, from the tools module
// that pins it (test/tools/go.mod: github.com/micromdm/scep/v2 v2.3.0).
var scepclientBin = toolBin("scepclient", "github.com/micromdm/scep/v2/cmd/scepclient")

// The micromdm SCEP client against the quickstart's profile default: a
// first enrollment with the challenge password the quickstart wrote, a
// renewal signed with the certificate it got, and a wrong challenge that
// is refused with a CertRep and leaves the inventory as it was.
func TestSCEPWithScepclient(t *testing.T) {
	bin, err := scepclientBin()
	if err != nil {
		t.Fatal(err)
	}
	e := startEST(t) // the quickstart, a client directory, the admin token
	challengeFile := filepath.Join(e.g.Dir, "var", "scep-challenge")
	if m := mode(t, challengeFile); m != 0o600 {
		t.Errorf("var/scep-challenge has mode %o, want 0600", m)
	}
	challenge := strings.TrimSpace(readFile(t, challengeFile))
	url := "http://" + e.g.HTTP + "/scep/default"
	// The gateway's CAs hold ECDSA keys; SCEP envelopes need RSA, so the
	// client picks the RA certificate from GetCACert by its usage.
	scepclient := func(dir string, args ...string) (string, error) {
		if err := os.MkdirAll(filepath.Join(e.dir, dir), 0o700); err != nil {
			t.Fatal(err)
		}
		return e.try(bin, append([]string{"-server-url", url, "-key-encipherment-selector",
			"-private-key", filepath.Join(dir, "dev.key"), "-certificate", filepath.Join(dir, "dev.pem")}, args...)...)
	}
	code, der, err := get(e.g.Client(t), "http://"+e.g.HTTP+"/ca/issuing.crt")
	if err != nil || code != 200 {
		t.Fatalf("/ca/issuing.crt: %d %v", code, err)
	}
	issuing, err := x509.ParseCertificate([]byte(der))
	if err != nil {
		t.Fatal(err)
	}
	verify := func(path string) *x509.Certificate {
		t.Helper()
		leaf := readPEMCert(t, path)
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(readPEMCert(t, e.root))
		inter.AddCert(issuing)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
			t.Fatalf("%s does not chain to the quickstart root: %v", path, err)
		}
		return leaf
	}

	if out, err := scepclient("dev1", "-challenge", challenge, "-cn", "dev1.test", "-dnsname", "dev1.test"); err != nil {
		t.Fatalf("scepclient enroll: %v\n%s", err, out)
	}
	first := verify(e.path("dev1/dev.pem"))
	if first.Subject.CommonName != "dev1.test" || len(first.DNSNames) != 1 || first.DNSNames[0] != "dev1.test" {
		t.Errorf("enrolled certificate names %q %v", first.Subject.CommonName, first.DNSNames)
	}
	firstSerial := serialOf(t, e.path("dev1/dev.pem"))
	if c := e.certificate(t, firstSerial); c.Method != "scep" || c.Requester != "scep challenge" || c.Status != "active" {
		t.Errorf("enrolled certificate in the inventory: %+v", c)
	}

	// With the certificate in place, scepclient sends a RenewalReq signed
	// with it, and writes the new certificate over the old.
	if out, err := scepclient("dev1", "-cn", "dev1.test", "-dnsname", "dev1.test"); err != nil {
		t.Fatalf("scepclient renew: %v\n%s", err, out)
	}
	verify(e.path("dev1/dev.pem"))
	second := serialOf(t, e.path("dev1/dev.pem"))
	if c := e.certificate(t, second); second == firstSerial || c.Replaces == nil || *c.Replaces != firstSerial || c.Requester != "cert:"+firstSerial {
		t.Errorf("renewed certificate %s does not replace %s: %+v", second, firstSerial, c)
	}

	before := e.inventorySize(t)
	out, err := scepclient("dev2", "-challenge", "wrong-"+challenge, "-cn", "dev2.test", "-dnsname", "dev2.test")
	if err == nil || !strings.Contains(out, "badRequest") {
		t.Errorf("enroll with a wrong challenge: %v\n%s", err, out)
	}
	// A name the profile does not allow: not a DNS name at all.
	out, err = scepclient("dev3", "-challenge", challenge, "-cn", "dev3.test", "-dnsname", "dev 3")
	if err == nil || !strings.Contains(out, "badRequest") {
		t.Errorf("enroll outside the profile: %v\n%s", err, out)
	}
	if after := e.inventorySize(t); after != before {
		t.Errorf("refused enrollments changed the inventory: %d certificates, %d before", after, before)
	}
	if strings.Contains(e.g.log.String(), challenge) {
		t.Error("the gateway logged the challenge password")
	}

	// A one-time challenge from the CLI enrolls one device, once.
	cmd := exec.Command(gatewayBin, "scep", "challenge", "-profile", "default", "-valid-for", "10m")
	cmd.Dir = e.g.Dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	oneTime, _, _ := strings.Cut(strings.TrimPrefix(string(b), "challenge: "), "\n")
	if err != nil || len(oneTime) != 32 {
		t.Fatalf("gateway scep challenge: %v\n%s%s", err, b, stderr.String())
	}
	if out, err := scepclient("dev4", "-challenge", oneTime, "-cn", "dev4.test", "-dnsname", "dev4.test"); err != nil {
		t.Fatalf("scepclient with a one-time challenge: %v\n%s", err, out)
	}
	if c := e.certificate(t, serialOf(t, e.path("dev4/dev.pem"))); c.Requester != "scep one-time challenge" {
		t.Errorf("enrolled with a one-time challenge: %+v", c)
	}
	if out, err := scepclient("dev5", "-challenge", oneTime, "-cn", "dev5.test", "-dnsname", "dev5.test"); err == nil || !strings.Contains(out, "badRequest") {
		t.Errorf("a one-time challenge used twice: %v\n%s", err, out)
	}
}

// With scep.issuances_per_minute set (here from the environment), a
// second enrollment of one subject within the minute is refused with an
// HTTP 429 before anything is issued.
func TestSCEPRateLimitWithScepclient(t *testing.T) {
	bin, err := scepclientBin()
	if err != nil {
		t.Fatal(err)
	}
	e := startEST(t, "GATEWAY_SCEP_ISSUANCES_PER_MINUTE=1")
	challenge := strings.TrimSpace(readFile(t, filepath.Join(e.g.Dir, "var", "scep-challenge")))
	enroll := func(dir string) (string, error) {
		if err := os.MkdirAll(filepath.Join(e.dir, dir), 0o700); err != nil {
			t.Fatal(err)
		}
		return e.try(bin, "-server-url", "http://"+e.g.HTTP+"/scep/default", "-key-encipherment-selector",
			"-private-key", filepath.Join(dir, "dev.key"), "-certificate", filepath.Join(dir, "dev.pem"),
			"-challenge", challenge, "-cn", "rl.test", "-dnsname", "rl.test")
	}
	if out, err := enroll("first"); err != nil {
		t.Fatalf("scepclient enroll: %v\n%s", err, out)
	}
	before := e.inventorySize(t)
	out, err := enroll("second")
	if err == nil || !strings.Contains(out, "429") {
		t.Errorf("a second enrollment of the subject within the minute: %v\n%s", err, out)
	}
	if after := e.inventorySize(t); after != before {
		t.Errorf("a refused enrollment changed the inventory: %d certificates, %d before", after, before)
	}
	if !strings.Contains(e.g.log.String(), "scep.issuances_per_minute") {
		t.Error("the gateway's log does not say which limit refused the enrollment")
	}
}

// A profile whose challenges an MDM hands out: scepclient enrolls with
// the challenge the MDM's webhook allows, and is refused with another.
func TestSCEPChallengeWebhookWithScepclient(t *testing.T) {
	bin, err := scepclientBin()
	if err != nil {
		t.Fatal(err)
	}
	var asked []string
	var mu sync.Mutex
	mdm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Challenge string   `json:"challenge"`
			DNSNames  []string `json:"dns_names"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		asked = append(asked, req.Challenge)
		mu.Unlock()
		allow := req.Challenge == "handed-to-dev7" && len(req.DNSNames) == 1 && req.DNSNames[0] == "dev7.mdm.test"
		json.NewEncoder(w).Encode(map[string]any{"allow": allow, "reason": "unknown device"})
	}))
	t.Cleanup(mdm.Close)
	dir := t.TempDir()
	setupQuickstart(t, dir)
	addProfile(t, dir, `  - name: mdm
    ca: issuing
    methods: [scep]
    names: {dns: [".mdm.test"]}
    scep: {challenge_url: "`+mdm.URL+`"}
`)
	g := StartQuickstart(t, dir)
	client := filepath.Join(dir, "client")
	os.Mkdir(client, 0o700)
	enroll := func(sub, challenge string) (string, error) {
		os.Mkdir(filepath.Join(client, sub), 0o700)
		cmd := exec.Command(bin, "-server-url", "http://"+g.HTTP+"/scep/mdm", "-key-encipherment-selector",
			"-private-key", filepath.Join(sub, "dev.key"), "-certificate", filepath.Join(sub, "dev.pem"),
			"-challenge", challenge, "-cn", "dev7.mdm.test", "-dnsname", "dev7.mdm.test")
		cmd.Dir = client
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := enroll("ok", "handed-to-dev7"); err != nil {
		t.Fatalf("scepclient with the challenge the MDM allows: %v\n%s", err, out)
	}
	if c := readPEMCert(t, filepath.Join(client, "ok", "dev.pem")); c.Subject.CommonName != "dev7.mdm.test" {
		t.Errorf("enrolled certificate for %s", c.Subject.CommonName)
	}
	if out, err := enroll("refused", "guessed"); err == nil {
		t.Errorf("scepclient with a challenge the MDM refuses enrolled:\n%s", out)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 2 {
		t.Errorf("the MDM was asked %d times (%v), want 2", len(asked), asked)
	}
}
