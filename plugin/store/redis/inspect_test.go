package redisstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestInspect: what the store's guarantees depend on is read from the
// server: cluster mode (refused), an eviction policy that may drop keys,
// and this host's clock against Redis's (warnings).
func TestInspect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	plain := testenv.StartRedis(t)
	tests := []struct {
		name     string
		addr     string
		setup    []string // a CONFIG SET pair
		skew     time.Duration
		problem  string // part of Problem(), "" = none
		warnings []string
	}{
		{name: "defaults", addr: plain.Addr},
		{name: "maxmemory with noeviction", addr: plain.Addr, setup: []string{"maxmemory", "100mb", "maxmemory-policy", "noeviction"}},
		{name: "maxmemory with allkeys-lru", addr: plain.Addr, setup: []string{"maxmemory", "100mb", "maxmemory-policy", "allkeys-lru"}, warnings: []string{"maxmemory-policy allkeys-lru"}},
		{name: "volatile-lru without maxmemory", addr: plain.Addr, setup: []string{"maxmemory", "0", "maxmemory-policy", "volatile-lru"}},
		{name: "clock 5s fast", addr: plain.Addr, skew: 5 * time.Second, warnings: []string{"clock is 5s away"}},
		{name: "clock 5s slow", addr: plain.Addr, skew: -5 * time.Second, warnings: []string{"clock is 5s away"}},
		{name: "clock 300ms off", addr: plain.Addr, skew: 300 * time.Millisecond},
		{name: "cluster", addr: testenv.StartRedisWith(t, "--cluster-enabled", "yes").Addr, problem: "cluster mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rdb := newClient(t, tt.addr)
			if len(tt.setup) > 0 {
				if err := rdb.ConfigSet(ctx, tt.setup[0], tt.setup[1]).Err(); err != nil {
					t.Fatal(err)
				}
				if err := rdb.ConfigSet(ctx, tt.setup[2], tt.setup[3]).Err(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = rdb.ConfigSet(ctx, "maxmemory", "0").Err()
					_ = rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err()
				})
			}
			st := redisstore.New(rdb, "i:", redisstore.WithClock(func() time.Time { return time.Now().Add(tt.skew) }))
			info, err := st.Inspect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.Version == "" {
				t.Errorf("no version in %+v", info)
			}
			if err := info.Problem(); tt.problem == "" && err != nil || tt.problem != "" && (err == nil || !strings.Contains(err.Error(), tt.problem)) {
				t.Errorf("Problem() = %v, want %q", err, tt.problem)
			}
			got := info.Warnings()
			if len(got) != len(tt.warnings) {
				t.Fatalf("warnings %q, want %q", got, tt.warnings)
			}
			for i, w := range tt.warnings {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %q, want it to mention %q", got[i], w)
				}
			}
		})
	}
}

// TestInspectWithoutINFO: an ACL that refuses INFO and CONFIG (common on
// managed Redis) makes Inspect say what it could not read, and still
// measure the clock.
func TestInspectWithoutINFO(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := testenv.StartRedis(t)
	admin := newClient(t, r.Addr)
	if err := admin.Do(ctx, "ACL", "SETUSER", "limited", "on", ">limited-pass", "~*", "&*", "+@all", "-info", "-config").Err(); err != nil {
		t.Fatal(err)
	}
	limited := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "limited", Password: "limited-pass", MaxRetries: -1})
	t.Cleanup(func() { _ = limited.Close() })
	st := redisstore.New(limited, "i:", redisstore.WithClock(func() time.Time { return time.Now().Add(3 * time.Second) }))
	info, err := st.Inspect(ctx)
	if err == nil || !strings.Contains(err.Error(), "INFO") {
		t.Fatalf("Inspect: %v, want the refused INFO named", err)
	}
	if info.ClockUncertainty < 0 || len(info.Warnings()) != 1 || info.Problem() != nil {
		t.Fatalf("info %+v warnings %q problem %v: want the clock measured and warned about", info, info.Warnings(), info.Problem())
	}
}
