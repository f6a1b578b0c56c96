package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPending(t *testing.T) {
	var fail error
	count := func(context.Context) (map[string]int, error) {
		if fail != nil {
			return nil, fail
		}
		return map[string]int{"devices": 3, "unlisted": 9}, nil
	}
	m := New()
	m.WatchPending(count, []string{"devices", "routers"})
	out := scrape(t, m)
	for _, want := range []string{`gateway_requests_pending{profile="devices"} 3`, `gateway_requests_pending{profile="routers"} 0`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, "unlisted") {
		t.Errorf("a profile without approval is reported:\n%s", out)
	}
	fail = errors.New("store down")
	if out := scrape(t, m); strings.Contains(out, "gateway_requests_pending{") || !strings.Contains(out, "go_goroutines") {
		t.Errorf("while the store fails: the series should be absent and the rest there:\n%s", out)
	}
	// No profile holds requests: no series at all.
	m = New()
	m.WatchPending(count, nil)
	if out := scrape(t, m); strings.Contains(out, "gateway_requests_pending") {
		t.Errorf("series without held profiles:\n%s", out)
	}
}

func TestNotificationsWaiting(t *testing.T) {
	m := New()
	m.WatchNotifications(func(context.Context) (map[string]int, error) {
		return map[string]int{"notify/web": 2}, nil
	}, []string{"approval/routers", "notify/web"})
	out := scrape(t, m)
	for _, want := range []string{`gateway_notifications_waiting{webhook="approval/routers"} 0`, `gateway_notifications_waiting{webhook="notify/web"} 2`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}
