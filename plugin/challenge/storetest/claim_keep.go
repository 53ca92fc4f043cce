package storetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// Keeper is a Store whose claims can keep the pass they find longer
// (factor's passKeeper).
type Keeper interface {
	Store
	ClaimPassUntil(ctx context.Context, identityID string, at []time.Time, tolerance time.Duration, sessionID string, keepUntil time.Time) (string, bool, error)
}

// RunClaimKeeps checks ClaimPassUntil: the pass a claim finds, and the
// number its call went to, are kept until the given time when that is later
// than the pass's expiry (Kratos extended the session), never shortened; a
// claim that finds nothing keeps nothing. newStore must return a store that
// reads the time from now.
func RunClaimKeeps(t *testing.T, newStore func(t *testing.T, now func() time.Time) Keeper) {
	var offset atomic.Int64 // the fake clock's lead on the real one
	s := newStore(t, func() time.Time { return time.Now().Add(time.Duration(offset.Load())) })
	ctx := context.Background()
	claim := func(t *testing.T, id, sid string, at time.Time, keep time.Time) (string, bool) {
		t.Helper()
		num, ok, err := s.ClaimPassUntil(ctx, id, []time.Time{at}, time.Second, sid, keep)
		if err != nil {
			t.Fatal(err)
		}
		return num, ok
	}
	// PassAt records passes kept an hour from the real clock's now.
	t.Run("kept until a later time", func(t *testing.T) {
		offset.Store(0)
		id, at := "id-"+t.Name(), time.Now().Add(-time.Minute)
		c := passAtPhone(t, s, id, "f1", at, "", "+79000000011")
		if num, ok := claim(t, id, "s1", at, time.Now().Add(3*time.Hour)); !ok || num != c.Phone {
			t.Fatalf("first claim: %q %v", num, ok)
		}
		offset.Store(int64(2 * time.Hour)) // past the hour the pass was recorded for
		if num, ok := claimAny(t, s, id, "s1", at); !ok || num != c.Phone {
			t.Fatalf("the session's pass after its recorded expiry: %q %v, want it kept with its number %q", num, ok, c.Phone)
		}
		if _, ok := claim(t, id, "s2", at, time.Now().Add(5*time.Hour)); ok {
			t.Fatal("another session claimed the kept pass")
		}
		offset.Store(int64(3*time.Hour + time.Minute))
		if _, ok := claimAny(t, s, id, "s1", at); ok {
			t.Fatal("the pass outlived the time it was kept until")
		}
	})
	t.Run("an unclaimed pass kept by its first claim", func(t *testing.T) {
		offset.Store(0)
		id, at := "id-"+t.Name(), time.Now().Add(-time.Minute)
		c := PassAt(t, s, id, "f1", at, "")
		offset.Store(int64(30 * time.Minute))
		if num, ok := claim(t, id, "s1", at, time.Now().Add(3*time.Hour)); !ok || num != c.Phone {
			t.Fatalf("first claim: %q %v", num, ok)
		}
		offset.Store(int64(2 * time.Hour))
		if num, ok := claimAny(t, s, id, "s1", at); !ok || num != c.Phone {
			t.Fatalf("after its recorded expiry: %q %v, want %q", num, ok, c.Phone)
		}
	})
	t.Run("never shortened", func(t *testing.T) {
		offset.Store(0)
		id, at := "id-"+t.Name(), time.Now().Add(-time.Minute)
		PassAt(t, s, id, "f1", at, "")
		if _, ok := claim(t, id, "s1", at, time.Now().Add(time.Minute)); !ok {
			t.Fatal("first claim refused")
		}
		offset.Store(int64(30 * time.Minute))
		if _, ok := claimAny(t, s, id, "s1", at); !ok {
			t.Fatal("a keep time before the pass's expiry shortened it")
		}
	})
	t.Run("a refused claim keeps nothing", func(t *testing.T) {
		offset.Store(0)
		id, at := "id-"+t.Name(), time.Now().Add(-time.Minute)
		PassAt(t, s, id, "f1", at, "s1")
		if _, ok := claim(t, id, "s2", at, time.Now().Add(3*time.Hour)); ok {
			t.Fatal("another session claimed a bound pass")
		}
		offset.Store(int64(2 * time.Hour))
		if _, ok := claimAny(t, s, id, "s1", at); ok {
			t.Fatal("another session's refused claim kept the pass")
		}
	})
}
