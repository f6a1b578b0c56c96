// Package ratelimit holds the issuance rate limits of the REST API
// (api.issuances_per_minute) and EST (est.issuances_per_minute): a
// requester stuck in a loop (a pipeline, a device that re-enrolls at every
// boot) would otherwise keep the HSM and the store busy for everyone. Each
// requester may issue N certificates a minute, in a burst of as many, then
// one every 60/N seconds: a token bucket per requester. The buckets are
// this replica's: N replicas allow N times the rate, since a shared count
// would cost a store call per issuance.
package ratelimit

import (
	"crypto/x509/pkix"
	"fmt"
	"math"
	"sync"
	"time"
)

// Limiter holds one token bucket per requester. A nil Limiter limits
// nothing.
type Limiter struct {
	perMinute float64
	setting   string               // the configuration key, for messages
	refused   func(setting string) // Observe's
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

// New is a limiter of perMinute issuances a minute per requester, set by
// the configuration key setting; nil (no limit) when perMinute is not
// positive.
func New(perMinute int, setting string) *Limiter {
	if perMinute <= 0 {
		return nil
	}
	return &Limiter{perMinute: float64(perMinute), setting: setting, buckets: map[string]*bucket{}}
}

// Observe has f told of each refusal, with the limit's setting (a
// metric); it returns l. A nil Limiter stays nil.
func (l *Limiter) Observe(f func(setting string)) *Limiter {
	if l != nil {
		l.refused = f
	}
	return l
}

// Take spends one issuance of requester at now, or returns the
// *Exceeded error that says how long until one is free.
func (l *Limiter) Take(requester string, now time.Time) error {
	return l.take(requester, now, true)
}

// Check is Take without the spending: whether requester has an issuance
// left. A protocol whose credentials are spent by checking them (SCEP's
// one-time challenges) checks before them and takes after them, so that
// a request without credentials spends nobody's issuances, and one past
// the limit spends no credential.
func (l *Limiter) Check(requester string, now time.Time) error {
	return l.take(requester, now, false)
}

func (l *Limiter) take(requester string, now time.Time, spend bool) error {
	if l == nil {
		return nil
	}
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
	if b.tokens >= 1-1e-9 { // refills in steps add up to 1 only nearly
		if spend {
			b.tokens = max(0, b.tokens-1)
		}
		return nil
	}
	wait := time.Duration((1 - b.tokens) / l.perMinute * float64(time.Minute))
	if l.refused != nil {
		l.refused(l.setting)
	}
	return &Exceeded{Requester: requester, PerMinute: l.perMinute, Setting: l.setting, RetryAfter: int(math.Ceil(wait.Seconds()))}
}

// forgetFull drops the buckets that have refilled.
func (l *Limiter) forgetFull(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Minutes()*l.perMinute >= l.perMinute {
			delete(l.buckets, k)
		}
	}
}

// Requester is how a protocol names who it counts under a profile, in
// Take, Check and the refusal's message: "WHO (profile P)".
func Requester(profile, who string) string { return who + " (profile " + profile + ")" }

// Subject names a requester by a certificate request's subject: for
// protocols whose requests name no user (SCEP, CMP), and for renewals,
// where a device renewing in a loop presents a new certificate each time
// but keeps its subject.
func Subject(profile string, subject pkix.Name) string {
	return Requester(profile, "subject "+subject.String())
}

// Exceeded is a requester past its limit: each protocol answers it in
// its own format (a 429 with Retry-After over HTTP).
type Exceeded struct {
	Requester  string
	PerMinute  float64
	Setting    string
	RetryAfter int // seconds until one issuance is free
}

func (e *Exceeded) Error() string {
	return fmt.Sprintf("%s may issue %g certificates a minute on this gateway (%s); retry after %d s", e.Requester, e.PerMinute, e.Setting, e.RetryAfter)
}
