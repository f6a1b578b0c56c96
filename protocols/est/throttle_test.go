package est

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certgw/gateway/internal/ratelimit"
	"github.com/certgw/gateway/storage"
	"github.com/certgw/gateway/test/teststore"
)

// Ten wrong passwords for a profile from one address within ten minutes
// stop that address's new passwords for the profile, unchecked, until the
// window has passed. A device that enrolled before keeps working, and so
// does the address on another profile. Nothing is issued to a blocked
// request.
func TestPasswordGuessesThrottled(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st, Settings{Profiles: map[string]ProfileSettings{}}, estProfile("dev", nil), estProfile("other", nil))
		f.addUser("dev", "known", "known-pass")
		f.addUser("dev", "late", "late-pass")
		f.addUser("other", "other", "other-pass")
		c := f.client(clientOpts{})
		enroll := func(profile, user, pass string) answer {
			t.Helper()
			return f.request(c, http.MethodPost, "/.well-known/est/"+profile+"/simpleenroll",
				b64(csrDER(t, newKey(t), "t.example.com", "t.example.com")), user, pass)
		}
		if a := enroll("dev", "known", "known-pass"); a.status != http.StatusOK {
			t.Fatalf("first enrollment: %d %s", a.status, a.body)
		}
		for i := range maxPasswordFailures {
			user := "known"
			if i%2 == 1 {
				user = "nobody" // unknown users count as well
			}
			if a := enroll("dev", user, "guess"); a.status != http.StatusUnauthorized || strings.Contains(string(a.body), "too many") {
				t.Fatalf("guess %d: %d %s", i, a.status, a.body)
			}
		}
		before := f.countCerts()
		a := enroll("dev", "late", "late-pass")
		if a.status != http.StatusUnauthorized || !strings.Contains(string(a.body), "too many wrong passwords") ||
			a.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("a right password from a blocked address: %d %q %s", a.status, a.header.Get("WWW-Authenticate"), a.body)
		}
		if n := f.countCerts(); n != before {
			t.Fatalf("a blocked request stored %d certificates", n-before)
		}
		if a := enroll("dev", "known", "known-pass"); a.status != http.StatusOK {
			t.Errorf("a device verified before the block: %d %s", a.status, a.body)
		}
		if a := enroll("other", "other", "other-pass"); a.status != http.StatusOK {
			t.Errorf("another profile from the same address: %d %s", a.status, a.body)
		}
		f.clock.Advance(passwordFailureWindow)
		if a := enroll("dev", "late", "late-pass"); a.status != http.StatusOK {
			t.Errorf("after the window: %d %s", a.status, a.body)
		}
	})
}

// Wrong passwords add up across replicas sharing the store: half of them
// at one gateway, half at another, and both refuse the address.
func TestPasswordGuessesCountedAtEveryReplica(t *testing.T) {
	teststore.Each(t, func(t *testing.T, st storage.Store) {
		a := newFixture(t, st, Settings{Profiles: map[string]ProfileSettings{}}, estProfile("dev", nil))
		b := a.replica()
		a.addUser("dev", "late", "late-pass")
		enroll := func(f *fixture, pass string) answer {
			t.Helper()
			return f.request(f.client(clientOpts{}), http.MethodPost, "/.well-known/est/dev/simpleenroll",
				b64(csrDER(t, newKey(t), "t.example.com", "t.example.com")), "late", pass)
		}
		for i := range maxPasswordFailures {
			f := a
			if i%2 == 1 {
				f = b
			}
			if r := enroll(f, "guess"); r.status != http.StatusUnauthorized || strings.Contains(string(r.body), "too many") {
				t.Fatalf("guess %d: %d %s", i, r.status, r.body)
			}
		}
		for name, f := range map[string]*fixture{"a": a, "b": b} {
			if r := enroll(f, "late-pass"); r.status != http.StatusUnauthorized || !strings.Contains(string(r.body), "too many wrong passwords") {
				t.Errorf("replica %s after %d guesses spread over both: %d %s", name, maxPasswordFailures, r.status, r.body)
			}
		}
		a.clock.Advance(passwordFailureWindow)
		if r := enroll(b, "late-pass"); r.status != http.StatusOK {
			t.Errorf("after the window: %d %s", r.status, r.body)
		}
	})
}

// With est.issuances_per_minute, each EST user gets that many
// certificates a minute, by simpleenroll and serverkeygen together, and a
// renewed subject as many by simplereenroll; more is a 429 with
// Retry-After naming the setting, and nothing is issued. Other users are
// counted apart, and a minute later the user enrolls again.
func TestIssuanceRateLimit(t *testing.T) {
	f := newFixture(t, teststore.SQLite(t), Settings{Profiles: map[string]ProfileSettings{}}, estProfile("dev", nil))
	f.limiter = ratelimit.New(2, "est.issuances_per_minute")
	f.serve()
	f.addUser("dev", "a", "a-pass")
	f.addUser("dev", "b", "b-pass")
	c := f.client(clientOpts{})
	key := newKey(t)
	enroll := func(user, op string) answer {
		t.Helper()
		return f.request(c, http.MethodPost, "/.well-known/est/dev/"+op, b64(csrDER(t, key, "rl.example.com", "rl.example.com")), user, user+"-pass")
	}
	if a := enroll("a", "simpleenroll"); a.status != http.StatusOK {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	if a := enroll("a", "serverkeygen"); a.status != http.StatusOK {
		t.Fatalf("second, by serverkeygen: %d %s", a.status, a.body)
	}
	before := f.countCerts()
	for _, op := range []string{"simpleenroll", "serverkeygen"} {
		a := enroll("a", op)
		if a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "30" || !strings.Contains(string(a.body), "est.issuances_per_minute") {
			t.Errorf("%s past the limit: %d %q %s, want 429 with Retry-After 30", op, a.status, a.header.Get("Retry-After"), a.body)
		}
	}
	if f.countCerts() != before {
		t.Error("a refused enrollment issued")
	}
	if a := enroll("b", "simpleenroll"); a.status != http.StatusOK {
		t.Errorf("another user: %d %s", a.status, a.body)
	}
	f.clock.Advance(30 * time.Second)
	if a := enroll("a", "simpleenroll"); a.status != http.StatusOK {
		t.Errorf("30 s later: %d %s", a.status, a.body)
	}

	// A device that renews in a loop renews a new certificate each time:
	// it is counted by subject.
	cert := f.issueDirect("dev", key, "loop.example.com", "loop.example.com")
	for i := range 3 {
		a := f.request(f.client(clientOpts{cert: cert}), http.MethodPost, "/.well-known/est/dev/simplereenroll", b64(csrDER(t, key, "loop.example.com", "loop.example.com")), "", "")
		switch {
		case i < 2 && a.status != http.StatusOK:
			t.Fatalf("renewal %d: %d %s", i+1, a.status, a.body)
		case i == 2 && (a.status != http.StatusTooManyRequests || !strings.Contains(string(a.body), "subject CN=loop.example.com (profile dev)")):
			t.Errorf("third renewal in a minute: %d %s, want 429 naming the subject", a.status, a.body)
		case i < 2:
			cert = tlsCert(certsFrom(t, a.body)[0], key)
		}
	}
}
