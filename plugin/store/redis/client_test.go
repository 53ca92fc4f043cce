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
			_, err := redisstore.NewClient("replicated", "redis://:hunter2@r1:6379", redisstore.Sentinel{})
			return err
		}},
	} {
		err := tc.err()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v, want an error saying %q without the URL", tc.name, err, tc.want)
		}
	}
}

// dialCounter is a go-redis hook counting dial attempts.
type dialCounter struct{ n atomic.Int32 }

func (d *dialCounter) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		d.n.Add(1)
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
			c, err := redisstore.NewClient(redisstore.ModeStandalone, "redis://"+addr+"/0", redisstore.Sentinel{})
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

// TestRecoversAfterTheDialBreakerOpens: with the store's own options (one
// dial attempt) a Redis that is down long enough opens go-redis's dial
// breaker: after PoolSize failed dials every new connection fails at once,
// without dialing, until a background probe (one a second) gets through.
// Once Redis is back the client serves again within about that second.
// (TestRedisDownFailsClosedAndRecovers builds its client with go-redis's
// defaults and fails too few dials to open the breaker.)
func TestRecoversAfterTheDialBreakerOpens(t *testing.T) {
	t.Parallel()
	const poolSize = 3
	for _, tc := range []struct {
		name string
		url  func(addr string) string
	}{
		{"standalone", func(addr string) string { return "redis://" + addr + "/0?pool_size=" + strconv.Itoa(poolSize) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			srv := testenv.StartRedis(t)
			c, err := redisstore.NewClient(redisstore.ModeStandalone, tc.url(srv.Addr), redisstore.Sentinel{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var d dialCounter
			c.AddHook(&d)
			if err := c.Ping(ctx).Err(); err != nil {
				t.Fatal(err)
			}
			srv.Stop()
			base, open := d.n.Load(), false
			for i := 0; i < 50 && !open; i++ {
				before := d.n.Load()
				if err := c.Ping(ctx).Err(); err == nil {
					t.Fatal("PING answered with Redis stopped")
				}
				// A failure without a dial, once poolSize dials failed: the
				// breaker (the idle connection's failure also dials not,
				// but comes first).
				open = before-base >= poolSize && d.n.Load() == before
			}
			if !open {
				t.Fatalf("the dial breaker never opened (%d dials): this test proves nothing", d.n.Load()-base)
			}
			srv.Start()
			back := time.Now()
			for c.Ping(ctx).Err() != nil {
				if time.Since(back) > 3*time.Second {
					t.Fatalf("no answer %v after Redis came back", time.Since(back))
				}
				time.Sleep(20 * time.Millisecond)
			}
			t.Logf("serving again %v after Redis came back", time.Since(back).Round(time.Millisecond))
		})
	}
}
