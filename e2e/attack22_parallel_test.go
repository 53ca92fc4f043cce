package e2e_test

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// startRedisPair starts two instances sharing one Redis, one code key and
// one provider (the first instance's simulator), as two replicas would.
func startRedisPair(t *testing.T, extra ...string) [2]*service {
	t.Helper()
	rd := testenv.StartRedis(t)
	dataDir := t.TempDir()
	var out [2]*service
	var first string
	for i := range out {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := "http://" + ln.Addr().String()
		if i == 0 {
			first = base
		}
		k := "http://" + closedAddr(t)
		env := []string{
			"SERVE_LISTEN=" + ln.Addr().String(), "SERVE_BASE_URL=" + base,
			"KRATOS_PUBLIC_URL=" + k, "KRATOS_ADMIN_URL=" + k,
			"WEBHOOK_SECRET=" + webhookSecret, "DEV_DATA_DIR=" + dataDir,
			"SIM_SETTLE_DELAY=50ms", "LOG_LEVEL=warn", "JWT_ISSUER=" + first,
			"STORE_TYPE=redis", "STORE_REDIS_URL=redis://" + rd.Addr + "/0",
		}
		if i > 0 {
			env = append(env, "CALLPASS_BASE_URL="+first+"/", "SIM_ENABLED=false")
		}
		env = append(env, extra...)
		out[i] = startService(t, ln, env, i > 0, dataDir)
	}
	return out
}

// TestAttackParallelBruteForceStaysWithinTheBound: the sequential
// brute force of TestAttackBruteForceBoundedByLimits, sent at once: 32
// concurrent attackers spread 4,000 guesses over a dozen login flows of one
// identity, each guess with a start of its flow before it and every fifth
// with a resend (the number does not answer, so a resend is allowed at once:
// a fresh challenge with fresh attempts each time it gets through), from a
// fresh address each, on one instance with the memory store and on two
// instances sharing Redis. Whatever the interleaving, the failed guesses
// the service evaluates and the calls it places stay within the bound
// computed from the configuration.
func TestAttackParallelBruteForceStaysWithinTheBound(t *testing.T) {
	for _, store := range []string{"memory", "redis, two instances"} {
		t.Run(store, func(t *testing.T) {
			var svcs []*service
			if store == "memory" {
				svcs = []*service{startSolo(t, soloOptions{})}
			} else {
				p := startRedisPair(t)
				svcs = p[:]
			}
			cfg := svcs[0].App.Config
			maxChallenges, bound := guessBound(cfg)
			const dn = "79001230077"
			setSimScript(t, svcs[0].URL, dn, "unreachable")
			identity := newID()
			hcs := make([]*hookClient, len(svcs))
			for i, s := range svcs {
				hcs[i] = newHookClient(s.URL)
			}
			const nflows, workers, total = 12, 32, 4000
			var mu sync.Mutex
			flows := make([]string, nflows)
			for i := range flows {
				flows[i] = newID()
			}
			var successes atomic.Int64
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						g := int(next.Add(1) - 1)
						if g >= total {
							return
						}
						hc := hcs[g%len(hcs)]
						mu.Lock()
						f := flows[g%nflows]
						mu.Unlock()
						ip := fmt.Sprintf("198.51.%d.%d", (g/250)%250, g%250)
						call := hookCall{FlowID: f, IdentityID: identity, Phone: "+" + dn, ClientIP: ip, Resend: g%5 == 0}
						if _, err := hc.call(call); err != nil {
							t.Error(err)
							return
						}
						call.Resend, call.Code = false, fmt.Sprintf("%04d", g%10000)
						a, err := hc.call(call)
						if err != nil {
							t.Error(err)
							return
						}
						if a.Status == 200 {
							successes.Add(1)
						}
						switch a.ID {
						case msgWrongCode, msgBlocked, msgRateLimited:
						default: // verified, locked, expired: a new flow
							mu.Lock()
							flows[g%nflows] = newID()
							mu.Unlock()
						}
					}
				}()
			}
			wg.Wait()
			failed, verified := 0, 0
			for _, s := range svcs {
				for _, o := range []string{"wrong", "locked"} {
					failed += int(metricSum(t, s, "callpass_verifications_total", map[string]string{"outcome": o}))
				}
				verified += int(metricSum(t, s, "callpass_verifications_total", map[string]string{"outcome": "verified"}))
			}
			requests := simRequests(t, svcs[0].URL, dn)
			t.Logf("%s: %d failed and %d verified guesses evaluated, %d successes, %d provider requests; bound %d failed, %d calls",
				store, failed, verified, successes.Load(), requests, bound, maxChallenges)
			if failed > bound {
				t.Errorf("%d failed guesses were evaluated, the limits allow at most %d", failed, bound)
			}
			if failed+verified > bound+int(successes.Load()) {
				t.Errorf("%d guesses evaluated with %d successes, the limits allow %d+%d", failed+verified, successes.Load(), bound, successes.Load())
			}
			if requests > maxChallenges {
				t.Errorf("the provider got %d start requests, the limits allow %d", requests, maxChallenges)
			}
			if failed == 0 {
				t.Error("no guess was evaluated: the attack never reached the verifier")
			}
		})
	}
}
