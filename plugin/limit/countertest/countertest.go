// Package countertest is the conformance suite every limit.Counter and
// limit.Blocks implementation must pass. Run uses real time with short
// windows, so it works against stores that expire keys themselves (Redis);
// RunSliding specifies the sliding windows (any span of one window holds at
// most Limit takes; a ban follows MaxFailures failures within any FindTime)
// with a fake clock and exact times.
package countertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// Store is what the suite needs.
type Store interface {
	limit.Counter
	limit.Blocks
}

// Run runs the suite. newStore must return an empty, independent store (or
// one whose keys do not collide between calls).
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Run("TakeUpToLimit", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		rule := []limit.Take{{Key: "k", Limit: 3, Window: time.Minute}}
		for i := range 3 {
			res, err := s.Take(ctx, rule)
			if err != nil || !res.Allowed || res.Blocked != -1 {
				t.Fatalf("take %d: %+v, %v; want allowed", i, res, err)
			}
		}
		res, err := s.Take(ctx, rule)
		if err != nil {
			t.Fatal(err)
		}
		if res.Allowed || res.Blocked != 0 {
			t.Fatalf("4th take: %+v; want blocked by rule 0", res)
		}
		if res.RetryAfter <= 0 || res.RetryAfter > time.Minute {
			t.Fatalf("retry-after %s, want within (0, 1m]", res.RetryAfter)
		}
	})

	t.Run("CountsAfterTake", func(t *testing.T) {
		s := newStore(t)
		a := limit.Take{Key: "ca", Limit: 10, Window: time.Minute}
		b := limit.Take{Key: "cb", Limit: 10, Window: time.Minute}
		mustTake(t, s, true, a)
		res := mustTake(t, s, true, b, a)
		if len(res.Counts) != 2 || res.Counts[0] != 1 || res.Counts[1] != 2 {
			t.Fatalf("counts %v, want [1 2] in takes order", res.Counts)
		}
	})

	t.Run("DeniedIncrementsNothing", func(t *testing.T) {
		s := newStore(t)
		a := limit.Take{Key: "a", Limit: 1, Window: time.Minute}
		b := limit.Take{Key: "b", Limit: 3, Window: time.Minute}
		mustTake(t, s, true, a, b)
		// a is full: this take must not move b.
		res := mustTake(t, s, false, b, a)
		if res.Blocked != 1 {
			t.Fatalf("blocked index %d, want 1 (rule a)", res.Blocked)
		}
		mustTake(t, s, false, b, a)
		// b was counted once, so two more fit.
		mustTake(t, s, true, b)
		mustTake(t, s, true, b)
		mustTake(t, s, false, b)
	})

	t.Run("GiveBack", func(t *testing.T) {
		// A take given back leaves every rule's log as if it had not
		// happened, and only that take: the others stay counted.
		s := newStore(t)
		ctx := context.Background()
		a := limit.Take{Key: "ga", Limit: 2, Window: time.Minute}
		b := limit.Take{Key: "gb", Limit: 3, Window: time.Minute}
		first := mustTake(t, s, true, a, b)
		second := mustTake(t, s, true, a, b)
		if first.Receipt == "" || second.Receipt == "" {
			t.Fatalf("allowed takes without a receipt: %q %q", first.Receipt, second.Receipt)
		}
		if refused := mustTake(t, s, false, a, b); refused.Receipt != "" {
			t.Fatalf("a refused take has the receipt %q", refused.Receipt)
		}
		if err := s.GiveBack(ctx, []limit.Take{a, b}, second.Receipt); err != nil {
			t.Fatalf("give back: %v", err)
		}
		res := mustTake(t, s, true, a, b)
		if len(res.Counts) != 2 || res.Counts[0] != 2 || res.Counts[1] != 2 {
			t.Fatalf("counts after a give-back and a take %v, want [2 2]", res.Counts)
		}
		mustTake(t, s, false, a, b)
		// Giving back twice, or a take that is not there, removes nothing more.
		if err := s.GiveBack(ctx, []limit.Take{a, b}, second.Receipt); err != nil {
			t.Fatalf("second give back: %v", err)
		}
		mustTake(t, s, false, a)
		res = mustTake(t, s, true, b)
		if res.Counts[0] != 3 {
			t.Fatalf("b holds %d takes, want 3: a give-back removed another take", res.Counts[0])
		}
	})

	t.Run("RetryAfterIsLongestDenied", func(t *testing.T) {
		s := newStore(t)
		short := limit.Take{Key: "short", Limit: 1, Window: 10 * time.Second}
		long := limit.Take{Key: "long", Limit: 1, Window: time.Hour}
		mustTake(t, s, true, short, long)
		res := mustTake(t, s, false, short, long)
		if res.Blocked != 0 {
			t.Fatalf("blocked index %d, want 0 (first refusing rule)", res.Blocked)
		}
		if res.RetryAfter <= 10*time.Second || res.RetryAfter > time.Hour {
			t.Fatalf("retry-after %s, want the long window's ~1h", res.RetryAfter)
		}
	})

	t.Run("TakesLeaveTheWindow", func(t *testing.T) {
		s := newStore(t)
		r := limit.Take{Key: "w", Limit: 2, Window: 300 * time.Millisecond}
		mustTake(t, s, true, r)
		mustTake(t, s, true, r)
		res := mustTake(t, s, false, r)
		if res.RetryAfter > 300*time.Millisecond {
			t.Fatalf("retry-after %s beyond the window", res.RetryAfter)
		}
		time.Sleep(res.RetryAfter + 100*time.Millisecond)
		mustTake(t, s, true, r)
	})

	t.Run("Concurrent50TakeLimit5", func(t *testing.T) {
		s := newStore(t)
		rules := []limit.Take{
			{Key: "cc", Limit: 5, Window: time.Minute},
			{Key: "cc-global", Limit: 1000, Window: time.Minute},
		}
		var allowed atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Go(func() {
				res, err := s.Take(context.Background(), rules)
				if err != nil {
					errs <- err
					return
				}
				if res.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if got := allowed.Load(); got != 5 {
			t.Fatalf("%d takes allowed, want exactly 5", got)
		}
		// The big rule counted only the allowed takes (denied ones were
		// compensated).
		for i := range 995 {
			if res, err := s.Take(context.Background(), rules[1:]); err != nil || !res.Allowed {
				t.Fatalf("global rule refused after %d more takes: denied takes leaked into it", i)
			}
		}
		mustTake(t, s, false, rules[1])
	})

	t.Run("RegulationBan", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		const ban = 2 * time.Second
		if until, err := s.BlockedUntil(ctx, "r:x"); err != nil || !until.IsZero() {
			t.Fatalf("fresh key: %v %v, want not blocked", until, err)
		}
		for i := range 2 {
			until, err := s.Fail(ctx, "r:x", time.Minute, 3, ban)
			if err != nil || !until.IsZero() {
				t.Fatalf("failure %d: %v %v, want no ban yet", i+1, until, err)
			}
		}
		start := time.Now()
		until, err := s.Fail(ctx, "r:x", time.Minute, 3, ban)
		if err != nil {
			t.Fatal(err)
		}
		if d := until.Sub(start); d < ban-200*time.Millisecond || d > ban+200*time.Millisecond {
			t.Fatalf("ban ends in %s, want ~%s", d, ban)
		}
		got, err := s.BlockedUntil(ctx, "r:x")
		if err != nil || got.Sub(until).Abs() > 200*time.Millisecond {
			t.Fatalf("BlockedUntil = %v %v, want ~%v", got, err, until)
		}
		// Other keys are not banned.
		if other, _ := s.BlockedUntil(ctx, "r:y"); !other.IsZero() {
			t.Fatalf("other key banned until %v", other)
		}
		// Failing during the ban does not extend it.
		again, err := s.Fail(ctx, "r:x", time.Minute, 3, ban)
		if err != nil || again.Sub(until).Abs() > 200*time.Millisecond {
			t.Fatalf("fail during ban: %v %v, want the same end %v", again, err, until)
		}
		time.Sleep(time.Until(until) + 150*time.Millisecond)
		if got, err := s.BlockedUntil(ctx, "r:x"); err != nil || !got.IsZero() {
			t.Fatalf("after ban: %v %v, want not blocked", got, err)
		}
		// The counter restarted with the ban: one failure does not re-ban.
		if until, err := s.Fail(ctx, "r:x", time.Minute, 3, ban); err != nil || !until.IsZero() {
			t.Fatalf("first failure after ban: %v %v, want no ban", until, err)
		}
	})

	t.Run("RegulationFindTime", func(t *testing.T) {
		s := newStore(t)
		ctx := context.Background()
		find := 300 * time.Millisecond
		for i := range 2 {
			if until, err := s.Fail(ctx, "r:f", find, 3, time.Minute); err != nil || !until.IsZero() {
				t.Fatalf("failure %d: %v %v", i, until, err)
			}
		}
		time.Sleep(find + 100*time.Millisecond)
		// The two old failures left the (sliding) find window.
		if until, err := s.Fail(ctx, "r:f", find, 3, time.Minute); err != nil || !until.IsZero() {
			t.Fatalf("failure after find time: %v %v, want no ban", until, err)
		}
	})

	t.Run("ManyKeysIndependent", func(t *testing.T) {
		s := newStore(t)
		for i := range 10 {
			r := limit.Take{Key: fmt.Sprintf("key-%d", i), Limit: 1, Window: time.Minute}
			mustTake(t, s, true, r)
			mustTake(t, s, false, r)
		}
	})
}

func mustTake(t *testing.T, s limit.Counter, wantAllowed bool, takes ...limit.Take) limit.TakeResult {
	t.Helper()
	res, err := s.Take(context.Background(), takes)
	if err != nil {
		t.Fatal(err)
	}
	if res.Allowed != wantAllowed {
		t.Fatalf("take %v: allowed=%v, want %v (%+v)", takes, res.Allowed, wantAllowed, res)
	}
	if res.Allowed && res.Blocked != -1 {
		t.Fatalf("allowed take reports blocked index %d", res.Blocked)
	}
	return res
}
