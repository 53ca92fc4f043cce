package memory_test

import (
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

func TestClaimPassCandidates(t *testing.T) {
	t.Parallel()
	storetest.RunClaimCandidates(t, newStore(t))
}

func TestClaimPassKeeps(t *testing.T) {
	t.Parallel()
	storetest.RunClaimKeeps(t, func(t *testing.T, now func() time.Time) storetest.Keeper {
		s := memory.New(time.Hour, memory.WithClock(now))
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
