package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/certgw/gateway/storage"
)

// DeliveryHeader names one notification: the same on every attempt, so
// that a receiver can tell a retry from a new notification.
const DeliveryHeader = "X-Gateway-Delivery"

// Outbox delivers the notifications of its webhooks through the store: a
// notification is enqueued when it is decided, before the request it is
// about is answered, and stays in the store until its webhook takes it
// (2xx), refuses it (4xx), or the retries run out. So a post outlives a
// restart of the gateway and a webhook that is down for hours, and any
// replica of a deployment delivers it: each claim takes a notification
// for a lease (one replica posts it at a time) and counts an attempt. A
// failed post (a network error, a 5xx) is tried again after each wait of
// Retries in turn; then it is given up (kept for an operator to see and
// send again until storage.tidy forgets it), logged and counted. Delivery is
// at least once: a replica that dies after a post but before it records
// it leaves the notification to be posted again, with the same
// DeliveryHeader.
type Outbox struct {
	Store storage.NotificationStore
	Log   *slog.Logger
	Now   func() time.Time
	// Retries are the waits after each failed post (default
	// DefaultRetries); after the last, the notification is given up.
	Retries []time.Duration
	// Poll is how often the store is asked for notifications due
	// (default 2s); a notification enqueued here is looked for at once.
	Poll time.Duration
	// Lease is how long a claim keeps a notification from other claims
	// (default 1m; a post times out after 10s).
	Lease time.Duration
	// Batch is how many notifications one claim takes (default 32), and
	// Parallel how many of them are posted at once (default 8).
	Batch, Parallel int

	hooks map[string]*Webhook
	kick  chan struct{}
}

// DefaultRetries try a notification for about a day.
var DefaultRetries = []time.Duration{
	5 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 8 * time.Hour,
}

// Add makes the outbox deliver w's notifications; target names w in the
// store ("approval/PROFILE", "notify/PROFILE") and must name the same
// webhook on every replica.
func (o *Outbox) Add(target string, w *Webhook) {
	if o.hooks == nil {
		o.hooks, o.kick = map[string]*Webhook{}, make(chan struct{}, 1)
	}
	o.hooks[target] = w
	w.outbox, w.target = o, target
}

func (o *Outbox) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// enqueue stores a notification of w, due now, and wakes Run.
func (o *Outbox) enqueue(w *Webhook, event, subject string, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	now := o.now()
	if _, err := o.Store.EnqueueNotification(ctx, storage.Notification{Target: w.target, Event: event, Subject: subject,
		Body: body, NextAttempt: now, CreatedAt: now}); err != nil {
		return err
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

// Run delivers the notifications due, from this process and others,
// until ctx ends; it returns once the posts under way are done.
func (o *Outbox) Run(ctx context.Context) {
	poll := o.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if _, err := o.Flush(ctx); err != nil && ctx.Err() == nil {
			o.log().Warn("notifications: cannot claim from the store", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.kick:
		}
	}
}

// Flush delivers the notifications due now until none is left or ctx
// ends (a command before it exits, gateway serve as it stops), and
// returns how many wait in the store for a later attempt.
func (o *Outbox) Flush(ctx context.Context) (waiting int, err error) {
	for ctx.Err() == nil {
		claimed, retried, err := o.claimAndDeliver(ctx)
		waiting += retried
		if err != nil || claimed == 0 {
			return waiting, err
		}
	}
	return waiting, ctx.Err()
}

func (o *Outbox) batch() int {
	if o.Batch <= 0 {
		return 32
	}
	return o.Batch
}

// claimAndDeliver claims a batch of notifications due and posts them,
// Parallel at once. It returns how many it claimed and how many of them
// wait for another attempt.
func (o *Outbox) claimAndDeliver(ctx context.Context) (claimed, retried int, err error) {
	lease := o.Lease
	if lease <= 0 {
		lease = time.Minute
	}
	ns, err := o.Store.ClaimNotifications(ctx, o.now(), lease, o.batch())
	if err != nil || len(ns) == 0 {
		return 0, 0, err
	}
	parallel := o.Parallel
	if parallel <= 0 {
		parallel = 8
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		sema = make(chan struct{}, parallel)
	)
	for _, n := range ns {
		sema <- struct{}{}
		wg.Go(func() {
			defer func() { <-sema }()
			if o.deliver(n) {
				mu.Lock()
				retried++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(ns), retried, nil
}

// deliver posts one claimed notification and records the outcome; it
// reports whether the notification waits for another attempt.
func (o *Outbox) deliver(n storage.Notification) (waits bool) {
	// The outcome is recorded even as the process stops: the post is made.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	retries := o.Retries
	if retries == nil {
		retries = DefaultRetries
	}
	w := o.hooks[n.Target]
	if w == nil {
		// Another replica's webhook (its configuration is newer or
		// older): left to a replica that knows it, or given up.
		log := o.log().With("target", n.Target, "event", n.Event, "subject", n.Subject, "attempt", n.Attempts)
		if n.Attempts <= len(retries) {
			log.Warn("notification left to another replica: its webhook is not configured here")
			if _, err := o.Store.RetryNotification(ctx, n.ID, o.now().Add(retries[n.Attempts-1]), "webhook "+n.Target+" not configured on a replica"); err != nil {
				log.Warn("notification: cannot record the retry", "err", err)
			}
			return true
		}
		log.Error("notification not delivered; given up: its webhook is not configured")
		o.giveUp(ctx, n, "webhook "+n.Target+" is not configured on any replica that claimed it")
		return false
	}
	log := w.log().With("event", n.Event, "subject", n.Subject, "url", w.URL, "attempt", n.Attempts)
	retry, err := w.post(n.Body, strconv.FormatInt(n.ID, 10))
	switch {
	case err == nil:
		log.Info("notification delivered")
	case retry && n.Attempts <= len(retries):
		at := o.now().Add(retries[n.Attempts-1])
		log.Warn("notification not delivered; trying again", "at", at, "err", err)
		if _, rerr := o.Store.RetryNotification(ctx, n.ID, at, err.Error()); rerr != nil {
			// It comes back when the claim's lease ends.
			log.Warn("notification: cannot record the retry", "err", rerr)
		}
		return true
	default:
		log.Error("notification not delivered; given up", "attempts", n.Attempts, "err", err)
		w.observe(n.Event, err)
		o.giveUp(ctx, n, err.Error())
		return false
	}
	w.observe(n.Event, nil)
	if err := o.Store.DeleteNotification(ctx, n.ID); err != nil {
		// It is posted again when the claim's lease ends.
		o.log().Warn("notification: cannot forget it", "id", n.ID, "err", err)
	}
	return false
}

// giveUp keeps n, given up, for an operator to see and send again (GET
// /api/v1/notifications?status=failed) until storage.tidy forgets it.
func (o *Outbox) giveUp(ctx context.Context, n storage.Notification, lastErr string) {
	if err := o.Store.GiveUpNotification(ctx, n.ID, o.now(), lastErr); err != nil {
		// It is posted again when the claim's lease ends.
		o.log().Warn("notification: cannot record that it was given up", "id", n.ID, "err", err)
	}
}

func (o *Outbox) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// newDeliveryID names a notification posted without the outbox.
func newDeliveryID() string {
	var b [8]byte
	rand.Read(b[:])
	return "m" + hex.EncodeToString(b[:])
}
