package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/config"
	"github.com/certgw/gateway/notify"
	"github.com/certgw/gateway/storage"
)

// wireNotify has each request held for approval, and its outcome once
// decided, posted to its profile's approval.notify_url (package notify).
//
// wait returns once the posts under way are delivered or given up, or
// after limit, whichever comes first (gateway serve when it stops, a
// command that decides and exits); false means some were dropped. The
// requests wait in the store all the same.
func wireNotify(cfg *config.Config, core *ca.Core, log *slog.Logger) (wait func(limit time.Duration) bool, err error) {
	wait = func(time.Duration) bool { return true }
	hooks := map[string]*notify.Webhook{}
	for _, p := range cfg.Profiles {
		a := p.Approval
		if a.NotifyURL == "" {
			continue
		}
		w := &notify.Webhook{URL: a.NotifyURL, Log: log.With("component", "notify", "profile", p.Name)}
		if a.NotifySecretFile != "" {
			b, err := os.ReadFile(a.NotifySecretFile)
			if err != nil {
				return wait, fmt.Errorf("profile %s: approval.notify_secret_file: %w", p.Name, err)
			}
			if w.Secret = []byte(strings.TrimSpace(string(b))); len(w.Secret) == 0 {
				return wait, fmt.Errorf("profile %s: approval.notify_secret_file %s is empty", p.Name, a.NotifySecretFile)
			}
		}
		hooks[p.Name] = w
	}
	if len(hooks) == 0 {
		return wait, nil
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
			for _, w := range hooks {
				w.Wait()
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
