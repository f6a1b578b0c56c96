package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/storage"
)

// NotificationJSON is a webhook notification waiting in the store's
// outbox (notify.Outbox), as GET /notifications shows it.
type NotificationJSON struct {
	ID          int64     `json:"id"`
	Webhook     string    `json:"webhook"` // approval/PROFILE or notify/PROFILE
	Event       string    `json:"event"`
	Subject     string    `json:"subject"` // the request ID or certificate serial
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	CreatedAt   time.Time `json:"created_at"`
	LastError   string    `json:"last_error,omitempty"`
}

type notificationList struct {
	Notifications []NotificationJSON `json:"notifications"`
}

func notificationOf(n storage.Notification) NotificationJSON {
	return NotificationJSON{ID: n.ID, Webhook: n.Target, Event: n.Event, Subject: n.Subject, Attempts: n.Attempts,
		NextAttempt: n.NextAttempt.UTC(), CreatedAt: n.CreatedAt.UTC(), LastError: n.LastError}
}

// notifications lists the notifications waiting for their webhook, those
// due first first: GET /notifications. An operator sees what a webhook
// that is down has missed, and why.
func (a *API) notifications(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, "limit")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	limit, err := q.limit()
	if err != nil {
		a.problem(w, r, err)
		return
	}
	if limit == 0 {
		limit = 100
	}
	ns, err := a.store.ListNotifications(r.Context(), min(limit, storage.MaxNotificationsLimit))
	if err != nil {
		a.problem(w, r, err)
		return
	}
	out := notificationList{Notifications: []NotificationJSON{}}
	for _, n := range ns {
		out.Notifications = append(out.Notifications, notificationOf(n))
	}
	writeJSON(w, http.StatusOK, out)
}

// retryNotification makes a waiting notification due now, for a webhook
// that works again: POST /notifications/{id}/retry. The replica that
// claims it first posts it, within seconds.
func (a *API) retryNotification(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id < 1 {
		a.problem(w, r, errs.New(errs.NotFound, "no notification %q", chi.URLParam(r, "id")))
		return
	}
	now := a.now()
	held, err := a.store.RetryNotification(r.Context(), id, now, "")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	if !held {
		a.problem(w, r, errs.New(errs.NotFound, "no notification %d waits: it was delivered or given up", id))
		return
	}
	a.log.Info("notification due again", "id", id, "by", requester(r))
	writeJSON(w, http.StatusOK, retryResponse{ID: id, NextAttempt: now.UTC()})
}

type retryResponse struct {
	ID          int64     `json:"id"`
	NextAttempt time.Time `json:"next_attempt"`
}
