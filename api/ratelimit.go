package api

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Issuance rate limits (api.issuances_per_minute): a pipeline stuck in a
// loop would otherwise keep the HSM and the store busy for everyone. Each
// token (each OpenID Connect subject, each client certificate) may issue
// that many certificates a minute, in a burst of as many, then one every
// 60/N seconds: a token bucket per requester. Every issuing request
// counts (a first issuance, a renewal on request, a repeat polling for a
// held or asynchronous request), except an idempotent replay, which
// issues nothing. The buckets are this replica's: N replicas allow N
// times the rate. A request beyond it is a 429 with Retry-After.

// issueLimiter holds one token bucket per requester.
type issueLimiter struct {
	perMinute float64
	mu        sync.Mutex
	buckets   map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the requesters remembered; past it, full buckets
// (requesters idle for a minute at least) are forgotten.
const maxBuckets = 10000

// take spends one issuance of requester at now, or says how long until
// one is free.
func (l *issueLimiter) take(requester string, now time.Time) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[requester]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.forgetFull(now)
		}
		b = &bucket{tokens: l.perMinute, at: now}
		l.buckets[requester] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(l.perMinute, b.tokens+d.Minutes()*l.perMinute)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.perMinute * float64(time.Minute))
}

// forgetFull drops the buckets that have refilled.
func (l *issueLimiter) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Minutes()*l.perMinute >= l.perMinute {
			delete(l.buckets, k)
		}
	}
}

// limitIssuance answers 429 to a requester past api.issuances_per_minute.
func (a *API) limitIssuance(next http.Handler) http.Handler {
	if a.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who := requester(r)
		if ok, wait := a.limiter.take(who, a.now()); !ok {
			secs := int(math.Ceil(wait.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			a.log.Info("issuance rate limited", "requester", who, "retry_after", secs)
			writeProblem(w, Problem{Type: problemTypePrefix + "rateLimited", Title: "Too many issuances", Status: http.StatusTooManyRequests,
				Detail: fmt.Sprintf("%s may issue %g certificates a minute on this gateway (api.issuances_per_minute); retry after %d s", who, a.limiter.perMinute, secs)})
			return
		}
		next.ServeHTTP(w, r)
	})
}
