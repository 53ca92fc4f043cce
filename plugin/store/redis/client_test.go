package redisstore_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestReplicaReadsRefusedWhenRepeated: an option that sends reads to
// replicas is refused whichever of its values turns it on. go-redis's URL
// parsers read a repeated option's last value, net/url's Get its first:
// reading only the first let ?read_only=false&read_only=true through to a
// client that reads from replicas.
func TestReplicaReadsRefusedWhenRepeated(t *testing.T) {
	const cluster = "redis://:hunter2@r1:6379?read_only=false&read_only=true"
	if o, err := redis.ParseClusterURL(cluster); err != nil || !o.ReadOnly {
		t.Fatalf("go-redis no longer reads the last value (ReadOnly %v, %v): revisit this test", o != nil && o.ReadOnly, err)
	}
	for _, raw := range []string{
		cluster,
		"redis://r1:6379?route_randomly=0&route_randomly=1",
		"redis://r1:6379?route_by_latency=true&route_by_latency=false",
	} {
		_, err := redisstore.ClusterOptions(raw)
		if err == nil || !strings.Contains(err.Error(), "reads from replicas") {
			t.Errorf("cluster %s: %v, want refused for replica reads", raw, err)
		}
	}
	for _, raw := range []string{
		"redis://s1:26379?replica_only=false&replica_only=true",
		"redis://s1:26379?route_randomly=false&route_randomly=1",
	} {
		_, err := redisstore.FailoverOptions(raw, redisstore.Sentinel{Master: "m"})
		if err == nil || !strings.Contains(err.Error(), "reads from replicas") {
			t.Errorf("sentinel %s: %v, want refused for replica reads", raw, err)
		}
	}
	// Off is still accepted.
	if _, err := redisstore.ClusterOptions("redis://r1:6379?read_only=false&read_only=0"); err != nil {
		t.Errorf("read_only off refused: %v", err)
	}
}

// TestModeOptions: each mode's options carry ClientOptions' hardening
// whatever the URL asks (short timeouts, no retries: a script is never
// re-sent, a read never held past a second), and each refuses what its
// mode cannot use, without quoting the URL.
func TestModeOptions(t *testing.T) {
	const q = "?max_retries=5&read_timeout=10s&write_timeout=10s&dial_timeout=10s"
	type hardened struct{ dial, read, write, retries, dials any }
	want := hardened{2 * time.Second, time.Second, time.Second, -1, 1}
	so, err := redisstore.ClientOptions("redis://:hunter2@r1:6379/0" + q)
	if err != nil {
		t.Fatal(err)
	}
	co, err := redisstore.ClusterOptions("redis://:hunter2@r1:6379" + q + "&addr=r2:6379")
	if err != nil {
		t.Fatal(err)
	}
	fo, err := redisstore.FailoverOptions("redis://u:hunter2@s1:26379/2"+q, redisstore.Sentinel{Master: "m", Username: "su", Password: "spw"})
	if err != nil {
		t.Fatal(err)
	}
	for mode, got := range map[string]hardened{
		"standalone": {so.DialTimeout, so.ReadTimeout, so.WriteTimeout, so.MaxRetries, so.DialerRetries},
		"cluster":    {co.DialTimeout, co.ReadTimeout, co.WriteTimeout, co.MaxRetries, co.DialerRetries},
		"sentinel":   {fo.DialTimeout, fo.ReadTimeout, fo.WriteTimeout, fo.MaxRetries, fo.DialerRetries},
	} {
		if got != want {
			t.Errorf("%s: dial, read, write timeouts, retries and dial attempts %v, want %v", mode, got, want)
		}
	}
	// The URL's user info is the data nodes', never the sentinels'.
	if fo.Username != "u" || fo.Password != "hunter2" || fo.SentinelUsername != "su" || fo.SentinelPassword != "spw" || fo.MasterName != "m" || fo.DB != 2 {
		t.Errorf("sentinel: data user %q password %q, sentinel user %q password %q, master %q, db %d",
			fo.Username, fo.Password, fo.SentinelUsername, fo.SentinelPassword, fo.MasterName, fo.DB)
	}
	if _, err := redisstore.ClusterOptions("redis://r1:6379/0"); err != nil {
		t.Errorf("cluster /0 refused: %v", err)
	}
	for _, tc := range []struct {
		name, want string
		err        func() error
	}{
		{"cluster db 1", "database 0 only", func() error { _, err := redisstore.ClusterOptions("redis://:hunter2@r1:6379/1"); return err }},
		{"cluster unix", "refused", func() error { _, err := redisstore.ClusterOptions("unix://:hunter2@/run/r.sock"); return err }},
		{"cluster bad URL", "refused", func() error { _, err := redisstore.ClusterOptions("redis://:hunter2@[::1/0"); return err }},
		{"sentinel no master", "master's name", func() error {
			_, err := redisstore.FailoverOptions("redis://:hunter2@s1:26379", redisstore.Sentinel{})
			return err
		}},
		{"sentinel username without password", "needs their password", func() error {
			_, err := redisstore.FailoverOptions("redis://:hunter2@s1:26379", redisstore.Sentinel{Master: "m", Username: "su"})
			return err
		}},
		{"sentinel password option", "password", func() error {
			_, err := redisstore.FailoverOptions("redis://s1:26379?password=hunter2", redisstore.Sentinel{Master: "m"})
			return err
		}},
		{"sentinel master_name option", "master_name", func() error {
			_, err := redisstore.FailoverOptions("redis://:hunter2@s1:26379?master_name=x", redisstore.Sentinel{Master: "m"})
			return err
		}},
		{"sentinel unix", "refused", func() error {
			_, err := redisstore.FailoverOptions("unix://:hunter2@/run/r.sock", redisstore.Sentinel{Master: "m"})
			return err
		}},
		{"unknown mode", "unknown mode", func() error {
			_, err := redisstore.NewClient("replicated", "redis://:hunter2@r1:6379", redisstore.Sentinel{}, redisstore.TLS{})
			return err
		}},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want an error saying %q without the URL", tc.name, err, tc.want)
		}
	}
}

// dialCounter is a go-redis hook counting dial attempts: to addr only,
// when addr is set (a cluster node's client dials its own address).
type dialCounter struct {
	n    atomic.Int32
	addr string
}

func (d *dialCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if d.addr == "" || d.addr == addr {
			d.n.Add(1)
		}
		return next(ctx, network, addr)
	}
}
func (d *dialCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (d *dialCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestOneDialPerCommandWhenRedisIsDown: with Redis down (connection
// refused) each command makes one dial attempt and fails closed. go-redis's
// default, five attempts 100 ms apart, held each request ~0.5 s (and up
// to five dial timeouts against an address that does not answer).
func TestOneDialPerCommandWhenRedisIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now: every dial is refused
	for _, tc := range []struct {
		mode string
		// dials is the most dial attempts a failed command may cost: in a
		// cluster its own and the slot-map reload it sets off
		// (NewClusterClient).
		dials int32
		new   func(*dialCounter) (redis.UniversalClient, error)
	}{
		{"standalone", 1, func(d *dialCounter) (redis.UniversalClient, error) {
			c, err := redisstore.NewClient(redisstore.ModeStandalone, "redis://"+addr+"/0", redisstore.Sentinel{}, redisstore.TLS{})
			if err == nil {
				c.AddHook(d)
			}
			return c, err
		}},
		{"cluster", 2, func(d *dialCounter) (redis.UniversalClient, error) {
			o, err := redisstore.ClusterOptions("redis://" + addr)
			if err != nil {
				return nil, err
			}
			// A cluster client dials through its nodes' clients.
			o.NewClient = func(no *redis.Options) *redis.Client {
				nc := redis.NewClient(no)
				nc.AddHook(d)
				return nc
			}
			return redisstore.NewClusterClient(o), nil
		}},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var d dialCounter
			c, err := tc.new(&d)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := 1; i <= 3; i++ {
				if err := c.Get(context.Background(), "k").Err(); err == nil || errors.Is(err, redis.Nil) {
					t.Fatalf("GET %d against a stopped Redis: %v, want a connection error", i, err)
				}
				if got := d.n.Load(); got > tc.dials*int32(i) {
					t.Fatalf("after %d commands %d dial attempts, want at most %d per command", i, got, tc.dials)
				}
			}
			if d.n.Load() == 0 {
				t.Fatal("no dial attempt counted: the hook sees nothing, so this test proves nothing")
			}
		})
	}
}

// breakerPoolSize is the pool_size of the store's clients in
// TestRecoversAfterTheDialBreakerOpens: go-redis's dial breaker opens after
// that many failed dials (its pipeline pool's, after its own size, 10).
const breakerPoolSize = 3

// breakerSetup is a deployment TestRecoversAfterTheDialBreakerOpens stops
// and starts again, and the store's client of it (redisstore.NewClient).
// each calls f on every server of rs.
func each(rs []*testenv.Redis, f func(*testenv.Redis)) {
	for _, r := range rs {
		f(r)
	}
}

type breakerSetup struct {
	c redis.UniversalClient
	// key is served by the Redis that stops; d counts the client's dials
	// to that Redis.
	key string
	d   *dialCounter
	// stop and start stop and start again the same servers (no failover).
	stop, start func()
	// ready asks that Redis directly whether it serves key again (nil: it
	// does once start returns, which waits for its PING). A cluster master
	// answers CLUSTERDOWN for a while after it restarted; the client is
	// timed from the moment the server is ready.
	ready func(context.Context) error
}

// withQuery appends the query option q to the URL u.
func withQuery(u, q string) string {
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// newStoreClient is redisstore.NewClient, closed at the test's end.
func newStoreClient(t *testing.T, mode, url string, s redisstore.Sentinel) redis.UniversalClient {
	t.Helper()
	c, err := redisstore.NewClient(mode, url, s, redisstore.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func standaloneBreaker(t *testing.T) breakerSetup {
	srv := testenv.StartRedis(t)
	c := newStoreClient(t, redisstore.ModeStandalone, withQuery("redis://"+srv.Addr+"/0", "pool_size="+strconv.Itoa(breakerPoolSize)), redisstore.Sentinel{})
	d := &dialCounter{}
	c.AddHook(d)
	return breakerSetup{c: c, key: "breaker", d: d, stop: srv.Stop, start: srv.Start}
}

// clusterBreaker stops the master of the key's slot, or every master.
func clusterBreaker(all bool) func(*testing.T) breakerSetup {
	return func(t *testing.T) breakerSetup {
		const key = "breaker"
		cl := testenv.StartRedisCluster(t, 3)
		m, err := newClusterClient(t, cl).MasterForKey(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		var owner *testenv.Redis
		for _, n := range cl.Nodes {
			if n.Addr == m.Options().Addr {
				owner = n
			}
		}
		if owner == nil {
			t.Fatalf("the master of %q, %s, is none of %v", key, m.Options().Addr, cl.Addrs())
		}
		c := newStoreClient(t, redisstore.ModeCluster, withQuery(cl.URL(), "pool_size="+strconv.Itoa(breakerPoolSize)), redisstore.Sentinel{})
		d := &dialCounter{addr: owner.Addr}
		// A cluster client dials through its nodes' clients, made as it
		// meets the nodes (none yet).
		c.(*redis.ClusterClient).OnNewNode(func(n *redis.Client) { n.AddHook(d) })
		down := []*testenv.Redis{owner}
		if all {
			down = cl.Nodes
		}
		direct := redis.NewClient(&redis.Options{Addr: owner.Addr, MaxRetries: -1})
		t.Cleanup(func() { _ = direct.Close() })
		return breakerSetup{
			c: c, key: key, d: d,
			stop: func() { each(down, (*testenv.Redis).Stop) }, start: func() { each(down, (*testenv.Redis).Start) },
			ready: func(ctx context.Context) error {
				if err := direct.Get(ctx, key).Err(); !errors.Is(err, redis.Nil) {
					return err
				}
				return nil
			},
		}
	}
}

// sentinelBreaker stops the master, and the sentinel too when sentinelToo
// (the client then cannot even learn the master's address).
func sentinelBreaker(sentinelToo bool) func(*testing.T) breakerSetup {
	return func(t *testing.T) breakerSetup {
		rs := testenv.StartRedisSentinel(t, "callpass", testenv.SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw"})
		// No failover: the master that stops is the one that comes back, as
		// after a restart (the replica would otherwise be promoted in ~1 s
		// and serve before the breaker opened).
		sc := rs.SentinelClient(0)
		err := sc.Set(context.Background(), rs.MasterName, "down-after-milliseconds", "3600000").Err()
		_ = sc.Close()
		if err != nil {
			t.Fatal(err)
		}
		c := newStoreClient(t, redisstore.ModeSentinel, withQuery(rs.URL(), "pool_size="+strconv.Itoa(breakerPoolSize)),
			redisstore.Sentinel{Master: rs.MasterName, Password: "sentinel-pw"})
		// The failover client's dials (its sentinel lookups included) go
		// through its own hooks; the sentinel's client is another.
		d := &dialCounter{}
		c.AddHook(d)
		down := []*testenv.Redis{rs.Master}
		if sentinelToo {
			down = append(down, rs.Sentinel)
		}
		return breakerSetup{
			c: c, key: "breaker", d: d,
			stop: func() { each(down, (*testenv.Redis).Stop) }, start: func() { each(down, (*testenv.Redis).Start) },
		}
	}
}

// TestRecoversAfterTheDialBreakerOpens: with the store's own options (one
// dial attempt) a Redis that is down long enough opens go-redis's dial
// breaker: after PoolSize failed dials every new connection fails at once,
// without dialing, until a background probe (one a second) gets through.
// Once Redis is back the client serves again within about that second, by
// itself (the same client), in every mode: a standalone server; the cluster
// master of the key's slot, or every master; a Sentinel master (the same
// one coming back, no failover), with its sentinel or without. Requests
// fail closed meanwhile. Both of go-redis's pools are covered: a single
// command's and the pipelines' (the store's scripts run in pipelines),
// each with its own breaker. (TestRedisDownFailsClosedAndRecovers builds
// its client with go-redis's defaults and fails too few dials to open the
// breaker.)
func TestRecoversAfterTheDialBreakerOpens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(*testing.T) breakerSetup
	}{
		{"standalone", standaloneBreaker},
		{"cluster key's master", clusterBreaker(false)},
		{"cluster all masters", clusterBreaker(true)},
		{"sentinel master", sentinelBreaker(false)},
		{"sentinel master and sentinel", sentinelBreaker(true)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := tc.setup(t)
			served := func(err error) bool { return err == nil || errors.Is(err, redis.Nil) }
			get := func() error { return s.c.Get(ctx, s.key).Err() }
			pipe := func() error {
				_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
					p.Get(ctx, s.key)
					return nil
				})
				return err
			}
			if err, perr := get(), pipe(); !served(err) || !served(perr) {
				t.Fatalf("before the stop: GET %v, pipelined GET %v", err, perr)
			}
			s.stop()
			base, open := s.d.n.Load(), false
			for i := 0; i < 100 && !open; i++ {
				before := s.d.n.Load()
				if err := get(); served(err) {
					t.Fatalf("GET answered with Redis stopped: %v", err)
				}
				if err := pipe(); served(err) {
					t.Fatalf("pipelined GET answered with Redis stopped: %v", err)
				}
				// Failures without a dial, once breakerPoolSize dials
				// failed: both breakers (an idle connection's failure also
				// dials not, but comes first).
				open = before-base >= breakerPoolSize && s.d.n.Load() == before
			}
			if !open {
				t.Fatalf("the dial breaker never opened (%d dials): this test proves nothing", s.d.n.Load()-base)
			}
			failed := s.d.n.Load() - base
			s.start()
			back := time.Now()
			var ready time.Time
			for {
				if ready.IsZero() && (s.ready == nil || s.ready(ctx) == nil) {
					ready = time.Now()
				}
				err, perr := get(), pipe()
				if !ready.IsZero() && served(err) && served(perr) {
					break
				}
				if ready.IsZero() && time.Since(back) > 15*time.Second {
					t.Fatalf("Redis itself did not serve %q %v after it started (the client is not timed yet)", s.key, time.Since(back))
				}
				if !ready.IsZero() && time.Since(ready) > 3*time.Second {
					t.Fatalf("GET %v, pipelined GET %v, %v after Redis served again", err, perr, time.Since(ready))
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("breaker open after %d failed dials; Redis served again %v after it started, the client %v after that",
				failed, ready.Sub(back).Round(time.Millisecond), time.Since(ready).Round(time.Millisecond))
		})
	}
}
