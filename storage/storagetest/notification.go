package storagetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// testNotifications: notifications are claimed when due, those due first
// first; a claim holds them for its lease and counts an attempt; a retry
// makes one due again with its error; a deleted one is gone; concurrent
// claims never take the same notification; bad input is refused.
func testNotifications(t *testing.T, open func(t *testing.T) storage.Store) {
	s, ctx := open(t), t.Context()
	t0 := normTime(base)
	enqueue := func(event string, due time.Time) int64 {
		t.Helper()
		id, err := s.EnqueueNotification(ctx, storage.Notification{Target: "notify/web", Event: event, Subject: "8a01",
			Body: []byte(`{"event":"` + event + `"}`), NextAttempt: due, CreatedAt: t0})
		must(t, "EnqueueNotification", err)
		return id
	}
	claim := func(now time.Time, limit int) []storage.Notification {
		t.Helper()
		got, err := s.ClaimNotifications(ctx, now, time.Minute, limit)
		must(t, "ClaimNotifications", err)
		return got
	}
	events := func(ns []storage.Notification) []string {
		var out []string
		for _, n := range ns {
			out = append(out, n.Event)
		}
		return out
	}
	if n, err := s.CountNotifications(ctx); err != nil || len(n) != 0 {
		t.Errorf("CountNotifications of none = %v, %v", n, err)
	}
	late := enqueue("late", t0.Add(time.Hour))
	second := enqueue("second", t0.Add(time.Second))
	first := enqueue("first", t0)
	if first <= second || second <= late {
		t.Errorf("IDs %d, %d, %d do not grow", late, second, first)
	}
	if _, err := s.EnqueueNotification(ctx, storage.Notification{Target: "approval/web", Event: "request.pending", Body: []byte("{}"),
		NextAttempt: t0.Add(24 * time.Hour), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountNotifications(ctx); err != nil || len(n) != 2 || n["notify/web"] != 3 || n["approval/web"] != 1 {
		t.Errorf("CountNotifications = %v, %v; want 3 notify/web and 1 approval/web", n, err)
	}

	if got := claim(t0.Add(-time.Second), 10); len(got) != 0 {
		t.Fatalf("claimed %v before any was due", events(got))
	}
	got := claim(t0.Add(2*time.Second), 1)
	if len(got) != 1 || got[0].ID != first || got[0].Attempts != 1 || got[0].Target != "notify/web" || got[0].Subject != "8a01" ||
		string(got[0].Body) != `{"event":"first"}` || !got[0].NextAttempt.Equal(t0.Add(2*time.Second+time.Minute)) || !got[0].CreatedAt.Equal(t0) {
		t.Fatalf("first claim (limit 1): %+v, want the one due first, with its lease", got)
	}
	if got := claim(t0.Add(2*time.Second), 10); !slices.Equal(events(got), []string{"second"}) {
		t.Fatalf("second claim: %v, want the other one due (the first is leased)", events(got))
	}
	// The leases end: both are due again, with a second attempt.
	got = claim(t0.Add(2*time.Second+time.Minute), 10)
	if !slices.Equal(events(got), []string{"second", "first"}) || got[0].Attempts != 2 || got[1].Attempts != 2 {
		t.Fatalf("after the leases: %+v", got)
	}
	if held, err := s.RetryNotification(ctx, first, t0.Add(10*time.Minute), "webhook answered 503"); err != nil || !held {
		t.Fatalf("RetryNotification = %v, %v", held, err)
	}
	list, err := s.ListNotifications(ctx, 10, false)
	must(t, "ListNotifications", err)
	if !slices.Equal(events(list), []string{"second", "first", "late", "request.pending"}) || list[1].LastError != "webhook answered 503" || list[1].Attempts != 2 {
		t.Fatalf("ListNotifications = %+v, want those due first first", list)
	}
	if held, err := s.RetryNotification(ctx, first, t0.Add(10*time.Minute), ""); err != nil || !held {
		t.Fatalf("RetryNotification keeping the error = %v, %v", held, err)
	}
	must(t, "DeleteNotification", s.DeleteNotification(ctx, second))
	got = claim(t0.Add(2*time.Hour), 10)
	if n, err := s.CountNotifications(ctx); err != nil || n["notify/web"] != 2 {
		t.Errorf("CountNotifications after a deletion = %v, %v", n, err)
	}
	if !slices.Equal(events(got), []string{"late", "first"}) && !slices.Equal(events(got), []string{"first", "late"}) {
		t.Fatalf("two hours later: %v, want late and first (second was deleted)", events(got))
	}
	for _, n := range got {
		if n.ID == first && (n.LastError != "webhook answered 503" || n.Attempts != 3) {
			t.Errorf("retried notification: %+v", n)
		}
	}
	must(t, "DeleteNotification of a deleted one", s.DeleteNotification(ctx, second))
	if held, err := s.RetryNotification(ctx, second, t0, "x"); err != nil || held {
		t.Errorf("RetryNotification of a deleted one = %v, %v", held, err)
	}
	if list, err := s.ListNotifications(ctx, 1, false); err != nil || len(list) != 1 {
		t.Errorf("ListNotifications(1) = %d, %v", len(list), err)
	}
	for _, limit := range []int{0, storage.MaxNotificationsLimit + 1} {
		_, err := s.ListNotifications(ctx, limit, false)
		wantKind(t, fmt.Sprintf("ListNotifications(%d)", limit), err, errs.Malformed)
	}

	// A notification given up is claimed no more and counted no more; it
	// is listed apart, until a retry makes it wait again.
	must(t, "GiveUpNotification", s.GiveUpNotification(ctx, late, t0.Add(3*time.Hour), "webhook answered 410"))
	if got := claim(t0.Add(50*365*24*time.Hour), 10); slices.Contains(events(got), "late") {
		t.Fatalf("a given-up notification was claimed: %v", events(got))
	}
	if n, err := s.CountNotifications(ctx); err != nil || n["notify/web"] != 1 {
		t.Errorf("CountNotifications with one given up = %v, %v; want 1 notify/web", n, err)
	}
	if list, err := s.ListNotifications(ctx, 10, false); err != nil || slices.Contains(events(list), "late") {
		t.Errorf("ListNotifications (waiting) = %v, %v; want no given-up one", events(list), err)
	}
	list, err = s.ListNotifications(ctx, 10, true)
	if err != nil || len(list) != 1 || list[0].ID != late || !list[0].GivenUp.Equal(t0.Add(3*time.Hour)) || list[0].LastError != "webhook answered 410" {
		t.Fatalf("ListNotifications (given up) = %+v, %v", list, err)
	}
	if n, err := s.TidyNotifications(ctx, t0.Add(3*time.Hour), 10); err != nil || n != 0 {
		t.Errorf("TidyNotifications before it was given up = %d, %v", n, err)
	}
	if held, err := s.RetryNotification(ctx, late, t0.Add(4*time.Hour), ""); err != nil || !held {
		t.Fatalf("RetryNotification of a given-up one = %v, %v", held, err)
	}
	if got := claim(t0.Add(4*time.Hour), 10); !slices.Equal(events(got), []string{"late"}) || !got[0].GivenUp.IsZero() {
		t.Fatalf("claim after the retry of a given-up one: %+v", got)
	}
	must(t, "GiveUpNotification", s.GiveUpNotification(ctx, late, t0.Add(5*time.Hour), ""))
	if n, err := s.TidyNotifications(ctx, t0.Add(5*time.Hour+time.Second), 10); err != nil || n != 1 {
		t.Errorf("TidyNotifications = %d, %v; want the given-up one", n, err)
	}
	if list, err := s.ListNotifications(ctx, 10, true); err != nil || len(list) != 0 {
		t.Errorf("given up after tidying: %+v, %v", list, err)
	}
	must(t, "GiveUpNotification of a deleted one", s.GiveUpNotification(ctx, second, t0, "x"))

	// Concurrent claims share out the due notifications.
	var ids []int64
	for range 40 {
		ids = append(ids, enqueue("many", t0.Add(3*time.Hour)))
	}
	var (
		mu      sync.Mutex
		claimed []int64
		wg      sync.WaitGroup
	)
	for range 8 {
		wg.Go(func() {
			for range 3 {
				got, err := s.ClaimNotifications(ctx, t0.Add(3*time.Hour), time.Hour, 4)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, n := range got {
					if n.Event == "many" {
						claimed = append(claimed, n.ID)
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(claimed)
	if len(slices.Compact(slices.Clone(claimed))) != len(claimed) || len(claimed) == 0 {
		t.Errorf("concurrent claims took %d notifications, some twice: %v", len(claimed), claimed)
	}
	for _, id := range claimed {
		if !slices.Contains(ids, id) {
			t.Errorf("a concurrent claim took %d, which was not enqueued", id)
		}
	}

	for _, bad := range []storage.Notification{
		{Event: "e", Body: []byte("{}")},
		{Target: "t", Body: []byte("{}")},
		{Target: "t", Event: "e"},
	} {
		_, err := s.EnqueueNotification(ctx, bad)
		wantKind(t, "EnqueueNotification of "+bad.Target+"/"+bad.Event, err, errs.Malformed)
	}
	_, err = s.ClaimNotifications(ctx, t0, time.Minute, 0)
	wantKind(t, "ClaimNotifications limit 0", err, errs.Malformed)
}
