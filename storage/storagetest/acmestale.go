package storagetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

// testACMEStale: StartACMEValidation moves a challenge pending→processing
// and records when; StaleACMEChallenges lists the challenges processing
// since before a time, or since an unknown time, and no others.
func testACMEStale(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	must(t, "InsertACMEAccount", s.InsertACMEAccount(ctx, storage.ACMEAccount{ID: "acct", Profile: "default", Thumbprint: "th",
		JWK: []byte(`{"kty":"EC"}`), Status: storage.ACMEValid, CreatedAt: base}))
	o := storage.ACMEOrder{ID: "o1", AccountID: "acct", Profile: "default", Status: storage.ACMEPending,
		Identifiers: []storage.ACMEIdentifier{{Type: "dns", Value: "example.com"}}, Expires: base.Add(time.Hour), CreatedAt: base}
	a := storage.ACMEAuthz{ID: "az", OrderID: o.ID, AccountID: "acct", Identifier: o.Identifiers[0], Status: storage.ACMEPending, Expires: o.Expires}
	for _, id := range []string{"early", "late", "unknown", "idle"} {
		a.Challenges = append(a.Challenges, storage.ACMEChallenge{ID: id, AuthzID: a.ID, Type: "http-01", Token: "tok-" + id, Status: storage.ACMEPending})
	}
	must(t, "InsertACMEOrder", s.InsertACMEOrder(ctx, o, []storage.ACMEAuthz{a}))

	for id, at := range map[string]time.Time{"early": base, "late": base.Add(time.Minute)} {
		ok, err := s.StartACMEValidation(ctx, id, at)
		must(t, "StartACMEValidation("+id+")", err)
		if !ok {
			t.Errorf("StartACMEValidation(%s) = false, want true", id)
		}
	}
	if ok, err := s.StartACMEValidation(ctx, "early", base); err != nil || ok {
		t.Errorf("StartACMEValidation(processing) = %v, %v; want false", ok, err)
	}
	// Processing without a start time, as a row from before the column.
	if ok, err := s.SetACMEChallengeStatus(ctx, "unknown", storage.ACMEPending, storage.ACMEProcessing, time.Time{}, nil); err != nil || !ok {
		t.Fatalf("SetACMEChallengeStatus(processing) = %v, %v", ok, err)
	}
	c, err := s.GetACMEChallenge(ctx, "early")
	must(t, "GetACMEChallenge", err)
	if c.Status != storage.ACMEProcessing {
		t.Errorf("challenge after StartACMEValidation: %s, want processing", c.Status)
	}

	ids := func(before time.Time, limit int) []string {
		t.Helper()
		refs, err := s.StaleACMEChallenges(ctx, before, limit)
		must(t, "StaleACMEChallenges", err)
		var got []string
		for _, r := range refs {
			if r.AuthzID != a.ID || r.OrderID != o.ID {
				t.Errorf("ref %+v: want authorization %s, order %s", r, a.ID, o.ID)
			}
			got = append(got, r.ChallengeID)
		}
		return got
	}
	set := func(l []string) map[string]bool {
		m := map[string]bool{}
		for _, x := range l {
			m[x] = true
		}
		return m
	}
	if got := set(ids(base.Add(30*time.Second), 10)); !reflect.DeepEqual(got, set([]string{"early", "unknown"})) {
		t.Errorf("stale before base+30s: %v, want early and unknown", got)
	}
	if got := set(ids(base.Add(2*time.Minute), 10)); !reflect.DeepEqual(got, set([]string{"early", "late", "unknown"})) {
		t.Errorf("stale before base+2m: %v, want early, late and unknown", got)
	}
	if got := ids(base.Add(2*time.Minute), 1); len(got) != 1 {
		t.Errorf("limit 1: %v", got)
	}
	// Once recorded, a challenge is no longer stale.
	_, err = s.RecordACMEValidation(ctx, "early", a.ID, o.ID, false, base, []byte(`{"type":"x"}`))
	must(t, "RecordACMEValidation", err)
	if got := set(ids(base.Add(2*time.Minute), 10)); got["early"] || len(got) != 2 {
		t.Errorf("stale after recording early: %v", got)
	}
}
