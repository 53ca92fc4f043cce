package redisstore_test

// Stress tests of several service instances (separate redis clients,
// stores, limiters and challenge services) over ONE redis-server.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// crProvider counts calls and hands out a fresh code per call; fail, when
// set, makes every call fail with that error; hold, when set, runs inside
// every call (between the start's take and its record), so a test can put
// another operation exactly there.
type crProvider struct {
	calls  atomic.Int64
	placed atomic.Int64
	mu     sync.Mutex
	codes  []string // codes of placed calls, in order
	fail   error
	delay  time.Duration
	hold   func()
}

func (p *crProvider) Name() string { return "cr" }
func (p *crProvider) StartCall(ctx context.Context, n phone.Number) (flashcall.Call, error) {
	k := p.calls.Add(1)
	if p.delay > 0 {
		time.Sleep(p.delay)
	}
	if p.hold != nil {
		p.hold()
	}
	if p.fail != nil {
		return flashcall.Call{}, p.fail
	}
	p.placed.Add(1)
	code := fmt.Sprintf("%06d", 100000+k)
	p.mu.Lock()
	p.codes = append(p.codes, code)
	p.mu.Unlock()
	return flashcall.Call{ID: "call-" + code, Code: code, Status: flashcall.Classify("NO_ANSWER")}, nil
}
func (p *crProvider) CallStatus(context.Context, string, phone.Number) (flashcall.Status, error) {
	return flashcall.Classify("NO_ANSWER"), nil
}
func (p *crProvider) CanReportStatus() bool { return false }
func (p *crProvider) allCodes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.codes...)
}

// notPlacedErr is a provider refusal after which no call was placed.
type notPlacedErr struct{ kind error }

func (e notPlacedErr) Error() string   { return "refused: " + e.kind.Error() }
func (e notPlacedErr) Unwrap() error   { return e.kind }
func (e notPlacedErr) NotPlaced() bool { return true }

type crInst struct {
	svc *challenge.Service
	st  *redisstore.Store
	rdb redis.UniversalClient
}

// crClient is a client of the server at addr, or of the cluster whose seed
// URL addr is (redis://...), with the store's no-retry options and room for
// the stress's concurrency.
func crClient(t *testing.T, addr string) redis.UniversalClient {
	t.Helper()
	var rdb redis.UniversalClient
	if strings.HasPrefix(addr, "redis://") {
		opts, err := redisstore.ClusterOptions(addr)
		if err != nil {
			t.Fatal(err)
		}
		opts.ReadTimeout, opts.WriteTimeout, opts.PoolSize = 5*time.Second, 5*time.Second, 64
		rdb = redisstore.NewClusterClient(opts)
	} else {
		rdb = redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second,
			WriteTimeout: 5 * time.Second, MaxRetries: -1, PoolSize: 64})
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// allKeys is KEYS pattern on every master of a cluster (a cluster client
// sends KEYS to one node), or on the one server.
func allKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Keys(ctx, pattern).Result()
	}
	var mu sync.Mutex
	var all []string
	err := cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		keys, err := m.Keys(ctx, pattern).Result()
		mu.Lock()
		defer mu.Unlock()
		all = append(all, keys...)
		return err
	})
	return all, err
}

// TestMultiInstanceOnCluster runs the multi-instance stress tests on a
// 3-master Redis Cluster: a start's limit rules, the global budget and the
// identities' keys sit in different slots on different masters, so each
// multi-rule take, give-back and lookup-with-checks is split across nodes.
func TestMultiInstanceOnCluster(t *testing.T) {
	t.Parallel()
	url := testenv.StartRedisCluster(t, 3).URL()
	for _, tt := range []struct {
		name string
		run  func(*testing.T, string)
	}{
		{"DoubleSpend", multiInstanceDoubleSpend},
		{"AttemptsCap", multiInstanceAttemptsCap},
		{"RegulationAcrossInstances", multiInstanceRegulationAcrossInstances},
		{"ConcurrentStartOneCall", multiInstanceConcurrentStartOneCall},
		{"GlobalBudget", multiInstanceGlobalBudget},
		{"PassClaimedOnce", multiInstancePassClaimedOnce},
		{"GiveBackRace", multiInstanceGiveBackRace},
		{"Chaos", multiInstanceChaos},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, url) })
	}
}

type crEnv struct {
	t      *testing.T
	addr   string
	prefix string
	cfg    challenge.Config
	lim    limit.Config
	insts  []crInst
}

func crConfig() (challenge.Config, limit.Config) {
	cfg := challenge.DefaultConfig()
	cfg.CodeKey = []byte(strings.Repeat("k", 32))
	cfg.MaxAttempts = 3
	lc := limit.DefaultConfig()
	// Large limits unless a test says otherwise.
	lc.PerNumber = limit.Rule{Limit: 100000, Window: time.Hour}
	lc.PerIdentity = limit.Rule{Limit: 100000, Window: time.Hour}
	lc.PerIP = limit.Rule{Limit: 100000, Window: time.Hour}
	lc.GlobalDaily = limit.Rule{Limit: 1000000, Window: 24 * time.Hour}
	lc.Regulation = limit.Regulation{MaxFailures: 1000, FindTime: time.Hour, BanTime: time.Hour}
	return cfg, lc
}

func newCREnv(t *testing.T, addr string, n int, cfg challenge.Config, lc limit.Config, p challenge.Provider) *crEnv {
	return newCREnvPrefix(t, addr, fmt.Sprintf("cr%x:", rand.Uint64()), n, cfg, lc, p)
}

func newCREnvPrefix(t *testing.T, addr, prefix string, n int, cfg challenge.Config, lc limit.Config, p challenge.Provider) *crEnv {
	t.Helper()
	return newCREnvLog(t, addr, prefix, n, cfg, lc, p, slog.DiscardHandler)
}

// newCREnvLog is newCREnvPrefix with the services logging to h.
func newCREnvLog(t *testing.T, addr, prefix string, n int, cfg challenge.Config, lc limit.Config, p challenge.Provider, h slog.Handler) *crEnv {
	t.Helper()
	e := &crEnv{t: t, addr: addr, prefix: prefix, cfg: cfg, lim: lc}
	for range n {
		rdb := crClient(t, addr)
		st := redisstore.New(rdb, e.prefix)
		l, err := limit.New(lc, st, st, limit.WithNumberHasher(phonetest.Hasher()))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := challenge.NewService(cfg, st, p, l, challenge.WithLogger(slog.New(h)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Close() })
		e.insts = append(e.insts, crInst{svc: svc, st: st, rdb: rdb})
	}
	return e
}

func (e *crEnv) inst(i int) crInst { return e.insts[i%len(e.insts)] }

// placeOne starts a login challenge for identity id-<it> through instance
// it and returns its binding, the start's result and the call's code.
func (e *crEnv) placeOne(t *testing.T, ctx context.Context, it int, p *crProvider) (challenge.Binding, challenge.StartResult, string) {
	t.Helper()
	b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: fmt.Sprintf("id-%d", it), FlowID: "flow"}
	res, err := e.inst(it).svc.Start(ctx, challenge.StartRequest{Purpose: b.Purpose, IdentityID: b.IdentityID, FlowID: b.FlowID, Phone: "+79001234567"})
	if err != nil || !res.Placed {
		t.Fatalf("start: %v %+v", err, res)
	}
	codes := p.allCodes()
	return b, res, codes[len(codes)-1]
}

// TestMultiInstanceDoubleSpend: the correct code sent concurrently through
// several instances is accepted exactly once.
func TestMultiInstanceDoubleSpend(t *testing.T) {
	t.Parallel()
	multiInstanceDoubleSpend(t, testenv.StartRedis(t).Addr)
}

// multiInstanceDoubleSpend is TestMultiInstanceDoubleSpend on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstanceDoubleSpend(t *testing.T, addr string) {
	ctx := context.Background()
	p := &crProvider{}
	cfg, lc := crConfig()
	e := newCREnv(t, addr, 4, cfg, lc, p)
	for it := range 200 {
		b, res, code := e.placeOne(t, ctx, it, p)
		var ok, used, other atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 16 {
			wg.Go(func() {
				<-start
				id := ""
				if g%2 == 1 {
					id = res.Challenge.ID
				}
				_, err := e.inst(g).svc.Verify(ctx, b, id, code)
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, challenge.ErrAlreadyUsed):
					used.Add(1)
				default:
					other.Add(1)
					t.Errorf("unexpected verify error: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || used.Load() != 15 {
			t.Fatalf("iteration %d: %d accepted, %d used, %d other; want exactly 1 accepted", it, ok.Load(), used.Load(), other.Load())
		}
	}
}

// TestMultiInstanceAttemptsCap: wrong guesses and the right code sent
// concurrently through several instances: at most MaxAttempts are
// counted, the right code is accepted only if it came before the lock, and
// nothing is accepted after the lock.
func TestMultiInstanceAttemptsCap(t *testing.T) {
	t.Parallel()
	multiInstanceAttemptsCap(t, testenv.StartRedis(t).Addr)
}

// multiInstanceAttemptsCap is TestMultiInstanceAttemptsCap on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstanceAttemptsCap(t *testing.T, addr string) {
	ctx := context.Background()
	p := &crProvider{}
	cfg, lc := crConfig()
	e := newCREnv(t, addr, 4, cfg, lc, p)
	for it := range 200 {
		b, res, code := e.placeOne(t, ctx, it, p)
		var okN, wrong, locked, refusedAfter atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		right := rand.N(16)
		for g := range 16 {
			wg.Go(func() {
				<-start
				c := "000000"
				if g == right {
					c = code
				}
				_, err := e.inst(g).svc.Verify(ctx, b, "", c)
				var we *challenge.WrongCodeError
				switch {
				case err == nil:
					okN.Add(1)
				case errors.As(err, &we) && we.AttemptsLeft == 0:
					locked.Add(1)
				case errors.As(err, &we):
					wrong.Add(1)
				case errors.Is(err, challenge.ErrLocked), errors.Is(err, challenge.ErrAlreadyUsed):
					refusedAfter.Add(1)
				default:
					t.Errorf("unexpected verify error: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		counted := okN.Load() + wrong.Load() + locked.Load()
		c, err := e.inst(0).svc.Get(ctx, res.Challenge.ID)
		if err != nil {
			t.Fatal(err)
		}
		if counted > int64(cfg.MaxAttempts) || c.Attempts > cfg.MaxAttempts || okN.Load() > 1 || locked.Load() > 1 ||
			(okN.Load() == 1 && locked.Load() == 1) || int64(c.Attempts) != counted {
			t.Fatalf("iteration %d: ok=%d wrong=%d locked=%d refused=%d stored attempts=%d state=%s",
				it, okN.Load(), wrong.Load(), locked.Load(), refusedAfter.Load(), c.Attempts, c.State)
		}
		if okN.Load() == 0 {
			if _, err := e.inst(it+1).svc.Verify(ctx, b, "", code); err == nil {
				t.Fatalf("iteration %d: right code accepted after the lock", it)
			}
		}
	}
}

// TestMultiInstanceRegulationAcrossInstances: an identity's challenges in many
// flows locked concurrently through several instances: at most
// MaxFailures locks are recorded before the ban, and the ban set by one
// instance refuses starts and verifies on every other.
func TestMultiInstanceRegulationAcrossInstances(t *testing.T) {
	t.Parallel()
	multiInstanceRegulationAcrossInstances(t, testenv.StartRedis(t).Addr)
}

// multiInstanceRegulationAcrossInstances is TestMultiInstanceRegulationAcrossInstances on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstanceRegulationAcrossInstances(t *testing.T, addr string) {
	ctx := context.Background()
	p := &crProvider{}
	cfg, lc := crConfig()
	cfg.MaxAttempts = 1
	lc.Regulation = limit.Regulation{MaxFailures: 3, FindTime: time.Hour, BanTime: time.Hour}
	for it := range 30 {
		e := newCREnv(t, addr, 4, cfg, lc, p)
		id := fmt.Sprintf("victim-%d", it)
		const flows = 12
		for f := range flows {
			if _, err := e.inst(f).svc.Start(ctx, challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: id,
				FlowID: fmt.Sprintf("f%d", f), Phone: "+79001234567"}); err != nil {
				t.Fatal(err)
			}
		}
		var locks, banned atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range flows * 2 {
			wg.Go(func() {
				<-start
				b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: id, FlowID: fmt.Sprintf("f%d", g%flows)}
				_, err := e.inst(g).svc.Verify(ctx, b, "", "000000")
				var we *challenge.WrongCodeError
				switch {
				case errors.As(err, &we):
					if we.AttemptsLeft != 0 {
						t.Errorf("attempts left %d with max 1", we.AttemptsLeft)
					}
					locks.Add(1)
				case errors.Is(err, limit.ErrLimited):
					banned.Add(1)
				case errors.Is(err, challenge.ErrLocked):
				default:
					t.Errorf("unexpected: %v", err)
				}
			})
		}
		close(start)
		wg.Wait()
		if locks.Load() != int64(lc.Regulation.MaxFailures) {
			t.Fatalf("iteration %d: %d locks counted, want exactly MaxFailures=%d (banned %d)", it, locks.Load(), lc.Regulation.MaxFailures, banned.Load())
		}
		// A fresh instance, which never saw the ban, refuses too.
		fresh := newCREnvPrefix(t, addr, e.prefix, 1, cfg, lc, p)
		all := append(append([]crInst(nil), e.insts...), fresh.insts...)
		for i, in := range all {
			before := p.calls.Load()
			_, err := in.svc.Start(ctx, challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: id, FlowID: "new", Phone: "+79001234567"})
			if !errors.Is(err, limit.ErrLimited) || p.calls.Load() != before {
				t.Fatalf("iteration %d: start on instance %d after the ban: %v", it, i, err)
			}
			b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: id, FlowID: "f0"}
			if _, err := in.svc.Verify(ctx, b, "", "000000"); !errors.Is(err, limit.ErrLimited) {
				t.Fatalf("iteration %d: verify on instance %d after the ban: %v", it, i, err)
			}
		}
	}
}

// startN runs n concurrent starts of req through the instances and
// returns their results and errors.
func (e *crEnv) startN(ctx context.Context, n int, req func(g int) challenge.StartRequest) ([]challenge.StartResult, []error) {
	res := make([]challenge.StartResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range n {
		wg.Go(func() {
			<-start
			res[g], errs[g] = e.inst(g).svc.Start(ctx, req(g))
		})
	}
	close(start)
	wg.Wait()
	return res, errs
}

// TestMultiInstanceConcurrentStartOneCall: concurrent first starts of one
// flow through several instances place one call (a start returns the
// pending challenge instead of calling again).
func TestMultiInstanceConcurrentStartOneCall(t *testing.T) {
	t.Parallel()
	multiInstanceConcurrentStartOneCall(t, testenv.StartRedis(t).Addr)
}

// multiInstanceConcurrentStartOneCall is TestMultiInstanceConcurrentStartOneCall on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstanceConcurrentStartOneCall(t *testing.T, addr string) {
	ctx := context.Background()
	cfg, lc := crConfig()
	worst := int64(0)
	fails := 0
	const iters = 100
	for it := range iters {
		p := &crProvider{delay: 2 * time.Millisecond}
		e := newCREnv(t, addr, 4, cfg, lc, p)
		req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "id", FlowID: "flow", Phone: "+79001234567"}
		res, errs := e.startN(ctx, 8, func(int) challenge.StartRequest { return req })
		ids := map[string]bool{}
		for g := range res {
			if errs[g] != nil {
				t.Fatalf("start: %v", errs[g])
			}
			ids[res[g].Challenge.ID] = true
		}
		if len(ids) != 1 {
			t.Fatalf("iteration %d: %d different challenges returned", it, len(ids))
		}
		if n := p.placed.Load(); n > 1 {
			fails++
			worst = max(worst, n)
		}
	}
	if fails > 0 {
		t.Errorf("%d/%d iterations placed more than one call for one flow (worst %d calls for 8 concurrent starts)", fails, iters, worst)
	}
}

// TestMultiInstanceConcurrentResendCooldown: concurrent resends of one
// pending challenge through several instances place at most one call
// (the resend cooldown holds).
func TestMultiInstanceConcurrentResendCooldown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	addr := testenv.StartRedis(t).Addr
	cfg, lc := crConfig()
	cfg.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
	cfg.MaxResends = 5
	fails, refusedRight := 0, 0
	worst := int64(0)
	const iters = 100
	for range iters {
		p := &crProvider{delay: 2 * time.Millisecond}
		e := newCREnv(t, addr, 4, cfg, lc, p)
		req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "id", FlowID: "flow", Phone: "+79001234567"}
		if _, err := e.inst(0).svc.Start(ctx, req); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond) // the first cooldown (1ms) is over
		base := p.placed.Load()
		req.Resend = true
		_, errs := e.startN(ctx, 8, func(int) challenge.StartRequest { return req })
		for _, err := range errs {
			if err != nil && !errors.Is(err, challenge.ErrCooldown) {
				t.Fatalf("resend: %v", err)
			}
		}
		resends := p.placed.Load() - base
		if resends > 1 {
			fails++
			worst = max(worst, resends)
			// The user got several calls; the last code received is refused
			// unless its call is the one stored.
			codes := p.allCodes()
			b := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
			if _, err := e.inst(1).svc.Verify(ctx, b, "", codes[len(codes)-1]); err != nil {
				refusedRight++
			}
		}
	}
	if fails > 0 {
		t.Errorf("%d/%d iterations: 8 concurrent resends placed more than one call inside the cooldown (worst %d); "+
			"in %d of them the code of the last call placed was refused", fails, iters, worst, refusedRight)
	}
}

// giveBackFailures counts the services' "could not give back" warnings.
type giveBackFailures struct{ n atomic.Int64 }

func (*giveBackFailures) Enabled(context.Context, slog.Level) bool { return true }
func (g *giveBackFailures) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, "could not give back") {
		g.n.Add(1)
	}
	return nil
}
func (g *giveBackFailures) WithAttrs([]slog.Attr) slog.Handler { return g }
func (g *giveBackFailures) WithGroup(string) slog.Handler      { return g }

// TestMultiInstanceGlobalBudget: concurrent starts of distinct identities
// through several instances, some refused by the provider (limits given
// back): placed calls never exceed the global budget, and the counter
// holds exactly what was placed.
func TestMultiInstanceGlobalBudget(t *testing.T) {
	t.Parallel()
	multiInstanceGlobalBudget(t, testenv.StartRedis(t).Addr)
}

// multiInstanceGlobalBudget is TestMultiInstanceGlobalBudget on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstanceGlobalBudget(t *testing.T, addr string) {
	ctx := context.Background()
	cfg, lc := crConfig()
	lc.GlobalDaily = limit.Rule{Limit: 25, Window: 24 * time.Hour}
	lc.PhoneCheckPercent = 0
	for it := range 20 {
		ok := &crProvider{}
		bad := &crProvider{fail: notPlacedErr{flashcall.ErrInsufficientBalance}}
		pfx := fmt.Sprintf("crb%x:", rand.Uint64())
		eok := newCREnvPrefix(t, addr, pfx, 3, cfg, lc, ok)
		var kept giveBackFailures
		ebad := newCREnvLog(t, addr, pfx, 2, cfg, lc, bad, &kept)
		var wg sync.WaitGroup
		start := make(chan struct{})
		// failed: starts that failed on the store (a loaded machine's dial
		// timeout), and kept: refused calls whose limits could not be given
		// back: a take made before such a failure stays counted, the safe
		// side, so the counter may exceed the calls placed by that many.
		var limited, failed atomic.Int64
		for g := range 120 {
			wg.Go(func() {
				<-start
				env := eok
				if g%3 == 0 {
					env = ebad
				}
				req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: fmt.Sprintf("u%d", g), FlowID: "f",
					Phone: fmt.Sprintf("+7900%07d", g), ClientIP: "10.0.0.1"}
				_, err := env.inst(g).svc.Start(ctx, req)
				switch {
				case errors.Is(err, limit.ErrLimited):
					limited.Add(1)
				case err != nil && !errors.Is(err, flashcall.ErrInsufficientBalance):
					failed.Add(1)
					t.Logf("iteration %d: start %d: %v", it, g, err)
				}
			})
		}
		close(start)
		wg.Wait()
		placed := ok.placed.Load()
		if placed > int64(lc.GlobalDaily.Limit) {
			t.Fatalf("iteration %d: %d calls placed with a budget of %d", it, placed, lc.GlobalDaily.Limit)
		}
		n, err := eok.inst(0).rdb.ZCard(ctx, pfx+"{l:g}:w").Result()
		if err != nil {
			t.Fatal(err)
		}
		if n < placed || n > placed+failed.Load()+kept.n.Load() {
			t.Fatalf("iteration %d: global counter %d, placed %d (given back: %d refusals; %d starts failed on the store, %d give-backs)",
				it, n, placed, bad.calls.Load(), failed.Load(), kept.n.Load())
		}
		if placed < int64(lc.GlobalDaily.Limit) && limited.Load() > 0 {
			// A refusal while the budget had room: only acceptable as the
			// transient "one too full" of a concurrent take; log it.
			t.Logf("iteration %d: %d placed < budget but %d refused by a limit", it, placed, limited.Load())
		}
		// Every key the store wrote has a TTL.
		keys, _ := allKeys(ctx, eok.inst(0).rdb, pfx+"*")
		for _, k := range keys {
			if ttl, _ := eok.inst(0).rdb.PTTL(ctx, k).Result(); ttl < 0 {
				t.Fatalf("key %q has no TTL (%v)", k, ttl)
			}
		}
	}
}

// TestMultiInstanceResendRacesVerify: the user types the code of the pending
// call (through the active pointer, as the login gate does) while a resend
// runs on another instance, at random moments. Whatever the order: an
// accepted old code verified the old challenge itself, which stays
// verified (the resend neither supersedes nor loses it); a refused old code
// left the old challenge superseded and cost it nothing; the new call's
// code is then accepted. TestMultiInstanceResendVerifyOrders runs each
// order deterministically.
//
// Every read after the race reports its own error: an error there (or a
// challenge gone) is not a product outcome, and the failure says whether
// the test's redis-server is still the one it started (serverNote).
func TestMultiInstanceResendRacesVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedis(t) // testenv checks the server is its own
	cfg, lc := crConfig()
	cfg.ResendCooldowns = []time.Duration{time.Millisecond}
	// One set of instances for every iteration (each iteration has an
	// identity of its own): a set per iteration left 300 of them, over
	// 1000 connections, open until the end of the test.
	p := &crProvider{delay: time.Millisecond}
	e := newCREnv(t, srv.Addr, 2, cfg, lc, p)
	rdb := e.inst(0).rdb
	runID := serverRunID(ctx, t, rdb)
	const iters = 300
	var oldOK, oldExpired, oldWrongOnNew, newRefused int
	for it := range iters {
		req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: fmt.Sprintf("id%d", it), FlowID: "flow", Phone: "+79001234567"}
		b := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
		first, err := e.inst(0).svc.Start(ctx, req)
		if err != nil || !first.Placed {
			t.Fatalf("iteration %d: start: %+v %v (%s)", it, first, err, serverNote(ctx, rdb, srv, runID))
		}
		codes := p.allCodes()
		oldCode := codes[len(codes)-1]
		calls := p.calls.Load()
		time.Sleep(2 * time.Millisecond) // past the resend cooldown
		var verr, rerr error
		var vres challenge.VerifyResult
		var rres challenge.StartResult
		var wg sync.WaitGroup
		start := make(chan struct{})
		d := time.Duration(rand.N(4000)) * time.Microsecond
		wg.Go(func() { <-start; time.Sleep(d); vres, verr = e.inst(0).svc.Verify(ctx, b, "", oldCode) })
		wg.Go(func() {
			<-start
			r := req
			r.Resend = true
			rres, rerr = e.inst(1).svc.Start(ctx, r)
		})
		close(start)
		wg.Wait()
		if rerr != nil {
			t.Fatalf("iteration %d: resend: %v (%s)", it, rerr, serverNote(ctx, rdb, srv, runID))
		}
		if placed := p.calls.Load() - calls; placed != 1 || !rres.Placed {
			t.Fatalf("iteration %d: the resend made %d provider calls (placed %v), want exactly one", it, placed, rres.Placed)
		}
		x, gerr := e.inst(0).svc.Get(ctx, first.Challenge.ID)
		if gerr != nil {
			t.Fatalf("iteration %d: get the old challenge after the race (verify %v, resend placed %v): %v (%s)",
				it, verr, rres.Placed, gerr, serverNote(ctx, rdb, srv, runID))
		}
		var we *challenge.WrongCodeError
		switch {
		case verr == nil:
			oldOK++
			// The step that accepted the code names the challenge it
			// verified; the read after the race says it stayed so.
			if vres.Challenge.ID != first.Challenge.ID || vres.Challenge.State != challenge.StateVerified {
				t.Fatalf("iteration %d: old code accepted for challenge %s (%s), want the old %s verified",
					it, vres.Challenge.ID, vres.Challenge.State, first.Challenge.ID)
			}
			if x.State != challenge.StateVerified {
				t.Fatalf("iteration %d: old code accepted but old challenge is %q after the resend", it, x.State)
			}
		case errors.Is(verr, challenge.ErrExpired):
			oldExpired++
		case errors.As(verr, &we):
			oldWrongOnNew++
		default:
			t.Fatalf("iteration %d: verify: %v (%s)", it, verr, serverNote(ctx, rdb, srv, runID))
		}
		if verr != nil && (x.State != challenge.StateSuperseded || x.Attempts != 0) {
			t.Fatalf("iteration %d: old code refused (%v) but old challenge is %q with %d attempts, want superseded with none",
				it, verr, x.State, x.Attempts)
		}
		if verr != nil {
			codes := p.allCodes()
			if _, err := e.inst(1).svc.Verify(ctx, b, "", codes[len(codes)-1]); err != nil {
				newRefused++
			}
		}
	}
	t.Logf("old accepted %d, old expired %d, old counted wrong on the new challenge %d, new refused %d", oldOK, oldExpired, oldWrongOnNew, newRefused)
	if newRefused > 0 {
		t.Errorf("%d/%d: the code of the resent call was refused", newRefused, iters)
	}
	if oldWrongOnNew > 0 {
		// Not race-specific: the login gate verifies through the active
		// pointer, so an old code typed after a resend is always checked
		// against the new challenge. Logged, not failed.
		t.Logf("%d/%d: the superseded call's code was counted as a wrong attempt against the new challenge", oldWrongOnNew, iters)
	}
}

// TestMultiInstanceResendVerifyOrders runs the three orders of
// TestMultiInstanceResendRacesVerify deterministically: the verify of the
// old code (through the active pointer, on instance 0) before the resend
// (on instance 1), while the resend places its call (after its lookup,
// lease and take, before it records the new challenge), and after it.
func TestMultiInstanceResendVerifyOrders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testenv.StartRedis(t) // testenv checks the server is its own
	cfg, lc := crConfig()
	cfg.ResendCooldowns = []time.Duration{time.Millisecond}
	p := &crProvider{}
	e := newCREnv(t, srv.Addr, 2, cfg, lc, p)
	for _, order := range []string{"before", "during", "after"} {
		t.Run(order, func(t *testing.T) {
			req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: "orders-" + order, FlowID: "flow", Phone: "+79001234567"}
			b := challenge.Binding{Purpose: req.Purpose, IdentityID: req.IdentityID, FlowID: req.FlowID}
			first, err := e.inst(0).svc.Start(ctx, req)
			if err != nil || !first.Placed {
				t.Fatalf("start: %+v %v", first, err)
			}
			codes := p.allCodes()
			oldCode := codes[len(codes)-1]
			time.Sleep(2 * time.Millisecond) // past the resend cooldown
			verifyOld := func() (challenge.VerifyResult, error) { return e.inst(0).svc.Verify(ctx, b, "", oldCode) }
			resend := func() (challenge.StartResult, error) {
				r := req
				r.Resend = true
				return e.inst(1).svc.Start(ctx, r)
			}
			var vres challenge.VerifyResult
			var verr, rerr error
			var rres challenge.StartResult
			calls := p.calls.Load()
			switch order {
			case "before":
				vres, verr = verifyOld()
				rres, rerr = resend()
			case "during":
				entered, release := make(chan struct{}), make(chan struct{})
				p.hold = func() { close(entered); <-release }
				done := make(chan struct{})
				go func() { defer close(done); rres, rerr = resend() }()
				<-entered
				p.hold = nil // read by the next call only, after done
				vres, verr = verifyOld()
				close(release)
				<-done
			case "after":
				rres, rerr = resend()
				vres, verr = verifyOld()
			}
			if rerr != nil || !rres.Placed || p.calls.Load()-calls != 1 {
				t.Fatalf("resend: %+v %v, %d provider calls; want one placed call", rres, rerr, p.calls.Load()-calls)
			}
			codes = p.allCodes()
			newCode := codes[len(codes)-1]
			old, err := e.inst(0).svc.Get(ctx, first.Challenge.ID)
			if err != nil {
				t.Fatalf("old challenge after the resend: %v", err)
			}
			if order == "after" {
				var we *challenge.WrongCodeError
				if !errors.As(verr, &we) || !we.EarlierCall || vres.Challenge.ID != rres.Challenge.ID {
					t.Fatalf("old code after the resend: %v on %s, want a wrong earlier-call code on the new %s", verr, vres.Challenge.ID, rres.Challenge.ID)
				}
				if old.State != challenge.StateSuperseded || old.Attempts != 0 {
					t.Fatalf("old challenge %s with %d attempts, want superseded with none", old.State, old.Attempts)
				}
			} else {
				if verr != nil || vres.Challenge.ID != first.Challenge.ID || vres.Challenge.State != challenge.StateVerified {
					t.Fatalf("old code %s the resend: %v on %s (%s), want the old %s verified", order, verr, vres.Challenge.ID, vres.Challenge.State, first.Challenge.ID)
				}
				if old.State != challenge.StateVerified {
					t.Fatalf("old code accepted %s the resend, but the old challenge is %q after it", order, old.State)
				}
			}
			// The new call is the active challenge, and its code works.
			res, err := e.inst(1).svc.Verify(ctx, b, "", newCode)
			if err != nil || res.Challenge.ID != rres.Challenge.ID {
				t.Fatalf("new code: %v on %s, want the new %s verified", err, res.Challenge.ID, rres.Challenge.ID)
			}
		})
	}
}

// serverDir is the working directory of the server at addr (CONFIG GET dir).
func serverDir(addr string) (string, error) {
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	kv, err := rdb.ConfigGet(context.Background(), "dir").Result()
	return kv["dir"], err
}

// serverRunID is the run_id of the server rdb talks to (a restart changes it).
func serverRunID(ctx context.Context, t *testing.T, rdb redis.UniversalClient) string {
	t.Helper()
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		t.Fatalf("INFO server: %v", err)
	}
	return infoField(info, "run_id")
}

func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// serverNote says, for a failure message, whether the server at srv.Addr is
// still the one the test started (same run_id as at the start, running in
// srv.Dir, a master): a read that fails, or finds a challenge gone, on a
// server restarted, replaced or turned replica by someone else is not the
// product's doing.
func serverNote(ctx context.Context, rdb redis.UniversalClient, srv *testenv.Redis, runID string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	info, err := rdb.Info(ctx, "server", "replication").Result()
	if err != nil {
		return fmt.Sprintf("server at %s: INFO failed: %v", srv.Addr, err)
	}
	dir, derr := serverDir(srv.Addr)
	return fmt.Sprintf("server at %s: run_id %s (at the start %s), role %s, uptime %ss, dir %q (this test's %q, %v)",
		srv.Addr, infoField(info, "run_id"), runID, infoField(info, "role"), infoField(info, "uptime_in_seconds"), dir, srv.Dir, derr)
}

// TestMultiInstancePassClaimedOnce: a gate pass recorded by a verify on one
// instance is claimed by exactly one of many sessions claiming it
// concurrently through other instances (some of them before the verify
// lands), and keeps answering only that session.
func TestMultiInstancePassClaimedOnce(t *testing.T) {
	t.Parallel()
	multiInstancePassClaimedOnce(t, testenv.StartRedis(t).Addr)
}

// multiInstancePassClaimedOnce is TestMultiInstancePassClaimedOnce on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstancePassClaimedOnce(t *testing.T, addr string) {
	ctx := context.Background()
	p := &crProvider{}
	cfg, lc := crConfig()
	e := newCREnv(t, addr, 4, cfg, lc, p)
	for it := range 200 {
		id := fmt.Sprintf("pid-%d", it)
		b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: id, FlowID: "flow"}
		if _, err := e.inst(it).svc.Start(ctx, challenge.StartRequest{Purpose: b.Purpose, IdentityID: id, FlowID: "flow", Phone: "+79001234567"}); err != nil {
			t.Fatal(err)
		}
		codes := p.allCodes()
		code := codes[len(codes)-1]
		at := time.Now().Add(-time.Second).Truncate(time.Millisecond)
		var wg sync.WaitGroup
		start := make(chan struct{})
		var verified atomic.Bool
		winners := make(chan string, 64)
		wg.Go(func() {
			<-start
			_, err := e.inst(0).svc.VerifyAndPass(ctx, b, "", code, &challenge.Pass{IdentityID: id, AuthenticatedAt: at, TTL: time.Hour})
			if err != nil {
				t.Errorf("verify: %v", err)
			}
			verified.Store(true)
		})
		for g := range 16 {
			wg.Go(func() {
				<-start
				sid := fmt.Sprintf("sess-%d", g)
				for range 20 {
					num, ok, err := e.inst(g+1).st.ClaimPass(ctx, id, []time.Time{at.Add(time.Duration(g%3-1) * 300 * time.Millisecond)}, time.Second, sid)
					if err != nil {
						t.Errorf("claim: %v", err)
						return
					}
					if ok {
						if num != "+79001234567" {
							t.Errorf("claimed number %q", num)
						}
						winners <- sid
						return
					}
					if verified.Load() {
						return
					}
					time.Sleep(50 * time.Microsecond)
				}
			})
		}
		close(start)
		wg.Wait()
		close(winners)
		var ws []string
		for w := range winners {
			ws = append(ws, w)
		}
		if len(ws) > 1 {
			t.Fatalf("iteration %d: pass claimed by %d sessions: %v", it, len(ws), ws)
		}
		if len(ws) == 0 {
			// Nobody claimed in time: the first claimer after the verify gets it.
			if _, ok, _ := e.inst(2).st.ClaimPass(ctx, id, []time.Time{at}, time.Second, "late"); !ok {
				t.Fatalf("iteration %d: verified pass not claimable", it)
			}
			ws = []string{"late"}
		}
		if _, ok, _ := e.inst(3).st.ClaimPass(ctx, id, []time.Time{at}, time.Second, ws[0]); !ok {
			t.Fatalf("iteration %d: the winner lost its pass", it)
		}
		if _, ok, _ := e.inst(1).st.ClaimPass(ctx, id, []time.Time{at}, time.Second, "other"); ok {
			t.Fatalf("iteration %d: another session claimed a claimed pass", it)
		}
	}
}

// TestMultiInstanceGiveBackRace: concurrent starts through several instances
// for one number, some providers refusing without placing a call (limits
// given back), others placing: the per-number limit caps placed calls, the
// counters hold exactly the placed calls (the IP counter every attempt up
// to its limit), and every key has a TTL.
func TestMultiInstanceGiveBackRace(t *testing.T) {
	t.Parallel()
	multiInstanceGiveBackRace(t, testenv.StartRedis(t).Addr)
}

// multiInstanceGiveBackRace is TestMultiInstanceGiveBackRace on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstanceGiveBackRace(t *testing.T, addr string) {
	ctx := context.Background()
	cfg, lc := crConfig()
	lc.PerNumber = limit.Rule{Limit: 3, Window: time.Hour}
	lc.PerIP = limit.Rule{Limit: 40, Window: time.Hour}
	for it := range 40 {
		ok := &crProvider{delay: time.Millisecond}
		bad := &crProvider{fail: notPlacedErr{flashcall.ErrUnauthorized}, delay: time.Millisecond}
		pfx := fmt.Sprintf("crg%x:", rand.Uint64())
		eok := newCREnvPrefix(t, addr, pfx, 2, cfg, lc, ok)
		ebad := newCREnvPrefix(t, addr, pfx, 2, cfg, lc, bad)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := range 48 {
			wg.Go(func() {
				<-start
				env := eok
				if g%4 != 0 {
					env = ebad
				}
				_, _ = env.inst(g).svc.Start(ctx, challenge.StartRequest{Purpose: challenge.PurposeLogin,
					IdentityID: fmt.Sprintf("u%d", g), FlowID: "f", Phone: "+79001234567", ClientIP: "10.1.2.3"})
			})
		}
		close(start)
		wg.Wait()
		placed := ok.placed.Load()
		if placed > 3 {
			t.Fatalf("iteration %d: %d calls placed to one number with a limit of 3", it, placed)
		}
		rdb := eok.inst(0).rdb
		keys, _ := allKeys(ctx, rdb, pfx+"{l:*")
		var numN, ipN, gN int64 = -1, -1, -1
		for _, k := range keys {
			n, _ := rdb.ZCard(ctx, k).Result()
			if ttl, _ := rdb.PTTL(ctx, k).Result(); ttl < 0 {
				t.Fatalf("counter %q has no TTL", k)
			}
			switch {
			case strings.HasPrefix(k, pfx+"{l:n:"):
				numN = n
			case strings.HasPrefix(k, pfx+"{l:ip:"):
				ipN = n
			case k == pfx+"{l:g}:w":
				gN = n
			}
		}
		numN, gN = max(numN, 0), max(gN, 0)
		if numN != placed || gN != placed {
			t.Fatalf("iteration %d: placed %d, number counter %d, global %d", it, placed, numN, gN)
		}
		attempts := ok.calls.Load() + bad.calls.Load()
		if ipN != attempts {
			t.Fatalf("iteration %d: ip counter %d, provider requests %d", it, ipN, attempts)
		}
	}
}

// TestMultiInstanceChaos: starts, resends and verifies (right, stale and
// wrong codes) of a few flows of a few identities, at random, through four
// instances. Invariants: a success names the challenge whose call carried
// the code typed; each challenge is verified at most once; stored attempts
// never exceed MaxAttempts; successes equal verified challenges; locks per
// identity never exceed MaxFailures (the ban stops the rest).
func TestMultiInstanceChaos(t *testing.T) {
	t.Parallel()
	multiInstanceChaos(t, testenv.StartRedis(t).Addr)
}

// multiInstanceChaos is TestMultiInstanceChaos on the server at addr (a
// cluster's seed URL: TestMultiInstanceOnCluster).
func multiInstanceChaos(t *testing.T, addr string) {
	ctx := context.Background()
	p := &crProvider{delay: 200 * time.Microsecond}
	cfg, lc := crConfig()
	cfg.ResendCooldowns = []time.Duration{time.Millisecond}
	cfg.MaxResends = 1000
	cfg.MaxAttempts = 4
	lc.Regulation = limit.Regulation{MaxFailures: 12, FindTime: time.Hour, BanTime: time.Hour}
	e := newCREnv(t, addr, 4, cfg, lc, p)
	const idents, flows = 6, 3
	var mu sync.Mutex
	successes := map[string]int{} // challenge id -> successes
	seen := map[string]bool{}     // every challenge id returned
	locks := map[string]int{}     // identity -> locking verifies
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range 300 {
				id := fmt.Sprintf("ci%d", r.IntN(idents))
				b := challenge.Binding{Purpose: challenge.PurposeLogin, IdentityID: id, FlowID: fmt.Sprintf("f%d", r.IntN(flows))}
				in := e.inst(r.IntN(4))
				switch op := r.IntN(10); {
				case op < 3:
					res, err := in.svc.Start(ctx, challenge.StartRequest{Purpose: b.Purpose, IdentityID: id, FlowID: b.FlowID,
						Phone: "+79001234567", Resend: op == 0})
					if err == nil {
						mu.Lock()
						seen[res.Challenge.ID] = true
						mu.Unlock()
					}
				default:
					codes := p.allCodes()
					code := "000000"
					if len(codes) > 0 && op < 9 {
						code = codes[len(codes)-1-r.IntN(min(len(codes), 3))]
					}
					res, err := in.svc.Verify(ctx, b, "", code)
					var we *challenge.WrongCodeError
					switch {
					case err == nil:
						if res.Challenge.CallID != "call-"+code {
							t.Errorf("code %s accepted for challenge of call %s", code, res.Challenge.CallID)
						}
						mu.Lock()
						successes[res.Challenge.ID]++
						mu.Unlock()
					case errors.As(err, &we) && we.AttemptsLeft == 0:
						mu.Lock()
						locks[id]++
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	for cid, n := range successes {
		if n != 1 {
			t.Errorf("challenge %s verified %d times", cid, n)
		}
	}
	for id, n := range locks {
		if n > lc.Regulation.MaxFailures {
			t.Errorf("identity %s: %d locks with max_failures %d", id, n, lc.Regulation.MaxFailures)
		}
	}
	verified := 0
	for cid := range seen {
		c, err := e.inst(0).svc.Get(ctx, cid)
		if err != nil {
			t.Fatal(err)
		}
		if c.Attempts > c.MaxAttempts {
			t.Errorf("challenge %s: %d attempts", cid, c.Attempts)
		}
		if c.State == challenge.StateVerified {
			verified++
			if successes[cid] != 1 {
				t.Errorf("challenge %s verified without a success seen", cid)
			}
		}
	}
	t.Logf("challenges %d, verified %d, successes %d, locks %v, calls %d", len(seen), verified, len(successes), locks, p.calls.Load())
}
