package ca

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/certgw/gateway/storage"
)

// TidyStore is what Tidy needs of the store.
type TidyStore interface {
	storage.TidyStore
	AppendAudit(ctx context.Context, e storage.AuditEvent) (int64, error)
}

// TidyPolicy says how long finished records are kept after they expired
// or were decided (config storage.tidy); 0 keeps them.
type TidyPolicy struct {
	ACMEOrders, Certificates, Requests, Notifications time.Duration
}

// TidyCounts says what one round of Tidy deleted.
type TidyCounts struct {
	ACMEOrders, Certificates, Requests, Notifications int
}

// Tidy forgets ACME orders, certificates, enrollment requests and webhook
// notifications given up that have
// outlived their use, so that a busy gateway's store does not grow
// without end: a deployment issuing a certificate a second over ACME
// leaves millions of orders a month. It deletes in commits of Batch
// rows, oldest first, so that issuance goes on meanwhile, and records what
// it deleted in the audit trail ("tidy"). Every replica may run it; they
// delete each row once between them.
type Tidy struct {
	Store  TidyStore
	Policy TidyPolicy
	Log    *slog.Logger
	Now    func() time.Time
	// Batch is how many rows one commit deletes at most (default 1000).
	Batch int
}

// Run deletes what the policy no longer keeps, as of now.
func (t *Tidy) Run(ctx context.Context) (TidyCounts, error) {
	var c TidyCounts
	now := t.Now()
	steps := []struct {
		keep  time.Duration
		tidy  func(context.Context, time.Time, int) (int, error)
		count *int
	}{
		{t.Policy.ACMEOrders, t.Store.TidyACMEOrders, &c.ACMEOrders},
		{t.Policy.Certificates, t.Store.TidyCertificates, &c.Certificates},
		{t.Policy.Requests, t.Store.TidyRequests, &c.Requests},
		{t.Policy.Notifications, t.Store.TidyNotifications, &c.Notifications},
	}
	batch := t.Batch
	if batch <= 0 {
		batch = 1000
	}
	var err error
	for _, s := range steps {
		if s.keep <= 0 {
			continue
		}
		for {
			n, e := s.tidy(ctx, now.Add(-s.keep), batch)
			*s.count += n
			if e != nil {
				err = e
				break
			}
			if n < batch {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if c != (TidyCounts{}) {
		// What was deleted is recorded even when a later step failed.
		if _, aerr := t.Store.AppendAudit(ctx, storage.AuditEvent{At: now, Actor: "gateway tidy", Action: "tidy",
			Detail: fmt.Sprintf("deleted %d ACME orders expired before %s, %d certificates expired before %s, %d requests decided before %s, %d notifications given up before %s",
				c.ACMEOrders, before(now, t.Policy.ACMEOrders), c.Certificates, before(now, t.Policy.Certificates), c.Requests, before(now, t.Policy.Requests),
				c.Notifications, before(now, t.Policy.Notifications)),
		}); aerr != nil && err == nil {
			err = aerr
		}
	}
	return c, err
}

// before names the time a policy keeps records from, or "never".
func before(now time.Time, keep time.Duration) string {
	if keep <= 0 {
		return "never (kept)"
	}
	return now.Add(-keep).UTC().Format(time.RFC3339)
}

// Watch runs Run every interval until ctx ends, and logs what it deleted
// or why it failed (the next round goes on).
func (t *Tidy) Watch(ctx context.Context, interval time.Duration) {
	round := func() {
		c, err := t.Run(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			t.Log.Error("tidy the store", "err", err, "acme_orders", c.ACMEOrders, "certificates", c.Certificates, "requests", c.Requests, "notifications", c.Notifications)
		case c != (TidyCounts{}):
			t.Log.Info("store tidied", "acme_orders", c.ACMEOrders, "certificates", c.Certificates, "requests", c.Requests, "notifications", c.Notifications)
		}
	}
	round()
	every(ctx, interval, nil, round)
}
