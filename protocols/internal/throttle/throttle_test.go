package throttle

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"
)

func TestFailures(t *testing.T) {
	f := &Failures{Max: 3, Window: 10 * time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if f.Blocked("a", t0) {
			t.Fatalf("blocked after %d failures", i)
		}
		f.Add("a", t0.Add(time.Duration(i)*time.Minute))
	}
	if !f.Blocked("a", t0.Add(3*time.Minute)) {
		t.Fatal("not blocked after 3 failures within the window")
	}
	if f.Blocked("b", t0.Add(3*time.Minute)) {
		t.Fatal("another key is blocked")
	}
	// The oldest failure leaves the window: two are left.
	if f.Blocked("a", t0.Add(10*time.Minute)) {
		t.Fatal("still blocked once the first failure is 10 minutes old")
	}
	f.Add("a", t0.Add(10*time.Minute))
	if !f.Blocked("a", t0.Add(10*time.Minute)) {
		t.Fatal("not blocked by failures at 1, 2 and 10 minutes")
	}
	if f.Blocked("a", t0.Add(30*time.Minute)) || len(f.seen) != 0 {
		t.Fatalf("old failures kept: %v", f.seen)
	}
	// A flood of keys starts over rather than grows.
	for i := range maxKeys + 10 {
		f.Add(fmt.Sprint(i), t0)
	}
	if len(f.seen) > maxKeys+1 {
		t.Fatalf("%d keys kept", len(f.seen))
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
