package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

func TestClaimPassCandidates(t *testing.T) {
	t.Parallel()
	storetest.RunClaimCandidates(t, newStore(t, newClient(t, testenv.StartRedis(t).Addr)))
}

// TestClaimPassCandidatesRoundTrips: a claim with several candidate times
// is one round trip, as a claim with one was.
func TestClaimPassCandidatesRoundTrips(t *testing.T) {
	t.Parallel()
	e := newTripEnv(t, limit.DefaultConfig())
	ctx := context.Background()
	login := time.Now().Add(-time.Minute)
	const identity = "5e1b7b4a-0000-4000-8000-000000000002"
	storetest.PassAt(t, e.st, identity, "f1", login, "")
	cands := []time.Time{login.Add(2 * time.Second), login.Add(time.Hour), login.Add(-time.Hour), login.Add(3 * time.Second), login}
	// Warm up: the script is loaded on first use (EVALSHA, NOSCRIPT, EVAL).
	if _, ok, err := e.st.ClaimPass(ctx, "warm", cands, time.Second, "s0"); err != nil || ok {
		t.Fatalf("warm-up claim: %v %v", ok, err)
	}
	e.trips.take()
	for _, sid := range []string{"s1", "s1", "s2"} {
		_, ok, err := e.st.ClaimPass(ctx, identity, cands, time.Second, sid)
		if err != nil || ok != (sid == "s1") {
			t.Fatalf("%s: claim %v %v", sid, ok, err)
		}
		if got := e.trips.take(); len(got) != 1 {
			t.Errorf("%s: a claim with %d candidates took %d round trips %v, want 1", sid, len(cands), len(got), got)
		}
	}
}

func TestClaimPassKeeps(t *testing.T) {
	t.Parallel()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	storetest.RunClaimKeeps(t, func(t *testing.T, now func() time.Time) storetest.Keeper {
		return redisstore.New(rdb, testPrefix(), redisstore.WithClock(now))
	})
}
