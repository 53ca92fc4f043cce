package testenv

import (
	"context"
	"errors"
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

// RedisCluster is a Redis Cluster started for one test on loopback ports,
// its 16384 slots split evenly between the masters; StartRedisCluster's has
// masters only, StartRedisClusterWithReplicas's one replica per master.
type RedisCluster struct {
	// Nodes are the masters as started (a failover may promote a replica).
	Nodes []*Redis
	// Replicas[i] replicates Nodes[i] (nil for StartRedisCluster).
	Replicas []*Redis
}

// Addrs lists the masters' "127.0.0.1:<port>".
func (c *RedisCluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL is the cluster's seed URL as redis.ParseClusterURL reads it: the first
// master, the other masters as addr= options (the client learns the
// replicas from CLUSTER SLOTS).
func (c *RedisCluster) URL() string {
	return withAddrs(scheme(c.Nodes[0])+c.Nodes[0].DialAddr(), c.Nodes[1:])
}

// scheme is the scheme of s's URL, with "://".
func scheme(s *Redis) string {
	if s.tls != nil {
		return "rediss://"
	}
	return "redis://"
}

// withAddrs appends the servers' addresses to u as addr= query options.
func withAddrs(u string, servers []*Redis) string {
	for i, s := range servers {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + s.DialAddr()
	}
	return u
}

// ReplicaOf returns the replica started for master m (nil if none).
func (c *RedisCluster) ReplicaOf(m *Redis) *Redis {
	for i, n := range c.Nodes {
		if n == m && i < len(c.Replicas) {
			return c.Replicas[i]
		}
	}
	return nil
}

// StartRedisCluster starts n redis-server nodes in cluster mode, joins them
// (CLUSTER MEET), gives each an equal range of slots (CLUSTER ADDSLOTSRANGE)
// and waits until every node reports cluster_state:ok. It fails the test
// (never skips) when redis-server is missing.
func StartRedisCluster(tb testing.TB, n int) *RedisCluster {
	tb.Helper()
	return startRedisCluster(tb, n, false, nil)
}

// StartRedisClusterWithReplicas is StartRedisCluster with one replica per
// master (CLUSTER REPLICATE), for failover tests: the nodes run with
// cluster-node-timeout 500 ms and cluster-replica-validity-factor 0 (a
// replica always may take over), so killing a master gets its replica
// promoted within a few seconds; a master sends its replica the initial
// sync at once (repl-diskless-sync-delay 0). It also waits until each replica's link
// to its master is up, its initial sync done, and every node sees it as
// that master's replica.
func StartRedisClusterWithReplicas(tb testing.TB, n int) *RedisCluster {
	tb.Helper()
	return startRedisCluster(tb, n, true, nil)
}

// clusterBusPort picks a cluster node's bus port (a test takes it first).
var clusterBusPort = FreePort

// startRedisCluster starts the cluster, node i with TLS when withTLS is
// not nil (withTLS(i)).
func startRedisCluster(tb testing.TB, n int, replicas bool, withTLS func(i int) *serverTLS) *RedisCluster {
	tb.Helper()
	c := &RedisCluster{}
	total, timeout := n, "1000"
	if replicas {
		total, timeout = 2*n, "500"
	}
	nodes := make([]*Redis, total)
	busPorts := make([]int, total)
	for i := range total {
		var t *serverTLS
		if withTLS != nil {
			t = withTLS(i)
		}
		// The bus port is picked with each try: a bus port another process
		// bound first fails the start as a taken client port does, and a
		// retry with the same one would fail again.
		nodes[i] = startRedisEach(tb, t, func() []string {
			bus, err := clusterBusPort()
			if err != nil {
				tb.Fatalf("testenv: free port: %v", err)
			}
			busPorts[i] = bus
			// The bus port is given: FreePort's port + 10000 (the default) may
			// be taken or past 65535.
			args := []string{"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf", "--cluster-port", strconv.Itoa(bus),
				"--cluster-node-timeout", timeout}
			if replicas {
				// No 5 s wait for more replicas before a master sends a sync.
				args = append(args, "--cluster-replica-validity-factor", "0", "--repl-diskless-sync-delay", "0")
			}
			if t != nil {
				args = append(args, "--tls-cluster", "yes")
			}
			return args
		})
	}
	c.Nodes = nodes[:n]
	if replicas {
		c.Replicas = nodes[n:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	clients := make([]*redis.Client, total)
	for i, node := range nodes {
		clients[i] = redis.NewClient(&redis.Options{Addr: node.Addr, MaxRetries: -1, TLSConfig: node.TLSConfig()})
		defer clients[i].Close()
	}
	for i := 1; i < total; i++ {
		if err := clients[0].Do(ctx, "CLUSTER", "MEET", "127.0.0.1", nodes[i].Port, busPorts[i]).Err(); err != nil {
			tb.Fatalf("testenv: CLUSTER MEET: %v", err)
		}
	}
	for i := range n {
		lo, hi := i*16384/n, (i+1)*16384/n-1
		if err := clients[i].Do(ctx, "CLUSTER", "ADDSLOTSRANGE", lo, hi).Err(); err != nil {
			tb.Fatalf("testenv: CLUSTER ADDSLOTSRANGE %d %d: %v", lo, hi, err)
		}
	}
	// waitAll polls every node until ready says it is (or the deadline).
	waitAll := func(what string, ready func(i int, cl *redis.Client) (bool, string)) {
		tb.Helper()
		for i, cl := range clients {
			for {
				ok, detail := ready(i, cl)
				if ok {
					break
				}
				if ctx.Err() != nil {
					tb.Fatalf("testenv: cluster node %s never %s:\n%s", nodes[i].Addr, what, detail)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
	want := []string{"cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:" + strconv.Itoa(total)}
	clusterOK := func(_ int, cl *redis.Client) (bool, string) {
		info, err := cl.ClusterInfo(ctx).Result()
		return err == nil && containsAll(info, want), fmt.Sprint(info, err)
	}
	waitAll("got ready", clusterOK)
	if !replicas {
		return c
	}
	ids := make([]string, n)
	for i := range n {
		id, err := clients[i].Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			tb.Fatalf("testenv: CLUSTER MYID on %s: %v", nodes[i].Addr, err)
		}
		ids[i] = id
	}
	for i := range n {
		// Every node knows every other (cluster_known_nodes above), so the
		// replica knows its master.
		if err := clients[n+i].Do(ctx, "CLUSTER", "REPLICATE", ids[i]).Err(); err != nil {
			tb.Fatalf("testenv: CLUSTER REPLICATE %s on %s: %v", ids[i], nodes[n+i].Addr, err)
		}
	}
	// Each replica is in sync, and every node lists each master's replica
	// (the masters' votes elect it in a failover).
	waitAll("synced its replica", func(i int, cl *redis.Client) (bool, string) {
		if i >= n {
			info, err := cl.Info(ctx, "replication").Result()
			if err != nil || !containsAll(info, []string{"role:slave", "master_link_status:up", "master_sync_in_progress:0"}) {
				return false, fmt.Sprint(info, err)
			}
		}
		out, err := cl.ClusterNodes(ctx).Result()
		if err != nil {
			return false, err.Error()
		}
		for j := range n {
			if !strings.Contains(out, " slave "+ids[j]+" ") && !strings.Contains(out, ",slave "+ids[j]+" ") {
				return false, out
			}
		}
		return true, ""
	})
	waitAll("got ready with its replicas", clusterOK)
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

// RedisSentinel is a master, one replica and the sentinels watching them
// (short timeouts so a failover takes a few seconds).
type RedisSentinel struct {
	Master, Replica *Redis
	// Sentinels are the sentinels as started; Sentinel is the first.
	Sentinels []*Redis
	Sentinel  *Redis
	// MasterName is the name the sentinels monitor the master under.
	MasterName string

	auth SentinelAuth
}

// SentinelAuth sets the credentials of a StartRedisSentinel setup ("" none).
type SentinelAuth struct {
	Data string // requirepass (and masterauth) of master and replica
	// Sentinel is the sentinels' password: their requirepass, or
	// SentinelUser's when that is set.
	Sentinel string
	// SentinelUser is an ACL user (all rights) on the sentinels; their
	// default user is then off, so no one gets in without that user.
	SentinelUser string
}

// StartRedisSentinel starts a master, a replica of it and one sentinel
// monitoring it as name (quorum 1), and waits until the sentinel knows the
// replica (a failover needs one). It fails the test when redis-server is
// missing.
func StartRedisSentinel(tb testing.TB, name string, auth SentinelAuth) *RedisSentinel {
	tb.Helper()
	return StartRedisSentinels(tb, name, auth, 1, 1)
}

// StartRedisSentinels is StartRedisSentinel with n sentinels and the given
// quorum (how many must agree the master is down; the failover itself
// needs a majority of the n). It waits until every sentinel knows the
// replica and the n-1 others: sentinels find each other through hello
// messages on the master, every 2 s, and one that knows no other could not
// be elected to fail over.
func StartRedisSentinels(tb testing.TB, name string, auth SentinelAuth, n, quorum int) *RedisSentinel {
	tb.Helper()
	return startRedisSentinels(tb, name, auth, n, quorum, nil)
}

// sentinelServer prepares a sentinel with configuration conf (which it
// rewrites) on a free port, with TLS when t is not nil.
func sentinelServer(tb testing.TB, conf string, t *serverTLS) func() *Redis {
	return func() *Redis {
		s := newRedis(tb)
		if t != nil {
			t.apply(s)
		}
		s.conf = filepath.Join(s.Dir, "sentinel.conf")
		if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
			tb.Fatalf("testenv: %v", err)
		}
		return s
	}
}

// startRedisSentinels is StartRedisSentinels, with TLS when t is not nil.
func startRedisSentinels(tb testing.TB, name string, auth SentinelAuth, n, quorum int, t *SentinelTLS) *RedisSentinel {
	tb.Helper()
	var data []string
	if auth.Data != "" {
		data = []string{"--requirepass", auth.Data, "--masterauth", auth.Data}
	}
	var dataTLS, sentinelTLS *serverTLS
	if t != nil {
		dataTLS = newServerTLS(t.CA, t.DataNames)
		sentinelTLS = newServerTLS(t.CA, t.SentinelNames)
	}
	// No 5 s wait for more replicas before the master sends the sync.
	m := startRedis(tb, dataTLS, append([]string{"--repl-diskless-sync-delay", "0"}, data...)...)
	r := startRedis(tb, dataTLS, append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(m.Port)}, data...)...)
	// The replica is in sync before the sentinels start: a sentinel asks
	// the master and each replica for INFO at once, then every 10 s, so one
	// that first saw the replica still syncing waited 10 s to know it was
	// ready, half of the wait below on a loaded machine.
	waitSynced(tb, m, r, auth.Data)
	conf := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d %d\n", name, m.Port, quorum) +
		fmt.Sprintf("sentinel down-after-milliseconds %s 300\nsentinel failover-timeout %s 1000\n", name, name)
	if auth.Data != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", name, auth.Data)
	}
	if auth.SentinelUser != "" {
		// Only that user gets in: requirepass would open the default one.
		conf += "user default off\nuser " + auth.SentinelUser + " on >" + auth.Sentinel + " ~* &* +@all\n" +
			"sentinel sentinel-user " + auth.SentinelUser + "\n"
	} else if auth.Sentinel != "" {
		conf += "requirepass " + auth.Sentinel + "\n"
	}
	if auth.Sentinel != "" {
		// Sentinels ask each other for votes with it.
		conf += "sentinel sentinel-pass " + auth.Sentinel + "\n"
	}
	rs := &RedisSentinel{Master: m, Replica: r, MasterName: name, auth: auth}
	for range n {
		// Another port when another process took the one picked, as
		// for the data nodes.
		s, err := startTaking(sentinelServer(tb, conf, sentinelTLS))
		if err != nil {
			tb.Fatalf("testenv: sentinel: %v", err)
		}
		rs.Sentinels = append(rs.Sentinels, s)
	}
	rs.Sentinel = rs.Sentinels[0]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, s := range rs.Sentinels {
		sc := rs.client(s)
		for {
			reps, err := sc.Replicas(ctx, name).Result()
			var others []map[string]string
			if err == nil {
				others, err = sc.Sentinels(ctx, name).Result()
			}
			if err == nil && len(reps) == 1 && reps[0]["flags"] == "slave" && reps[0]["master-link-status"] == "ok" && len(others) == n-1 {
				break
			}
			if ctx.Err() != nil {
				_ = sc.Close()
				tb.Fatalf("testenv: sentinel %s never saw the replica and the %d other sentinels: replicas %v, sentinels %v, %v", s.Addr, n-1, reps, others, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = sc.Close()
	}
	return rs
}

// waitSynced waits until replica r is in sync with master m and m lists
// it (password pw on both, "" for none).
func waitSynced(tb testing.TB, m, r *Redis, pw string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	mc := redis.NewClient(&redis.Options{Addr: m.Addr, Password: pw, MaxRetries: -1, TLSConfig: m.TLSConfig()})
	defer mc.Close()
	rc := redis.NewClient(&redis.Options{Addr: r.Addr, Password: pw, MaxRetries: -1, TLSConfig: r.TLSConfig()})
	defer rc.Close()
	for {
		ri, err := rc.Info(ctx, "replication").Result()
		mi, merr := mc.Info(ctx, "replication").Result()
		if err == nil && merr == nil && containsAll(ri, []string{"master_link_status:up", "master_sync_in_progress:0"}) &&
			strings.Contains(mi, "connected_slaves:1") {
			return
		}
		if ctx.Err() != nil {
			tb.Fatalf("testenv: replica %s never in sync with %s: %s %v\n%s %v", r.Addr, m.Addr, ri, err, mi, merr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the store's URL in sentinel mode: every sentinel (the first as the
// host, the others as addr= options), database 0, and the data nodes'
// password.
func (rs *RedisSentinel) URL() string {
	u := scheme(rs.Sentinels[0])
	if rs.auth.Data != "" {
		u += ":" + rs.auth.Data + "@"
	}
	return withAddrs(u+rs.Sentinels[0].DialAddr()+"/0", rs.Sentinels[1:])
}

// client is a client of sentinel s with the setup's credentials.
func (rs *RedisSentinel) client(s *Redis) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: s.Addr, Username: rs.auth.SentinelUser, Password: rs.auth.Sentinel,
		MaxRetries: -1, DialTimeout: time.Second, TLSConfig: s.TLSConfig()})
}

// SentinelClient is a client of the i-th sentinel with the setup's
// credentials; the caller closes it.
func (rs *RedisSentinel) SentinelClient(i int) *redis.SentinelClient {
	return rs.client(rs.Sentinels[i])
}

// MasterAddr asks the sentinels, in order, for the current master's
// address: the first that answers says (a stopped one is passed over).
func (rs *RedisSentinel) MasterAddr(ctx context.Context) (string, error) {
	var errs []error
	for _, s := range rs.Sentinels {
		sc := rs.client(s)
		a, err := sc.GetMasterAddrByName(ctx, rs.MasterName).Result()
		_ = sc.Close()
		if err == nil {
			return net.JoinHostPort(a[0], a[1]), nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", s.Addr, err))
	}
	return "", errors.Join(errs...)
}
