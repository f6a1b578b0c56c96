package throttle

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	ctx := t.Context()
	f := &Failures{Max: 3, Window: 10 * time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if f.Blocked(ctx, "a", t0) {
			t.Fatalf("blocked after %d failures", i)
		}
		f.Add(ctx, "a", t0.Add(time.Duration(i)*time.Minute))
	}
	if !f.Blocked(ctx, "a", t0.Add(3*time.Minute)) {
		t.Fatal("not blocked after 3 failures within the window")
	}
	if f.Blocked(ctx, "b", t0.Add(3*time.Minute)) {
		t.Fatal("another key is blocked")
	}
	// The oldest failure leaves the window: two are left.
	if f.Blocked(ctx, "a", t0.Add(10*time.Minute)) {
		t.Fatal("still blocked once the first failure is 10 minutes old")
	}
	f.Add(ctx, "a", t0.Add(10*time.Minute))
	if !f.Blocked(ctx, "a", t0.Add(10*time.Minute)) {
		t.Fatal("not blocked by failures at 1, 2 and 10 minutes")
	}
	if f.Blocked(ctx, "a", t0.Add(30*time.Minute)) || len(f.seen) != 0 {
		t.Fatalf("old failures kept: %v", f.seen)
	}
	// A flood of keys starts over rather than grows.
	for i := range maxKeys + 10 {
		f.Add(ctx, fmt.Sprint(i), t0)
	}
	if len(f.seen) > maxKeys+1 {
		t.Fatalf("%d keys kept", len(f.seen))
	}
}

// sharedStore is a store's count of failures, in memory.
type sharedStore struct {
	at   map[string][]time.Time // scope and key → failures
	down bool
}

func (s *sharedStore) RecordAuthFailure(_ context.Context, scope, key string, at, _ time.Time) error {
	if s.down {
		return errors.New("store down")
	}
	s.at[scope+" "+key] = append(s.at[scope+" "+key], at)
	return nil
}

func (s *sharedStore) CountAuthFailures(_ context.Context, scope, key string, since time.Time) (int, error) {
	if s.down {
		return 0, errors.New("store down")
	}
	n := 0
	for _, t := range s.at[scope+" "+key] {
		if !t.Before(since) {
			n++
		}
	}
	return n, nil
}

// Two replicas sharing a store block a key once their failures together
// reach Max; the window is the same as in one process; while the store is
// down, each replica's own count stands in.
func TestFailuresShared(t *testing.T) {
	ctx := t.Context()
	st := &sharedStore{at: map[string][]time.Time{}}
	a := &Failures{Max: 3, Window: 10 * time.Minute, Shared: st, Scope: "est"}
	b := &Failures{Max: 3, Window: 10 * time.Minute, Shared: st, Scope: "est"}
	other := &Failures{Max: 3, Window: 10 * time.Minute, Shared: st, Scope: "scep"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a.Add(ctx, "k", t0)
	b.Add(ctx, "k", t0.Add(time.Minute))
	if a.Blocked(ctx, "k", t0.Add(2*time.Minute)) || b.Blocked(ctx, "k", t0.Add(2*time.Minute)) {
		t.Fatal("blocked after 2 failures")
	}
	a.Add(ctx, "k", t0.Add(2*time.Minute))
	if !b.Blocked(ctx, "k", t0.Add(3*time.Minute)) {
		t.Fatal("replica b does not see the 3 failures made at both")
	}
	if other.Blocked(ctx, "k", t0.Add(3*time.Minute)) {
		t.Fatal("another scope is blocked")
	}
	if b.Blocked(ctx, "k", t0.Add(10*time.Minute)) {
		t.Fatal("still blocked once the first failure is 10 minutes old")
	}
	st.down = true
	if err := b.Add(ctx, "j", t0); err == nil {
		t.Fatal("Add hid the store's error")
	}
	b.Add(ctx, "j", t0)
	b.Add(ctx, "j", t0)
	if !b.Blocked(ctx, "j", t0) || a.Blocked(ctx, "j", t0) {
		t.Fatal("with the store down, each replica should count its own")
	}
}

func TestClientAddr(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	for addr, want := range map[string]string{"192.0.2.1:5555": "192.0.2.1", "[2001:db8::1]:443": "2001:db8::1", "@": "@"} {
		r.RemoteAddr = addr
		if got := ClientAddr(r); got != want {
			t.Errorf("ClientAddr(%q) = %q, want %q", addr, got, want)
		}
	}
}
