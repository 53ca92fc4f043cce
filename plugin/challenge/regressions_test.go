package challenge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// TestStartRefusesBanInSharedStore: with the usual wiring (challenges,
// counters and bans in one store) a ban another instance wrote to the store
// refuses a start of a fresh service, which has remembered no ban, before
// the provider is reached.
func TestStartRefusesBanInSharedStore(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	blocks, ok := e.store.(limit.Blocks)
	if !ok {
		t.Fatalf("the env's store %T keeps no bans", e.store)
	}
	r := limit.DefaultConfig().Regulation
	var until time.Time
	for range r.MaxFailures {
		var err error
		if until, err = blocks.Fail(ctx, limit.RegulationKey(req("f").IdentityID), r.FindTime, r.MaxFailures, r.BanTime); err != nil {
			t.Fatal(err)
		}
	}
	if !until.Equal(e.clk.Now().Add(r.BanTime)) {
		t.Fatalf("ban until %v, want now+%s", until, r.BanTime)
	}
	res, err := e.svc.Start(ctx, req("flow-banned-elsewhere"))
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Kind != limit.KindRegulation || le.RetryAfter != r.BanTime {
		t.Fatalf("start of an identity banned in the store: %+v, %v; want a regulation refusal, retry after %s", res, err, r.BanTime)
	}
	if n := e.prov.numCalls(); n != 0 || res.Placed {
		t.Fatalf("provider called %d times (placed %v) for a banned identity", n, res.Placed)
	}
	if !e.obs.has("limit:" + limit.KindRegulation) {
		t.Fatalf("refusal not observed: %v", e.obs.events)
	}
}

// TestStartAfterTTLWithoutVerifyPlacesCall: a challenge past its TTL that
// was never verified (still pending in the store) is not the binding's
// active challenge: a plain start places a new call.
func TestStartAfterTTLWithoutVerifyPlacesCall(t *testing.T) {
	e := newEnv(t, nil)
	r := req("flow-ttl")
	first := e.start(t, r)
	if !first.Placed {
		t.Fatal("first start placed no call")
	}
	e.clk.Advance(5*time.Minute + time.Second)
	second := e.start(t, r)
	if !second.Placed || second.Challenge.ID == first.Challenge.ID || e.prov.numCalls() != 2 {
		t.Fatalf("start after the TTL: placed=%v id=%s (first %s) calls=%d; want a new call",
			second.Placed, second.Challenge.ID, first.Challenge.ID, e.prov.numCalls())
	}
	// Exactly at the TTL the challenge is dead too.
	r2 := req("flow-ttl-exact")
	c := e.start(t, r2).Challenge
	e.clk.Advance(c.ExpiresAt.Sub(e.clk.Now()))
	if res := e.start(t, r2); !res.Placed || res.Challenge.ID == c.ID {
		t.Fatalf("start at the TTL: placed=%v id=%s; want a new call", res.Placed, res.Challenge.ID)
	}
}

// TestResendsExhaustedDuringCooldown: once the last allowed resend is
// used, a resend asked for within its cooldown hears that resends are
// exhausted (retry when the challenge expires), not a cooldown that would
// only end in another refusal.
func TestResendsExhaustedDuringCooldown(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *challenge.Config, _ *limit.Config) { c.MaxResends = 2; c.TTL = time.Hour })
	r := req("flow-exhaust")
	e.start(t, r)
	r.Resend = true
	e.clk.Advance(30 * time.Second)
	if res := e.start(t, r); !res.Placed || res.Challenge.Resends != 1 {
		t.Fatalf("first resend: %+v", res)
	}
	e.clk.Advance(60 * time.Second)
	last := e.start(t, r)
	if !last.Placed || last.Challenge.Resends != 2 {
		t.Fatalf("second resend: %+v", last)
	}
	calls := e.prov.numCalls()
	e.clk.Advance(time.Second) // well within the next cooldown
	_, err := e.svc.Start(ctx, r)
	var cd *challenge.CooldownError
	if !errors.As(err, &cd) || !cd.ResendsExhausted || !errors.Is(err, challenge.ErrTooManyResends) {
		t.Fatalf("resend after the last one, within its cooldown: %v; want resends exhausted", err)
	}
	if want := last.Challenge.ExpiresAt.Sub(e.clk.Now()); cd.RetryAfter != want {
		t.Fatalf("retry after %s, want %s (the challenge's expiry)", cd.RetryAfter, want)
	}
	if e.prov.numCalls() != calls {
		t.Fatal("the refused resend reached the provider")
	}
}
