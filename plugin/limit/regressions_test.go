package limit_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// TestCheckBanUpToTheLastMillisecond: a ban refuses until its very end, its
// last millisecond included (not only while more than a second is left),
// and not at its end.
func TestCheckBanUpToTheLastMillisecond(t *testing.T) {
	ctx := context.Background()
	l, clk := newLimiter(t, limit.DefaultConfig())
	var until time.Time
	for range 3 {
		var err error
		if until, err = l.RecordFailure(ctx, "ident"); err != nil {
			t.Fatal(err)
		}
	}
	if until.IsZero() {
		t.Fatal("three failures caused no ban")
	}
	clk.Advance(until.Add(-time.Millisecond).Sub(clk.Now()))
	var le *limit.LimitError
	err := l.CheckBlocked(ctx, "ident")
	if !errors.As(err, &le) || le.Kind != limit.KindRegulation || le.RetryAfter != time.Millisecond || !errors.Is(err, limit.ErrLimited) {
		t.Fatalf("1ms before the ban ends: %v, want regulation, retry after 1ms", err)
	}
	err = l.CheckBan(until)
	if !errors.As(err, &le) || le.Kind != limit.KindRegulation || le.RetryAfter != time.Millisecond {
		t.Fatalf("CheckBan 1ms before the end: %v, want regulation, retry after 1ms", err)
	}
	// Half a second left: still refused.
	if err := l.CheckBan(clk.Now().Add(500 * time.Millisecond)); limitKind(err) != limit.KindRegulation {
		t.Fatalf("CheckBan with 500ms left: %v, want regulation", err)
	}
	clk.Advance(time.Millisecond)
	if err := l.CheckBlocked(ctx, "ident"); err != nil {
		t.Fatalf("at the ban's end: %v", err)
	}
	if err := l.CheckBan(until); err != nil {
		t.Fatalf("CheckBan at the ban's end: %v", err)
	}
	if err := l.CheckBan(time.Time{}); err != nil {
		t.Fatalf("CheckBan of no ban: %v", err)
	}
}

// TestAccountIDCountsPerIdentity: a call owned by another identity (a phone
// check in settings, owned by the number) made for an account counts
// against that account's per-identity limit, so one account cannot call
// many numbers.
func TestAccountIDCountsPerIdentity(t *testing.T) {
	ctx := context.Background()
	cfg := limit.DefaultConfig()
	cfg.PerIdentity = limit.Rule{Limit: 2, Window: time.Hour}
	l, _ := newLimiter(t, cfg)
	keys := func(i int) limit.CallKeys {
		return limit.CallKeys{PhoneE164: fmt.Sprintf("+7900123450%d", i), IdentityID: fmt.Sprintf("phone:%d", i),
			AccountID: "account", PhoneCheck: true}
	}
	for i := range 2 {
		if err := l.TakeCall(ctx, keys(i)); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	err := l.TakeCall(ctx, keys(2))
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Kind != limit.KindIdentity || le.RetryAfter != time.Hour {
		t.Fatalf("third number for one account: %v, want the per-identity limit, retry after 1h", err)
	}
	// Another account is not affected.
	k := keys(3)
	k.AccountID = "other-account"
	if err := l.TakeCall(ctx, k); err != nil {
		t.Fatalf("another account: %v", err)
	}
	// The rule is listed as a per-identity take of the account.
	rules, err := l.CallRules(keys(4))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i, tk := range rules.Takes {
		if tk.Key == "i:account" {
			found = rules.Kinds[i] == limit.KindIdentity && tk.Limit == 2 && tk.Window == time.Hour
		}
	}
	if !found {
		t.Fatalf("rules %+v: no per-identity rule for the account", rules)
	}
	// AccountID equal to the owner is counted once.
	l2, _ := newLimiter(t, cfg)
	same := limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "me", AccountID: "me"}
	for i := range 2 {
		same.PhoneE164 = fmt.Sprintf("+7900765430%d", i)
		if err := l2.TakeCall(ctx, same); err != nil {
			t.Fatalf("own account call %d: %v", i, err)
		}
	}
}

// TestGiveBackKeepsPerIP: a give-back returns every count but the per-IP
// one, which still slows one source while the provider refuses its calls.
func TestGiveBackKeepsPerIP(t *testing.T) {
	ctx := context.Background()
	cfg := limit.DefaultConfig()
	cfg.PerNumber = limit.Rule{Limit: 1, Window: time.Hour}
	cfg.PerIdentity = limit.Rule{Limit: 1, Window: time.Hour}
	cfg.PerIP = limit.Rule{Limit: 2, Window: time.Hour}
	cfg.GlobalDaily = limit.Rule{Limit: 1, Window: 24 * time.Hour}
	l, _ := newLimiter(t, cfg)
	rules, err := l.CallRules(limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i", ClientIP: "203.0.113.9"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		tk, err := l.Take(ctx, rules)
		if err != nil {
			t.Fatalf("take %d: %v (a give-back did not return the number, identity or global count)", i, err)
		}
		if err := l.GiveBack(ctx, tk); err != nil {
			t.Fatalf("give back %d: %v", i, err)
		}
	}
	_, err = l.Take(ctx, rules)
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Kind != limit.KindIP {
		t.Fatalf("third take after two give-backs: %v, want the per-IP limit", err)
	}
	// Another client is only held by its own counter.
	other, err := l.CallRules(limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i", ClientIP: "198.51.100.9"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Take(ctx, other); err != nil {
		t.Fatalf("another client after the give-backs: %v", err)
	}
}
