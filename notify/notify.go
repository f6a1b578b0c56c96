// Package notify tells people outside the gateway that something waits for
// them: an enrollment request held for approval is posted to the webhook
// its profile names (approval.notify_url), and so is its outcome once
// decided (issued, failed, rejected, expired), so that the channel that saw the
// request sees what became of it. A profile's certificates issued, renewed
// and revoked are posted to its notify.url, so that a deployment pipeline
// learns of a server-driven renewal without polling.
//
// The body is JSON with a one-line "text", which chat webhooks (Slack,
// Mattermost, Rocket.Chat and others that read the same field) show as
// it is, and the request's fields for a program. With a secret, each
// body is signed as GitHub signs its webhooks: X-Gateway-Signature:
// sha256=HEX(HMAC-SHA256(secret, body)), so a receiver can tell the
// gateway's posts from anyone's.
//
// A webhook added to an Outbox (as gateway serve and the commands do)
// has its notifications stored as they are decided and posted from the
// store, retried for about a day, by whichever replica (see Outbox).
// Without one, or when the store does not take a notification, delivery
// is best effort from memory and never delays the request it is about: a
// post runs in the background, is retried on a network error or a 5xx
// (three attempts), and a failure is logged; while a webhook is down, at
// most MaxInFlight posts wait for it, and the others are dropped. The
// request waits in the store whether or not anyone was told (GET
// /api/v1/requests, gateway_requests_pending).
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certgw/gateway/storage"
)

// SignatureHeader carries the body's HMAC-SHA256 when a secret is set.
const SignatureHeader = "X-Gateway-Signature"

// Webhook posts notifications to one URL.
type Webhook struct {
	URL    string
	Secret []byte // nil: unsigned
	// Client defaults to one with a 10-second timeout.
	Client *http.Client
	Log    *slog.Logger
	// Attempts (default 3) and Backoff (default 2s, doubled after each
	// attempt) pace the retries.
	Attempts int
	Backoff  time.Duration
	// Observe, if set, is told of each notification once it is delivered
	// (err nil) or given up (metrics).
	Observe func(event string, err error)

	// MaxInFlight bounds the posts under way at once (default 256): past
	// it, while the webhook is slow or down, a notification is dropped and
	// logged rather than queued without end.
	MaxInFlight int

	wg       sync.WaitGroup
	inFlight atomic.Int64
	// Set by Outbox.Add: the notifications go through the store.
	outbox *Outbox
	target string
}

// Event is the body of a notification.
type Event struct {
	Event   string  `json:"event"` // request.pending, request.approval, request.issued, request.failed, request.rejected, request.expired
	Text    string  `json:"text"`
	Request Request `json:"request"`
}

// Request is what a notification says of a request; its CSR is left to
// GET /api/v1/requests/ID. A decided request says who decided, when, and
// the outcome.
type Request struct {
	ID        string     `json:"id"`
	Profile   string     `json:"profile"`
	Method    string     `json:"method"`
	Requester string     `json:"requester"`
	Names     []string   `json:"names"`
	CreatedAt time.Time  `json:"created_at"`
	Status    string     `json:"status"`
	DecidedBy string     `json:"decided_by,omitempty"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	Serial    string     `json:"serial,omitempty"`
	// Approvals names who approved it so far, where its profile wants
	// several approvals.
	Approvals []string `json:"approvals,omitempty"`
}

func requestOf(r storage.Request) Request {
	names := r.Names
	if names == nil {
		names = []string{}
	}
	out := Request{ID: r.ID, Profile: r.Profile, Method: r.Method, Requester: r.Requester, Names: names, CreatedAt: r.CreatedAt.UTC(),
		Status: r.Status, DecidedBy: r.DecidedBy, Reason: r.Reason, Serial: r.Serial}
	if !r.DecidedAt.IsZero() {
		at := r.DecidedAt.UTC()
		out.DecidedAt = &at
	}
	out.Approvals = storage.Approvers(r.Approvals)
	return out
}

// Approval tells the webhook that r, which wants need approvals, got one
// and waits for more, in the background.
func (w *Webhook) Approval(r storage.Request, need int) {
	ev := Event{Event: "request.approval", Request: requestOf(r)}
	last := r.Approvals[len(r.Approvals)-1].By
	ev.Text = fmt.Sprintf("Certificate request %s for %s (profile %s) was approved by %s (%d of %d); it waits for %d more, each by another operator: gateway request approve -id %s",
		r.ID, strings.Join(ev.Request.Names, ", "), r.Profile, last, len(r.Approvals), need, need-len(r.Approvals), r.ID)
	w.send(r.ID, ev)
}

// Held tells the webhook that r waits for approval, in the background.
func (w *Webhook) Held(r storage.Request) {
	ev := Event{Event: "request.pending", Request: requestOf(r)}
	ev.Text = fmt.Sprintf("Certificate request %s for %s (profile %s, %s, by %s) waits for approval: gateway request approve -id %s",
		r.ID, strings.Join(ev.Request.Names, ", "), r.Profile, r.Method, r.Requester, r.ID)
	w.send(r.ID, ev)
}

// Decided tells the webhook what became of r, a request that waited for
// approval: issued (approved, with its certificate's serial), failed
// (approved, but the issuance failed), rejected, or expired undecided, in
// the background. A request in another state is not told.
func (w *Webhook) Decided(r storage.Request) {
	ev := Event{Event: "request." + r.Status, Request: requestOf(r)}
	about := fmt.Sprintf("Certificate request %s for %s (profile %s)", r.ID, strings.Join(ev.Request.Names, ", "), r.Profile)
	switch r.Status {
	case storage.RequestIssued:
		ev.Text = fmt.Sprintf("%s was approved by %s and issued: serial %s", about, r.DecidedBy, r.Serial)
	case storage.RequestFailed:
		ev.Text = fmt.Sprintf("%s was approved by %s, but its issuance failed: %s", about, r.DecidedBy, r.Reason)
	case storage.RequestRejected:
		ev.Text = fmt.Sprintf("%s was rejected by %s: %s", about, r.DecidedBy, r.Reason)
	case storage.RequestExpired:
		ev.Text = fmt.Sprintf("%s expired: %s; its client's next attempt makes a new request", about, r.Reason)
	default:
		return
	}
	w.send(r.ID, ev)
}

// send posts ev in the background.
func (w *Webhook) send(id string, ev Event) { w.sendBody("request", id, ev.Event, ev) }

// sendBody posts v, the event about the request or certificate (what) id,
// in the background.
func (w *Webhook) sendBody(what, id, event string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		w.log().Error("encode a notification", what, id, "err", err)
		return
	}
	if w.outbox != nil {
		err := w.outbox.enqueue(w, event, id, body)
		if err == nil {
			return
		}
		// Posted from memory, as without an outbox: lost if the process
		// stops first.
		w.log().Warn("notification not stored; posting it from memory", what, id, "event", event, "err", err)
	}
	limit := int64(w.MaxInFlight)
	if limit <= 0 {
		limit = 256
	}
	if w.inFlight.Add(1) > limit {
		w.inFlight.Add(-1)
		err := fmt.Errorf("%d notifications already under way", limit)
		w.log().Error("notification dropped", what, id, "event", event, "url", w.URL, "err", err)
		w.observe(event, err)
		return
	}
	w.wg.Go(func() {
		defer w.inFlight.Add(-1)
		w.deliver(what, id, event, body, newDeliveryID())
	})
}

// CertificateEvent is the body of a certificate notification.
type CertificateEvent struct {
	Event       string      `json:"event"` // certificate.issued, certificate.renewed, certificate.revoked, certificate.expiring
	Text        string      `json:"text"`
	At          time.Time   `json:"at"`
	Certificate Certificate `json:"certificate"`
}

// Certificate is what a notification says of a certificate; the
// certificate itself is GET /api/v1/certificates/SERIAL/pem.
type Certificate struct {
	Serial    string    `json:"serial"`
	Profile   string    `json:"profile"`
	CA        string    `json:"ca"`
	Method    string    `json:"method"`
	Requester string    `json:"requester"` // for a revocation, who revoked it
	SANs      []string  `json:"sans"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	// Replaces is the certificate a renewal renews.
	Replaces string `json:"replaces,omitempty"`
	// RevocationReason is the RFC 5280 reason of a revocation.
	RevocationReason string `json:"revocation_reason,omitempty"`
}

// Certificate tells the webhook of a certificate issued, renewed, revoked
// or expiring (kind), in the background.
func (w *Webhook) Certificate(kind string, c Certificate, at time.Time) {
	if c.SANs == nil {
		c.SANs = []string{}
	}
	c.NotBefore, c.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	ev := CertificateEvent{Event: "certificate." + kind, At: at.UTC(), Certificate: c}
	about := fmt.Sprintf("Certificate %s for %s (profile %s)", c.Serial, strings.Join(c.SANs, ", "), c.Profile)
	until := c.NotAfter.Format(time.RFC3339)
	switch kind {
	case "issued":
		ev.Text = fmt.Sprintf("%s was issued to %s (%s), valid until %s", about, c.Requester, c.Method, until)
	case "renewed":
		ev.Text = fmt.Sprintf("%s renews %s, valid until %s: GET /api/v1/profiles/%s/latest has it", about, c.Replaces, until, c.Profile)
	case "revoked":
		ev.Text = fmt.Sprintf("%s was revoked by %s: %s", about, c.Requester, c.RevocationReason)
	case "expiring":
		days := int(c.NotAfter.Sub(at).Hours() / 24)
		ev.Text = fmt.Sprintf("%s expires at %s (in %d days) and nothing renewed it", about, until, days)
	default:
		return
	}
	w.sendBody("serial", c.Serial, ev.Event, ev)
}

// Wait returns once the notifications under way are delivered or given
// up (for a clean shutdown, and for tests).
func (w *Webhook) Wait() { w.wg.Wait() }

func (w *Webhook) deliver(what, id, event string, body []byte, delivery string) {
	attempts, backoff := w.Attempts, w.Backoff
	if attempts <= 0 {
		attempts = 3
	}
	if backoff <= 0 {
		backoff = 2 * time.Second
	}
	var err error
	for i := range attempts {
		if i > 0 {
			time.Sleep(backoff)
			backoff *= 2
		}
		var retry bool
		if retry, err = w.post(body, delivery); err == nil {
			w.log().Info("notification delivered", what, id, "event", event, "url", w.URL)
			w.observe(event, nil)
			return
		} else if !retry {
			break
		}
	}
	w.log().Error("notification not delivered", what, id, "event", event, "url", w.URL, "err", err)
	w.observe(event, err)
}

// post sends body once, named delivery (DeliveryHeader); retry says
// whether another attempt may do better (a network error or a 5xx, not a
// 4xx).
func (w *Webhook) post(body []byte, delivery string) (retry bool, err error) {
	return w.postAs(body, delivery, "application/json")
}

// postAs is post with the body's content type.
func (w *Webhook) postAs(body []byte, delivery, contentType string) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "certgw-gateway")
	req.Header.Set(DeliveryHeader, delivery)
	if w.Secret != nil {
		req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		return resp.StatusCode >= 500, fmt.Errorf("webhook answered %s", resp.Status)
	}
	return false, nil
}

// Sign is the SignatureHeader value of body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

func (w *Webhook) log() *slog.Logger {
	if w.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Log
}

func (w *Webhook) observe(event string, err error) {
	if w.Observe != nil {
		w.Observe(event, err)
	}
}
