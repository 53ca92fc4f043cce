// Package memory is a single-instance store for challenges, limit counters,
// regulation bans and gate passes. Everything lives in mutex-protected maps; a sweeper
// goroutine drops expired entries. Use plugin/store/redis when more than one
// instance serves the same users.
package memory

import (
	"context"
	"crypto/subtle"
	"errors"
	"sync"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// Store implements challenge.Store, limit.Counter, limit.Blocks and the gate
// pass claims of factor.PassStore. One mutex guards everything, so a verify
// that records a gate pass is one critical section, like the one Redis
// script.
type Store struct {
	now   func() time.Time
	grace time.Duration

	mu         sync.Mutex
	challenges map[string]*entry
	active     map[challenge.Binding]string
	counters   map[string]*counter
	fails      map[string]*counter
	bans       map[string]time.Time
	passes     map[string][]pass

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type entry struct {
	c     challenge.Challenge
	purge time.Time // when the entry disappears (ExpiresAt + grace)
}

type counter struct {
	n       int
	resetAt time.Time
}

var (
	_ challenge.Store = (*Store)(nil)
	_ limit.Counter   = (*Store)(nil)
	_ limit.Blocks    = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for counters, bans and purging (tests).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithGrace sets how long a challenge is kept after ExpiresAt (default 1m),
// so a late verify gets "expired" instead of "not found".
func WithGrace(d time.Duration) Option { return func(s *Store) { s.grace = d } }

// New starts a Store and its sweeper (every sweepInterval; 0 means 30s).
// Call Close to stop the sweeper.
func New(sweepInterval time.Duration, opts ...Option) *Store {
	s := &Store{
		now:        time.Now,
		grace:      time.Minute,
		challenges: make(map[string]*entry),
		active:     make(map[challenge.Binding]string),
		counters:   make(map[string]*counter),
		fails:      make(map[string]*counter),
		bans:       make(map[string]time.Time),
		passes:     make(map[string][]pass),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	if sweepInterval <= 0 {
		sweepInterval = 30 * time.Second
	}
	go s.sweepLoop(sweepInterval)
	return s
}

// Close stops the sweeper. The store stays usable.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func (s *Store) sweepLoop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep drops every expired entry now.
func (s *Store) Sweep() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, e := range s.challenges {
		if !now.Before(e.purge) {
			delete(s.challenges, id)
		}
	}
	for b, id := range s.active {
		if _, ok := s.challenges[id]; !ok {
			delete(s.active, b)
		}
	}
	for k, c := range s.counters {
		if !now.Before(c.resetAt) {
			delete(s.counters, k)
		}
	}
	for k, c := range s.fails {
		if !now.Before(c.resetAt) {
			delete(s.fails, k)
		}
	}
	for k, until := range s.bans {
		if !now.Before(until) {
			delete(s.bans, k)
		}
	}
	for id := range s.passes {
		s.livePasses(id, now)
	}
}

// Len returns the number of stored challenges (tests, metrics).
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.challenges)
}

// lookup returns the live entry for id; the caller holds mu.
func (s *Store) lookup(id string) (*entry, bool) {
	e, ok := s.challenges[id]
	if !ok {
		return nil, false
	}
	if !s.now().Before(e.purge) {
		delete(s.challenges, id)
		return nil, false
	}
	return e, true
}

func clone(c challenge.Challenge) challenge.Challenge {
	c.CodeHash = append([]byte(nil), c.CodeHash...)
	return c
}

// Create implements challenge.Store.
func (s *Store) Create(ctx context.Context, c challenge.Challenge, replace bool, now time.Time) (challenge.Challenge, bool, error) {
	if err := ctx.Err(); err != nil {
		return challenge.Challenge{}, false, err
	}
	if c.ID == "" {
		return challenge.Challenge{}, false, errors.New("memory: challenge without id")
	}
	b := c.Binding()
	s.mu.Lock()
	defer s.mu.Unlock()
	if curID, ok := s.active[b]; ok {
		if cur, ok := s.lookup(curID); ok && cur.c.State == challenge.StatePending && now.Before(cur.c.ExpiresAt) {
			if !replace {
				return clone(cur.c), false, nil
			}
			cur.c.State = challenge.StateSuperseded
		}
	}
	c = clone(c)
	s.challenges[c.ID] = &entry{c: c, purge: c.ExpiresAt.Add(s.grace)}
	s.active[b] = c.ID
	return clone(c), true, nil
}

// Get implements challenge.Store.
func (s *Store) Get(ctx context.Context, id string) (challenge.Challenge, error) {
	if err := ctx.Err(); err != nil {
		return challenge.Challenge{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.lookup(id)
	if !ok {
		return challenge.Challenge{}, challenge.ErrNotFound
	}
	return clone(e.c), nil
}

// Lookup implements challenge.Store.
func (s *Store) Lookup(ctx context.Context, req challenge.LookupRequest) (challenge.Challenge, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return challenge.Challenge{}, time.Time{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var until time.Time
	if req.BanKey != "" {
		until = s.bannedUntil(req.BanKey, now)
	}
	e, ok := s.find(req.ID, req.Binding)
	if !ok {
		return challenge.Challenge{}, until, challenge.ErrNotFound
	}
	return clone(e.c), until, nil
}

// find returns the live entry with id, or (id "") b's active challenge. An
// id whose tag is not b's is not found. The caller holds mu.
func (s *Store) find(id string, b challenge.Binding) (*entry, bool) {
	if id == "" {
		cur, ok := s.active[b]
		if !ok {
			return nil, false
		}
		e, ok := s.lookup(cur)
		if !ok {
			delete(s.active, b)
		}
		return e, ok
	}
	if tag, ok := challenge.IDTag(id); !ok || tag != b.Tag() {
		return nil, false
	}
	return s.lookup(id)
}

// Verify implements challenge.Store: ban, challenge, binding, refusals,
// count, constant-time comparison and gate pass under one lock.
func (s *Store) Verify(ctx context.Context, req challenge.VerifyRequest) (challenge.VerifyReply, error) {
	if err := ctx.Err(); err != nil {
		return challenge.VerifyReply{}, err
	}
	if req.Pass != nil && req.Pass.IdentityID != req.Binding.IdentityID {
		return challenge.VerifyReply{}, errPassIdentity
	}
	now := req.Now
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.BanKey != "" {
		if until := s.bannedUntil(req.BanKey, now); !until.IsZero() {
			return challenge.VerifyReply{Outcome: challenge.OutcomeBanned, BannedUntil: until}, nil
		}
	}
	e, ok := s.find(req.ID, req.Binding)
	if !ok || e.c.Binding() != req.Binding {
		return challenge.VerifyReply{}, challenge.ErrNotFound
	}
	c := &e.c
	var out challenge.Outcome
	switch {
	case c.State == challenge.StateVerified:
		out = challenge.OutcomeUsed
	case c.State == challenge.StateLocked:
		out = challenge.OutcomeExhausted
	case c.State == challenge.StateSuperseded:
		out = challenge.OutcomeSuperseded
	case c.State == challenge.StateExpired:
		out = challenge.OutcomeExpired
	case !now.Before(c.ExpiresAt):
		c.State = challenge.StateExpired
		out = challenge.OutcomeExpired
	case c.Attempts >= c.MaxAttempts:
		c.State = challenge.StateLocked
		out = challenge.OutcomeExhausted
	default:
		c.Attempts++
		matched := len(c.CodeHash) > 0 && subtle.ConstantTimeCompare(req.Sum, c.CodeHash) == 1
		switch {
		case matched:
			c.State = challenge.StateVerified
			c.VerifiedAt = now
			out = challenge.OutcomeVerified
			if req.Pass != nil {
				s.recordPass(*req.Pass)
			}
		case c.Attempts >= c.MaxAttempts:
			c.State = challenge.StateLocked
			out = challenge.OutcomeLocked
		default:
			out = challenge.OutcomeWrong
		}
	}
	return challenge.VerifyReply{Challenge: clone(*c), Outcome: out}, nil
}

// UpdateCall implements challenge.Store.
func (s *Store) UpdateCall(ctx context.Context, id string, st flashcall.Status) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.lookup(id); ok {
		e.c.CallStatus = st.Raw
		e.c.CallClass = st.Class
	}
	return nil
}

// Ping implements challenge.Store; memory is always reachable.
func (s *Store) Ping(ctx context.Context) error { return ctx.Err() }

// LookupAndCheck implements challenge.CheckingStore: Lookup and a read-only
// check of the counters (no round trip to save here; one lock each).
func (s *Store) LookupAndCheck(ctx context.Context, req challenge.LookupRequest, checks []limit.Take) (challenge.Challenge, time.Time, limit.TakeResult, error) {
	c, until, err := s.Lookup(ctx, req)
	if err != nil && !errors.Is(err, challenge.ErrNotFound) {
		return c, until, limit.TakeResult{}, err
	}
	s.mu.Lock()
	check := s.check(checks, s.now())
	s.mu.Unlock()
	return c, until, check, err
}

// check reports whether every take is below its limit; s.mu is held.
func (s *Store) check(takes []limit.Take, now time.Time) limit.TakeResult {
	res := limit.TakeResult{Allowed: true, Blocked: -1}
	for i, t := range takes {
		c := s.counters[t.Key]
		if c == nil || !now.Before(c.resetAt) {
			continue
		}
		if c.n >= t.Limit {
			if res.Allowed {
				res.Allowed, res.Blocked = false, i
			}
			res.RetryAfter = max(res.RetryAfter, c.resetAt.Sub(now))
		}
	}
	return res
}

// Take implements limit.Counter.
func (s *Store) Take(ctx context.Context, takes []limit.Take) (limit.TakeResult, error) {
	if err := ctx.Err(); err != nil {
		return limit.TakeResult{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.check(takes, now)
	if !res.Allowed {
		return res, nil
	}
	res.Counts = make([]int, len(takes))
	for i, t := range takes {
		c := s.counters[t.Key]
		if c == nil || !now.Before(c.resetAt) {
			c = &counter{resetAt: now.Add(t.Window)}
			s.counters[t.Key] = c
		}
		c.n++
		res.Counts[i] = c.n
	}
	return res, nil
}

// Fail implements limit.Blocks.
func (s *Store) Fail(ctx context.Context, key string, findTime time.Duration, maxFailures int, banTime time.Duration) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if until, ok := s.bans[key]; ok && now.Before(until) {
		return until, nil
	}
	c := s.fails[key]
	if c == nil || !now.Before(c.resetAt) {
		c = &counter{resetAt: now.Add(findTime)}
		s.fails[key] = c
	}
	c.n++
	if c.n < maxFailures {
		return time.Time{}, nil
	}
	delete(s.fails, key)
	until := now.Add(banTime)
	s.bans[key] = until
	return until, nil
}

// BlockedUntil implements limit.Blocks.
func (s *Store) BlockedUntil(ctx context.Context, key string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bannedUntil(key, now), nil
}

// bannedUntil is the end of the ban on key, or zero; the caller holds mu.
func (s *Store) bannedUntil(key string, now time.Time) time.Time {
	until, ok := s.bans[key]
	if !ok || !now.Before(until) {
		return time.Time{}
	}
	return until
}
