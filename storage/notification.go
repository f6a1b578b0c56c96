package storage

import (
	"context"
	"time"
)

// Notification is a webhook post waiting in the store (notify.Outbox)
// until its webhook takes it or it is given up, so that a post outlives a
// restart and a webhook that is down, and any replica may deliver it.
type Notification struct {
	ID int64 // assigned by EnqueueNotification
	// Target names the webhook: "approval/PROFILE" or "notify/PROFILE".
	Target  string
	Event   string // certificate.issued, request.held...
	Subject string // the certificate serial or request ID it is about
	Body    []byte // the JSON posted
	// Attempts counts the claims so far, each one post.
	Attempts    int
	NextAttempt time.Time // due then
	CreatedAt   time.Time
	LastError   string // of the last post that failed
	// GivenUp is when the outbox gave it up (every attempt failed, or no
	// replica has its webhook); zero while it waits. A given-up
	// notification is kept for an operator, who may send it again
	// (RetryNotification), until storage.tidy forgets it.
	GivenUp time.Time
}

// Never is the next attempt of a notification given up: after every
// claim.
var Never = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// MaxNotificationsLimit caps one ListNotifications.
const MaxNotificationsLimit = 1000

// NotificationStore keeps the webhook posts waiting (the outbox).
type NotificationStore interface {
	// EnqueueNotification stores n, due at n.NextAttempt, and returns its
	// ID. Target, Event and Body must be set (errs.Malformed).
	EnqueueNotification(ctx context.Context, n Notification) (int64, error)
	// ClaimNotifications takes up to limit notifications due at now
	// (NextAttempt not after it), those due first first: in one commit
	// it moves their NextAttempt to now+lease and counts an attempt, so
	// that no other claim takes them before the lease ends, and returns
	// them as they are then. A claimant that dies leaves them due again
	// when its lease ends. They come in ID order. limit < 1 is
	// errs.Malformed.
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Notification, error)
	// RetryNotification makes a notification due at at, with the error of
	// the post that failed (lastErr "" keeps the one recorded), waiting
	// again if it was given up, and reports whether the store held it; an
	// ID it no longer holds is not an error.
	RetryNotification(ctx context.Context, id int64, at time.Time, lastErr string) (bool, error)
	// GiveUpNotification marks a notification given up at at, with the
	// error of the last post (lastErr "" keeps the one recorded): no claim
	// takes it again, ListNotifications lists it with givenUp. An ID the
	// store no longer holds is not an error.
	GiveUpNotification(ctx context.Context, id int64, at time.Time, lastErr string) error
	// DeleteNotification forgets a notification delivered. An ID the
	// store no longer holds is not an error.
	DeleteNotification(ctx context.Context, id int64) error
	// CountNotifications counts the notifications waiting (not given
	// up), by Target.
	CountNotifications(ctx context.Context) (map[string]int, error)
	// ListNotifications returns up to limit notifications waiting, those
	// due first first, or with givenUp those given up, the last given up
	// first (limit 1 to MaxNotificationsLimit, else errs.Malformed).
	ListNotifications(ctx context.Context, limit int, givenUp bool) ([]Notification, error)
}
