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
	ID       int64  `json:"id"`
	Webhook  string `json:"webhook"` // approval/PROFILE or notify/PROFILE
	Event    string `json:"event"`
	Subject  string `json:"subject"` // the request ID or certificate serial
	Attempts int    `json:"attempts"`
	// NextAttempt is when it is due, while it waits.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	LastError   string     `json:"last_error,omitempty"`
	// GivenUpAt is set for a notification given up (status=failed).
	GivenUpAt *time.Time `json:"given_up_at,omitempty"`
}

type notificationList struct {
	Notifications []NotificationJSON `json:"notifications"`
}

func notificationOf(n storage.Notification) NotificationJSON {
	j := NotificationJSON{ID: n.ID, Webhook: n.Target, Event: n.Event, Subject: n.Subject, Attempts: n.Attempts,
		CreatedAt: n.CreatedAt.UTC(), LastError: n.LastError}
	if n.GivenUp.IsZero() {
		next := n.NextAttempt.UTC()
		j.NextAttempt = &next
	} else {
		at := n.GivenUp.UTC()
		j.GivenUpAt = &at
	}
	return j
}

// notifications lists the notifications waiting for their webhook, those
// due first first, or with status=failed those given up, the last given
// up first: GET /notifications. An operator sees what a webhook that is
// down has missed, and why.
func (a *API) notifications(w http.ResponseWriter, r *http.Request) {
	q, err := parseQuery(r, "limit", "status")
	if err != nil {
		a.problem(w, r, err)
		return
	}
	var givenUp bool
	switch st := q.str("status"); st {
	case "", "waiting":
	case "failed":
		givenUp = true
	default:
		a.problem(w, r, errs.New(errs.Malformed, "query parameter status: %q is not waiting or failed", st))
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
	ns, err := a.store.ListNotifications(r.Context(), min(limit, storage.MaxNotificationsLimit), givenUp)
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

// retryNotification makes a notification, waiting or given up, due now,
// for a webhook that works again: POST /notifications/{id}/retry. The
// replica that claims it first posts it, within seconds; one given up
// that fails again is given up again.
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
		a.problem(w, r, errs.New(errs.NotFound, "no notification %d: it was delivered, or given up and tidied away", id))
		return
	}
	a.log.Info("notification due again", "id", id, "by", requester(r))
	writeJSON(w, http.StatusOK, retryResponse{ID: id, NextAttempt: now.UTC()})
}

type retryResponse struct {
	ID          int64     `json:"id"`
	NextAttempt time.Time `json:"next_attempt"`
}
