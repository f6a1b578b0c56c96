package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var pendingRequests = prometheus.NewDesc("gateway_requests_pending",
	"Enrollment requests waiting for an operator's approval, by profile (profiles with approval.methods).",
	[]string{"profile"}, nil)

// PendingCounter counts the pending requests of each profile that has any
// (storage.RequestStore.CountPendingRequests).
type PendingCounter func(ctx context.Context) (map[string]int, error)

// WatchPending reports gateway_requests_pending for each of profiles
// (zero included), asking count at each scrape: one grouped count on an
// index. While count fails, the series are absent.
func (m *Metrics) WatchPending(count PendingCounter, profiles []string) {
	if len(profiles) > 0 {
		m.reg.MustRegister(&pendingCollector{count: count, profiles: profiles})
	}
}

type pendingCollector struct {
	count    PendingCounter
	profiles []string
}

func (c *pendingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- pendingRequests }

func (c *pendingCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.count(ctx)
	if err != nil {
		return
	}
	for _, p := range c.profiles {
		ch <- prometheus.MustNewConstMetric(pendingRequests, prometheus.GaugeValue, float64(n[p]), p)
	}
}
