package challenge_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

const otherPhone = "+79001234568"

// slowFirstCall makes the provider's first call take d (the later ones are
// immediate) and returns a channel closed when that first call is placed.
func slowFirstCall(prov *provider, d time.Duration) <-chan struct{} {
	calling := make(chan struct{})
	var once sync.Once
	prov.duringStart = func() {
		first := false
		once.Do(func() { first = true; close(calling) })
		if first {
			time.Sleep(d)
		}
	}
	return calling
}

// TestStartLeaseWaiterForNewNumberGetsItsOwnCall: the number changed
// within the flow (settings) while a start for the old number held the
// lease. The waiter, for the new number, must replace the challenge that
// start made (not the one it read before waiting): its call is stored and
// answered, never the old number's challenge after a wasted call.
func TestStartLeaseWaiterForNewNumberGetsItsOwnCall(t *testing.T) {
	svc, _, prov := realTimeEnv(t, 5*time.Second)
	calling := slowFirstCall(prov, 300*time.Millisecond)
	ctx := context.Background()
	old := req("number-change")
	first := make(chan challenge.StartResult, 1)
	go func() {
		res, err := svc.Start(ctx, old)
		if err != nil {
			t.Error(err)
		}
		first <- res
	}()
	<-calling
	nr := req("number-change")
	nr.Phone = otherPhone
	second, err := svc.Start(ctx, nr)
	if err != nil {
		t.Fatal(err)
	}
	a := <-first
	t.Logf("calls %v; holder %s (%s); new-number start placed=%v %s (%s)",
		prov.calls, a.Challenge.ID, a.Challenge.Phone, second.Placed, second.Challenge.ID, second.Challenge.Phone)
	if second.Challenge.Phone != otherPhone {
		t.Errorf("start for %s answered with a challenge for %s (placed %v) after %d paid calls",
			otherPhone, second.Challenge.Phone, second.Placed, prov.numCalls())
	}
}

type markKey struct{}

// cancelOnTake is a memory store that ends the marked caller's context
// right after its lease is taken (a client or Kratos giving up at that
// moment).
type cancelOnTake struct {
	*memory.Store
	cancel atomic.Pointer[context.CancelFunc]
}

func (w *cancelOnTake) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	taken, active, err := w.Store.LeaseStart(ctx, b, token, ttl)
	if taken && ctx.Value(markKey{}) != nil {
		if f := w.cancel.Load(); f != nil {
			(*f)()
		}
	}
	return taken, active, err
}

// TestStartLeaseWaiterWhoseCallerLeftPlacesNoSecondCall: a waiter whose
// caller goes away just as it takes the lease still reads the holder's
// challenge (on a context of its own) and places no second call; a read
// that fails is not taken for "no challenge".
func TestStartLeaseWaiterWhoseCallerLeftPlacesNoSecondCall(t *testing.T) {
	var st *cancelOnTake
	svc, _, prov := leaseEnv(t, 0, func(mem *memory.Store) challenge.Store { st = &cancelOnTake{Store: mem}; return st }, nil)

	calling := slowFirstCall(prov, 200*time.Millisecond)
	r := req("gone-waiter")
	first := startAside(t, svc, r)
	<-calling
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), markKey{}, true))
	defer cancel()
	cf := context.CancelFunc(cancel)
	st.cancel.Store(&cf)
	second, err := svc.Start(ctx, r)
	a := <-first
	t.Logf("second: placed %v, challenge %s, err %v; first %s", second.Placed, second.Challenge.ID, err, a.Challenge.ID)
	if n := prov.numCalls(); n != 1 {
		t.Errorf("%d paid calls for one flow, want 1 (the waiter's caller went away as it took the lease)", n)
	}
}

// TestStartLeaseWaiterCallerGoneIsNotAStoreOutage: a start waiting for the
// lease whose caller goes away (Kratos's hook timeout, a closed tab) is not
// reported as a store outage (503 store_unavailable, logs blaming the
// store): it answers like a resend before its time.
func TestStartLeaseWaiterCallerGoneIsNotAStoreOutage(t *testing.T) {
	svc, _, prov := realTimeEnv(t, 5*time.Second)
	calling := slowFirstCall(prov, 400*time.Millisecond)
	r := req("gone-while-waiting")
	done := startAside(t, svc, r)
	<-calling
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := svc.Start(ctx, r)
	<-done
	t.Logf("waiter: %v", err)
	if errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Errorf("a waiter whose caller went away reports a store outage: %v", err)
	}
}

// TestStartLeaseTinyTTLDoesNotPanic: a StartLeaseTTL below 3ns makes no
// zero renewal interval (time.NewTicker would panic in a goroutine and kill
// the process); it runs in a child process so a panic fails only this test.
func TestStartLeaseTinyTTLDoesNotPanic(t *testing.T) {
	if os.Getenv("STARTLEASE_TEST_CHILD") == "1" {
		svc, _, _ := realTimeEnv(t, 2*time.Nanosecond)
		_, _ = svc.Start(context.Background(), req("tiny-ttl"))
		time.Sleep(100 * time.Millisecond)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartLeaseTinyTTLDoesNotPanic$", "-test.count=1")
	cmd.Env = append(os.Environ(), "STARTLEASE_TEST_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		line := ""
		for l := range strings.Lines(string(out)) {
			if strings.HasPrefix(l, "panic:") {
				line = strings.TrimSpace(l)
				break
			}
		}
		t.Errorf("a start with StartLeaseTTL 2ns crashed the process: %v: %s", err, line)
	}
}

// panicOnGet is a memory store whose Get panics for the marked caller.
type panicOnGet struct{ *memory.Store }

func (w panicOnGet) Get(ctx context.Context, id string) (challenge.Challenge, error) {
	if ctx.Value(markKey{}) != nil {
		panic("store bug")
	}
	return w.Store.Get(ctx, id)
}

// TestStartLeaseReleasedAfterAPanic: a panic right after the lease was
// taken (here in the store's Get) releases it and stops its renewal: the
// HTTP server recovers the panic and the process goes on, and the flow's
// later starts must not wait on a lease renewed for ever.
func TestStartLeaseReleasedAfterAPanic(t *testing.T) {
	const ttl = 150 * time.Millisecond
	svc, mem, prov := leaseEnv(t, ttl, func(mem *memory.Store) challenge.Store { return panicOnGet{mem} }, nil)

	calling := slowFirstCall(prov, 100*time.Millisecond)
	r := req("panic-after-take")
	done := startAside(t, svc, r)
	<-calling
	func() {
		defer func() { t.Logf("recovered: %v", recover()) }()
		_, _ = svc.Start(context.WithValue(context.Background(), markKey{}, true), r)
	}()
	<-done
	time.Sleep(5 * ttl)
	if taken, _, err := mem.LeaseStart(context.Background(), bind(r), "later start", ttl); err != nil || !taken {
		t.Errorf("lease still held %s (%d TTLs) after the start that took it panicked: taken %v, err %v", 5*ttl, 5, taken, err)
	}
}

// TestStartLeaseDoubleSubmitOnLastAllowedCallShowsTheCall: the first
// start takes the number's last allowed call and holds the lease while it
// rings; the double submit's read-only limit check sees the limit used up,
// by that very start. It waits and shows the first start's challenge,
// rather than "too many calls" (the browser shows the last response) while
// the call rings.
func TestStartLeaseDoubleSubmitOnLastAllowedCallShowsTheCall(t *testing.T) {
	svc, _, prov := leaseEnv(t, 0, nil, func(l *limit.Config) { l.PerNumber.Limit = 1 })
	calling := slowFirstCall(prov, 300*time.Millisecond)
	r := req("last-call")
	first := startAside(t, svc, r)
	<-calling
	second, err := svc.Start(context.Background(), r)
	a := <-first
	t.Logf("first placed %v %s; double submit: %s, err %v", a.Placed, a.Challenge.ID, second.Challenge.ID, err)
	if err != nil || second.Challenge.ID != a.Challenge.ID {
		t.Errorf("double submit during the flow's last allowed call: err %v, challenge %q; want the first start's challenge %s",
			err, second.Challenge.ID, a.Challenge.ID)
	}
}
