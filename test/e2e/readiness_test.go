package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// /readyz follows the token: it fails on both listeners while the token is
// gone and passes again once the signer has reconnected. The same run logs
// JSON (log.format from the environment).
func TestReadyzFollowsTheToken(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir,
		"GATEWAY_SIGNER_PKCS11_HEALTH_INTERVAL=300ms",
		"GATEWAY_SIGNER_PKCS11_RECONNECT_INTERVAL=300ms",
		"GATEWAY_LOG_FORMAT=json",
	)
	c := g.Client(t)
	ready := func() (bool, bool) {
		s, _, _ := get(c, g.HTTPSURL("localhost")+"/readyz")
		p, _, _ := get(c, "http://"+g.HTTP+"/readyz")
		return s == 200, p == 200
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting until %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	tokens := filepath.Join(dir, "var", "tokens")
	entries, err := os.ReadDir(tokens)
	if err != nil || len(entries) != 1 {
		t.Fatalf("var/tokens: %v, %d entries", err, len(entries))
	}
	tok := filepath.Join(tokens, entries[0].Name())
	// Out of the token directory: SoftHSM would find it anywhere inside.
	away := filepath.Join(dir, "token-away")
	if err := os.Rename(tok, away); err != nil {
		t.Fatal(err)
	}
	waitUntil("/readyz fails on both listeners", func() bool { s, p := ready(); return !s && !p })
	code, body, _ := get(c, "http://"+g.HTTP+"/readyz")
	if code != 503 || !strings.Contains(body, "signer: not ready") {
		t.Fatalf("/readyz without the token: %d %q", code, body)
	}
	if code, _, _ := get(c, "http://"+g.HTTP+"/healthz"); code != 200 {
		t.Fatalf("/healthz without the token: %d, want 200 (the process is up)", code)
	}
	if err := os.Rename(away, tok); err != nil {
		t.Fatal(err)
	}
	waitUntil("/readyz passes again", func() bool { s, p := ready(); return s && p })

	g.Stop(t)
	var jsonLines int
	for _, line := range strings.Split(g.log.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		jsonLines++
	}
	if jsonLines < 5 {
		t.Fatalf("only %d JSON log lines from serve", jsonLines)
	}
	if strings.Contains(g.log.String(), readFile(t, filepath.Join(dir, "var", "pin"))) {
		t.Fatal("the PIN appears in the log")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
