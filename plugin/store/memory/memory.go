// Package memory is a single-instance store for challenges, limit counters,
// regulation bans and gate passes. Everything lives in mutex-protected maps; a sweeper
// goroutine drops expired entries. Use plugin/store/redis when more than one
// instance serves the same users.
package memory

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	counters   map[string]*slidingLog
	fails      map[string]*slidingLog
	bans       map[string]time.Time
	passes     map[string][]pass
	leases     map[challenge.Binding]lease

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type entry struct {
	c     challenge.Challenge
	purge time.Time // when the entry disappears (ExpiresAt + grace)
}

// slidingLog is one sliding-window counter: the times (UnixNano) of the
// takes or failures still inside its window, oldest first. 8 bytes an
// entry; expired entries are dropped from the front, so a take costs
// O(log n) whatever the count.
type slidingLog struct {
	ts     []int64
	window time.Duration // the rule's window, for the sweeper
}

// first is the index of the first entry inside the window ending at now,
// i.e. later than now-window; entries before it have left.
func (l *slidingLog) first(now int64, window time.Duration) int {
	if len(l.ts) == 0 || l.ts[0] > now-int64(window) {
		return 0 // the usual case: nothing left
	}
	i, _ := slices.BinarySearch(l.ts, now-int64(window)+1)
	return i
}

// trim drops the entries that left the window ending at now and returns
// how many are left. A few dropped are sliced off the front (O(1); append
// later moves the rest to a new array); when most are dropped the rest
// moves to the front of the array, so compact can see its unused capacity.
func (l *slidingLog) trim(now int64, window time.Duration) int {
	if f := l.first(now, window); f > 0 {
		if 2*f >= len(l.ts) {
			l.ts = l.ts[:copy(l.ts, l.ts[f:])]
		} else {
			l.ts = l.ts[f:]
		}
	}
	return len(l.ts)
}

// add records now, keeping the log sorted (a clock stepped back inserts
// instead of appending).
func (l *slidingLog) add(now int64) {
	n := len(l.ts)
	if n == 0 || l.ts[n-1] <= now {
		l.ts = append(l.ts, now)
		return
	}
	i, _ := slices.BinarySearch(l.ts, now+1)
	l.ts = slices.Insert(l.ts, i, now)
}

// retryAfter is, for a log holding at least limit entries in the window
// ending at now, how long until one more fits: when the limit-th newest
// entry leaves (the oldest when the log holds exactly limit). At least 1ms.
func (l *slidingLog) retryAfter(now int64, limit int, window time.Duration) time.Duration {
	return max(time.Duration(l.ts[len(l.ts)-limit]+int64(window)-now), time.Millisecond)
}

// compact gives the capacity of a log that shrank back to the heap (the
// sweeper calls it).
func (l *slidingLog) compact() {
	if cap(l.ts) > 2*len(l.ts)+8 {
		l.ts = append(make([]int64, 0, len(l.ts)), l.ts...)
	}
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
		counters:   make(map[string]*slidingLog),
		fails:      make(map[string]*slidingLog),
		bans:       make(map[string]time.Time),
		passes:     make(map[string][]pass),
		leases:     make(map[challenge.Binding]lease),
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
	for b, l := range s.leases {
		if !now.Before(l.until) {
			delete(s.leases, b)
		}
	}
	ns := now.UnixNano()
	for _, logs := range []map[string]*slidingLog{s.counters, s.fails} {
		for k, l := range logs {
			if l.trim(ns, l.window) == 0 {
				delete(logs, k)
			} else {
				l.compact()
			}
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
	if c.EarlierCodeHashes != nil {
		c.EarlierCodeHashes = append([]byte(nil), c.EarlierCodeHashes...)
	}
	return c
}

// Create implements challenge.Store.
func (s *Store) Create(ctx context.Context, c challenge.Challenge, expectActive string, now time.Time) (challenge.Challenge, bool, error) {
	return s.create(ctx, c, expectActive, now, "")
}

// CreateLeased implements challenge.StartLeaser: Create, and the release of
// the binding's start lease held under token, under one lock.
func (s *Store) CreateLeased(ctx context.Context, c challenge.Challenge, expectActive string, now time.Time, token string) (challenge.Challenge, bool, error) {
	return s.create(ctx, c, expectActive, now, token)
}

// create is Create, releasing the start lease token holds ("": none).
func (s *Store) create(ctx context.Context, c challenge.Challenge, expectActive string, now time.Time, token string) (challenge.Challenge, bool, error) {
	if err := ctx.Err(); err != nil {
		return challenge.Challenge{}, false, err
	}
	if c.ID == "" {
		return challenge.Challenge{}, false, errors.New("memory: challenge without id")
	}
	b := c.Binding()
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[b]; ok && token != "" && l.token == token {
		delete(s.leases, b)
	}
	if curID, ok := s.active[b]; ok {
		if cur, ok := s.lookup(curID); ok && cur.c.State == challenge.StatePending && now.Before(cur.c.ExpiresAt) {
			if expectActive == "" || cur.c.ID != expectActive {
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
	return s.lookupReq(req, now)
}

// lookupReq is Lookup at now; the caller holds mu.
func (s *Store) lookupReq(req challenge.LookupRequest, now time.Time) (challenge.Challenge, time.Time, error) {
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
// count, constant-time comparison, gate pass and the regulation failure of a
// lock under one lock.
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
	var lockBan time.Time
	switch {
	case req.Phone != "" && c.Phone != req.Phone:
		out = challenge.OutcomeNumberChanged
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
				s.recordPass(*req.Pass, c.Phone)
			}
		case c.Attempts >= c.MaxAttempts:
			c.State = challenge.StateLocked
			out = challenge.OutcomeLocked
			// The regulation failure, under the same lock: a concurrent
			// verify of the identity sees the ban it causes.
			if r := req.Regulation; req.BanKey != "" && r.MaxFailures > 0 {
				lockBan = s.fail(req.BanKey, s.now(), r.FindTime, r.MaxFailures, r.BanTime)
			}
		default:
			out = challenge.OutcomeWrong
		}
	}
	return challenge.VerifyReply{Challenge: clone(*c), Outcome: out, LockBannedUntil: lockBan}, nil
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

// LookupAndCheck implements challenge.CheckingStore: Lookup, the start
// lease and a read-only check of the counters under one lock. One, as the
// Redis lookup script reads the challenge and the lease in one step: a
// start recording its challenge (and ending its lease) between two locks
// left neither to see, and a double submit on the last call a limit allows
// was refused by the first start's take instead of shown its call.
func (s *Store) LookupAndCheck(ctx context.Context, req challenge.LookupRequest, checks []limit.Take) (challenge.CheckedLookup, error) {
	if err := ctx.Err(); err != nil {
		return challenge.CheckedLookup{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, until, err := s.lookupReq(req, now)
	out := challenge.CheckedLookup{Challenge: c, BannedUntil: until, Check: s.check(checks, now)}
	if l, ok := s.leases[req.Binding]; ok && req.ID == "" && now.Before(l.until) {
		out.StartLeased = true
	}
	return out, err
}

// check reports whether every take has fewer than its limit within its
// sliding window, changing nothing; s.mu is held.
func (s *Store) check(takes []limit.Take, now time.Time) limit.TakeResult {
	res := limit.TakeResult{Allowed: true, Blocked: -1}
	ns := now.UnixNano()
	for i, t := range takes {
		l := s.counters[t.Key]
		if l == nil || len(l.ts)-l.first(ns, t.Window) < t.Limit {
			continue
		}
		if res.Allowed {
			res.Allowed, res.Blocked = false, i
		}
		res.RetryAfter = max(res.RetryAfter, l.retryAfter(ns, t.Limit, t.Window))
	}
	return res
}

// Take implements limit.Counter: every rule is a sliding log of take
// times; all rules are judged and counted under one lock.
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
	ns := now.UnixNano()
	res.Counts = make([]int, len(takes))
	for i, t := range takes {
		l := s.counters[t.Key]
		if l == nil {
			l = &slidingLog{}
			s.counters[t.Key] = l
		}
		l.window = t.Window
		l.trim(ns, t.Window)
		l.add(ns)
		res.Counts[i] = len(l.ts)
	}
	res.Receipt = strconv.FormatInt(ns, 10)
	return res, nil
}

// GiveBack implements limit.Counter: the receipt is the take's time, and
// one entry of that time leaves each rule's log.
func (s *Store) GiveBack(ctx context.Context, takes []limit.Take, receipt string) error {
	ns, err := strconv.ParseInt(receipt, 10, 64)
	if err != nil {
		return fmt.Errorf("memory store: bad take receipt %q", receipt)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range takes {
		if l := s.counters[t.Key]; l != nil {
			if i, ok := slices.BinarySearch(l.ts, ns); ok {
				l.ts = slices.Delete(l.ts, i, i+1)
			}
		}
	}
	return nil
}

// Fail implements limit.Blocks: the failures are a sliding log of their
// times, forgotten when they cause a ban.
func (s *Store) Fail(ctx context.Context, key string, findTime time.Duration, maxFailures int, banTime time.Duration) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail(key, now, findTime, maxFailures, banTime), nil
}

// fail is Fail at now; the caller holds mu.
func (s *Store) fail(key string, now time.Time, findTime time.Duration, maxFailures int, banTime time.Duration) time.Time {
	if until, ok := s.bans[key]; ok && now.Before(until) {
		return until
	}
	ns := now.UnixNano()
	l := s.fails[key]
	if l == nil {
		l = &slidingLog{}
		s.fails[key] = l
	}
	l.window = findTime
	l.trim(ns, findTime)
	l.add(ns)
	if len(l.ts) < maxFailures {
		return time.Time{}
	}
	delete(s.fails, key)
	until := now.Add(banTime)
	s.bans[key] = until
	return until
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
