package storagetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

// testIdempotencyKeys: a key is claimed once; a second claim sees the
// holder (under way, then completed with its certificate) until the
// holder is taken for dead or the key expires; a released key is free;
// keys of different tokens never meet; completion and release touch only
// the claim they name; a key answered with a request keeps it.
func testIdempotencyKeys(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	key := func(token, k string, fp byte, at time.Time) storage.IdempotencyKey {
		return storage.IdempotencyKey{TokenID: token, Key: k, Fingerprint: []byte{fp, 1, 2}, ClaimedAt: at, ExpiresAt: at.Add(24 * time.Hour)}
	}
	claim := func(k storage.IdempotencyKey, staleBefore time.Time, wantClaimed bool) storage.IdempotencyKey {
		t.Helper()
		held, claimed, err := s.ClaimIdempotencyKey(ctx, k, staleBefore)
		must(t, "ClaimIdempotencyKey", err)
		if claimed != wantClaimed {
			t.Fatalf("ClaimIdempotencyKey(%s/%s at %v): claimed %v, want %v (holder %+v)", k.TokenID, k.Key, k.ClaimedAt, claimed, wantClaimed, held)
		}
		return held
	}
	t0 := base.Truncate(time.Microsecond) // what the stores keep
	first := key("tok1", "k1", 0xaa, t0)
	claim(first, t0.Add(-2*time.Minute), true)

	// Under way: a retry a second later sees it, with its fingerprint.
	held := claim(key("tok1", "k1", 0xbb, t0.Add(time.Second)), t0.Add(-2*time.Minute), false)
	if held.Serial != "" || !bytes.Equal(held.Fingerprint, first.Fingerprint) || !held.ClaimedAt.Equal(t0) || !held.ExpiresAt.Equal(first.ExpiresAt) {
		t.Fatalf("holder under way: %+v, want %+v", held, first)
	}
	// Another token's key of the same name is its own.
	claim(key("tok2", "k1", 0xcc, t0.Add(time.Second)), t0.Add(-2*time.Minute), true)

	// Completed: a retry gets the serial and status; a completion or
	// release naming another claim changes nothing.
	must(t, "CompleteIdempotencyKey", s.CompleteIdempotencyKey(ctx, "tok1", "k1", t0.Add(time.Second), "bad", "", 500))
	must(t, "ReleaseIdempotencyKey", s.ReleaseIdempotencyKey(ctx, "tok1", "k1", t0.Add(time.Second)))
	must(t, "CompleteIdempotencyKey", s.CompleteIdempotencyKey(ctx, "tok1", "k1", t0, "0a", "", 201))
	must(t, "ReleaseIdempotencyKey", s.ReleaseIdempotencyKey(ctx, "tok1", "k1", t0)) // completed: stays
	held = claim(key("tok1", "k1", 0xaa, t0.Add(time.Hour)), t0.Add(time.Hour-2*time.Minute), false)
	if held.Serial != "0a" || held.Status != 201 {
		t.Fatalf("completed holder: %+v, want serial 0a, status 201", held)
	}
	// A completed key stays, however old its claim, until it expires.
	claim(key("tok1", "k1", 0xaa, t0.Add(23*time.Hour)), t0.Add(23*time.Hour), false)
	renewed := claim(key("tok1", "k1", 0xdd, t0.Add(24*time.Hour)), t0.Add(24*time.Hour-2*time.Minute), true)
	if renewed.Serial != "" || renewed.Fingerprint[0] != 0xdd {
		t.Fatalf("claim of an expired key: %+v", renewed)
	}
	held = claim(key("tok1", "k1", 0xaa, t0.Add(24*time.Hour+time.Second)), t0.Add(24*time.Hour-2*time.Minute), false)
	if held.Serial != "" || held.Status != 0 || held.Fingerprint[0] != 0xdd {
		t.Fatalf("holder after the expired key was claimed again: %+v", held)
	}

	// A holder that never completed is taken for dead once claimed
	// before staleBefore; released, a key is free at once.
	t1 := t0.Add(48 * time.Hour)
	claim(key("tok3", "dies", 1, t1), t1.Add(-2*time.Minute), true)
	claim(key("tok3", "dies", 1, t1.Add(time.Minute)), t1.Add(-time.Minute), false)
	claim(key("tok3", "dies", 2, t1.Add(3*time.Minute)), t1.Add(time.Minute), true)
	must(t, "ReleaseIdempotencyKey", s.ReleaseIdempotencyKey(ctx, "tok3", "dies", t1)) // the dead claim's: not this one's
	claim(key("tok3", "dies", 2, t1.Add(4*time.Minute)), t1.Add(2*time.Minute), false)
	must(t, "ReleaseIdempotencyKey", s.ReleaseIdempotencyKey(ctx, "tok3", "dies", t1.Add(3*time.Minute)))
	claim(key("tok3", "dies", 3, t1.Add(5*time.Minute)), t1.Add(3*time.Minute), true)
	// Expired keys of every token went with the claims after them.
	claim(key("tok2", "k1", 0xcc, t1), t1.Add(-2*time.Minute), true)

	// A key answered with a request (202) keeps it, however old its
	// claim, and is neither completed again nor released.
	claim(key("tok4", "held", 7, t1), t1.Add(-2*time.Minute), true)
	must(t, "CompleteIdempotencyKey", s.CompleteIdempotencyKey(ctx, "tok4", "held", t1, "", "req-1", 202))
	must(t, "CompleteIdempotencyKey", s.CompleteIdempotencyKey(ctx, "tok4", "held", t1, "0b", "", 201))
	must(t, "ReleaseIdempotencyKey", s.ReleaseIdempotencyKey(ctx, "tok4", "held", t1))
	held = claim(key("tok4", "held", 7, t1.Add(time.Hour)), t1.Add(time.Hour), false)
	if held.RequestID != "req-1" || held.Serial != "" || held.Status != 202 {
		t.Fatalf("holder answered with a request: %+v, want request req-1, status 202", held)
	}
}
