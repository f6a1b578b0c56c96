package storagetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// RunSCEP runs the conformance tests of storage.SCEPStore. open must
// return a new, empty store each time it is called, closed when t ends (as
// for Run). That a challenge's audit event is committed with it, and only
// then, is checked by Run (AuditedChanges), which can read the trail.
//
// A use consumes what it finds, so the tests tell a kept challenge from a
// deleted one by using it, at a time when it has not expired.
func RunSCEP(t *testing.T, open func(t *testing.T) storage.SCEPStore) {
	challenge := func(profile, secret string, expires time.Time) storage.SCEPChallenge {
		return storage.SCEPChallenge{Profile: profile, Hash: scepHash(secret), Expires: expires, CreatedAt: base}
	}
	insert := func(t *testing.T, s storage.SCEPStore, c storage.SCEPChallenge) {
		t.Helper()
		must(t, "InsertSCEPChallenge", s.InsertSCEPChallenge(t.Context(), c, Event("scep-challenge", "")))
	}

	t.Run("UseOnce", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		insert(t, s, challenge("devices", "c1", base.Add(time.Hour)))
		insert(t, s, challenge("devices", "c2", base.Add(time.Hour)))
		must(t, "UseSCEPChallenge", s.UseSCEPChallenge(ctx, "devices", scepHash("c1"), base))
		wantKind(t, "UseSCEPChallenge(used)", s.UseSCEPChallenge(ctx, "devices", scepHash("c1"), base), errs.NotFound)
		wantKind(t, "UseSCEPChallenge(unknown)", s.UseSCEPChallenge(ctx, "devices", scepHash("c3"), base), errs.NotFound)
		must(t, "UseSCEPChallenge(another challenge)", s.UseSCEPChallenge(ctx, "devices", scepHash("c2"), base))
	})

	// A challenge is for one profile: presented to another, it is refused
	// and left for its own.
	t.Run("WrongProfile", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		insert(t, s, challenge("devices", "c1", base.Add(time.Hour)))
		wantKind(t, "UseSCEPChallenge(other profile)", s.UseSCEPChallenge(ctx, "servers", scepHash("c1"), base), errs.NotFound)
		wantKind(t, "UseSCEPChallenge(other case)", s.UseSCEPChallenge(ctx, "Devices", scepHash("c1"), base), errs.NotFound)
		wantKind(t, "UseSCEPChallenge(no profile)", s.UseSCEPChallenge(ctx, "", scepHash("c1"), base), errs.NotFound)
		must(t, "UseSCEPChallenge(own profile)", s.UseSCEPChallenge(ctx, "devices", scepHash("c1"), base))
	})

	t.Run("Expiry", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		expires := base.Add(time.Minute)
		for _, tt := range []struct {
			name string
			now  time.Time
			live bool
		}{
			{"before", expires.Add(-time.Microsecond), true},
			{"at expiry", expires, false}, // Expires <= now is expired
			{"after", expires.Add(time.Second), false},
		} {
			insert(t, s, challenge("devices", tt.name, expires))
			err := s.UseSCEPChallenge(ctx, "devices", scepHash(tt.name), tt.now)
			if tt.live {
				if err != nil {
					t.Errorf("UseSCEPChallenge(%s) = %v, want success", tt.name, err)
				}
				continue
			}
			wantKind(t, "UseSCEPChallenge("+tt.name+")", err, errs.NotFound)
		}
	})

	// A use, found or not, also deletes every challenge expired at now,
	// so that challenges never used do not pile up. Used at an earlier
	// time, when every challenge was live, a swept challenge is NotFound
	// and a kept one is used.
	t.Run("Sweep", func(t *testing.T) {
		for _, tt := range []struct {
			name   string
			secret string // the challenge used at now
			found  bool
		}{
			{"by a use", "used", true},
			{"by a use not found", "unknown", false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				s, ctx := open(t), t.Context()
				now := base.Add(time.Hour)
				insert(t, s, challenge("devices", "expired", now.Add(-time.Second)))
				insert(t, s, challenge("servers", "expired-other-profile", now.Add(-time.Second)))
				insert(t, s, challenge("devices", "at-now", now))
				insert(t, s, challenge("devices", "live", now.Add(time.Minute)))
				insert(t, s, challenge("devices", "used", now.Add(time.Minute)))

				err := s.UseSCEPChallenge(ctx, "devices", scepHash(tt.secret), now)
				if tt.found {
					must(t, "UseSCEPChallenge("+tt.secret+")", err)
				} else {
					wantKind(t, "UseSCEPChallenge("+tt.secret+")", err, errs.NotFound)
				}

				earlier := base
				for _, swept := range []struct{ profile, secret string }{
					{"devices", "expired"},
					{"servers", "expired-other-profile"},
					{"devices", "at-now"},
				} {
					wantKind(t, "UseSCEPChallenge("+swept.secret+", swept)",
						s.UseSCEPChallenge(ctx, swept.profile, scepHash(swept.secret), earlier), errs.NotFound)
				}
				must(t, "UseSCEPChallenge(live, not swept)", s.UseSCEPChallenge(ctx, "devices", scepHash("live"), earlier))
				if !tt.found {
					must(t, "UseSCEPChallenge(used, not used before)", s.UseSCEPChallenge(ctx, "devices", scepHash("used"), earlier))
				}
			})
		}
	})

	// Hashes are unique across profiles: the second insert fails and the
	// first challenge stays as it was. Used past the refused challenges'
	// expiry, the first is live only if it kept its own.
	t.Run("Conflict", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		insert(t, s, challenge("devices", "c1", base.Add(time.Hour)))
		for _, second := range []storage.SCEPChallenge{
			challenge("devices", "c1", base.Add(time.Minute)),
			challenge("servers", "c1", base.Add(time.Minute)),
		} {
			wantKind(t, "second InsertSCEPChallenge("+second.Profile+")",
				s.InsertSCEPChallenge(ctx, second, Event("scep-challenge", "")), errs.Conflict)
		}
		later := base.Add(30 * time.Minute)
		wantKind(t, "UseSCEPChallenge(the refused profile)", s.UseSCEPChallenge(ctx, "servers", scepHash("c1"), later), errs.NotFound)
		must(t, "UseSCEPChallenge(the first)", s.UseSCEPChallenge(ctx, "devices", scepHash("c1"), later))
	})

	t.Run("Malformed", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		for name, change := range map[string]func(c *storage.SCEPChallenge){
			"no profile":   func(c *storage.SCEPChallenge) { c.Profile = "" },
			"31-byte hash": func(c *storage.SCEPChallenge) { c.Hash = c.Hash[:31] },
			"33-byte hash": func(c *storage.SCEPChallenge) { c.Hash = append(c.Hash, 0) },
			"no hash":      func(c *storage.SCEPChallenge) { c.Hash = nil },
		} {
			c := challenge("devices", "c1", base.Add(time.Hour))
			change(&c)
			wantKind(t, "InsertSCEPChallenge("+name+")", s.InsertSCEPChallenge(ctx, c, Event("scep-challenge", "")), errs.Malformed)
		}
		wantKind(t, "UseSCEPChallenge after refused inserts", s.UseSCEPChallenge(ctx, "devices", scepHash("c1"), base), errs.NotFound)
		wantKind(t, "UseSCEPChallenge(no profile) after refused inserts", s.UseSCEPChallenge(ctx, "", scepHash("c1"), base), errs.NotFound)
	})

	// Devices enrolling at once with one challenge (a copied
	// configuration profile, a replayed request): exactly one enrolls.
	t.Run("Concurrent", func(t *testing.T) {
		s, ctx := open(t), t.Context()
		insert(t, s, challenge("devices", "c1", base.Add(time.Hour)))
		results := concurrently(func(int) error {
			return s.UseSCEPChallenge(ctx, "devices", scepHash("c1"), base)
		})
		oneWinner(t, "UseSCEPChallenge", results, func(err error) bool { return errs.Is(err, errs.NotFound) })
	})
}

// scepHash is the stored form of a SCEP challenge: its SHA-256.
func scepHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
