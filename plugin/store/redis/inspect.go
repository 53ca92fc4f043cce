package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// ServerInfo is what Inspect learnt about the Redis the store runs on.
type ServerInfo struct {
	Version string
	// Cluster: the server runs in Redis Cluster mode, which this store's
	// client does not speak (a key in another node's slot is MOVED).
	Cluster bool
	// MaxMemory (bytes, 0 = no limit) and EvictionPolicy
	// (maxmemory-policy); EvictionPolicy is "" when CONFIG GET is refused,
	// as some managed services do.
	MaxMemory      int64
	EvictionPolicy string
	// ClockOffset is Redis's clock minus this host's, read at the middle of
	// the TIME round trip, give or take ClockUncertainty (half of it).
	ClockOffset      time.Duration
	ClockUncertainty time.Duration
}

// MaxClockOffset is how far this host's clock may be from Redis's before
// Warnings names it. Limits, bans and challenge lifetimes are computed from
// the clock of the instance that handles a request, so two instances whose
// clocks differ by Δ move every window by up to Δ.
const MaxClockOffset = time.Second

// Inspect asks Redis what the store's guarantees depend on: one pipeline of
// INFO, CONFIG GET (its refusal is not an error) and TIME.
func (s *Store) Inspect(ctx context.Context) (ServerInfo, error) {
	var info ServerInfo
	var srv, cl *redis.StringCmd
	var cfg *redis.MapStringStringCmd
	var tm *redis.TimeCmd
	before := s.now()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		srv = p.Info(ctx, "server")
		cl = p.Info(ctx, "cluster")
		cfg = p.ConfigGet(ctx, "maxmemory*")
		tm = p.Time(ctx)
		return nil
	})
	after := s.now()
	if srv.Err() != nil || tm.Err() != nil {
		if err == nil {
			err = firstErr(srv.Err(), tm.Err())
		}
		return info, wrap("inspect", err)
	}
	info.Version = infoField(srv.Val(), "redis_version")
	info.Cluster = cl.Err() == nil && infoField(cl.Val(), "cluster_enabled") == "1"
	if cfg.Err() == nil {
		m := cfg.Val()
		info.MaxMemory, _ = strconv.ParseInt(m["maxmemory"], 10, 64)
		info.EvictionPolicy = m["maxmemory-policy"]
	}
	rtt := after.Sub(before)
	info.ClockOffset = tm.Val().Sub(before.Add(rtt / 2))
	info.ClockUncertainty = rtt / 2
	return info, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// infoField reads "name:value" from an INFO answer.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// Problem returns why the store cannot run on this server (nil if it can).
func (i ServerInfo) Problem() error {
	if i.Cluster {
		return fmt.Errorf("Redis runs in cluster mode, which store.redis.url does not support: use a single Redis server (with replicas or Sentinel for failover)")
	}
	return nil
}

// Warnings says what on this server weakens the store's guarantees.
func (i ServerInfo) Warnings() []string {
	var w []string
	if i.MaxMemory > 0 && i.EvictionPolicy != "" && i.EvictionPolicy != "noeviction" {
		w = append(w, fmt.Sprintf("Redis may evict keys when it reaches maxmemory (maxmemory-policy %s): call limits, bans and challenges could vanish under memory pressure; set maxmemory-policy noeviction", i.EvictionPolicy))
	}
	if off := i.ClockOffset.Abs() - i.ClockUncertainty; off > MaxClockOffset {
		w = append(w, fmt.Sprintf("this host's clock is %s away from Redis's: limits, bans and challenge lifetimes are computed from each instance's clock, so instances must keep their clocks in sync (NTP)", i.ClockOffset.Abs().Round(100*time.Millisecond)))
	}
	return w
}
