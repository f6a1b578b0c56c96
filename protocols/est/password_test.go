package est

import (
	"strings"
	"testing"

	"github.com/certgw/gateway/errs"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id with the expected parameters", h)
	}
	h2, _ := HashPassword("correct horse")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		stored, password string
		match            bool
		bad              bool
	}{
		{h, "correct horse", true, false},
		{h, "correct horsE", false, false},
		{h, "", false, false},
		{h2, "correct horse", true, false},
		{"$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x", false, true},
		{"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x", false, true}, // 4 GiB
		{"$argon2id$v=19$m=19456,t=99,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x", false, true},
		{"$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x", false, true},
		{"$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA", "x", false, true},
		{"plaintext", "plaintext", false, true},
	} {
		match, err := CheckPassword(tc.stored, tc.password)
		if tc.bad {
			if err == nil || !errs.Is(err, errs.Internal) {
				t.Errorf("CheckPassword(%q) = %v, %v; want an Internal error", tc.stored, match, err)
			}
			continue
		}
		if err != nil || match != tc.match {
			t.Errorf("CheckPassword(%q, %q) = %v, %v; want %v", tc.stored, tc.password, match, err, tc.match)
		}
	}
}

func TestVerifiedCache(t *testing.T) {
	c := newVerifiedCache(2)
	if c.has("h1", "p") {
		t.Fatal("empty cache hit")
	}
	c.add("h1", "p")
	if !c.has("h1", "p") || c.has("h1", "q") || c.has("h2", "p") {
		t.Fatal("the cache must hit only the same hash and password")
	}
	// A NUL cannot make two different pairs collide.
	c.add("a", "b\x00c")
	if c.has("a\x00b", "c") {
		t.Fatal("(a, b\\0c) and (a\\0b, c) collide")
	}
	c.add("h3", "p") // full: starts over
	if len(c.seen) > 2 {
		t.Fatalf("cache holds %d entries, bound is 2", len(c.seen))
	}
}

func TestValidUsername(t *testing.T) {
	for u, ok := range map[string]bool{
		"estuser": true, "dev-1.example.com": true, "Gerät": true,
		"": false, "a:b": false, "a b": false, "a\tb": false, "a\x00b": false, strings.Repeat("u", 129): false,
	} {
		if err := ValidUsername(u); (err == nil) != ok {
			t.Errorf("ValidUsername(%q) = %v, want ok=%v", u, err, ok)
		}
	}
}
