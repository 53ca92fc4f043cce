package bench

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"regexp"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestFocus runs a few hook scenarios against one in-memory instance and the
// bare handler, for quick iteration with a CPU profile:
//
//	CALLPASS_FOCUS=. go test -count=1 -run TestFocus -v -cpuprofile cpu.out ./bench/
func TestFocus(t *testing.T) {
	pat := os.Getenv("CALLPASS_FOCUS")
	if pat == "" {
		t.Skip("set CALLPASS_FOCUS=<regexp of scenario names>")
	}
	only := regexp.MustCompile(pat)
	D := envDur("CALLPASS_BENCH_DURATION", 3*time.Second)
	W := envInt("CALLPASS_BENCH_WORKERS", 16)
	ctx := context.Background()
	bare, err := ServeBare(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mem := startInstance(t, "mem", listen(t), raisedLimits, nil)
	var wrong []vegeta.Target
	for _, p := range mem.startLogins(t, 1000) {
		h := p.Hook
		h.Code = wrongCode(h.Code)
		wrong = append(wrong, mem.hookTarget(h))
	}
	isMsg := func(id string) func([]byte) bool {
		needle := []byte(`"id":` + id + `,`)
		return func(b []byte) bool { return bytes.Contains(b, needle) }
	}
	run := func(sc Scenario) {
		if !only.MatchString(sc.Name) {
			return
		}
		sc.Workers, sc.Duration = W, D
		quiesce(t, []*instance{mem})
		var r0, r1 syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
		res, err := Run(ctx, sc)
		if err != nil {
			t.Fatal(err)
		}
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
		cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
		t.Logf("%s  cpu/req %.1fµs (user %.1f)", res, float64(cpu.Microseconds())/float64(res.Requests),
			float64((r1.Utime.Nano()-r0.Utime.Nano())/1000)/float64(res.Requests))
	}
	run(Scenario{Name: "bare", Expect: 200, Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: bare + "/bare"}})})
	run(Scenario{Name: "bare-post", Expect: 200, Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodPost, URL: bare + "/bare", Body: wrong[0].Body, Header: hookHeader}})})
	run(Scenario{Name: "reject-wrong-code", Expect: 400, Check: isMsg("4090001"), Targeter: RoundRobin(wrong)})
	if only.MatchString("gate-start") {
		starts := make([]vegeta.Target, 30000)
		for i := range starts {
			starts[i] = mem.hookTarget(newLoginHook())
		}
		run(Scenario{Name: "gate-start", Expect: 400, Check: isMsg("1090001"), Targeter: NewPool(starts).Targeter()})
	}
	if only.MatchString("hook-verify") {
		var vt []vegeta.Target
		for _, p := range mem.startLogins(t, 20000) {
			vt = append(vt, mem.hookTarget(p.Hook))
		}
		run(Scenario{Name: "hook-verify", Expect: 200, Targeter: NewPool(vt).Targeter()})
	}
	if only.MatchString("stepup") {
		k := testenv.StartKratos(t, testenv.KratosOptions{Config: map[string]any{"log": map[string]any{"level": "warning"}}})
		n := envInt("CALLPASS_FOCUS_SESSIONS", 1000)
		t0 := time.Now()
		users := createUsers(t, k, "f", (n+4)/5)
		sessions := loginSessions(t, k, users, 5)[:n]
		t.Logf("%d sessions in %s", n, time.Since(t0))
		cached := startInstance(t, "cached", listen(t), append([]string{"KRATOS_PUBLIC_URL=" + k.PublicURL, "KRATOS_ADMIN_URL=" + k.AdminURL, "KRATOS_SESSION_CACHE_TTL=60s"}, raisedLimits...), nil)
		ps := cached.startStepUps(t, sessions)
		var vt []vegeta.Target
		for _, p := range ps {
			vt = append(vt, cached.verifyTarget(p, p.Code))
		}
		run(Scenario{Name: "bare-post-small", Expect: 200, Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodPost, URL: bare + "/bare", Body: vt[0].Body, Header: vt[0].Header}})})
		run(Scenario{Name: "stepup-verify-cached", Expect: 200, Targeter: NewPool(vt).Targeter()})
	}
	run(Scenario{Name: "bare-end", Expect: 200, Targeter: RoundRobin([]vegeta.Target{{Method: http.MethodGet, URL: bare + "/bare"}})})
}
