package testenv

import (
	"context"
	"net"
	"strings"
	"sync"
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
	// ForEachMaster runs f on every master at once.
	var mu sync.Mutex
	masters := map[string]bool{}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		masters[m.Options().Addr] = true
		mu.Unlock()
		return m.Ping(ctx).Err()
	}); err != nil {
		t.Fatal(err)
	}
	if len(masters) != 3 {
		t.Fatalf("masters %v, want 3", masters)
	}
}

// TestStartRedisSentinel: every sentinel names the master and knows the
// others, with passwords on the data nodes and on the sentinels (their
// requirepass, or an ACL user's); with an ACL user, the sentinels refuse
// any other user and their default one.
func TestStartRedisSentinel(t *testing.T) {
	tests := []struct {
		name      string
		auth      SentinelAuth
		n, quorum int
	}{
		{"requirepass", SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw"}, 1, 1},
		{"ACL user", SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw", SentinelUser: "cpk"}, 1, 1},
		{"three, ACL user", SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw", SentinelUser: "cpk"}, 3, 2},
		{"three, no passwords", SentinelAuth{}, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := StartRedisSentinels(t, "m1", tt.auth, tt.n, tt.quorum)
			if len(s.Sentinels) != tt.n || s.Sentinel != s.Sentinels[0] {
				t.Fatalf("%d sentinels, want %d", len(s.Sentinels), tt.n)
			}
			if addr, err := s.MasterAddr(ctx); err != nil || addr != s.Master.Addr {
				t.Fatalf("master %q %v, want %s", addr, err, s.Master.Addr)
			}
			// go-redis reads the user info as the sentinels' (the store
			// gives it to the data nodes): the data password here.
			opts, err := redis.ParseFailoverURL(s.URL())
			if err != nil || len(opts.SentinelAddrs) != tt.n || opts.SentinelPassword != tt.auth.Data {
				t.Fatalf("URL %s: %+v %v", s.URL(), opts, err)
			}
			for i := range s.Sentinels {
				sc := s.SentinelClient(i)
				if q, err := sc.CkQuorum(ctx, "m1").Result(); err != nil {
					t.Errorf("sentinel %d: CKQUORUM %q %v", i, q, err)
				}
				_ = sc.Close()
			}
			if tt.auth.SentinelUser == "" {
				return
			}
			for _, user := range []string{"someone", "default", ""} {
				sc := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinel.Addr, Username: user, Password: tt.auth.Sentinel, MaxRetries: -1})
				if err := sc.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
					t.Errorf("user %q with the password: %v, want WRONGPASS", user, err)
				}
				_ = sc.Close()
			}
		})
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
	var mu sync.Mutex
	masters := map[string]bool{}
	if err := rdb.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		mu.Lock()
		masters[m.Options().Addr] = true
		mu.Unlock()
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

// TestStartRedisClusterTakesAnotherBusPort: a cluster node whose bus port
// another process bound first is started with another bus port, as a taken
// client port is (the retry kept the taken bus port and failed three times).
func TestStartRedisClusterTakesAnotherBusPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	first := true
	clusterBusPort = func() (int, error) {
		if first {
			first = false
			return taken, nil
		}
		return FreePort()
	}
	t.Cleanup(func() { clusterBusPort = FreePort })
	c := StartRedisCluster(t, 3)
	info, err := redis.NewClient(&redis.Options{Addr: c.Nodes[0].Addr}).ClusterInfo(context.Background()).Result()
	if err != nil || !strings.Contains(info, "cluster_state:ok") {
		t.Fatalf("cluster info: %q, %v", info, err)
	}
}
