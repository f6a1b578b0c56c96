package acme

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/test/teststore"
)

// FuzzSignedPayloads: whatever payload an account signs, properly, for
// newOrder, its account URL, revokeCert or keyChange, the server answers
// with success or a 4xx problem document, never a 5xx.
func FuzzSignedPayloads(f *testing.F) {
	fx := newFixture(f, teststore.SQLite(f), config.ACMEValidation{}, Settings{})
	key := newECKey(f)
	kid := fx.newAccount(key)
	urls := []string{fx.base + "/new-order", kid, fx.base + "/revoke-cert", fx.base + "/key-change"}
	seed := func(which uint8, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(which, b)
	}
	seed(0, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.example.com"}}})
	seed(0, map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "192.0.2.1"}}, "notAfter": "2030-01-01T00:00:00Z"})
	seed(0, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "*.example.com"}}, "replaces": "AAAA.AAAA"})
	seed(1, map[string]any{"contact": []string{"mailto:b@example.org"}})
	seed(1, map[string]any{"status": "valid", "contact": "x"})
	seed(2, map[string]any{"certificate": b64([]byte{0x30, 0x03, 0x02, 0x01, 0x01}), "reason": 1})
	seed(3, map[string]any{"protected": "e30", "payload": "", "signature": ""})
	f.Add(uint8(0), []byte(`{`))
	f.Add(uint8(1), []byte(``))
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		fx.t = t // the fixture's helpers report to this input's test
		url := urls[int(which)%len(urls)]
		hdr := map[string]any{"alg": key.alg, "nonce": fx.nonce(), "url": url, "kid": kid}
		r := fx.postRaw(url, "application/jose+json", fx.jws(key, hdr, payload))
		switch {
		case r.status < 300:
		case r.status >= 400 && r.status < 500:
			if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%s: status %d with Content-Type %q: %s", url, r.status, ct, r.body)
			}
		default:
			t.Fatalf("%s: status %d for payload %q: %s", url, r.status, payload, r.body)
		}
		if url == kid && r.status == http.StatusOK && strings.Contains(string(r.body), `"deactivated"`) {
			// The input deactivated the account: go on with a new one,
			// or every later input would stop at a 401.
			key = newECKey(t)
			kid = fx.newAccount(key)
			urls[1] = kid
		}
	})
}
