package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestRegulationBanShowLift: RegulationBan reads the ban and the failures
// within find_time that Fail recorded under limit.RegulationKey (the keys
// P{IdentityTag}:b:r:<id>:fw and :b), LiftRegulationBan deletes both in
// one script and reports what was there; other identities are untouched.
// Standalone and on a 3-master cluster (no CROSSSLOT).
func TestRegulationBanShowLift(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		rdb  func(t *testing.T) redis.UniversalClient
	}{
		{"standalone", func(t *testing.T) redis.UniversalClient { return newClient(t, testenv.StartRedis(t).Addr) }},
		{"cluster", func(t *testing.T) redis.UniversalClient { return newClusterClient(t, testenv.StartRedisCluster(t, 3)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := tc.rdb(t)
			var mu sync.Mutex
			now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
			const prefix = "cpk:"
			st := redisstore.New(rdb, prefix, redisstore.WithClock(clock))
			const find, ban, maxF = 10 * time.Minute, 15 * time.Minute, 3
			const a, b, c = "5e1b7b4a-0000-4000-8000-00000000000a", "5e1b7b4a-0000-4000-8000-00000000000b", "5e1b7b4a-0000-4000-8000-00000000000c"
			fail := func(id string) time.Time {
				t.Helper()
				until, err := st.Fail(ctx, limit.RegulationKey(id), find, maxF, ban)
				if err != nil {
					t.Fatal(err)
				}
				return until
			}
			// a: banned; b: banned; c: two failures, one of them old.
			for range maxF {
				fail(a)
				fail(b)
			}
			fail(c)
			advance(6 * time.Minute)
			fail(c)
			advance(5 * time.Minute) // c's first failure left find_time

			// The keys are where the store's layout says.
			tag := challenge.IdentityTag(a)
			if n, err := rdb.Exists(ctx, prefix+"{"+tag+"}:b:r:"+a+":b").Result(); err != nil || n != 1 {
				t.Fatalf("ban key of a: exists=%d %v", n, err)
			}

			steps := []struct {
				name     string
				lift     bool
				id       string
				banned   bool
				failures int64
			}{
				{"show banned", false, a, true, 0},
				{"show failures", false, c, false, 1},
				{"lift banned", true, a, true, 0},
				{"show lifted", false, a, false, 0},
				{"lift again", true, a, false, 0},
				{"other still banned", false, b, true, 0},
				{"lift failures only", true, c, false, 1},
				{"failures gone", false, c, false, 0},
			}
			for _, s := range steps {
				op := st.RegulationBan
				if s.lift {
					op = st.LiftRegulationBan
				}
				got, err := op(ctx, s.id, find)
				if err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				if got.Banned() != s.banned || got.Failures != s.failures {
					t.Fatalf("%s: %+v, want banned=%v failures=%d", s.name, got, s.banned, s.failures)
				}
				if s.banned {
					// The ban's TTL runs in Redis's real time (WithClock):
					// ban_time from now on the store's clock.
					if left := got.BannedUntil.Sub(clock()); left <= ban-time.Minute || left > ban {
						t.Fatalf("%s: ban ends in %s, want about %s", s.name, left, ban)
					}
				}
			}
			// Lifted: the limiter sees no ban and counts failures afresh.
			if until, err := st.BlockedUntil(ctx, limit.RegulationKey(a)); err != nil || !until.IsZero() {
				t.Fatalf("BlockedUntil after lift: %v %v", until, err)
			}
			if until := fail(a); !until.IsZero() {
				t.Fatal("one failure after a lift banned again")
			}
			if until, err := st.BlockedUntil(ctx, limit.RegulationKey(b)); err != nil || until.IsZero() {
				t.Fatalf("b's ban after a's lift: %v %v", until, err)
			}
			if _, err := st.LiftRegulationBan(ctx, "", find); err == nil {
				t.Fatal("lift of an empty identity id accepted")
			}
		})
	}
}
