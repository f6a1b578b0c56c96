package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// The expiring gauge has a series per profile and window, zero included;
// the store is asked at most once a minute, and a failed count is a
// scrape without the series rather than a stale or zero value.
func TestExpiring(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := 0
	var fail error
	count := func(_ context.Context, from, until time.Time) (map[string]int, error) {
		calls++
		if fail != nil {
			return nil, fail
		}
		if until.Sub(from) == 7*24*time.Hour {
			return map[string]int{"web": 2}, nil
		}
		return map[string]int{"web": 5, "device": 1}, nil
	}
	m := New()
	m.WatchExpiring(count, []string{"web", "device", "idle"}, func() time.Time { return now })
	out := scrape(t, m)
	for _, want := range []string{
		`gateway_certificates_expiring{profile="web",within="7d"} 2`,
		`gateway_certificates_expiring{profile="web",within="30d"} 5`,
		`gateway_certificates_expiring{profile="device",within="7d"} 0`,
		`gateway_certificates_expiring{profile="device",within="30d"} 1`,
		`gateway_certificates_expiring{profile="idle",within="30d"} 0`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	scrape(t, m)
	if calls != 2 {
		t.Errorf("two scrapes within a minute asked the store %d times, want 2 (once per window)", calls)
	}
	now = now.Add(time.Minute)
	fail = errors.New("store down")
	if out := scrape(t, m); strings.Contains(out, "gateway_certificates_expiring{") || !strings.Contains(out, "go_goroutines") {
		t.Errorf("while the store fails: the series should be absent and the rest there:\n%s", out)
	}
}
