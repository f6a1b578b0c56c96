package ttlcache

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := &Cache[string, int]{TTL: 10 * time.Second, Max: 2}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, ok := c.Get("a", t0); ok {
		t.Fatal("a value in an empty cache")
	}
	c.Put("a", 1, t0)
	if v, ok := c.Get("a", t0.Add(10*time.Second-time.Nanosecond)); !ok || v != 1 {
		t.Fatalf("Get within the TTL = %d, %v", v, ok)
	}
	if _, ok := c.Get("a", t0.Add(10*time.Second)); ok {
		t.Fatal("a value past its TTL")
	}
	c.Put("b", 2, t0)
	c.Put("c", 3, t0) // past Max: starts over
	if _, ok := c.Get("a", t0); ok {
		t.Fatal("more than Max values kept")
	}
	if v, ok := c.Get("c", t0); !ok || v != 3 {
		t.Fatalf("Get(c) = %d, %v", v, ok)
	}
	c.Clear()
	if _, ok := c.Get("c", t0); ok {
		t.Fatal("a value after Clear")
	}
	c.Put("d", 4, t0)
	if v, ok := c.Get("d", t0); !ok || v != 4 {
		t.Fatalf("Get(d) after Clear and Put = %d, %v", v, ok)
	}
}
