package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s := redisstore.New(newClient(b, testenv.StartRedis(b).Addr), "cpk:")
	now := time.Now()
	c := storetest.New(storetest.Bind("bench"), now, time.Hour)
	if _, _, err := s.Create(ctx, c, false, now); err != nil {
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
	if _, _, err := s.Create(ctx, c, false, now); err != nil {
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
	if _, _, err := s.Create(ctx, c, false, now); err != nil {
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
