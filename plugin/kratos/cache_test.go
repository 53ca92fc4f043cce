package kratos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// whoamiServer answers whoami like Kratos and counts the calls.
func whoamiServer(t *testing.T, active *atomic.Bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/sessions/whoami" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":%v,"expires_at":"%s",
			"authenticated_at":"2026-11-25T10:00:00Z","authentication_methods":[{"method":"password"}],
			"identity":{"id":"9a1b7b4a-0000-4000-8000-000000000002","schema_id":"default","schema_url":"x",
			"traits":{"phone":"+79001234567"}}}`, active.Load(), time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

func TestSessionCache(t *testing.T) {
	var active atomic.Bool
	active.Store(true)
	srv, calls := whoamiServer(t, &active)
	obs := &countingObserver{}
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL, SessionCacheTTL: time.Minute, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c.cache.now = func() time.Time { return now }
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		s, err := c.Session(ctx, "", "token-a")
		if err != nil || s.IdentityID != "9a1b7b4a-0000-4000-8000-000000000002" {
			t.Fatalf("session: %v %+v", err, s)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("three lookups of one token within the TTL made %d whoami calls, want 1", n)
	}
	if _, err := c.Session(ctx, "", "token-b"); err != nil || calls.Load() != 2 {
		t.Fatalf("another token must not hit the cache: %v calls %d", err, calls.Load())
	}
	now = now.Add(61 * time.Second)
	if _, err := c.Session(ctx, "", "token-a"); err != nil || calls.Load() != 3 {
		t.Fatalf("after the TTL whoami must be asked again: calls %d", calls.Load())
	}
	if obs.n.Load() != 3 {
		t.Errorf("observer saw %d whoami calls, want 3 (cache hits are not Kratos requests)", obs.n.Load())
	}
	// An inactive session is never cached.
	active.Store(false)
	for i := 0; i < 2; i++ {
		if _, err := c.Session(ctx, "", "token-c"); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 5 {
		t.Errorf("inactive session was cached: calls %d, want 5", calls.Load())
	}
}

func TestNoCacheByDefault(t *testing.T) {
	var active atomic.Bool
	active.Store(true)
	srv, calls := whoamiServer(t, &active)
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := c.Session(context.Background(), "", "t"); err != nil {
			t.Fatal(err)
		}
	}
	if calls.Load() != 2 {
		t.Errorf("without a TTL every lookup must reach Kratos: %d calls", calls.Load())
	}
}

func TestSessionCacheBounded(t *testing.T) {
	sc := newSessionCache(time.Minute, 3)
	for i := 0; i < 10; i++ {
		sc.put(cacheKey("", fmt.Sprint(i)), &Session{ID: fmt.Sprint(i)}, 1000)
	}
	if len(sc.entries) > 3 {
		t.Errorf("cache holds %d entries, bound 3", len(sc.entries))
	}
}

// TestSessionCacheBoundedInBytes: answers are kept up to a byte budget, an
// unusually large answer (a big free-text trait) is not kept at all, and an
// expired answer is dropped when it is read, not when the cache fills up.
func TestSessionCacheBoundedInBytes(t *testing.T) {
	sc := newSessionCache(time.Minute, 1<<30)
	now := time.Now()
	sc.now = func() time.Time { return now }
	sc.put(cacheKey("", "big"), &Session{ID: "big"}, cacheMaxAnswer+1)
	if _, ok := sc.get(cacheKey("", "big")); ok || sc.bytes != 0 {
		t.Errorf("an answer over %d bytes was kept (%d bytes held)", cacheMaxAnswer, sc.bytes)
	}
	const size = 60 << 10
	for i := range 2 * cacheMaxBytes / size {
		sc.put(cacheKey("", fmt.Sprint(i)), &Session{ID: fmt.Sprint(i)}, size)
		if sc.bytes > cacheMaxBytes {
			t.Fatalf("after %d answers of %d bytes the cache holds %d bytes, bound %d", i+1, size, sc.bytes, cacheMaxBytes)
		}
	}
	sum := 0
	for _, e := range sc.entries {
		sum += e.size
	}
	if sum != sc.bytes {
		t.Errorf("byte count %d, entries hold %d", sc.bytes, sum)
	}
	// The same key put twice counts once.
	sc.reset()
	sc.put(cacheKey("", "a"), &Session{ID: "a"}, 100)
	sc.put(cacheKey("", "a"), &Session{ID: "a"}, 100)
	if sc.bytes != 100 {
		t.Errorf("one answer put twice counts %d bytes, want 100", sc.bytes)
	}
	now = now.Add(2 * time.Minute)
	if _, ok := sc.get(cacheKey("", "a")); ok {
		t.Fatal("an expired answer was served")
	}
	if len(sc.entries) != 0 || sc.bytes != 0 {
		t.Errorf("an expired answer was kept after it was read: %d entries, %d bytes", len(sc.entries), sc.bytes)
	}
}

type countingObserver struct{ n atomic.Int64 }

func (o *countingObserver) ObserveKratos(op string, err error, d time.Duration) {
	if op == "whoami" {
		o.n.Add(1)
	}
}

// TestForgetSessions: after ForgetSessions a session revoked in Kratos is
// refused at once, not after the TTL; without a cache it is a no-op.
func TestForgetSessions(t *testing.T) {
	var active atomic.Bool
	active.Store(true)
	srv, calls := whoamiServer(t, &active)
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL, SessionCacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Session(ctx, "", "token-a"); err != nil {
		t.Fatal(err)
	}
	active.Store(false) // revoked in Kratos
	if s, err := c.Session(ctx, "", "token-a"); err != nil || !s.Active || calls.Load() != 1 {
		t.Fatalf("within the TTL the cached answer is used: %+v %v, calls %d", s, err, calls.Load())
	}
	c.ForgetSessions()
	s, err := c.Session(ctx, "", "token-a")
	if calls.Load() != 2 {
		t.Fatalf("after ForgetSessions whoami must be asked again: calls %d", calls.Load())
	}
	if err == nil && s.Active {
		t.Fatalf("a revoked session is still accepted after ForgetSessions: %+v", s)
	}
	plain, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	plain.ForgetSessions() // no cache: must not panic
}

// TestLargeWhoamiAnswerNotCached: the client passes the answer's real size
// to the cache, so a session whose identity carries a large trait is asked
// of Kratos each time instead of pinning its answer.
func TestLargeWhoamiAnswerNotCached(t *testing.T) {
	var calls atomic.Int64
	big := strings.Repeat("x", cacheMaxAnswer)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":true,"expires_at":"%s",
			"authenticated_at":"2026-11-25T10:00:00Z","authentication_methods":[{"method":"password"}],
			"identity":{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"phone":"+79001234567","bio":"%s"}}}`,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339), r.Header.Get("X-Session-Token")+big)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL, SessionCacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := c.Session(t.Context(), "", "t"); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("a %d-byte answer was cached: %d whoami calls for two lookups, want 2", len(big), n)
	}
}

// TestWhoamiAnswerHeadersBounded: the default transport refuses an answer
// with megabytes of headers (Go's default would read 10 MiB of them).
func TestWhoamiAnswerHeadersBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Junk", strings.Repeat("j", 1<<20))
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{PublicURL: srv.URL, AdminURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Session(t.Context(), "", "t")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("whoami answered with 1 MiB of headers: %v, want Kratos unavailable", err)
	}
}

// TestCachedSessionEndsWithTheSession: a cached answer is not served past
// the session's own expires_at, however long the cache TTL.
func TestCachedSessionEndsWithTheSession(t *testing.T) {
	sc := newSessionCache(time.Hour, 10)
	now := time.Now()
	sc.now = func() time.Time { return now }
	k := cacheKey("", "t")
	sc.put(k, &Session{ID: "s", Active: true, ExpiresAt: now.Add(time.Second)}, 100)
	if _, ok := sc.get(k); !ok {
		t.Fatal("a live session's answer was not served from the cache")
	}
	now = now.Add(2 * time.Second)
	if s, ok := sc.get(k); ok {
		t.Errorf("served a session 1 s past its expires_at: %+v", s)
	}
}

// TestSessionCacheWindowCountsFromTheQuestion: an answer is kept for the TTL
// from when Kratos was asked, not from when the answer arrived (a slow
// whoami must not stretch the revocation window past the TTL), and an answer
// to a question asked before ForgetSessions (SIGHUP) is not kept: it may
// predate the revocation the operator signalled for.
func TestSessionCacheWindowCountsFromTheQuestion(t *testing.T) {
	const ttl = time.Minute
	tests := []struct {
		name      string
		delay     time.Duration // the whoami round trip, on the cache's clock
		forget    bool          // ForgetSessions while the answer is on its way
		askAgain  time.Duration // the second lookup, after the first question
		wantCalls int64         // whoami calls after both lookups
	}{
		{"fast answer, within the TTL", 0, false, ttl - time.Second, 1},
		{"fast answer, at the TTL", 0, false, ttl, 2},
		{"slow answer, within the TTL", 20 * time.Second, false, ttl - time.Second, 1},
		{"slow answer, at the TTL from the question", 20 * time.Second, false, ttl, 2},
		{"forgotten while asking", 0, true, 20 * time.Second, 2},
		{"forgotten while asking a slow answer", 20 * time.Second, true, 30 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				now   = time.Now()
				calls atomic.Int64
				c     *Client
			)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					advance(tt.delay)
					if tt.forget {
						c.ForgetSessions()
					}
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":true,"expires_at":"%s",
					"authenticated_at":"2026-11-25T10:00:00Z","authentication_methods":[{"method":"password"}],
					"identity":{"id":"9a1b7b4a-0000-4000-8000-000000000002","traits":{"phone":"+79001234567"}}}`,
					time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339))
			}))
			t.Cleanup(srv.Close)
			var err error
			c, err = New(Config{PublicURL: srv.URL, AdminURL: srv.URL, SessionCacheTTL: ttl})
			if err != nil {
				t.Fatal(err)
			}
			c.cache.now = clock
			asked := clock()
			if _, err := c.Session(context.Background(), "", "token-a"); err != nil {
				t.Fatal(err)
			}
			advance(asked.Add(tt.askAgain).Sub(clock()))
			if _, err := c.Session(context.Background(), "", "token-a"); err != nil {
				t.Fatal(err)
			}
			if n := calls.Load(); n != tt.wantCalls {
				t.Errorf("whoami calls %d, want %d (second lookup %s after the first question, answer took %s, forgotten %v)",
					n, tt.wantCalls, tt.askAgain, tt.delay, tt.forget)
			}
		})
	}
}

// TestSessionCacheKeepsTheLaterQuestion: of two answers for one session
// (concurrent lookups, each a miss), the one to the later question is kept,
// whichever arrives last: an answer to an earlier question is older news
// (it may predate a step-up) and its window ends sooner.
func TestSessionCacheKeepsTheLaterQuestion(t *testing.T) {
	const ttl = time.Minute
	t0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name            string
		firstAsked      time.Duration // the answer put first, asked at t0+firstAsked
		secondAsked     time.Duration // the answer put second
		wantID          string
		wantCachedUntil time.Duration // from t0
	}{
		{"later question answered last", 0, time.Second, "second", ttl + time.Second},
		{"earlier question answered last", time.Second, 0, "first", ttl + time.Second},
		{"same question time", 0, 0, "second", ttl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(2 * time.Second) // both answers arrive now
			c := newSessionCache(ttl, 10)
			c.now = func() time.Time { return now }
			k := cacheKey("", "token-a")
			c.putAsked(k, &Session{ID: "first"}, 100, t0.Add(tt.firstAsked), 0)
			c.putAsked(k, &Session{ID: "second"}, 100, t0.Add(tt.secondAsked), 0)
			if s, ok := c.get(k); !ok || s.ID != tt.wantID {
				t.Fatalf("cached %+v %v, want %q", s, ok, tt.wantID)
			}
			now = t0.Add(tt.wantCachedUntil - time.Nanosecond)
			if _, ok := c.get(k); !ok {
				t.Errorf("not cached %s after t0", tt.wantCachedUntil-time.Nanosecond)
			}
			now = t0.Add(tt.wantCachedUntil)
			if _, ok := c.get(k); ok {
				t.Errorf("still cached %s after t0", tt.wantCachedUntil)
			}
			if c.bytes != 0 || len(c.entries) != 0 {
				t.Errorf("after expiry: %d entries, %d bytes", len(c.entries), c.bytes)
			}
		})
	}
}
