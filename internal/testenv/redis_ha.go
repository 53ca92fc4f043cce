package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisCluster is a Redis Cluster of masters only, started for one test on
// loopback ports, its 16384 slots split evenly between the nodes.
type RedisCluster struct {
	Nodes []*Redis
}

// Addrs lists the nodes' "127.0.0.1:<port>".
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL is the cluster's seed URL as redis.ParseClusterURL reads it: the first
// node, the others as addr= options.
func (c *RedisCluster) URL() string {
	u := "redis://" + c.Nodes[0].Addr
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr
	}
	return u
}

// StartRedisCluster starts n redis-server nodes in cluster mode, joins them
// (CLUSTER MEET), gives each an equal range of slots (CLUSTER ADDSLOTSRANGE)
// and waits until every node reports cluster_state:ok. It fails the test
// (never skips) when redis-server is missing.
func StartRedisCluster(tb testing.TB, n int) *RedisCluster {
	tb.Helper()
	c := &RedisCluster{}
	busPorts := make([]int, n)
	for i := range n {
		bus, err := FreePort()
		if err != nil {
			tb.Fatalf("testenv: free port: %v", err)
		}
		busPorts[i] = bus
		// The bus port is given: FreePort's port + 10000 (the default) may
		// be taken or past 65535.
		c.Nodes = append(c.Nodes, StartRedisWith(tb, "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", "--cluster-port", strconv.Itoa(bus),
			"--cluster-node-timeout", "1000"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clients := make([]*redis.Client, n)
	for i, node := range c.Nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: node.Addr, MaxRetries: -1})
		defer clients[i].Close()
	}
	for i := 1; i < n; i++ {
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", c.Nodes[i].Port, busPorts[i]).Err(); err != nil {
			tb.Fatalf("testenv: CLUSTER MEET: %v", err)
		}
	}
	for i := range n {
		lo, hi := i*16384/n, (i+1)*16384/n-1
		if err := clients[i].Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			tb.Fatalf("testenv: CLUSTER ADDSLOTSRANGE %d %d: %v", lo, hi, err)
		}
	}
	want := []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(n)}
	for i, cl := range clients {
		for {
			info, err := cl.ClusterInfo(ctx).Result()
			if err == nil && containsAll(info, want) {
				break
			}
			if ctx.Err() != nil {
				tb.Fatalf("testenv: cluster node %s never got ready (%v):\n%s", c.Nodes[i].Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// RedisSentinel is a master, one replica and one sentinel watching them
// (quorum 1, short timeouts so a failover takes a few seconds).
type RedisSentinel struct {
	Master, Replica, Sentinel *Redis
	// MasterName is the name the sentinel monitors the master under.
	MasterName string
}

// SentinelAuth sets the passwords of a StartRedisSentinel setup ("" none).
type SentinelAuth struct {
	Data     string // requirepass (and masterauth) of master and replica
	Sentinel string // requirepass of the sentinel
}

// StartRedisSentinel starts a master, a replica of it and a sentinel
// monitoring it as name, and waits until the sentinel knows the replica
// (a failover needs one). It fails the test when redis-server is missing.
func StartRedisSentinel(tb testing.TB, name string, auth SentinelAuth) *RedisSentinel {
	tb.Helper()
	var data []string
	if auth.Data != "" {
		data = []string{"--requirepass", auth.Data, "--masterauth", auth.Data}
	}
	m := StartRedisWith(tb, data...)
	r := StartRedisWith(tb, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(m.Port)}, data...)...)
	s := newRedis(tb)
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", name, m.Port) +
		fmt.Sprintf("sentinel down-after-milliseconds %s 300\nsentinel failover-timeout %s 1000\n", name, name)
	if auth.Data != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", name, auth.Data)
	}
	if auth.Sentinel != "" {
		conf += "requirepass " + auth.Sentinel + "\n"
	}
	s.conf = filepath.Join(s.Dir, "sentinel.conf")
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	if err := s.start(); err != nil {
		tb.Fatalf("testenv: sentinel: %v", err)
	}
	tb.Cleanup(s.Stop)
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, Password: auth.Sentinel, MaxRetries: -1})
	defer sc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		reps, err := sc.Replicas(ctx, name).Result()
		if err == nil && len(reps) == 1 && reps[0]["flags"] == "slave" && reps[0]["master-link-status"] == "ok" {
			break
		}
		if ctx.Err() != nil {
			tb.Fatalf("testenv: the sentinel never saw the replica: %v %v", reps, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &RedisSentinel{Master: m, Replica: r, Sentinel: s, MasterName: name}
}

// MasterAddr asks the sentinel for the current master's address.
func (rs *RedisSentinel) MasterAddr(ctx context.Context, sentinelPassword string) (string, error) {
	sc := redis.NewSentinelClient(&redis.Options{Addr: rs.Sentinel.Addr, Password: sentinelPassword, MaxRetries: -1})
	defer sc.Close()
	a, err := sc.GetMasterAddrByName(ctx, rs.MasterName).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(a[0], a[1]), nil
}
