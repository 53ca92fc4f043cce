package challenge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// provider is a scripted fake flash-call provider.
type provider struct {
	mu       sync.Mutex
	calls    []string // E.164 numbers called
	codes    []string // codes handed out, in order
	next     int
	err      error
	start    flashcall.Status   // status returned by StartCall
	statuses []flashcall.Status // successive CallStatus answers (last repeats)
	// statusErr, when set, is every CallStatus answer after the first
	// errAfter ones.
	statusErr error
	errAfter  int
	polls     int
	polledTo  []string // E.164 numbers CallStatus was given, per poll
	// duringStart runs inside StartCall, after the request "left" (e.g. to
	// cancel the caller's context, as a client giving up would).
	duringStart func()
	// hang makes StartCall wait for its context's end (at most 10 s): a
	// provider client without a timeout of its own.
	hang bool
}

func (p *provider) Name() string { return "fake" }

func (p *provider) StartCall(ctx context.Context, n phone.Number) (flashcall.Call, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return flashcall.Call{}, p.err
	}
	if p.hang {
		select {
		case <-ctx.Done():
			return flashcall.Call{}, fmt.Errorf("%w: %w", flashcall.ErrUnavailable, ctx.Err())
		case <-time.After(10 * time.Second):
		}
	}
	p.calls = append(p.calls, n.E164())
	code := fmt.Sprintf("%04d", 1000+p.next*1111%9000)
	p.next++
	p.codes = append(p.codes, code)
	if p.duringStart != nil {
		p.duringStart()
		if err := ctx.Err(); err != nil {
			// What an HTTP client does when its context ends mid-request:
			// the provider placed the call, the caller never learns of it.
			return flashcall.Call{}, fmt.Errorf("%w: %w", flashcall.ErrUnavailable, err)
		}
	}
	st := p.start
	if st.Raw == "" {
		st = flashcall.Classify("NO_ANSWER")
	}
	return flashcall.Call{ID: fmt.Sprintf("call-%d", p.next), Code: code, Status: st}, nil
}

func (p *provider) CallStatus(ctx context.Context, callID string, n phone.Number) (flashcall.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.polls++
	p.polledTo = append(p.polledTo, n.E164())
	if p.statusErr != nil && p.polls > p.errAfter {
		return flashcall.Status{}, p.statusErr
	}
	if len(p.statuses) == 0 {
		return flashcall.Classify("null"), nil
	}
	st := p.statuses[0]
	if len(p.statuses) > 1 {
		p.statuses = p.statuses[1:]
	}
	return st, nil
}

func (p *provider) numCalls() int { p.mu.Lock(); defer p.mu.Unlock(); return len(p.calls) }
func (p *provider) numPolls() int { p.mu.Lock(); defer p.mu.Unlock(); return p.polls }
func (p *provider) lastCode() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.codes[len(p.codes)-1]
}

// observer records events.
type observer struct {
	mu     sync.Mutex
	events []string
}

func (o *observer) add(s string)                                  { o.mu.Lock(); o.events = append(o.events, s); o.mu.Unlock() }
func (o *observer) ObserveCallPlaced(p, outcome string)           { o.add("call:" + outcome) }
func (o *observer) ObserveCallStatus(p string, c flashcall.Class) { o.add("status:" + c.String()) }
func (o *observer) ObserveCallUnpolled(p string)                  { o.add("unpolled:" + p) }
func (o *observer) ObserveVerify(outcome string)                  { o.add("verify:" + outcome) }
func (o *observer) ObserveLimit(kind string)                      { o.add("limit:" + kind) }
func (o *observer) ObserveBan()                                   { o.add("ban") }
func (o *observer) ObserveStore(op string, err error, _ time.Duration) {
	if err != nil {
		o.add("store_error:" + op)
	}
}

// count returns how many events equal s.
func (o *observer) count(s string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, e := range o.events {
		if e == s {
			n++
		}
	}
	return n
}

func (o *observer) has(s string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, e := range o.events {
		if e == s {
			return true
		}
	}
	return false
}

type env struct {
	svc   *challenge.Service
	store challenge.Store
	prov  *provider
	clk   *clock
	obs   *observer
}

var key = []byte(strings.Repeat("k", 32))

// memParts are a clock, a memory store on it, and a default configuration
// with the test key.
func memParts(t *testing.T) (*clock, *memory.Store, challenge.Config) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	return clk, mem, cfg
}

func newEnv(t *testing.T, mod func(*challenge.Config, *limit.Config)) *env {
	t.Helper()
	clk, mem, cfg := memParts(t)
	cfg.PollInterval = 5 * time.Millisecond
	cfg.PollTimeout = 2 * time.Second
	lcfg := limit.DefaultConfig()
	if mod != nil {
		mod(&cfg, &lcfg)
	}
	lim, err := limit.New(lcfg, mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvWith(t, cfg, mem, lim, clk)
}

func newEnvWith(t *testing.T, cfg challenge.Config, st challenge.Store, lim *limit.Limiter, clk *clock) *env {
	t.Helper()
	prov := &provider{}
	obs := &observer{}
	svc, err := challenge.NewService(cfg, st, prov, lim, challenge.WithClock(clk.Now), challenge.WithObserver(obs),
		challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return &env{svc: svc, store: st, prov: prov, clk: clk, obs: obs}
}

const phoneE164 = "+79001234567"

func req(flow string) challenge.StartRequest {
	return challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "ident-1", FlowID: flow, Phone: phoneE164, ClientIP: "203.0.113.7"}
}

func bind(r challenge.StartRequest) challenge.Binding {
	return challenge.Binding{Purpose: r.Purpose, IdentityID: r.IdentityID, FlowID: r.FlowID}
}

func (e *env) start(t *testing.T, r challenge.StartRequest) challenge.StartResult {
	t.Helper()
	res, err := e.svc.Start(context.Background(), r)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return res
}

func TestStartIsIdempotent(t *testing.T) {
	e := newEnv(t, func(_ *challenge.Config, l *limit.Config) { l.PerNumber.Limit = 1 })
	r := req("flow-1")
	first := e.start(t, r)
	if !first.Placed || e.prov.numCalls() != 1 {
		t.Fatalf("first start: placed=%v calls=%d", first.Placed, e.prov.numCalls())
	}
	c := first.Challenge
	if c.State != challenge.StatePending || c.CodeLength != 4 || c.Phone != phoneE164 || c.MaxAttempts != 3 {
		t.Fatalf("challenge: %+v", c)
	}
	if !c.ExpiresAt.Equal(e.clk.Now().Add(5*time.Minute)) || !c.ResendAfter.Equal(e.clk.Now().Add(30*time.Second)) {
		t.Fatalf("times: expires %v resend %v", c.ExpiresAt, c.ResendAfter)
	}
	// Again (the per-number limit of 1 would refuse a second call).
	second := e.start(t, r)
	if second.Placed || second.Challenge.ID != c.ID || e.prov.numCalls() != 1 {
		t.Fatalf("second start: placed=%v id=%s calls=%d", second.Placed, second.Challenge.ID, e.prov.numCalls())
	}
}

func TestCodeIsStoredOnlyAsHash(t *testing.T) {
	e := newEnv(t, nil)
	c := e.start(t, req("f")).Challenge
	code := e.prov.lastCode()
	stored, err := e.store.Get(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(fmt.Sprintf("%+v", stored), code) || strings.Contains(string(stored.CodeHash), code) {
		t.Fatal("the stored challenge contains the code")
	}
	b := bind(req("f"))
	if want := challenge.HashCode(key, b, code); string(stored.CodeHash) != string(want) {
		t.Fatal("stored hash is not HashCode(key, binding, code)")
	}
	// The hash binds every part of the binding, and the whole code.
	others := map[string][]byte{
		"other flow":     challenge.HashCode(key, challenge.Binding{Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: "g"}, code),
		"other identity": challenge.HashCode(key, challenge.Binding{Purpose: b.Purpose, IdentityID: "ident-2", FlowID: b.FlowID}, code),
		"other purpose":  challenge.HashCode(key, challenge.Binding{Purpose: challenge.PurposeStepUp, IdentityID: b.IdentityID, FlowID: b.FlowID}, code),
		"longer code":    challenge.HashCode(key, b, code+"0"),
		"other key":      challenge.HashCode([]byte(strings.Repeat("x", 32)), b, code),
	}
	for name, h := range others {
		if string(h) == string(stored.CodeHash) {
			t.Errorf("%s: same hash", name)
		}
	}
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	r := req("flow-v")
	c := e.start(t, r).Challenge
	code := e.prov.lastCode()

	// Empty code: a bad request that costs nothing.
	if _, err := e.svc.Verify(ctx, bind(r), "", "  "); !errors.Is(err, challenge.ErrInvalidCode) {
		t.Fatalf("empty code: %v", err)
	}
	// Malformed code: counts.
	var wrong *challenge.WrongCodeError
	_, err := e.svc.Verify(ctx, bind(r), c.ID, "12a4")
	if !errors.As(err, &wrong) || wrong.AttemptsLeft != 2 || !wrong.Format || !errors.Is(err, challenge.ErrInvalidCode) {
		t.Fatalf("malformed code: %v", err)
	}
	// Wrong digits: counts.
	bad := "0000"
	if bad == code {
		bad = "1111"
	}
	_, err = e.svc.Verify(ctx, bind(r), "", bad)
	if !errors.As(err, &wrong) || wrong.AttemptsLeft != 1 || wrong.Format || errors.Is(err, challenge.ErrLocked) {
		t.Fatalf("wrong code: %v", err)
	}
	res, err := e.svc.Verify(ctx, bind(r), "", code)
	if err != nil {
		t.Fatalf("right code: %v", err)
	}
	if res.Challenge.State != challenge.StateVerified || res.Challenge.ID != c.ID || !res.Challenge.VerifiedAt.Equal(e.clk.Now()) {
		t.Fatalf("verified challenge: %+v", res.Challenge)
	}
	// Single use.
	if _, err := e.svc.Verify(ctx, bind(r), c.ID, code); !errors.Is(err, challenge.ErrAlreadyUsed) {
		t.Fatalf("reuse: %v", err)
	}
	if !e.obs.has("verify:verified") || !e.obs.has("verify:wrong") || !e.obs.has("verify:used") {
		t.Fatalf("observer events: %v", e.obs.events)
	}
}

func TestVerifyBindingMismatchLooksNotFound(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	r := req("flow-b")
	c := e.start(t, r).Challenge
	code := e.prov.lastCode()
	others := []challenge.Binding{
		{Purpose: challenge.PurposeLogin, IdentityID: "ident-1", FlowID: "flow-other"},
		{Purpose: challenge.PurposeLogin, IdentityID: "ident-2", FlowID: "flow-b"},
		{Purpose: challenge.PurposeStepUp, IdentityID: "ident-1", FlowID: "flow-b"},
	}
	for _, b := range others {
		if _, err := e.svc.Verify(ctx, b, c.ID, code); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("verify with %+v: %v, want ErrNotFound", b, err)
		}
		if _, err := e.svc.Verify(ctx, b, "", code); !errors.Is(err, challenge.ErrNotFound) {
			t.Fatalf("verify active with %+v: %v, want ErrNotFound", b, err)
		}
	}
	if _, err := e.svc.Verify(ctx, bind(r), "garbage-id", code); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("verify unknown id: %v", err)
	}
	// Nothing was counted on the real challenge.
	if _, err := e.svc.Verify(ctx, bind(r), c.ID, code); err != nil {
		t.Fatalf("own binding: %v", err)
	}
}

func TestLockAndRegulation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	for i := range 3 {
		r := req(fmt.Sprintf("flow-%d", i))
		c := e.start(t, r).Challenge
		code := e.prov.lastCode()
		bad := "9999"
		if code == bad {
			bad = "8888"
		}
		for a := range 3 {
			_, err := e.svc.Verify(ctx, bind(r), c.ID, bad)
			var wrong *challenge.WrongCodeError
			if !errors.As(err, &wrong) || wrong.AttemptsLeft != 2-a {
				t.Fatalf("flow %d attempt %d: %v", i, a, err)
			}
			if a == 2 && !errors.Is(err, challenge.ErrLocked) {
				t.Fatalf("last attempt is not ErrLocked: %v", err)
			}
			// Only the lock that starts the ban says so, with its length.
			if want := map[bool]time.Duration{true: 15 * time.Minute}[i == 2 && a == 2]; wrong.BannedFor != want {
				t.Fatalf("flow %d attempt %d: BannedFor %s, want %s", i, a, wrong.BannedFor, want)
			}
		}
		if i < 2 {
			// The right code is useless now.
			if _, err := e.svc.Verify(ctx, bind(r), c.ID, code); !errors.Is(err, challenge.ErrLocked) {
				t.Fatalf("right code after lock: %v", err)
			}
		}
	}
	// Third locked challenge in 10 minutes: banned for 15 minutes, and the
	// provider is not reached.
	calls := e.prov.numCalls()
	_, err := e.svc.Start(ctx, req("flow-after-ban"))
	var le *limit.LimitError
	if !errors.As(err, &le) || le.Kind != limit.KindRegulation || le.RetryAfter != 15*time.Minute || !errors.Is(err, limit.ErrLimited) {
		t.Fatalf("start while banned: %v", err)
	}
	if _, err := e.svc.Verify(ctx, bind(req("flow-0")), "", "1234"); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("verify while banned: %v", err)
	}
	if e.prov.numCalls() != calls {
		t.Fatal("provider called while banned")
	}
	// One ban, however many requests it refuses.
	if n := e.obs.count("ban"); n != 1 {
		t.Fatalf("bans observed %d, want 1: %v", n, e.obs.events)
	}
	e.clk.Advance(10 * time.Minute)
	if _, err := e.svc.Start(ctx, req("flow-after-ban")); !errors.As(err, &le) || le.RetryAfter != 5*time.Minute {
		t.Fatalf("start 10 min into the ban: %v, want retry after 5m", err)
	}
	e.clk.Advance(5 * time.Minute)
	if res := e.start(t, req("flow-after-ban")); !res.Placed {
		t.Fatal("no call after the ban ended")
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t, nil)
	r := req("flow-e")
	c := e.start(t, r).Challenge
	e.clk.Advance(5 * time.Minute)
	if _, err := e.svc.Verify(context.Background(), bind(r), c.ID, e.prov.lastCode()); !errors.Is(err, challenge.ErrExpired) {
		t.Fatalf("verify at TTL: %v", err)
	}
	// A new start after expiry places a new call.
	if res := e.start(t, r); !res.Placed || res.Challenge.ID == c.ID {
		t.Fatalf("start after expiry: %+v", res)
	}
}

func TestResend(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(c *challenge.Config, _ *limit.Config) { c.MaxResends = 2; c.TTL = time.Hour })
	r := req("flow-r")
	first := e.start(t, r).Challenge
	oldCode := e.prov.lastCode()
	rs := r
	rs.Resend = true

	e.clk.Advance(10 * time.Second)
	_, err := e.svc.Start(ctx, rs)
	var cd *challenge.CooldownError
	if !errors.As(err, &cd) || cd.RetryAfter != 20*time.Second || cd.ResendsExhausted {
		t.Fatalf("early resend: %v", err)
	}
	if e.prov.numCalls() != 1 {
		t.Fatal("early resend reached the provider")
	}
	e.clk.Advance(20 * time.Second)
	res := e.start(t, rs)
	if !res.Placed || res.Challenge.Resends != 1 || e.prov.numCalls() != 2 {
		t.Fatalf("resend: %+v calls=%d", res, e.prov.numCalls())
	}
	// The cooldown grows: 60s after the first resend.
	if got := res.Challenge.ResendAfter.Sub(e.clk.Now()); got != 60*time.Second {
		t.Fatalf("second cooldown %s, want 60s", got)
	}
	newCode := e.prov.lastCode()
	// The old challenge is dead, even with its own code.
	if _, err := e.svc.Verify(ctx, bind(r), first.ID, oldCode); !errors.Is(err, challenge.ErrExpired) {
		t.Fatalf("old challenge after resend: %v", err)
	}
	e.clk.Advance(60 * time.Second)
	if res := e.start(t, rs); res.Challenge.Resends != 2 {
		t.Fatalf("second resend: %+v", res)
	}
	e.clk.Advance(10 * time.Minute)
	_, err = e.svc.Start(ctx, rs)
	if !errors.As(err, &cd) || !cd.ResendsExhausted || !errors.Is(err, challenge.ErrTooManyResends) {
		t.Fatalf("resend beyond MaxResends: %v", err)
	}
	if oldCode != newCode {
		if _, err := e.svc.Verify(ctx, bind(r), "", newCode); !errors.Is(err, challenge.ErrWrongCode) {
			t.Fatalf("the first resend's code after a second resend: %v", err)
		}
	}
	if _, err := e.svc.Verify(ctx, bind(r), "", e.prov.lastCode()); err != nil {
		t.Fatalf("latest code: %v", err)
	}
}

func TestResendNotDeliveredSkipsCooldown(t *testing.T) {
	e := newEnv(t, nil)
	r := req("flow-nd")
	c := e.start(t, r).Challenge
	if err := e.store.UpdateCall(context.Background(), c.ID, flashcall.Classify("SUBSCRIBER_ABSENT")); err != nil {
		t.Fatal(err)
	}
	r.Resend = true
	if res := e.start(t, r); !res.Placed {
		t.Fatal("resend after a not-delivered call was refused")
	}
}

func TestLimitsRefuseBeforeProvider(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*limit.Config)
		reqs []challenge.StartRequest
		kind string
	}{
		{"per number across spellings", func(l *limit.Config) { l.PerNumber.Limit = 1 },
			[]challenge.StartRequest{req("a"), func() challenge.StartRequest {
				r := req("b")
				r.IdentityID, r.Phone = "ident-2", "8 (900) 123-45-67"
				return r
			}()}, limit.KindNumber},
		{"per identity", func(l *limit.Config) { l.PerIdentity.Limit = 1 },
			[]challenge.StartRequest{req("a"), func() challenge.StartRequest {
				r := req("b")
				r.Phone = "+79001112233"
				return r
			}()}, limit.KindIdentity},
		{"per ip", func(l *limit.Config) { l.PerIP.Limit = 1 },
			[]challenge.StartRequest{req("a"), func() challenge.StartRequest {
				r := req("b")
				r.IdentityID, r.Phone = "ident-2", "+79001112233"
				return r
			}()}, limit.KindIP},
		{"global", func(l *limit.Config) { l.GlobalDaily.Limit = 1 },
			[]challenge.StartRequest{req("a"), func() challenge.StartRequest {
				r := req("b")
				r.IdentityID, r.Phone, r.ClientIP = "ident-2", "+79001112233", "198.51.100.1"
				return r
			}()}, limit.KindGlobal},
		{"deny prefix", func(l *limit.Config) { l.DenyPrefixes = []string{"7900"} },
			[]challenge.StartRequest{req("a")}, limit.KindDestination},
		{"allow prefix", func(l *limit.Config) { l.AllowPrefixes = []string{"7999"} },
			[]challenge.StartRequest{req("a")}, limit.KindDestination},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(_ *challenge.Config, l *limit.Config) { tc.mod(l) })
			ok := tc.reqs[:len(tc.reqs)-1]
			for _, r := range ok {
				e.start(t, r)
			}
			_, err := e.svc.Start(context.Background(), tc.reqs[len(tc.reqs)-1])
			var le *limit.LimitError
			if !errors.As(err, &le) || le.Kind != tc.kind {
				t.Fatalf("err %v, want limit %s", err, tc.kind)
			}
			if e.prov.numCalls() != len(ok) {
				t.Fatalf("provider got %d calls, want %d", e.prov.numCalls(), len(ok))
			}
			if !e.obs.has("limit:" + tc.kind) {
				t.Fatalf("limit not observed: %v", e.obs.events)
			}
		})
	}
}

func TestProviderErrorKeepsKind(t *testing.T) {
	e := newEnv(t, nil)
	e.prov.err = fmt.Errorf("callpass: 503: %w", flashcall.ErrUnavailable)
	_, err := e.svc.Start(context.Background(), req("f"))
	if !errors.Is(err, flashcall.ErrUnavailable) {
		t.Fatalf("err %v, want flashcall.ErrUnavailable", err)
	}
	if _, _, err := e.store.Lookup(context.Background(), challenge.LookupRequest{Binding: bind(req("f"))}); !errors.Is(err, challenge.ErrNotFound) {
		t.Fatalf("a challenge was stored for a failed call: %v", err)
	}
	if !e.obs.has("call:unavailable") {
		t.Fatalf("observer: %v", e.obs.events)
	}
}

func TestInvalidRequests(t *testing.T) {
	e := newEnv(t, nil)
	bad := []challenge.StartRequest{
		{Purpose: "other", IdentityID: "i", FlowID: "f", Phone: phoneE164},
		{Purpose: challenge.PurposeLogin, FlowID: "f", Phone: phoneE164},
		{Purpose: challenge.PurposeLogin, IdentityID: "i", Phone: phoneE164},
		{Purpose: challenge.PurposeLogin, IdentityID: "i", FlowID: "f", Phone: "+1 202 555 0100"},
	}
	for _, r := range bad {
		if _, err := e.svc.Start(context.Background(), r); !errors.Is(err, challenge.ErrInvalidRequest) {
			t.Fatalf("Start(%+v): %v", r, err)
		}
	}
	if _, err := e.svc.Start(context.Background(), bad[3]); !errors.Is(err, phone.ErrInvalid) {
		t.Fatalf("bad phone does not match phone.ErrInvalid: %v", err)
	}
	if e.prov.numCalls() != 0 {
		t.Fatal("invalid request reached the provider")
	}
}

// failingStore fails every operation.
type failingStore struct{}

var errDown = errors.New("connection refused")

func (failingStore) Create(context.Context, challenge.Challenge, string, time.Time) (challenge.Challenge, bool, error) {
	return challenge.Challenge{}, false, errDown
}
func (failingStore) Get(context.Context, string) (challenge.Challenge, error) {
	return challenge.Challenge{}, errDown
}
func (failingStore) Lookup(context.Context, challenge.LookupRequest) (challenge.Challenge, time.Time, error) {
	return challenge.Challenge{}, time.Time{}, errDown
}
func (failingStore) Verify(context.Context, challenge.VerifyRequest) (challenge.VerifyReply, error) {
	return challenge.VerifyReply{}, errDown
}
func (failingStore) UpdateCall(context.Context, string, flashcall.Status) error { return errDown }
func (failingStore) Ping(context.Context) error                                 { return errDown }

func (failingStore) Take(context.Context, []limit.Take) (limit.TakeResult, error) {
	return limit.TakeResult{}, errDown
}
func (failingStore) GiveBack(context.Context, []limit.Take, string) error { return errDown }
func (failingStore) Fail(context.Context, string, time.Duration, int, time.Duration) (time.Time, error) {
	return time.Time{}, errDown
}
func (failingStore) BlockedUntil(context.Context, string) (time.Time, error) {
	return time.Time{}, errDown
}

func TestStoreFailureFailsClosed(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	mem := memory.New(time.Hour)
	t.Cleanup(func() { _ = mem.Close() })
	cases := []struct {
		name    string
		store   challenge.Store
		limiter func() (*limit.Limiter, error)
	}{
		{"challenge store down", failingStore{}, func() (*limit.Limiter, error) {
			return limit.New(limit.DefaultConfig(), mem, mem, limit.WithNumberHasher(phonetest.Hasher()))
		}},
		{"limit store down", mem, func() (*limit.Limiter, error) {
			return limit.New(limit.DefaultConfig(), failingStore{}, failingStore{}, limit.WithNumberHasher(phonetest.Hasher()))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lim, err := tc.limiter()
			if err != nil {
				t.Fatal(err)
			}
			e := newEnvWith(t, cfg, tc.store, lim, clk)
			if _, err := e.svc.Start(ctx, req("f")); !errors.Is(err, challenge.ErrStoreUnavailable) || !errors.Is(err, errDown) {
				t.Fatalf("Start: %v", err)
			}
			if _, err := e.svc.Verify(ctx, bind(req("f")), "", "1234"); !errors.Is(err, challenge.ErrStoreUnavailable) {
				t.Fatalf("Verify: %v", err)
			}
			if e.prov.numCalls() != 0 {
				t.Fatal("provider called although a store is down")
			}
		})
	}
	if err := newEnvWith(t, cfg, failingStore{}, mustLimiter(t, mem), clk).svc.Ping(ctx); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("Ping: %v", err)
	}
}

func mustLimiter(t *testing.T, mem *memory.Store) *limit.Limiter {
	l, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBackgroundPolling(t *testing.T) {
	e := newEnv(t, nil)
	e.prov.start = flashcall.Classify("null")
	e.prov.statuses = []flashcall.Status{flashcall.Classify("null"), flashcall.Classify("null"), flashcall.Classify("NO_ANSWER")}
	c := e.start(t, req("flow-p")).Challenge
	if c.CallClass != flashcall.ClassPending {
		t.Fatalf("initial class %v", c.CallClass)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := e.svc.Get(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CallClass == flashcall.ClassRang && got.CallStatus == "NO_ANSWER" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never reached the store: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Polling stopped at the final status.
	e.prov.mu.Lock()
	polls := e.prov.polls
	e.prov.mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	e.prov.mu.Lock()
	defer e.prov.mu.Unlock()
	if e.prov.polls != polls || polls != 3 {
		t.Fatalf("polls %d then %d, want 3 and no more", polls, e.prov.polls)
	}
	// Every poll names the number called, so the provider can mask it in
	// the status text it returns (and the service stores).
	for i, to := range e.prov.polledTo {
		if to != phoneE164 {
			t.Fatalf("poll %d got destination %q, want %q", i+1, to, phoneE164)
		}
	}
	// Whether it rang is counted once per call, at the final status; the
	// pending answers before it are not calls.
	if e.obs.count("status:rang") != 1 || e.obs.has("status:pending") {
		t.Fatalf("observer: %v", e.obs.events)
	}
}

// A call whose status never settles is counted once, with the last status
// polled, when polling gives up; a synchronous start's final status is
// counted at the start (nothing is polled).
func TestCallStatusCountedOncePerCall(t *testing.T) {
	t.Run("polling gives up", func(t *testing.T) {
		// Long enough for two polls however late the poller starts on a
		// loaded machine (250 ms could see one).
		e := newEnv(t, func(c *challenge.Config, _ *limit.Config) { c.PollTimeout = time.Second })
		e.prov.start = flashcall.Classify("null")
		e.start(t, req("flow-gives-up"))
		deadline := time.Now().Add(30 * time.Second)
		for e.obs.count("status:pending") == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		_ = e.svc.Close() // waits for every poller: nothing is counted after this
		polls := e.prov.numPolls()
		if n := e.obs.count("status:pending"); n != 1 || polls < 2 {
			t.Fatalf("status:pending counted %d times over %d polls, want once: %v", n, polls, e.obs.events)
		}
	})
	t.Run("the provider no longer knows the call", func(t *testing.T) {
		e := newEnv(t, nil)
		e.prov.start = flashcall.Classify("null")
		e.prov.statusErr, e.prov.errAfter = flashcall.ErrCallNotFound, 2 // two pending answers, then 404
		e.start(t, req("flow-forgotten"))
		deadline := time.Now().Add(5 * time.Second)
		for e.obs.count("status:pending") == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		_ = e.svc.Close()
		if n := e.obs.count("status:pending"); n != 1 || e.prov.numPolls() != 3 {
			t.Fatalf("status:pending counted %d times over %d polls, want once over 3: %v", n, e.prov.numPolls(), e.obs.events)
		}
	})
	t.Run("synchronous start", func(t *testing.T) {
		e := newEnv(t, nil)
		e.prov.start = flashcall.Classify("NO_ANSWER")
		e.start(t, req("flow-sync"))
		_ = e.svc.Close() // a poller, if one was started, has finished
		polls := e.prov.numPolls()
		if e.obs.count("status:rang") != 1 || polls != 0 {
			t.Fatalf("status:rang counted %d times, %d polls; want 1 and 0: %v", e.obs.count("status:rang"), polls, e.obs.events)
		}
	})
}

// TestPollingIsBounded: a call whose status stays pending is polled until
// PollTimeout, the only bound here (the challenge's 5 minutes are on the
// test's clock, which stands still). The test waits for the poller to end:
// a fixed 150 ms read a loaded machine's poller still polling, or not yet.
func TestPollingIsBounded(t *testing.T) {
	e := newEnv(t, func(c *challenge.Config, _ *limit.Config) { c.PollTimeout = 500 * time.Millisecond })
	e.prov.start = flashcall.Classify("null")
	e.start(t, req("flow-bounded"))
	for deadline := time.Now().Add(30 * time.Second); e.svc.Polling() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still polling 30 s after a 500 ms PollTimeout (%d polls): polling not bounded", e.prov.numPolls())
		}
	}
	if polls := e.prov.numPolls(); polls == 0 {
		t.Fatal("the pending call was never polled")
	}
}

func TestConfigValidate(t *testing.T) {
	good := challenge.DefaultConfig()
	good.CodeKey = key
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mod  func(*challenge.Config)
		want string
	}{
		{"short key", func(c *challenge.Config) { c.CodeKey = key[:31] }, "code_key"},
		{"no ttl", func(c *challenge.Config) { c.TTL = 0 }, "ttl"},
		{"no attempts", func(c *challenge.Config) { c.MaxAttempts = 0 }, "max_attempts"},
		{"shrinking cooldowns", func(c *challenge.Config) { c.ResendCooldowns = []time.Duration{time.Minute, time.Second} }, "resend_cooldowns[1]"},
		{"no cooldowns", func(c *challenge.Config) { c.ResendCooldowns = nil }, "resend_cooldowns"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.mod(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want mention of %s", err, tc.want)
			}
		})
	}
}

func TestIDs(t *testing.T) {
	b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: "i", FlowID: "f"}
	seen := map[string]bool{}
	for range 1000 {
		id := challenge.NewID(b)
		if seen[id] {
			t.Fatal("duplicate id")
		}
		seen[id] = true
		tag, ok := challenge.IDTag(id)
		if !ok || tag != b.Tag() {
			t.Fatalf("IDTag(%q) = %q %v", id, tag, ok)
		}
	}
	for _, bad := range []string{"", "x", "abc.def", strings.Repeat("a", 22) + ".zzzzzzzzzz", strings.Repeat("+", 22) + "." + b.Tag()} {
		if _, ok := challenge.IDTag(bad); ok {
			t.Fatalf("IDTag accepted %q", bad)
		}
	}
}

// countingStore counts store round trips; it is the challenge store and
// the limiter's ban store at once, like the real stores.
type countingStore struct {
	mem   *memory.Store
	mu    sync.Mutex
	calls []string
}

func (c *countingStore) note(op string) { c.mu.Lock(); c.calls = append(c.calls, op); c.mu.Unlock() }
func (c *countingStore) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := c.calls
	c.calls = nil
	return calls
}
func (c *countingStore) Create(ctx context.Context, ch challenge.Challenge, r string, now time.Time) (challenge.Challenge, bool, error) {
	c.note("create")
	return c.mem.Create(ctx, ch, r, now)
}
func (c *countingStore) Get(ctx context.Context, id string) (challenge.Challenge, error) {
	c.note("get")
	return c.mem.Get(ctx, id)
}
func (c *countingStore) Lookup(ctx context.Context, r challenge.LookupRequest) (challenge.Challenge, time.Time, error) {
	c.note("lookup")
	return c.mem.Lookup(ctx, r)
}
func (c *countingStore) Verify(ctx context.Context, r challenge.VerifyRequest) (challenge.VerifyReply, error) {
	c.note("verify")
	return c.mem.Verify(ctx, r)
}
func (c *countingStore) UpdateCall(ctx context.Context, id string, st flashcall.Status) error {
	c.note("update_call")
	return c.mem.UpdateCall(ctx, id, st)
}
func (c *countingStore) Ping(ctx context.Context) error { return c.mem.Ping(ctx) }
func (c *countingStore) Fail(ctx context.Context, key string, find time.Duration, n int, ban time.Duration) (time.Time, error) {
	c.note("fail")
	return c.mem.Fail(ctx, key, find, n, ban)
}
func (c *countingStore) BlockedUntil(ctx context.Context, key string) (time.Time, error) {
	c.note("blocked_until")
	return c.mem.BlockedUntil(ctx, key)
}

// TestVerifyRoundTrips: with a store that also keeps the bans, a verify is
// one atomic store step (ban, challenge, code, count and gate pass), the
// same for a banned identity (nothing counted). With bans kept elsewhere the
// limiter reads the ban first, and the ban still wins.
func TestVerifyRoundTrips(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Now()}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	cs := &countingStore{mem: mem}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	lim, err := limit.New(limit.DefaultConfig(), mem, cs, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, cfg, cs, lim, clk)
	r := req("f")
	c := e.start(t, r).Challenge
	if calls := cs.take(); len(calls) != 2 || calls[0] != "lookup" || calls[1] != "create" {
		t.Fatalf("start store calls %v, want lookup then create", calls)
	}
	for _, id := range []string{c.ID, ""} {
		_, _ = e.svc.Verify(ctx, bind(r), id, "0000")
		if calls := cs.take(); len(calls) != 1 || calls[0] != "verify" {
			t.Fatalf("wrong code (id=%q): store calls %v, want one verify", id, calls)
		}
	}
	authAt := clk.Now().Add(-time.Second)
	pass := &challenge.Pass{AuthenticatedAt: authAt, TTL: time.Hour}
	if _, err := e.svc.VerifyAndPass(ctx, bind(r), "", e.prov.lastCode(), pass); err != nil {
		t.Fatal(err)
	}
	if calls := cs.take(); len(calls) != 1 || calls[0] != "verify" {
		t.Fatalf("verify with a pass: store calls %v, want one verify", calls)
	}
	if _, ok, err := mem.ClaimPass(ctx, r.IdentityID, []time.Time{authAt}, time.Second, "sess"); err != nil || !ok {
		t.Fatalf("the verify recorded no gate pass: %v %v", ok, err)
	}

	// Banned: one step, nothing counted.
	for range 3 {
		if _, err := mem.Fail(ctx, limit.RegulationKey(r.IdentityID), time.Hour, 3, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	r2 := req("f2")
	var le *limit.LimitError
	if _, err := e.svc.Verify(ctx, bind(r2), "", "1234"); !errors.As(err, &le) || le.Kind != limit.KindRegulation || le.RetryAfter != time.Hour {
		t.Fatalf("verify while banned: %v", err)
	}
	if calls := cs.take(); len(calls) != 1 || calls[0] != "verify" {
		t.Fatalf("banned verify: store calls %v, want one verify", calls)
	}

	// Bans kept in another store: the limiter reads them first.
	other := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = other.Close() })
	cs2 := &countingStore{mem: other}
	lim2, err := limit.New(limit.DefaultConfig(), mem, cs2, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	e2 := newEnvWith(t, cfg, cs, lim2, clk)
	r3 := req("f3")
	r3.IdentityID = "someone"
	e2.start(t, r3)
	cs.take()
	cs2.take()
	_, _ = e2.svc.Verify(ctx, bind(r3), "", "0000")
	if calls, bans := cs.take(), cs2.take(); len(calls) != 1 || calls[0] != "verify" || len(bans) != 1 || bans[0] != "blocked_until" {
		t.Fatalf("separate ban store: challenge store calls %v, ban store calls %v", calls, bans)
	}
	for range 3 {
		if _, err := other.Fail(ctx, limit.RegulationKey(r3.IdentityID), time.Hour, 3, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e2.svc.Verify(ctx, bind(r3), "", "1234"); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("verify while banned in the separate store: %v", err)
	}
	if calls := cs.take(); len(calls) != 0 {
		t.Fatalf("banned verify reached the challenge store: %v", calls)
	}
}

func TestVerifyAndPassRefusesBadPass(t *testing.T) {
	e := newEnv(t, nil)
	r := req("f")
	e.start(t, r)
	now := e.clk.Now()
	for _, p := range []challenge.Pass{
		{IdentityID: "someone-else", AuthenticatedAt: now, TTL: time.Hour},
		{AuthenticatedAt: now},
		{TTL: time.Hour},
	} {
		if _, err := e.svc.VerifyAndPass(context.Background(), bind(r), "", e.prov.lastCode(), &p); !errors.Is(err, challenge.ErrInvalidRequest) {
			t.Fatalf("pass %+v: %v, want ErrInvalidRequest", p, err)
		}
	}
	// Nothing was spent: the right code still works.
	if _, err := e.svc.Verify(context.Background(), bind(r), "", e.prov.lastCode()); err != nil {
		t.Fatal(err)
	}
}

// spyStore records the Verify requests it passes on, and can answer a
// verify itself.
type spyStore struct {
	*memory.Store
	mu     sync.Mutex
	reqs   []challenge.VerifyRequest
	answer *challenge.VerifyReply
}

func (s *spyStore) Verify(ctx context.Context, r challenge.VerifyRequest) (challenge.VerifyReply, error) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	answer := s.answer
	s.mu.Unlock()
	if answer != nil {
		return *answer, nil
	}
	return s.Store.Verify(ctx, r)
}

func (s *spyStore) last() challenge.VerifyRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

// TestVerifyRequest: the service hashes the typed code with the binding
// before the one store step; input that cannot be a code is sent as a sum
// no stored hash equals, and still counts.
func TestVerifyRequest(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	spy := &spyStore{Store: mem}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	lim, err := limit.New(limit.DefaultConfig(), mem, spy, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, cfg, spy, lim, clk)
	r := req("f")
	b := bind(r)
	c := e.start(t, r).Challenge
	code := e.prov.lastCode()
	bad := "0000"
	if bad == code {
		bad = "1111"
	}

	var wrong *challenge.WrongCodeError
	cases := []struct {
		input   string
		hashed  string // "" when the sum must match no code
		left    int
		format  bool
		lengthy bool
	}{
		{bad, bad, 2, false, false},
		{"12345", "12345", 1, true, false},         // digits, wrong length
		{code + "000000000000", "", 0, true, true}, // longer than any code or number (16 digits): not hashed as such
	}
	for _, tc := range cases {
		_, err := e.svc.Verify(ctx, b, "", tc.input)
		if !errors.As(err, &wrong) || wrong.AttemptsLeft != tc.left || wrong.Format != tc.format {
			t.Fatalf("Verify(%q): %v, want wrong code with %d left, format %v", tc.input, err, tc.left, tc.format)
		}
		got := spy.last()
		if got.Binding != b || got.ID != "" || !got.Now.Equal(clk.Now()) || got.BanKey != limit.RegulationKey(b.IdentityID) || got.Pass != nil {
			t.Fatalf("Verify(%q) sent %+v", tc.input, got)
		}
		if tc.hashed != "" && string(got.Sum) != string(challenge.HashCode(key, b, tc.hashed)) {
			t.Fatalf("Verify(%q): sum is not HashCode(binding, input)", tc.input)
		}
		if tc.lengthy && (len(got.Sum) != 32 || string(got.Sum) == string(challenge.HashCode(key, b, tc.input[:12]))) {
			t.Fatalf("Verify(%q): sum %x, want 32 bytes matching no code", tc.input, got.Sum)
		}
	}
	if st, _ := mem.Get(ctx, c.ID); st.State != challenge.StateLocked || st.Attempts != 3 {
		t.Fatalf("after three wrong inputs: %q %d", st.State, st.Attempts)
	}

	// A non-digit input is never hashed as typed.
	r2 := req("f2")
	e.start(t, r2)
	authAt := clk.Now().Add(-time.Second)
	_, err = e.svc.VerifyAndPass(ctx, bind(r2), "", "12a4", &challenge.Pass{AuthenticatedAt: authAt, TTL: time.Hour})
	if !errors.As(err, &wrong) || !wrong.Format || wrong.AttemptsLeft != 2 {
		t.Fatalf("non-digit input: %v", err)
	}
	got := spy.last()
	if string(got.Sum) == string(challenge.HashCode(key, bind(r2), "12a4")) || len(got.Sum) != 32 {
		t.Fatalf("non-digit input sent as its hash %x", got.Sum)
	}
	if got.Pass == nil || got.Pass.IdentityID != r2.IdentityID || !got.Pass.AuthenticatedAt.Equal(authAt) {
		t.Fatalf("pass sent %+v, want the binding's identity filled in", got.Pass)
	}
	// Spaces around the right code are ignored.
	if _, err := e.svc.Verify(ctx, bind(r2), "", "  "+e.prov.lastCode()+"\t"); err != nil {
		t.Fatalf("right code with spaces: %v", err)
	}

	// The store saw a ban the limiter's clock has just seen end: nothing was
	// counted, and the verify still fails closed as banned.
	spy.answer = &challenge.VerifyReply{Outcome: challenge.OutcomeBanned, BannedUntil: clk.Now().Add(-time.Millisecond)}
	var le *limit.LimitError
	if _, err := e.svc.Verify(ctx, bind(r2), "", "1234"); !errors.As(err, &le) || le.Kind != limit.KindRegulation || le.RetryAfter <= 0 {
		t.Fatalf("ban ended between store and limiter: %v, want a regulation limit", err)
	}
	spy.answer = &challenge.VerifyReply{Outcome: challenge.OutcomeBanned, BannedUntil: clk.Now().Add(time.Minute)}
	if _, err := e.svc.Verify(ctx, bind(r2), "", "1234"); !errors.As(err, &le) || le.RetryAfter != time.Minute {
		t.Fatalf("banned: %v, want retry after 1m", err)
	}
	if !e.obs.has("verify:blocked") || !e.obs.has("limit:"+limit.KindRegulation) {
		t.Fatalf("observer: %v", e.obs.events)
	}
}

// TestUnpolledCallsWarnedOncePerSecond: beyond max_pollers a flood of starts
// writes one warning a second carrying how many calls went unpolled, not a
// line per start.
func TestUnpolledCallsWarnedOncePerSecond(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	cfg.PollInterval = time.Hour // the one poller holds its slot for the test
	cfg.PollTimeout = time.Hour
	cfg.MaxPollers = 1
	lcfg := limit.DefaultConfig()
	for _, r := range []*limit.Rule{&lcfg.PerNumber, &lcfg.PerIdentity, &lcfg.PerIP} {
		r.Limit = 1000
	}
	lim, err := limit.New(lcfg, mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	prov := &provider{start: flashcall.Classify("null")}
	obs := &observer{}
	svc, err := challenge.NewService(cfg, mem, prov, lim, challenge.WithClock(clk.Now), challenge.WithObserver(obs),
		challenge.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	start := func(i int) {
		t.Helper()
		if _, err := svc.Start(context.Background(), req(fmt.Sprintf("flow-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	warnings := func() []map[string]any {
		var out []map[string]any
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if strings.HasPrefix(m["msg"].(string), "too many calls being polled") {
				out = append(out, m)
			}
		}
		return out
	}
	start(0) // takes the only poller
	for i := 1; i <= 50; i++ {
		start(i)
	}
	clk.Advance(500 * time.Millisecond)
	for i := 51; i <= 60; i++ {
		start(i)
	}
	if w := warnings(); len(w) != 1 || w[0]["calls"] != 1.0 || w[0]["max_pollers"] != 1.0 {
		t.Fatalf("after 60 unpolled calls in half a second: %v", w)
	}
	clk.Advance(600 * time.Millisecond)
	start(61)
	// The second line carries the 59 left unpolled since the first, and this one.
	if w := warnings(); len(w) != 2 || w[1]["calls"] != 60.0 {
		t.Fatalf("a second later: %v", w)
	}
	if polling := svc.Polling(); polling != 1 {
		t.Fatalf("Polling() = %d, want 1", polling)
	}
	// The metric counts every one of them.
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if n := strings.Count(strings.Join(obs.events, " "), "unpolled:fake"); n != 61 {
		t.Fatalf("ObserveCallUnpolled called %d times, want 61", n)
	}
}

// newLoggedService is a service over prov whose JSON log lines (Debug and
// up) go to the returned buffer.
func newLoggedService(t *testing.T, prov challenge.Provider, mod func(*challenge.Config)) (*challenge.Service, *testenv.LogBuffer, *observer) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	cfg.PollInterval = 5 * time.Millisecond
	cfg.PollTimeout = 2 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	lim, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	obs := &observer{}
	svc, err := challenge.NewService(cfg, mem, prov, lim, challenge.WithClock(clk.Now), challenge.WithObserver(obs),
		challenge.WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc, logs, obs
}

// logLines returns the messages of the JSON log lines at level or above.
func logLines(t *testing.T, logs *testenv.LogBuffer, level slog.Level) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var m struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		var l slog.Level
		if err := l.UnmarshalText([]byte(m.Level)); err != nil {
			t.Fatalf("log level %q: %v", m.Level, err)
		}
		if l >= level {
			out = append(out, m.Msg)
		}
	}
	return out
}

// TestPollingStopsOnFatalStatusErrors: a status request the provider (or
// its client, before sending) refused will be refused again, so polling
// stops at the first such answer; provider trouble is retried.
func TestPollingStopsOnFatalStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		stops bool
	}{
		{"refused locally", fmt.Errorf("v1 has no status method: %w", flashcall.ErrInvalidRequest), true},
		{"call not found", fmt.Errorf("x: %w", flashcall.ErrCallNotFound), true},
		{"unauthorized", fmt.Errorf("x: %w", flashcall.ErrUnauthorized), true},
		{"unavailable", fmt.Errorf("x: %w", flashcall.ErrUnavailable), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prov := &provider{start: flashcall.Classify("null"), statusErr: tc.err}
			svc, logs, _ := newLoggedService(t, prov, nil)
			if _, err := svc.Start(context.Background(), req("flow-stop")); err != nil {
				t.Fatal(err)
			}
			// Until the poller stops, or has polled three times (a fixed
			// 100 ms, 20 poll intervals, could pass before a loaded machine
			// polled).
			for deadline := time.Now().Add(30 * time.Second); svc.Polling() > 0 && prov.numPolls() < 3; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d polls after 30 s", prov.numPolls())
				}
			}
			polls := prov.numPolls()
			stopped := slices.Contains(logLines(t, logs, slog.LevelWarn), "call status polling stopped")
			if tc.stops && (polls != 1 || !stopped || svc.Polling() != 0) {
				t.Fatalf("polls %d, stop line %v, Polling() %d: want one poll, then stop", polls, stopped, svc.Polling())
			}
			if !tc.stops && (polls < 3 || stopped) {
				t.Fatalf("polls %d, stop line %v: provider trouble must be retried", polls, stopped)
			}
		})
	}
}

// The CallPass client tells the service whether its API version can poll.
var _ challenge.StatusReporter = (*callpass.Client)(nil)

// TestNoPollingWithoutStatusMethod: CallPass API v1 has no status method,
// so a v1 call whose start answer is not final is not polled at all: no
// status attempt, no warning, and not counted as unpolled past max_pollers.
// The v3 case shows the same setup does poll when the API can answer.
func TestNoPollingWithoutStatusMethod(t *testing.T) {
	for _, tc := range []struct {
		name       string
		version    int
		result     string
		maxPollers int
		wantPolls  bool
		// wantStatus is the one final-status observation a start answer
		// may bring: an unknown cause is a finished call's status, not rang.
		wantStatus string
	}{
		{"v1 pending", 1, "null", 10, false, ""},
		{"v1 unknown status", 1, "SOMETHING_NEW", 10, false, "status:not_delivered"},
		{"v1 no pollers", 1, "null", 0, false, ""},
		{"v3 pending", 3, "null", 10, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			statusReqs := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if strings.Contains(r.URL.Path, "status") {
					mu.Lock()
					statusReqs++
					mu.Unlock()
					_, _ = fmt.Fprint(w, `{"data":{"result":"null"},"status":"success"}`)
					return
				}
				_, _ = fmt.Fprintf(w, `{"data":{"callid":"527f2b9b-1124-4c6f-a5fb-b9b239d923e4","pin":"0446","phone":"2210446","result":%q},"status":"success"}`, tc.result)
			}))
			t.Cleanup(srv.Close)
			var logs testenv.LogBuffer
			client, err := callpass.New(callpass.Config{BaseURL: srv.URL, Token: strings.Repeat("ab", 16), APIVersion: tc.version, Async: true,
				Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			svc, slogs, obs := newLoggedService(t, client, func(c *challenge.Config) { c.MaxPollers = tc.maxPollers })
			res, err := svc.Start(context.Background(), req("flow-v"))
			if err != nil || !res.Placed || res.Challenge.CallClass.String() == "rang" {
				t.Fatalf("Start = %+v, %v", res, err)
			}
			polling := svc.Polling()
			reqs := func() int { mu.Lock(); defer mu.Unlock(); return statusReqs }
			if tc.wantPolls {
				// The first status request, however late a loaded machine
				// sends it (a fixed 100 ms could pass before).
				for deadline := time.Now().Add(30 * time.Second); reqs() == 0 && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
			} else {
				time.Sleep(100 * time.Millisecond) // 20 poll intervals without a request
			}
			n := reqs()
			if tc.wantPolls {
				if polling != 1 || n == 0 {
					t.Fatalf("v%d: Polling() %d, %d status requests: the call was not polled", tc.version, polling, n)
				}
				return
			}
			warns := append(logLines(t, &logs, slog.LevelWarn), logLines(t, slogs, slog.LevelWarn)...)
			if polling != 0 || n != 0 || len(warns) != 0 {
				t.Fatalf("v%d: Polling() %d, %d status requests, warnings %q: want no polling at all", tc.version, polling, n, warns)
			}
			if strings.Contains(logs.String(), "callpass status") {
				t.Fatalf("a status request was attempted:\n%s", logs.String())
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			seen := ""
			for _, ev := range obs.events {
				if strings.HasPrefix(ev, "unpolled:") || strings.HasPrefix(ev, "status:") && (ev != tc.wantStatus || seen != "") {
					t.Fatalf("observer got %q for a call the API cannot report on: %v", ev, obs.events)
				}
				if strings.HasPrefix(ev, "status:") {
					seen = ev
				}
			}
			if seen != tc.wantStatus {
				t.Fatalf("final status observed %q, want %q: %v", seen, tc.wantStatus, obs.events)
			}
		})
	}
}

// TestStartOutlivesItsCaller: once the limits let a start through, the call
// is placed and recorded even if the caller goes away meanwhile (Kratos
// giving up on a slow hook, a client disconnecting). The retry that follows
// finds the challenge instead of placing a second paid call.
func TestStartOutlivesItsCaller(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	e.prov.duringStart = cancel
	r := req("flow-gone")
	res, err := e.svc.Start(ctx, r)
	if err != nil {
		t.Fatalf("start whose caller left: %v", err)
	}
	if !res.Placed || res.Challenge.ID == "" {
		t.Fatalf("start whose caller left: %+v", res)
	}
	e.prov.duringStart = nil
	again := e.start(t, r)
	if again.Placed || again.Challenge.ID != res.Challenge.ID || e.prov.numCalls() != 1 {
		t.Fatalf("retry placed %d calls in all (placed again: %v), challenge %s then %s",
			e.prov.numCalls(), again.Placed, res.Challenge.ID, again.Challenge.ID)
	}
}

// cancelAfterVerify is a store whose verify step completes and then the
// caller's context ends: a client that hangs up while Redis answers.
type cancelAfterVerify struct {
	challenge.Store
	cancel context.CancelFunc
}

func (s cancelAfterVerify) Verify(ctx context.Context, req challenge.VerifyRequest) (challenge.VerifyReply, error) {
	rep, err := s.Store.Verify(ctx, req)
	s.cancel()
	return rep, err
}

// TestLockedChallengeBansEvenIfTheCallerLeft: the failure a locked challenge
// counts towards a ban is recorded even when the caller's context ended
// right after the verify step; hanging up must not dodge the regulation.
func TestLockedChallengeBansEvenIfTheCallerLeft(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	lim, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	var cancel context.CancelFunc = func() {}
	st := &cancelAfterVerify{Store: mem}
	e := newEnvWith(t, cfg, st, lim, clk)
	for i := range 3 {
		r := req(fmt.Sprintf("flow-%d", i))
		c := e.start(t, r).Challenge
		bad := "9999"
		if e.prov.lastCode() == bad {
			bad = "8888"
		}
		for range 3 {
			var ctx context.Context
			ctx, cancel = context.WithCancel(context.Background())
			st.cancel = cancel
			_, _ = e.svc.Verify(ctx, bind(r), c.ID, bad)
		}
	}
	cancel()
	var le *limit.LimitError
	if _, err := e.svc.Start(context.Background(), req("flow-after")); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("start after three locked challenges whose callers left: %v, want a regulation ban", err)
	}
}

// gatedStore holds every Create until n Lookups happened, so n concurrent
// Starts all read the same active challenge before any of them stores.
type gatedStore struct {
	*memory.Store
	n       int32
	armed   atomic.Bool
	lookups atomic.Int32
	ready   chan struct{}
}

func (g *gatedStore) arrived() {
	if g.armed.Load() && g.lookups.Add(1) == g.n {
		close(g.ready)
	}
}

func (g *gatedStore) Lookup(ctx context.Context, r challenge.LookupRequest) (challenge.Challenge, time.Time, error) {
	defer g.arrived()
	return g.Store.Lookup(ctx, r)
}

func (g *gatedStore) LookupAndCheck(ctx context.Context, r challenge.LookupRequest, checks []limit.Take) (challenge.CheckedLookup, error) {
	defer g.arrived()
	return g.Store.LookupAndCheck(ctx, r, checks)
}

func (g *gatedStore) Create(ctx context.Context, c challenge.Challenge, expect string, now time.Time) (challenge.Challenge, bool, error) {
	if g.armed.Load() {
		select {
		case <-g.ready:
		case <-time.After(5 * time.Second):
		}
	}
	return g.Store.Create(ctx, c, expect, now)
}

func TestConcurrentResendsReplaceOnce(t *testing.T) {
	const n = 8
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	cfg.MaxResends = 3
	lcfg := limit.DefaultConfig()
	lcfg.PerNumber.Limit, lcfg.PerIdentity.Limit, lcfg.PerIP.Limit = 100, 100, 100
	lim, err := limit.New(lcfg, mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedStore{Store: mem, n: n, ready: make(chan struct{})}
	e := newEnvWith(t, cfg, g, lim, clk)
	r := req("flow-cr")
	first := e.start(t, r).Challenge
	e.clk.Advance(cfg.ResendCooldowns[0])
	r.Resend = true
	g.armed.Store(true)

	results := make([]challenge.StartResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = e.svc.Start(context.Background(), r) })
	}
	wg.Wait()
	placed := 0
	var winner challenge.Challenge
	for i := range n {
		if errs[i] != nil {
			var cd *challenge.CooldownError
			if !errors.As(errs[i], &cd) {
				t.Fatalf("resend %d: %v", i, errs[i])
			}
			continue
		}
		if results[i].Placed {
			placed++
			winner = results[i].Challenge
		}
	}
	if placed != 1 {
		t.Fatalf("%d concurrent resends replaced the challenge, want 1", placed)
	}
	act, _, err := mem.Lookup(context.Background(), challenge.LookupRequest{Binding: bind(r)})
	if err != nil {
		t.Fatal(err)
	}
	if act.ID != winner.ID || act.State != challenge.StatePending || act.Resends != first.Resends+1 {
		t.Fatalf("active after concurrent resends: %+v, want %s pending with %d resends", act, winner.ID, first.Resends+1)
	}
	for i := range n {
		if errs[i] == nil && results[i].Challenge.ID != winner.ID {
			t.Fatalf("resend %d returned %s, want the winner %s", i, results[i].Challenge.ID, winner.ID)
		}
	}
	if calls := e.prov.numCalls(); calls > 1+n {
		t.Fatalf("%d provider calls", calls)
	}
}

// TestStartIsBoundedWhenDetached: the paid part of a start goes on after the
// caller hangs up, but not for ever: a provider (or store) without a timeout
// of its own is cut at StartTimeout, not at the server's write timeout.
func TestStartIsBoundedWhenDetached(t *testing.T) {
	e := newEnv(t, func(c *challenge.Config, _ *limit.Config) { c.StartTimeout = 200 * time.Millisecond })
	e.prov.hang = true
	// The caller's context has no deadline and is never cancelled.
	done := make(chan error, 1)
	go func() { _, err := e.svc.Start(context.Background(), req("flow-hang")); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, flashcall.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("start: %v, want the provider unavailable after the start timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a start with a hanging provider was not cut at StartTimeout")
	}
	if err := (challenge.Config{StartTimeout: 0}).Validate(); err == nil || !strings.Contains(err.Error(), "start timeout") {
		t.Fatalf("a zero start timeout was accepted: %v", err)
	}
}

// hangingBlocks is a ban store whose Fail waits for its context's end (at
// most 30 s): a store client without a timeout of its own.
type hangingBlocks struct{}

func (hangingBlocks) Fail(ctx context.Context, _ string, _ time.Duration, _ int, _ time.Duration) (time.Time, error) {
	select {
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-time.After(30 * time.Second):
		return time.Time{}, nil
	}
}

func (hangingBlocks) BlockedUntil(context.Context, string) (time.Time, error) {
	return time.Time{}, nil
}

// TestRecordFailureIsBounded: the failure of a locked challenge is counted
// toward a ban even if the caller hangs up, but a ban store that hangs cuts
// it after a few seconds, and the verify answers "locked".
func TestRecordFailureIsBounded(t *testing.T) {
	t.Parallel()
	clk, mem, cfg := memParts(t)
	lim, err := limit.New(limit.DefaultConfig(), mem, hangingBlocks{}, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, cfg, mem, lim, clk)
	r := req("f")
	e.start(t, r)
	bad := "0000"
	if bad == e.prov.lastCode() {
		bad = "1111"
	}
	start := time.Now()
	var err3 error
	for range cfg.MaxAttempts {
		_, err3 = e.svc.Verify(context.Background(), bind(r), "", bad)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("the locking verify took %s with a hanging ban store", took)
	}
	if !errors.Is(err3, challenge.ErrLocked) {
		t.Fatalf("last wrong code: %v, want locked", err3)
	}
}

// slowCreateStore is a store whose Create takes a while (and honours its
// context, as a network store does).
type slowCreateStore struct {
	challenge.Store
	delay time.Duration
}

func (s slowCreateStore) Create(ctx context.Context, c challenge.Challenge, expect string, now time.Time) (challenge.Challenge, bool, error) {
	select {
	case <-ctx.Done():
		return challenge.Challenge{}, false, ctx.Err()
	case <-time.After(s.delay):
	}
	return s.Store.Create(ctx, c, expect, now)
}

// TestPlacedCallRecordedAfterSlowStart: a take and a call that use up most
// of StartTimeout still leave time to record the placed call (its own
// bound), or the user's retry would pay for a second call.
func TestPlacedCallRecordedAfterSlowStart(t *testing.T) {
	clk, mem, cfg := memParts(t)
	cfg.StartTimeout = 300 * time.Millisecond
	lim, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWith(t, cfg, slowCreateStore{Store: mem, delay: 150 * time.Millisecond}, lim, clk)
	e.prov.duringStart = func() { time.Sleep(200 * time.Millisecond) }
	res, err := e.svc.Start(context.Background(), req("flow-slow"))
	if err != nil || !res.Placed {
		t.Fatalf("start: placed %v, %v; want the placed call recorded", res.Placed, err)
	}
	if _, err := mem.Get(context.Background(), res.Challenge.ID); err != nil {
		t.Fatalf("the placed call's challenge is not stored: %v", err)
	}
}
