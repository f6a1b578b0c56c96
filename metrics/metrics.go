// Package metrics is the gateway's Prometheus instrumentation, served at
// /metrics on its own listener (listen.metrics): certificates issued and
// requests refused per profile, method and issuer; revocations; requests
// per listener and route with their latency; the signer pool's members;
// and the Go runtime and process. It has a registry of its own, so tests
// and several gateways in one process do not share counters.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/certgw/gateway/errs"
)

// Metrics holds the gateway's collectors. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg      *prometheus.Registry
	issued   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	revoked  *prometheus.CounterVec
	requests *prometheus.HistogramVec
	upstream *prometheus.HistogramVec
	signerOp *prometheus.HistogramVec
	commits  *prometheus.HistogramVec
	batches  prometheus.Histogram
	notified *prometheus.CounterVec
	limited  *prometheus.CounterVec
}

// New registers the collectors in a new registry.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_certificates_issued_total",
			Help: "Certificates issued, by profile, enrollment method and issuer (a gateway CA or an upstream).",
		}, []string{"profile", "method", "issuer"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_issuance_failures_total",
			Help: "Issuance requests that ended without a certificate, by profile, method and error kind (badCSR, rejectedIdentifier, unavailable, internal...).",
		}, []string{"profile", "method", "kind"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_certificates_revoked_total",
			Help: "Revocations recorded, by issuer and RFC 5280 reason code.",
		}, []string{"issuer", "reason"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_http_request_duration_seconds",
			Help:    "HTTP requests, by listener, route pattern and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"listener", "route", "code"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_upstream_order_duration_seconds",
			Help:    "Orders at external ACME CAs (upstreams), from request to certificate or failure, by upstream and result (ok, or the error kind).",
			Buckets: []float64{.25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, []string{"upstream", "result"}),
		signerOp: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_signer_operation_duration_seconds",
			Help:    "Operations of the signer pool's members, from asking for a session to the token's answer, by member, operation (sign, decrypt) and result (ok, error).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"member", "operation", "result"}),
		commits: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_store_commit_duration_seconds",
			Help:    "Batches of the store's writes (group commit), from their first statement to their commit, by whether the commit waited for the disk (flushed) and result (ok, error).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"flushed", "result"}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_store_commit_writes",
			Help:    "Writes that shared one commit of the store (group commit).",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_notifications_total",
			Help: "Webhook notifications (approval requests and certificate events), by event and result: delivered, or failed after every attempt.",
		}, []string{"event", "result"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_rate_limited_total",
			Help: "Issuance requests refused by an issuance rate limit, by its setting (api.issuances_per_minute, est..., scep..., cmp...).",
		}, []string{"setting"}),
	}
	m.reg.MustRegister(m.issued, m.refused, m.revoked, m.requests, m.upstream, m.signerOp, m.commits, m.batches, m.notified, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Issued counts a certificate (ca.Observer).
func (m *Metrics) Issued(profile, method, issuer string) {
	m.issued.WithLabelValues(profile, method, issuer).Inc()
}

// Refused counts a request that ended in err (ca.Observer).
func (m *Metrics) Refused(profile, method string, err error) {
	m.refused.WithLabelValues(profile, method, errs.KindOf(err).String()).Inc()
}

// Upstream times an order at an external CA (ca.Observer).
func (m *Metrics) Upstream(upstream string, took time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = errs.KindOf(err).String()
	}
	m.upstream.WithLabelValues(upstream, result).Observe(took.Seconds())
}

// RateLimited counts a request an issuance rate limit refused
// (ratelimit.Limiter.Observe).
func (m *Metrics) RateLimited(setting string) {
	m.limited.WithLabelValues(setting).Inc()
}

// Revoked counts a revocation (ca.Observer).
func (m *Metrics) Revoked(issuer string, reason int) {
	m.revoked.WithLabelValues(issuer, strconv.Itoa(reason)).Inc()
}

// Request observes one HTTP request (server.Config.Observe). route is the
// pattern that matched ("" for none).
func (m *Metrics) Request(listener, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched" // one series, not one per path a scanner tries
	}
	m.requests.WithLabelValues(listener, route, strconv.Itoa(status)).Observe(d.Seconds())
}

// SignerOperation observes one operation of a signer pool member
// (signer.OperationObserver).
func (m *Metrics) SignerOperation(member, op string, took time.Duration, err error) {
	m.signerOp.WithLabelValues(member, op, result(err)).Observe(took.Seconds())
}

// Commit observes one batch of the store's writes (the stores'
// ObserveCommits).
func (m *Metrics) Commit(writes int, flushed bool, took time.Duration, err error) {
	m.commits.WithLabelValues(strconv.FormatBool(flushed), result(err)).Observe(took.Seconds())
	m.batches.Observe(float64(writes))
}

// Notification counts a webhook notification of event, delivered (err
// nil) or not.
func (m *Metrics) Notification(event string, err error) {
	r := "delivered"
	if err != nil {
		r = "failed"
	}
	m.notified.WithLabelValues(event, r).Inc()
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// MemberStatus is what the signer pool says of one member
// (signer.MemberStatus).
type MemberStatus struct {
	Member string
	Up     bool
	Uses   uint64
}

// WatchSigner reports the signer pool's members when scraped: whether
// each is up, and how many operations it has done.
func (m *Metrics) WatchSigner(status func() []MemberStatus) {
	m.reg.MustRegister(&signerCollector{status: status})
}

// WatchCAs reports when the certificates of the CAs this process signs
// with end (gateway_ca_certificate_not_after_seconds), for an alert well
// before: leaves are cut to their CA's end, and nothing is issued after it.
// notAfter is asked at each scrape, so a renewed CA shows its new end.
func (m *Metrics) WatchCAs(notAfter map[string]func() time.Time) {
	for name, end := range notAfter {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "gateway_ca_certificate_not_after_seconds",
			Help:        "When the certificate of a CA this process signs with ends, in seconds since the Unix epoch.",
			ConstLabels: prometheus.Labels{"ca": name},
		}, func() float64 { return float64(end().Unix()) }))
	}
}

var (
	memberUp = prometheus.NewDesc("gateway_signer_member_up",
		"Whether a PKCS#11 member of the signer pool is up (1) or down or failed (0).", []string{"member"}, nil)
	memberUses = prometheus.NewDesc("gateway_signer_operations_total",
		"Signatures and decryptions a PKCS#11 member of the signer pool has made since start.", []string{"member"}, nil)
)

type signerCollector struct{ status func() []MemberStatus }

func (c *signerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- memberUp
	ch <- memberUses
}

func (c *signerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.status() {
		up := 0.0
		if s.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(memberUp, prometheus.GaugeValue, up, s.Member)
		ch <- prometheus.MustNewConstMetric(memberUses, prometheus.CounterValue, float64(s.Uses), s.Member)
	}
}
