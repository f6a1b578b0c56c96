package acme

import (
	"encoding/json"
	"net/http"
	"path"
	"testing"
	"time"

	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// A challenge left processing by a replica that stopped mid-validation is
// failed by the sweeper once the validation timeout (and its grace) has
// passed, with its authorization and order; one still within the timeout
// is left alone.
func TestSweeperFailsInterruptedValidations(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, config.ACMEValidation{}, Settings{ValidationTimeout: 30 * time.Second})
		k := newECKey(t)
		acct := f.newAccount(k)
		newChallenge := func(name string) (orderURL, authzURL string) {
			r := f.post(f.base+"/new-order", k, acct, map[string]any{"identifiers": []map[string]string{{"type": "dns", "value": name}}})
			if r.status != http.StatusCreated {
				t.Fatalf("newOrder: %d %s", r.status, r.body)
			}
			var o orderBody
			json.Unmarshal(r.body, &o)
			var a authzJSON
			json.Unmarshal(f.post(o.Authorizations[0], k, acct, nil).body, &a)
			// The validation starts here and its replica stops: nothing
			// records an outcome.
			if ok, err := st.StartACMEValidation(t.Context(), path.Base(a.Challenges[0].URL), f.clock.Now()); err != nil || !ok {
				t.Fatalf("StartACMEValidation = %v, %v", ok, err)
			}
			return r.header.Get("Location"), o.Authorizations[0]
		}
		staleOrder, staleAuthz := newChallenge("stale.example.com")
		f.clock.Advance(time.Minute)
		_, freshAuthz := newChallenge("fresh.example.com")
		f.clock.Advance(30*time.Second + sweepGrace - time.Minute + time.Second) // the first is past timeout and grace, the second not

		n, err := f.srv.sweep(t.Context())
		if err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v; want 1", n, err)
		}
		var a authzJSON
		json.Unmarshal(f.post(staleAuthz, k, acct, nil).body, &a)
		c := a.Challenges[0]
		var p Problem
		json.Unmarshal(c.Error, &p)
		if a.Status != storage.ACMEInvalid || c.Status != storage.ACMEInvalid || p.Type != probServerInternal {
			t.Errorf("swept authorization %s, challenge %s, error %s; want invalid, invalid, %s", a.Status, c.Status, c.Error, probServerInternal)
		}
		var o orderBody
		json.Unmarshal(f.post(staleOrder, k, acct, nil).body, &o)
		if o.Status != storage.ACMEInvalid {
			t.Errorf("order of the swept challenge: %s, want invalid", o.Status)
		}
		json.Unmarshal(f.post(freshAuthz, k, acct, nil).body, &a)
		if a.Challenges[0].Status != storage.ACMEProcessing {
			t.Errorf("challenge within the timeout: %s, want processing", a.Challenges[0].Status)
		}
		if n, err := f.srv.sweep(t.Context()); err != nil || n != 0 {
			t.Errorf("second sweep = %d, %v; want 0", n, err)
		}
	})
}
