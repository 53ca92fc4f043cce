package factor_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestStepUpFollowedVerifyCountedOnce: a code posted for a dead step-up
// challenge (replaced by another tab's call, expired, or verified) is tried
// once against the session's current challenge, and
// callpass_verifications_total counts that one posted code once, under the
// answer the user gets: not "expired" or "used" for the dead challenge and
// then the real outcome again (which made every such code two
// verifications, and a right one an expired code on the dashboard).
func TestStepUpFollowedVerifyCountedOnce(t *testing.T) {
	type setup struct {
		resend  bool // a second call replaces the first (tab B)
		confirm bool // the first challenge is confirmed first (tab B)
		expire  bool // wait until the challenges expired
	}
	tests := []struct {
		name  string
		setup setup
		code  string // "first", "second" or digits
		want  string // the one outcome counted
	}{
		{"replaced id, newest code", setup{resend: true}, "second", "verified"},
		{"replaced id, wrong code", setup{resend: true}, "9999", "wrong"},
		{"replaced id, the replaced call's code", setup{resend: true}, "first", "wrong"},
		{"confirmed id, newer call's code", setup{confirm: true, resend: true}, "second", "verified"},
		{"confirmed id, no newer call", setup{confirm: true}, "first", "used"},
		{"expired id, no newer call", setup{expire: true}, "first", "expired"},
		{"replaced id, newest expired too", setup{resend: true, expire: true}, "second", "expired"},
	}
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			var redisAddr string
			if store == "redis" {
				redisAddr = testenv.StartRedis(t).Addr
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					ctx := context.Background()
					prov := &seqProvider{}
					m := metrics.New()
					f, sessions := newObservedStepUpFactor(t, prov, m, redisAddr)
					sessions.s = stepUpSession(time.Now())
					creds := factor.Creds{SessionToken: "t"}
					a, err := f.StepUpStart(ctx, creds, false, "")
					if err != nil {
						t.Fatal(err)
					}
					if tt.setup.confirm {
						if _, err := f.StepUpVerify(ctx, creds, a.ID, prov.code(1), factor.TokenOptions{}); err != nil {
							t.Fatal(err)
						}
					}
					if tt.setup.resend {
						time.Sleep(5 * time.Millisecond) // past the first cooldown
						b, err := f.StepUpStart(ctx, creds, true, "")
						if err != nil || !b.Placed {
							t.Fatalf("second call: %+v, %v", b, err)
						}
					}
					if tt.setup.expire {
						time.Sleep(1100 * time.Millisecond)
					}
					before := verifications(t, m)
					code := tt.code
					switch code {
					case "first":
						code = prov.code(1)
					case "second":
						code = prov.code(2)
					}
					_, _ = f.StepUpVerify(ctx, creds, a.ID, code, factor.TokenOptions{})
					after := verifications(t, m)
					for outcome, n := range after {
						want := 0.0
						if outcome == tt.want {
							want = 1
						}
						if got := n - before[outcome]; got != want {
							t.Errorf(`callpass_verifications_total{outcome=%q} grew by %v, want %v (one posted code, counted as %s)`, outcome, got, want, tt.want)
						}
					}
				})
			}
		})
	}
}

// verifications reads callpass_verifications_total by outcome from the
// service's registry, as a scrape would.
func verifications(t *testing.T, m *metrics.Metrics) map[string]float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "callpass_verifications_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "outcome" {
					out[l.GetValue()] = s.GetCounter().GetValue()
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("no callpass_verifications_total series")
	}
	return out
}

// newObservedStepUpFactor is newStepUpFactor with the service's metrics as
// the challenge observer, on the memory store or (redisAddr set) a real
// Redis; codes live 1 s, and the first new call is allowed at once.
func newObservedStepUpFactor(t *testing.T, prov challenge.Provider, m *metrics.Metrics, redisAddr string) (*factor.Service, *countingSessions) {
	t.Helper()
	kind := "memory"
	if redisAddr != "" {
		kind = "redis"
	}
	sessions := &countingSessions{}
	f, _ := wire(t, wiring{store: storeOn(t, kind, redisAddr, "cp:"+t.Name()+":", 0), prov: prov, obs: m,
		tune: func(cfg *challenge.Config) {
			cfg.TTL = time.Second
			cfg.ResendCooldowns = []time.Duration{time.Millisecond, time.Hour}
		},
		deps: factor.Deps{Sessions: sessions, Issuer: testIssuer(t)}})
	return f, sessions
}

// TestStepUpFollowedVerifyKeepsTheAttemptBound: many wrong codes posted at
// once through a replaced challenge's id, each followed to the session's
// current challenge, get no more guesses evaluated than the current one's
// max_attempts (the replaced one counts none), and every posted code is one
// verification: max_attempts failed (wrong, then the locking one), the rest
// tries on a locked challenge, none "expired".
func TestStepUpFollowedVerifyKeepsTheAttemptBound(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			var redisAddr string
			if store == "redis" {
				redisAddr = testenv.StartRedis(t).Addr
			}
			ctx := context.Background()
			prov := &seqProvider{}
			m := metrics.New()
			f, sessions := newObservedStepUpFactor(t, prov, m, redisAddr)
			sessions.s = stepUpSession(time.Now())
			creds := factor.Creds{SessionToken: "t"}
			a, err := f.StepUpStart(ctx, creds, false, "")
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond)
			b, err := f.StepUpStart(ctx, creds, true, "")
			if err != nil || !b.Placed {
				t.Fatalf("second call: %+v, %v", b, err)
			}
			before := verifications(t, m)
			const posts = 20
			var wg sync.WaitGroup
			for i := range posts {
				wg.Go(func() {
					_, _ = f.StepUpVerify(ctx, creds, a.ID, fmt.Sprint(9000+i), factor.TokenOptions{})
				})
			}
			wg.Wait()
			after := verifications(t, m)
			grew := func(o string) float64 { return after[o] - before[o] }
			if failed := grew("wrong") + grew("locked"); failed != float64(b.AttemptsLeft) {
				t.Errorf("%v failed codes evaluated, want the current challenge's %d attempts", failed, b.AttemptsLeft)
			}
			if n := grew("wrong") + grew("locked") + grew("exhausted"); n != posts || grew("expired") != 0 {
				t.Errorf("%v codes counted (wrong %v, locked %v, exhausted %v) and %v expired; want each of the %d posted once, none expired",
					n, grew("wrong"), grew("locked"), grew("exhausted"), grew("expired"), posts)
			}
			cur, err := f.StepUpGet(ctx, creds, b.ID)
			if err != nil || cur.State != string(challenge.StateLocked) {
				t.Fatalf("current challenge after: %+v, %v; want locked", cur, err)
			}
		})
	}
}
