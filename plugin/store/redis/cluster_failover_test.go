package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// TestServiceOverClusterFailover: a real cluster failover under two
// challenge services (as two instances), each with its own cluster client
// kept throughout. A challenge, a regulation ban and a limit take are
// written on one master and replicated (WAIT); the master is killed. While
// the cluster elects its replica, that identity's requests fail closed
// (ErrStoreUnavailable, no call placed) and Ping says so, while an identity
// on another master verifies. Once the replica is promoted, the same
// clients reach it: the challenge written before the failover verifies on
// the other instance with its code and is then refused as used, the ban
// and the take held, the identity starts again, and Ping is clean.
func TestServiceOverClusterFailover(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cl := testenv.StartRedisClusterWithReplicas(t, 3)
	p := &fakeProvider{code: "7391"}
	type instance struct {
		st  *redisstore.Store
		svc *challenge.Service
		lim *limit.Limiter
	}
	newInstance := func() instance {
		st := redisstore.New(newClusterClient(t, cl), "cpk:")
		lim, svc := serviceOn(t, st, limit.DefaultConfig(), p)
		return instance{st, svc, lim}
	}
	a, b := newInstance(), newInstance()
	probe := newClusterClient(t, cl)
	masterOf := func(key string) *testenv.Redis {
		t.Helper()
		m, err := probe.MasterForKey(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range cl.Nodes {
			if n.Addr == m.Options().Addr {
				return n
			}
		}
		t.Fatalf("key %s: master %s is none of %v", key, m.Options().Addr, cl.Addrs())
		return nil
	}
	identityMaster := func(id string) *testenv.Redis { return masterOf("{" + challenge.IdentityTag(id) + "}") }

	// The victim identity, a banned identity and a limit key on the same
	// master; a steady identity on another.
	victim := "victim"
	down := identityMaster(victim)
	replica := cl.ReplicaOf(down)
	pick := func(format string, same bool, master func(string) *testenv.Redis) string {
		for i := range 1000 {
			s := fmt.Sprintf(format, i)
			if (master(s) == down) == same {
				return s
			}
		}
		t.Fatalf("no %s found", format)
		return ""
	}
	banned := pick("banned-%d", true, identityMaster)
	steady := pick("steady-%d", false, identityMaster)
	limitKey := pick("failover-limit-%d", true, func(k string) *testenv.Redis { return masterOf("cpk:{l:" + k + "}:w") })

	vreq := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: victim, FlowID: "flow", Phone: "+79001234567"}
	vbind := challenge.Binding{Purpose: vreq.Purpose, IdentityID: vreq.IdentityID, FlowID: vreq.FlowID}
	vres, err := a.svc.Start(ctx, vreq)
	if err != nil || !vres.Placed {
		t.Fatalf("start of %s on A: %+v %v", victim, vres, err)
	}
	// Two challenges of the steady identity (two flows), on another master.
	sreq := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: steady, Phone: "+79001234568"}
	sbind := func(flow string) challenge.Binding {
		return challenge.Binding{Purpose: sreq.Purpose, IdentityID: sreq.IdentityID, FlowID: flow}
	}
	for _, flow := range []string{"flow-1", "flow-2"} {
		sreq.FlowID = flow
		if res, err := a.svc.Start(ctx, sreq); err != nil || !res.Placed {
			t.Fatalf("start of %s %s on A: %+v %v", steady, flow, res, err)
		}
	}
	for range limit.DefaultConfig().Regulation.MaxFailures {
		if _, err := a.lim.RecordFailure(ctx, banned); err != nil {
			t.Fatal(err)
		}
	}
	take := []limit.Take{{Key: limitKey, Limit: 2, Window: time.Hour}}
	if res, err := a.st.Take(ctx, take); err != nil || !res.Allowed {
		t.Fatalf("first take: %+v %v", res, err)
	}
	// Everything above reached the replica before the master dies (a
	// write not replicated yet is lost in a failover: operations.md).
	if n, err := newClient(t, down.Addr).Do(ctx, "WAIT", 1, 2000).Int(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 on master %s: %d replicas %v, want 1", down.Addr, n, err)
	}
	// The replica holds off its failover until the checks of the election
	// window below are done (on a loaded machine they could outlast a
	// ~1.5 s election; with go-redis's default five dial attempts each
	// failing request alone spent ~0.5 s).
	rc := newClient(t, replica.Addr)
	if err := rc.ConfigSet(ctx, "cluster-replica-no-failover", "yes").Err(); err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	down.Kill()
	t.Logf("killed master %s (replica %s)", down.Addr, replica.Addr)

	// Until the cluster flags the master failed (cluster-node-timeout,
	// 500 ms), the steady identity works.
	if _, err := b.svc.Verify(ctx, sbind("flow-1"), "", "7391"); err != nil {
		if since := time.Since(killed); !errors.Is(err, challenge.ErrStoreUnavailable) || since < 500*time.Millisecond {
			t.Fatalf("verify of %s (master %s up) %v after the kill: %v", steady, identityMaster(steady).Addr, since, err)
		}
		t.Logf("verify of %s came %v after the kill, the master already flagged failed: %v", steady, time.Since(killed), err)
	}

	// The victim's requests fail closed, no call placed; Ping names the
	// dead master.
	calls := p.calls
	vreq2 := vreq
	vreq2.FlowID = "flow-2"
	if _, err := a.svc.Start(ctx, vreq2); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("start of %s with its master down: %v, want ErrStoreUnavailable", victim, err)
	}
	if _, err := b.svc.Verify(ctx, vbind, vres.Challenge.ID, "7391"); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("verify of %s with its master down: %v, want ErrStoreUnavailable", victim, err)
	}
	if p.calls != calls {
		t.Fatal("provider called while the identity's master was down")
	}
	if err := a.st.Ping(ctx); err == nil || !strings.Contains(err.Error(), down.Addr) {
		t.Fatalf("ping with master %s down: %v, want an error naming it", down.Addr, err)
	}

	// Once the master is flagged failed and until its replica takes over,
	// the cluster is down for every slot (cluster-require-full-coverage,
	// yes by default): the steady identity fails closed too (CLUSTERDOWN).
	other := newClient(t, identityMaster(steady).Addr)
	deadline := killed.Add(5 * time.Second)
	for {
		ci, err := other.ClusterInfo(ctx).Result()
		if err == nil && strings.Contains(ci, "cluster_state:fail") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("master %s still not flagged failed %v after the kill: %s %v", down.Addr, time.Since(killed), ci, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := b.svc.Verify(ctx, sbind("flow-2"), "", "7391"); !errors.Is(err, challenge.ErrStoreUnavailable) || !strings.Contains(err.Error(), "CLUSTERDOWN") {
		t.Fatalf("verify of %s while the cluster is down: %v, want ErrStoreUnavailable (CLUSTERDOWN)", steady, err)
	}
	if p.calls != calls {
		t.Fatal("provider called while the cluster was down")
	}
	electing := time.Since(killed)

	// The replica takes over.
	if err := rc.ConfigSet(ctx, "cluster-replica-no-failover", "no").Err(); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	deadline = released.Add(10 * time.Second)
	for !promoted(ctx, t, replica) {
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not promoted 10s after its failover was allowed", replica.Addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	promotedAt := time.Since(released)

	// The same clients reach it. Each one's first request after the
	// promotion may still go to the dead master and fail closed (its slot
	// map reloads as that fails: redisstore.NewClusterClient); within 3 s
	// of the promotion each is served. The challenge written before the
	// failover verifies on B with its code, then is refused on A as used.
	served := func(what string, f func() error) error {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			err := f()
			if !errors.Is(err, challenge.ErrStoreUnavailable) {
				return err
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s %v after the replica %s was promoted: %v", what, time.Since(released)-promotedAt, replica.Addr, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if err := served("verify of "+victim+" on B", func() error {
		_, err := b.svc.Verify(ctx, vbind, vres.Challenge.ID, "7391")
		return err
	}); err != nil {
		t.Fatalf("verify on B of %s's challenge created before the failover: %v", victim, err)
	}
	servedAt := time.Since(released)
	if err := served("second verify of "+victim+" on A", func() error {
		_, err := a.svc.Verify(ctx, vbind, vres.Challenge.ID, "7391")
		return err
	}); !errors.Is(err, challenge.ErrAlreadyUsed) {
		t.Fatalf("second verify of %s on A after the failover: %v, want ErrAlreadyUsed", victim, err)
	}
	breq := vreq
	breq.IdentityID, breq.FlowID = banned, "flow-b"
	var le *limit.LimitError
	if _, err := b.svc.Start(ctx, breq); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("start on B of %s, banned through A before the failover: %v, want the regulation ban", banned, err)
	}
	if res, err := b.st.Take(ctx, take); err != nil || !res.Allowed {
		t.Fatalf("second take after the failover: %+v %v", res, err)
	}
	if res, err := a.st.Take(ctx, take); err != nil || res.Allowed {
		t.Fatalf("third take of a limit of 2: %+v %v, want refused (the take before the failover kept)", res, err)
	}
	if res, err := a.svc.Start(ctx, vreq2); err != nil || !res.Placed {
		t.Fatalf("start of %s after the failover: %+v %v", victim, res, err)
	}
	if _, err := a.svc.Verify(ctx, sbind("flow-2"), "", "7391"); err != nil {
		t.Fatalf("verify of %s flow-2 (refused while the cluster was down) after the failover: %v", steady, err)
	}
	for _, in := range []instance{a, b} {
		if err := in.st.Ping(ctx); err != nil {
			t.Fatalf("ping after the failover: %v", err)
		}
	}
	t.Logf("election-window checks done %v after the kill; once allowed, the replica was promoted in %v and the victim's challenge verified through the same clients after %v",
		electing.Round(time.Millisecond), promotedAt.Round(time.Millisecond), servedAt.Round(time.Millisecond))
}

// promoted reports whether r is a master again and its cluster ok.
func promoted(ctx context.Context, t *testing.T, r *testenv.Redis) bool {
	t.Helper()
	c := newClient(t, r.Addr)
	info, err := c.Info(ctx, "replication").Result()
	if err != nil || !strings.Contains(info, "role:master") {
		return false
	}
	ci, err := c.ClusterInfo(ctx).Result()
	return err == nil && strings.Contains(ci, "cluster_state:ok")
}
