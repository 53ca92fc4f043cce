package monitoring_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
)

// The alert rules are unit-tested with `promtool test rules` on series the
// real service exported: each scenario drives an in-process instance
// through a situation (healthy logins, a failing provider, code guessing,
// ...) and scrapes /metrics after every step. Scrape i becomes the sample at
// i × interval: the values and label sets are the service's own, only the
// time between scrapes is synthetic (a scenario of 20 "minutes" runs in a
// second). A renamed metric or label, or a label value the service never
// records, leaves an alert silent and fails its scenario; so does an alert
// that fires in normal operation.

// step is one phase of a scenario: traffic runs n times, each followed by a
// scrape.
type step struct {
	n       int
	traffic func(s *service, r *testenv.Redis)
}

// check says which alerts of alerts.yml fire (state firing, not pending) at
// scrape at (eval time at × interval): exactly these, every other rule is
// checked to be silent.
type check struct {
	at     int
	firing []string
}

type scenario struct {
	name string
	env  []string
	// redis runs the Redis store on a redis-server of its own (passed to
	// traffic, which may stop it).
	redis bool
	// kratos points the service at a real Kratos through links the
	// traffic may break (service.public, service.admin).
	kratos bool
	// interval is the synthetic time between scrapes (and rule
	// evaluations). Default 1m.
	interval time.Duration
	// offPhase evaluates the rules half an interval after each scrape, not
	// at its instant: in a real Prometheus scrapes and rule evaluations run
	// on timers of their own, so a range as long as the scrape interval
	// holds one sample, not the two an evaluation at a scrape's instant
	// sees. Check at is then the evaluation after scrape at.
	offPhase bool
	// sim is the simulated CallPass's timing (default: answers at once).
	sim simTiming
	// budget replaces the daily budget written into alerts.yml (10000,
	// "yours to set") for a scenario that runs with a small
	// LIMITS_GLOBAL_DAILY_LIMIT.
	budget int
	steps  []step
	checks []check
}

// times runs f n times.
func times(n int, f func()) {
	for range n {
		f()
	}
}

var alertScenarios = []scenario{
	{
		// Normal operation: every call is placed and every user types the
		// right code. No alert may fire.
		name:   "healthy",
		steps:  []step{{30, func(s *service, _ *testenv.Redis) { times(2, s.login) }}},
		checks: []check{{at: 10}, {at: 20}, {at: 30}},
	},
	{
		// A week of steady traffic (one login an hour, scrapes an hour
		// apart), then 40 calls an hour. CallPassCallSurge stays silent
		// through the first week (no baseline yet: a fresh deployment's
		// traffic is no surge) and fires one evaluation (1h > for: 15m)
		// after the first hour of the surge.
		name:     "call surge after a week",
		interval: time.Hour,
		steps: []step{
			{170, func(s *service, _ *testenv.Redis) { s.login() }},
			{3, func(s *service, _ *testenv.Redis) { times(40, s.login) }},
		},
		checks: []check{
			{at: 24}, {at: 100}, {at: 170}, {at: 171},
			{at: 172, firing: []string{"CallPassCallSurge"}},
			{at: 173, firing: []string{"CallPassCallSurge"}},
		},
	},
	{
		// Half of the starts get HTTP 500 from CallPass. The failure share
		// (over 10m) passes 20% within a scrape of the first failures, then
		// `for: 5m`.
		// The failed starts are 5xx refusals (4090009 counted under 503), so
		// CallPassServerErrors (> 5% for 5m) fires with it: both are right.
		name: "provider fails half of the calls",
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{12, func(s *service, _ *testenv.Redis) { times(2, s.login); times(2, s.failedCall) }},
		},
		checks: []check{
			{at: 5},
			{at: 11},
			{at: 12, firing: []string{"CallPassProviderFailing", "CallPassServerErrors"}},
			{at: 17, firing: []string{"CallPassProviderFailing", "CallPassServerErrors"}},
		},
	},
	{
		// A quiet night: one login every 2 minutes, and CallPass fails
		// every call. CallPassProviderFailing asks for more than 0.01 calls
		// a second (so one stray failure at night pages no one) and stays
		// silent; every request of the service fails, so
		// CallPassServerErrors (a warning) fires after its `for: 5m`.
		name:     "provider fails on a quiet night",
		interval: 2 * time.Minute,
		steps:    []step{{12, func(s *service, _ *testenv.Redis) { s.failedCall() }}},
		checks: []check{
			{at: 4},
			{at: 5, firing: []string{"CallPassServerErrors"}},
			{at: 12, firing: []string{"CallPassServerErrors"}},
		},
	},
	{
		// Synchronous starts (the final status comes with the answer, so
		// each scrape holds it): two users a minute log in, and two a
		// minute have a phone CallPass cannot reach. Half of the calls
		// with a final status never rang: the share over 30m (which still
		// holds the first three minutes' calls) passes 30% at the fourth
		// minute of it (7), then `for: 15m` → 22.
		name: "calls do not reach the phones",
		env:  []string{"CALLPASS_ASYNC=false", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"},
		steps: []step{
			{3, func(s *service, _ *testenv.Redis) { times(3, s.login) }},
			{26, func(s *service, _ *testenv.Redis) { times(2, s.login); times(2, s.unreachable) }},
		},
		checks: []check{
			{at: 3},
			{at: 21},
			{at: 22, firing: []string{"CallPassCallsNotRinging"}},
			{at: 29, firing: []string{"CallPassCallsNotRinging"}},
		},
	},
	{
		// Synchronous starts (async: false) of calls that last 6 s: each
		// start waits for its call to end, by design, and every p95 of
		// start requests is above 5 s. Two logins every 5 minutes, all
		// healthy: no alert, CallPassProviderSlow included (it fired from
		// its `for: 10m`, scrape 3, on every such deployment).
		name:     "synchronous starts last as long as the call",
		env:      []string{"CALLPASS_ASYNC=false", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"},
		sim:      simTiming{settle: 6 * time.Second},
		interval: 5 * time.Minute,
		steps:    []step{{5, func(s *service, _ *testenv.Redis) { s.login() }}},
		checks:   []check{{at: 1}, {at: 3}, {at: 4}, {at: 5}},
	},
	{
		// The same with API v1, synchronous whatever callpass.async says.
		name:     "synchronous starts of API v1",
		env:      []string{"CALLPASS_API_VERSION=1", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"},
		sim:      simTiming{settle: 6 * time.Second},
		interval: 5 * time.Minute,
		steps:    []step{{4, func(s *service, _ *testenv.Redis) { s.login() }}},
		checks:   []check{{at: 1}, {at: 3}, {at: 4}},
	},
	{
		// Asynchronous starts (the default) that CallPass answers only
		// after 6 s: the p95 of start requests passes 5 s, and the calls
		// are polled; pending from scrape 2, then `for: 10m` → 4.
		name:     "provider slow to answer asynchronous starts",
		sim:      simTiming{startDelay: 6 * time.Second},
		interval: 5 * time.Minute,
		steps:    []step{{5, func(s *service, _ *testenv.Redis) { s.login() }}},
		checks: []check{
			{at: 3},
			{at: 4, firing: []string{"CallPassProviderSlow"}},
			{at: 5, firing: []string{"CallPassProviderSlow"}},
		},
	},
	{
		// A quiet night: one login every 15 minutes, and one user's phone
		// is off. One call in two within the 30-minute window did not ring,
		// but that is one user's phone, not the provider: no alert.
		name:     "one phone off on a quiet night",
		env:      []string{"CALLPASS_ASYNC=false", "CALLPASS_TIMEOUT=20s", "SERVE_SHUTDOWN_TIMEOUT=25s"},
		interval: 15 * time.Minute,
		steps: []step{
			{4, func(s *service, _ *testenv.Redis) { s.login() }},
			{1, func(s *service, _ *testenv.Redis) { s.unreachable() }},
			{6, func(s *service, _ *testenv.Redis) { s.login() }},
		},
		checks: []check{{at: 4}, {at: 5}, {at: 6}, {at: 7}, {at: 8}, {at: 11}},
	},
	{
		// The same night in Kubernetes: the liveness and readiness probes
		// (periodSeconds 10, the default) ask every 10 s, besides the
		// scrapes. Every user request still fails, and the warning must
		// still fire: probes and scrapes are no users' requests. The
		// readiness check asks Kratos, a real one here (--dev without one:
		// see "--dev without Kratos, probed").
		name:     "provider fails on a quiet night, probed",
		kratos:   true,
		interval: 2 * time.Minute,
		steps: []step{{12, func(s *service, _ *testenv.Redis) {
			s.failedCall()
			times(12, func() { s.get("/health/alive"); s.get("/health/ready") })
		}}},
		checks: []check{
			{at: 4},
			{at: 5, firing: []string{"CallPassServerErrors"}},
			{at: 12, firing: []string{"CallPassServerErrors"}},
		},
	},
	{
		// No traffic at all for over a week (a fresh deployment nobody uses
		// yet, scrapes an hour apart): the shares have nothing to divide,
		// and no alert may fire, CallPassCallSurge included once a week of
		// history exists.
		name:     "idle for a week",
		interval: time.Hour,
		steps:    []step{{175, func(*service, *testenv.Redis) {}}},
		checks:   []check{{at: 1}, {at: 24}, {at: 168}, {at: 169}, {at: 175}},
	},
	{
		// Normal operation with a restart every 7 minutes (a deploy, a
		// crash loop): every counter starts again from 0, which
		// rate() and increase() take for a reset, not a fall. No alert.
		name: "healthy, restarted",
		steps: []step{
			{7, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, _ *testenv.Redis) { s.restart(); times(2, s.login) }},
			{7, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, _ *testenv.Redis) { s.restart(); times(2, s.login) }},
			{14, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
		},
		checks: []check{{at: 7}, {at: 8}, {at: 9}, {at: 16}, {at: 17}, {at: 20}, {at: 30}},
	},
	{
		// The provider fails half of the calls and the service is restarted
		// while it does: the alerts keep firing across the reset.
		name: "provider fails half of the calls, restarted meanwhile",
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{8, func(s *service, _ *testenv.Redis) { times(2, s.login); times(2, s.failedCall) }},
			{1, func(s *service, _ *testenv.Redis) { s.restart(); times(2, s.login); times(2, s.failedCall) }},
			{6, func(s *service, _ *testenv.Redis) { times(2, s.login); times(2, s.failedCall) }},
		},
		checks: []check{
			{at: 5},
			{at: 12, firing: []string{"CallPassProviderFailing", "CallPassServerErrors"}},
			{at: 14, firing: []string{"CallPassProviderFailing", "CallPassServerErrors"}},
			{at: 20, firing: []string{"CallPassProviderFailing", "CallPassServerErrors"}},
		},
	},
	{
		// CallPass refuses the balance once; the service is restarted two
		// minutes later. The counter's fall from 1 to 0 is a reset, not
		// another refusal: the alert ends with its window, as without the
		// restart.
		name: "provider refuses the balance once, then a restart",
		steps: []step{
			{3, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, _ *testenv.Redis) { s.lowBalance(); times(2, s.login) }},
			{2, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, _ *testenv.Redis) { s.restart(); times(2, s.login) }},
			{6, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
		},
		checks: []check{
			{at: 3},
			{at: 4, firing: []string{"CallPassProviderRejectsCredentials"}},
			{at: 8, firing: []string{"CallPassProviderRejectsCredentials"}},
			{at: 9}, {at: 13},
		},
	},
	{
		// CallPass once answers that the balance is too low, then calls
		// are placed again: the refusal alone fires at once and for the 5
		// minutes of the window.
		name: "provider refuses the balance once",
		steps: []step{
			{3, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, _ *testenv.Redis) { s.lowBalance(); times(2, s.login) }},
			{6, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
		},
		checks: []check{
			{at: 3},
			{at: 4, firing: []string{"CallPassProviderRejectsCredentials"}},
			{at: 8, firing: []string{"CallPassProviderRejectsCredentials"}},
			{at: 9},
		},
	},
	{
		// Guessing: four users a minute enter three wrong codes each (the
		// third locks the challenge) while two users a minute log in
		// normally. 12 failed codes a minute (0.2/s) against 2 verified
		// (2 × 0.033 + 0.05 = 0.117/s): fires after `for: 10m`.
		// rate() over 10m divides by the whole 10 minutes, so the estimate
		// passes the threshold after six minutes of guessing (scrape 11);
		// `for: 10m` → 21.
		name: "failed codes surge",
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{18, func(s *service, _ *testenv.Redis) {
				times(2, s.login)
				times(4, func() { s.guess(newUser(), 3) })
			}},
		},
		checks: []check{
			{at: 5},
			{at: 20},
			{at: 21, firing: []string{"CallPassFailedCodesSurge"}},
			{at: 23, firing: []string{"CallPassFailedCodesSurge"}},
		},
	},
	{
		// Three identities a minute are banned by regulation (the default
		// 3 locked challenges within 10 minutes: three flows, three wrong
		// codes each). The ban counter exists from the start, so every
		// ban counts: > 10 in 15 minutes fires at the fourth minute (12).
		name: "regulation bans",
		steps: []step{
			{2, func(s *service, _ *testenv.Redis) { s.login() }},
			{5, func(s *service, _ *testenv.Redis) {
				times(3, func() {
					u := newUser()
					for range 3 {
						s.guess(u.again(), 3)
					}
				})
			}},
		},
		checks: []check{
			{at: 2},
			{at: 5},
			{at: 6, firing: []string{"CallPassRegulationBans"}},
			{at: 7, firing: []string{"CallPassRegulationBans"}},
		},
	},
	{
		// A daily budget of 20 calls (LIMITS_GLOBAL_DAILY_LIMIT=20, and 20
		// written into the test's copy of CallPassBudgetApproaching).
		// Four calls a minute to 16 (the gauge at 0.8: not above), two
		// more (18 placed, 0.9: CallPassBudgetWindowHigh, and
		// CallPassBudgetApproaching's rolling count passes 16: the series
		// is exported at 0 from the start, so every call counts), two more
		// (20), then every start is refused by the budget:
		// CallPassBudgetExhausted from the first scrape of refusals.
		name:   "daily budget",
		env:    []string{"LIMITS_GLOBAL_DAILY_LIMIT=20"},
		budget: 20,
		steps: []step{
			{4, func(s *service, _ *testenv.Redis) { times(4, s.login) }},
			{2, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{3, func(s *service, _ *testenv.Redis) { times(2, s.refusedByBudget) }},
		},
		checks: []check{
			{at: 4},
			{at: 5, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching"}},
			{at: 6, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching"}},
			{at: 7, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching", "CallPassBudgetExhausted"}},
			{at: 9, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching", "CallPassBudgetExhausted"}},
		},
	},
	{
		// The budget refuses a few starts within one scrape interval and
		// then nobody tries again. Had callpass_limits_hit_total{kind="global"}
		// been created by those refusals, its first sample would already
		// hold them and increase() would see nothing (the alert never fired
		// before the service exported the series at 0 from the start).
		// It fires from that scrape (6) for the 10 minutes of its window.
		name:   "daily budget refuses one burst",
		env:    []string{"LIMITS_GLOBAL_DAILY_LIMIT=20"},
		budget: 20,
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(4, s.login) }},
			{1, func(s *service, _ *testenv.Redis) { times(3, s.refusedByBudget) }},
			{10, func(*service, *testenv.Redis) {}},
		},
		checks: []check{
			{at: 5, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching"}},
			{at: 6, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching", "CallPassBudgetExhausted"}},
			{at: 15, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching", "CallPassBudgetExhausted"}},
			{at: 16, firing: []string{"CallPassBudgetWindowHigh", "CallPassBudgetApproaching"}},
		},
	},
	{
		// Three hook calls a minute with a wrong secret, beside normal
		// logins: > 5 in 10 minutes from the second minute (6).
		name: "webhook with a wrong secret",
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login); times(3, s.probe) }},
		},
		checks: []check{
			{at: 5},
			{at: 6},
			{at: 7, firing: []string{"CallPassWebhookUnauthorized"}},
			{at: 10, firing: []string{"CallPassWebhookUnauthorized"}},
		},
	},
	{
		// One burst of eight wrong-secret calls, then quiet: seen because
		// the series was exported at 0 before the burst (a series created
		// by it would hide it from increase()). Fires for the 10 minutes
		// of the window, then stops.
		name: "webhook probed once",
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, _ *testenv.Redis) { times(2, s.login); times(8, s.probe) }},
			{11, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
		},
		checks: []check{
			{at: 5},
			{at: 6, firing: []string{"CallPassWebhookUnauthorized"}},
			{at: 15, firing: []string{"CallPassWebhookUnauthorized"}},
			{at: 16},
		},
	},
	{
		// A real Kratos, healthy: logins, two token exchanges a minute
		// (whoami on Kratos's public API) and the probes (its admin
		// API's readiness). No alert.
		name:   "healthy, with Kratos",
		kratos: true,
		steps: []step{{12, func(s *service, _ *testenv.Redis) {
			times(2, s.login)
			s.tokens(2, 0, kratosAnswered)
			times(6, func() { s.get("/health/alive"); s.get("/health/ready") })
		}}},
		checks: []check{{at: 4}, {at: 8}, {at: 12}},
	},
	{
		// --dev without Kratos, as the service allows (its readiness check
		// is optional there: /health/ready answers 200, kratos
		// "degraded"), probed as Kubernetes does: logins work, no alert.
		// The probes' checks of the Kratos that is not there were counted
		// result="error", and CallPassKratosErrors (critical) fired on a
		// healthy setup.
		name: "--dev without Kratos, probed",
		env:  []string{"KRATOS_PUBLIC_URL=http://127.0.0.1:1", "KRATOS_ADMIN_URL=http://127.0.0.1:1"},
		steps: []step{{12, func(s *service, _ *testenv.Redis) {
			times(2, s.login)
			times(6, func() { s.get("/health/alive"); s.get("/health/ready") })
		}}},
		checks: []check{{at: 4}, {at: 8}, {at: 12}},
	},
	{
		// Kratos cannot be reached (both APIs refuse): every token
		// exchange fails with 503, its session check counted
		// result="error" from scrape 6. The rate over 2m is above 0 from
		// then, `for: 3m` → 9. The 503s are a third of the requests:
		// CallPassServerErrors (> 5% for 5m) follows at 12.
		name:   "kratos down",
		kratos: true,
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login); s.tokens(2, 0, kratosAnswered) }},
			{8, func(s *service, _ *testenv.Redis) {
				s.public.set(linkDown)
				s.admin.set(linkDown)
				times(2, s.login)
				s.tokens(2, 0, kratosFailed)
			}},
		},
		checks: []check{
			{at: 5}, {at: 8},
			{at: 9, firing: []string{"CallPassKratosErrors"}},
			{at: 11, firing: []string{"CallPassKratosErrors"}},
			{at: 12, firing: []string{"CallPassKratosErrors", "CallPassServerErrors"}},
			{at: 13, firing: []string{"CallPassKratosErrors", "CallPassServerErrors"}},
		},
	},
	{
		// Kratos stalls (it takes connections and never answers), and the
		// apps asking for tokens give up after 1.5 s, before
		// kratos.timeout (5 s): their session checks end
		// result="canceled", no error, and their 499s are no 5xx. The
		// latency histogram holds the 1.5 s they waited: its p95 passes
		// 1 s from scrape 6, `for: 5m` → 11. Every request to Kratos
		// ends canceled from scrape 6, most of the 2-minute window's
		// from scrape 7: CallPassKratosStalled, `for: 5m` → 12.
		// CallPassKratosErrors stays silent: a caller's hang-up is no
		// Kratos failure by itself.
		name:   "kratos hangs, callers give up first",
		kratos: true,
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login); s.tokens(2, 0, kratosAnswered) }},
			{8, func(s *service, _ *testenv.Redis) {
				s.public.set(linkHung)
				times(2, s.login)
				s.tokens(2, 1500*time.Millisecond, callerGaveUp)
			}},
		},
		checks: []check{
			{at: 5}, {at: 10},
			{at: 11, firing: []string{"CallPassKratosSlow"}},
			{at: 12, firing: []string{"CallPassKratosSlow", "CallPassKratosStalled"}},
			{at: 13, firing: []string{"CallPassKratosSlow", "CallPassKratosStalled"}},
		},
	},
	{
		// The same with apps that give up after 0.5 s: the p95 of the
		// time waited stays under CallPassKratosSlow's 1 s, and no alert
		// fired while Kratos answered nothing. CallPassKratosStalled
		// does, whatever the callers' timeout: pending from scrape 7,
		// `for: 5m` → 12.
		name:   "kratos hangs, callers give up within 0.5 s",
		kratos: true,
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login); s.tokens(2, 0, kratosAnswered) }},
			{8, func(s *service, _ *testenv.Redis) {
				s.public.set(linkHung)
				times(2, s.login)
				s.tokens(2, 500*time.Millisecond, callerGaveUp)
			}},
		},
		checks: []check{
			{at: 5}, {at: 11},
			{at: 12, firing: []string{"CallPassKratosStalled"}},
			{at: 13, firing: []string{"CallPassKratosStalled"}},
		},
	},
	{
		// Kratos stalls for one minute, then answers again: the exchanges
		// of that minute end canceled, all of Kratos's requests for as
		// long as the 2-minute window holds them, shorter than
		// CallPassKratosStalled's `for: 5m`. No alert.
		name:   "kratos stalls for a minute",
		kratos: true,
		steps: []step{
			{5, func(s *service, _ *testenv.Redis) { times(2, s.login); s.tokens(2, 0, kratosAnswered) }},
			{1, func(s *service, _ *testenv.Redis) {
				s.public.set(linkHung)
				times(2, s.login)
				s.tokens(2, 500*time.Millisecond, callerGaveUp)
			}},
			{8, func(s *service, _ *testenv.Redis) {
				s.public.set(linkUp)
				times(2, s.login)
				s.tokens(2, 0, kratosAnswered)
			}},
		},
		checks: []check{{at: 5}, {at: 6}, {at: 7}, {at: 8}, {at: 9}, {at: 10}, {at: 11}, {at: 14}},
	},
	{
		// Redis stops, scraped every minute (Prometheus's default
		// scrape_interval and evaluation_interval), the rules evaluated
		// between scrapes as they are in a real Prometheus: every login
		// fails closed with 4090010, errors every minute. A rate over a
		// 1-minute window saw one sample and no rate: the critical alert
		// never fired however long Redis was down.
		name:     "redis down, scraped every minute",
		redis:    true,
		offPhase: true,
		steps: []step{
			{4, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, r *testenv.Redis) { r.Stop(); times(2, s.storeDown) }},
			{8, func(s *service, _ *testenv.Redis) { times(2, s.storeDown) }},
		},
		checks: []check{
			{at: 4},
			{at: 12, firing: []string{"CallPassStoreErrors", "CallPassServerErrors"}},
		},
	},
	{
		// Redis stops: every login fails closed with 4090010. Scrapes 15 s
		// apart. Errors from scrape 9 on: `for: 3m` (12 scrapes) → 21.
		name:     "redis down",
		redis:    true,
		interval: 15 * time.Second,
		steps: []step{
			{8, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, r *testenv.Redis) { r.Stop(); times(2, s.storeDown) }},
			{13, func(s *service, _ *testenv.Redis) { times(2, s.storeDown) }},
		},
		checks: []check{
			{at: 8},
			{at: 12},
			{at: 20},
			{at: 21, firing: []string{"CallPassStoreErrors"}},
		},
	},
	{
		// Redis is away for one scrape (a restart): two logins fail closed,
		// then logins work again. A blip, not an outage: no page.
		name:     "redis blip",
		redis:    true,
		interval: 15 * time.Second,
		steps: []step{
			{8, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
			{1, func(s *service, r *testenv.Redis) { r.Stop(); times(2, s.storeDown); r.Start() }},
			{20, func(s *service, _ *testenv.Redis) { times(2, s.login) }},
		},
		checks: []check{{at: 8}, {at: 9}, {at: 12}, {at: 16}, {at: 20}, {at: 24}, {at: 29}},
	},
}

// refusedByBudget is a login start: the call is placed while the budget
// lasts (and the login completed), refused with 4090004 once it is spent.
func (s *service) refusedByBudget() {
	s.t.Helper()
	u := newUser()
	switch st, id := s.hook(u, "", hookSecret); id {
	case msgCalling:
		if st, id := s.hook(u, s.code(u), hookSecret); st != 200 {
			s.t.Fatalf("login hook with the right code: %d, message %d", st, id)
		}
	case msgLimit:
	default:
		s.t.Fatalf("login hook start: %d, message %d, want %d or %d", st, id, msgCalling, msgLimit)
	}
}

// get requests path (a probe) and fails the test unless it answers 200.
func (s *service) get(path string) {
	s.t.Helper()
	resp, err := s.client.Get(s.url + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
}

// unreachable is a login start to a phone that is off: CallPass places
// the call, which never rings (final status not delivered).
func (s *service) unreachable() {
	s.t.Helper()
	u := newUser()
	s.sim.Script(strings.TrimPrefix(u.phone, "+"), sim.OutcomeUnreachable)
	if st, id := s.hook(u, "", hookSecret); id == 0 {
		s.t.Fatalf("login hook start to an unreachable phone: %d, no message", st)
	}
}

// lowBalance is a login start that CallPass refuses for the account's
// balance: no call, 4090009.
func (s *service) lowBalance() {
	s.t.Helper()
	u := newUser()
	s.sim.Script(strings.TrimPrefix(u.phone, "+"), sim.OutcomeLowBalance)
	s.start(u, msgNoCall)
}

// storeDown is a login start while the store is down: 4090010.
func (s *service) storeDown() {
	s.t.Helper()
	s.start(newUser(), msgUnavailable)
}

// promDur writes d as a Prometheus duration.
func promDur(d time.Duration) string { return fmt.Sprintf("%ds", int(d/time.Second)) }

func TestAlertsFireOnServiceSeries(t *testing.T) {
	doc := readAlerts(t)
	rules := map[string]alertRule{}
	var names []string
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			rules[r.Alert] = r
			names = append(names, r.Alert)
		}
	}
	sort.Strings(names)
	rawRules, err := os.ReadFile("alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	// Every alert the issue names (and those fixed after these tests) is
	// driven to fire by some scenario.
	driven := map[string]bool{}
	for _, sc := range alertScenarios {
		for _, c := range sc.checks {
			for _, a := range c.firing {
				if _, ok := rules[a]; !ok {
					t.Fatalf("%s: no alert %s in alerts.yml", sc.name, a)
				}
				driven[a] = true
			}
		}
	}
	for _, a := range []string{"CallPassProviderFailing", "CallPassFailedCodesSurge", "CallPassBudgetApproaching",
		"CallPassBudgetWindowHigh", "CallPassBudgetExhausted", "CallPassRegulationBans",
		"CallPassWebhookUnauthorized", "CallPassStoreErrors", "CallPassProviderRejectsCredentials", "CallPassCallSurge",
		"CallPassCallsNotRinging", "CallPassProviderSlow", "CallPassKratosErrors", "CallPassKratosSlow",
		"CallPassKratosStalled"} {
		if !driven[a] {
			t.Errorf("no scenario makes %s fire", a)
		}
	}

	k := startKratos(t, alertScenarios)
	for _, sc := range alertScenarios {
		t.Run(sc.name, func(t *testing.T) {
			interval := sc.interval
			if interval == 0 {
				interval = time.Minute
			}
			env := sc.env
			var r *testenv.Redis
			if sc.redis {
				r = testenv.StartRedis(t)
				env = append(env, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://"+r.Addr+"/0")
			}
			var public, admin *kratosLink
			var session string
			if sc.kratos {
				var kenv []string
				kenv, public, admin, session = kratosEnv(t, k)
				env = append(env, kenv...)
			}
			s := startServiceWith(t, env, sc.sim)
			s.public, s.admin, s.session = public, admin, session
			// The first scrape is the fresh instance, before any traffic.
			scrapes := []map[string]string{s.scrape()}
			for _, st := range sc.steps {
				for range st.n {
					st.traffic(s, r)
					scrapes = append(scrapes, s.scrape())
				}
			}

			dir := t.TempDir()
			rulesFile := filepath.Join(dir, "alerts.yml")
			body := string(rawRules)
			if sc.budget != 0 {
				const budgetExpr = "> 0.8 * 10000"
				if !strings.Contains(body, budgetExpr) {
					t.Fatalf("alerts.yml: no %q to set the scenario's budget in", budgetExpr)
				}
				body = strings.ReplaceAll(body, budgetExpr, fmt.Sprintf("> 0.8 * %d", sc.budget))
			}
			if err := os.WriteFile(rulesFile, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}

			// Sample i at i × interval; off phase, at (i + ½) × interval
			// with evaluations at whole intervals.
			series, sampleEvery, evalAt := inputSeries(scrapes), interval, func(at int) time.Duration {
				return time.Duration(at) * interval
			}
			if sc.offPhase {
				sampleEvery = interval / 2
				for _, in := range series {
					in["values"] = "_ " + strings.ReplaceAll(in["values"], " ", " _ ")
				}
				evalAt = func(at int) time.Duration { return time.Duration(at+1) * interval }
			}
			var tests []map[string]any
			for _, c := range sc.checks {
				if c.at >= len(scrapes) {
					t.Fatalf("check at scrape %d, but the scenario has %d", c.at, len(scrapes))
				}
				firing := map[string]bool{}
				for _, a := range c.firing {
					firing[a] = true
				}
				for _, name := range names {
					exp := []map[string]any{}
					if firing[name] {
						exp = append(exp, map[string]any{
							"exp_labels":      rules[name].Labels,
							"exp_annotations": rules[name].Annotations,
						})
					}
					tests = append(tests, map[string]any{
						"eval_time":  promDur(evalAt(c.at)),
						"alertname":  name,
						"exp_alerts": exp,
					})
				}
			}
			test := map[string]any{
				"rule_files":          []string{rulesFile},
				"evaluation_interval": promDur(interval),
				"tests": []map[string]any{{
					"interval":        promDur(sampleEvery),
					"input_series":    series,
					"alert_rule_test": tests,
				}},
			}
			raw, err := yaml.Marshal(test)
			if err != nil {
				t.Fatal(err)
			}
			testFile := filepath.Join(dir, "test.yml")
			if err := os.WriteFile(testFile, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := promtool(t, dir, "test", "rules", "test.yml")
			if err != nil {
				t.Errorf("promtool test rules (%d scrapes, %s apart): %v\n%s\n--- test.yml (input series: the service's scrapes)\n%s",
					len(scrapes), interval, err, out, raw)
			}
		})
	}
}
