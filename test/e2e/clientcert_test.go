package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A service with a client certificate of a profile in api.client_certs
// calls the REST API with curl and its certificate, no token.
func TestRESTAPIWithClientCertificate(t *testing.T) {
	dir := t.TempDir()
	setupQuickstart(t, dir)
	path := filepath.Join(dir, "var", "gateway.yaml")
	y := readFile(t, path) + "\napi:\n  client_certs:\n    - {name: svc, profile: default, scopes: [read]}\n"
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	// Also: two issuances a minute per token, set from the environment.
	g := StartQuickstart(t, dir, "GATEWAY_API_ISSUANCES_PER_MINUTE=2")
	code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"svc.internal.test"}, "common_name": "svc.internal.test"})
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	if code, _ := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"two.internal.test"}}); code != 201 {
		t.Fatalf("second issuance: %d", code)
	}
	if code, h, b := g.APIWith(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"three.internal.test"}}, nil); code != 429 ||
		h.Get("Retry-After") == "" || !strings.Contains(string(b), "rateLimited") {
		t.Fatalf("third issuance within the minute: %d %v %s", code, h, b)
	}
	var issued struct{ Certificate, Chain string }
	json.Unmarshal(body, &issued)
	cert := writeIn(t, dir, "svc.pem", issued.Certificate+issued.Chain)
	key := writeIn(t, dir, "svc.key", jsonField(t, body, "private_key"))
	curl := func(args ...string) (string, error) {
		out, err := exec.Command("curl", append([]string{"-sS", "--cacert", filepath.Join(dir, "var", "root.pem"), "-w", "\n%{http_code}"}, args...)...).CombinedOutput()
		return string(out), err
	}
	out, err := curl("--cert", cert, "--key", key, g.HTTPSURL("localhost")+"/api/v1/certificates?san=svc")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "200") || !strings.Contains(out, "svc.internal.test") {
		t.Fatalf("curl with the client certificate: %v\n%s", err, out)
	}
	out, err = curl("--cert", cert, "--key", key, "-X", "POST", "-H", "Content-Type: application/json", "-d", `{"reason":"superseded"}`,
		g.HTTPSURL("localhost")+"/api/v1/certificates/"+jsonField(t, body, "serial")+"/revoke")
	if err != nil || !strings.HasSuffix(strings.TrimSpace(out), "403") || !strings.Contains(out, "cert:svc:svc.internal.test") {
		t.Errorf("curl revoking with a read-only client certificate: %v\n%s", err, out)
	}
}
