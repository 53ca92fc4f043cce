package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ServerInfo is what Inspect learnt about the Redis the store runs on.
type ServerInfo struct {
	// Addr is the node's address, set for each of Masters.
	Addr    string
	Version string
	// Cluster: the server runs in Redis Cluster mode, which only a cluster
	// client speaks (store.redis.mode cluster): a standalone client gets
	// MOVED for a key in another node's slot.
	Cluster bool
	// ClusterClient: the store talks to it with a cluster client, and
	// Masters holds what each master told (the fields above are the
	// first's; Problem and Warnings read every master).
	ClusterClient bool
	Masters       []ServerInfo
	// MaxMemory (bytes, 0 = no limit) and EvictionPolicy
	// (maxmemory-policy); EvictionPolicy is "" when CONFIG GET is refused,
	// as some managed services do.
	MaxMemory      int64
	EvictionPolicy string
	// ClockOffset is Redis's clock minus this host's, read at the middle of
	// the TIME round trip, give or take ClockUncertainty (half of it).
	ClockOffset      time.Duration
	ClockUncertainty time.Duration // < 0: not measured
}

// MaxClockOffset is how far this host's clock may be from Redis's before
// Warnings names it. Limits, bans and challenge lifetimes are computed from
// the clock of the instance that handles a request, so two instances whose
// clocks differ by Δ move every window by up to Δ.
const MaxClockOffset = time.Second

// Inspect asks Redis what the store's guarantees depend on: one pipeline of
// INFO server, INFO cluster, CONFIG GET maxmemory* and TIME. A refused
// CONFIG GET (managed services) is no error. Any other refusal (an ACL
// without INFO) or failure is returned with whatever the other commands
// told (ClockUncertainty < 0 when TIME did not answer). On a cluster client
// every master is asked (eviction policy, clock and version are each
// node's own), and a master that did not answer is an error.
func (s *Store) Inspect(ctx context.Context) (ServerInfo, error) {
	cc, ok := s.rdb.(*redis.ClusterClient)
	if !ok {
		return s.inspectNode(ctx, s.rdb)
	}
	var (
		mu   sync.Mutex
		errs []error
		all  []ServerInfo
	)
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := s.inspectNode(ctx, m)
		info.Addr = m.Options().Addr
		mu.Lock()
		defer mu.Unlock()
		all = append(all, info)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", info.Addr, err))
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	slices.SortFunc(all, func(a, b ServerInfo) int { return strings.Compare(a.Addr, b.Addr) })
	info := ServerInfo{ClockUncertainty: -1}
	if len(all) > 0 {
		info = all[0]
		info.Addr = ""
	}
	info.ClusterClient, info.Masters = true, all
	return info, errors.Join(errs...)
}

// inspectNode is Inspect of one server.
func (s *Store) inspectNode(ctx context.Context, rdb redis.Cmdable) (ServerInfo, error) {
	info := ServerInfo{ClockUncertainty: -1}
	var srv, cl *redis.StringCmd
	var cfg *redis.MapStringStringCmd
	var tm *redis.TimeCmd
	before := s.now()
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		srv = p.Info(ctx, "server")
		cl = p.Info(ctx, "cluster")
		cfg = p.ConfigGet(ctx, "maxmemory*")
		tm = p.Time(ctx)
		return nil
	})
	after := s.now()
	var errs []error
	if err := srv.Err(); err == nil {
		info.Version = infoField(srv.Val(), "redis_version")
	} else {
		errs = append(errs, fmt.Errorf("INFO server: %w", err))
	}
	if err := cl.Err(); err == nil {
		info.Cluster = infoField(cl.Val(), "cluster_enabled") == "1"
	} else {
		errs = append(errs, fmt.Errorf("INFO cluster: %w", err))
	}
	if cfg.Err() == nil {
		m := cfg.Val()
		info.MaxMemory, _ = strconv.ParseInt(m["maxmemory"], 10, 64)
		info.EvictionPolicy = m["maxmemory-policy"]
	}
	if err := tm.Err(); err == nil {
		rtt := after.Sub(before)
		info.ClockOffset = tm.Val().Sub(before.Add(rtt / 2))
		info.ClockUncertainty = rtt / 2
	} else {
		errs = append(errs, fmt.Errorf("TIME: %w", err))
	}
	return info, wrap("inspect", errors.Join(errs...))
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
	if i.Cluster && !i.ClusterClient {
		return fmt.Errorf("Redis runs in cluster mode: set store.redis.mode: cluster, with the cluster's nodes in store.redis.url")
	}
	return nil
}

// Warnings says what on this server (on a cluster: on each master, named)
// weakens the store's guarantees.
func (i ServerInfo) Warnings() []string {
	if !i.ClusterClient {
		return i.nodeWarnings()
	}
	var w []string
	for _, m := range i.Masters {
		for _, mw := range m.nodeWarnings() {
			w = append(w, "master "+m.Addr+": "+mw)
		}
	}
	return w
}

func (i ServerInfo) nodeWarnings() []string {
	var w []string
	if i.MaxMemory > 0 && i.EvictionPolicy != "" && i.EvictionPolicy != "noeviction" {
		w = append(w, fmt.Sprintf("Redis may evict keys when it reaches maxmemory (maxmemory-policy %s): call limits, bans and challenges could vanish under memory pressure; set maxmemory-policy noeviction", i.EvictionPolicy))
	}
	if off := i.ClockOffset.Abs() - i.ClockUncertainty; i.ClockUncertainty >= 0 && off > MaxClockOffset {
		w = append(w, fmt.Sprintf("this host's clock is %s away from Redis's: limits, bans and challenge lifetimes are computed from each instance's clock, so instances must keep their clocks in sync (NTP)", i.ClockOffset.Abs().Round(100*time.Millisecond)))
	}
	return w
}
