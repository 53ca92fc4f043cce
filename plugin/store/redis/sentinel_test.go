package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

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
	rdb, err := redisstore.NewClient(redisstore.ModeSentinel, "redis://:data-pw@"+rs.Sentinel.Addr+"/0", rs.MasterName, "sentinel-pw")
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

	deadline := time.Now().Add(20 * time.Second)
	for svc.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("no failover: the store did not come back")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if addr, err := rs.MasterAddr(ctx, "sentinel-pw"); err != nil || addr != rs.Replica.Addr {
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
