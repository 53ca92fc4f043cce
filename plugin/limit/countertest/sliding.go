package countertest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// Clock is a fake clock the sliding suite moves by hand.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at a fixed whole millisecond (Redis scores in ms).
func NewClock() *Clock { return &Clock{t: time.UnixMilli(1_767_323_045_000)} }

// Now is the clock's time; pass it to the store under test.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set moves the clock to start+d, start being where NewClock began.
func (c *Clock) Set(d time.Duration) {
	c.mu.Lock()
	c.t = time.UnixMilli(1_767_323_045_000).Add(d)
	c.mu.Unlock()
}

// TakeStep takes one rule n times at At (from the clock's start): the first
// Allowed takes must pass, Count being the takes in the window after the
// last of them; the others must be refused with exactly RetryAfter. Limit
// 0 means the case's limit.
type TakeStep struct {
	At         time.Duration
	N, Allowed int
	Count      int
	RetryAfter time.Duration
	Limit      int
}

// SlidingCase is one scenario of one rule.
type SlidingCase struct {
	Name   string
	Limit  int
	Window time.Duration
	Steps  []TakeStep
}

// SlidingCases specify sliding windows: at most Limit takes in ANY span of
// one Window, a take leaving the window exactly Window after it was counted,
// and a refusal lasting until enough takes have left for one more. Each
// fails under a fixed window that starts with its first take and resets one
// window later (the burst across a window's end, the counts, the waits).
func SlidingCases() []SlidingCase {
	const h, m, s = time.Hour, time.Minute, time.Second
	return []SlidingCase{
		{Name: "a burst across the window's end gets one limit, not two", Limit: 5, Window: h, Steps: []TakeStep{
			{At: 0, N: 1, Allowed: 1, Count: 1},
			{At: 59 * m, N: 5, Allowed: 4, Count: 5, RetryAfter: m},             // the 0m take leaves at 60m
			{At: 60*m + s, N: 5, Allowed: 1, Count: 5, RetryAfter: 58*m + 59*s}, // only the 0m take left; the 59m ones leave at 119m
			{At: 118*m + 59*s, N: 1, RetryAfter: s},
			{At: 119 * m, N: 5, Allowed: 4, Count: 5, RetryAfter: m + s}, // the 60m01s take leaves at 120m01s
		}},
		{Name: "a take leaves exactly one window after it", Limit: 2, Window: 10 * m, Steps: []TakeStep{
			{At: 0, N: 2, Allowed: 2, Count: 2},
			{At: 10*m - time.Millisecond, N: 1, RetryAfter: time.Millisecond},
			{At: 10 * m, N: 3, Allowed: 2, Count: 2, RetryAfter: 10 * m},
		}},
		{Name: "a steady trickle counts the last window", Limit: 2, Window: 10 * m, Steps: []TakeStep{
			{At: 0, N: 1, Allowed: 1, Count: 1},
			{At: 5 * m, N: 1, Allowed: 1, Count: 2},
			{At: 10 * m, N: 1, Allowed: 1, Count: 2},
			{At: 14 * m, N: 1, RetryAfter: m},
			{At: 15 * m, N: 1, Allowed: 1, Count: 2},
			{At: 20 * m, N: 2, Allowed: 1, Count: 2, RetryAfter: 5 * m},
		}},
		{Name: "room comes back one take at a time", Limit: 3, Window: h, Steps: []TakeStep{
			{At: 0, N: 1, Allowed: 1, Count: 1},
			{At: 20 * m, N: 1, Allowed: 1, Count: 2},
			{At: 40 * m, N: 1, Allowed: 1, Count: 3},
			{At: 50 * m, N: 1, RetryAfter: 10 * m},
			{At: 60 * m, N: 2, Allowed: 1, Count: 3, RetryAfter: 20 * m},
			{At: 70 * m, N: 1, RetryAfter: 10 * m},
			{At: 80 * m, N: 1, Allowed: 1, Count: 3},
		}},
		{Name: "over the limit (lowered): wait until enough have left", Limit: 3, Window: 10 * m, Steps: []TakeStep{
			{At: 0, N: 1, Allowed: 1, Count: 1},
			{At: m, N: 1, Allowed: 1, Count: 2},
			{At: 2 * m, N: 1, Allowed: 1, Count: 3},
			{At: 3 * m, N: 1, Limit: 2, RetryAfter: 8 * m}, // 3 in the window: the 0m and 1m takes must leave
			{At: 10 * m, N: 1, Limit: 2, RetryAfter: m},
			{At: 11 * m, N: 2, Limit: 2, Allowed: 1, Count: 2, RetryAfter: m},
		}},
	}
}

// FailStep records one failure at At (from the clock's start); Banned says
// whether it must cause a ban (ending BanTime later).
type FailStep struct {
	At     time.Duration
	Banned bool
}

// RegulationCase is one scenario of failures of one key.
type RegulationCase struct {
	Name              string
	FindTime, BanTime time.Duration
	MaxFailures       int
	Steps             []FailStep
}

// RegulationCases specify sliding find times: a ban when MaxFailures
// failures fall within ANY FindTime span, none when they never do. The
// last two fail under a find window fixed from the first failure.
func RegulationCases() []RegulationCase {
	const m = time.Minute
	c := func(name string, steps ...FailStep) RegulationCase {
		return RegulationCase{Name: name, FindTime: 10 * m, BanTime: 15 * m, MaxFailures: 3, Steps: steps}
	}
	return []RegulationCase{
		c("spaced 6 minutes apart: never 3 within 10 minutes", FailStep{At: 0}, FailStep{At: 6 * m}, FailStep{At: 12 * m},
			FailStep{At: 18 * m}, FailStep{At: 24 * m}, FailStep{At: 30 * m}),
		c("3 within 10 minutes", FailStep{At: 0}, FailStep{At: 4 * m}, FailStep{At: 8 * m, Banned: true}),
		c("3 within 10 minutes across the first one's window", FailStep{At: 0}, FailStep{At: 9 * m},
			FailStep{At: 11 * m}, FailStep{At: 12 * m, Banned: true}),
		c("a failure leaves exactly find_time after it", FailStep{At: 0}, FailStep{At: 5 * m},
			FailStep{At: 10 * m}, FailStep{At: 14 * m, Banned: true}),
	}
}

// RunSliding runs the sliding-window suite with a fake clock. newStore must
// return an empty, independent store that reads the time from now
// (memory.WithClock, redisstore.WithClock); only the clock moves, so key
// expiry by real time does not matter.
func RunSliding(t *testing.T, newStore func(t *testing.T, now func() time.Time) Store) {
	ctx := context.Background()
	for _, tc := range SlidingCases() {
		t.Run("Take/"+tc.Name, func(t *testing.T) {
			clk := NewClock()
			s := newStore(t, clk.Now)
			for i, st := range tc.Steps {
				clk.Set(st.At)
				rule := limit.Take{Key: "k", Limit: tc.Limit, Window: tc.Window}
				if st.Limit > 0 {
					rule.Limit = st.Limit
				}
				for j := range st.N {
					res, err := s.Take(ctx, []limit.Take{rule})
					if err != nil {
						t.Fatal(err)
					}
					where := fmt.Sprintf("step %d (at %s), take %d", i, st.At, j+1)
					if j < st.Allowed {
						if !res.Allowed || res.Blocked != -1 || len(res.Counts) != 1 {
							t.Fatalf("%s: %+v, want allowed", where, res)
						}
						if want := st.Count - (st.Allowed - 1 - j); res.Counts[0] != want {
							t.Fatalf("%s: %d takes in the window, want %d", where, res.Counts[0], want)
						}
						continue
					}
					if res.Allowed || res.Blocked != 0 || res.Counts != nil || res.RetryAfter != st.RetryAfter {
						t.Fatalf("%s: %+v, want refused with retry after %s", where, res, st.RetryAfter)
					}
				}
			}
		})
	}

	t.Run("Take/RefusedTakesLeaveNothing", func(t *testing.T) {
		// A take refused by one rule gives back exactly what it added to
		// the others: b keeps only its 0m take, so at 10m a take that fits
		// counts 2, and the next waits for the 0m take (not a later one).
		clk := NewClock()
		s := newStore(t, clk.Now)
		a := limit.Take{Key: "a", Limit: 1, Window: 10 * time.Minute}
		b := limit.Take{Key: "b", Limit: 2, Window: time.Hour}
		mustTake(t, s, true, a, b)
		clk.Set(5 * time.Minute)
		if res := mustTake(t, s, false, b, a); res.Blocked != 1 || res.RetryAfter != 5*time.Minute {
			t.Fatalf("refused by a: %+v, want blocked 1, retry after 5m", res)
		}
		clk.Set(10 * time.Minute)
		if res := mustTake(t, s, true, b, a); res.Counts[0] != 2 || res.Counts[1] != 1 {
			t.Fatalf("counts %v, want [2 1]", res.Counts)
		}
		if res := mustTake(t, s, false, b); res.RetryAfter != 50*time.Minute {
			t.Fatalf("retry after %s, want 50m (the 0m take leaves at 60m)", res.RetryAfter)
		}
	})

	t.Run("Take/ManyEntries", func(t *testing.T) {
		// A big rule (the global budget) keeps working per take: 2000 takes
		// spread over the window, then the oldest leave one by one.
		clk := NewClock()
		s := newStore(t, clk.Now)
		const n = 2000
		g := limit.Take{Key: "g", Limit: n, Window: time.Duration(n) * time.Second}
		for i := range n {
			clk.Set(time.Duration(i) * time.Second)
			if res := mustTake(t, s, true, g); res.Counts[0] != i+1 {
				t.Fatalf("take %d: count %d", i, res.Counts[0])
			}
		}
		if res := mustTake(t, s, false, g); res.RetryAfter != time.Second {
			t.Fatalf("full: retry after %s, want 1s", res.RetryAfter)
		}
		for i := range 3 {
			clk.Set(time.Duration(n+i) * time.Second)
			if res := mustTake(t, s, true, g); res.Counts[0] != n {
				t.Fatalf("after the oldest left: count %d, want %d", res.Counts[0], n)
			}
			mustTake(t, s, false, g)
		}
	})

	for _, tc := range RegulationCases() {
		t.Run("Fail/"+tc.Name, func(t *testing.T) {
			clk := NewClock()
			s := newStore(t, clk.Now)
			for i, st := range tc.Steps {
				clk.Set(st.At)
				until, err := s.Fail(ctx, "r:k", tc.FindTime, tc.MaxFailures, tc.BanTime)
				if err != nil {
					t.Fatal(err)
				}
				want := time.Time{}
				if st.Banned {
					want = clk.Now().Add(tc.BanTime)
				}
				if !until.Equal(want) {
					t.Fatalf("failure %d at %s: ban until %v, want %v", i+1, st.At, until, want)
				}
			}
		})
	}
}
