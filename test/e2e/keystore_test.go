package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeystoreRotationWhileServing rotates the quickstart's key-encryption
// key (wrapped by SoftHSM, shared through the store) while the gateway
// serves: the held key of a certificate issued before still comes out of
// the running gateway, what it issues next is sealed under the new key,
// and once the earlier key is retired everything still opens.
func TestKeystoreRotationWhileServing(t *testing.T) {
	dir := t.TempDir()
	g := StartQuickstart(t, dir)
	issue := func(name string) (serial, key string) {
		t.Helper()
		code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{name}})
		if code != 201 {
			t.Fatalf("issue %s: %d %s", name, code, body)
		}
		return jsonField(t, body, "serial"), jsonField(t, body, "private_key")
	}
	latestKey := func(serial string) string {
		t.Helper()
		code, body := g.API(t, "GET", "/api/v1/profiles/default/latest", nil)
		if code != 200 || jsonField(t, body, "serial") != serial {
			t.Fatalf("latest: %d %s, want %s", code, body, serial)
		}
		return jsonField(t, body, "private_key")
	}
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, err := gatewayCLI(dir, args...)
		if err != nil {
			t.Fatalf("gateway %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	kek := filepath.Join(dir, "var", "kek")

	before, key := issue("before.internal.test")
	if out := cli("keystore", "rotate"); !strings.Contains(out, "held keys sealed again") {
		t.Fatalf("rotate:\n%s", out)
	}
	lines := strings.Fields(readFile(t, kek))
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "pkcs11-aes-gcm:gateway-kek:") || !strings.HasPrefix(lines[1], "pkcs11-aes-gcm:gateway-kek:") {
		t.Fatalf("var/kek after the rotation: %q", lines)
	}
	// The running gateway has not taken the rotation up: the key, sealed
	// again under the new key, makes it.
	if got := latestKey(before); got != key {
		t.Fatal("the held key changed in the rotation")
	}
	after, afterKey := issue("after.internal.test")
	if out := cli("keystore", "status"); !strings.Contains(out, "\tearlier\t0 held keys") {
		t.Fatalf("status: the gateway sealed under the earlier key after the rotation:\n%s", out)
	}

	if _, errOut, err := gatewayCLI(dir, "keystore", "retire"); err == nil || !strings.Contains(errOut, "retire in") {
		t.Fatalf("retire at once: %v %s", err, errOut)
	}
	old := time.Now().Add(-3 * time.Minute)
	if err := os.Chtimes(kek, old, old); err != nil {
		t.Fatal(err)
	}
	if out := cli("keystore", "retire"); !strings.Contains(out, "1 earlier keys retired") {
		t.Fatalf("retire:\n%s", out)
	}
	if n := len(strings.Fields(readFile(t, kek))); n != 1 {
		t.Fatalf("var/kek holds %d keys after retire", n)
	}
	if got := latestKey(after); got != afterKey {
		t.Fatal("the held key changed in the retirement")
	}
	code, body := g.API(t, "GET", "/api/v1/audit?limit=50", nil)
	if code != 200 || !strings.Contains(string(body), `"action":"keystore-rotate"`) || !strings.Contains(string(body), `"action":"keystore-retire"`) {
		t.Fatalf("audit trail: %d %s", code, body)
	}
}
