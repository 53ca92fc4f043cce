package memory

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// TestSweepDropsOnlyEndedLeases: Sweep forgets start leases that ended by
// their TTL (the map does not grow with abandoned starts) and keeps held
// ones (another start must still be refused).
func TestSweepDropsOnlyEndedLeases(t *testing.T) {
	now := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	s := New(time.Hour, WithClock(func() time.Time { return now }))
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	held := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "i", FlowID: "held"}
	ended := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "i", FlowID: "ended"}
	if taken, _, _ := s.LeaseStart(ctx, held, "a", time.Hour); !taken {
		t.Fatal("lease refused")
	}
	if taken, _, _ := s.LeaseStart(ctx, ended, "a", time.Millisecond); !taken {
		t.Fatal("lease refused")
	}
	now = now.Add(time.Second)
	s.Sweep()
	if len(s.leases) != 1 {
		t.Errorf("%d leases kept after the sweep, want the held one only", len(s.leases))
	}
	if taken, _, _ := s.LeaseStart(ctx, held, "b", time.Hour); taken {
		t.Error("the sweep dropped a held lease: another start took it")
	}
}
