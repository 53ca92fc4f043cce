package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	redisstore "github.com/callpass-kratos/callpass-kratos/plugin/store/redis"
)

func envInt(k string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(k)); err == nil && n > 0 {
		return n
	}
	return def
}

func envDur(k string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(k)); err == nil && d > 0 {
		return d
	}
	return def
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// report collects every run for results.json and the summary.
type report struct {
	Started  time.Time                 `json:"started"`
	Duration string                    `json:"duration_per_scenario"`
	Reps     int                       `json:"reps"`
	Workers  int                       `json:"workers"`
	Runs     map[string][]Result       `json:"runs"`
	Loops    map[string][]LoopResult   `json:"loops"`
	Counts   map[string]map[string]any `json:"counts"`
	Ratios   map[string][]float64      `json:"ratios"`
}

func (r *report) add(rep int, res Result) {
	r.Runs[res.Name] = append(r.Runs[res.Name], res)
}

// ceiling is a baseline that does a scenario's one unavoidable outside
// exchange and nothing else (see measure).
type ceiling struct{ name, url string }

func (r *report) ratio(name string, v float64) { r.Ratios[name] = append(r.Ratios[name], v) }

// TestLoadBench is the load harness of docs/benchmarks.md. It needs Kratos
// and redis-server and takes minutes, so it runs only with
// CALLPASS_LOADBENCH=1 (scripts/bench.sh sets it).
func TestLoadBench(t *testing.T) {
	if os.Getenv("CALLPASS_LOADBENCH") == "" {
		t.Skip("set CALLPASS_LOADBENCH=1 to run the load benchmark (scripts/bench.sh)")
	}
	D := envDur("CALLPASS_BENCH_DURATION", 3*time.Second)
	R := envInt("CALLPASS_BENCH_REPS", 3)
	W := envInt("CALLPASS_BENCH_WORKERS", 16)
	// Step-up pools: one session per challenge (a session has one pending
	// step-up at a time). The sessions are reused by every repetition and
	// instance; a repetition verifies (or drains) every challenge it starts.
	// Verify with the session cache runs at ~10k/s: its pool must be big
	// enough that a run is not mostly ramp-up.
	stepPool := envInt("CALLPASS_BENCH_STEPUP_POOL", 800)
	cachedPool := envInt("CALLPASS_BENCH_CACHED_POOL", 6000)
	// One login at a time: the in-memory SQLite of testenv's Kratos fails
	// concurrent writes, which would measure its lock errors, not the hook.
	loginWorkers := envInt("CALLPASS_BENCH_LOGIN_WORKERS", 1)
	// Logins at bcrypt cost 12 take a few hundred ms: give them longer.
	loginD := envDur("CALLPASS_BENCH_LOGIN_DURATION", 10*time.Second)
	// CALLPASS_BENCH_ONLY (a regular expression) runs only the scenarios
	// it matches, e.g. '^reject-' or 'kratos-login|token-exchange'; the
	// Redis counts and memory figures are named "redis-counts".
	var only *regexp.Regexp
	if v := os.Getenv("CALLPASS_BENCH_ONLY"); v != "" {
		only = regexp.MustCompile(v)
	}
	skip := func(name string) bool { return only != nil && !only.MatchString(name) }
	outDir := os.Getenv("CALLPASS_BENCH_OUT")
	if outDir == "" {
		outDir = t.TempDir()
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep := &report{Started: time.Now().UTC(), Duration: D.String(), Reps: R, Workers: W,
		Runs: map[string][]Result{}, Loops: map[string][]LoopResult{}, Counts: map[string]map[string]any{},
		Ratios: map[string][]float64{}}

	// --- the stack ---
	rds := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	// Kratos logs at warning level: its per-request info lines would slow
	// both Kratos instances and flatter every comparison against Kratos.
	quiet := map[string]any{"log": map[string]any{"level": "warning"}}
	kB := testenv.StartKratos(t, testenv.KratosOptions{Config: quiet}) // no hook: sessions for step-up and whoami
	lnMem, lnRed, lnMemLim, lnRedLim, lnCache, lnRedCache := listen(t), listen(t), listen(t), listen(t), listen(t), listen(t)
	// The login comparison runs on two Kratos instances that differ only in
	// the hook, both at Kratos's default bcrypt cost (12): what a deployment
	// runs. CALLPASS_BENCH_BCRYPT_COST=4 shows the hook against a near-free hash.
	cost := envInt("CALLPASS_BENCH_BCRYPT_COST", 12)
	loginCfg := map[string]any{"log": map[string]any{"level": "warning"},
		"hashers": map[string]any{"algorithm": "bcrypt", "bcrypt": map[string]any{"cost": cost}}}
	kA := testenv.StartKratos(t, testenv.KratosOptions{LoginHook: testenv.KratosHook{
		URL: "http://" + lnMem.Addr().String() + "/hooks/kratos/login", Secret: webhookSecret}, Config: loginCfg})
	kC := testenv.StartKratos(t, testenv.KratosOptions{Config: loginCfg}) // the same Kratos without the hook
	for _, k := range []*testenv.Kratos{kA, kB, kC} {
		k.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	}
	kenv := []string{"KRATOS_PUBLIC_URL=" + kB.PublicURL, "KRATOS_ADMIN_URL=" + kB.AdminURL}
	redisEnv := func(prefix string) []string {
		return []string{"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + rds.Addr + "/0", "STORE_REDIS_PREFIX=" + prefix}
	}
	mountBare := func(a *app.App) {
		// The baseline body behind the service's own middleware chain.
		a.Server.Echo().GET("/bench/bare", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, BareBody) })
	}
	cat := func(xs ...[]string) []string { return slices.Concat(xs...) }
	mem := startInstance(t, "mem", lnMem, cat(kenv, raisedLimits), mountBare)
	red := startInstance(t, "redis", lnRed, cat(kenv, raisedLimits, redisEnv("cpk:")), nil)
	memLim := startInstance(t, "mem-limits", lnMemLim, kenv, nil)
	redLim := startInstance(t, "redis-limits", lnRedLim, cat(kenv, redisEnv("cpl:")), nil)
	// kratos.session_cache_ttl on: step-up and /v1/token skip whoami while a
	// session's answer is cached (the documented revocation window).
	cacheEnv := []string{"KRATOS_SESSION_CACHE_TTL=30s"}
	cached := startInstance(t, "mem-cached", lnCache, cat(kenv, raisedLimits, cacheEnv), nil)
	redCached := startInstance(t, "redis-cached", lnRedCache, cat(kenv, raisedLimits, redisEnv("cpc:"), cacheEnv), nil)
	bare, err := ServeBare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The provider-call ceiling's client: keep-alive pool as the CallPass
	// client's (plugin/callpass newHTTPClient).
	proxyClient := &http.Client{Transport: &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second}}
	proxy, err := ServeBareProxy(ctx, bare+"/bare", proxyClient)
	if err != nil {
		t.Fatal(err)
	}
	// The Redis ceiling's client: the options internal/app gives the store's.
	ceilRDB := redis.NewClient(&redis.Options{Addr: rds.Addr, DialTimeout: 2 * time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer ceilRDB.Close()
	bareRedis, err := ServeBareRedis(ctx, ceilRDB)
	if err != nil {
		t.Fatal(err)
	}
	ceilProvider := ceiling{"bare-provider-call", proxy}
	ceilRedis := ceiling{"bare-redis-get", bareRedis}
	// ceilingsFor: the Redis instances get the Redis ceiling.
	ceilingsFor := func(in *instance, extra ...ceiling) []ceiling {
		if strings.HasPrefix(in.Name, "redis") {
			return append(extra, ceilRedis)
		}
		return extra
	}

	// --- fixtures that do not change between repetitions ---
	t.Log("creating Kratos identities and sessions")
	nPool := max(stepPool, cachedPool)
	nSessions := nPool + 100 // the step-up pools, + 100 for counting Redis round trips
	users := createUsers(t, kB, "b", (nSessions+4)/5)
	sessions := loginSessions(t, kB, users, 5)[:nSessions]
	// drain verifies what a run left pending, so the next repetition can
	// start new step-ups for the same sessions.
	drain := func(p *Pool) {
		for _, tg := range p.Rest() {
			if st, b, err := do(ctx, tg.Method, tg.URL, tg.Body, tg.Header); err != nil || st != http.StatusOK {
				t.Fatalf("drain step-up pool: %d %s %v", st, b, err)
			}
		}
	}
	gatedUsers := createUsers(t, kA, "a", loginWorkers)
	plainUsers := createUsers(t, kC, "c", loginWorkers)

	// The answer checks run in the load generator, on the same two cores as
	// the service: keep them as cheap as the bare scenario's (none), so a
	// JSON parse here is not billed to the service.
	isMsg := func(id int64) func([]byte) bool {
		needle := []byte(`"id":` + strconv.FormatInt(id, 10) + `,`)
		return func(b []byte) bool { return bytes.Contains(b, needle) }
	}
	tokenNeedle := []byte(`"access_token":"ey`)
	hasToken := func(b []byte) bool { return bytes.Contains(b, tokenNeedle) }
	wrongNeedle := []byte(`"error":"wrong_code"`)
	isWrongCodeAPI := func(b []byte) bool { return bytes.Contains(b, wrongNeedle) }

	// stepUps is a step-up verify + mint scenario over ss. A session has one
	// pending step-up at a time, so the pool holds one challenge per session;
	// before every slice the challenges the last slice left are verified and
	// every session gets a new one (outside the measurement), so each slice
	// has the whole pool. done drains the last slice and returns the
	// challenges it verified.
	stepUps := func(in *instance, ss []session) (Scenario, vegeta.Target, func() []pendingStepUp) {
		var pool *Pool
		var ps []pendingStepUp
		refill := func() {
			if pool != nil {
				drain(pool)
			}
			// With the session cache on, the starts below cache each
			// session's whoami answer afresh, as a real step-up start does
			// seconds before its verify; an answer cached slices ago would
			// expire in the middle of a slice and send it to Kratos.
			in.App.Kratos.ForgetSessions()
			ps = in.startStepUps(t, ss)
			vt := make([]vegeta.Target, len(ps))
			for i, p := range ps {
				vt[i] = in.verifyTarget(p, p.Code)
			}
			pool = NewPool(vt)
		}
		refill() // for the like target; the first slice refills again
		like := in.verifyTarget(ps[0], ps[0].Code)
		first := true
		sc := Scenario{Name: "stepup-verify-" + in.Name, Expect: 200, Check: hasToken,
			Targeter: func(t *vegeta.Target) error { return pool.Next(t) },
			Before: func() {
				if first { // the pool made above is still whole
					first = false
					return
				}
				refill()
			}}
		done := func() []pendingStepUp {
			used := ps[:pool.Used()]
			drain(pool)
			return used
		}
		return sc, like, done
	}
	// wrong codes: challenges that take many wrong codes (max attempts
	// raised), made fresh for every repetition (a run outlives the 5 min TTL).
	wrongTargets := map[*instance][]vegeta.Target{}
	newWrongTargets := func(in *instance) {
		wrongTargets[in] = nil
		for _, p := range in.startLogins(t, 1000) {
			h := p.Hook
			h.Code = wrongCode(h.Code)
			wrongTargets[in] = append(wrongTargets[in], in.hookTarget(h))
		}
	}
	// blocked: an identity banned by regulation (3 challenges locked by 3 wrong codes each).
	// limited: one number past its per-number budget (5 calls), new flows each time.
	// The ban lasts regulation.ban_time (15 min), less than a whole run, so
	// every repetition bans a new identity (newBlockedTargets).
	blockedTargets, limitedTargets := map[*instance][]vegeta.Target{}, map[*instance][]vegeta.Target{}
	newBlockedTargets := func(in *instance) {
		ident := uuid.NewString()
		for range 3 {
			h := newLoginHook()
			h.Identity = ident
			if st, b, err := do(ctx, http.MethodPost, in.URL+"/hooks/kratos/login", h.body(), hookHeader); err != nil || st != 400 {
				t.Fatalf("ban setup start: %d %s %v", st, b, err)
			}
			h.Code = "0000"
			for range 3 {
				if _, _, err := do(ctx, http.MethodPost, in.URL+"/hooks/kratos/login", h.body(), hookHeader); err != nil {
					t.Fatal(err)
				}
			}
		}
		blockedTargets[in] = nil
		for range 64 {
			h := newLoginHook()
			h.Identity, h.Code = ident, "1234"
			blockedTargets[in] = append(blockedTargets[in], in.hookTarget(h))
		}
	}
	for _, in := range []*instance{memLim, redLim} {
		lim := newLoginHook()
		for range 5 {
			lim.Flow = uuid.NewString()
			if st, b, err := do(ctx, http.MethodPost, in.URL+"/hooks/kratos/login", lim.body(), hookHeader); err != nil || st != 400 {
				t.Fatalf("limit setup start: %d %s %v", st, b, err)
			}
		}
		for range 64 {
			lim.Flow = uuid.NewString()
			limitedTargets[in] = append(limitedTargets[in], in.hookTarget(lim))
		}
	}

	instances := []*instance{mem, red, memLim, redLim, cached, redCached}
	slicesN := envInt("CALLPASS_BENCH_SLICES", 3)
	lastRPS := map[string]float64{}
	// Every start before a slice (fixtures included) polls its call's status
	// 2 s later: let those finish, or they would be billed to whatever runs
	// next.
	between := func() {
		quiesce(t, instances)
		runtime.GC()
	}
	record := func(r int, res Result) {
		t.Logf("rep %d %s", r, res)
		if res.Unexpected > 0 {
			t.Logf("  unexpected sample: %s", res.Sample)
		}
		rep.add(r, res)
	}
	// interleave runs scs interleaved with the harness's workers and
	// duration and records every result.
	interleave := func(r int, scs ...Scenario) []Result {
		t.Helper()
		for i := range scs {
			scs[i].Workers, scs[i].Duration = W, D
		}
		out, err := RunInterleaved(ctx, slicesN, between, scs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range out {
			record(r, res)
		}
		return out
	}
	bareGET := Scenario{Name: "bare", Expect: 200,
		Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: bare + "/bare"}})}
	// measure runs sc interleaved with two baselines on the bare handler:
	// a GET without a body, and the same request as sc's (method, headers,
	// body) which the bare handler ignores. The second prices sc's own work
	// only: the load generator's cost of building and sending a hook body,
	// and the server's of reading it off the wire, are on both sides.
	// Ratios compare the slices of one interleaved run.
	//
	// ceilings adds baselines that do the one unavoidable thing of a
	// scenario and nothing else, the same request to a bare handler that
	// makes one loopback POST to another bare handler (ceilProvider: any
	// hook placing a call) or one Redis GET (ceilRedis: any Redis-backed
	// path). Their ratio to bare-same-request is the most any
	// implementation can reach on these two cores.
	measure := func(r int, sc Scenario, like vegeta.Target, ceilings ...ceiling) Result {
		t.Helper()
		if skip(sc.Name) {
			return Result{}
		}
		same := Scenario{Name: "bare-same-request-as-" + sc.Name, Expect: 200, Targeter: RoundRobin([]vegeta.Target{
			{Method: like.Method, URL: bare + "/bare", Body: like.Body, Header: like.Header}})}
		scs := []Scenario{bareGET, same}
		for _, c := range ceilings {
			scs = append(scs, Scenario{Name: c.name + "-as-" + sc.Name, Expect: 200, Targeter: RoundRobin([]vegeta.Target{
				{Method: like.Method, URL: c.url + "/bare", Body: like.Body, Header: like.Header}})})
		}
		out := interleave(r, append(scs, sc)...)
		res := out[len(out)-1]
		rep.ratio(res.Name+"/bare", res.RPS/out[0].RPS)
		rep.ratio(res.Name+"/bare-same-request", res.RPS/out[1].RPS)
		for i, c := range ceilings {
			ce := out[2+i]
			rep.ratio(ce.Name+"/bare-same-request", ce.RPS/out[1].RPS)
			rep.ratio(res.Name+"/"+c.name, res.RPS/ce.RPS)
		}
		if res.CPUPerRequest > 0 {
			rep.ratio("cpu:"+res.Name+"/bare-same-request", float64(out[1].CPUPerRequest)/float64(res.CPUPerRequest))
		}
		lastRPS[res.Name] = res.RPS
		return res
	}
	// pool sizes follow the last measured rate so a run rarely ends early.
	poolSize := func(name string, guess float64) int {
		v := lastRPS[name]
		if v == 0 {
			v = guess
		}
		return max(1000, int(v*D.Seconds()*1.3))
	}

	verifiedForToken := map[*instance][]pendingStepUp{}
	// warm-up: first connections, JIT-free Go but cold caches and a fresh heap.
	if _, err := Run(ctx, Scenario{Name: "warmup", Expect: 200, Workers: W, Duration: time.Second,
		Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: bare + "/bare"}})}); err != nil {
		t.Fatal(err)
	}
	for r := range R {
		t.Logf("=== repetition %d/%d", r+1, R)
		measure(r, Scenario{Name: "bare-service-middleware", Expect: 200,
			Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: mem.URL + "/bench/bare"}})},
			vegeta.Target{Method: http.MethodGet})

		for _, in := range []*instance{mem, red} {
			// gate hook, start path: a new flow, identity and number per request.
			name := "gate-start-" + in.Name
			starts := make([]vegeta.Target, poolSize(name, 1500))
			for i := range starts {
				starts[i] = in.hookTarget(newLoginHook())
			}
			measure(r, Scenario{Name: name, Expect: 400, Check: isMsg(1090001), Targeter: NewPool(starts).Targeter()}, starts[0],
				ceilingsFor(in, ceilProvider)...)

			// login hook verify path: verify + record the gate pass (no Kratos, no JWT).
			name = "hook-verify-" + in.Name
			var vt []vegeta.Target
			for _, p := range in.startLogins(t, poolSize(name, 3000)) {
				vt = append(vt, in.hookTarget(p.Hook))
			}
			measure(r, Scenario{Name: name, Expect: 200, Targeter: NewPool(vt).Targeter()}, vt[0], ceilingsFor(in)...)

			// step-up verify + ES256 mint, with Kratos whoami.
			sc, like, done := stepUps(in, sessions[:stepPool])
			measure(r, sc, like)
			if ps := done(); r == 0 {
				verifiedForToken[in] = ps[:min(200, len(ps))]
			}

			newWrongTargets(in)
			measure(r, Scenario{Name: "reject-wrong-code-" + in.Name, Expect: 400, Check: isMsg(4090001),
				Targeter: RoundRobin(wrongTargets[in])}, wrongTargets[in][0], ceilingsFor(in)...)
		}
		for _, in := range []*instance{cached, redCached} {
			sc, like, done := stepUps(in, sessions[:cachedPool])
			measure(r, sc, like, ceilingsFor(in)...)
			if ps := done(); r == 0 {
				verifiedForToken[in] = ps[:min(200, len(ps))]
			}
		}
		{

			// reject through the step-up API: a wrong code to
			// POST /v1/challenges/{id}/verify (session from the cache). The
			// spare sessions get a challenge each, verified with the right
			// code afterwards so the next repetition can start again.
			spare := cached.startStepUps(t, sessions[nPool:])
			var wt, rt []vegeta.Target
			for _, p := range spare {
				wt = append(wt, cached.verifyTarget(p, wrongCode(p.Code)))
				rt = append(rt, cached.verifyTarget(p, p.Code))
			}
			measure(r, Scenario{Name: "reject-wrong-code-api-" + cached.Name, Expect: 400, Check: isWrongCodeAPI,
				Targeter: RoundRobin(wt)}, wt[0])
			drain(NewPool(rt))
		}
		for _, in := range []*instance{memLim, redLim} {
			newBlockedTargets(in)
			measure(r, Scenario{Name: "reject-blocked-" + in.Name, Expect: 400, Check: isMsg(4090005),
				Targeter: RoundRobin(blockedTargets[in])}, blockedTargets[in][0], ceilingsFor(in)...)
			measure(r, Scenario{Name: "reject-limited-start-" + in.Name, Expect: 400, Check: isMsg(4090004),
				Targeter: RoundRobin(limitedTargets[in])}, limitedTargets[in][0], ceilingsFor(in)...)
		}

		// token exchange against Kratos's whoami, same sessions, interleaved.
		var who []vegeta.Target
		for _, p := range verifiedForToken[mem] {
			who = append(who, vegeta.Target{Method: http.MethodGet, URL: kB.PublicURL + "/sessions/whoami",
				Header: http.Header{"X-Session-Token": {p.Session.Token}}})
		}
		for _, in := range []*instance{mem, red, cached, redCached} {
			if skip("token-exchange-" + in.Name) {
				continue
			}
			var tt []vegeta.Target
			for _, p := range verifiedForToken[in] {
				tt = append(tt, vegeta.Target{Method: http.MethodPost, URL: in.URL + "/v1/token",
					Header: http.Header{"X-Session-Token": {p.Session.Token}}})
			}
			if len(who) == 0 || len(tt) == 0 {
				// Its sessions come from the step-up scenarios of mem and of
				// this instance, left out by CALLPASS_BENCH_ONLY.
				t.Logf("token-exchange-%s skipped: CALLPASS_BENCH_ONLY left out the step-up verifies it takes its sessions from", in.Name)
				continue
			}
			out := interleave(r,
				Scenario{Name: "kratos-whoami", Expect: 200, Targeter: RoundRobin(who)},
				Scenario{Name: "token-exchange-" + in.Name, Expect: 200, Check: hasToken, Targeter: RoundRobin(tt)})
			rep.ratio(out[1].Name+"/kratos-whoami", out[1].RPS/out[0].RPS)
		}

		// real Kratos logins: without the hook (kB) and with it (kA → mem).
		if skip("kratos-login") {
			continue
		}
		runtime.GC()
		plain := RunLoop(ctx, "kratos-login-plain", loginWorkers, loginD, func(ctx context.Context, w int) ([]Step, error) {
			u := plainUsers[w]
			t0 := time.Now()
			flow, err := kC.NewAPILoginFlow(ctx)
			if err != nil {
				return nil, err
			}
			t1 := time.Now()
			res, err := kC.SubmitAPILogin(ctx, flow, u.Email, password, nil)
			if err != nil {
				return nil, err
			}
			if res.SessionToken == "" {
				return nil, fmt.Errorf("plain login: %d %s", res.StatusCode, res.Body)
			}
			return []Step{{"flow", t1.Sub(t0)}, {"submit", time.Since(t1)}}, nil
		})
		runtime.GC()
		gated := RunLoop(ctx, "kratos-login-gated", loginWorkers, loginD, func(ctx context.Context, w int) ([]Step, error) {
			u := gatedUsers[w]
			t0 := time.Now()
			flow, err := kA.NewAPILoginFlow(ctx)
			if err != nil {
				return nil, err
			}
			t1 := time.Now()
			res, err := kA.SubmitAPILogin(ctx, flow, u.Email, password, nil)
			if err != nil {
				return nil, err
			}
			t2 := time.Now()
			if _, ok := res.Message(1090001); !ok {
				return nil, fmt.Errorf("gated login first submit: %d %s", res.StatusCode, res.Body)
			}
			calls := mem.App.Sim.Calls(dn(u.Phone))
			if len(calls) == 0 {
				return nil, fmt.Errorf("no call")
			}
			t3 := time.Now() // reading the phone is the user's time, not the service's
			res, err = kA.SubmitAPILogin(ctx, flow, u.Email, password, map[string]any{"callpass_code": calls[0].Code4})
			if err != nil {
				return nil, err
			}
			if res.SessionToken == "" {
				return nil, fmt.Errorf("gated login code submit: %d %s", res.StatusCode, res.Body)
			}
			return []Step{{"flow", t1.Sub(t0)}, {"submit1", t2.Sub(t1)}, {"submit2", time.Since(t3)}}, nil
		})
		for _, l := range []LoopResult{plain, gated} {
			t.Logf("rep %d %s: %.1f logins/s, %d ok, %d failed %s, steps %v", r, l.Name, l.PerSecond, l.Iterations,
				l.Failures, l.FirstError, l.Steps)
			rep.Loops[l.Name] = append(rep.Loops[l.Name], l)
		}
		ps := float64(plain.Steps["submit"]["p50"])
		rep.ratio("login-submit2-p50/plain-submit-p50", float64(gated.Steps["submit2"]["p50"])/ps)
		rep.ratio("login-submit1-p50/plain-submit-p50", float64(gated.Steps["submit1"]["p50"])/ps)
		rep.ratio("login-total-p50/plain-total-p50", float64(gated.Steps["total"]["p50"])/float64(plain.Steps["total"]["p50"]))
	}

	if skip("redis-counts") {
		writeReport(t, outDir, rep)
		return
	}
	// --- Redis round trips per request (INFO commandstats deltas) ---
	t.Log("counting Redis round trips")
	settle := func() { time.Sleep(2500 * time.Millisecond) } // background status polls (every 2 s) finish
	count := func(name string, targets []vegeta.Target, expect int) {
		t.Helper()
		if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		for _, tg := range targets {
			st, b, err := do(ctx, tg.Method, tg.URL, tg.Body, tg.Header)
			if err != nil || st != expect {
				t.Fatalf("%s: %d %s %v", name, st, b, err)
			}
		}
		stats := commandStats(t, rdb)
		total := 0
		for _, v := range stats {
			total += v
		}
		per := float64(total) / float64(len(targets))
		t.Logf("redis commands (script-internal ones included) %-22s %.2f per request %v (n=%d)", name, per, stats, len(targets))
		rep.Counts["redis_commands_"+name] = map[string]any{"commands_per_request": per, "commands": stats, "n": len(targets)}
	}
	var vt []vegeta.Target
	for _, p := range red.startLogins(t, 100) {
		vt = append(vt, red.hookTarget(p.Hook))
	}
	steps := red.startStepUps(t, sessions[nPool:])
	settle()
	count("hook-verify", vt, 200)
	var st []vegeta.Target
	for _, p := range steps {
		st = append(st, red.verifyTarget(p, p.Code))
	}
	count("stepup-verify", st, 200)
	count("reject-wrong-code", wrongTargets[red][:100], 400)
	var tt []vegeta.Target
	for _, p := range steps {
		tt = append(tt, vegeta.Target{Method: http.MethodPost, URL: red.URL + "/v1/token", Header: http.Header{"X-Session-Token": {p.Session.Token}}})
	}
	count("token-exchange", tt, 200)
	count("reject-blocked", blockedTargets[redLim], 400)
	count("reject-limited-start", limitedTargets[redLim], 400)
	var gs []vegeta.Target
	var hooks []loginHook
	for range 100 {
		h := newLoginHook()
		hooks = append(hooks, h)
		gs = append(gs, red.hookTarget(h))
	}
	count("gate-start", gs, 400)
	// the background status poll of those 100 calls, once they settle
	if err := rdb.ConfigResetStat(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	settle()
	poll := commandStats(t, rdb)
	t.Logf("redis commands of the background status polls of 100 calls: %v", poll)
	rep.Counts["redis_background_poll_100_calls"] = map[string]any{"commands": poll}

	// --- memory per pending challenge in Redis ---
	var h0 loginHook
	{
		h0 = newLoginHook()
		_, b, err := do(ctx, http.MethodPost, red.URL+"/hooks/kratos/login", h0.body(), hookHeader)
		if err != nil {
			t.Fatal(err)
		}
		_, cid := interruptID(b)
		keys := redisstore.New(rdb, "cpk:").Keys(challenge.Challenge{ID: cid, Purpose: challenge.PurposeLogin,
			IdentityID: h0.Identity, FlowID: h0.Flow})
		var sum int64
		per := map[string]int64{}
		for _, k := range keys {
			n, err := rdb.MemoryUsage(ctx, k).Result()
			if err != nil {
				t.Fatalf("MEMORY USAGE %s: %v", k, err)
			}
			per[strings.SplitN(k, ":", 4)[2]] = n
			sum += n
		}
		t.Logf("redis MEMORY USAGE of one pending challenge (hash + active pointer): %d bytes %v", sum, per)
		rep.Counts["redis_memory_usage_challenge"] = map[string]any{"bytes": sum, "keys": per}
	}
	{
		const n = 5000
		before := usedMemory(t, rdb)
		red.startLogins(t, n)
		settle()
		after := usedMemory(t, rdb)
		per := float64(after-before) / n
		t.Logf("redis used_memory per gate start (challenge + its limit counters, distinct numbers and identities): %.0f bytes", per)
		rep.Counts["redis_used_memory_per_start"] = map[string]any{"bytes": per, "n": n}
	}
	_ = hooks

	writeReport(t, outDir, rep)
}

func commandStats(t testing.TB, rdb *redis.Client) map[string]int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(info, "\n") {
		line = strings.TrimSpace(line)
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") || name == "info" || name == "config|resetstat" || name == "config" {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(f, "calls="); ok {
				out[name], _ = strconv.Atoi(v)
			}
		}
	}
	return out
}

func usedMemory(t testing.TB, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// quiesce waits (at most 30 s) until no instance polls a call status in the
// background.
func quiesce(t testing.TB, ins []*instance) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, in := range ins {
		for in.App.Challenges.Polling() > 0 {
			if time.Now().After(deadline) {
				t.Logf("still %d background polls in %s; measuring anyway", in.App.Challenges.Polling(), in.Name)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// writeReport writes results.json and summary.md (medians over the repetitions).
func writeReport(t testing.TB, dir string, rep *report) {
	t.Helper()
	raw, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "results.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Load benchmark %s\n\n%d repetitions, %s per scenario, %d workers; medians over repetitions.\n\n",
		rep.Started.Format(time.RFC3339), rep.Reps, rep.Duration, rep.Workers)
	b.WriteString("| scenario | req/s | p50 | p90 | p99 | CPU µs/req (this process) | ok/total (last rep) |\n|---|---:|---:|---:|---:|---:|---|\n")
	names := make([]string, 0, len(rep.Runs))
	for n := range rep.Runs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		var rps, p50, p90, p99, cpu []float64
		for _, r := range rep.Runs[n] {
			rps = append(rps, r.RPS)
			cpu = append(cpu, float64(r.CPUPerRequest.Microseconds()))
			p50 = append(p50, float64(r.P50))
			p90 = append(p90, float64(r.P90))
			p99 = append(p99, float64(r.P99))
		}
		last := rep.Runs[n][len(rep.Runs[n])-1]
		d := func(v []float64) string { return time.Duration(median(v)).Round(time.Microsecond).String() }
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %.0f | %d/%d |\n", n, median(rps), d(p50), d(p90), d(p99), median(cpu), last.OK, last.Requests)
	}
	b.WriteString("\n| ratio | median | per repetition |\n|---|---:|---|\n")
	rn := make([]string, 0, len(rep.Ratios))
	for n := range rep.Ratios {
		rn = append(rn, n)
	}
	slices.Sort(rn)
	for _, n := range rn {
		var parts []string
		for _, v := range rep.Ratios[n] {
			parts = append(parts, fmt.Sprintf("%.2f", v))
		}
		fmt.Fprintf(&b, "| %s | %.2f | %s |\n", n, median(rep.Ratios[n]), strings.Join(parts, " "))
	}
	b.WriteString("\n| Kratos login loop | logins/s | step p50s |\n|---|---:|---|\n")
	for _, n := range []string{"kratos-login-plain", "kratos-login-gated"} {
		var ps []float64
		stepP50 := map[string][]float64{}
		for _, l := range rep.Loops[n] {
			ps = append(ps, l.PerSecond)
			for s, q := range l.Steps {
				stepP50[s] = append(stepP50[s], float64(q["p50"]))
			}
		}
		var parts []string
		for _, s := range []string{"flow", "submit", "submit1", "submit2", "total"} {
			if v, ok := stepP50[s]; ok {
				parts = append(parts, fmt.Sprintf("%s %s", s, time.Duration(median(v)).Round(time.Microsecond)))
			}
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s |\n", n, median(ps), strings.Join(parts, ", "))
	}
	b.WriteString("\n## Counts\n\n")
	cn := make([]string, 0, len(rep.Counts))
	for n := range rep.Counts {
		cn = append(cn, n)
	}
	slices.Sort(cn)
	for _, n := range cn {
		v, _ := json.Marshal(rep.Counts[n])
		fmt.Fprintf(&b, "- %s: `%s`\n", n, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s and summary.md:\n%s", filepath.Join(dir, "results.json"), b.String())
}
