package sqlite

import (
	"sync"
	"time"

	"github.com/certgw/gateway/errs"
)

// nonceSet keeps the ACME nonces of the embedded store in memory.
//
// A nonce is single-use and short-lived, and worth nothing after a restart:
// a client that presents a forgotten one gets badNonce with a fresh nonce
// and retries (RFC 8555 section 6.5). The embedded store serves exactly one
// gateway process, so no other replica needs to see them; keeping them out
// of the file spares every ACME request two durable commits. (PostgreSQL,
// shared by replicas, keeps them in an UNLOGGED table for the same reason.)
type nonceSet struct {
	mu      sync.Mutex
	expires map[string]time.Time
	ops     int
}

// maxNonces bounds the memory a flood of newNonce requests can take.
const maxNonces = 1 << 20

func newNonceSet() *nonceSet { return &nonceSet{expires: map[string]time.Time{}} }

func (n *nonceSet) insert(nonce string, expires time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, dup := n.expires[nonce]; dup {
		return errs.New(errs.Conflict, "sqlite: ACME nonce exists")
	}
	if len(n.expires) >= maxNonces {
		n.purge(time.Now())
		if len(n.expires) >= maxNonces {
			return errs.New(errs.Unavailable, "sqlite: too many outstanding ACME nonces")
		}
	}
	n.expires[nonce] = expires
	return nil
}

// consume reports whether nonce was outstanding and unexpired, and forgets
// it either way.
func (n *nonceSet) consume(nonce string, now time.Time) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	exp, ok := n.expires[nonce]
	delete(n.expires, nonce)
	if n.ops++; n.ops%1024 == 0 {
		n.purge(now)
	}
	return ok && exp.After(now)
}

func (n *nonceSet) purge(now time.Time) {
	for k, exp := range n.expires {
		if !exp.After(now) {
			delete(n.expires, k)
		}
	}
}
