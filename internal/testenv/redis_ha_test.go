package testenv

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStartRedisCluster: every slot is served, each node owns a third of
// them, and a ClusterClient reaches all three masters.
func TestStartRedisCluster(t *testing.T) {
	c := StartRedisCluster(t, 3)
	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Addrs) != 3 {
		t.Fatalf("URL %s names %d seeds, want 3", c.URL(), len(opts.Addrs))
	}
	rdb := redis.NewClusterClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	masters := map[string]bool{}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters[m.Options().Addr] = true
		return m.Ping(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	if len(masters) != 3 {
		t.Fatalf("masters %v, want 3", masters)
	}
}

// TestStartRedisSentinel: the sentinel names the master, with passwords on
// both the data nodes and the sentinel.
func TestStartRedisSentinel(t *testing.T) {
	s := StartRedisSentinel(t, "m1", SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw"})
	addr, err := s.MasterAddr(context.Background(), "sentinel-pw")
	if err != nil || addr != s.Master.Addr {
		t.Fatalf("master %q %v, want %s", addr, err, s.Master.Addr)
	}
}
