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

// wireNotify has each request held for approval, and its outcome once
// decided, posted to its profile's approval.notify_url, and each
// certificate issued, renewed or revoked to its notify.url (package
// notify).
//
// wait returns once the posts under way are delivered or given up, or
// after limit, whichever comes first (gateway serve when it stops, a
// command that decides and exits); false means some were dropped. The
// requests wait in the store all the same.
func wireNotify(cfg *config.Config, core *ca.Core, log *slog.Logger, observe func(event string, err error)) (wait func(limit time.Duration) bool, err error) {
	wait = func(time.Duration) bool { return true }
	hooks, certHooks := map[string]*notify.Webhook{}, map[string]*notify.Webhook{}
	events := map[string][]string{}
	for _, p := range cfg.Profiles {
		if a := p.Approval; a.NotifyURL != "" {
			w, err := webhook(a.NotifyURL, a.NotifySecretFile, "approval.notify_secret_file", p.Name, log)
			if err != nil {
				return wait, err
			}
			w.Observe = observe
			hooks[p.Name] = w
		}
		if n := p.Notify; n.URL != "" {
			w, err := webhook(n.URL, n.SecretFile, "notify.secret_file", p.Name, log)
			if err != nil {
				return wait, err
			}
			w.Observe = observe
			certHooks[p.Name], events[p.Name] = w, n.Events
		}
	}
	if len(hooks) == 0 && len(certHooks) == 0 {
		return wait, nil
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
	wait = func(limit time.Duration) bool {
		done := make(chan struct{})
		go func() {
			for _, hs := range []map[string]*notify.Webhook{hooks, certHooks} {
				for _, w := range hs {
					w.Wait()
				}
			}
			close(done)
		}()
		select {
		case <-done:
			return true
		case <-time.After(limit):
			return false
		}
	}
	return wait, nil
}

// webhook is a profile's webhook at url, signing with the key in
// secretFile (named key in messages) if set.
func webhook(url, secretFile, key, profile string, log *slog.Logger) (*notify.Webhook, error) {
	w := &notify.Webhook{URL: url, Log: log.With("component", "notify", "profile", profile)}
	if secretFile == "" {
		return w, nil
	}
	b, err := os.ReadFile(secretFile)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %s: %w", profile, key, err)
	}
	if w.Secret = []byte(strings.TrimSpace(string(b))); len(w.Secret) == 0 {
		return nil, fmt.Errorf("profile %s: %s %s is empty", profile, key, secretFile)
	}
	return w, nil
}

// expiryNoticeInterval is how often gateway serve looks for certificates
// to tell as expiring.
const expiryNoticeInterval = 10 * time.Minute

// notifyFromCLI wires the profiles' webhooks into a command's core, as
// gateway serve does; the command calls told before it exits, which waits
// up to notifyWait for the posts and says so on stderr if they did not
// get through.
func notifyFromCLI(d *deps, core *ca.Core, stderr io.Writer) (told func(), err error) {
	wait, err := wireNotify(d.cfg, core, d.log, nil)
	if err != nil {
		return nil, err
	}
	return func() {
		if !wait(notifyWait) {
			fmt.Fprintf(stderr, "the profile's webhooks did not answer within %s; they were not told of it\n", notifyWait)
		}
	}, nil
}
