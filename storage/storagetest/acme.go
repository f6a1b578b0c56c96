package storagetest

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RunACME runs the conformance tests of storage.ACMEStore. open must return
// a new, empty store each time it is called, closed when t ends.
func RunACME(t *testing.T, open func(t *testing.T) storage.ACMEStore) {
	account := func(id, thumb string) storage.ACMEAccount {
		return storage.ACMEAccount{ID: id, Profile: "default", Thumbprint: thumb, JWK: []byte(`{"kty":"EC"}`),
			Status: storage.ACMEValid, Contact: []string{"mailto:a@example.org"}, TermsAgreed: true, CreatedAt: base}
	}
	order := func(id, acct string) (storage.ACMEOrder, []storage.ACMEAuthz) {
		o := storage.ACMEOrder{ID: id, AccountID: acct, Profile: "default", Status: storage.ACMEPending,
			Identifiers: []storage.ACMEIdentifier{{Type: "dns", Value: "a.test"}, {Type: "dns", Value: "*.b.test"}},
			Expires:     base.Add(time.Hour), Replaces: "aki.serial", CreatedAt: base}
		var az []storage.ACMEAuthz
		for i, v := range []string{"a.test", "b.test"} {
			a := storage.ACMEAuthz{ID: id + "-az" + string(rune('0'+i)), OrderID: id, AccountID: acct, Position: i,
				Identifier: storage.ACMEIdentifier{Type: "dns", Value: v}, Wildcard: i == 1, Status: storage.ACMEPending, Expires: base.Add(time.Hour)}
			for j, typ := range []string{"http-01", "dns-01"} {
				a.Challenges = append(a.Challenges, storage.ACMEChallenge{ID: a.ID + "-ch" + string(rune('0'+j)), AuthzID: a.ID,
					Type: typ, Token: "tok" + typ, Status: storage.ACMEPending})
			}
			az = append(az, a)
		}
		return o, az
	}

	t.Run("NonceSingleUse", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertACMENonce", s.InsertACMENonce(ctx, "n1", base.Add(time.Minute)))
		must(t, "InsertACMENonce", s.InsertACMENonce(ctx, "old", base.Add(-time.Second)))
		ok, err := s.ConsumeACMENonce(ctx, "n1", base)
		must(t, "ConsumeACMENonce", err)
		if !ok {
			t.Errorf("ConsumeACMENonce(fresh) = false, want true")
		}
		if ok, _ := s.ConsumeACMENonce(ctx, "n1", base); ok {
			t.Errorf("ConsumeACMENonce(used) = true, want false")
		}
		if ok, _ := s.ConsumeACMENonce(ctx, "old", base); ok {
			t.Errorf("ConsumeACMENonce(expired) = true, want false")
		}
		if ok, _ := s.ConsumeACMENonce(ctx, "never", base); ok {
			t.Errorf("ConsumeACMENonce(unknown) = true, want false")
		}
	})

	t.Run("NonceConcurrent", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertACMENonce", s.InsertACMENonce(ctx, "n", base.Add(time.Minute)))
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				if ok, err := s.ConsumeACMENonce(ctx, "n", base); err == nil && ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("%d of 20 concurrent consumers won, want 1", won.Load())
		}
	})

	t.Run("Account", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		a := account("acct1", "thumb1")
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, a))
		want := a
		want.CreatedAt = normTime(a.CreatedAt)
		got, err := s.GetACMEAccount(ctx, "acct1")
		must(t, "GetACMEAccount", err)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetACMEAccount() =\n%+v\nwant\n%+v", got, want)
		}
		got, err = s.ACMEAccountByThumbprint(ctx, "default", "thumb1")
		must(t, "ACMEAccountByThumbprint", err)
		if got.ID != "acct1" {
			t.Errorf("ACMEAccountByThumbprint().ID = %q", got.ID)
		}
		_, err = s.ACMEAccountByThumbprint(ctx, "other", "thumb1")
		wantKind(t, "ACMEAccountByThumbprint(other profile)", err, errs.NotFound)
		wantKind(t, "InsertACMEAccount(same key)", s.InsertACMEAccount(ctx, account("acct2", "thumb1")), errs.Conflict)
		other := account("acct3", "thumb1")
		other.Profile = "other"
		must(t, "InsertACMEAccount(same key, other profile)", s.InsertACMEAccount(ctx, other))

		a.Status, a.Contact, a.Thumbprint, a.JWK = storage.ACMEDeactivated, nil, "thumb9", []byte(`{"kty":"OKP"}`)
		must(t, "UpdateACMEAccount", s.UpdateACMEAccount(ctx, a))
		got, err = s.GetACMEAccount(ctx, "acct1")
		must(t, "GetACMEAccount", err)
		if got.Status != storage.ACMEDeactivated || got.Contact != nil || got.Thumbprint != "thumb9" || string(got.JWK) != `{"kty":"OKP"}` {
			t.Errorf("after update: %+v", got)
		}
		wantKind(t, "UpdateACMEAccount(missing)", s.UpdateACMEAccount(ctx, account("nobody", "x")), errs.NotFound)
		_, err = s.GetACMEAccount(ctx, "nobody")
		wantKind(t, "GetACMEAccount(missing)", err, errs.NotFound)
	})

	t.Run("EABSingleUse", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertACMEEABKey", s.InsertACMEEABKey(ctx, storage.ACMEEABKey{KeyID: "kid1", Profile: "default", HMACKey: []byte("secret"), CreatedAt: base}, Event("acme-eab-create", "")))
		wantKind(t, "InsertACMEEABKey(dup)", s.InsertACMEEABKey(ctx, storage.ACMEEABKey{KeyID: "kid1", Profile: "default", HMACKey: []byte("x"), CreatedAt: base}, Event("acme-eab-create", "")), errs.Conflict)
		a := account("acct1", "t1")
		a.EABKeyID = "kid1"
		must(t, "InsertACMEAccount(with EAB)", s.InsertACMEAccount(ctx, a))
		k, err := s.GetACMEEABKey(ctx, "kid1")
		must(t, "GetACMEEABKey", err)
		if k.AccountID != "acct1" || string(k.HMACKey) != "secret" || k.Profile != "default" {
			t.Errorf("GetACMEEABKey() = %+v", k)
		}
		b := account("acct2", "t2")
		b.EABKeyID = "kid1"
		wantKind(t, "InsertACMEAccount(EAB key reused)", s.InsertACMEAccount(ctx, b), errs.Conflict)
		if _, err := s.GetACMEAccount(ctx, "acct2"); !errs.Is(err, errs.NotFound) {
			t.Errorf("an account refused for its EAB key was stored (err %v)", err)
		}
		c := account("acct3", "t3")
		c.EABKeyID = "nokey"
		wantKind(t, "InsertACMEAccount(unknown EAB key)", s.InsertACMEAccount(ctx, c), errs.NotFound)
		if k.Names != nil {
			t.Errorf("names of a key made without any: %v", k.Names)
		}
		// A key that restricts its account's names keeps them.
		names := []string{".team-a.example.com", "10.1.0.0/16"}
		must(t, "InsertACMEEABKey(names)", s.InsertACMEEABKey(ctx, storage.ACMEEABKey{KeyID: "kid2", Profile: "default", HMACKey: []byte("s"), CreatedAt: base, Names: names}, Event("acme-eab-create", "")))
		if k, err := s.GetACMEEABKey(ctx, "kid2"); err != nil || !reflect.DeepEqual(k.Names, names) {
			t.Errorf("GetACMEEABKey(kid2) = %+v, %v; want names %v", k, err, names)
		}
	})

	t.Run("OrderRoundTrip", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, account("acct1", "t1")))
		o, az := order("o1", "acct1")
		must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, az))
		got, err := s.GetACMEOrder(ctx, "o1")
		must(t, "GetACMEOrder", err)
		want := o
		want.Expires, want.CreatedAt = normTime(o.Expires), normTime(o.CreatedAt)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetACMEOrder() =\n%+v\nwant\n%+v", got, want)
		}
		gotAz, err := s.ACMEOrderAuthzs(ctx, "o1")
		must(t, "ACMEOrderAuthzs", err)
		for i := range az {
			az[i].Expires = normTime(az[i].Expires)
		}
		if !reflect.DeepEqual(gotAz, az) {
			t.Errorf("ACMEOrderAuthzs() =\n%+v\nwant\n%+v", gotAz, az)
		}
		one, err := s.GetACMEAuthz(ctx, az[1].ID)
		must(t, "GetACMEAuthz", err)
		if !reflect.DeepEqual(one, az[1]) {
			t.Errorf("GetACMEAuthz() = %+v, want %+v", one, az[1])
		}
		ch, err := s.GetACMEChallenge(ctx, az[0].Challenges[1].ID)
		must(t, "GetACMEChallenge", err)
		if !reflect.DeepEqual(ch, az[0].Challenges[1]) {
			t.Errorf("GetACMEChallenge() = %+v, want %+v", ch, az[0].Challenges[1])
		}
		o2, az2 := order("o2", "acct1")
		o2.CreatedAt = base.Add(time.Second)
		must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o2, az2))
		ids, err := s.ListACMEOrders(ctx, "acct1", "", base, 10)
		must(t, "ListACMEOrders", err)
		if !reflect.DeepEqual(ids, []string{"o2", "o1"}) {
			t.Errorf("ListACMEOrders() = %v, want [o2 o1]", ids)
		}
		// Pages go on after the last order of the previous one; invalid
		// orders, stored so or pending past their expiry, are left out.
		for i, id := range []string{"o3", "o4", "o5", "o6"} {
			o, az := order(id, "acct1")
			o.CreatedAt = base.Add(time.Duration(2+i) * time.Second)
			if id == "o5" {
				o.Expires = base.Add(-time.Second)
			}
			must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, az))
		}
		if _, err := s.SetACMEOrderStatus(ctx, "o3", storage.ACMEPending, storage.ACMEInvalid, nil, ""); err != nil {
			t.Fatal(err)
		}
		var pages [][]string
		for after := ""; ; {
			ids, err := s.ListACMEOrders(ctx, "acct1", after, base, 2)
			must(t, "ListACMEOrders(page)", err)
			if len(ids) == 0 {
				break
			}
			pages, after = append(pages, ids), ids[len(ids)-1]
		}
		if want := [][]string{{"o6", "o4"}, {"o2", "o1"}}; !reflect.DeepEqual(pages, want) {
			t.Errorf("ListACMEOrders() pages %v, want %v", pages, want)
		}
		if ids, err := s.ListACMEOrders(ctx, "acct2", "o2", base, 2); err != nil || len(ids) != 0 {
			t.Errorf("ListACMEOrders(another account's order) = %v, %v; want none", ids, err)
		}
		for _, f := range []func() error{
			func() error { _, err := s.GetACMEOrder(ctx, "x"); return err },
			func() error { _, err := s.GetACMEAuthz(ctx, "x"); return err },
			func() error { _, err := s.GetACMEChallenge(ctx, "x"); return err },
			func() error { _, err := s.SetACMEOrderStatus(ctx, "x", "pending", "ready", nil, ""); return err },
		} {
			wantKind(t, "lookup of a missing object", f(), errs.NotFound)
		}
	})

	t.Run("CountIssued", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, account("acct1", "t1")))
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, account("acct2", "t2")))
		names := []storage.ACMEIdentifier{{Type: "dns", Value: "a.test"}, {Type: "ip", Value: "10.0.0.1"}}
		add := func(id, acct string, at time.Time, ids []storage.ACMEIdentifier, profile, status string) {
			t.Helper()
			o, az := order(id, acct)
			o.Identifiers, o.CreatedAt, o.Profile = ids, at, profile
			must(t, "InsertACMEOrder("+id+")", s.InsertACMEOrder(ctx, o, az))
			if status != storage.ACMEPending {
				if ok, err := s.SetACMEOrderStatus(ctx, id, storage.ACMEPending, status, nil, "0"+id[1:]); err != nil || !ok {
					t.Fatalf("SetACMEOrderStatus(%s, %s) = %v, %v", id, status, ok, err)
				}
			}
		}
		reversed := []storage.ACMEIdentifier{names[1], names[0]}
		add("o1", "acct1", base, names, "default", storage.ACMEValid)
		add("o2", "acct2", base.Add(time.Hour), reversed, "default", storage.ACMEValid)    // another account, the names in another order
		add("o3", "acct1", base.Add(2*time.Hour), names, "default", storage.ACMEPending)   // not issued
		add("o4", "acct1", base.Add(2*time.Hour), names, "default", storage.ACMEInvalid)   // failed
		add("o5", "acct1", base.Add(2*time.Hour), names[:1], "default", storage.ACMEValid) // a subset
		add("o6", "acct1", base.Add(2*time.Hour), names, "other", storage.ACMEValid)       // another profile
		add("o7", "acct1", base.Add(-time.Hour), names, "default", storage.ACMEValid)      // before the window
		for _, tt := range []struct {
			name   string
			ids    []storage.ACMEIdentifier
			since  time.Time
			n      int
			oldest time.Time
		}{
			{"the set, in either order", reversed, base, 2, base},
			{"a later window", names, base.Add(time.Minute), 1, base.Add(time.Hour)},
			{"a subset is its own set", names[:1], base, 1, base.Add(2 * time.Hour)},
			{"nothing issued", []storage.ACMEIdentifier{{Type: "dns", Value: "none.test"}}, base, 0, time.Time{}},
		} {
			n, oldest, err := s.CountIssuedACMEOrders(ctx, "default", tt.ids, tt.since)
			must(t, "CountIssuedACMEOrders", err)
			if n != tt.n || !oldest.Equal(normTime(tt.oldest)) {
				t.Errorf("CountIssuedACMEOrders(%s) = %d, %v; want %d, %v", tt.name, n, oldest, tt.n, tt.oldest)
			}
		}
	})

	t.Run("CountFailedValidations", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, account("acct1", "t1")))
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, account("acct2", "t2")))
		// fail fails the first challenge of each authorization of a new
		// order of acct at at (its authorizations: a.test and *.b.test).
		n := 0
		fail := func(acct string, at time.Time) {
			t.Helper()
			n++
			o, az := order(fmt.Sprintf("f%d", n), acct)
			must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, az))
			for _, a := range az {
				if _, err := s.RecordACMEValidation(ctx, a.Challenges[0].ID, a.ID, o.ID, false, at, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
		}
		fail("acct1", base)
		fail("acct1", base.Add(30*time.Minute))
		fail("acct1", base.Add(-2*time.Hour)) // before the window
		fail("acct2", base)                   // another account
		o, az := order("ok", "acct1")         // a validation that succeeded
		must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, az))
		if _, err := s.RecordACMEValidation(ctx, az[0].Challenges[0].ID, az[0].ID, o.ID, true, base, nil); err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct {
			id     storage.ACMEIdentifier
			n      int
			oldest time.Time
		}{
			{storage.ACMEIdentifier{Type: "dns", Value: "a.test"}, 2, base},
			{storage.ACMEIdentifier{Type: "dns", Value: "b.test"}, 2, base}, // the wildcard's base name
			{storage.ACMEIdentifier{Type: "dns", Value: "c.test"}, 0, time.Time{}},
		} {
			n, oldest, err := s.CountFailedACMEValidations(ctx, "acct1", tt.id, base.Add(-time.Hour))
			must(t, "CountFailedACMEValidations", err)
			if n != tt.n || !oldest.Equal(normTime(tt.oldest)) {
				t.Errorf("CountFailedACMEValidations(%s) = %d, %v; want %d, %v", tt.id.Value, n, oldest, tt.n, tt.oldest)
			}
		}
	})

	t.Run("CompareAndSet", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, account("acct1", "t1")))
		o, az := order("o1", "acct1")
		must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, az))
		if ok, err := s.SetACMEOrderStatus(ctx, "o1", storage.ACMEReady, storage.ACMEProcessing, nil, ""); err != nil || ok {
			t.Errorf("SetACMEOrderStatus(wrong from) = %v, %v; want false, nil", ok, err)
		}
		ok, err := s.SetACMEOrderStatus(ctx, "o1", storage.ACMEPending, storage.ACMEReady, nil, "")
		if err != nil || !ok {
			t.Fatalf("SetACMEOrderStatus(pending→ready) = %v, %v", ok, err)
		}
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if ok, err := s.SetACMEOrderStatus(ctx, "o1", storage.ACMEReady, storage.ACMEProcessing, nil, ""); err == nil && ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("%d of 10 concurrent ready→processing won, want 1", won.Load())
		}
		must(t, "SetACMEOrderStatus(valid)", func() error {
			_, err := s.SetACMEOrderStatus(ctx, "o1", storage.ACMEProcessing, storage.ACMEValid, nil, "0abc")
			return err
		}())
		got, _ := s.GetACMEOrder(ctx, "o1")
		if got.Status != storage.ACMEValid || got.CertSerial != "0abc" || got.Error != nil {
			t.Errorf("order after valid: %+v", got)
		}

		ok, err = s.SetACMEAuthzStatus(ctx, az[0].ID, storage.ACMEPending, storage.ACMEValid)
		if err != nil || !ok {
			t.Errorf("SetACMEAuthzStatus = %v, %v", ok, err)
		}
		ch := az[0].Challenges[0]
		ok, err = s.SetACMEChallengeStatus(ctx, ch.ID, storage.ACMEPending, storage.ACMEProcessing, time.Time{}, nil)
		if err != nil || !ok {
			t.Errorf("SetACMEChallengeStatus(processing) = %v, %v", ok, err)
		}
		prob := []byte(`{"type":"urn:ietf:params:acme:error:connection"}`)
		ok, err = s.SetACMEChallengeStatus(ctx, ch.ID, storage.ACMEProcessing, storage.ACMEInvalid, base, prob)
		if err != nil || !ok {
			t.Errorf("SetACMEChallengeStatus(invalid) = %v, %v", ok, err)
		}
		gc, _ := s.GetACMEChallenge(ctx, ch.ID)
		if gc.Status != storage.ACMEInvalid || string(gc.Error) != string(prob) || !gc.Validated.Equal(normTime(base)) {
			t.Errorf("challenge after invalid: %+v", gc)
		}
		checkUTC(t, "ACMEChallenge.Validated", gc.Validated)
	})

	// pending puts an order with n authorizations in the store.
	pending := func(t *testing.T, s storage.ACMEStore, n int) (storage.ACMEOrder, []storage.ACMEAuthz) {
		t.Helper()
		ctx := t.Context()
		must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, account("acct1", "t1")))
		o, az := order("o1", "acct1")
		o.Identifiers, az = o.Identifiers[:n], az[:n]
		must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, az))
		return o, az
	}
	// processing puts an order with n authorizations in the store and
	// moves each one's first challenge to processing.
	processing := func(t *testing.T, s storage.ACMEStore, n int) (storage.ACMEOrder, []storage.ACMEAuthz) {
		t.Helper()
		o, az := pending(t, s, n)
		for _, a := range az {
			if ok, err := s.SetACMEChallengeStatus(t.Context(), a.Challenges[0].ID, storage.ACMEPending, storage.ACMEProcessing, time.Time{}, nil); err != nil || !ok {
				t.Fatalf("SetACMEChallengeStatus(processing) = %v, %v", ok, err)
			}
		}
		return o, az
	}
	statuses := func(t *testing.T, s storage.ACMEStore, o storage.ACMEOrder, az []storage.ACMEAuthz) (order string, authzs, challenges []string) {
		t.Helper()
		ctx := t.Context()
		got, err := s.GetACMEOrder(ctx, o.ID)
		must(t, "GetACMEOrder", err)
		for _, a := range az {
			ga, err := s.GetACMEAuthz(ctx, a.ID)
			must(t, "GetACMEAuthz", err)
			authzs = append(authzs, ga.Status)
			challenges = append(challenges, ga.Challenges[0].Status)
		}
		return got.Status, authzs, challenges
	}
	wantStatuses := func(t *testing.T, s storage.ACMEStore, o storage.ACMEOrder, az []storage.ACMEAuthz, order string, authzs, challenges []string) {
		t.Helper()
		gotO, gotA, gotC := statuses(t, s, o, az)
		if gotO != order || !reflect.DeepEqual(gotA, authzs) || !reflect.DeepEqual(gotC, challenges) {
			t.Errorf("order %s, authzs %v, challenges %v; want %s, %v, %v", gotO, gotA, gotC, order, authzs, challenges)
		}
	}
	record := func(t *testing.T, s storage.ACMEStore, a storage.ACMEAuthz, valid bool, prob []byte) bool {
		t.Helper()
		ready, err := s.RecordACMEValidation(t.Context(), a.Challenges[0].ID, a.ID, a.OrderID, valid, base, prob)
		must(t, "RecordACMEValidation", err)
		return ready
	}
	V, P, I, X := storage.ACMEValid, storage.ACMEPending, storage.ACMEInvalid, storage.ACMEProcessing
	R := storage.ACMEReady

	// An outcome is recorded on a challenge still pending (the common
	// case: the validation finished within the head start) as on one
	// marked processing.
	for _, start := range []struct {
		status string
		put    func(*testing.T, storage.ACMEStore, int) (storage.ACMEOrder, []storage.ACMEAuthz)
	}{{X, processing}, {P, pending}} {
		t.Run("RecordValidationOneAuthz/"+start.status, func(t *testing.T) {
			s := open(t)
			o, az := start.put(t, s, 1)
			if !record(t, s, az[0], true, nil) {
				t.Errorf("RecordACMEValidation(valid, last authz) = false, want true")
			}
			wantStatuses(t, s, o, az, R, []string{V}, []string{V})
			c, err := s.GetACMEChallenge(t.Context(), az[0].Challenges[0].ID)
			must(t, "GetACMEChallenge", err)
			if !c.Validated.Equal(normTime(base)) || c.Error != nil {
				t.Errorf("challenge after valid: %+v", c)
			}
			checkUTC(t, "ACMEChallenge.Validated", c.Validated)
			// A second call on the finished challenge changes nothing.
			if record(t, s, az[0], true, nil) {
				t.Errorf("RecordACMEValidation(again) = true, want false")
			}
			if record(t, s, az[0], false, []byte(`{"type":"x"}`)) {
				t.Errorf("RecordACMEValidation(again, invalid) = true, want false")
			}
			wantStatuses(t, s, o, az, R, []string{V}, []string{V})
			if c2, _ := s.GetACMEChallenge(t.Context(), az[0].Challenges[0].ID); c2.Error != nil {
				t.Errorf("a second call set the challenge's error: %s", c2.Error)
			}
			_, err = s.RecordACMEValidation(t.Context(), "nochallenge", az[0].ID, o.ID, true, base, nil)
			wantKind(t, "RecordACMEValidation(missing challenge)", err, errs.NotFound)
		})

		t.Run("RecordValidationTwoAuthzs/"+start.status, func(t *testing.T) {
			s := open(t)
			o, az := start.put(t, s, 2)
			if record(t, s, az[0], true, nil) {
				t.Errorf("RecordACMEValidation(valid, first of two) = true, want false")
			}
			wantStatuses(t, s, o, az, P, []string{V, P}, []string{V, start.status})
			if !record(t, s, az[1], true, nil) {
				t.Errorf("RecordACMEValidation(valid, last of two) = false, want true")
			}
			wantStatuses(t, s, o, az, R, []string{V, V}, []string{V, V})
			if record(t, s, az[1], true, nil) {
				t.Errorf("RecordACMEValidation(again) = true, want false")
			}
			wantStatuses(t, s, o, az, R, []string{V, V}, []string{V, V})
		})

		t.Run("RecordValidationInvalid/"+start.status, func(t *testing.T) {
			s := open(t)
			o, az := start.put(t, s, 2)
			prob := []byte(`{"type":"urn:ietf:params:acme:error:connection"}`)
			if record(t, s, az[0], false, prob) {
				t.Errorf("RecordACMEValidation(invalid) = true, want false")
			}
			wantStatuses(t, s, o, az, I, []string{I, P}, []string{I, start.status})
			c, err := s.GetACMEChallenge(t.Context(), az[0].Challenges[0].ID)
			must(t, "GetACMEChallenge", err)
			if string(c.Error) != string(prob) || !c.Validated.Equal(normTime(base)) {
				t.Errorf("challenge after invalid: %+v", c)
			}
			// A second call on the finished challenge changes nothing.
			if record(t, s, az[0], true, nil) {
				t.Errorf("RecordACMEValidation(again, valid) = true, want false")
			}
			wantStatuses(t, s, o, az, I, []string{I, P}, []string{I, start.status})
			// The other authorization's validation still lands on its own
			// objects, but the invalid order stays invalid.
			if record(t, s, az[1], true, nil) {
				t.Errorf("RecordACMEValidation(valid, invalid order) = true, want false")
			}
			wantStatuses(t, s, o, az, I, []string{I, V}, []string{I, V})
		})
	}

	t.Run("RecordValidationConcurrent", func(t *testing.T) {
		s := open(t)
		o, az := processing(t, s, 2)
		var won atomic.Int32
		var wg sync.WaitGroup
		for _, a := range az {
			wg.Go(func() {
				ready, err := s.RecordACMEValidation(t.Context(), a.Challenges[0].ID, a.ID, o.ID, true, base, nil)
				if err != nil {
					t.Errorf("RecordACMEValidation = %v", err)
				}
				if ready {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("%d of 2 concurrent validations moved the order, want 1", won.Load())
		}
		wantStatuses(t, s, o, az, R, []string{V, V}, []string{V, V})
	})
}
