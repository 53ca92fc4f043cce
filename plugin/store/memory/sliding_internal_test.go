package memory

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// TestSweepDropsLeftWindows: the sweeper drops a sliding log once every
// entry has left its window, keeps the others, and gives back the array of
// one that shrank.
func TestSweepDropsLeftWindows(t *testing.T) {
	ctx := context.Background()
	t0 := time.UnixMilli(1_767_323_045_000)
	now := t0
	s := New(time.Hour, WithClock(func() time.Time { return now }))
	defer s.Close()
	short := limit.Take{Key: "short", Limit: 5, Window: time.Minute}
	long := limit.Take{Key: "long", Limit: 2000, Window: time.Hour}
	for i := range 1000 {
		now = t0.Add(time.Duration(i) * time.Second)
		if res, err := s.Take(ctx, []limit.Take{long}); err != nil || !res.Allowed {
			t.Fatal(res, err)
		}
	}
	if res, err := s.Take(ctx, []limit.Take{short}); err != nil || !res.Allowed {
		t.Fatal(res, err)
	}
	if _, err := s.Fail(ctx, "r:x", 10*time.Minute, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	s.Sweep()
	if _, ok := s.counters["short"]; ok || len(s.counters) != 1 || len(s.fails) != 1 {
		t.Fatalf("after the short window: %d counters, %d failure logs; want the long one and the failure", len(s.counters), len(s.fails))
	}
	// All but the last 10 long takes leave: the log keeps 10 entries in a
	// small array.
	now = t0.Add(time.Hour + 989*time.Second)
	s.Sweep()
	l := s.counters["long"]
	if l == nil || len(l.ts) != 10 || cap(l.ts) > 2*len(l.ts)+8 {
		t.Fatalf("long log after most left: %v", l)
	}
	if len(s.fails) != 0 {
		t.Fatalf("the failure log outlived its find time")
	}
	now = now.Add(time.Hour)
	s.Sweep()
	if len(s.counters) != 0 {
		t.Fatalf("%d counters left after every window", len(s.counters))
	}
}

// TestLogClockSteppedBack: a take at an earlier time than the last one
// (a wall clock stepped back) still leaves the log sorted.
func TestLogClockSteppedBack(t *testing.T) {
	var l slidingLog
	for _, ts := range []int64{10, 20, 30, 15, 30, 5} {
		l.add(ts)
	}
	want := []int64{5, 10, 15, 20, 30, 30}
	for i := range want {
		if l.ts[i] != want[i] {
			t.Fatalf("log %v, want %v", l.ts, want)
		}
	}
	if f := l.first(30, 20); f != 2 { // (10, 30]
		t.Fatalf("first in (10, 30] = %d, want 2", f)
	}
}
