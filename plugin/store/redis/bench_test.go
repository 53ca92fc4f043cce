package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s := redisstore.New(newClient(b, testenv.StartRedis(b).Addr), "cpk:")
	now := time.Now()
	c := storetest.New(storetest.Bind("bench"), now, time.Hour)
	if _, _, err := s.Create(ctx, c, "", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, c.ID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	s := redisstore.New(newClient(b, testenv.StartRedis(b).Addr), "cpk:")
	now := time.Now()
	c := storetest.New(storetest.Bind("bench"), now, time.Hour)
	if _, _, err := s.Create(ctx, c, "", now); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		// A used challenge is refused: the script still runs fully (read,
		// decide, return the hash), which is the cost we measure.
		if _, err := s.Verify(ctx, storetest.Req(c, true, now)); err != nil {
			b.Fatal(err)
		}
	}
}

// MemoryUsage sums MEMORY USAGE of a pending challenge's keys.
func MemoryUsage(ctx context.Context, rdb *redis.Client, keys []string) (int64, error) {
	var total int64
	for _, k := range keys {
		n, err := rdb.MemoryUsage(ctx, k).Result()
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func TestMemoryUsagePerPendingChallenge(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	s := redisstore.New(rdb, "cpk:")
	now := time.Now()
	c := storetest.New(storetest.Bind("mem"), now, 5*time.Minute)
	if _, _, err := s.Create(ctx, c, "", now); err != nil {
		t.Fatal(err)
	}
	n, err := MemoryUsage(ctx, rdb, s.Keys(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEMORY USAGE of a pending challenge (hash + active pointer): %d bytes", n)
	if n <= 0 || n > 2048 {
		t.Fatalf("pending challenge uses %d bytes in Redis, want (0, 2048]", n)
	}
}

// TestMemoryUsagePerCounterEntry: a full global budget (10 000 takes in its
// sliding log) costs Redis about 110 bytes a take (Redis 7.0), and its key
// expires.
func TestMemoryUsagePerCounterEntry(t *testing.T) {
	ctx := context.Background()
	rdb := newClient(t, testenv.StartRedis(t).Addr)
	const n = 10_000
	now := time.UnixMilli(1_767_323_045_000)
	s := redisstore.New(rdb, "cpk:", redisstore.WithClock(func() time.Time { return now }))
	g := []limit.Take{{Key: "g", Limit: n, Window: 24 * time.Hour}}
	for range n {
		now = now.Add(time.Second)
		if res, err := s.Take(ctx, g); err != nil || !res.Allowed {
			t.Fatal(res, err)
		}
	}
	keys, err := rdb.Keys(ctx, "cpk:{l:g}*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys %v %v", keys, err)
	}
	used, err := rdb.MemoryUsage(ctx, keys[0], 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, keys[0]).Val(); ttl <= 0 || ttl > 24*time.Hour {
		t.Fatalf("the log's TTL is %v", ttl)
	}
	per := float64(used) / n
	t.Logf("MEMORY USAGE of a 10 000-take sliding log: %d bytes, %.0f a take", used, per)
	if per > 160 {
		t.Fatalf("each take in the log costs %.0f bytes, budget 160", per)
	}
}

// BenchmarkTakeFullBudget: a take against a global budget holding 10 000
// takes, one leaving the window for each one taken (a busy day's steady
// state), one round trip each.
func BenchmarkTakeFullBudget(b *testing.B) {
	ctx := context.Background()
	const n = 10_000
	now := time.UnixMilli(1_767_323_045_000)
	s := redisstore.New(newClient(b, testenv.StartRedis(b).Addr), "cpk:", redisstore.WithClock(func() time.Time { return now }))
	step := 24 * time.Hour / n
	g := []limit.Take{{Key: "g", Limit: n, Window: 24 * time.Hour}}
	for range n {
		now = now.Add(step)
		if _, err := s.Take(ctx, g); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(step)
		if res, err := s.Take(ctx, g); err != nil || !res.Allowed {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkCheckFullBudget: a start's read-only check (LookupAndCheck)
// against a global budget whose window holds its limit of n calls (the
// check refuses, with the time the oldest leaves). It reads the limit-th
// newest call by rank, O(log n) in redis-server; reading it by an offset
// into the window walked n calls before Redis 7.2.
func BenchmarkCheckFullBudget(b *testing.B) {
	for _, n := range []int{100, 10_000} {
		b.Run(fmt.Sprintf("calls=%d", n), func(b *testing.B) {
			ctx := context.Background()
			now := time.UnixMilli(1_767_323_045_000)
			s := redisstore.New(newClient(b, testenv.StartRedis(b).Addr), "cpk:", redisstore.WithClock(func() time.Time { return now }))
			g := []limit.Take{{Key: "g", Limit: n, Window: 24 * time.Hour}}
			for range n {
				now = now.Add(time.Second)
				if _, err := s.Take(ctx, g); err != nil {
					b.Fatal(err)
				}
			}
			req := challenge.LookupRequest{Binding: storetest.Bind("check")}
			b.ReportAllocs()
			for b.Loop() {
				if look, err := s.LookupAndCheck(ctx, req, g); !errors.Is(err, challenge.ErrNotFound) || look.Check.Allowed {
					b.Fatal(look.Check, err)
				}
			}
		})
	}
}
