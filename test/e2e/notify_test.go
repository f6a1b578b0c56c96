package e2e

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hookedProfile is a quickstart profile whose certificate events go to a
// webhook.
const hookedProfile = `  - name: hooked
    ca: issuing
    methods: [api]
    names:
      dns: ["*"]
    server_keygen: true
    notify: {url: %q, secret_file: %q}
`

// TestCertificateWebhook: a profile's webhook is told, signed, of a
// certificate issued and renewed through the REST API, revoked with
// gateway cert revoke from the command line, and, once, of one about to
// expire unrenewed (the sweep runs as the gateway starts); a notification
// the webhook refused while it was down is told once it is up again,
// after a restart of the gateway (the store's outbox).
func TestCertificateWebhook(t *testing.T) {
	dir := t.TempDir()
	setupQuickstart(t, dir)
	hook := &hookReceiver{secret: []byte("certificate-hook-secret-0123")}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)
	addProfile(t, dir, fmt.Sprintf(hookedProfile, hookSrv.URL+"/hooks/certs", writeIn(t, dir, "hook-secret", string(hook.secret)+"\n")))
	g := StartQuickstart(t, dir)

	code, body := g.API(t, "POST", "/api/v1/profiles/hooked/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"hooked.internal.test"}})
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	first := jsonField(t, body, "serial")
	hook.told(t, "certificate.issued", first)
	code, body = g.API(t, "POST", "/api/v1/certificates/"+first+"/renew", nil)
	if code != 201 {
		t.Fatalf("renew: %d %s", code, body)
	}
	next := jsonField(t, body, "serial")
	hook.told(t, "certificate.renewed", next)
	if out, errOut, err := gatewayCLI(dir, "cert", "revoke", "-serial", next, "-reason", "keyCompromise"); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("gateway cert revoke: %v\n%s%s", err, out, errOut)
	}
	hook.told(t, "certificate.revoked", next)

	// Two days left, within notify.expiring_within (14d by default): told
	// when the gateway starts again, once.
	code, body = g.API(t, "POST", "/api/v1/profiles/hooked/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"short.internal.test"}, "validity": "2d"})
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	short := jsonField(t, body, "serial")
	hook.told(t, "certificate.issued", short)

	// The webhook goes down; the issuance is not held up, and the
	// notification waits in the store across the restart.
	hook.down.Store(true)
	code, body = g.API(t, "POST", "/api/v1/profiles/hooked/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"down.internal.test"}})
	if code != 201 {
		t.Fatalf("issue while the webhook is down: %d %s", code, body)
	}
	down := jsonField(t, body, "serial")
	g.Stop(t)
	hook.down.Store(false)
	g = StartQuickstart(t, dir)
	hook.told(t, "certificate.expiring", short)
	hook.told(t, "certificate.issued", down)
	g.Stop(t)
	StartQuickstart(t, dir)
	time.Sleep(2 * time.Second) // a second notice, were there one, would be posted within a moment of the start
	// The quickstart's own profile has no webhook: nothing else was told.
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.events) != 6 {
		t.Errorf("the webhook was told %q, want six events, each once", hook.events)
	}
}
