package limit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newLimiter(t *testing.T, cfg limit.Config) (*limit.Limiter, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	l, err := limit.New(cfg, mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	return l, clk
}

func limitKind(err error) string {
	var le *limit.LimitError
	if errors.As(err, &le) {
		return le.Kind
	}
	return ""
}

func TestDefaultsAreOn(t *testing.T) {
	c := limit.DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.PerNumber != (limit.Rule{Limit: 5, Window: time.Hour}) || c.PerIdentity != (limit.Rule{Limit: 10, Window: 24 * time.Hour}) ||
		c.PerIP != (limit.Rule{Limit: 20, Window: time.Hour}) || c.GlobalDaily.Limit <= 0 || c.PhoneCheckPercent != 50 ||
		c.Regulation != (limit.Regulation{MaxFailures: 3, FindTime: 10 * time.Minute, BanTime: 15 * time.Minute}) {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*limit.Config)
		want string
	}{
		{"negative limit", func(c *limit.Config) { c.PerNumber.Limit = -1 }, "per_number.limit"},
		{"no window", func(c *limit.Config) { c.PerIP.Window = 0 }, "per_ip.window"},
		{"bad prefix", func(c *limit.Config) { c.DenyPrefixes = []string{"+7900"} }, "deny_prefixes[0]"},
		{"empty prefix", func(c *limit.Config) { c.AllowPrefixes = []string{""} }, "allow_prefixes[0]"},
		{"no ban time", func(c *limit.Config) { c.Regulation.BanTime = 0 }, "regulation.ban_time"},
		{"no find time", func(c *limit.Config) { c.Regulation.FindTime = 0 }, "regulation.find_time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := limit.DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want mention of %q", err, tc.want)
			}
			if _, err := limit.New(c, memory.New(time.Hour), memory.New(time.Hour), limit.WithNumberHasher(phonetest.Hasher())); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
	// Disabled rules are valid.
	c := limit.DefaultConfig()
	c.PerIP = limit.Rule{}
	c.Regulation = limit.Regulation{}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestDestinationPrefixes(t *testing.T) {
	tests := []struct {
		allow, deny []string
		number      string
		allowed     bool
	}{
		{nil, nil, "+79001234567", true},
		{nil, []string{"7900"}, "+79001234567", false},
		{nil, []string{"7900"}, "+79011234567", true},
		{[]string{"79"}, nil, "+79001234567", true},
		{[]string{"79"}, nil, "+74951234567", false},
		{[]string{"79"}, []string{"7900"}, "+79001234567", false}, // deny wins
	}
	for _, tc := range tests {
		cfg := limit.DefaultConfig()
		cfg.AllowPrefixes, cfg.DenyPrefixes = tc.allow, tc.deny
		l, _ := newLimiter(t, cfg)
		err := l.CheckDestination(tc.number)
		if (err == nil) != tc.allowed {
			t.Fatalf("allow=%v deny=%v %s: err %v, want allowed=%v", tc.allow, tc.deny, tc.number, err, tc.allowed)
		}
		if err != nil && (limitKind(err) != limit.KindDestination || !errors.Is(err, limit.ErrLimited)) {
			t.Fatalf("destination error: %v", err)
		}
	}
}

func TestTakeCallRules(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		mod    func(*limit.Config)
		keys   []limit.CallKeys // all but the last must pass
		kind   string
		window time.Duration
	}{
		{"number", func(c *limit.Config) {}, repeat(limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "", ClientIP: ""}, 6), limit.KindNumber, time.Hour},
		{"identity", func(c *limit.Config) { c.PerNumber.Limit = 0 }, repeat(limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i"}, 11), limit.KindIdentity, 24 * time.Hour},
		{"ip", func(c *limit.Config) { c.PerNumber.Limit = 0 }, repeat(limit.CallKeys{PhoneE164: "+79001234567", ClientIP: "203.0.113.1"}, 21), limit.KindIP, time.Hour},
		{"global", func(c *limit.Config) { c.GlobalDaily.Limit = 2 }, []limit.CallKeys{
			{PhoneE164: "+79001234561"}, {PhoneE164: "+79001234562"}, {PhoneE164: "+79001234563"},
		}, limit.KindGlobal, 24 * time.Hour},
		// One /64 is one client: a fresh address per request gains nothing.
		{"ipv6 /64", func(c *limit.Config) { c.PerNumber.Limit = 0; c.PerIP.Limit = 2 }, []limit.CallKeys{
			{PhoneE164: "+79001234567", ClientIP: "2001:db8:1:2::1"}, {PhoneE164: "+79001234567", ClientIP: "2001:db8:1:2:ffff:ffff:ffff:fffe"},
			{PhoneE164: "+79001234567", ClientIP: "2001:db8:1:2:abcd::9"},
		}, limit.KindIP, time.Hour},
		{"ipv4-mapped is the ipv4 address", func(c *limit.Config) { c.PerNumber.Limit = 0; c.PerIP.Limit = 1 }, []limit.CallKeys{
			{PhoneE164: "+79001234567", ClientIP: "203.0.113.7"}, {PhoneE164: "+79001234567", ClientIP: "::ffff:203.0.113.7"},
		}, limit.KindIP, time.Hour},
		// Phone checks may spend only their share of the budget.
		{"phone-check share", func(c *limit.Config) { c.GlobalDaily.Limit = 4; c.PhoneCheckPercent = 50 }, []limit.CallKeys{
			{PhoneE164: "+79001234561", PhoneCheck: true}, {PhoneE164: "+79001234562", PhoneCheck: true},
			{PhoneE164: "+79001234563", PhoneCheck: true},
		}, limit.KindPhoneCheckBudget, 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := limit.DefaultConfig()
			tc.mod(&cfg)
			l, clk := newLimiter(t, cfg)
			for i, k := range tc.keys[:len(tc.keys)-1] {
				if err := l.TakeCall(ctx, k); err != nil {
					t.Fatalf("take %d: %v", i, err)
				}
			}
			clk.Advance(time.Minute)
			err := l.TakeCall(ctx, tc.keys[len(tc.keys)-1])
			var le *limit.LimitError
			if !errors.As(err, &le) || le.Kind != tc.kind || le.RetryAfter != tc.window-time.Minute {
				t.Fatalf("err %v, want %s limit with retry after %s", err, tc.kind, tc.window-time.Minute)
			}
			clk.Advance(tc.window - time.Minute)
			if err := l.TakeCall(ctx, tc.keys[len(tc.keys)-1]); err != nil {
				t.Fatalf("after the window: %v", err)
			}
		})
	}
}

// TestSlidingWindowBurst: the attack a fixed window allows (spend one
// window's allowance just before it ends and the next just after: 10 calls
// to a number in 2 minutes with per_number 5/h) gets 5, then one more for
// each call that leaves the last hour.
func TestSlidingWindowBurst(t *testing.T) {
	ctx := context.Background()
	l, clk := newLimiter(t, limit.DefaultConfig())
	k := limit.CallKeys{PhoneE164: "+79001234567"}
	take := func(n int) (allowed int, last error) {
		for range n {
			if last = l.TakeCall(ctx, k); last == nil {
				allowed++
			}
		}
		return allowed, last
	}
	steps := []struct {
		advance      time.Duration
		calls, allow int
		retry        time.Duration
	}{
		{0, 1, 1, 0},
		{59 * time.Minute, 5, 4, time.Minute},
		{2 * time.Minute, 5, 1, 58 * time.Minute}, // t=61m: the t=0 call left; the t=59m ones leave at 119m
		{58 * time.Minute, 5, 4, 2 * time.Minute}, // t=119m: they left; the t=61m one leaves at 121m
	}
	for i, st := range steps {
		clk.Advance(st.advance)
		allowed, err := take(st.calls)
		if allowed != st.allow {
			t.Fatalf("step %d: %d of %d calls allowed, want %d", i, allowed, st.calls, st.allow)
		}
		var le *limit.LimitError
		if st.allow < st.calls && (!errors.As(err, &le) || le.Kind != limit.KindNumber || le.RetryAfter != st.retry) {
			t.Fatalf("step %d: %v, want the per-number limit with retry after %s", i, err, st.retry)
		}
	}
}

func repeat(k limit.CallKeys, n int) []limit.CallKeys {
	out := make([]limit.CallKeys, n)
	for i := range out {
		out[i] = k
	}
	return out
}

// TestDeniedTakeCountsNothing: a call refused by the per-number rule must not
// use up the identity's budget.
func TestDeniedTakeCountsNothing(t *testing.T) {
	ctx := context.Background()
	cfg := limit.DefaultConfig()
	cfg.PerNumber.Limit = 1
	cfg.PerIdentity.Limit = 3
	l, _ := newLimiter(t, cfg)
	if err := l.TakeCall(ctx, limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i"}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if k := limitKind(l.TakeCall(ctx, limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i"})); k != limit.KindNumber {
			t.Fatalf("kind %q, want number", k)
		}
	}
	for _, n := range []string{"+79001111111", "+79002222222"} {
		if err := l.TakeCall(ctx, limit.CallKeys{PhoneE164: n, IdentityID: "i"}); err != nil {
			t.Fatalf("identity budget was used by refused calls: %v", err)
		}
	}
	if k := limitKind(l.TakeCall(ctx, limit.CallKeys{PhoneE164: "+79003333333", IdentityID: "i"})); k != limit.KindIdentity {
		t.Fatalf("kind %q, want identity", k)
	}
}

// TestSpellingsShareCounter: the caller normalises with phone.Parse, so every
// spelling of one number reaches the same counter.
func TestSpellingsShareCounter(t *testing.T) {
	ctx := context.Background()
	cfg := limit.DefaultConfig()
	cfg.PerNumber.Limit = 2
	l, _ := newLimiter(t, cfg)
	for i, s := range []string{"+7 (900) 123-45-67", "8 900 123 45 67", "79001234567"} {
		n, err := phone.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		err = l.TakeCall(ctx, limit.CallKeys{PhoneE164: n.E164(), IdentityID: s})
		if i < 2 && err != nil {
			t.Fatalf("spelling %q: %v", s, err)
		}
		if i == 2 && limitKind(err) != limit.KindNumber {
			t.Fatalf("third spelling: %v, want the per-number limit", err)
		}
	}
}

func TestRegulation(t *testing.T) {
	ctx := context.Background()
	l, clk := newLimiter(t, limit.DefaultConfig())
	for i := range 2 {
		until, err := l.RecordFailure(ctx, "ident")
		if err != nil || !until.IsZero() {
			t.Fatalf("failure %d: %v %v", i, until, err)
		}
		clk.Advance(4 * time.Minute)
	}
	until, err := l.RecordFailure(ctx, "ident") // 8 minutes after the first
	if err != nil || !until.Equal(clk.Now().Add(15*time.Minute)) {
		t.Fatalf("third failure: ban until %v (%v), want now+15m", until, err)
	}
	clk.Advance(6 * time.Minute)
	err = l.CheckBlocked(ctx, "ident")
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Kind != limit.KindRegulation || le.RetryAfter != 9*time.Minute {
		t.Fatalf("CheckBlocked: %v, want regulation, retry after 9m", err)
	}
	if err := l.CheckBlocked(ctx, "other"); err != nil {
		t.Fatalf("other identity: %v", err)
	}
	clk.Advance(9 * time.Minute)
	if err := l.CheckBlocked(ctx, "ident"); err != nil {
		t.Fatalf("after the ban: %v", err)
	}
}

func TestRegulationFindTimeWindow(t *testing.T) {
	ctx := context.Background()
	l, clk := newLimiter(t, limit.DefaultConfig())
	for range 2 {
		if _, err := l.RecordFailure(ctx, "ident"); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(10 * time.Minute)
	if until, err := l.RecordFailure(ctx, "ident"); err != nil || !until.IsZero() {
		t.Fatalf("failure after find time: %v %v, want no ban", until, err)
	}
}

// TestRegulationSlidingFindTime: failures count within any find_time span,
// not a window fixed from the first failure.
func TestRegulationSlidingFindTime(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		at     []time.Duration // failure times; the last one decides
		banned bool
	}{
		{"spaced 6 minutes apart", []time.Duration{0, 6 * time.Minute, 12 * time.Minute, 18 * time.Minute}, false},
		{"3 within 10 minutes, after the first one's 10 minutes", []time.Duration{0, 9 * time.Minute, 11 * time.Minute, 12 * time.Minute}, true},
		{"exactly 10 minutes apart is outside", []time.Duration{0, 5 * time.Minute, 10 * time.Minute}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, clk := newLimiter(t, limit.DefaultConfig())
			start := clk.Now()
			for i, at := range tc.at {
				clk.Advance(start.Add(at).Sub(clk.Now()))
				until, err := l.RecordFailure(ctx, "ident")
				if err != nil {
					t.Fatal(err)
				}
				last := i == len(tc.at)-1
				if want := last && tc.banned; want != !until.IsZero() || (want && !until.Equal(clk.Now().Add(15*time.Minute))) {
					t.Fatalf("failure at %s: ban until %v, want banned %v for 15m", at, until, want)
				}
			}
			if err := l.CheckBlocked(ctx, "ident"); (err != nil) != tc.banned {
				t.Fatalf("CheckBlocked: %v, want banned %v", err, tc.banned)
			}
		})
	}
}

type brokenStore struct{}

var errDown = errors.New("down")

func (brokenStore) Take(context.Context, []limit.Take) (limit.TakeResult, error) {
	return limit.TakeResult{}, errDown
}
func (brokenStore) GiveBack(context.Context, []limit.Take, string) error { return errDown }
func (brokenStore) Fail(context.Context, string, time.Duration, int, time.Duration) (time.Time, error) {
	return time.Time{}, errDown
}
func (brokenStore) BlockedUntil(context.Context, string) (time.Time, error) {
	return time.Time{}, errDown
}

func TestStoreErrorsFailClosed(t *testing.T) {
	ctx := context.Background()
	l, err := limit.New(limit.DefaultConfig(), brokenStore{}, brokenStore{}, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]error{
		"take":    l.TakeCall(ctx, limit.CallKeys{PhoneE164: "+79001234567"}),
		"blocked": l.CheckBlocked(ctx, "i"),
	}
	_, checks["fail"] = l.RecordFailure(ctx, "i")
	for op, err := range checks {
		if !errors.Is(err, limit.ErrUnavailable) || !errors.Is(err, errDown) {
			t.Fatalf("%s: %v, want ErrUnavailable wrapping the cause", op, err)
		}
	}
}

type budgetRecorder struct{ last float64 }

func (b *budgetRecorder) SetBudgetUsed(r float64) { b.last = r }
func (b *budgetRecorder) SubBudgetUsed(r float64) { b.last -= r }

// budgetLimiter is a limiter with a budget of 4 calls a day (the other
// rules out of the way) reporting to the returned recorder.
func budgetLimiter(t *testing.T) (*limit.Limiter, *budgetRecorder) {
	t.Helper()
	cfg := limit.DefaultConfig()
	cfg.GlobalDaily = limit.Rule{Limit: 4, Window: 24 * time.Hour}
	cfg.PerNumber = limit.Rule{Limit: 100, Window: time.Hour}
	cfg.PerIdentity = limit.Rule{Limit: 100, Window: time.Hour}
	rec := &budgetRecorder{}
	st := memory.New(time.Hour)
	l, err := limit.New(cfg, st, st, limit.WithBudgetObserver(rec), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	return l, rec
}

func TestBudgetObserver(t *testing.T) {
	l, rec := budgetLimiter(t)
	ctx := context.Background()
	for i, want := range []float64{0.25, 0.5, 0.75, 1} {
		if err := l.TakeCall(ctx, limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i"}); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
		if rec.last != want {
			t.Errorf("after call %d budget used = %v, want %v", i+1, rec.last, want)
		}
	}
	if err := l.TakeCall(ctx, limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i"}); err == nil {
		t.Fatal("the fifth call passed a budget of four")
	}
	if rec.last != 1 {
		t.Errorf("refused by the budget: used = %v, want 1", rec.last)
	}
}

// TestBudgetObserverGiveBack: a call given back leaves the gauge where it
// was before the take, not where the next take would put it.
func TestBudgetObserverGiveBack(t *testing.T) {
	l, rec := budgetLimiter(t)
	ctx := context.Background()
	keys := limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "i", ClientIP: "192.0.2.1"}
	rules, err := l.CallRules(keys)
	if err != nil {
		t.Fatal(err)
	}
	var taken []limit.Taken
	for range 3 {
		tk, err := l.Take(ctx, rules)
		if err != nil {
			t.Fatal(err)
		}
		taken = append(taken, tk)
	}
	if rec.last != 0.75 {
		t.Fatalf("after three calls budget used = %v, want 0.75", rec.last)
	}
	// The first take is given back after two more were counted.
	if err := l.GiveBack(ctx, taken[0]); err != nil {
		t.Fatal(err)
	}
	if rec.last != 0.5 {
		t.Errorf("after a give-back budget used = %v, want 0.5", rec.last)
	}
	// An empty Taken (a refused take) changes nothing.
	if err := l.GiveBack(ctx, limit.Taken{}); err != nil || rec.last != 0.5 {
		t.Errorf("empty give-back: err %v, used %v, want 0.5", err, rec.last)
	}
	// The count agrees: the next take reads 3 of 4.
	if _, err := l.Take(ctx, rules); err != nil || rec.last != 0.75 {
		t.Errorf("take after the give-back: err %v, used %v, want 0.75", err, rec.last)
	}
}

// TestPhoneChecksCannotLockOutLogins: anyone can start a registration with
// any number, so the calls that verify a number must not use up what the
// owner's logins need: neither the number's own counter nor the whole
// budget (which fails closed for everyone).
func TestPhoneChecksCannotLockOutLogins(t *testing.T) {
	ctx := context.Background()
	const victim = "+79001234567"
	tests := []struct {
		name   string
		mod    func(*limit.Config)
		flood  func(i int) limit.CallKeys
		floods int
		kind   string // the limit that ends the flood
		login  limit.CallKeys
	}{
		{"the victim's number", func(c *limit.Config) {},
			func(i int) limit.CallKeys {
				return limit.CallKeys{PhoneE164: victim, IdentityID: "phone:v", PhoneCheck: true, ClientIP: fmt.Sprintf("198.51.100.%d", i)}
			}, 5, limit.KindNumber,
			limit.CallKeys{PhoneE164: victim, IdentityID: "victim"}},
		{"the global budget", func(c *limit.Config) { c.GlobalDaily.Limit = 10 },
			func(i int) limit.CallKeys {
				return limit.CallKeys{PhoneE164: fmt.Sprintf("+7900100%04d", i), IdentityID: fmt.Sprintf("phone:%d", i), PhoneCheck: true,
					ClientIP: fmt.Sprintf("198.51.100.%d", i)}
			}, 5, limit.KindPhoneCheckBudget,
			limit.CallKeys{PhoneE164: victim, IdentityID: "victim"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := limit.DefaultConfig()
			tc.mod(&cfg)
			l, _ := newLimiter(t, cfg)
			for i := range tc.floods {
				if err := l.TakeCall(ctx, tc.flood(i)); err != nil {
					t.Fatalf("flood call %d: %v", i, err)
				}
			}
			if err := l.TakeCall(ctx, tc.flood(tc.floods)); limitKind(err) != tc.kind {
				t.Fatalf("flood call %d: %v, want the %s limit", tc.floods, err, tc.kind)
			}
			for i := range 5 {
				k := tc.login
				k.IdentityID = fmt.Sprintf("%s-%d", k.IdentityID, i)
				if err := l.TakeCall(ctx, k); err != nil {
					t.Fatalf("login call %d after the flood: %v", i, err)
				}
			}
		})
	}
}

func TestPhoneCheckPercentValidate(t *testing.T) {
	for _, p := range []int{-1, 101} {
		c := limit.DefaultConfig()
		c.PhoneCheckPercent = p
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "limits.phone_check_percent") {
			t.Errorf("percent %d: %v", p, err)
		}
	}
	for _, p := range []int{0, 1, 50, 100} {
		c := limit.DefaultConfig()
		c.PhoneCheckPercent = p
		if err := c.Validate(); err != nil {
			t.Errorf("percent %d: %v", p, err)
		}
	}
}

// TestClientIPKeys: which client addresses share a per-IP counter.
func TestClientIPKeys(t *testing.T) {
	l, _ := newLimiter(t, limit.DefaultConfig())
	key := func(ip string) string {
		r, err := l.CallRules(limit.CallKeys{PhoneE164: "+79001234567", ClientIP: ip})
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range r.Kinds {
			if k == limit.KindIP {
				return r.Takes[i].Key
			}
		}
		t.Fatalf("%s: no per-IP rule", ip)
		return ""
	}
	tests := []struct {
		a, b string
		same bool
	}{
		{"203.0.113.7", "203.0.113.7", true},
		{"203.0.113.7", "203.0.113.8", false},
		{"203.0.113.7", "::ffff:203.0.113.7", true},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff::9", true}, // one /64
		{"2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"fe80::1%eth0", "fe80::2", true},
		// NAT64 and 6to4 carry the IPv4 client.
		{"64:ff9b::c000:201", "192.0.2.1", true},
		{"64:ff9b::c000:201", "64:ff9b::c633:6401", false},
		{"2002:c000:201::1", "192.0.2.1", true},
		{"2002:c000:201:5::1", "2002:c000:201:6::1", true},
		// A translator whose /64 is shared by many clients: one by one.
		{"64:ff9b:1::c000:201", "64:ff9b:1::c000:202", false},
		// Teredo carries the client's public IPv4 (inverted) in its last 32
		// bits; the server, flags and port before it are the client's to
		// vary, so they must not give it a fresh counter.
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8000:63bf:3fff:fdd3", false},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:4136:e378:8123:1234:3fff:fdd2", true},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:c633:6401:0:ffff:3fff:fdd2", true},
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", "192.0.2.45", true},
		{"not-an-ip", "not-an-ip", true},
	}
	for _, tc := range tests {
		if got := key(tc.a) == key(tc.b); got != tc.same {
			t.Errorf("%s and %s: same counter %v (%s, %s), want %v", tc.a, tc.b, got, key(tc.a), key(tc.b), tc.same)
		}
		// The address is named by a keyed hash: a store dump does not list
		// the clients.
		if k := key(tc.a); len(k) != len("ip:")+32 || strings.Contains(k, "203.0") || strings.Contains(k, "2001:") || strings.Contains(k, "not-an") {
			t.Errorf("%s: counter key %q names the address", tc.a, k)
		}
	}
}

// TestNumberKeysAreKeyed: a number's counter key is a keyed hash: another
// key names it differently, nothing in it is the number or its unkeyed
// hash (which anyone can compute for every number), and a limiter without
// a key is refused.
func TestNumberKeysAreKeyed(t *testing.T) {
	const num = "+79001234567"
	st := memory.New(time.Hour)
	if _, err := limit.New(limit.DefaultConfig(), st, st); err == nil {
		t.Fatal("a limiter without a number hasher was built")
	}
	other, err := phone.NewHasher([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	numberKeys := func(h *phone.Hasher, check bool) string {
		t.Helper()
		l, err := limit.New(limit.DefaultConfig(), st, st, limit.WithNumberHasher(h))
		if err != nil {
			t.Fatal(err)
		}
		r, err := l.CallRules(limit.CallKeys{PhoneE164: num, IdentityID: "i", PhoneCheck: check})
		if err != nil {
			t.Fatal(err)
		}
		return r.Takes[0].Key
	}
	for _, check := range []bool{false, true} {
		a, b := numberKeys(phonetest.Hasher(), check), numberKeys(other, check)
		if a == b {
			t.Errorf("check=%v: two keys name the number alike: %s", check, a)
		}
		for _, domain := range []string{"callpass-number", "callpass-number-check"} {
			sum := sha256.Sum256([]byte(domain + "\x00" + num))
			if strings.Contains(a, hex.EncodeToString(sum[:16])) {
				t.Errorf("check=%v: key %s is the number's unkeyed hash", check, a)
			}
		}
		if strings.Contains(a, "1234567") {
			t.Errorf("check=%v: key %s holds the number", check, a)
		}
	}
	if numberKeys(phonetest.Hasher(), false) == numberKeys(phonetest.Hasher(), true) {
		t.Error("a login's and a phone check's counters share a key")
	}
}

// TestTakenGivesBack: GivesBack says whether GiveBack has store work, so
// a caller reporting store operations reports none for an empty take.
func TestTakenGivesBack(t *testing.T) {
	if (limit.Taken{}).GivesBack() {
		t.Error("the zero Taken gives back")
	}
	ctx := context.Background()
	k := limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "id-1", ClientIP: "203.0.113.7"}
	for _, tc := range []struct {
		name string
		mod  func(*limit.Config)
		want bool
	}{
		{"default rules", func(*limit.Config) {}, true},
		{"per-IP rule only", func(c *limit.Config) {
			c.PerNumber, c.PerIdentity, c.GlobalDaily = limit.Rule{}, limit.Rule{}, limit.Rule{}
		}, false},
		{"no rule", func(c *limit.Config) {
			c.PerNumber, c.PerIdentity, c.PerIP, c.GlobalDaily = limit.Rule{}, limit.Rule{}, limit.Rule{}, limit.Rule{}
		}, false},
	} {
		cfg := limit.DefaultConfig()
		tc.mod(&cfg)
		l, _ := newLimiter(t, cfg)
		rules, err := l.CallRules(k)
		if err != nil {
			t.Fatal(err)
		}
		taken, err := l.Take(ctx, rules)
		if err != nil {
			t.Fatalf("%s: take: %v", tc.name, err)
		}
		if got := taken.GivesBack(); got != tc.want {
			t.Errorf("%s: GivesBack() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCallRulesAllocs: listing a call's rules (every start, refused ones
// included) allocates its keys and one backing for both lists.
func TestCallRulesAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	l, _ := newLimiter(t, limit.DefaultConfig())
	for _, tc := range []struct {
		name string
		k    limit.CallKeys
		want float64
	}{
		// The number's and the address's hashes and keys, the identity's
		// key, the lists.
		{"login", limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "5e1b7b4a-0000-4000-8000-000000000001", ClientIP: "203.0.113.7"}, 6},
		// Every rule (six) at once still fits the one backing.
		{"phone check for another account", limit.CallKeys{PhoneE164: "+79001234567", IdentityID: "5e1b7b4a-0000-4000-8000-000000000001",
			AccountID: "5e1b7b4a-0000-4000-8000-000000000002", ClientIP: "203.0.113.7", PhoneCheck: true}, 7},
	} {
		var rules limit.CallRules
		n := allocs.Min(100, func() {
			var err error
			if rules, err = l.CallRules(tc.k); err != nil {
				t.Fatal(err)
			}
		})
		if n != tc.want {
			t.Errorf("%s: CallRules makes %v allocations, want %v", tc.name, n, tc.want)
		}
		if len(rules.Takes) != len(rules.Kinds) {
			t.Errorf("%s: %d takes, %d kinds", tc.name, len(rules.Takes), len(rules.Kinds))
		}
	}
}
