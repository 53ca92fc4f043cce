package challenge_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// blocks is a limit.Blocks holding bans set by hand, counting its reads.
type blocks struct {
	mu    sync.Mutex
	until map[string]time.Time
	reads int
	err   error
	delay time.Duration
}

func (b *blocks) Fail(context.Context, string, time.Duration, int, time.Duration) (time.Time, error) {
	return time.Time{}, nil
}

func (b *blocks) BlockedUntil(ctx context.Context, key string) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.delay > 0 {
		time.Sleep(b.delay) // a slow store: concurrent requests overlap
	}
	b.reads++
	if err := ctx.Err(); err != nil {
		return time.Time{}, err // as a Redis client does
	}
	if b.err != nil {
		return time.Time{}, b.err
	}
	return b.until[key], nil
}

func (b *blocks) fail(err error) { b.mu.Lock(); b.err = err; b.mu.Unlock() }

func (b *blocks) set(key string, t time.Time) { b.mu.Lock(); b.until[key] = t; b.mu.Unlock() }
func (b *blocks) read() int                   { b.mu.Lock(); defer b.mu.Unlock(); return b.reads }

// bansEnv is a service on a memory store and a fake clock whose limiter
// keeps its bans in bl (read counted, settable by the test).
func bansEnv(t *testing.T) (*env, *blocks, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	bl := &blocks{until: map[string]time.Time{}}
	lim, err := limit.New(limit.DefaultConfig(), mem, bl, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	e := newEnvWith(t, cfg, mem, lim, clk)
	return e, bl, clk
}

// bannedAndRemembered is bansEnv with the identity of r banned for 15
// minutes and the ban remembered (one start refused).
func bannedAndRemembered(t *testing.T) (e *env, bl *blocks, clk *clock, r challenge.StartRequest, banKey string) {
	t.Helper()
	e, bl, clk = bansEnv(t)
	r = req("flow-1")
	banKey = limit.RegulationKey(r.IdentityID)
	bl.set(banKey, clk.Now().Add(15*time.Minute))
	if _, err := e.svc.Start(context.Background(), r); !errors.Is(err, limit.ErrLimited) {
		t.Fatalf("start of a banned identity: %v", err)
	}
	return e, bl, clk, r, banKey
}

// TestBanRemembered: a ban the store reported refuses later requests of the
// same identity without asking the store, until the ban ends, SIGHUP
// (ForgetBans) or the recheck (below); other identities are still asked. Both paths that read a
// ban (a start's lookup and a verify) use it.
func TestBanRemembered(t *testing.T) {
	ctx := context.Background()
	e, bl, clk := bansEnv(t)

	r := req("flow-1")
	c := e.start(t, r).Challenge
	bl.set(limit.RegulationKey(r.IdentityID), clk.Now().Add(15*time.Minute))

	isBan := func(err error, retry time.Duration) bool {
		var le *limit.LimitError
		return errors.As(err, &le) && le.Kind == limit.KindRegulation && le.RetryAfter == retry
	}
	reads := bl.read()
	if _, err := e.svc.Verify(ctx, bind(r), c.ID, "1234"); !isBan(err, 15*time.Minute) {
		t.Fatalf("verify of a banned identity: %v", err)
	}
	if bl.read() != reads+1 {
		t.Fatalf("the first refusal read the ban %d times, want 1", bl.read()-reads)
	}
	// Lifted by hand: still refused, from memory, with the remembered end,
	// until the memo asks the store again (TestLiftedBanRecheckedOnce).
	bl.set(limit.RegulationKey(r.IdentityID), time.Time{})
	clk.Advance(10 * time.Second)
	reads = bl.read()
	calls := e.prov.numCalls()
	if _, err := e.svc.Verify(ctx, bind(r), c.ID, "1234"); !isBan(err, 14*time.Minute+50*time.Second) {
		t.Fatalf("verify while the ban is remembered: %v", err)
	}
	if _, err := e.svc.Start(ctx, req("flow-2")); !isBan(err, 14*time.Minute+50*time.Second) {
		t.Fatalf("start while the ban is remembered: %v", err)
	}
	if bl.read() != reads || e.prov.numCalls() != calls {
		t.Fatalf("remembered ban: %d store reads, %d calls; want none", bl.read()-reads, e.prov.numCalls()-calls)
	}
	if !e.obs.has("verify:blocked") || !e.obs.has("limit:"+limit.KindRegulation) {
		t.Fatal("refusals from memory are not counted in the metrics")
	}
	// Another identity is asked as before.
	other := req("flow-o")
	other.IdentityID = "ident-2"
	if res := e.start(t, other); !res.Placed || bl.read() == reads {
		t.Fatalf("another identity: placed %v, store read %v", res.Placed, bl.read() != reads)
	}
	// SIGHUP forgets: the store says there is no ban any more.
	e.svc.ForgetBans()
	if _, err := e.svc.Verify(ctx, bind(r), c.ID, e.prov.codes[0]); err != nil {
		t.Fatalf("verify after ForgetBans: %v", err)
	}

	// A remembered ban ends when the store's would: no refusal after it.
	r3 := req("flow-3")
	bl.set(limit.RegulationKey(r3.IdentityID), clk.Now().Add(time.Minute))
	if _, err := e.svc.Start(ctx, r3); !isBan(err, time.Minute) {
		t.Fatalf("start of a banned identity: %v", err)
	}
	bl.set(limit.RegulationKey(r3.IdentityID), time.Time{})
	clk.Advance(time.Minute)
	if res := e.start(t, r3); !res.Placed {
		t.Fatal("no call once the remembered ban ended")
	}
}

// TestLiftedBanRecheckedOnce: a remembered ban is read from the store again
// once per banRecheckEvery (30 s), by one request however many arrive: a
// flood costs one store read per interval; a ban still there keeps refusing
// (and is not read again for another interval), a lifted one (bans lift)
// lets the next request through on every instance without SIGHUP, and a
// failed read keeps refusing (fail closed).
func TestLiftedBanRecheckedOnce(t *testing.T) {
	ctx := context.Background()
	e, bl, clk, r, banKey := bannedAndRemembered(t)
	flood := func(n int) (reads int) {
		t.Helper()
		before := bl.read()
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.svc.Start(ctx, r); !errors.Is(err, limit.ErrLimited) {
					t.Errorf("start during the ban: %v", err)
				}
			}()
		}
		wg.Wait()
		return bl.read() - before
	}
	bl.delay = 20 * time.Millisecond
	for _, step := range []struct {
		name    string
		advance time.Duration
		want    int
	}{
		{"within the interval", 29 * time.Second, 0},
		{"the interval passed: one read", 2 * time.Second, 1},
		{"confirmed: none for another interval", 29 * time.Second, 0},
		{"and one again after it", 2 * time.Second, 1},
	} {
		clk.Advance(step.advance)
		if got := flood(200); got != step.want {
			t.Fatalf("%s: 200 starts made %d store reads of the ban, want %d", step.name, got, step.want)
		}
	}

	bl.delay = 0

	// The store fails: the remembered ban still refuses.
	bl.fail(errors.New("store down"))
	clk.Advance(31 * time.Second)
	if _, err := e.svc.Start(ctx, r); !errors.Is(err, limit.ErrLimited) {
		t.Fatalf("start with the recheck failing: %v, want the remembered ban", err)
	}
	bl.fail(nil)

	// Lifted: refused until the next recheck, then let through.
	bl.set(banKey, time.Time{})
	clk.Advance(10 * time.Second)
	if _, err := e.svc.Start(ctx, r); !errors.Is(err, limit.ErrLimited) {
		t.Fatalf("start 10 s after the lift: %v, want the remembered ban", err)
	}
	clk.Advance(21 * time.Second)
	if res, err := e.svc.Start(ctx, r); err != nil || !res.Placed {
		t.Fatalf("start once the lift was read: %+v %v, want a call", res, err)
	}
}

// TestBanRecheckNotLostToHangUp: the request that claims a remembered ban's
// re-read may have hung up already (its context cancelled: an attacker can
// send such requests by the thousand). The read must not fail with it and
// spend the claim, or a lifted ban would keep refusing for another interval,
// and every interval while the hang-ups go on.
func TestBanRecheckNotLostToHangUp(t *testing.T) {
	ctx := context.Background()
	e, bl, clk, r, banKey := bannedAndRemembered(t)
	bl.set(banKey, time.Time{}) // bans lift
	clk.Advance(31 * time.Second)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	_, _ = e.svc.Start(gone, r) // claims the re-read
	if res, err := e.svc.Start(ctx, r); err != nil || !res.Placed {
		t.Fatalf("start after the lift, the re-read claimed by a request that hung up: %+v %v, want a call", res, err)
	}
}
