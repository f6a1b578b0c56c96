package ratelimit

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A requester gets a burst of N, then one every 60/N seconds; others are
// counted apart; a nil limiter limits nothing; idle requesters are
// forgotten once the limiter holds maxBuckets.
func TestLimiter(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var told []string
	l := New(6, "x.issuances_per_minute").Observe(func(s string) { told = append(told, s) })
	for range 10 {
		if err := l.Check("a", now); err != nil {
			t.Fatalf("Check: %v", err)
		}
	}
	for i := range 6 {
		if err := l.Take("a", now); err != nil {
			t.Fatalf("issuance %d of the burst: %v", i+1, err)
		}
	}
	var ex *Exceeded
	if err := l.Take("a", now); !errors.As(err, &ex) || ex.RetryAfter != 10 || ex.Requester != "a" {
		t.Fatalf("seventh at once: %v, want Exceeded with retry after 10 s", err)
	} else if want := "a may issue 6 certificates a minute on this gateway (x.issuances_per_minute); retry after 10 s"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if err := l.Take("b", now); err != nil {
		t.Errorf("another requester: %v", err)
	}
	if len(told) != 1 || told[0] != "x.issuances_per_minute" {
		t.Errorf("observed refusals %v, want the one", told)
	}
	if err := l.Check("a", now); err == nil {
		t.Error("Check past the limit: nil, want Exceeded")
	}
	told = told[:1]
	if err := l.Take("a", now.Add(9*time.Second)); err == nil {
		t.Error("after 9 s: issued, want refused")
	}
	if err := l.Take("a", now.Add(10*time.Second)); err != nil {
		t.Errorf("after 10 s: %v", err)
	}
	if err := New(0, "off").Observe(nil).Take("a", now); err != nil {
		t.Errorf("a nil limiter refused: %v", err)
	}
	for i := range maxBuckets {
		l.Take(fmt.Sprint("r", i), now)
	}
	l.Take("late", now.Add(time.Hour))
	if len(l.buckets) > 2 {
		t.Errorf("%d buckets kept after an hour, want the idle ones forgotten", len(l.buckets))
	}
}
