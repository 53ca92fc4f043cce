package storetest

import (
	"context"
	"errors"
	"fmt"
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
