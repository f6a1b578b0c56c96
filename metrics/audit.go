package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var auditSealed = prometheus.NewDesc("gateway_audit_sealed_timestamp_seconds",
	"When the audit trail was last sealed (the newest checkpoint, Unix time): one that falls behind audit.checkpoint_every is a seal that fails.",
	nil, nil)

// WatchAuditSeal reports gateway_audit_sealed_timestamp_seconds, asking
// last at each scrape for the time of the newest checkpoint (zero: none
// yet). While last fails, the series is absent.
func (m *Metrics) WatchAuditSeal(last func(ctx context.Context) (time.Time, error)) {
	m.reg.MustRegister(&sealCollector{last: last})
}

type sealCollector struct {
	last func(ctx context.Context) (time.Time, error)
}

func (c *sealCollector) Describe(ch chan<- *prometheus.Desc) { ch <- auditSealed }

func (c *sealCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	at, err := c.last(ctx)
	if err != nil {
		return
	}
	v := 0.0
	if !at.IsZero() {
		v = float64(at.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(auditSealed, prometheus.GaugeValue, v)
}
