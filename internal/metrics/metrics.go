// Package metrics owns the service's Prometheus collectors. It is built on a
// registry handed in by the caller (no global registry), and implements the
// small observer interfaces that plugin packages declare, so those packages
// never import Prometheus.
package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

const namespace = "callpass"

// Metrics is the set of collectors. A nil *Metrics is valid and records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	providerCalls    *prometheus.CounterVec
	providerLatency  *prometheus.HistogramVec
	callsPlaced      *prometheus.CounterVec
	callStatus       *prometheus.CounterVec
	callUnpolled     *prometheus.CounterVec
	verifications    *prometheus.CounterVec
	limitsHit        *prometheus.CounterVec
	bans             prometheus.Counter
	storeOps         *prometheus.CounterVec
	storeLatency     *prometheus.HistogramVec
	kratosCalls      *prometheus.CounterVec
	kratosLatency    *prometheus.HistogramVec
	tokensIssued     *prometheus.CounterVec
	hookDecisions    *prometheus.CounterVec
	httpRequests     *prometheus.CounterVec
	httpLatency      *prometheus.HistogramVec
	dailyBudgetSpent prometheus.Gauge
	// budgetMu guards budget, the gauge's value, so a give-back never
	// takes it below 0 (takes may report their counts out of order).
	budgetMu sync.Mutex
	budget   float64

	// Memoized children of the per-request collectors.
	httpCounts  *children[httpKey, prometheus.Counter]
	httpTimes   *children[routeKey, prometheus.Observer]
	hookCounts  *children[[2]string, prometheus.Counter]
	verifyCount *children[string, prometheus.Counter]
	storeCounts *children[[2]string, prometheus.Counter]
	storeTimes  *children[string, prometheus.Observer]
}

// New creates the collectors on a fresh registry, with Go and process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	latency := []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 100}
	// A store operation takes well under a millisecond (a Redis round trip,
	// a Lua script; the memory store less), a stall up to the 1 s read
	// timeout or the 2 s dial timeout: with the buckets above, all of them
	// fell in le=0.005 and histogram_quantile read about 5 ms whatever the
	// store did.
	storeLatency := []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}
	// A CallPass start takes seconds (a synchronous one until the call
	// ends, up to its 25 s bound): fine steps there, 5 s for
	// CallPassProviderSlow.
	providerLatency := []float64{.025, .05, .1, .25, .5, 1, 2, 3, 5, 7.5, 10, 15, 20, 25, 30}
	// A session check on a Kratos next to the service takes 1-3 ms (all in
	// the HTTP latency's le=0.005), a few more with a remote database; a
	// request gives up at kratos.timeout, 5 s by default.
	kratosLatency := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	m := &Metrics{
		Registry: reg,
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "provider_requests_total",
			Help: "Requests to the flash-call provider by operation, API version and outcome: ok, or the failure (unavailable, bad_response, unauthorized, insufficient_balance, destination_not_allowed, invalid_request, not_found).",
		}, []string{"op", "version", "outcome"}),
		providerLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "provider_request_duration_seconds",
			Help: "Latency of provider requests.", Buckets: providerLatency,
		}, []string{"op", "version"}),
		callsPlaced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "calls_total",
			Help: "Call attempts that passed the limits and reached the provider, by provider and outcome: placed, or the failure (unavailable, bad_response, unauthorized, insufficient_balance, destination_not_allowed, invalid_request, call_not_found, error). Limit refusals are in callpass_limits_hit_total.",
		}, []string{"provider", "outcome"}),
		callStatus: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "call_final_status_total",
			Help: "Whether placed calls rang, once per call: rang (code delivered) or not_delivered as the final status (a synchronous start's answer, or learned by polling); pending or unknown when polling gave up before a final status. Calls whose status is never learned (an API v1 answer without a final result, or past the 1000 calls polled at once) are not counted.",
		}, []string{"provider", "class"}),
		callUnpolled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "call_status_unpolled_total",
			Help: "Asynchronous calls whose status was not polled because 1000 calls (a fixed limit) were being polled already.",
		}, []string{"provider"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "verifications_total",
			Help: "Code verifications by outcome.",
		}, []string{"outcome"}),
		limitsHit: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "limits_hit_total",
			Help: "Requests refused by an abuse limit, by kind (regulation: the request that caused a ban and every request refused while a ban runs).",
		}, []string{"kind"}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "regulation_bans_total",
			Help: "Identities banned by regulation (failed verifications), one per ban.",
		}),
		storeOps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "store_operations_total",
			Help: "Store operations by name and result: ok, error, or canceled (the client hung up before the store answered; no store failure).",
		}, []string{"op", "result"}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "store_operation_duration_seconds",
			Help: "Store operation latency.", Buckets: storeLatency,
		}, []string{"op"}),
		kratosCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "kratos_requests_total",
			Help: "Requests to Kratos by operation and result: ok; not_found (Kratos answered that the session does not exist or is not allowed, 401/403, or that the identity does not exist, 404); error (Kratos unreachable, 5xx, a 404 from whoami, or an unexpected answer); canceled (the client hung up before Kratos answered).",
		}, []string{"op", "result"}),
		kratosLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "kratos_request_duration_seconds",
			Help: "Latency of requests to Kratos, those whose client hung up first (result canceled) included with the time they waited.", Buckets: kratosLatency,
		}, []string{"op"}),
		tokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "tokens_issued_total",
			Help: "JWTs issued, by the path that issued them.",
		}, []string{"via"}),
		hookDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "hook_decisions_total",
			Help: "Kratos webhook answers by hook and decision.",
		}, []string{"hook", "decision"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "method", "code"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route.", Buckets: latency,
		}, []string{"route", "method"}),
		dailyBudgetSpent: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "calls_budget_used_ratio",
			Help: "Share of the global daily call budget used in the current window (0..1).",
		}),
	}
	reg.MustRegister(m.providerCalls, m.providerLatency, m.callsPlaced, m.callStatus, m.callUnpolled, m.verifications,
		m.limitsHit, m.bans, m.storeOps, m.storeLatency, m.kratosCalls, m.kratosLatency, m.tokensIssued,
		m.hookDecisions, m.httpRequests, m.httpLatency, m.dailyBudgetSpent)
	m.httpCounts = newChildren(func(k httpKey) prometheus.Counter {
		return m.httpRequests.WithLabelValues(k.route, k.method, strconv.Itoa(k.code))
	})
	m.httpTimes = newChildren(func(k routeKey) prometheus.Observer { return m.httpLatency.WithLabelValues(k.route, k.method) })
	m.hookCounts = newChildren(func(k [2]string) prometheus.Counter { return m.hookDecisions.WithLabelValues(k[0], k[1]) })
	m.verifyCount = newChildren(func(k string) prometheus.Counter { return m.verifications.WithLabelValues(k) })
	m.storeCounts = newChildren(func(k [2]string) prometheus.Counter { return m.storeOps.WithLabelValues(k[0], k[1]) })
	m.storeTimes = newChildren(func(k string) prometheus.Observer { return m.storeLatency.WithLabelValues(k) })
	m.initSeries()
	return m
}

// The fixed label values of the counters below, each series exported at 0
// from the start (Prometheus's advice for known label sets): increase() and
// rate() never count the sample that creates a series, so a counter first
// exported by its first event would hide a first burst from alerts and
// dashboards, and a query on a value not seen yet would show "no data"
// instead of 0. docs/operations.md lists every value (checked by
// examples/monitoring).
var (
	verifyOutcomes = []string{"verified", "wrong", "locked", "exhausted", "expired", "used", "not_found", "invalid", "blocked", "error"}
	limitKinds     = []string{"number", "identity", "ip", "global", "phone_check_budget", "regulation", "destination"}
	tokenVias      = []string{"stepup", "exchange"}
	hookNames      = []string{"login", "registration", "registered", "settings"}
	// Hook decisions besides refused_<error code>, which are many.
	hookDecisions = []string{"challenge", "allow", "unauthorized", "bad_request", "error", "canceled"}
	storeOps      = []string{"lookup", "get", "create", "verify", "update_call", "ping", "lease", "release",
		"take", "give_back", "ban", "record_failure", "retire", "restore", "spend"}
	kratosOps = []string{"whoami", "get_identity", "patch_identity", "ready"}
	// Of each provider (InitProvider).
	callOutcomes = []string{"placed", "unavailable", "bad_response", "unauthorized", "insufficient_balance",
		"destination_not_allowed", "invalid_request", "call_not_found", "error"}
	callClasses      = []string{"rang", "not_delivered", "pending", "unknown"}
	providerOutcomes = []string{"ok", "unavailable", "bad_response", "unauthorized", "insufficient_balance",
		"destination_not_allowed", "invalid_request", "not_found"}
)

// initSeries exports the provider-independent counters' series at 0.
func (m *Metrics) initSeries() {
	for _, o := range verifyOutcomes {
		m.verifyCount.get(o)
	}
	for _, k := range limitKinds {
		m.limitsHit.WithLabelValues(k)
	}
	for _, v := range tokenVias {
		m.tokensIssued.WithLabelValues(v)
	}
	for _, h := range hookNames {
		for _, d := range hookDecisions {
			m.hookCounts.get([2]string{h, d})
		}
	}
	for _, op := range storeOps {
		for _, r := range []string{"ok", "error", "canceled"} {
			m.storeCounts.get([2]string{op, r})
		}
	}
	for _, op := range kratosOps {
		for _, r := range []string{"ok", "not_found", "error", "canceled"} {
			m.kratosCalls.WithLabelValues(op, r)
		}
	}
}

// InitProvider exports at 0 the series of the provider the service calls,
// for the CallPass API version it uses (v1 has no status method).
func (m *Metrics) InitProvider(provider string, apiVersion int) {
	if m == nil {
		return
	}
	for _, o := range callOutcomes {
		m.callsPlaced.WithLabelValues(provider, o)
	}
	for _, c := range callClasses {
		m.callStatus.WithLabelValues(provider, c)
	}
	m.callUnpolled.WithLabelValues(provider)
	ops := []string{"start", "status"}
	if apiVersion == 1 {
		ops = ops[:1]
	}
	v := "v" + strconv.Itoa(apiVersion)
	for _, op := range ops {
		for _, o := range providerOutcomes {
			m.providerCalls.WithLabelValues(op, v, o)
		}
	}
}

// ObserveProviderCall records one provider request (callpass.Observer).
func (m *Metrics) ObserveProviderCall(op string, apiVersion int, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	v := "v" + strconv.Itoa(apiVersion)
	m.providerCalls.WithLabelValues(op, v, outcome).Inc()
	m.providerLatency.WithLabelValues(op, v).Observe(d.Seconds())
}

// ObserveCallPlaced records a call attempt's outcome.
func (m *Metrics) ObserveCallPlaced(provider, outcome string) {
	if m == nil {
		return
	}
	m.callsPlaced.WithLabelValues(provider, outcome).Inc()
}

// ObserveCallStatus records the status class of a call learned by polling:
// whether the phone rang (code delivered) or not.
func (m *Metrics) ObserveCallStatus(provider string, class flashcall.Class) {
	if m == nil {
		return
	}
	m.callStatus.WithLabelValues(provider, class.String()).Inc()
}

// ObserveCallUnpolled counts a call whose status was not polled (too many
// calls in flight), so the "did it ring" share leaves it out.
func (m *Metrics) ObserveCallUnpolled(provider string) {
	if m == nil {
		return
	}
	m.callUnpolled.WithLabelValues(provider).Inc()
}

// ObserveVerify records a verification outcome.
func (m *Metrics) ObserveVerify(outcome string) {
	if m == nil {
		return
	}
	m.verifyCount.get(outcome).Inc()
}

// ObserveLimit records a refusal by an abuse limit.
func (m *Metrics) ObserveLimit(kind string) {
	if m == nil {
		return
	}
	m.limitsHit.WithLabelValues(kind).Inc()
}

// ObserveBan counts a new regulation ban.
func (m *Metrics) ObserveBan() {
	if m == nil {
		return
	}
	m.bans.Inc()
}

// ObserveStore records one store operation.
func (m *Metrics) ObserveStore(op string, err error, d time.Duration) {
	if m == nil {
		return
	}
	m.storeCounts.get([2]string{op, result(err)}).Inc()
	m.storeTimes.get(op).Observe(d.Seconds())
}

// ObserveKratos records one request to Kratos.
func (m *Metrics) ObserveKratos(op string, err error, d time.Duration) {
	if m == nil {
		return
	}
	r := result(err)
	if op == "whoami" && errors.Is(err, kratos.ErrIdentityNotFound) {
		// Kratos answers a missing session with 401, never 404: a 404 here
		// is a wrong kratos.public_url, a failure to see.
		r = "error"
	}
	m.kratosCalls.WithLabelValues(op, r).Inc()
	m.kratosLatency.WithLabelValues(op).Observe(d.Seconds())
}

// ObserveTokenIssued counts an issued JWT.
func (m *Metrics) ObserveTokenIssued(via string) {
	if m == nil {
		return
	}
	m.tokensIssued.WithLabelValues(via).Inc()
}

// ObserveHook counts a webhook decision (interrupt, allow, error).
func (m *Metrics) ObserveHook(hook, decision string) {
	if m == nil {
		return
	}
	m.hookCounts.get([2]string{hook, decision}).Inc()
}

// ObserveHTTP records one served HTTP request. Methods outside the usual
// set are labelled "other" (a client picks the method; the label set must
// stay bounded).
func (m *Metrics) ObserveHTTP(route, method string, code int, d time.Duration) {
	if m == nil {
		return
	}
	switch method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS":
	default:
		method = "other"
	}
	m.httpCounts.get(httpKey{route, method, code}).Inc()
	m.httpTimes.get(routeKey{route, method}).Observe(d.Seconds())
}

type httpKey struct {
	route, method string
	code          int
}

type routeKey struct{ route, method string }

// children memoizes a vector's children by label values. WithLabelValues
// hashes the values and locks the vector on every call; these collectors
// are on every request's path and their label sets are small and fixed
// (routes, methods, status codes, outcomes).
type children[K comparable, M any] struct {
	mu       sync.RWMutex
	m        map[K]M
	newChild func(K) M
}

func newChildren[K comparable, M any](newChild func(K) M) *children[K, M] {
	return &children[K, M]{m: map[K]M{}, newChild: newChild}
}

func (c *children[K, M]) get(k K) M {
	c.mu.RLock()
	v, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return v
	}
	v = c.newChild(k)
	c.mu.Lock()
	c.m[k] = v
	c.mu.Unlock()
	return v
}

// SetBudgetUsed sets the share of the daily call budget already used.
func (m *Metrics) SetBudgetUsed(ratio float64) {
	if m == nil {
		return
	}
	m.budgetMu.Lock()
	defer m.budgetMu.Unlock()
	m.budget = ratio
	m.dailyBudgetSpent.Set(ratio)
}

// SubBudgetUsed lowers the share of the daily call budget used by ratio (a
// call given back), not below 0.
func (m *Metrics) SubBudgetUsed(ratio float64) {
	if m == nil {
		return
	}
	m.budgetMu.Lock()
	defer m.budgetMu.Unlock()
	m.budget = max(0, m.budget-ratio)
	m.dailyBudgetSpent.Set(m.budget)
}

func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, context.Canceled):
		// The client hung up (the request's context): no failure of the
		// store or Kratos, and a flood of aborted requests must not page
		// as one (CallPassStoreErrors). A deadline that passed is one.
		return "canceled"
	case errors.Is(err, errNotFoundMarker),
		// Kratos's answer about the caller's session or an identity, not
		// a failure of Kratos.
		errors.Is(err, kratos.ErrNoSession), errors.Is(err, kratos.ErrForbidden), errors.Is(err, kratos.ErrIdentityNotFound):
		return "not_found"
	default:
		return "error"
	}
}

// errNotFoundMarker lets callers label an expected miss without importing
// their error types here; see NotFound.
var errNotFoundMarker = errors.New("not found")

// NotFound wraps err so ObserveStore/ObserveKratos label it "not_found", not "error".
func NotFound(err error) error { return errors.Join(errNotFoundMarker, err) }
