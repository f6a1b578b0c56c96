package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/certgw/gateway/api"
	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/notify"
	"github.com/certgw/gateway/storage"
)

// notifier delivers what wireNotify wires.
type notifier struct {
	outbox *notify.Outbox
	hooks  []*notify.Webhook
	ran    chan struct{} // closed when run returns; nil until it starts
}

// run delivers the notifications in the store (this replica's and
// others') until ctx ends; a replica without webhooks leaves them to
// those that have them.
func (n *notifier) run(ctx context.Context) {
	if len(n.hooks) == 0 {
		return
	}
	n.ran = make(chan struct{})
	go func() {
		defer close(n.ran)
		n.outbox.Run(ctx)
	}()
}

// wait posts the notifications due now, and waits for the posts from
// memory, for up to limit (gateway serve when it stops, a command that
// decides and exits). false means a post due now failed, so that the
// notification waits in the store for a later attempt by gateway serve,
// or that a post from memory was not done in time. The requests wait in
// the store all the same.
func (n *notifier) wait(limit time.Duration) bool {
	if len(n.hooks) == 0 {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	if n.ran != nil {
		select {
		case <-n.ran:
		case <-ctx.Done():
			return false
		}
	}
	waiting, err := n.outbox.Flush(ctx)
	if err != nil || waiting > 0 {
		return false
	}
	done := make(chan struct{})
	go func() {
		for _, w := range n.hooks {
			w.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// wireNotify has each request held for approval, and its outcome once
// decided, posted to its profile's approval.notify_url, and each
// certificate issued, renewed or revoked to its notify.url (package
// notify), through the store's outbox: each notification is stored as it
// is decided and posted by whichever replica runs the notifier first,
// retried for about a day.
func wireNotify(cfg *config.Config, core *ca.Core, store storage.NotificationStore, log *slog.Logger, observe func(event string, err error)) (*notifier, error) {
	n := &notifier{outbox: &notify.Outbox{Store: store, Log: log.With("component", "notify")}}
	hooks, certHooks := map[string]*notify.Webhook{}, map[string]*notify.Webhook{}
	events := map[string][]string{}
	for _, p := range cfg.Profiles {
		if a := p.Approval; a.NotifyURL != "" {
			w, err := webhook(a.NotifyURL, a.NotifySecretFile, "profile "+p.Name+": approval.notify_secret_file", log.With("component", "notify", "profile", p.Name))
			if err != nil {
				return nil, err
			}
			w.Observe = observe
			hooks[p.Name] = w
			n.outbox.Add(approvalHook(p.Name), w)
			n.hooks = append(n.hooks, w)
		}
		if nc := p.Notify; nc.URL != "" {
			w, err := webhook(nc.URL, nc.SecretFile, "profile "+p.Name+": notify.secret_file", log.With("component", "notify", "profile", p.Name))
			if err != nil {
				return nil, err
			}
			w.Observe = observe
			certHooks[p.Name], events[p.Name] = w, nc.Events
			n.outbox.Add(certificateHook(p.Name), w)
			n.hooks = append(n.hooks, w)
		}
	}
	if len(n.hooks) == 0 {
		return n, nil
	}
	if len(certHooks) > 0 { // else issuances need not describe themselves
		core.OnEvent = func(_ context.Context, ev ca.CertificateEvent) {
			w := certHooks[ev.Profile]
			if w == nil || !slices.Contains(events[ev.Profile], ev.Kind) {
				return
			}
			c := notify.Certificate{Serial: ev.Serial, Profile: ev.Profile, CA: ev.CA, Method: ev.Method, Requester: ev.Requester,
				SANs: ev.SANs, NotBefore: ev.NotBefore, NotAfter: ev.NotAfter, Replaces: ev.Replaces}
			if ev.Kind == "revoked" {
				c.RevocationReason = api.ReasonName(ev.Reason)
			}
			w.Certificate(ev.Kind, c, ev.At)
		}
	}
	core.OnHeld = func(_ context.Context, r storage.Request) {
		if w := hooks[r.Profile]; w != nil {
			w.Held(r)
		}
	}
	core.OnApproval = func(_ context.Context, r storage.Request, need int) {
		if w := hooks[r.Profile]; w != nil && len(r.Approvals) > 0 {
			w.Approval(r, need)
		}
	}
	core.OnDecided = func(_ context.Context, r storage.Request) {
		if w := hooks[r.Profile]; w != nil {
			w.Decided(r)
		}
	}
	return n, nil
}

// approvalHook and certificateHook name a profile's webhooks in the
// store's outbox (notify.Outbox.Add) and in gateway_notifications_waiting.
func approvalHook(profile string) string    { return "approval/" + profile }
func certificateHook(profile string) string { return "notify/" + profile }

// webhookNames lists the webhooks the configuration names, as the outbox
// names them.
func webhookNames(cfg *config.Config) []string {
	var out []string
	for _, p := range cfg.Profiles {
		if p.Approval.NotifyURL != "" {
			out = append(out, approvalHook(p.Name))
		}
		if p.Notify.URL != "" {
			out = append(out, certificateHook(p.Name))
		}
	}
	return out
}

// webhook is a webhook at url, signing with the key in secretFile (named
// key in messages) if set.
func webhook(url, secretFile, key string, log *slog.Logger) (*notify.Webhook, error) {
	w := &notify.Webhook{URL: url, Log: log}
	if secretFile == "" {
		return w, nil
	}
	b, err := os.ReadFile(secretFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if w.Secret = []byte(strings.TrimSpace(string(b))); len(w.Secret) == 0 {
		return nil, fmt.Errorf("%s %s is empty", key, secretFile)
	}
	return w, nil
}

// expiryNoticeInterval is how often gateway serve looks for certificates
// to tell as expiring.
const expiryNoticeInterval = 10 * time.Minute

// notifyFromCLI wires the profiles' webhooks into a command's core, as
// gateway serve does; the command calls told before it exits, which posts
// what is due for up to notifyWait and says so on stderr if some did not
// get through.
func notifyFromCLI(d *deps, core *ca.Core, stderr io.Writer) (told func(), err error) {
	n, err := wireNotify(d.cfg, core, d.store, d.log, nil)
	if err != nil {
		return nil, err
	}
	return func() {
		if !n.wait(notifyWait) {
			fmt.Fprintf(stderr, "the profile's webhooks did not take it within %s; it waits in the store, and gateway serve posts it (retrying for a day)\n", notifyWait)
		}
	}, nil
}
