package challenge_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// opsObserver records every store operation as "op:ok" or "op:error".
type opsObserver struct {
	observer
	omu sync.Mutex
	ops []string
}

func (o *opsObserver) ObserveStore(op string, err error, _ time.Duration) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	o.omu.Lock()
	o.ops = append(o.ops, op+":"+res)
	o.omu.Unlock()
}

// drain returns the operations recorded since the last drain.
func (o *opsObserver) drain() []string {
	o.omu.Lock()
	defer o.omu.Unlock()
	ops := o.ops
	o.ops = nil
	return ops
}

// opsService is a service on st and lim whose store operations are
// recorded by an opsObserver and as spans.
func opsService(t *testing.T, cfg challenge.Config, st challenge.Store, lim *limit.Limiter, clk *clock) (*challenge.Service, *provider, *opsObserver, *tracetest.SpanRecorder) {
	t.Helper()
	prov := &provider{}
	obs := &opsObserver{}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	svc, err := challenge.NewService(cfg, st, prov, lim, challenge.WithClock(clk.Now), challenge.WithObserver(obs),
		challenge.WithTracerProvider(tp), challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc, prov, obs, rec
}

// flakyCounter is a limit.Counter over a memory store that can fail, or
// refuse every take, on demand.
type flakyCounter struct {
	limit.Counter
	mu      sync.Mutex
	err     error
	refuse  bool
	backErr error
}

func (f *flakyCounter) Take(ctx context.Context, takes []limit.Take) (limit.TakeResult, error) {
	f.mu.Lock()
	err, refuse := f.err, f.refuse
	f.mu.Unlock()
	if err != nil {
		return limit.TakeResult{}, err
	}
	if refuse {
		return limit.TakeResult{Allowed: false, Blocked: 0, RetryAfter: time.Minute}, nil
	}
	return f.Counter.Take(ctx, takes)
}

func (f *flakyCounter) GiveBack(ctx context.Context, takes []limit.Take, receipt string) error {
	f.mu.Lock()
	err := f.backErr
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.Counter.GiveBack(ctx, takes, receipt)
}

func (f *flakyCounter) set(fn func(*flakyCounter)) { f.mu.Lock(); fn(f); f.mu.Unlock() }

// notPlacedError is a provider's error for a call it provably did not
// place, as the CallPass client's *Error says (flashcall.NotPlaced).
type notPlacedError struct{ error }

func (e notPlacedError) NotPlaced() bool { return true }
func (e notPlacedError) Unwrap() error   { return e.error }

// TestLimiterStoreWorkObserved: the limiter's store work (the take of a
// call's limits, the give-back of a call not placed, the read of a ban and
// the record of a failure) is reported as store operations like the
// challenge store's own, so a failing limit store (in Redis Cluster, other
// nodes than the challenge's) shows in callpass_store_operations_total and
// in the traces; a limit's refusal is the store's answer, not a failure.
func TestLimiterStoreWorkObserved(t *testing.T) {
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	mem := memory.New(time.Hour, memory.WithClock(clk.Now))
	t.Cleanup(func() { _ = mem.Close() })
	counter := &flakyCounter{Counter: mem}
	bl := &blocks{until: map[string]time.Time{}}
	lim, err := limit.New(limit.DefaultConfig(), counter, bl, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = key
	svc, prov, obs, rec := opsService(t, cfg, mem, lim, clk)
	storeErr := errors.New("limit store down")
	has := func(ops []string, op string) bool { return slices.Contains(ops, op) }

	// A placed call: its limits taken, its identity's ban read.
	r := req("flow-1")
	res, err := svc.Start(ctx, r)
	if err != nil || !res.Placed {
		t.Fatalf("start: %v %+v", err, res)
	}
	if ops := obs.drain(); !has(ops, "take:ok") || !has(ops, "ban:ok") {
		t.Errorf("placed call: store ops %v, want take:ok and ban:ok", ops)
	}

	// A take the rules refuse: an answer, not a store failure.
	counter.set(func(f *flakyCounter) { f.refuse = true })
	if _, err := svc.Start(ctx, req("flow-2")); !errors.Is(err, limit.ErrLimited) {
		t.Fatalf("refused take: %v", err)
	}
	if ops := obs.drain(); !has(ops, "take:ok") || has(ops, "take:error") {
		t.Errorf("refused take: store ops %v, want take:ok", ops)
	}

	// The counters' store failing: a store error, and no call.
	counter.set(func(f *flakyCounter) { f.refuse, f.err = false, storeErr })
	calls := prov.numCalls()
	if _, err := svc.Start(ctx, req("flow-3")); !errors.Is(err, challenge.ErrStoreUnavailable) {
		t.Fatalf("take with the store down: %v", err)
	}
	if ops := obs.drain(); !has(ops, "take:error") || prov.numCalls() != calls {
		t.Errorf("take with the store down: store ops %v, calls %d (want take:error, no call)", ops, prov.numCalls()-calls)
	}

	// A call the provider refused for the account: its limits given back.
	counter.set(func(f *flakyCounter) { f.err = nil })
	prov.mu.Lock()
	prov.err = notPlacedError{fmt.Errorf("callpass: 401: %w", flashcall.ErrUnauthorized)}
	prov.mu.Unlock()
	if _, err := svc.Start(ctx, req("flow-4")); !errors.Is(err, flashcall.ErrUnauthorized) {
		t.Fatalf("unauthorized: %v", err)
	}
	if ops := obs.drain(); !has(ops, "give_back:ok") {
		t.Errorf("unauthorized: store ops %v, want give_back:ok", ops)
	}
	counter.set(func(f *flakyCounter) { f.backErr = storeErr })
	if _, err := svc.Start(ctx, req("flow-5")); !errors.Is(err, flashcall.ErrUnauthorized) {
		t.Fatalf("unauthorized, give-back failing: %v", err)
	}
	if ops := obs.drain(); !has(ops, "give_back:error") {
		t.Errorf("give-back failing: store ops %v, want give_back:error", ops)
	}
	prov.mu.Lock()
	prov.err = nil
	prov.mu.Unlock()
	counter.set(func(f *flakyCounter) { f.backErr = nil })

	// Wrong codes until the challenge locks: the failure recorded (this
	// limiter keeps its bans apart from the challenge store).
	code := prov.codes[0]
	wrong := "0000"
	if code == wrong {
		wrong = "1111"
	}
	for range cfg.MaxAttempts {
		_, _ = svc.Verify(ctx, bind(r), res.Challenge.ID, wrong)
	}
	if ops := obs.drain(); !has(ops, "record_failure:ok") {
		t.Errorf("locked challenge: store ops %v, want record_failure:ok", ops)
	}

	// The ban's store failing: a store error, and the start refused.
	bl.fail(storeErr)
	calls = prov.numCalls()
	if _, err := svc.Start(ctx, req("flow-6")); err == nil || prov.numCalls() != calls {
		t.Fatalf("ban read failing: err %v, calls %d", err, prov.numCalls()-calls)
	}
	if ops := obs.drain(); !has(ops, "ban:error") {
		t.Errorf("ban read failing: store ops %v, want ban:error", ops)
	}

	// The spans say the same, a refused take as "limited".
	var spans []string
	for _, s := range rec.Ended() {
		if !strings.HasPrefix(s.Name(), "store ") {
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == attribute.Key("store.outcome") {
				spans = append(spans, s.Name()+":"+kv.Value.AsString())
			}
		}
	}
	for _, want := range []string{"store take:ok", "store take:limited", "store take:error", "store give_back:ok",
		"store give_back:error", "store record_failure:ok", "store ban:ok", "store ban:error"} {
		if !slices.Contains(spans, want) {
			t.Errorf("no span %q in %v", want, spans)
		}
	}
}

// TestNoBanReadWithRegulationOff: with regulation off nothing is read, so
// nothing is reported as a store operation.
func TestNoBanReadWithRegulationOff(t *testing.T) {
	clk, mem, cfg := memParts(t)
	lcfg := limit.DefaultConfig()
	lcfg.Regulation.MaxFailures = 0
	bl := &blocks{until: map[string]time.Time{}}
	lim, err := limit.New(lcfg, mem, bl, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
	if err != nil {
		t.Fatal(err)
	}
	obs := &opsObserver{}
	svc, err := challenge.NewService(cfg, mem, &provider{}, lim, challenge.WithClock(clk.Now), challenge.WithObserver(obs),
		challenge.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	if _, err := svc.Start(context.Background(), req("f")); err != nil {
		t.Fatal(err)
	}
	for _, op := range obs.drain() {
		if strings.HasPrefix(op, "ban:") {
			t.Errorf("regulation off, yet a ban read was reported: %s", op)
		}
	}
	if bl.read() != 0 {
		t.Errorf("regulation off, yet the bans were read %d times", bl.read())
	}
}

// TestNoLimiterOpWithoutStoreWork: a record of a failure with regulation
// off, and a give-back with nothing to give back (no limit enabled, or only
// the per-IP one, which is kept), do no store work, so no store operation
// is reported: a "record_failure" or "give_back" there would be a round
// trip that never happened, in the metrics and the traces.
func TestNoLimiterOpWithoutStoreWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*limit.Config)
	}{
		{"no limits", func(c *limit.Config) {
			c.PerNumber, c.PerIdentity, c.PerIP, c.GlobalDaily = limit.Rule{}, limit.Rule{}, limit.Rule{}, limit.Rule{}
		}},
		{"per-IP limit only", func(c *limit.Config) {
			c.PerNumber, c.PerIdentity, c.GlobalDaily = limit.Rule{}, limit.Rule{}, limit.Rule{}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk, mem, cfg := memParts(t)
			lcfg := limit.DefaultConfig()
			lcfg.Regulation.MaxFailures = 0
			tc.mod(&lcfg)
			lim, err := limit.New(lcfg, mem, mem, limit.WithClock(clk.Now), limit.WithNumberHasher(phonetest.Hasher()))
			if err != nil {
				t.Fatal(err)
			}
			svc, prov, obs, rec := opsService(t, cfg, mem, lim, clk)
			ctx := context.Background()

			// A call the provider refused for the account: nothing to give back.
			prov.mu.Lock()
			prov.err = notPlacedError{fmt.Errorf("callpass: 401: %w", flashcall.ErrUnauthorized)}
			prov.mu.Unlock()
			if _, err := svc.Start(ctx, req("flow-1")); !errors.Is(err, flashcall.ErrUnauthorized) {
				t.Fatalf("unauthorized: %v", err)
			}
			prov.mu.Lock()
			prov.err = nil
			prov.mu.Unlock()

			// A challenge locked by wrong codes: nothing to record.
			r := req("flow-2")
			res, err := svc.Start(ctx, r)
			if err != nil || !res.Placed {
				t.Fatalf("start: %v %+v", err, res)
			}
			wrong := "0000"
			if prov.lastCode() == wrong {
				wrong = "1111"
			}
			for range cfg.MaxAttempts {
				_, _ = svc.Verify(ctx, bind(r), res.Challenge.ID, wrong)
			}

			for _, op := range obs.drain() {
				if strings.HasPrefix(op, "give_back:") || strings.HasPrefix(op, "record_failure:") {
					t.Errorf("store operation reported without store work: %s", op)
				}
			}
			for _, s := range rec.Ended() {
				if s.Name() == "store give_back" || s.Name() == "store record_failure" {
					t.Errorf("span %q without store work", s.Name())
				}
			}
		})
	}
}
