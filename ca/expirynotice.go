package ca

import (
	"context"
	"maps"
	"slices"
	"time"
)

// expiringPage and expiringPerRound bound the certificates TellExpiring
// reads at once and tells in one round; the rest wait for the next.
const (
	expiringPage     = 100
	expiringPerRound = 10000
)

// TellExpiring tells OnEvent, once each, of the certificates of the
// profiles with an ExpiryNotice that end within it and that nothing
// renewed (as the gateway_certificates_expiring metric counts them): of
// replicas sweeping at once, the one that marks a certificate told
// (storage.Store.MarkExpiryTold) tells it. It returns how many it told.
// A certificate is marked before it is told: a webhook that never answers
// misses it, and no certificate is told twice.
func (c *Core) TellExpiring(ctx context.Context) (int, error) {
	if c.OnEvent == nil {
		return 0, nil
	}
	now := c.Now()
	told := 0
	for _, name := range slices.Sorted(maps.Keys(c.Profiles)) {
		p := c.Profiles[name]
		if p.ExpiryNotice <= 0 {
			continue
		}
		for told < expiringPerRound {
			certs, err := c.Store.ExpiringUntold(ctx, name, now, now.Add(p.ExpiryNotice), expiringPage)
			if err != nil {
				return told, err
			}
			for _, cert := range certs {
				ok, err := c.Store.MarkExpiryTold(ctx, cert.Serial, now)
				if err != nil {
					return told, err
				}
				if !ok { // another replica told it
					continue
				}
				c.OnEvent(ctx, CertificateEvent{Kind: "expiring", Serial: cert.Serial, Profile: cert.Profile, CA: cert.CA,
					Method: cert.Method, Requester: cert.Requester, SANs: cert.SANs, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, At: now})
				told++
			}
			if len(certs) < expiringPage {
				break
			}
		}
	}
	return told, nil
}

// WatchExpiring runs TellExpiring every interval until ctx ends, and logs
// what it told or why it failed (the next round tries again).
func (c *Core) WatchExpiring(ctx context.Context, interval time.Duration) {
	round := func() {
		n, err := c.TellExpiring(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			c.Log.Error("tell expiring certificates", "err", err)
		case n > 0:
			c.Log.Info("expiring certificates told", "count", n)
		}
	}
	round()
	every(ctx, interval, nil, round)
}
