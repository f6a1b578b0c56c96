package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	pendingRequests = prometheus.NewDesc("gateway_requests_pending",
		"Enrollment requests waiting for an operator's approval, by profile (profiles with approval.methods).",
		[]string{"profile"}, nil)
	waitingNotifications = prometheus.NewDesc("gateway_notifications_waiting",
		"Webhook notifications waiting in the store to be delivered (or tried again), by webhook: approval/PROFILE, notify/PROFILE.",
		[]string{"webhook"}, nil)
)

// PendingCounter counts the pending requests of each profile that has any
// (storage.RequestStore.CountPendingRequests).
type PendingCounter func(ctx context.Context) (map[string]int, error)

// WatchPending reports gateway_requests_pending for each of profiles
// (zero included), asking count at each scrape: one grouped count on an
// index. While count fails, the series are absent.
func (m *Metrics) WatchPending(count PendingCounter, profiles []string) {
	if len(profiles) > 0 {
		m.reg.MustRegister(&countCollector{desc: pendingRequests, count: count, labels: profiles})
	}
}

// WatchNotifications reports gateway_notifications_waiting for each of
// webhooks (zero included), asking count at each scrape
// (storage.NotificationStore.CountNotifications), so that an operator
// sees a webhook that stopped taking them. While count fails, the series
// are absent.
func (m *Metrics) WatchNotifications(count func(ctx context.Context) (map[string]int, error), webhooks []string) {
	if len(webhooks) > 0 {
		m.reg.MustRegister(&countCollector{desc: waitingNotifications, count: count, labels: webhooks})
	}
}

// countCollector reports a gauge with one label, from counts asked at
// each scrape, for each of labels.
type countCollector struct {
	desc   *prometheus.Desc
	count  func(ctx context.Context) (map[string]int, error)
	labels []string
}

func (c *countCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *countCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.count(ctx)
	if err != nil {
		return
	}
	for _, l := range c.labels {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n[l]), l)
	}
}
