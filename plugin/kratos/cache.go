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
	bytes   int // the sum of the entries' answer sizes
	// gen counts resets: an answer to a question asked before a reset is
	// not kept (it may predate the revocation the reset was for).
	gen uint64
}

type cacheEntry struct {
	s       Session
	expires time.Time
	size    int // the whoami answer's length in bytes
}

// The cache is bounded in bytes as well as in entries: an identity schema
// with a large free-text trait makes every answer large, and each login
// into it a new session (a new entry). Answers are counted by their length
// on the wire, a fair proxy for what their decoded traits keep alive.
const (
	// cacheMaxBytes bounds the answers kept (a real one is 1–2 KiB, so
	// 10 000 of them fit).
	cacheMaxBytes = 32 << 20
	// cacheMaxAnswer is the largest answer kept; a larger one is asked
	// for again each time.
	cacheMaxAnswer = 64 << 10
)

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
	if ok && (!now.Before(e.expires) || (!e.s.ExpiresAt.IsZero() && !now.Before(e.s.ExpiresAt))) {
		// Dropped when seen, so an expired answer is not kept until the
		// cache fills up.
		c.deleteLocked(k, e)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	s := e.s // a copy: callers may not change the cached value
	return &s, true
}

// asking is called before Kratos is asked: the time of the question and
// the cache's generation, for putAsked.
func (c *sessionCache) asking() (time.Time, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now(), c.gen
}

// put keeps s, whose whoami answer was size bytes long, as asked now.
func (c *sessionCache) put(k [32]byte, s *Session, size int) {
	asked, gen := c.asking()
	c.putAsked(k, s, size, asked, gen)
}

// putAsked keeps s, the answer to a question asked at asked in generation
// gen, until asked plus the TTL: Kratos may have revoked the session any
// time after it answered, so the revocation window counts from the
// question, however long the answer took. An answer to a question asked
// before a reset is dropped, and so is one to a question asked before the
// one whose answer is kept.
func (c *sessionCache) putAsked(k [32]byte, s *Session, size int, asked time.Time, gen uint64) {
	if size > cacheMaxAnswer {
		return
	}
	now := c.now()
	expires := asked.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !now.Before(expires) {
		return
	}
	if old, ok := c.entries[k]; ok {
		if old.expires.After(expires) {
			// The answer to a later question (lookups that missed at once)
			// is newer news, and kept longer: keep it.
			return
		}
		c.deleteLocked(k, old)
	}
	if len(c.entries) >= c.max || c.bytes+size > cacheMaxBytes {
		for key, e := range c.entries {
			if !now.Before(e.expires) {
				c.deleteLocked(key, e)
			}
		}
		if len(c.entries) >= c.max || c.bytes+size > cacheMaxBytes {
			// Still full of live entries: start over rather than grow.
			clear(c.entries)
			c.bytes = 0
		}
	}
	c.entries[k] = cacheEntry{s: *s, expires: expires, size: size}
	c.bytes += size
}

func (c *sessionCache) deleteLocked(k [32]byte, e cacheEntry) {
	delete(c.entries, k)
	c.bytes -= e.size
}

// reset forgets every answer.
func (c *sessionCache) reset() {
	c.mu.Lock()
	clear(c.entries)
	c.bytes = 0
	c.gen++
	c.mu.Unlock()
}
