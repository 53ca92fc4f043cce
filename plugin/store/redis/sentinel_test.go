package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// failoverWait bounds the wait for a Sentinel failover, which takes a few
// seconds here (down-after-milliseconds 300). A sentinel whose timer runs
// more than 2 s late (a loaded machine stalls every process) enters TILT
// mode and acts on nothing for 30 s: the bound allows for one TILT after
// the sentinels found the master down. (One before that cannot be waited
// out: the replica's link would then be down too long for Sentinel to
// promote it.)
const failoverWait = 50 * time.Second

// TestServiceOverSentinel: the service on a master found through Sentinel
// (passwords on the data nodes and on the sentinel, as the app is
// configured). When the master dies the service fails closed; once the
// sentinel has promoted the replica it works again, without a restart, and
// what reached the replica before the failover (the challenge) is still
// there.
func TestServiceOverSentinel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rs := testenv.StartRedisSentinel(t, "callpass", testenv.SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw"})
	rdb, err := redisstore.NewClient(redisstore.ModeSentinel, rs.URL(), redisstore.Sentinel{Master: rs.MasterName, Password: "sentinel-pw"}, redisstore.TLS{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	if _, ok := rdb.(*redis.Client); !ok {
		t.Fatalf("sentinel mode built a %T", rdb)
	}
	st := redisstore.New(rdb, "cpk:")
	p := &fakeProvider{code: "7391"}
	_, svc := serviceOn(t, st, limit.DefaultConfig(), p)

	req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "ident", FlowID: "flow", Phone: "+79001234567"}
	bind := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
	res, err := svc.Start(ctx, req)
	if err != nil || !res.Placed {
		t.Fatalf("start: %+v %v", res, err)
	}
	// The replica has it before the master goes (WAIT: replication is
	// asynchronous, which is what a real failover may lose).
	if n, err := rdb.(*redis.Client).Wait(ctx, 1, 2*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d %v", n, err)
	}

	rs.Master.Stop()
	if _, err := svc.Verify(ctx, bind, "", "7391"); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("verify with the master down: %v", err)
	}
	if err := svc.Ping(ctx); err == nil {
		t.Fatal("ping answered with the master down")
	}

	deadline := time.Now().Add(failoverWait)
	for svc.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no failover: the store did not come back\n%s", sentinelLogs(rs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if addr, err := rs.MasterAddr(ctx); err != nil || addr != rs.Replica.Addr {
		t.Fatalf("master after the failover %s (%v), want the replica %s", addr, err, rs.Replica.Addr)
	}
	if _, err := svc.Verify(ctx, bind, "", "7391"); err != nil {
		t.Fatalf("verify after the failover: %v", err)
	}
	req.FlowID = "flow-2"
	if res, err := svc.Start(ctx, req); err != nil || !res.Placed {
		t.Fatalf("start after the failover: %+v %v", res, err)
	}
}

// TestSentinelACLUser: with sentinels that admit only an ACL user (their
// default user off), the store reaches the master with that user and its
// password (store.redis.sentinel_username and sentinel_password); a wrong
// user, no user or a wrong password fails closed: Ping says WRONGPASS
// (what readiness reports), a start fails as the store being unavailable
// and places no call, and no error carries a password.
func TestSentinelACLUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rs := testenv.StartRedisSentinel(t, "callpass", testenv.SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw", SentinelUser: "cpk"})
	tests := []struct {
		name     string
		sentinel redisstore.Sentinel
		ok       bool
	}{
		{"right user and password", redisstore.Sentinel{Username: "cpk", Password: "sentinel-pw"}, true},
		{"wrong user", redisstore.Sentinel{Username: "cpk2", Password: "sentinel-pw"}, false},
		{"no user (the default one is off)", redisstore.Sentinel{Password: "sentinel-pw"}, false},
		{"wrong password", redisstore.Sentinel{Username: "cpk", Password: "sentinel-pw2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.sentinel.Master = rs.MasterName
			rdb, err := redisstore.NewClient(redisstore.ModeSentinel, rs.URL(), tt.sentinel, redisstore.TLS{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rdb.Close() })
			p := &fakeProvider{code: "7391"}
			_, svc := serviceOn(t, redisstore.New(rdb, "cpk:"), limit.DefaultConfig(), p)
			req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "ident-" + tt.name, FlowID: "flow", Phone: "+79001234567"}
			if tt.ok {
				pingErr := svc.Ping(ctx)
				if res, err := svc.Start(ctx, req); pingErr != nil || err != nil || !res.Placed {
					t.Fatalf("ping %v, start %+v %v", pingErr, res, err)
				}
				return
			}
			// Every Ping fails; one that times out (a stalled machine) says
			// nothing of the credentials, the next is asked.
			pingErr := svc.Ping(ctx)
			for deadline := time.Now().Add(10 * time.Second); pingErr != nil && !strings.Contains(pingErr.Error(), "WRONGPASS") && time.Now().Before(deadline); {
				time.Sleep(100 * time.Millisecond)
				pingErr = svc.Ping(ctx)
			}
			if pingErr == nil || !strings.Contains(pingErr.Error(), "WRONGPASS") {
				t.Errorf("ping: %v, want WRONGPASS", pingErr)
			}
			res, startErr := svc.Start(ctx, req)
			if !errors.Is(startErr, challenge.ErrStoreUnavailable) || p.calls != 0 {
				t.Errorf("start: %+v %v, %d calls; want the store unavailable and no call", res, startErr, p.calls)
			}
			for _, err := range []error{pingErr, startErr} {
				for _, secret := range []string{"data-pw", "sentinel-pw"} {
					if err != nil && strings.Contains(err.Error(), secret) {
						t.Errorf("error holds a password: %v", err)
					}
				}
			}
		})
	}
}

// TestServiceOverSeveralSentinels: three sentinels (quorum 2, an ACL user
// on each) watch the master, and two instances of the service are given
// all three. The sentinel an instance talks to is killed first: both keep
// working (the second, started after, finds the master through the other
// two). Then the master is killed: the two remaining sentinels, a majority,
// agree it is down and promote the replica; meanwhile the service fails
// closed (no call placed), then follows the new master by itself, and a
// challenge written before (and replicated, WAIT) is still there, verified
// once across the instances.
func TestServiceOverSeveralSentinels(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rs := testenv.StartRedisSentinels(t, "callpass", testenv.SentinelAuth{Data: "data-pw", Sentinel: "sentinel-pw", SentinelUser: "cpk"}, 3, 2)
	p := &fakeProvider{code: "7391"}
	newSvc := func() (*redis.Client, *challenge.Service) {
		rdb, err := redisstore.NewClient(redisstore.ModeSentinel, rs.URL(),
			redisstore.Sentinel{Master: rs.MasterName, Username: "cpk", Password: "sentinel-pw"}, redisstore.TLS{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rdb.Close() })
		_, svc := serviceOn(t, redisstore.New(rdb, "cpk:"), limit.DefaultConfig(), p)
		return rdb.(*redis.Client), svc
	}
	rdbA, a := newSvc()
	req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "ident", FlowID: "flow", Phone: "+79001234567"}
	bind := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
	res, err := a.Start(ctx, req)
	if err != nil || !res.Placed {
		t.Fatalf("start on A: %+v %v", res, err)
	}

	// The sentinel A uses is the one holding its +switch-master
	// subscription (no other client of a sentinel subscribes).
	used := -1
	for deadline := time.Now().Add(5 * time.Second); used < 0; time.Sleep(50 * time.Millisecond) {
		for i := range rs.Sentinels {
			sc := rs.SentinelClient(i)
			cmd := redis.NewStringCmd(ctx, "client", "list")
			if err := sc.Process(ctx, cmd); err == nil && subscribed.MatchString(cmd.Val()) {
				used = i
			}
			_ = sc.Close()
		}
		if used < 0 && time.Now().After(deadline) {
			t.Fatal("no sentinel has A's subscription")
		}
	}
	masterAddr := rs.Master.Addr
	rs.Sentinels[used].Kill()
	t.Logf("killed sentinel %d of 3 (%s), the one A used", used, rs.Sentinels[used].Addr)
	if err := a.Ping(ctx); err != nil {
		t.Fatalf("A with sentinel %d of 3 down: %v", used, err)
	}
	_, b := newSvc()
	if res2, err := b.Start(ctx, req); err != nil || res2.Placed || res2.Challenge.ID != res.Challenge.ID || p.calls != 1 {
		t.Fatalf("start on B, with sentinel %d of 3 down: %+v %v calls=%d", used, res2, err, p.calls)
	}
	// The replica has the challenge before the master goes (WAIT:
	// replication is asynchronous, which is what a real failover may lose).
	if n, err := rdbA.Wait(ctx, 1, 2*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT: %d %v", n, err)
	}

	// The two remaining sentinels hold off their failover until the checks
	// of the gap below are done: on a loaded machine the failing requests
	// (each asks the sentinels, then dials) could outlast a 300 ms
	// down-after-milliseconds and an election. A
	// quorum of 3 lets each find the master down (SDOWN) but never agree
	// (ODOWN) until it is 2 again. (A longer down-after-milliseconds would
	// not do: the replica's link to the master, down since the kill, would
	// look too old for it to be promoted.)
	setQuorum := func(q string) {
		t.Helper()
		for i := range rs.Sentinels {
			if i == used {
				continue
			}
			sc := rs.SentinelClient(i)
			err := sc.Set(ctx, rs.MasterName, "quorum", q).Err()
			_ = sc.Close()
			if err != nil {
				t.Fatalf("SENTINEL SET quorum on sentinel %d: %v", i, err)
			}
		}
	}
	setQuorum("3")
	rs.Master.Kill()
	if _, err := a.Verify(ctx, bind, "", "7391"); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("verify on A with the master down: %v", err)
	}
	other := req
	other.FlowID = "flow-during"
	if res, err := b.Start(ctx, other); !errors.Is(err, challenge.ErrStoreUnavailable) || p.calls != 1 {
		t.Fatalf("start on B with the master down: %+v %v calls=%d", res, err, p.calls)
	}
	if a.Ping(ctx) == nil || b.Ping(ctx) == nil {
		t.Fatal("ping answered with the master down")
	}
	if addr, err := rs.MasterAddr(ctx); err != nil || addr != masterAddr {
		t.Fatalf("the sentinels name %s (%v) during the gap, want the dead master %s", addr, err, masterAddr)
	}
	// Each has found the master down (SDOWN) before they may agree: only
	// the agreement was held back.
	for i, s := range rs.Sentinels {
		if i == used {
			continue
		}
		sc := rs.SentinelClient(i)
		for deadline := time.Now().Add(failoverWait); ; time.Sleep(50 * time.Millisecond) {
			m, err := sc.Master(ctx, rs.MasterName).Result()
			if err == nil && strings.Contains(m["flags"], "s_down") {
				break
			}
			if time.Now().After(deadline) {
				_ = sc.Close()
				t.Fatalf("sentinel %s never found the master down: %v %v", s.Addr, m, err)
			}
		}
		_ = sc.Close()
	}
	setQuorum("2")

	released := time.Now()
	deadline := released.Add(failoverWait)
	for a.Ping(ctx) != nil || b.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("no failover: the store did not come back\n%s", sentinelLogs(rs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("both instances on the new master %v after the sentinels were let fail over", time.Since(released).Round(time.Millisecond))
	// Both remaining sentinels name the replica (the one that led the
	// failover, and the other, from its hello messages).
	for i, s := range rs.Sentinels {
		if i == used {
			continue
		}
		sc := rs.SentinelClient(i)
		for {
			got, err := sc.GetMasterAddrByName(ctx, rs.MasterName).Result()
			if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == rs.Replica.Addr {
				break
			}
			if time.Now().After(deadline) {
				_ = sc.Close()
				t.Fatalf("sentinel %s names %v (%v) as the master, want the replica %s", s.Addr, got, err, rs.Replica.Addr)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = sc.Close()
	}
	if _, err := b.Verify(ctx, bind, "", "7391"); err != nil {
		t.Fatalf("verify on B after the failover: %v", err)
	}
	if _, err := a.Verify(ctx, bind, res.Challenge.ID, "7391"); !errors.Is(err, challenge.ErrAlreadyUsed) {
		t.Fatalf("verify on A after B's: %v, want already used", err)
	}
	req.FlowID = "flow-2"
	if res, err := a.Start(ctx, req); err != nil || !res.Placed {
		t.Fatalf("start on A after the failover: %+v %v", res, err)
	}
}

// subscribed matches a CLIENT LIST line of a client with a subscription.
var subscribed = regexp.MustCompile(`(?m) sub=[1-9]`)

// sentinelLogs is the end of every sentinel's log, for a failure message.
func sentinelLogs(rs *testenv.RedisSentinel) string {
	var b strings.Builder
	for i, s := range rs.Sentinels {
		fmt.Fprintf(&b, "sentinel %d (%s):\n%s\n", i, s.Addr, s.LogTail(3000))
	}
	return b.String()
}
