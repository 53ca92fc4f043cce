package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit/countertest"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// newClusterClient is the client the app builds for store.redis.mode
// cluster (redisstore.NewClusterClient of redisstore.ClusterOptions of the
// cluster's seed URL).
func newClusterClient(t testing.TB, c *testenv.RedisCluster) *redis.ClusterClient {
	t.Helper()
	opts, err := redisstore.ClusterOptions(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redisstore.NewClusterClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// TestClusterConformance runs the store and counter conformance suites on a
// 3-master Redis Cluster: every script's keys share one slot (no CROSSSLOT)
// and each script runs on its slot's master (no MOVED left unfollowed).
func TestClusterConformance(t *testing.T) {
	t.Parallel()
	rdb := newClusterClient(t, testenv.StartRedisCluster(t, 3))
	prefix := testPrefix
	t.Run("store", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) storetest.Store {
			return redisstore.New(rdb, prefix(), redisstore.WithGrace(200*time.Millisecond))
		})
	})
	t.Run("store clocked", func(t *testing.T) {
		storetest.RunClocked(t, func(t *testing.T, now func() time.Time) storetest.Store {
			return redisstore.New(rdb, prefix(), redisstore.WithClock(now))
		})
	})
	t.Run("counter", func(t *testing.T) {
		countertest.Run(t, func(t *testing.T) countertest.Store {
			return redisstore.New(rdb, prefix(), redisstore.WithGrace(200*time.Millisecond))
		})
	})
	t.Run("counter sliding", func(t *testing.T) {
		countertest.RunSliding(t, func(t *testing.T, now func() time.Time) countertest.Store {
			return redisstore.New(rdb, prefix(), redisstore.WithClock(now))
		})
	})
}

// TestClusterKeysSpread: different identities' keys and different limit
// keys land on different masters, and each key is really on its slot's
// master (read there with a plain client, no redirect).
func TestClusterKeysSpread(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t, 3)
	rdb := newClusterClient(t, cl)
	st := redisstore.New(rdb, "spread:")
	now := time.Now()
	var keys []string
	for i := range 12 {
		c := storetest.New(challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: fmt.Sprintf("identity-%d", i), FlowID: "f"}, now, time.Minute)
		if _, ok, err := st.Create(ctx, c, "", now); err != nil || !ok {
			t.Fatalf("create %d: %v %v", i, ok, err)
		}
		keys = append(keys, st.Keys(c)...)
	}
	var takes []limit.Take
	for i := range 6 {
		takes = append(takes, limit.Take{Key: fmt.Sprintf("n:%d", i), Limit: 5, Window: time.Hour})
	}
	if res, err := st.Take(ctx, takes); err != nil || !res.Allowed {
		t.Fatalf("take: %+v %v", res, err)
	}
	for _, tk := range takes {
		keys = append(keys, "spread:{l:"+tk.Key+"}:w")
	}
	byNode := map[string]int{}
	for _, k := range keys {
		m, err := rdb.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		addr := m.Options().Addr
		direct := newClient(t, addr)
		if n, err := direct.Exists(ctx, k).Result(); err != nil || n != 1 {
			t.Fatalf("key %s is not on its slot's master %s: %d %v", k, addr, n, err)
		}
		byNode[addr]++
	}
	if len(byNode) != 3 {
		t.Fatalf("keys by master %v: want all 3 masters used", byNode)
	}
}

// TestServiceOverCluster: two challenge services on one cluster, as two
// instances: a start on A is found by B, verified on B, refused as used on
// A; a ban recorded through A holds on B. With the identity's master down
// both fail closed, and they work again once it is back, without a restart.
func TestServiceOverCluster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t, 3)
	p := &fakeProvider{code: "7391"}
	type instance struct {
		svc *challenge.Service
		lim *limit.Limiter
	}
	newInstance := func() instance {
		lim, svc := serviceOn(t, redisstore.New(newClusterClient(t, cl), "cpk:"), limit.DefaultConfig(), p)
		return instance{svc, lim}
	}
	a, b := newInstance(), newInstance()
	req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "ident", FlowID: "flow", Phone: "+79001234567"}
	bind := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
	res, err := a.svc.Start(ctx, req)
	if err != nil || !res.Placed {
		t.Fatalf("start on A: %+v %v", res, err)
	}
	if res2, err := b.svc.Start(ctx, req); err != nil || res2.Placed || res2.Challenge.ID != res.Challenge.ID || p.calls != 1 {
		t.Fatalf("start on B: %+v %v calls=%d", res2, err, p.calls)
	}
	if _, err := b.svc.Verify(ctx, bind, "", "7391"); err != nil {
		t.Fatalf("verify on B: %v", err)
	}
	if _, err := a.svc.Verify(ctx, bind, res.Challenge.ID, "7391"); !errors.Is(err, challenge.ErrAlreadyUsed) {
		t.Fatalf("reuse on A: %v", err)
	}

	// A ban recorded through A (regulation failures) refuses B's start.
	banned := "banned-ident"
	for range limit.DefaultConfig().Regulation.MaxFailures {
		if _, err := a.lim.RecordFailure(ctx, banned); err != nil {
			t.Fatal(err)
		}
	}
	breq := req
	breq.IdentityID, breq.FlowID = banned, "flow-b"
	var le *limit.LimitError
	if _, err := b.svc.Start(ctx, breq); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("start on B of an identity banned through A: %v", err)
	}

	// The master holding the identity's slot goes down: closed.
	probe := newClusterClient(t, cl)
	m, err := probe.MasterForKey(ctx, "{"+challenge.IdentityTag(req.IdentityID)+"}")
	if err != nil {
		t.Fatal(err)
	}
	var down *testenv.Redis
	for _, n := range cl.Nodes {
		if n.Addr == m.Options().Addr {
			down = n
		}
	}
	down.Stop()
	req.FlowID = "flow-2"
	calls := p.calls
	if _, err := a.svc.Start(ctx, req); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("start with the identity's master down: %v", err)
	}
	if _, err := b.svc.Verify(ctx, bind, "", "7391"); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("verify with the identity's master down: %v", err)
	}
	if p.calls != calls {
		t.Fatal("provider called while the identity's master was down")
	}
	down.Start()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := a.svc.Start(ctx, req)
		if err == nil && res.Placed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the master came back: %+v %v", res, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestClusterInspect: every master is inspected; an eviction policy on one
// of them is named with its address, and the cluster is no problem for a
// cluster client (it is for a standalone one).
func TestClusterInspect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t, 3)
	st := redisstore.New(newClusterClient(t, cl), "i:")
	info, err := st.Inspect(ctx)
	if err != nil || len(info.Masters) != 3 || info.Problem() != nil || len(info.Warnings()) != 0 {
		t.Fatalf("info %+v err %v problem %v warnings %q", info, err, info.Problem(), info.Warnings())
	}
	lru := cl.Nodes[1]
	direct := newClient(t, lru.Addr)
	for _, kv := range [][2]string{{"maxmemory", "100mb"}, {"maxmemory-policy", "allkeys-lru"}} {
		if err := direct.ConfigSet(ctx, kv[0], kv[1]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	info, err = st.Inspect(ctx)
	if w := info.Warnings(); err != nil || len(w) != 1 || !strings.Contains(w[0], lru.Addr) || !strings.Contains(w[0], "allkeys-lru") {
		t.Fatalf("warnings %q (%v), want one naming %s and its policy", w, err, lru.Addr)
	}
	single, err := redisstore.New(direct, "i:").Inspect(ctx)
	if err != nil || single.Problem() == nil || !strings.Contains(single.Problem().Error(), "store.redis.mode: cluster") {
		t.Fatalf("standalone client on a cluster node: problem %v (%v)", single.Problem(), err)
	}
}

// TestClusterScriptFlushedOnOneMaster: a master that lost its script cache
// (a replica promoted by a failover starts empty) answers NOSCRIPT while
// the others run the script. Each take is counted once: only the refused
// scripts are sent again, not the whole pipeline.
func TestClusterScriptFlushedOnOneMaster(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t, 3)
	rdb := newClusterClient(t, cl)
	st := redisstore.New(rdb, "flush:")
	var takes []limit.Take
	masters := map[string]bool{}
	for i := 0; len(masters) < 3; i++ {
		k := fmt.Sprintf("n:%d", i)
		m, err := rdb.MasterForKey(ctx, "flush:{l:"+k+"}:w")
		if err != nil {
			t.Fatal(err)
		}
		masters[m.Options().Addr] = true
		takes = append(takes, limit.Take{Key: k, Limit: 10, Window: time.Hour})
	}
	if res, err := st.Take(ctx, takes); err != nil || !res.Allowed { // loads the script everywhere
		t.Fatalf("first take: %+v %v", res, err)
	}
	if err := newClient(t, cl.Nodes[0].Addr).ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	res, err := st.Take(ctx, takes)
	if err != nil || !res.Allowed {
		t.Fatalf("take after one master's SCRIPT FLUSH: %+v %v", res, err)
	}
	for i, n := range res.Counts {
		if n != 2 {
			t.Fatalf("rule %d counts %d takes, want 2: a take ran twice (counts %v)", i, n, res.Counts)
		}
	}
	// The lookup's pipeline (script and counter reads) after a flush too.
	c := storetest.New(challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "flush-identity", FlowID: "f"}, time.Now(), time.Minute)
	if _, ok, err := st.Create(ctx, c, "", time.Now()); err != nil || !ok {
		t.Fatalf("create: %v %v", ok, err)
	}
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := st.LookupAndCheck(ctx, challenge.LookupRequest{Binding: c.Binding()}, takes)
	if err != nil || got.Challenge.ID != c.ID || !got.Check.Allowed {
		t.Fatalf("lookup and check after SCRIPT FLUSH: %+v %v", got, err)
	}
}

// TestClusterLateReplyRunsScriptOnce is TestLateReplyRunsScriptOnce on a
// cluster client: go-redis's cluster client re-sends a command whose reply
// timed out (whatever MaxRetries says), so a script is marked never to be
// re-sent; the late take and the late verify count once.
func TestClusterLateReplyRunsScriptOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t, 3)
	rdb := newClusterClient(t, cl)
	st := redisstore.New(rdb, "late:")
	nodeOf := func(key string) string {
		m, err := rdb.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return m.Options().Addr
	}

	t.Run("take", func(t *testing.T) {
		rules := []limit.Take{{Key: "n:late", Limit: 5, Window: time.Hour}}
		key := "late:{l:n:late}:w"
		if r, err := st.Take(ctx, rules); err != nil || !r.Allowed {
			t.Fatalf("first take: %+v %v", r, err)
		}
		done := stall(t, nodeOf(key), 2500*time.Millisecond)
		if r, err := st.Take(ctx, rules); err == nil {
			t.Fatalf("take during the stall: %+v, want the timeout", r)
		}
		<-done
		if n, err := rdb.ZCard(ctx, key).Result(); err != nil || n != 2 {
			t.Fatalf("counter holds %d takes (%v), want 2: the late take ran more than once", n, err)
		}
	})

	t.Run("verify", func(t *testing.T) {
		lateVerifyCountsOnce(t, st, func(c challenge.Challenge) string { return nodeOf(st.Keys(c)[0]) })
	})
}

// TestClusterMasterDownPingAndInspect: with one master down, Ping fails
// naming it (a cluster client's own PING goes to one node and said ok),
// Inspect returns an error naming it and still reports the masters that
// answered; both are clean again once it is back.
func TestClusterMasterDownPingAndInspect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testenv.StartRedisCluster(t, 3)
	st := redisstore.New(newClusterClient(t, cl), "down:")
	if err := st.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Inspect(ctx); err != nil {
		t.Fatal(err)
	}
	down := cl.Nodes[1]
	down.Stop()
	for i := 0; i < 3; i++ { // whichever node the client's own PING picks
		if err := st.Ping(ctx); err == nil || !strings.Contains(err.Error(), down.Addr) {
			t.Fatalf("ping %d with master %s down: %v, want an error naming it", i, down.Addr, err)
		}
	}
	info, err := st.Inspect(ctx)
	if err == nil || !strings.Contains(err.Error(), down.Addr) {
		t.Fatalf("inspect with master %s down: %v, want an error naming it", down.Addr, err)
	}
	answered := 0
	for _, m := range info.Masters {
		if m.Addr != down.Addr && m.Version != "" {
			answered++
		}
	}
	if answered != 2 {
		t.Fatalf("inspect with a master down: %d others reported, want 2 (%+v)", answered, info.Masters)
	}
	down.Start()
	deadline := time.Now().Add(10 * time.Second)
	for st.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("ping still failing after master %s came back: %v", down.Addr, st.Ping(ctx))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
