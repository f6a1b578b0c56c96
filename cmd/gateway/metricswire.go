package main

import (
	"github.com/certgw/gateway/metrics"
	"github.com/certgw/gateway/signer"
)

// newMetrics makes the collectors and, with the PKCS#11 pool, reports its
// members.
func newMetrics(d *deps) *metrics.Metrics {
	m := metrics.New()
	if pool, ok := d.signer.(*signer.Pool); ok {
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
