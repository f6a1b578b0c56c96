package api_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/certgw/gateway/storage"
)

// GET /notifications lists what waits for a webhook, those due first
// first, with why the last post failed, and with status=failed what was
// given up; POST /notifications/ID/retry makes one due now, given up or
// not.
func TestNotifications(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		now := e.clock.Now()
		var list struct {
			Notifications []struct {
				ID          int64     `json:"id"`
				Webhook     string    `json:"webhook"`
				Event       string    `json:"event"`
				Subject     string    `json:"subject"`
				Attempts    int       `json:"attempts"`
				NextAttempt time.Time `json:"next_attempt"`
				LastError   string    `json:"last_error"`
				GivenUpAt   time.Time `json:"given_up_at"`
			} `json:"notifications"`
		}
		e.do("GET", "/api/v1/notifications", admin, nil).decode(t, http.StatusOK, &list)
		if len(list.Notifications) != 0 {
			t.Fatalf("notifications before any: %+v", list)
		}
		later, err := e.store.EnqueueNotification(ctx, storage.Notification{Target: "notify/web", Event: "certificate.issued", Subject: "8a01",
			Body: []byte("{}"), NextAttempt: now.Add(time.Hour), CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		sooner, err := e.store.EnqueueNotification(ctx, storage.Notification{Target: "approval/held", Event: "request.pending", Subject: "0a1b",
			Body: []byte("{}"), NextAttempt: now.Add(time.Minute), CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if held, err := e.store.RetryNotification(ctx, later, now.Add(time.Hour), "webhook answered 503 Service Unavailable"); err != nil || !held {
			t.Fatal(held, err)
		}
		e.do("GET", "/api/v1/notifications", admin, nil).decode(t, http.StatusOK, &list)
		if len(list.Notifications) != 2 || list.Notifications[0].ID != sooner || list.Notifications[0].Webhook != "approval/held" ||
			list.Notifications[1].ID != later || list.Notifications[1].LastError != "webhook answered 503 Service Unavailable" || list.Notifications[1].Subject != "8a01" {
			t.Fatalf("notifications: %+v", list)
		}
		e.do("GET", "/api/v1/notifications?limit=1", admin, nil).decode(t, http.StatusOK, &list)
		if len(list.Notifications) != 1 {
			t.Errorf("limit=1 gave %d", len(list.Notifications))
		}

		var due struct {
			ID          int64     `json:"id"`
			NextAttempt time.Time `json:"next_attempt"`
		}
		e.do("POST", "/api/v1/notifications/"+strconv.FormatInt(later, 10)+"/retry", admin, nil).decode(t, http.StatusOK, &due)
		if due.ID != later || !due.NextAttempt.Equal(now) {
			t.Errorf("retry: %+v", due)
		}
		e.do("GET", "/api/v1/notifications", admin, nil).decode(t, http.StatusOK, &list)
		if list.Notifications[0].ID != later || list.Notifications[0].LastError == "" {
			t.Errorf("after the retry, the notification is not due first with its error: %+v", list)
		}
		e.do("POST", "/api/v1/notifications/999999/retry", admin, nil).problem(t, 404, "notFound", "delivered, or given up and tidied away")
		e.do("POST", "/api/v1/notifications/x1/retry", admin, nil).problem(t, 404, "notFound", "no notification")
		e.do("GET", "/api/v1/notifications?limit=0", admin, nil).problem(t, 400, "malformed", "limit")
		e.do("GET", "/api/v1/notifications?status=lost", admin, nil).problem(t, 400, "malformed", "status")

		// Given up: listed apart with when and why, until a retry makes it
		// wait again.
		if err := e.store.GiveUpNotification(ctx, sooner, now.Add(2*time.Minute), "webhook answered 410 Gone"); err != nil {
			t.Fatal(err)
		}
		list.Notifications = nil
		e.do("GET", "/api/v1/notifications?status=failed", admin, nil).decode(t, http.StatusOK, &list)
		if len(list.Notifications) != 1 || list.Notifications[0].ID != sooner || !list.Notifications[0].GivenUpAt.Equal(now.Add(2*time.Minute)) ||
			!list.Notifications[0].NextAttempt.IsZero() || list.Notifications[0].LastError != "webhook answered 410 Gone" {
			t.Fatalf("given up: %+v", list)
		}
		e.do("GET", "/api/v1/notifications?status=waiting", admin, nil).decode(t, http.StatusOK, &list)
		if len(list.Notifications) != 1 || list.Notifications[0].ID != later {
			t.Fatalf("waiting with one given up: %+v", list)
		}
		e.do("POST", "/api/v1/notifications/"+strconv.FormatInt(sooner, 10)+"/retry", admin, nil).decode(t, http.StatusOK, &due)
		e.do("GET", "/api/v1/notifications", admin, nil).decode(t, http.StatusOK, &list)
		if len(list.Notifications) != 2 {
			t.Errorf("after the retry of the given-up one: %+v", list)
		}
	})
}
