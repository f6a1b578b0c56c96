// Package throttle counts the failed attempts of clients at a secret (a
// SCEP challengePassword, an EST password), so that a protocol can stop
// looking at a client's secrets once it has failed too often lately: a
// secret an operator chose cannot be guessed at line speed, and guesses
// cannot keep the gateway's CPUs busy with password hashing. Each replica
// counts its own.
package throttle

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// Failures counts failures per key (a client address, or a profile and an
// address) within a sliding window. The zero value is not usable: set Max
// and Window. It is safe for concurrent use.
type Failures struct {
	// Max failures within Window block a key until the oldest of them
	// is Window old.
	Max    int
	Window time.Duration

	mu   sync.Mutex
	seen map[string][]time.Time // key → times of its recent failures
}

// maxKeys bounds the memory a flood of addresses can take: past it, the
// counts start over rather than grow.
const maxKeys = 100_000

// Blocked reports whether key has failed Max times within the window.
func (f *Failures) Blocked(key string, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recent(key, now)) >= f.Max
}

// Add records a failure of key.
func (f *Failures) Add(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string][]time.Time{}
	}
	if len(f.seen) > maxKeys {
		clear(f.seen)
	}
	f.seen[key] = append(f.recent(key, now), now)
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
