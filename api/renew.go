package api

import (
	"context"
	"time"
)

// RunRenewals runs server-driven renewal (ca.Core.RenewDue) at once and
// then every interval until ctx ends. claimant names this replica in the
// store's renewal claims (a host name or a process ID), so that replicas
// sharing a PostgreSQL do not renew one certificate twice.
//
// It lives beside the API rather than in a handler because its result is
// what GET /profiles/{profile}/latest hands out; cmd/gateway starts it in
// its own goroutine. A failed run is logged and retried at the next tick.
func (a *API) RunRenewals(ctx context.Context, every time.Duration, claimant string) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		renewed, err := a.core.RenewDue(ctx, claimant)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			a.log.Error("server-driven renewal", "renewed", len(renewed), "err", err)
		case len(renewed) > 0:
			a.log.Info("server-driven renewal", "renewed", renewed)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
