package api_test

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"testing"
	"time"
)

// Revoking a certificate for keyCompromise blocks its key for every
// profile; an operator blocks a key given as a public key, a certificate
// or a CSR (never a private key); the list shows both, and a request for
// a blocked key is a 400 badCSR naming why.
func TestBlockedKeysAPI(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		leaked := newP256(t)
		a := e.issue("web", map[string]any{"csr": csrPEM(t, leaked, "", []string{"a.example.com"}, nil)})
		e.do("POST", "/api/v1/certificates/"+a.Serial+"/revoke", revoker, map[string]string{"reason": "keyCompromise"}).decode(t, http.StatusOK, &certificate{})
		for _, profile := range []string{"web", "device"} {
			e.do("POST", "/api/v1/profiles/"+profile+"/certificates", issuer, map[string]any{"csr": csrPEM(t, leaked, "", []string{"b.example.com"}, nil)}).
				problem(t, http.StatusBadRequest, "badCSR", "blocked", "revoked for keyCompromise")
		}

		e.clock.Advance(time.Minute) // the list is oldest first
		told := newP256(t)
		der, _ := x509.MarshalPKIXPublicKey(told.Public())
		pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		var k struct{ Hash, By, Reason, Serial string }
		e.do("POST", "/api/v1/blocked-keys", revoker, map[string]string{"public_key": pub, "reason": "leaked"}).decode(t, http.StatusCreated, &k)
		if k.By != revoker || k.Reason != "leaked" || len(k.Hash) != 64 || k.Serial != "" {
			t.Errorf("blocked key %+v", k)
		}
		e.do("POST", "/api/v1/blocked-keys", revoker, map[string]string{"public_key": csrPEM(t, told, "", []string{"c.example.com"}, nil), "reason": "again"}).
			decode(t, http.StatusOK, &k)
		e.do("POST", "/api/v1/profiles/web/certificates", issuer, map[string]any{"csr": csrPEM(t, told, "", []string{"c.example.com"}, nil)}).
			problem(t, http.StatusBadRequest, "badCSR", "leaked")

		e.do("POST", "/api/v1/blocked-keys", revoker, map[string]string{"public_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "reason": "x"}).
			problem(t, http.StatusBadRequest, "malformed", "never a private key")
		e.do("POST", "/api/v1/blocked-keys", revoker, map[string]string{"public_key": pub}).problem(t, http.StatusBadRequest, "malformed", "reason")
		e.do("POST", "/api/v1/blocked-keys", reader, map[string]string{"public_key": pub, "reason": "x"}).problem(t, http.StatusForbidden, "forbidden", "revoke scope")

		var list struct {
			BlockedKeys []struct{ Hash, Serial, By, Reason string } `json:"blocked_keys"`
		}
		e.do("GET", "/api/v1/blocked-keys", reader, nil).decode(t, http.StatusOK, &list)
		if len(list.BlockedKeys) != 2 || list.BlockedKeys[0].Serial != a.Serial || list.BlockedKeys[1].Reason != "leaked" {
			t.Errorf("blocked keys %+v", list.BlockedKeys)
		}
	})
}
