package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The audit trail reaches a SIEM's HTTP input (audit.forward_url) within
// seconds of the act, signed: here the issuance of a certificate over the
// REST API, with its serial.
func TestAuditForwardToCollector(t *testing.T) {
	dir := t.TempDir()
	secret := "siem-secret-0123"
	var (
		mu     sync.Mutex
		lines  []string
		badSig bool
	)
	siem := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(b)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Gateway-Signature") != "sha256="+hex.EncodeToString(m.Sum(nil)) || r.Header.Get("Content-Type") != "application/x-ndjson" {
			badSig = true
		}
		lines = append(lines, strings.Split(strings.TrimSpace(string(b)), "\n")...)
	}))
	t.Cleanup(siem.Close)
	g := StartQuickstart(t, dir, "GATEWAY_AUDIT_FORWARD_URL="+siem.URL+"/audit", "GATEWAY_AUDIT_FORWARD_EVERY=1s",
		"GATEWAY_AUDIT_FORWARD_SECRET_FILE="+writeIn(t, dir, "siem-secret", secret+"\n"))
	code, body := g.API(t, "POST", "/api/v1/profiles/default/certificates", map[string]any{"key_type": "ecdsa-p256", "dns_names": []string{"siem.test"}})
	if code != 201 {
		t.Fatalf("issue: %d %s", code, body)
	}
	serial := jsonField(t, body, "serial")
	within(t, "the issuance at the collector", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, l := range lines {
			if strings.Contains(l, `"action":"issue"`) && strings.Contains(l, `"serial":"`+serial+`"`) {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	if badSig {
		t.Error("a post came unsigned, or not as newline-delimited JSON")
	}
	if !strings.Contains(lines[0], `"action":"init-ca"`) {
		t.Errorf("the first event forwarded is %s, want the root's creation", lines[0])
	}
}
