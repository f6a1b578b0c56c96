package acme

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

func TestAccountLifecycle(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{TermsOfService: "https://example.org/tos"})
	k := newECKey(t)
	if r := f.post(f.base+"/new-account", k, "", map[string]any{"onlyReturnExisting": true}); r.prob.Type != probAccountDoesNotExist {
		t.Errorf("onlyReturnExisting for a new key: %d %s", r.status, r.body)
	}
	if r := f.post(f.base+"/new-account", k, "", map[string]any{}); r.prob.Type != probMalformed {
		t.Errorf("without agreeing to the terms: %d %s", r.status, r.body)
	}
	if r := f.post(f.base+"/new-account", k, "", map[string]any{"termsOfServiceAgreed": true, "contact": []string{"tel:+1"}}); r.prob.Type != probUnsupportedContact {
		t.Errorf("tel: contact: %d %s", r.status, r.body)
	}
	if r := f.post(f.base+"/new-account", k, "", map[string]any{"termsOfServiceAgreed": true, "contact": []string{"mailto:a@b.test?subject=x"}}); r.prob.Type != probInvalidContact {
		t.Errorf("mailto with hfields: %d %s", r.status, r.body)
	}
	acct := f.newAccount(k)
	r := f.post(f.base+"/new-account", k, "", map[string]any{"onlyReturnExisting": true})
	if r.status != http.StatusOK || r.header.Get("Location") != acct {
		t.Errorf("onlyReturnExisting for a known key: %d %s", r.status, r.header.Get("Location"))
	}
	r = f.post(acct, k, acct, map[string]any{"contact": []string{"mailto:new@example.org"}})
	var a accountJSON
	json.Unmarshal(r.body, &a)
	if r.status != http.StatusOK || len(a.Contact) != 1 || a.Contact[0] != "mailto:new@example.org" {
		t.Errorf("contact update: %d %s", r.status, r.body)
	}

	// Key rollover: the old key stops working, the new one names the account.
	nk := newECKey(t)
	url := f.base + "/key-change"
	innerHdr := map[string]any{"alg": "ES256", "jwk": nk.jwk(), "url": url}
	inner := f.jws(nk, innerHdr, mustJSON(map[string]any{"account": acct, "oldKey": k.jwk()}))
	// The inner JWS in the compact serialization: RFC 8555 6.2 and 7.3.5
	// want the flattened JSON one.
	var flat map[string]string
	json.Unmarshal(inner, &flat)
	compact := []byte(flat["protected"] + "." + flat["payload"] + "." + flat["signature"])
	r = f.postRaw(url, "application/jose+json", f.jws(k, map[string]any{"alg": "ES256", "kid": acct, "nonce": f.nonce(), "url": url}, compact))
	if r.status != http.StatusBadRequest || r.prob.Type != probMalformed {
		t.Fatalf("keyChange with a compact inner JWS: %d %s", r.status, r.body)
	}
	r = f.postRaw(url, "application/jose+json", f.jws(k, map[string]any{"alg": "ES256", "kid": acct, "nonce": f.nonce(), "url": url}, inner))
	if r.status != http.StatusOK {
		t.Fatalf("keyChange: %d %s", r.status, r.body)
	}
	if r := f.post(acct, k, acct, nil); r.status != http.StatusBadRequest || r.prob.Type != probMalformed {
		t.Errorf("old key after rollover: %d %s", r.status, r.body)
	}
	if r := f.post(acct, nk, acct, nil); r.status != http.StatusOK {
		t.Errorf("new key after rollover: %d %s", r.status, r.body)
	}

	if r := f.post(acct, nk, acct, map[string]any{"status": "deactivated"}); r.status != http.StatusOK {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	if r := f.post(f.base+"/new-order", nk, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "a.test"}}}); r.prob.Type != probUnauthorized {
		t.Errorf("deactivated account orders: %d %s", r.status, r.body)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestExternalAccountBinding(t *testing.T) {
	st := teststore.SQLite(t)
	f := newFixture(t, st, config.ACMEValidation{}, Settings{RequireEAB: map[string]bool{"default": true}})
	k := newECKey(t)
	newAcct := f.base + "/new-account"
	if r := f.post(newAcct, k, "", map[string]any{"termsOfServiceAgreed": true}); r.prob.Type != probExternalAccountReq {
		t.Errorf("without EAB: %d %s", r.status, r.body)
	}
	kid, hmacKey, err := CreateEABKey(t.Context(), st, "default", nil, "test", f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := base64.RawURLEncoding.DecodeString(hmacKey)
	eab := func(k testKey, macKey []byte) json.RawMessage {
		prot := b64(mustJSON(map[string]any{"alg": "HS256", "kid": kid, "url": newAcct}))
		pl := b64(k.jwk())
		m := hmac.New(sha256.New, macKey)
		m.Write([]byte(prot + "." + pl))
		return mustJSON(map[string]string{"protected": prot, "payload": pl, "signature": b64(m.Sum(nil))})
	}
	if r := f.post(newAcct, k, "", map[string]any{"termsOfServiceAgreed": true, "externalAccountBinding": eab(k, []byte("wrong"))}); r.prob.Type != probUnauthorized {
		t.Errorf("wrong MAC key: %d %s", r.status, r.body)
	}
	if r := f.post(newAcct, k, "", map[string]any{"termsOfServiceAgreed": true, "externalAccountBinding": eab(newECKey(t), key)}); r.prob.Type != probMalformed {
		t.Errorf("EAB over another key: %d %s", r.status, r.body)
	}
	if r := f.post(newAcct, k, "", map[string]any{"termsOfServiceAgreed": true, "externalAccountBinding": eab(k, key)}); r.status != http.StatusCreated {
		t.Fatalf("with EAB: %d %s", r.status, r.body)
	}
	k2 := newECKey(t)
	if r := f.post(newAcct, k2, "", map[string]any{"termsOfServiceAgreed": true, "externalAccountBinding": eab(k2, key)}); r.prob.Type != probUnauthorized {
		t.Errorf("EAB key used twice: %d %s", r.status, r.body)
	}
}

// EAB keys go on command lines as they are: no key ID or MAC key starts
// with "-" (certbot would take it for an option), and each MAC key is
// still 32 random bytes.
func TestEABKeysCommandLineSafe(t *testing.T) {
	st := teststore.SQLite(t)
	seen := map[string]bool{}
	for range 500 {
		kid, hmacKey, err := CreateEABKey(t.Context(), st, "default", nil, "test", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(kid, "-") || strings.HasPrefix(hmacKey, "-") {
			t.Fatalf("EAB key %q / %q starts with a dash", kid, hmacKey)
		}
		if mac, err := base64.RawURLEncoding.DecodeString(hmacKey); err != nil || len(mac) != 32 || seen[hmacKey] {
			t.Fatalf("MAC key %q: %d bytes, %v, seen before %v", hmacKey, len(mac), err, seen[hmacKey])
		}
		seen[hmacKey] = true
	}
}

// An account made with an EAB key that names its names orders those
// only (a team's own domain): anything else is rejectedIdentifier before
// an order is stored; a key with a malformed name is not made.
func TestEABNameScope(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{RequireEAB: map[string]bool{"default": true}})
		if _, _, err := CreateEABKey(t.Context(), st, "default", []string{"Team.Example.com"}, "test", f.clock.Now()); !errs.Is(err, errs.Malformed) {
			t.Errorf("CreateEABKey with a capitalised name = %v, want Malformed", err)
		}
		if _, _, err := CreateEABKey(t.Context(), st, "default", []string{"192.0.2.1/24"}, "test", f.clock.Now()); !errs.Is(err, errs.Malformed) {
			t.Errorf("CreateEABKey with host bits = %v, want Malformed", err)
		}
		kid, hmacKey, err := CreateEABKey(t.Context(), st, "default", []string{".team-a.example.com", "192.0.2.0/28"}, "test", f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		mac, _ := base64.RawURLEncoding.DecodeString(hmacKey)
		k := newECKey(t)
		newAcct := f.base + "/new-account"
		prot := b64(mustJSON(map[string]any{"alg": "HS256", "kid": kid, "url": newAcct}))
		pl := b64(k.jwk())
		m := hmac.New(sha256.New, mac)
		m.Write([]byte(prot + "." + pl))
		eab := json.RawMessage(mustJSON(map[string]string{"protected": prot, "payload": pl, "signature": b64(m.Sum(nil))}))
		r := f.post(newAcct, k, "", map[string]any{"termsOfServiceAgreed": true, "externalAccountBinding": eab})
		if r.status != http.StatusCreated {
			t.Fatalf("new-account with the EAB key: %d %s", r.status, r.body)
		}
		acct := r.header.Get("Location")
		order := func(typ, value string) result {
			return f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": typ, "value": value}}})
		}
		for _, ok := range [][2]string{{"dns", "www.team-a.example.com"}, {"dns", "*.team-a.example.com"}, {"ip", "192.0.2.5"}} {
			if r := order(ok[0], ok[1]); r.status != http.StatusCreated {
				t.Errorf("order for %s: %d %s", ok[1], r.status, r.body)
			}
		}
		for _, no := range [][2]string{{"dns", "www.team-b.example.com"}, {"dns", "team-a.example.com"}, {"ip", "192.0.2.99"}} {
			r := order(no[0], no[1])
			if r.prob.Type != probRejectedIdentifier || !strings.Contains(r.prob.Detail, "outside the names this account may order") {
				t.Errorf("order for %s: %d %s", no[1], r.status, r.body)
			}
		}
	})
}

// An account's orders list (section 7.1.2.1) comes a page of 100 at a
// time, newest first, each page linking the next with rel="next" (whose
// query the JWS signs), and leaves invalid orders out; an order made
// while the pages are read does not shift them.
func TestAccountOrdersPages(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), config.ACMEValidation{}, Settings{})
	k := newECKey(t)
	acct := f.newAccount(k)
	var made []string
	for i := range ordersPerPage + 5 {
		r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": fmt.Sprintf("n%d.test", i)}}})
		if r.status != http.StatusCreated {
			t.Fatalf("new-order: %d %s", r.status, r.body)
		}
		made = append(made, r.header.Get("Location"))
		f.clock.Advance(time.Millisecond)
	}
	gone := made[3]
	id := gone[strings.LastIndex(gone, "/")+1:]
	if _, err := f.store.SetACMEOrderStatus(t.Context(), id, storage.ACMEPending, storage.ACMEInvalid, nil, ""); err != nil {
		t.Fatal(err)
	}
	var got []string
	pages := 0
	for next := acct + "/orders"; next != ""; pages++ {
		r := f.post(next, k, acct, nil)
		if r.status != http.StatusOK {
			t.Fatalf("orders %s: %d %s", next, r.status, r.body)
		}
		var body struct{ Orders []string }
		json.Unmarshal(r.body, &body)
		got = append(got, body.Orders...)
		next = ""
		for _, l := range r.header.Values("Link") {
			if u, ok := strings.CutSuffix(l, `>;rel="next"`); ok {
				next = strings.TrimPrefix(u, "<")
			}
		}
		if pages == 0 {
			f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": "late.test"}}})
		}
	}
	var want []string
	for i := len(made) - 1; i >= 0; i-- {
		if made[i] != gone {
			want = append(want, made[i])
		}
	}
	if pages != 2 || !slices.Equal(got, want) {
		t.Errorf("%d pages of %d orders, want 2 pages of the %d valid ones, newest first", pages, len(got), len(want))
	}
	// The cursor is the JWS's: a request signed for another URL is refused.
	if r := f.postRaw(acct+"/orders?cursor=x", "application/jose+json", f.jws(k, map[string]any{"alg": k.alg, "nonce": f.nonce(), "url": acct + "/orders", "kid": acct}, nil)); r.status != http.StatusForbidden || r.prob.Type != probUnauthorized {
		t.Errorf("a cursor the JWS does not sign: %d %s, want 403 unauthorized", r.status, r.body)
	}
}
