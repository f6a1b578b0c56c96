package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certgw/gateway/config"
)

// ExpiringWindows are the look-aheads of gateway_certificates_expiring.
var ExpiringWindows = []time.Duration{7 * 24 * time.Hour, 30 * 24 * time.Hour}

// expiringRefresh is how often the store is asked again; scrapes in
// between answer the last counts.
const expiringRefresh = time.Minute

var expiring = prometheus.NewDesc("gateway_certificates_expiring",
	"Active certificates that end within the window and that no later certificate replaced, by profile: "+
		"what lapses unless someone renews it. Counted in the store, at most once a minute.",
	[]string{"profile", "within"}, nil)

// ExpiringCounter counts, by profile, the active certificates ending in
// [now, until) that nothing replaced (storage.Store.CountExpiring).
type ExpiringCounter func(ctx context.Context, now, until time.Time) (map[string]int, error)

// WatchExpiring reports gateway_certificates_expiring for each profile
// (zero included) and each of ExpiringWindows, from count; while count
// fails, the series are absent.
func (m *Metrics) WatchExpiring(count ExpiringCounter, profiles []string, now func() time.Time) {
	m.reg.MustRegister(&expiringCollector{count: count, profiles: profiles, now: now})
}

type expiringCollector struct {
	count    ExpiringCounter
	profiles []string
	now      func() time.Time

	mu     sync.Mutex
	at     time.Time
	counts []map[string]int // by window
}

func (c *expiringCollector) Describe(ch chan<- *prometheus.Desc) { ch <- expiring }

func (c *expiringCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.counts == nil || now.Sub(c.at) >= expiringRefresh {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		counts := make([]map[string]int, len(ExpiringWindows))
		for i, w := range ExpiringWindows {
			n, err := c.count(ctx, now, now.Add(w))
			if err != nil {
				// No series this time (and a fresh try at the next
				// scrape): neither a stale count nor a false zero, and
				// the rest of /metrics still answers while the store
				// does not.
				c.counts = nil
				return
			}
			counts[i] = n
		}
		c.at, c.counts = now, counts
	}
	for i, w := range ExpiringWindows {
		within := config.Duration(w).String()
		for _, p := range c.profiles {
			ch <- prometheus.MustNewConstMetric(expiring, prometheus.GaugeValue, float64(c.counts[i][p]), p, within)
		}
	}
}
