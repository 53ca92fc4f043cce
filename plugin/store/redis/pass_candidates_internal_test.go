package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// TestCandidateClaimsAcrossVersions: the claim with several candidate times
// reads and writes passes in the form the version before does (its claim
// script, claimScriptBefore, runs against the same data): a pass that
// instance bound is held here by the same session, found through a later
// candidate, and refused to another; a pass bound here through a later
// candidate is the same session's for that instance, and not another's.
func TestCandidateClaimsAcrossVersions(t *testing.T) {
	rdb, s, now := passEnv(t)
	ctx := context.Background()
	record := func(t *testing.T) (challenge.Challenge, time.Time) { return recordPass(t, s, now) }
	before := func(t *testing.T, c challenge.Challenge, authAt time.Time, sid string) int {
		t.Helper()
		n, err := claimScriptBefore.Run(ctx, rdb, []string{s.passKey(c.IdentityID)}, authAt.UnixMilli(), 1000, sid, now.UnixMilli()).Int()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("bound by the version before, held here through a later candidate", func(t *testing.T) {
		c, authAt := record(t)
		if n := before(t, c, authAt, "s-old"); n != 1 {
			t.Fatalf("the version before claims %d, want 1", n)
		}
		moved := authAt.Add(2 * time.Second)
		if num, ok, err := s.ClaimPass(ctx, c.IdentityID, []time.Time{moved, authAt}, time.Second, "s-old"); err != nil || !ok || num != c.Phone {
			t.Fatalf("claim here: %q %v %v, want %q", num, ok, err, c.Phone)
		}
		if _, ok, err := s.ClaimPass(ctx, c.IdentityID, []time.Time{moved, authAt}, time.Second, "s-other"); err != nil || ok {
			t.Fatalf("another session claimed it here: %v %v", ok, err)
		}
	})
	t.Run("bound here through a later candidate, held by the version before", func(t *testing.T) {
		c, authAt := record(t)
		moved := authAt.Add(2 * time.Second)
		if _, ok, err := s.ClaimPass(ctx, c.IdentityID, []time.Time{moved, authAt.Add(300 * time.Millisecond)}, time.Second, "s1"); err != nil || !ok {
			t.Fatalf("claim here: %v %v", ok, err)
		}
		if n := before(t, c, authAt, "s1"); n != 1 {
			t.Fatalf("the version before: the same session gets %d, want 1", n)
		}
		if n := before(t, c, authAt, "s2"); n != 0 {
			t.Fatalf("the version before: another session gets %d, want 0", n)
		}
	})
}
