package challenge_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge/storetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// lengthProvider is the scripted provider whose calls' codes have the
// lengths in lens (the last one repeats): a 4-digit code gets as many 9s
// appended as it lacks.
type lengthProvider struct {
	*provider
	lens  []int
	codes []string // the codes handed out, in order
}

func (p *lengthProvider) StartCall(ctx context.Context, n phone.Number) (flashcall.Call, error) {
	c, err := p.provider.StartCall(ctx, n)
	if err != nil {
		return c, err
	}
	c.Code += strings.Repeat("9", p.lens[min(len(p.codes), len(p.lens)-1)]-len(c.Code))
	p.codes = append(p.codes, c.Code)
	return c, nil
}

// TestEarlierCallCodeOfAnotherLength: the code length comes with each call
// (the digits of the calling number), so a resend's call may have a code
// of another length than the call it replaced. Typed now, the replaced
// call's code is still an earlier call's code (counted, EarlierCall), not a
// format error; a code of the wrong length that is no call's is one, and
// so is a code with a non-digit, whatever call it resembles.
func TestEarlierCallCodeOfAnotherLength(t *testing.T) {
	tests := []struct {
		name       string
		lens       []int                   // code length of the first call, then of the resend
		typed      func(old string) string // what the user types, from the first call's code
		wantFormat bool
		wantEarly  bool
	}{
		{"4-digit earlier code, 5-digit call now", []int{4, 5}, func(old string) string { return old }, false, true},
		{"5-digit earlier code, 4-digit call now", []int{5, 4}, func(old string) string { return old }, false, true},
		{"same length earlier code", []int{4, 4}, func(old string) string { return old }, false, true},
		{"wrong length, no call's code", []int{4, 5}, func(string) string { return "0000" }, true, false},
		{"earlier code with a letter", []int{4, 4}, func(old string) string { return old[:3] + "x" }, true, false},
		{"earlier code and more digits", []int{4, 5}, func(old string) string { return old + "12" }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk, mem, cfg := memParts(t)
			cfg.MaxResends, cfg.TTL, cfg.MaxAttempts = 3, time.Hour, 5
			cfg.ResendCooldowns = []time.Duration{time.Second}
			lim, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
			if err != nil {
				t.Fatal(err)
			}
			prov := &lengthProvider{provider: &provider{}, lens: tt.lens}
			svc, err := challenge.NewService(cfg, mem, prov, lim, challenge.WithClock(clk.Now), challenge.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = svc.Close() })

			r := req("flow-len")
			if _, err := svc.Start(ctx, r); err != nil {
				t.Fatal(err)
			}
			clk.Advance(time.Second)
			r.Resend = true
			res, err := svc.Start(ctx, r)
			if err != nil || !res.Placed || res.Challenge.CodeLength != tt.lens[1] {
				t.Fatalf("resend: %+v %v", res, err)
			}
			_, err = svc.Verify(ctx, bind(r), "", tt.typed(prov.codes[0]))
			var we *challenge.WrongCodeError
			if !errors.As(err, &we) || we.Format != tt.wantFormat || we.EarlierCall != tt.wantEarly || we.AttemptsLeft != 4 {
				t.Fatalf("typed %q (calls' codes %v): %v (%+v), want Format %v EarlierCall %v, 4 attempts left",
					tt.typed(prov.codes[0]), prov.codes, err, we, tt.wantFormat, tt.wantEarly)
			}
			if _, err := svc.Verify(ctx, bind(r), "", prov.codes[1]); err != nil {
				t.Fatalf("the newest call's code: %v", err)
			}
		})
	}
}

// TestEarlierCallCodeAfterNotDeliveredCall: a resend right after a call
// that did not reach the phone (its cooldown skipped) still keeps that
// call's code: the provider's "not delivered" may be wrong, and the user
// may still have seen the call.
func TestEarlierCallCodeAfterNotDeliveredCall(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *challenge.Config, _ *limit.Config) { c.MaxAttempts = 5 })
	r := req("flow-nd-earlier")
	c := e.start(t, r).Challenge
	old := e.prov.lastCode()
	if err := e.store.UpdateCall(ctx, c.ID, flashcall.Classify("SUBSCRIBER_ABSENT")); err != nil {
		t.Fatal(err)
	}
	r.Resend = true
	if res := e.start(t, r); !res.Placed || len(res.Challenge.EarlierCodeHashes) != 32 {
		t.Fatalf("resend after a not-delivered call: %+v", res)
	}
	var we *challenge.WrongCodeError
	if _, err := e.svc.Verify(ctx, bind(r), "", old); !errors.As(err, &we) || !we.EarlierCall {
		t.Fatalf("the not-delivered call's code: %v (%+v), want an earlier call's code", err, we)
	}
}

// otherStartOnLease is a memory store on which, just before the first
// start lease is asked, another start of the same flow replaces the active
// challenge with one of its own (before, then cleared).
type otherStartOnLease struct {
	*memory.Store
	before atomic.Pointer[func()]
}

func (w *otherStartOnLease) LeaseStart(ctx context.Context, b challenge.Binding, token string, ttl time.Duration) (bool, string, error) {
	if f := w.before.Swap(nil); f != nil {
		(*f)()
	}
	return w.Store.LeaseStart(ctx, b, token, ttl)
}

// TestEarlierCallCodeNotCarriedPastAnotherStart: a resend that finds, once
// it holds the start lease, that another start of the flow replaced the
// challenge it read (here with a call to another number) replaces that
// challenge, not the one it read: it carries no code (the challenge it
// replaces is not a call to its number it answers for).
func TestEarlierCallCodeNotCarriedPastAnotherStart(t *testing.T) {
	ctx := context.Background()
	clk, mem, cfg := memParts(t)
	cfg.MaxResends, cfg.TTL, cfg.MaxAttempts = 3, time.Hour, 5
	cfg.ResendCooldowns = []time.Duration{time.Second}
	lim, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	st := &otherStartOnLease{Store: mem}
	e := newEnvWith(t, cfg, st, lim, clk)
	r := req("flow-other-start")
	first := e.start(t, r).Challenge
	old := e.prov.lastCode()
	clk.Advance(time.Second)

	other := storetest.New(bind(r), clk.Now(), time.Hour)
	other.Phone = "+79009876543"
	replace := func() {
		if _, created, err := mem.Create(ctx, other, first.ID, clk.Now()); err != nil || !created {
			t.Errorf("the other start's challenge: created %v, %v", created, err)
		}
	}
	st.before.Store(&replace)
	r.Resend = true
	res := e.start(t, r)
	if st.before.Load() != nil {
		t.Fatal("the start took no lease")
	}
	if !res.Placed || res.Challenge.EarlierCodeHashes != nil {
		t.Fatalf("resend past another start: %+v, want a placed call carrying no code", res)
	}
	var we *challenge.WrongCodeError
	if _, err := e.svc.Verify(ctx, bind(r), "", old); !errors.As(err, &we) || we.EarlierCall {
		t.Fatalf("the first call's code: %v (%+v), want a plain wrong code", err, we)
	}
}
