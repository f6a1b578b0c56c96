package acme

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// pendingChallenge makes an order for name and returns its first
// authorization's http-01 challenge.
func (f *fixture) pendingChallenge(k testKey, acct, name string) challengeJSON {
	f.t.Helper()
	r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": name}}})
	var o orderBody
	jsonUnmarshal(r.body, &o)
	var az authzJSON
	jsonUnmarshal(f.post(o.Authorizations[0], k, acct, nil).body, &az)
	for _, ch := range az.Challenges {
		if ch.Type == "http-01" {
			return ch
		}
	}
	f.t.Fatalf("no http-01 challenge in %+v", az)
	return challengeJSON{}
}

// TestChallengeHeadStart: a validation slower than the head start answers
// processing and still ends valid, and two concurrent POSTs to its
// challenge start one validation; a quick one is in the POST's answer.
func TestChallengeHeadStart(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		k := newECKey(t)
		tp, err := thumbprint(&jose.JSONWebKey{Key: k.signer.Public()})
		if err != nil {
			t.Fatal(err)
		}
		// The client's http-01 server counts requests and answers each
		// once released.
		var hits atomic.Int32
		release := make(chan struct{})
		mux := http.NewServeMux()
		mux.HandleFunc("/.well-known/acme-challenge/{token}", func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			select {
			case <-release:
				w.Write([]byte(r.PathValue("token") + "." + tp))
			case <-r.Context().Done():
			}
		})
		port := startServer(t, mux)
		dns := startDNS(t)
		f := newFixture(t, st, config.ACMEValidation{Resolver: dns.addr, HTTP01Port: port, AllowPrivateTargets: true}, Settings{ValidationHeadStart: time.Second})
		acct := f.newAccount(k)
		ch := f.pendingChallenge(k, acct, "dup.test")

		var bodies [][]byte
		for range 2 {
			bodies = append(bodies, f.jws(k, map[string]any{"alg": k.alg, "kid": acct, "nonce": f.nonce(), "url": ch.URL}, []byte(`{}`)))
		}
		results := make([]result, len(bodies))
		var wg sync.WaitGroup
		for i, b := range bodies {
			wg.Go(func() { results[i] = f.postRaw(ch.URL, "application/jose+json", b) })
		}
		wg.Wait()
		for _, r := range results {
			var got challengeJSON
			jsonUnmarshal(r.body, &got)
			if r.status != http.StatusOK || got.Status != storage.ACMEProcessing || r.header.Get("Retry-After") == "" {
				t.Errorf("challenge POST: %d %s, Retry-After %q; want 200 processing, set", r.status, r.body, r.header.Get("Retry-After"))
			}
		}

		close(release)
		var got challengeJSON
		for range 100 {
			jsonUnmarshal(f.post(ch.URL, k, acct, nil).body, &got)
			if got.Status != storage.ACMEProcessing {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if got.Status != storage.ACMEValid {
			t.Errorf("challenge after validation: %s %s, want valid", got.Status, got.Error)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("%d validation requests, want 1", n)
		}

		quick := f.pendingChallenge(k, acct, "quick.test")
		r := f.post(quick.URL, k, acct, map[string]any{})
		jsonUnmarshal(r.body, &got)
		if r.status != http.StatusOK || got.Status != storage.ACMEValid || r.header.Get("Retry-After") != "" {
			t.Errorf("quick challenge POST: %d %s, Retry-After %q; want 200 valid, none", r.status, r.body, r.header.Get("Retry-After"))
		}
	})
}
