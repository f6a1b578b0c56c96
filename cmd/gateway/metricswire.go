package main

import (
	"context"
	"slices"
	"time"

	"github.com/certgw/gateway/ca"
	"github.com/certgw/gateway/errs"
	"github.com/certgw/gateway/metrics"
	"github.com/certgw/gateway/signer"
)

// newMetrics makes the collectors, reports when the CAs' certificates end
// and the certificates of each profile about to lapse, the requests
// waiting for approval, the notifications waiting for their webhook, when
// the audit trail was last sealed, and, with the PKCS#11 pool, reports its
// members.
func newMetrics(d *deps, core *ca.Core) *metrics.Metrics {
	cas := core.CAs
	m := metrics.New()
	profiles := make([]string, 0, len(core.Profiles))
	for name := range core.Profiles {
		profiles = append(profiles, name)
	}
	slices.Sort(profiles)
	m.WatchExpiring(d.store.CountExpiring, profiles, time.Now)
	var held []string
	for _, name := range profiles {
		if len(core.Profiles[name].Approval) > 0 {
			held = append(held, name)
		}
	}
	m.WatchPending(d.store.CountPendingRequests, held)
	m.WatchNotifications(d.store.CountNotifications, webhookNames(d.cfg))
	m.WatchAuditSeal(func(ctx context.Context) (time.Time, error) {
		cp, err := d.store.LastAuditCheckpoint(ctx)
		if errs.Is(err, errs.NotFound) {
			return time.Time{}, nil
		}
		return cp.At, err
	})
	ends := make(map[string]func() time.Time, len(cas))
	for name, a := range cas {
		ends[name] = func() time.Time { return a.Cert().NotAfter }
	}
	m.WatchCAs(ends)
	if st, ok := d.store.(interface {
		ObserveCommits(func(writes int, flushed bool, took time.Duration, err error))
	}); ok {
		st.ObserveCommits(m.Commit)
	}
	if pool, ok := d.signer.(*signer.Pool); ok {
		pool.Observe(m.SignerOperation)
		m.WatchSigner(func() []metrics.MemberStatus {
			st := pool.Status()
			out := make([]metrics.MemberStatus, len(st))
			for i, s := range st {
				out[i] = metrics.MemberStatus{Member: s.Member, Up: s.State == "up", Uses: s.Signs}
			}
			return out
		})
	}
	return m
}
