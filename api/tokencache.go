package api

import (
	"sync"
	"time"

	"github.com/certgw/gateway/storage"
)

// tokenTTL is how long a token found in the store is trusted without
// asking the store again: a deleted token (gateway token revoke) stops
// working within it, on every replica.
const tokenTTL = 10 * time.Second

// maxCachedTokens bounds the cache; past it, the cache starts over.
const maxCachedTokens = 1024

// tokenCache keeps the tokens found recently, by the SHA-256 of their
// secret, so that a request does not cost a store read. Secrets that
// matched no token are not kept. It is safe for concurrent use.
type tokenCache struct {
	mu sync.Mutex
	m  map[string]cachedToken
}

type cachedToken struct {
	tok   storage.Token
	until time.Time
}

// get returns the token of hash if it was found less than tokenTTL before
// now.
func (c *tokenCache) get(hash []byte, now time.Time) (storage.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[string(hash)]
	if !ok || !now.Before(e.until) {
		return storage.Token{}, false
	}
	return e.tok, true
}

// put keeps tok, found at now, under hash.
func (c *tokenCache) put(hash []byte, tok storage.Token, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedTokens {
		c.m = make(map[string]cachedToken)
	}
	c.m[string(hash)] = cachedToken{tok: tok, until: now.Add(tokenTTL)}
}
