package challenge_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// TestStartLeaseReleasedWhenTheStartFails: a start whose call failed
// releases its flow's lease: the next start of the flow places its call
// at once, not after the minute a stuck lease would hold it off.
func TestStartLeaseReleasedWhenTheStartFails(t *testing.T) {
	svc, mem, prov := realTimeEnv(t, 0)
	r := req("failed-start")
	prov.err = fmt.Errorf("callpass: 503: %w", flashcall.ErrUnavailable)
	if _, err := svc.Start(context.Background(), r); err == nil {
		t.Fatal("the failing start succeeded")
	}
	if taken, _, err := mem.LeaseStart(context.Background(), bind(r), "next start", time.Second); err != nil || !taken {
		t.Fatalf("the failed start left its lease held (taken %v, err %v)", taken, err)
	}
	_ = mem.ReleaseStart(context.Background(), bind(r), "next start")
	prov.err = nil
	t0 := time.Now()
	res, err := svc.Start(context.Background(), r)
	if err != nil || !res.Placed || time.Since(t0) > time.Second {
		t.Fatalf("next start: placed %v err %v after %s", res.Placed, err, time.Since(t0))
	}
}

// TestStartLeaseReleasedAfterARefusedDoubleSubmit: the refused double
// submit that waited for the first start's call leaves no lease behind.
func TestStartLeaseReleasedAfterARefusedDoubleSubmit(t *testing.T) {
	svc, mem, prov := leaseEnv(t, 0, nil, func(l *limit.Config) { l.PerNumber.Limit = 1 })
	calling := slowFirstCall(prov, 200*time.Millisecond)
	r := req("refused-double")
	first := startAside(t, svc, r)
	<-calling
	if _, err := svc.Start(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	<-first
	if taken, _, err := mem.LeaseStart(context.Background(), bind(r), "later start", time.Second); err != nil || !taken {
		t.Fatalf("a lease was left held after the double submit (taken %v, err %v)", taken, err)
	}
}

// ttlRecorder is a memory store that records the TTL of every lease asked.
type ttlRecorder struct {
	*memory.Store
	last atomic.Int64
}

func (w *ttlRecorder) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	w.last.Store(int64(ttl))
	return w.Store.LeaseStart(ctx, b, token, ttl)
}

// TestStartLeaseTTLFromConfig: the lease is taken, and renewed, for
// Config.StartLeaseTTL.
func TestStartLeaseTTLFromConfig(t *testing.T) {
	var rec *ttlRecorder
	svc, _, prov := leaseEnv(t, 90*time.Millisecond, func(mem *memory.Store) challenge.Store { rec = &ttlRecorder{Store: mem}; return rec }, nil)
	slowFirstCall(prov, 150*time.Millisecond)
	if _, err := svc.Start(context.Background(), req("ttl")); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(rec.last.Load()); got != 90*time.Millisecond {
		t.Errorf("lease TTL %s, want the configured 90ms", got)
	}
}

// deadOnGet is a memory store whose Get shows the first challenge created
// as already verified (used by another tab between the two starts). It is
// marked in CreateLeased itself: marking it from another goroutine once it
// appeared raced the waiter's Get (about 2 runs in 100 failed).
type deadOnGet struct {
	*memory.Store
	dead atomic.Pointer[string]
}

func (w *deadOnGet) CreateLeased(ctx context.Context, c challenge.Challenge, expectActive string, now time.Time, token string) (challenge.Challenge, bool, error) {
	active, created, err := w.Store.CreateLeased(ctx, c, expectActive, now, token)
	if err == nil && created {
		id := active.ID
		w.dead.CompareAndSwap(nil, &id)
	}
	return active, created, err
}

func (w *deadOnGet) Get(ctx context.Context, id string) (challenge.Challenge, error) {
	c, err := w.Store.Get(ctx, id)
	if d := w.dead.Load(); err == nil && d != nil && *d == id {
		c.State = challenge.StateVerified
	}
	return c, err
}

// TestStartLeaseWaiterPlacesItsCallWhenTheOtherChallengeIsDead: a waiting
// start that finds the other start's challenge already dead (verified,
// used up) does not answer with it: it places its own call.
func TestStartLeaseWaiterPlacesItsCallWhenTheOtherChallengeIsDead(t *testing.T) {
	var st *deadOnGet
	svc, _, prov := leaseEnv(t, 0, func(mem *memory.Store) challenge.Store { st = &deadOnGet{Store: mem}; return st }, nil)
	calling := slowFirstCall(prov, 200*time.Millisecond)
	r := req("dead-other")
	first := startAside(t, svc, r)
	<-calling
	second, err := svc.Start(context.Background(), r)
	a := <-first
	if err != nil && !errors.Is(err, challenge.ErrCooldown) {
		t.Fatal(err)
	}
	if second.Challenge.ID == a.Challenge.ID && !second.Placed {
		t.Errorf("the waiter answered with a dead challenge %s", a.Challenge.ID)
	}
}

// lookCounter is a memory store counting the start leases it refused: the
// looks of a start waiting for another start of its flow.
type lookCounter struct {
	*memory.Store
	refused atomic.Int64
}

func (w *lookCounter) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	taken, active, err := w.Store.LeaseStart(ctx, b, token, ttl)
	if err == nil && !taken {
		w.refused.Add(1)
	}
	return taken, active, err
}

// TestStartLeaseWaiterBacksOff: a start waiting for another start of its
// flow (a double submit while a synchronous call rings, up to
// callpass.timeout) looks at the lease less and less often, not every 20 ms
// for as long as the other start runs: that was a store round trip 50 times
// a second per waiting request (1,500 in a 30 s call), which one client
// sending many concurrent starts of its flow turned on a shared Redis. Once
// the lease ends the waiter still goes on within its longest wait.
func TestStartLeaseWaiterBacksOff(t *testing.T) {
	ctx := context.Background()
	var st *lookCounter
	svc, mem, prov := leaseEnv(t, 0, func(mem *memory.Store) challenge.Store { st = &lookCounter{Store: mem}; return st }, nil)
	r := req("waiter")
	if taken, _, err := mem.LeaseStart(ctx, bind(r), "other start", time.Minute); err != nil || !taken {
		t.Fatalf("lease: %v %v", taken, err)
	}
	type result struct {
		res challenge.StartResult
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		res, err := svc.Start(ctx, r)
		done <- result{res, err, time.Now()}
	}()
	const wait = 2 * time.Second
	time.Sleep(wait)
	looks := st.refused.Load()
	released := time.Now()
	if err := mem.ReleaseStart(ctx, bind(r), "other start"); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || !got.res.Placed || prov.numCalls() != 1 {
		t.Fatalf("the waiter after the release: placed %v, %d calls, err %v", got.res.Placed, prov.numCalls(), got.err)
	}
	if looks < 2 || looks > 20 {
		t.Errorf("the waiter looked at the lease %d times in %s, want 2 to 20", looks, wait)
	}
	if d := got.at.Sub(released); d > time.Second {
		t.Errorf("the waiter went on %s after the lease was released", d)
	}
}
