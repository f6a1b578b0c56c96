package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
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

// okValidator accepts every challenge.
type okValidator struct{}

func (okValidator) validate(context.Context, string, storage.ACMEIdentifier, string, string) error {
	return nil
}

type orderBody struct {
	Status         string   `json:"status"`
	Authorizations []string `json:"authorizations"`
	Finalize       string   `json:"finalize"`
	Certificate    string   `json:"certificate"`
}

// readyOrder makes an order for names and validates it (okValidator).
func (f *fixture) readyOrder(k testKey, acct string, names ...string) (string, orderBody) {
	f.t.Helper()
	var ids []map[string]string
	for _, n := range names {
		ids = append(ids, map[string]string{"type": "dns", "value": n})
	}
	r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": ids})
	if r.status != http.StatusCreated {
		f.t.Fatalf("newOrder: %d %s", r.status, r.body)
	}
	url := r.header.Get("Location")
	var o orderBody
	json.Unmarshal(r.body, &o)
	for _, az := range o.Authorizations {
		var a authzJSON
		json.Unmarshal(f.post(az, k, acct, nil).body, &a)
		if r := f.post(a.Challenges[0].URL, k, acct, map[string]any{}); r.status != http.StatusOK {
			f.t.Fatalf("challenge: %d %s", r.status, r.body)
		}
	}
	for range 100 {
		json.Unmarshal(f.post(url, k, acct, nil).body, &o)
		if o.Status == storage.ACMEReady {
			return url, o
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.t.Fatalf("order never got ready: %+v", o)
	return "", o
}

func csrB64(t *testing.T, cn string, names ...string) string {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}, DNSNames: names}, k)
	if err != nil {
		t.Fatal(err)
	}
	return b64(der)
}

// TestFinalizeRace finalizes one order from 10 goroutines at once: one
// certificate, one success, the others orderNotReady.
func TestFinalizeRace(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{})
		f.srv.val = okValidator{}
		k := newECKey(t)
		acct := f.newAccount(k)
		_, o := f.readyOrder(k, acct, "race.test")
		csr := csrB64(t, "", "race.test")
		var bodies [][]byte
		for range 10 {
			bodies = append(bodies, f.jws(k, map[string]any{"alg": "ES256", "kid": acct, "nonce": f.nonce(), "url": o.Finalize}, []byte(`{"csr":"`+csr+`"}`)))
		}
		var ok, notReady atomic.Int32
		var wg sync.WaitGroup
		for _, b := range bodies {
			wg.Go(func() {
				r := f.postRaw(o.Finalize, "application/jose+json", b)
				switch {
				case r.status == http.StatusOK:
					ok.Add(1)
				case r.prob.Type == probOrderNotReady:
					notReady.Add(1)
				default:
					t.Errorf("finalize: %d %s", r.status, r.body)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || notReady.Load() != 9 {
			t.Errorf("finalize: %d succeeded, %d orderNotReady; want 1 and 9", ok.Load(), notReady.Load())
		}
		certs, _, err := st.ListCertificates(t.Context(), storage.CertificateFilter{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, c := range certs {
			if c.Method == "acme" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d certificates issued, want 1", n)
		}
	})
}

// TestFinalizeBadCSR: any difference between the CSR's names and the
// order's is badCSR, and the order stays ready.
func TestFinalizeBadCSR(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	f.srv.val = okValidator{}
	k := newECKey(t)
	acct := f.newAccount(k)
	url, o := f.readyOrder(k, acct, "a.test", "b.test")
	for _, c := range []struct {
		name, cn string
		names    []string
	}{
		{"missing name", "", []string{"a.test"}},
		{"extra name", "", []string{"a.test", "b.test", "c.test"}},
		{"other name", "", []string{"a.test", "x.test"}},
		{"CN not in order", "c.test", []string{"a.test", "b.test"}},
		{"upper case", "", []string{"A.test", "b.test"}},
	} {
		r := f.post(o.Finalize, k, acct, map[string]string{"csr": csrB64(t, c.cn, c.names...)})
		if r.status != http.StatusBadRequest || r.prob.Type != probBadCSR {
			t.Errorf("%s: %d %s, want 400 badCSR", c.name, r.status, r.body)
		}
	}
	var got orderBody
	json.Unmarshal(f.post(url, k, acct, nil).body, &got)
	if got.Status != storage.ACMEReady {
		t.Errorf("order is %s after refused finalizations, want ready", got.Status)
	}
	if r := f.post(o.Finalize, k, acct, map[string]string{"csr": csrB64(t, "a.test", "b.test", "a.test")}); r.status != http.StatusOK {
		t.Fatalf("finalize: %d %s", r.status, r.body)
	}
	json.Unmarshal(f.post(url, k, acct, nil).body, &got)
	r := f.post(got.Certificate, k, acct, nil)
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/pem-certificate-chain" {
		t.Errorf("download: %d %s", r.status, r.header.Get("Content-Type"))
	}
}

// TestCrossAccount: one account's order, authorizations, challenges and
// certificate are 404 to another; its account URL is unauthorized.
func TestCrossAccount(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{})
		f.srv.val = okValidator{}
		alice, bob := newECKey(t), newECKey(t)
		aliceAcct, bobAcct := f.newAccount(alice), f.newAccount(bob)
		url, o := f.readyOrder(alice, aliceAcct, "alice.test")
		if r := f.post(o.Finalize, alice, aliceAcct, map[string]string{"csr": csrB64(t, "", "alice.test")}); r.status != http.StatusOK {
			t.Fatalf("finalize: %d %s", r.status, r.body)
		}
		json.Unmarshal(f.post(url, alice, aliceAcct, nil).body, &o)
		var az authzJSON
		json.Unmarshal(f.post(o.Authorizations[0], alice, aliceAcct, nil).body, &az)
		for _, u := range []string{url, o.Authorizations[0], az.Challenges[0].URL, o.Certificate} {
			if r := f.post(u, bob, bobAcct, nil); r.status != http.StatusNotFound {
				t.Errorf("bob reads %s: %d %s, want 404", u, r.status, r.body)
			}
		}
		if r := f.post(o.Finalize, bob, bobAcct, map[string]string{"csr": csrB64(t, "", "alice.test")}); r.status != http.StatusNotFound {
			t.Errorf("bob finalizes alice's order: %d, want 404", r.status)
		}
		if r := f.post(aliceAcct, bob, bobAcct, map[string]string{"status": "deactivated"}); r.status != http.StatusForbidden {
			t.Errorf("bob deactivates alice: %d, want 403", r.status)
		}
		if r := f.post(aliceAcct, alice, aliceAcct, nil); r.status != http.StatusOK || !json.Valid(r.body) {
			t.Errorf("alice's account after bob's attempts: %d", r.status)
		}
		// Bob's order for the same name gets its own authorizations.
		r := f.post(f.base+"/new-order", bob, bobAcct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "alice.test"}}})
		var bo orderBody
		json.Unmarshal(r.body, &bo)
		if bo.Status != storage.ACMEPending || bo.Authorizations[0] == o.Authorizations[0] {
			t.Errorf("bob's order reuses alice's authorization: %+v", bo)
		}
	})
}

// TestNewOrderRefusals covers identifier and field checks of newOrder.
func TestNewOrderRefusals(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	k := newECKey(t)
	acct := f.newAccount(k)
	for _, c := range []struct {
		name    string
		payload map[string]any
		typ     string
	}{
		{"notBefore", map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.test"}}, "notBefore": "2030-01-01T00:00:00Z"}, probMalformed},
		{"notAfter", map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.test"}}, "notAfter": "2030-01-01T00:00:00Z"}, probMalformed},
		{"no identifiers", map[string]any{"identifiers": []map[string]string{}}, probMalformed},
		{"email identifier", map[string]any{"identifiers": []map[string]string{{"type": "email", "value": "a@b.test"}}}, probUnsupportedIdent},
		{"ip outside the profile", map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "10.1.2.3"}}}, probRejectedIdentifier},
		{"bad name", map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a..test"}}}, probRejectedIdentifier},
	} {
		r := f.post(f.base+"/new-order", k, acct, c.payload)
		if r.prob.Type != c.typ {
			t.Errorf("%s: %d %s, want %s", c.name, r.status, r.body, c.typ)
		}
	}
	r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "ip", "value": "127.0.0.1"}, {"type": "dns", "value": "*.w.test"}}})
	if r.status != http.StatusCreated {
		t.Fatalf("ip + wildcard order: %d %s", r.status, r.body)
	}
	var o orderBody
	json.Unmarshal(r.body, &o)
	var ip, wc authzJSON
	json.Unmarshal(f.post(o.Authorizations[0], k, acct, nil).body, &ip)
	json.Unmarshal(f.post(o.Authorizations[1], k, acct, nil).body, &wc)
	if len(wc.Challenges) != 1 || wc.Challenges[0].Type != "dns-01" || !wc.Wildcard || wc.Identifier.Value != "w.test" {
		t.Errorf("wildcard authorization: %+v", wc)
	}
	for _, c := range ip.Challenges {
		if c.Type == "dns-01" {
			t.Errorf("ip authorization offers dns-01")
		}
	}
	// A directory for a profile without acme does not exist.
	resp, err := f.ts.Client().Get(f.ts.URL + "/acme/noacme/directory")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("directory of a profile without acme: %d", resp.StatusCode)
	}
}

// TestAuthzDeactivation: a deactivated authorization makes its order
// invalid (RFC 8555 section 7.5.2).
func TestAuthzDeactivation(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	k := newECKey(t)
	acct := f.newAccount(k)
	r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "d.test"}}})
	url := r.header.Get("Location")
	var o orderBody
	json.Unmarshal(r.body, &o)
	if r := f.post(o.Authorizations[0], k, acct, map[string]string{"status": "valid"}); r.prob.Type != probMalformed {
		t.Errorf("authz status valid: %d %s", r.status, r.body)
	}
	r = f.post(o.Authorizations[0], k, acct, map[string]string{"status": "deactivated"})
	var az authzJSON
	json.Unmarshal(r.body, &az)
	if r.status != http.StatusOK || az.Status != storage.ACMEDeactivated {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	json.Unmarshal(f.post(url, k, acct, nil).body, &o)
	if o.Status != storage.ACMEInvalid {
		t.Errorf("order after its authorization was deactivated: %s", o.Status)
	}
}

// With acme.orders_per_account_per_hour, an account's orders beyond the
// limit within an hour are refused with rateLimited, 429 and Retry-After
// (RFC 8555 section 6.6), store nothing, and do not touch another
// account; an hour later the account orders again.
func TestNewOrderRateLimit(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{OrdersPerAccountPerHour: 2})
		k, other := newECKey(t), newECKey(t)
		acct, otherAcct := f.newAccount(k), f.newAccount(other)
		order := func(k testKey, acct string) result {
			return f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.test"}}})
		}
		for i := range 2 {
			if r := order(k, acct); r.status != http.StatusCreated {
				t.Fatalf("order %d: %d %s", i, r.status, r.body)
			}
			f.clock.Advance(10 * time.Minute)
		}
		r := order(k, acct)
		if r.status != http.StatusTooManyRequests || r.prob.Type != probRateLimited || r.header.Get("Retry-After") == "" {
			t.Fatalf("third order within the hour: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
		}
		if r := order(other, otherAcct); r.status != http.StatusCreated {
			t.Fatalf("another account: %d %s", r.status, r.body)
		}
		f.clock.Advance(41 * time.Minute) // the first order is more than an hour old
		if r := order(k, acct); r.status != http.StatusCreated {
			t.Fatalf("after the hour: %d %s", r.status, r.body)
		}
		id := acct[strings.LastIndex(acct, "/")+1:]
		if n, err := st.CountACMEOrders(t.Context(), id, time.Time{}); err != nil || n != 3 {
			t.Errorf("orders stored for the account: %d, %v; want 3 (the refused one is not)", n, err)
		}
	})
}

// With acme.duplicate_certificates_per_week, a new order for a set of
// names that got that many certificates in 7 days is refused with
// rateLimited, 429 and a Retry-After until the oldest leaves the window,
// whichever account asks and in whatever order it lists them; another
// set, and a renewal naming the certificate it replaces, go ahead.
func TestDuplicateCertificateLimit(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{DuplicateCertificatesPerWeek: 2})
		f.srv.val = okValidator{}
		k1, k2 := newECKey(t), newECKey(t)
		acct1, acct2 := f.newAccount(k1), f.newAccount(k2)
		newOrder := func(k testKey, acct string, names []string, replaces string) (orderBody, result) {
			t.Helper()
			var ids []map[string]string
			for _, n := range names {
				ids = append(ids, map[string]string{"type": "dns", "value": n})
			}
			payload := map[string]any{"identifiers": ids}
			if replaces != "" {
				payload["replaces"] = replaces
			}
			r := f.post(f.base+"/new-order", k, acct, payload)
			var o orderBody
			json.Unmarshal(r.body, &o)
			return o, r
		}
		issue := func(k testKey, acct string, names ...string) {
			t.Helper()
			o, r := newOrder(k, acct, names, "")
			if r.status != http.StatusCreated {
				t.Fatalf("order %v: %d %s", names, r.status, r.body)
			}
			for _, az := range o.Authorizations {
				var a authzJSON
				json.Unmarshal(f.post(az, k, acct, nil).body, &a)
				if r := f.post(a.Challenges[0].URL, k, acct, map[string]any{}); r.status != http.StatusOK {
					t.Fatalf("challenge: %d %s", r.status, r.body)
				}
			}
			if r := f.post(o.Finalize, k, acct, map[string]any{"csr": csrB64(t, "", names...)}); r.status != http.StatusOK {
				t.Fatalf("finalize %v: %d %s", names, r.status, r.body)
			}
		}
		issue(k1, acct1, "a.test", "b.test")
		f.clock.Advance(24 * time.Hour)
		issue(k2, acct2, "b.test", "a.test") // another account, the names the other way round
		f.clock.Advance(24 * time.Hour)
		_, r := newOrder(k1, acct1, []string{"a.test", "b.test"}, "")
		if r.status != http.StatusTooManyRequests || r.prob.Type != probRateLimited || !strings.Contains(r.prob.Detail, "duplicate_certificates_per_week") {
			t.Fatalf("a third certificate for the same names: %d %s", r.status, r.body)
		}
		if got, want := r.header.Get("Retry-After"), fmt.Sprint(int((5 * 24 * time.Hour).Seconds())); got != want {
			t.Errorf("Retry-After %q, want %s (when the first certificate leaves the 7 days)", got, want)
		}
		issue(k1, acct1, "a.test") // another set
		old, certID := f.issueTo(acct1, "a.test")
		if _, r := newOrder(k1, acct1, []string{"a.test", "b.test"}, certID); r.status != http.StatusCreated {
			t.Fatalf("a renewal naming %s: %d %s", old.Serial, r.status, r.body)
		}
		f.clock.Advance(5*24*time.Hour + time.Second) // the first one left the window
		issue(k1, acct1, "a.test", "b.test")
	})
}
