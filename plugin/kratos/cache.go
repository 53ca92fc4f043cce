package kratos

import (
	"crypto/sha256"
	"sync"
	"time"
)

// sessionCache remembers whoami answers for a short TTL, keyed by a hash of
// the credentials (never the credentials themselves). A session revoked in
// Kratos stays usable here for at most the TTL: that is the revocation
// window the operator accepts by turning the cache on.
type sessionCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[[32]byte]cacheEntry
}

type cacheEntry struct {
	s       Session
	expires time.Time
}

func newSessionCache(ttl time.Duration, max int) *sessionCache {
	return &sessionCache{ttl: ttl, max: max, now: time.Now, entries: map[[32]byte]cacheEntry{}}
}

func cacheKey(cookie, token string) [32]byte {
	h := sha256.New()
	h.Write([]byte(cookie))
	h.Write([]byte{0})
	h.Write([]byte(token))
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

func (c *sessionCache) get(k [32]byte) (*Session, bool) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) || (!e.s.ExpiresAt.IsZero() && !now.Before(e.s.ExpiresAt)) {
		return nil, false
	}
	s := e.s // a copy: callers may not change the cached value
	return &s, true
}

func (c *sessionCache) put(k [32]byte, s *Session) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for key, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= c.max {
			// Still full of live entries: start over rather than grow.
			clear(c.entries)
		}
	}
	c.entries[k] = cacheEntry{s: *s, expires: now.Add(c.ttl)}
}

// reset forgets every answer.
func (c *sessionCache) reset() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
