package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

// tripCounter is a go-redis hook counting network round trips: each command
// sent alone and each pipeline (or MULTI/EXEC) is one.
type tripCounter struct {
	mu   sync.Mutex
	cmds []string
}

func (c *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.note(cmd.Name())
		return next(ctx, cmd)
	}
}

func (c *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		names := make([]string, len(cmds))
		for i, cmd := range cmds {
			names[i] = cmd.Name()
		}
		c.note("pipeline(" + strings.Join(names, ",") + ")")
		return next(ctx, cmds)
	}
}

func (c *tripCounter) note(s string) { c.mu.Lock(); c.cmds = append(c.cmds, s); c.mu.Unlock() }

// take returns the round trips since the last take.
func (c *tripCounter) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.cmds
	c.cmds = nil
	return out
}

// TestVerifyRoundTrips counts what a gated verify costs against Redis
// through challenge.Service, wired as the app wires it (one store for
// challenges, limits, bans and passes): a successful verify that records the
// gate pass, a wrong code, a lock (with its regulation failure) and a banned
// identity are one round trip each, and a banned verify counts nothing.
func TestVerifyRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTripEnv(t, limit.DefaultConfig())
	trips, st, svc := e.trips, e.st, e.svc

	start := func(identity, flow string) challenge.Binding {
		t.Helper()
		req := challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: identity, FlowID: flow, Phone: "+79001234567"}
		if _, err := svc.Start(ctx, req); err != nil {
			t.Fatal(err)
		}
		return challenge.Binding{Purpose: req.Purpose, IdentityID: identity, FlowID: flow}
	}
	authAt := time.UnixMilli(time.Now().Add(-time.Second).UnixMilli())
	pass := func() *challenge.Pass { return &challenge.Pass{AuthenticatedAt: authAt, TTL: time.Hour} }

	// Warm up: scripts are loaded on first use (EVALSHA, NOSCRIPT, EVAL),
	// once per Redis; the steady state is what counts.
	warm := start("warm", "flow")
	if _, err := svc.VerifyAndPass(ctx, warm, "", "0000", pass()); !errors.Is(err, challenge.ErrWrongCode) {
		t.Fatal(err)
	}
	if _, err := svc.VerifyAndPass(ctx, warm, "", "7391", pass()); err != nil {
		t.Fatal(err)
	}

	const identity = "5e1b7b4a-0000-4000-8000-000000000001"
	ok := start(identity, "flow-ok")
	wrong := start(identity, "flow-wrong")
	lock := start(identity, "flow-lock")
	trips.take()

	if _, err := svc.VerifyAndPass(ctx, ok, "", "7391", pass()); err != nil {
		t.Fatalf("right code: %v", err)
	}
	got := trips.take()
	t.Logf("successful gated verify: %d round trips %v", len(got), got)
	if len(got) != 1 {
		t.Errorf("successful gated verify took %d round trips %v, want 1", len(got), got)
	}
	if _, claimed, err := st.ClaimPass(ctx, identity, []time.Time{authAt}, time.Second, "session-1"); err != nil || !claimed {
		t.Fatalf("the verify left no gate pass to claim: %v %v", claimed, err)
	}
	trips.take()

	if _, err := svc.VerifyAndPass(ctx, wrong, "", "0000", pass()); !errors.Is(err, challenge.ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	got = trips.take()
	t.Logf("wrong code: %d round trips %v", len(got), got)
	if len(got) != 1 {
		t.Errorf("wrong code took %d round trips %v, want 1", len(got), got)
	}
	// The login gate names the number the code must prove (the identity's
	// trait now): checked in the same script, a wrong code and a changed
	// number are one round trip each, and the changed one counts nothing.
	if _, err := svc.VerifyAndPassNumber(ctx, wrong, "", "0000", "+79001234567", pass()); !errors.Is(err, challenge.ErrWrongCode) {
		t.Fatalf("wrong code, number checked: %v", err)
	}
	if _, err := svc.VerifyAndPassNumber(ctx, wrong, "", "7391", "+79007654321", pass()); !errors.Is(err, challenge.ErrNumberChanged) {
		t.Fatalf("another number: %v, want ErrNumberChanged", err)
	}
	got = trips.take()
	t.Logf("login gate's wrong code and changed number: %d round trips %v", len(got), got)
	if len(got) != 2 {
		t.Errorf("the login gate's wrong code and changed number took %d round trips %v, want 1 each", len(got), got)
	}
	if c, _, err := st.Lookup(ctx, challenge.LookupRequest{Binding: wrong}); err != nil || c.Attempts != 2 || c.State != challenge.StatePending {
		t.Fatalf("after a wrong code and a changed number: attempts %d state %q err %v, want 2 pending", c.Attempts, c.State, err)
	}
	trips.take()

	// The wrong code that locks a challenge is one round trip too: the
	// verify script records the regulation failure in the same step. (It
	// used to be 2: the verify, then limit.RecordFailure's Fail script.)
	for range challenge.DefaultConfig().MaxAttempts - 1 {
		if _, err := svc.VerifyAndPass(ctx, lock, "", "0000", pass()); !errors.Is(err, challenge.ErrWrongCode) {
			t.Fatalf("wrong code before the lock: %v", err)
		}
	}
	trips.take()
	var we *challenge.WrongCodeError
	if _, err := svc.VerifyAndPass(ctx, lock, "", "0000", pass()); !errors.As(err, &we) || we.AttemptsLeft != 0 {
		t.Fatalf("locking wrong code: %v", err)
	}
	got = trips.take()
	t.Logf("lock: %d round trips %v", len(got), got)
	if len(got) != 1 {
		t.Errorf("lock took %d round trips %v, want 1", len(got), got)
	}
	if c, _, err := st.Lookup(ctx, challenge.LookupRequest{Binding: lock}); err != nil || c.State != challenge.StateLocked {
		t.Fatalf("the lock did not lock: state %q err %v", c.State, err)
	}

	// Ban the identity, then verify the other flow's right code.
	for range limit.DefaultConfig().Regulation.MaxFailures {
		if _, err := st.Fail(ctx, limit.RegulationKey(identity), time.Hour, limit.DefaultConfig().Regulation.MaxFailures, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	trips.take()
	var le *limit.LimitError
	if _, err := svc.VerifyAndPass(ctx, wrong, "", "7391", pass()); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("banned identity: %v, want a regulation limit", err)
	}
	got = trips.take()
	t.Logf("banned identity: %d round trips %v", len(got), got)
	if len(got) != 1 {
		t.Errorf("banned identity took %d round trips %v, want 1", len(got), got)
	}
	c, _, err := st.Lookup(ctx, challenge.LookupRequest{Binding: wrong})
	if err != nil || c.Attempts != 2 || c.State != challenge.StatePending {
		t.Fatalf("banned verify changed the challenge: attempts %d state %q err %v", c.Attempts, c.State, err)
	}

	// The ban is remembered: a flood against the banned identity (verifies
	// and starts) no longer reaches Redis; other identities still do.
	trips.take()
	if _, err := svc.VerifyAndPass(ctx, wrong, "", "7391", pass()); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("banned identity again: %v", err)
	}
	if _, err := svc.Start(ctx, challenge.StartRequest{Purpose: challenge.PurposeLogin, IdentityID: identity,
		FlowID: "flow-new", Phone: "+79001234567"}); !errors.As(err, &le) || le.Kind != limit.KindRegulation {
		t.Fatalf("start of the banned identity: %v", err)
	}
	if got = trips.take(); len(got) != 0 {
		t.Errorf("refusing a remembered ban took %d round trips %v, want 0", len(got), got)
	}
	start("5e1b7b4a-0000-4000-8000-000000000002", "flow-other")
	if got = trips.take(); len(got) == 0 {
		t.Error("another identity's start did not reach Redis")
	}
}

// TestIdentityKeysShareASlot: every key one identity's verify touches has
// the identity's hash tag, so each script runs in one Redis Cluster slot.
func TestIdentityKeysShareASlot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTripEnv(t, limit.DefaultConfig())
	rdb, lim, svc := e.rdb, e.lim, e.svc
	const identity = "5e1b7b4a-0000-4000-8000-000000000002"
	for _, purpose := range []challenge.Purpose{challenge.PurposeLogin, challenge.PurposeStepUp} {
		req := challenge.StartRequest{Purpose: purpose, IdentityID: identity, FlowID: "flow-" + string(purpose), Phone: "+79001234567"}
		if _, err := svc.Start(ctx, req); err != nil {
			t.Fatal(err)
		}
		b := challenge.Binding{Purpose: purpose, IdentityID: identity, FlowID: req.FlowID}
		if _, err := svc.VerifyAndPass(ctx, b, "", "7391", &challenge.Pass{AuthenticatedAt: time.Now(), TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	for range limit.DefaultConfig().Regulation.MaxFailures { // a ban
		if _, err := lim.RecordFailure(ctx, identity); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := rdb.Keys(ctx, "cpk:{*").Result()
	if err != nil {
		t.Fatal(err)
	}
	tag := "cpk:{" + challenge.IdentityTag(identity) + "}:"
	kinds := map[string]bool{}
	for _, k := range keys {
		if strings.HasPrefix(k, "cpk:{l:") {
			continue // limit counters: per number / IP / global, not per identity
		}
		if !strings.HasPrefix(k, tag) {
			t.Errorf("key %q is outside the identity's slot %q", k, tag)
			continue
		}
		kinds[strings.SplitN(strings.TrimPrefix(k, tag), ":", 2)[0]] = true
	}
	for _, k := range []string{"c", "a", "p", "b"} {
		if !kinds[k] {
			t.Errorf("no %q key under the identity's tag (keys %v)", k, keys)
		}
	}
}

// TestRefusedStartRoundTrips: a start that a call limit refuses is one round
// trip (the challenge lookup, the ban and a read-only check of every counter
// in one pipeline), changes no counter and never reaches the provider; a
// start that goes ahead still takes its counters.
func TestRefusedStartRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lcfg := limit.DefaultConfig()
	lcfg.PerNumber.Limit = 2
	e := newTripEnv(t, lcfg)
	rdb, trips, p, svc := e.rdb, e.trips, e.p, e.svc
	start := func(flow string) error {
		_, err := svc.Start(ctx, challenge.StartRequest{Purpose: challenge.PurposeLogin,
			IdentityID: "5e1b7b4a-0000-4000-8000-000000000003", FlowID: flow, Phone: "+79001234567"})
		return err
	}
	for _, flow := range []string{"f1", "f2"} {
		if err := start(flow); err != nil {
			t.Fatal(err)
		}
	}
	var le *limit.LimitError
	if err := start("warm"); !errors.As(err, &le) || le.Kind != limit.KindNumber { // loads the scripts
		t.Fatalf("third call to the number: %v, want the per-number limit", err)
	}
	counters := func() map[string]string {
		keys, err := rdb.Keys(ctx, "cpk:{l:*").Result()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, k := range keys {
			out[k] = fmt.Sprint(rdb.ZRangeWithScores(ctx, k, 0, -1).Val())
		}
		return out
	}
	before, calls := counters(), p.calls
	trips.take()

	if err := start("f4"); !errors.As(err, &le) || le.Kind != limit.KindNumber || le.RetryAfter <= 0 {
		t.Fatalf("refused start: %v, want the per-number limit with a retry time", err)
	}
	got := trips.take()
	t.Logf("start refused by a limit: %d round trips %v", len(got), got)
	if len(got) != 1 {
		t.Errorf("a start refused by a limit took %d round trips %v, want 1", len(got), got)
	}
	// The lookup script, then one read per counter (number, identity,
	// global): its sliding log's Limit-th newest take in the window.
	if want := "pipeline(evalsha,zrange,zrange,zrange)"; len(got) == 1 && got[0] != want {
		t.Errorf("a start refused by a limit sent %s, want %s", got[0], want)
	}
	if after := counters(); !reflect.DeepEqual(after, before) {
		t.Errorf("a refused start changed the counters: %v → %v", before, after)
	}
	if p.calls != calls {
		t.Errorf("a refused start reached the provider")
	}
}

// TestTakeRoundTrips: a take is one round trip, one script per rule (each
// rule's key may be in its own cluster slot); a take refused by one rule
// adds one round trip giving back the others, one ZREM of the member each
// added.
func TestTakeRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newTripEnv(t, limit.DefaultConfig())
	rules := []limit.Take{{Key: "n:x", Limit: 1, Window: time.Hour}, {Key: "i:x", Limit: 5, Window: time.Hour}, {Key: "g", Limit: 9, Window: time.Hour}}
	if res, err := e.st.Take(ctx, rules); err != nil || !res.Allowed { // loads the script
		t.Fatalf("first take: %+v %v", res, err)
	}
	e.trips.take()
	if res, err := e.st.Take(ctx, rules[1:]); err != nil || !res.Allowed {
		t.Fatalf("allowed take: %+v %v", res, err)
	}
	if got, want := e.trips.take(), []string{"pipeline(evalsha,evalsha)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("an allowed take sent %v, want %v", got, want)
	}
	if res, err := e.st.Take(ctx, rules); err != nil || res.Allowed || res.Blocked != 0 {
		t.Fatalf("refused take: %+v %v", res, err)
	}
	if got, want := e.trips.take(), []string{"pipeline(evalsha,evalsha,evalsha)", "pipeline(zrem,zrem)"}; !reflect.DeepEqual(got, want) {
		t.Errorf("a refused take sent %v, want %v", got, want)
	}
	if res, err := e.st.Take(ctx, rules[1:]); err != nil || !res.Allowed || !reflect.DeepEqual(res.Counts, []int{3, 3}) {
		t.Fatalf("the refused take was not given back: %+v %v", res, err)
	}
}

// tripEnv is challenge.Service on one Redis store, wired as the app wires
// it (one store for challenges, limits, bans and passes), with every round
// trip to Redis counted.
type tripEnv struct {
	rdb   *redis.Client
	trips *tripCounter
	st    *redisstore.Store
	lim   *limit.Limiter
	p     *fakeProvider
	svc   *challenge.Service
}

func newTripEnv(t *testing.T, lcfg limit.Config) *tripEnv {
	t.Helper()
	e := &tripEnv{rdb: newClient(t, testenv.StartRedis(t).Addr), trips: &tripCounter{}, p: &fakeProvider{code: "7391"}}
	e.rdb.AddHook(e.trips)
	e.st = redisstore.New(e.rdb, "cpk:")
	e.lim, e.svc = serviceOn(t, e.st, lcfg, e.p)
	return e
}
