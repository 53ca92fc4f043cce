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
}

func (b *blocks) Fail(context.Context, string, time.Duration, int, time.Duration) (time.Time, error) {
	return time.Time{}, nil
}

func (b *blocks) BlockedUntil(_ context.Context, key string) (time.Time, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads++
	return b.until[key], nil
}

func (b *blocks) set(key string, t time.Time) { b.mu.Lock(); b.until[key] = t; b.mu.Unlock() }
func (b *blocks) read() int                   { b.mu.Lock(); defer b.mu.Unlock(); return b.reads }

// TestBanRemembered: a ban the store reported refuses later requests of the
// same identity without asking the store, until the ban ends or SIGHUP
// (ForgetBans); other identities are still asked. Both paths that read a
// ban (a start's lookup and a verify) use it.
func TestBanRemembered(t *testing.T) {
	ctx := context.Background()
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
	// Lifted by hand: still refused, from memory, with the remembered end.
	bl.set(limit.RegulationKey(r.IdentityID), time.Time{})
	clk.Advance(time.Minute)
	reads = bl.read()
	calls := e.prov.numCalls()
	if _, err := e.svc.Verify(ctx, bind(r), c.ID, "1234"); !isBan(err, 14*time.Minute) {
		t.Fatalf("verify while the ban is remembered: %v", err)
	}
	if _, err := e.svc.Start(ctx, req("flow-2")); !isBan(err, 14*time.Minute) {
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
