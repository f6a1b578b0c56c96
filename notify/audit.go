package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/certgw/gateway/storage"
)

// AuditSource is what the forwarder reads and records.
type AuditSource interface {
	AuditEventsAfter(ctx context.Context, afterID int64, limit int) ([]storage.AuditEvent, error)
	storage.AuditForwardStore
}

// AuditForwarder posts the audit trail, as it grows, to a collector: a
// SIEM's HTTP input (Splunk HEC raw, Elastic, Vector, Fluent Bit...), so
// that the security team sees every issuance, revocation, key export and
// operator action where it watches everything else. Events go in ID
// order, a batch per post as newline-delimited JSON, signed as webhooks
// are (SignatureHeader) and named by DeliveryHeader "audit-FIRST-LAST".
// The position is kept in the store, so a restart or another replica
// goes on where it stopped; delivery is at least once (two replicas may
// post the same batch; a receiver drops a repeat by the event's id). A
// post that fails is tried again at the next round, from the same event:
// nothing is skipped.
type AuditForwarder struct {
	Store   AuditSource
	Webhook *Webhook // URL, Secret, Client
	// Target names the position in the store (default "audit").
	Target string
	// Batch is how many events one post carries at most (default 500).
	Batch int
	// Lag is how old an event must be to go (default 5s), so that a
	// replica's transaction still committing, with a lower ID, is not
	// passed over: one still open after Lag would be.
	Lag time.Duration
	Log *slog.Logger
	Now func() time.Time
}

// auditLine is one event as posted.
type auditLine struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Profile string    `json:"profile,omitempty"`
	Serial  string    `json:"serial,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	DER     []byte    `json:"der,omitempty"` // the certificate of an issuance, base64
}

// Forward posts what is new, a batch at a time, and returns how many
// events it posted.
func (f *AuditForwarder) Forward(ctx context.Context) (int, error) {
	target, batch, lag := f.Target, f.Batch, f.Lag
	if target == "" {
		target = "audit"
	}
	if batch <= 0 {
		batch = 500
	}
	if lag <= 0 {
		lag = 5 * time.Second
	}
	total := 0
	for {
		from, err := f.Store.AuditForwarded(ctx, target)
		if err != nil {
			return total, err
		}
		events, err := f.Store.AuditEventsAfter(ctx, from, batch)
		if err != nil {
			return total, err
		}
		cutoff := f.Now().Add(-lag)
		for i, e := range events {
			if !e.At.Before(cutoff) {
				events = events[:i]
				break
			}
		}
		if len(events) == 0 {
			return total, nil
		}
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for _, e := range events {
			if err := enc.Encode(auditLine{ID: e.ID, At: e.At.UTC(), Actor: e.Actor, Action: e.Action, Profile: e.Profile, Serial: e.Serial, Detail: e.Detail, DER: e.DER}); err != nil {
				return total, err
			}
		}
		first, last := events[0].ID, events[len(events)-1].ID
		if _, err := f.Webhook.postAs(body.Bytes(), fmt.Sprintf("audit-%d-%d", first, last), "application/x-ndjson"); err != nil {
			return total, fmt.Errorf("audit events %d to %d: %w", first, last, err)
		}
		moved, err := f.Store.AdvanceAuditForward(ctx, target, from, last, f.Now())
		if err != nil {
			return total, err
		}
		if moved {
			total += len(events)
		}
		if len(events) < batch && moved {
			return total, nil
		}
	}
}

// Watch forwards every interval until ctx ends; a round that fails is
// logged, and the next goes on from the same event.
func (f *AuditForwarder) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := f.Forward(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			f.log().Error("audit trail not forwarded; trying again", "url", f.Webhook.URL, "forwarded", n, "err", err)
			failing = true
		case failing && err == nil:
			f.log().Info("audit trail forwarded again", "url", f.Webhook.URL, "events", n)
			failing = false
		}
	}
}

func (f *AuditForwarder) log() *slog.Logger {
	if f.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return f.Log
}
