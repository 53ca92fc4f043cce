package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit/countertest"
)

// RunClocked runs the parts of the suite that need a fake clock. newStore
// must return an empty (or non-colliding) store that reads the time from
// now (memory.WithClock, redisstore.WithClock).
func RunClocked(t *testing.T, newStore func(t *testing.T, now func() time.Time) Store) {
	// A start's lookup reads the binding's challenge and the start lease at
	// one instant: a double submit's other start, holding the lease, that
	// records its challenge (CreateLeased) while the lookup runs is seen
	// either still holding the lease or done, with its challenge, never
	// neither. Seen neither, a double submit on the last call a limit
	// allows was refused by that start's own take instead of shown its
	// call. The other start lands at each clock read of the lookup in turn
	// (a read under a store's lock lets it land just after).
	t.Run("LookupAndCheckSeesChallengeOrLease", func(t *testing.T) {
		ctx := context.Background()
		for k := 1; ; k++ {
			var (
				mu    sync.Mutex
				reads = -1 // counting from 0 while the lookup runs
				land  func()
			)
			clock := func() time.Time {
				mu.Lock()
				var f func()
				if reads >= 0 {
					if reads++; reads == k {
						f, land = land, nil
					}
				}
				mu.Unlock()
				if f != nil {
					f()
				}
				return time.Now()
			}
			s := newStore(t, clock)
			cs, ok := s.(challenge.CheckingStore)
			counter, ok2 := s.(limit.Counter)
			if !ok || !ok2 {
				t.Skip("the store does not keep the limiter's counters")
			}
			now := msNow()
			b := Bind("double-submit")
			rules := []limit.Take{{Key: "n:" + b.IdentityID, Limit: 1, Window: time.Hour}}
			// The other start holds the lease and took the last call.
			if taken, _, err := s.LeaseStart(ctx, b, "other", time.Minute); err != nil || !taken {
				t.Fatalf("lease: %v %v", taken, err)
			}
			if res, err := counter.Take(ctx, rules); err != nil || !res.Allowed {
				t.Fatalf("take: %+v %v", res, err)
			}
			c := New(b, now, 5*time.Minute)
			done := make(chan struct{})
			mu.Lock()
			reads, land = 0, func() {
				go func() {
					defer close(done)
					if _, created, err := s.CreateLeased(ctx, c, "", now, "other"); err != nil || !created {
						t.Errorf("the other start's CreateLeased: created %v err %v", created, err)
					}
				}()
				select {
				case <-done:
				case <-time.After(100 * time.Millisecond):
				}
			}
			mu.Unlock()
			look, err := cs.LookupAndCheck(ctx, challenge.LookupRequest{Binding: b}, rules)
			mu.Lock()
			fired := land == nil
			reads = -1
			mu.Unlock()
			if !fired {
				return // every clock read of the lookup tried
			}
			<-done
			if found := err == nil && look.Challenge.ID == c.ID; !found && (!errors.Is(err, challenge.ErrNotFound) || !look.StartLeased) {
				t.Fatalf("the other start recorded its challenge at the lookup's clock read %d: lookup found %q, leased %v, err %v; want its challenge or its lease",
					k, look.Challenge.ID, look.StartLeased, err)
			}
		}
	})

	// A start's read-only check (CheckingStore.LookupAndCheck) judges the
	// counters with the same sliding windows as Take, at every step of the
	// counter suite's sliding cases: refused exactly when the take that
	// follows is, by the same rule, with the same wait, counting nothing.
	for _, tc := range countertest.SlidingCases() {
		t.Run("LookupAndCheckSliding/"+tc.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := countertest.NewClock()
			s := newStore(t, clk.Now)
			cs, ok := s.(challenge.CheckingStore)
			counter, ok2 := s.(limit.Counter)
			if !ok || !ok2 {
				t.Skip("the store does not keep the limiter's counters")
			}
			b := Bind("sliding")
			req := challenge.LookupRequest{Binding: b, BanKey: limit.RegulationKey(b.IdentityID)}
			for i, st := range tc.Steps {
				clk.Set(st.At)
				rules := []limit.Take{
					{Key: "ip:" + b.IdentityID, Limit: 1000, Window: tc.Window},
					{Key: "n:" + b.IdentityID, Limit: tc.Limit, Window: tc.Window},
				}
				if st.Limit > 0 {
					rules[1].Limit = st.Limit
				}
				for j := range st.N {
					where := fmt.Sprintf("step %d (at %s), take %d", i, st.At, j+1)
					var check limit.TakeResult
					for range 2 { // checking twice changes nothing
						look, err := cs.LookupAndCheck(ctx, req, rules)
						if err != nil && !errors.Is(err, challenge.ErrNotFound) {
							t.Fatalf("%s: %v", where, err)
						}
						check = look.Check
					}
					allowed := j < st.Allowed
					if check.Counts != nil || check.Allowed != allowed ||
						(allowed && (check.Blocked != -1 || check.RetryAfter != 0)) ||
						(!allowed && (check.Blocked != 1 || check.RetryAfter != st.RetryAfter)) {
						t.Fatalf("%s: check %+v, want allowed %v (or refused by rule 1, retry after %s)", where, check, allowed, st.RetryAfter)
					}
					res, err := counter.Take(ctx, rules)
					if err != nil {
						t.Fatal(err)
					}
					if res.Allowed != check.Allowed || res.Blocked != check.Blocked || res.RetryAfter != check.RetryAfter {
						t.Fatalf("%s: take %+v disagrees with the check %+v", where, res, check)
					}
				}
			}
		})
	}
}
