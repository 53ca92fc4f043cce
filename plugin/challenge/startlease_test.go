package challenge_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// leaseEnv is a service on the real clock (start leases end by real time)
// over a memory store, which wrap (if set) may wrap, with the given start
// lease TTL and limits (mod, if set).
func leaseEnv(t *testing.T, leaseTTL time.Duration, wrap func(*memory.Store) challenge.Store, mod func(*limit.Config)) (*challenge.Service, *memory.Store, *provider) {
	t.Helper()
	mem := memory.New(time.Hour)
	t.Cleanup(func() { _ = mem.Close() })
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	cfg.StartLeaseTTL = leaseTTL
	lcfg := limit.DefaultConfig()
	if mod != nil {
		mod(&lcfg)
	}
	lim, err := limit.New(lcfg, mem, mem, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	var st challenge.Store = mem
	if wrap != nil {
		st = wrap(mem)
	}
	prov := &provider{}
	svc, err := challenge.NewService(cfg, st, prov, lim, challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc, mem, prov
}

// realTimeEnv is leaseEnv over the memory store itself, default limits.
func realTimeEnv(t *testing.T, leaseTTL time.Duration) (*challenge.Service, *memory.Store, *provider) {
	t.Helper()
	return leaseEnv(t, leaseTTL, nil, nil)
}

// startAside runs svc.Start(r) in a goroutine; its result arrives on the
// channel (an error fails the test).
func startAside(t *testing.T, svc *challenge.Service, r challenge.StartRequest) <-chan challenge.StartResult {
	out := make(chan challenge.StartResult, 1)
	go func() {
		res, err := svc.Start(context.Background(), r)
		if err != nil {
			t.Error(err)
		}
		out <- res
	}()
	return out
}

// TestStartLeaseRenewedWhileTheCallRuns: a start whose provider takes
// longer than the lease's TTL keeps its lease (it is renewed), so a second
// start of the flow meanwhile waits and answers with the first one's
// challenge instead of placing a second call.
func TestStartLeaseRenewedWhileTheCallRuns(t *testing.T) {
	// A TTL of 400 ms leaves a renewal (every third of it) 260 ms of slack:
	// with 150 ms, -race on a loaded 2-core machine once starved a renewal
	// past the TTL and a second call was placed.
	const ttl = 400 * time.Millisecond
	svc, _, prov := realTimeEnv(t, ttl)
	calling := make(chan struct{})
	var once sync.Once
	prov.duringStart = func() {
		once.Do(func() { close(calling) })
		time.Sleep(4 * ttl)
	}
	ctx := context.Background()
	r := req("slow-call")
	first := startAside(t, svc, r)
	<-calling
	second, err := svc.Start(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	a := <-first
	if n := prov.numCalls(); n != 1 {
		t.Fatalf("%d calls placed for one flow, want 1", n)
	}
	if !a.Placed || second.Placed || second.Challenge.ID != a.Challenge.ID {
		t.Errorf("first placed %v (%s), second placed %v (%s): want the second to show the first's challenge",
			a.Placed, a.Challenge.ID, second.Placed, second.Challenge.ID)
	}
}

// TestStartLeaseOfADeadStartEnds: a lease whose start died before it was
// released (its instance crashed, the store went away mid-start) holds the
// flow's next start off only until its TTL, not for the minute a start
// may take.
func TestStartLeaseOfADeadStartEnds(t *testing.T) {
	svc, mem, prov := realTimeEnv(t, 300*time.Millisecond)
	r := req("dead-start")
	if taken, _, err := mem.LeaseStart(context.Background(), bind(r), "a start that died", 300*time.Millisecond); err != nil || !taken {
		t.Fatalf("lease: %v %v", taken, err)
	}
	t0 := time.Now()
	res, err := svc.Start(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	waited := time.Since(t0)
	if !res.Placed || prov.numCalls() != 1 {
		t.Fatalf("placed %v, %d calls: want the start to go on once the dead lease ended", res.Placed, prov.numCalls())
	}
	if waited < 250*time.Millisecond || waited > 3*time.Second {
		t.Errorf("waited %s for a lease of 300ms", waited)
	}
}
