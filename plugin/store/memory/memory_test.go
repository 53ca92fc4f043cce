package memory_test

import (
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit/countertest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

func newStore(t *testing.T) *memory.Store {
	s := memory.New(50*time.Millisecond, memory.WithGrace(200*time.Millisecond))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestChallengeStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Store { return newStore(t) })
}

func TestChallengeStoreClocked(t *testing.T) {
	t.Parallel()
	storetest.RunClocked(t, func(t *testing.T, now func() time.Time) storetest.Store {
		s := memory.New(time.Hour, memory.WithClock(now))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestCounter(t *testing.T) {
	t.Parallel()
	countertest.Run(t, func(t *testing.T) countertest.Store { return newStore(t) })
}

func TestCounterSliding(t *testing.T) {
	t.Parallel()
	countertest.RunSliding(t, func(t *testing.T, now func() time.Time) countertest.Store {
		s := memory.New(time.Hour, memory.WithClock(now))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestSweeperDropsExpired(t *testing.T) {
	s := newStore(t)
	now := time.Now()
	for i := range 10 {
		c := storetest.New(storetest.Bind("sweep"), now, time.Duration(i)*time.Millisecond)
		if _, _, err := s.Create(t.Context(), c, "", now); err != nil {
			t.Fatal(err)
		}
	}
	if s.Len() != 10 {
		t.Fatalf("Len = %d, want 10", s.Len())
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sweeper left %d challenges", s.Len())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
