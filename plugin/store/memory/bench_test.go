package memory_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

func BenchmarkCreate(b *testing.B) {
	s := memory.New(time.Hour)
	defer s.Close()
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		c := storetest.New(storetest.Bind("bench"), now, 5*time.Minute)
		if _, _, err := s.Create(b.Context(), c, false, now); err != nil {
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
		if _, _, err := s.Create(t.Context(), c, false, now); err != nil {
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
