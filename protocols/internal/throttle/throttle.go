// Package throttle counts the failed attempts of clients at a secret (a
// SCEP challengePassword, an EST password), so that a protocol can stop
// looking at a client's secrets once it has failed too often lately: a
// secret an operator chose cannot be guessed at line speed, and guesses
// cannot keep the gateway's CPUs busy with password hashing. With Shared
// (the store), every replica counts the same failures; each also keeps its
// own count, which stands in while the store does not answer.
package throttle

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Shared counts failures where every replica sees them
// (storage.AuthFailureStore).
type Shared interface {
	RecordAuthFailure(ctx context.Context, scope, key string, at, keepSince time.Time) error
	CountAuthFailures(ctx context.Context, scope, key string, since time.Time) (int, error)
}

// Failures counts failures per key (a client address, or a profile and an
// address) within a sliding window. The zero value is not usable: set Max
// and Window. It is safe for concurrent use.
type Failures struct {
	// Max failures within Window block a key until the oldest of them
	// is Window old.
	Max    int
	Window time.Duration
	// Shared, if set, is asked by Blocked and told by Add, under Scope
	// ("est", "scep"), so that the failures at every replica add up.
	Shared Shared
	Scope  string

	mu   sync.Mutex
	seen map[string][]time.Time // key → times of its recent failures
}

// maxKeys bounds the memory a flood of addresses can take: past it, the
// counts start over rather than grow.
const maxKeys = 100_000

// Blocked reports whether key has failed Max times within the window: in
// this process, or, with Shared, at all the replicas together (this
// process's count alone if the store does not answer).
func (f *Failures) Blocked(ctx context.Context, key string, now time.Time) bool {
	f.mu.Lock()
	local := len(f.recent(key, now)) >= f.Max
	f.mu.Unlock()
	if local || f.Shared == nil {
		return local
	}
	// A failure exactly Window old no longer counts, as here.
	n, err := f.Shared.CountAuthFailures(ctx, f.Scope, key, now.Add(-f.Window+time.Microsecond))
	return err == nil && n >= f.Max
}

// Add records a failure of key, and with Shared in the store too; its
// error is the store's (the failure counts here all the same).
func (f *Failures) Add(ctx context.Context, key string, now time.Time) error {
	f.mu.Lock()
	if f.seen == nil {
		f.seen = map[string][]time.Time{}
	}
	if len(f.seen) > maxKeys {
		clear(f.seen)
	}
	f.seen[key] = append(f.recent(key, now), now)
	f.mu.Unlock()
	if f.Shared == nil {
		return nil
	}
	return f.Shared.RecordAuthFailure(context.WithoutCancel(ctx), f.Scope, key, now, now.Add(-f.Window))
}

// recent drops key's failures older than the window; f.mu is held.
func (f *Failures) recent(key string, now time.Time) []time.Time {
	ts := f.seen[key]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= f.Window {
		i++
	}
	if i == len(ts) {
		delete(f.seen, key)
		return nil
	}
	f.seen[key] = ts[i:]
	return ts[i:]
}

// ClientAddr is the IP address of r's client, without its port.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
