package testenv

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

// TestStartRedisTLS: the server answers over TLS only, to a client with a
// certificate of the CA; without one it refuses.
func TestStartRedisTLS(t *testing.T) {
	ca := NewTLSCA(t)
	r := StartRedisTLS(t, ca, []string{"localhost"})
	if r.DialAddr() == r.Addr || !strings.HasPrefix(r.DialAddr(), "localhost:") {
		t.Fatalf("DialAddr %s", r.DialAddr())
	}
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: r.Addr, TLSConfig: r.TLSConfig(), MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := redisPing(r.Addr); err == nil {
		t.Fatal("plain PING answered")
	}
	noCert := r.TLSConfig()
	noCert.Certificates = nil
	c2 := redis.NewClient(&redis.Options{Addr: r.Addr, TLSConfig: noCert, MaxRetries: -1})
	defer c2.Close()
	if err := c2.Ping(ctx).Err(); err == nil {
		t.Fatal("PING without a client certificate answered")
	}
}

// TestStartRedisSentinelsTLS: the sentinels, on TLS, name the master and
// know the replica and each other.
func TestStartRedisSentinelsTLS(t *testing.T) {
	ca := NewTLSCA(t)
	s := StartRedisSentinelsTLS(t, "m1", SentinelAuth{Data: "data-pw"}, 2, 1,
		SentinelTLS{CA: ca, SentinelNames: []string{"localhost"}})
	if !strings.HasPrefix(s.URL(), "rediss://:data-pw@localhost:") || !strings.Contains(s.URL(), "addr=localhost:") {
		t.Fatalf("URL %s", s.URL())
	}
	a, err := s.MasterAddr(context.Background())
	if err != nil || a != s.Master.Addr {
		t.Fatalf("master %s %v, want %s", a, err, s.Master.Addr)
	}
}

// TestStartRedisClusterTLS: the cluster forms over TLS and a client reaches
// every master.
func TestStartRedisClusterTLS(t *testing.T) {
	ca := NewTLSCA(t)
	c := StartRedisClusterTLS(t, 3, ca)
	if !strings.HasPrefix(c.URL(), "rediss://127.0.0.1:") {
		t.Fatalf("URL %s", c.URL())
	}
	opts, err := redis.ParseClusterURL(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	opts.TLSConfig = c.Nodes[0].TLSConfig()
	rdb := redis.NewClusterClient(opts)
	defer rdb.Close()
	var n atomic.Int32 // ForEachMaster runs f concurrently
	if err := rdb.ForEachMaster(context.Background(), func(ctx context.Context, m *redis.Client) error {
		n.Add(1)
		return m.Ping(ctx).Err()
	}); err != nil || n.Load() != 3 {
		t.Fatalf("%d masters, %v", n.Load(), err)
	}
}
