package memory_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

func BenchmarkCreate(b *testing.B) {
	s := memory.New(time.Hour)
	defer s.Close()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c := storetest.New(storetest.Bind("bench"), now, 5*time.Minute)
		if _, _, err := s.Create(b.Context(), c, "", now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHeapPerPendingChallenge keeps 10k pending challenges (distinct
// identities, flows and hashes, as in production) and bounds the heap each
// one costs.
func TestHeapPerPendingChallenge(t *testing.T) {
	const n = 10_000
	const budget = 1024 // bytes per pending challenge
	s := memory.New(time.Hour)
	defer s.Close()
	now := time.Now()
	before := heapInUse()
	for range n {
		c := storetest.New(storetest.Bind("heap"), now, 5*time.Minute)
		if _, _, err := s.Create(t.Context(), c, "", now); err != nil {
			t.Fatal(err)
		}
	}
	after := heapInUse()
	per := float64(after-before) / n
	t.Logf("heap per pending challenge: %.0f bytes (%d challenges)", per, s.Len())
	if per > budget {
		t.Fatalf("each pending challenge costs %.0f bytes, budget %d", per, budget)
	}
	runtime.KeepAlive(s)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestHeapPerCounterEntry: a full global budget (10 000 takes in its
// window) costs a few bytes a take.
func TestHeapPerCounterEntry(t *testing.T) {
	const n = 10_000
	const budget = 24 // bytes per take in the window
	now := time.UnixMilli(1_767_323_045_000)
	s := memory.New(time.Hour, memory.WithClock(func() time.Time { return now }))
	defer s.Close()
	g := []limit.Take{{Key: "g", Limit: n, Window: 24 * time.Hour}}
	before := heapInUse()
	for range n {
		now = now.Add(time.Second)
		if res, err := s.Take(t.Context(), g); err != nil || !res.Allowed {
			t.Fatal(res, err)
		}
	}
	per := float64(heapInUse()-before) / n
	t.Logf("heap per counted take: %.1f bytes", per)
	if per > budget {
		t.Fatalf("each counted take costs %.1f bytes, budget %d", per, budget)
	}
	runtime.KeepAlive(s)
}

// BenchmarkTakeFullBudget: a take against a global budget holding 10 000
// takes, one leaving the window for each one taken (the steady state of a
// busy day).
func BenchmarkTakeFullBudget(b *testing.B) {
	const n = 10_000
	now := time.UnixMilli(1_767_323_045_000)
	s := memory.New(time.Hour, memory.WithClock(func() time.Time { return now }))
	defer s.Close()
	step := 24 * time.Hour / n
	g := []limit.Take{{Key: "g", Limit: n, Window: 24 * time.Hour}}
	for range n {
		now = now.Add(step)
		if _, err := s.Take(b.Context(), g); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(step)
		if res, err := s.Take(b.Context(), g); err != nil || !res.Allowed {
			b.Fatal(res, err)
		}
	}
}
