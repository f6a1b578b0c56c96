package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// TestJWSRejections sends every kind of bad JWS Boulder refuses and checks
// the problem type, the status and the fresh Replay-Nonce.
func TestJWSRejections(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	key := newECKey(t)
	acct := f.newAccount(key)
	deadKey := newECKey(t)
	dead := f.newAccount(deadKey)
	if r := f.post(dead, deadKey, dead, map[string]string{"status": "deactivated"}); r.status != http.StatusOK {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	newOrder := f.base + "/new-order"
	payload := []byte(`{"identifiers":[{"type":"dns","value":"a.test"}]}`)

	used := f.nonce()
	if r := f.postRaw(newOrder, "application/jose+json", f.jws(key, map[string]any{"alg": "ES256", "kid": acct, "nonce": used, "url": newOrder}, payload)); r.status != http.StatusCreated {
		t.Fatalf("a good request failed: %d %s", r.status, r.body)
	}
	expired := f.nonce()

	type tc struct {
		name        string
		body        func() []byte
		contentType string
		url         string
		before      func()
		typ         string
		status      int
	}
	hdr := func(edit func(h map[string]any)) map[string]any {
		h := map[string]any{"alg": "ES256", "kid": acct, "nonce": f.nonce(), "url": newOrder}
		if edit != nil {
			edit(h)
		}
		return h
	}
	signed := func(edit func(h map[string]any)) func() []byte {
		return func() []byte { return f.jws(key, hdr(edit), payload) }
	}
	cases := []tc{
		{name: "alg none", body: signed(func(h map[string]any) { h["alg"] = "none" }), typ: probBadSignatureAlg, status: 400},
		{name: "alg HS256", body: signed(func(h map[string]any) { h["alg"] = "HS256" }), typ: probBadSignatureAlg, status: 400},
		{name: "alg PS256", body: signed(func(h map[string]any) { h["alg"] = "PS256" }), typ: probBadSignatureAlg, status: 400},
		{name: "alg RS256 with an EC key", body: func() []byte {
			h := hdr(func(h map[string]any) { h["alg"] = "RS256" })
			return f.jws(key, h, payload) // signed ES256 but labelled RS256
		}, typ: probBadSignatureAlg, status: 400},
		{name: "alg ES384 with a P-256 key", body: signed(func(h map[string]any) { h["alg"] = "ES384" }), typ: probBadSignatureAlg, status: 400},
		{name: "alg ES256 with a P-384 jwk", body: func() []byte {
			k := testKey{p384, "ES384"}
			h := map[string]any{"alg": "ES256", "jwk": k.jwk(), "nonce": f.nonce(), "url": f.base + "/new-account"}
			return f.jws(k, h, []byte(`{}`))
		}, url: f.base + "/new-account", typ: probBadSignatureAlg, status: 400},
		{name: "unprotected header", body: func() []byte {
			var m map[string]any
			json.Unmarshal(f.jws(key, hdr(nil), payload), &m)
			m["header"] = map[string]any{"kid": acct}
			b, _ := json.Marshal(m)
			return b
		}, typ: probMalformed, status: 400},
		{name: "signatures array", body: func() []byte {
			var m map[string]any
			json.Unmarshal(f.jws(key, hdr(nil), payload), &m)
			b, _ := json.Marshal(map[string]any{"payload": m["payload"], "signatures": []any{map[string]any{"protected": m["protected"], "signature": m["signature"]}}})
			return b
		}, typ: probMalformed, status: 400},
		{name: "jwk and kid", body: signed(func(h map[string]any) { h["jwk"] = key.jwk() }), typ: probMalformed, status: 400},
		{name: "neither jwk nor kid", body: signed(func(h map[string]any) { delete(h, "kid") }), typ: probMalformed, status: 400},
		{name: "jwk where an account is required", body: signed(func(h map[string]any) { delete(h, "kid"); h["jwk"] = key.jwk() }), typ: probMalformed, status: 400},
		{name: "url of another resource", body: signed(func(h map[string]any) { h["url"] = f.base + "/new-account" }), typ: probUnauthorized, status: 403},
		{name: "url missing", body: signed(func(h map[string]any) { delete(h, "url") }), typ: probMalformed, status: 400},
		{name: "nonce missing", body: signed(func(h map[string]any) { delete(h, "nonce") }), typ: probBadNonce, status: 400},
		{name: "nonce unknown", body: signed(func(h map[string]any) { h["nonce"] = "AAAAAAAAAAAAAAAAAAAAAA" }), typ: probBadNonce, status: 400},
		{name: "nonce reused", body: signed(func(h map[string]any) { h["nonce"] = used }), typ: probBadNonce, status: 400},
		{name: "nonce expired", before: func() { f.clock.Advance(11 * time.Minute) }, body: signed(func(h map[string]any) { h["nonce"] = expired }), typ: probBadNonce, status: 400},
		{name: "bad signature", body: func() []byte {
			var m map[string]string
			json.Unmarshal(f.jws(key, hdr(nil), payload), &m)
			m["signature"] = b64(make([]byte, 64))
			b, _ := json.Marshal(m)
			return b
		}, typ: probMalformed, status: 400},
		{name: "signed by another key", body: func() []byte { return f.jws(newECKey(t), hdr(nil), payload) }, typ: probMalformed, status: 400},
		{name: "unknown account", body: signed(func(h map[string]any) { h["kid"] = f.base + "/acct/nobody" }), typ: probAccountDoesNotExist, status: 400},
		{name: "deactivated account", body: func() []byte {
			return f.jws(deadKey, map[string]any{"alg": "ES256", "kid": dead, "nonce": f.nonce(), "url": newOrder}, payload)
		}, typ: probUnauthorized, status: 403},
		{name: "wrong content type", contentType: "application/json", body: signed(nil), typ: probMalformed, status: 415},
		{name: "not JSON", body: func() []byte { return []byte("eyJhbGciOi") }, typ: probMalformed, status: 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.before != nil {
				c.before()
			}
			ct := c.contentType
			if ct == "" {
				ct = "application/jose+json"
			}
			url := newOrder
			if c.url != "" {
				url = c.url
			}
			r := f.postRaw(url, ct, c.body())
			if r.status != c.status || r.prob.Type != c.typ {
				t.Errorf("got %d %s (%s), want %d %s", r.status, r.prob.Type, r.prob.Detail, c.status, c.typ)
			}
			if r.header.Get("Replay-Nonce") == "" {
				t.Errorf("no fresh Replay-Nonce on the error")
			}
			if c.typ == probBadSignatureAlg && !strings.Contains(string(r.body), `"algorithms"`) {
				t.Errorf("badSignatureAlgorithm without the algorithms list: %s", r.body)
			}
		})
	}
}

// TestNonceReplay sends 20 requests with one nonce at once: exactly one
// is accepted, on both stores.
func TestNonceReplay(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{})
		key := newECKey(t)
		acct := f.newAccount(key)
		n := f.nonce()
		var ok, bad atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			body := f.jws(key, map[string]any{"alg": "ES256", "kid": acct, "nonce": n, "url": acct}, nil)
			wg.Go(func() {
				r := f.postRaw(acct, "application/jose+json", body)
				switch {
				case r.status == http.StatusOK:
					ok.Add(1)
				case r.prob.Type == probBadNonce:
					bad.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || bad.Load() != 19 {
			t.Errorf("accepted %d, badNonce %d; want 1 and 19", ok.Load(), bad.Load())
		}
	})
}
