package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

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

// TestStartRedisClusterWithReplicas: three masters, each with its replica
// in sync (a write on a master is acknowledged by WAIT and read on its
// replica), and killing a master gets that replica promoted to own its
// slots, the cluster ok again.
func TestStartRedisClusterWithReplicas(t *testing.T) {
	c := StartRedisClusterWithReplicas(t, 3)
	if len(c.Nodes) != 3 || len(c.Replicas) != 3 {
		t.Fatalf("%d masters %d replicas, want 3 and 3", len(c.Nodes), len(c.Replicas))
	}
	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClusterClient(opts)
	defer rdb.Close()
	ctx := context.Background()
	masters := map[string]bool{}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters[m.Options().Addr] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if !masters[n.Addr] {
			t.Fatalf("masters %v, want %v", masters, c.Addrs())
		}
	}
	m, err := rdb.MasterForKey(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	var master *Redis
	for _, n := range c.Nodes {
		if n.Addr == m.Options().Addr {
			master = n
		}
	}
	replica := c.ReplicaOf(master)
	if err := m.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := m.Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1: %d %v, want 1 replica", n, err)
	}
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr, MaxRetries: -1})
	defer rc.Close()
	if err := rc.Do(ctx, "READONLY").Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := rc.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("replica %s reads %q %v", replica.Addr, v, err)
	}
	start := time.Now()
	master.Kill()
	deadline := start.Add(15 * time.Second)
	for {
		info, _ := rc.Info(ctx, "replication").Result()
		ci, _ := rc.ClusterInfo(ctx).Result()
		if strings.Contains(info, "role:master") && strings.Contains(ci, "cluster_state:ok") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not promoted 15s after its master died:\n%s\n%s", replica.Addr, info, ci)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("replica promoted %v after the master was killed", time.Since(start).Round(time.Millisecond))
}
