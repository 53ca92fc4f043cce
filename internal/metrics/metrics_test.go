package metrics

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
)

func TestObservationsReachTheRegistry(t *testing.T) {
	m := New()
	m.ObserveProviderCall("start", 3, "ok", 20*time.Millisecond)
	m.ObserveProviderCall("start", 3, "unavailable", time.Second)
	m.ObserveCallPlaced("callpass", "placed")
	m.ObserveCallStatus("callpass", flashcall.ClassRang)
	m.ObserveCallUnpolled("callpass")
	m.ObserveVerify("wrong")
	m.ObserveLimit("number")
	m.ObserveStore("attempt", errors.New("down"), time.Millisecond)
	m.ObserveStore("get", NotFound(errors.New("x")), time.Millisecond)
	m.ObserveKratos("whoami", nil, time.Millisecond)
	m.ObserveKratos("whoami", &kratos.Error{Op: "whoami", StatusCode: 401, Kind: kratos.ErrNoSession}, time.Millisecond)
	m.ObserveKratos("get_identity", &kratos.Error{Op: "get identity", StatusCode: 404, Kind: kratos.ErrIdentityNotFound}, time.Millisecond)
	m.ObserveKratos("whoami", &kratos.Error{Op: "whoami", Kind: kratos.ErrUnavailable, Err: errors.New("refused")}, time.Millisecond)
	// whoami never answers 404 for a session: a wrong kratos.public_url.
	m.ObserveKratos("whoami", &kratos.Error{Op: "whoami", StatusCode: 404, Kind: kratos.ErrIdentityNotFound}, time.Millisecond)
	m.ObserveBan()
	m.ObserveTokenIssued("exchange")
	m.ObserveHook("login", "challenge")
	m.ObserveHTTP("/v1/token", "POST", 200, time.Millisecond)

	if got := testutil.ToFloat64(m.providerCalls.WithLabelValues("start", "v3", "unavailable")); got != 1 {
		t.Errorf("provider unavailable count = %v", got)
	}
	if got := testutil.ToFloat64(m.callStatus.WithLabelValues("callpass", "rang")); got != 1 {
		t.Errorf("call status rang = %v", got)
	}
	if got := testutil.ToFloat64(m.callUnpolled.WithLabelValues("callpass")); got != 1 {
		t.Errorf("calls unpolled = %v", got)
	}
	if got := testutil.ToFloat64(m.storeOps.WithLabelValues("get", "not_found")); got != 1 {
		t.Errorf("store not_found = %v", got)
	}
	if got := testutil.ToFloat64(m.storeOps.WithLabelValues("attempt", "error")); got != 1 {
		t.Errorf("store error = %v", got)
	}
	// A session or identity Kratos does not know is its answer, not a
	// Kratos failure; an unreachable Kratos is.
	for _, c := range []struct {
		op, result string
		want       float64
	}{{"whoami", "ok", 1}, {"whoami", "not_found", 1}, {"whoami", "error", 2}, {"get_identity", "not_found", 1}, {"get_identity", "error", 0}} {
		if got := testutil.ToFloat64(m.kratosCalls.WithLabelValues(c.op, c.result)); got != c.want {
			t.Errorf("kratos %s %s = %v, want %v", c.op, c.result, got, c.want)
		}
	}
	if got := testutil.ToFloat64(m.bans); got != 1 {
		t.Errorf("bans = %v", got)
	}
	n, err := testutil.GatherAndCount(m.Registry, "callpass_provider_request_duration_seconds")
	if err != nil || n != 1 {
		t.Errorf("latency histogram series = %d, %v", n, err)
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.GetName(), "callpass_") && !strings.HasPrefix(f.GetName(), "go_") && !strings.HasPrefix(f.GetName(), "process_") {
			t.Errorf("unexpected metric %s", f.GetName())
		}
	}
}

func TestNilMetricsIsSafe(t *testing.T) {
	var m *Metrics
	m.ObserveProviderCall("start", 1, "ok", 0)
	m.ObserveVerify("ok")
	m.ObserveHTTP("/", "GET", 200, 0)
	m.SetBudgetUsed(0.5)
	m.SubBudgetUsed(0.25)
}

// TestBudgetGaugeGiveBack: a give-back lowers the gauge by its share.
func TestBudgetGaugeGiveBack(t *testing.T) {
	m := New()
	gauge := func() float64 {
		t.Helper()
		fams, err := m.Registry.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fams {
			if f.GetName() == "callpass_calls_budget_used_ratio" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatal("no callpass_calls_budget_used_ratio")
		return 0
	}
	m.SetBudgetUsed(0.5)
	m.SubBudgetUsed(0.125)
	if got := gauge(); got != 0.375 {
		t.Fatalf("budget gauge %v, want 0.375", got)
	}
	// Takes may report out of order: give-backs never take it below 0.
	m.SetBudgetUsed(0.125)
	m.SubBudgetUsed(0.125)
	m.SubBudgetUsed(0.125)
	if got := gauge(); got != 0 {
		t.Fatalf("budget gauge %v after more give-backs than takes, want 0", got)
	}
}

// TestMemoizedChildrenCount: the per-request collectors go through the
// children cache; repeated and concurrent observations land on the same
// series, and an unusual HTTP method is labelled "other".
func TestMemoizedChildrenCount(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				m.ObserveHTTP("/hooks/kratos/login", "POST", 400, time.Millisecond)
				m.ObserveHook("login", "refused_wrong_code")
				m.ObserveVerify("wrong")
				m.ObserveStore("verify", nil, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	m.ObserveHTTP("unmatched", "BREW", 405, time.Millisecond)
	m.ObserveHTTP("unmatched", "brew2", 405, time.Millisecond)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"http", testutil.ToFloat64(m.httpRequests.WithLabelValues("/hooks/kratos/login", "POST", "400")), 800},
		{"hook", testutil.ToFloat64(m.hookDecisions.WithLabelValues("login", "refused_wrong_code")), 800},
		{"verify", testutil.ToFloat64(m.verifications.WithLabelValues("wrong")), 800},
		{"store", testutil.ToFloat64(m.storeOps.WithLabelValues("verify", "ok")), 800},
		{"other method", testutil.ToFloat64(m.httpRequests.WithLabelValues("unmatched", "other", "405")), 2},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if n, err := testutil.GatherAndCount(m.Registry, "callpass_store_operation_duration_seconds"); err != nil || n != 1 {
		t.Errorf("store latency series = %d, %v", n, err)
	}
}

// gatherAll returns every callpass_ family of a fresh Metrics with each
// vector given a child, by name.
func gatherAll(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	m := New()
	m.ObserveProviderCall("start", 3, "ok", time.Millisecond)
	m.ObserveCallPlaced("callpass", "placed")
	m.ObserveCallStatus("callpass", flashcall.ClassRang)
	m.ObserveCallUnpolled("callpass")
	m.ObserveVerify("verified")
	m.ObserveLimit("number")
	m.ObserveStore("get", nil, time.Millisecond)
	m.ObserveKratos("whoami", nil, time.Millisecond)
	m.ObserveBan()
	m.ObserveTokenIssued("exchange")
	m.ObserveHook("login", "allow")
	m.ObserveHTTP("/v1/token", "POST", 200, time.Millisecond)
	m.SetBudgetUsed(0.5)
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		if strings.HasPrefix(f.GetName(), "callpass_") {
			out[f.GetName()] = f
		}
	}
	return out
}

// operationsRows returns the metric table of docs/operations.md: metric
// name -> its whole row.
func operationsRows(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "| `callpass_"); ok {
			name, _, _ := strings.Cut(rest, "`")
			rows["callpass_"+name] = line
		}
	}
	return rows
}

// TestOperationsDocListsEveryMetric: docs/operations.md documents exactly
// the metrics the service exports.
func TestOperationsDocListsEveryMetric(t *testing.T) {
	fams, rows := gatherAll(t), operationsRows(t)
	for name := range fams {
		if _, ok := rows[name]; !ok {
			t.Errorf("%s is not in the metric table of docs/operations.md", name)
		}
	}
	for name := range rows {
		if _, ok := fams[name]; !ok {
			t.Errorf("docs/operations.md documents %s, which the service does not export", name)
		}
	}
}

// TestOutcomeLabelsInHelpAndDoc: the outcome values a scrape shows are the
// ones the metric's help text and docs/operations.md list.
func TestOutcomeLabelsInHelpAndDoc(t *testing.T) {
	fams, rows := gatherAll(t), operationsRows(t)
	tests := []struct {
		metric   string
		outcomes []string
	}{
		// plugin/callpass's labels, passed to ObserveProviderCall.
		{"callpass_provider_requests_total", []string{
			callpass.OutcomeOK, callpass.OutcomeUnavailable, callpass.OutcomeBadResponse, callpass.OutcomeUnauthorized,
			callpass.OutcomeInsufficientBalance, callpass.OutcomeDestinationNotAllowed, callpass.OutcomeInvalidRequest,
			callpass.OutcomeNotFound,
		}},
		// plugin/challenge's ObserveCallPlaced: "placed" or providerOutcome(err).
		{"callpass_calls_total", []string{
			"placed", "unavailable", "bad_response", "unauthorized", "insufficient_balance",
			"destination_not_allowed", "invalid_request", "call_not_found", "error",
		}},
	}
	word := func(s, w string) bool {
		return regexp.MustCompile(`(^|[^a-z_])` + regexp.QuoteMeta(w) + `($|[^a-z_])`).MatchString(s)
	}
	for _, tt := range tests {
		help := fams[tt.metric].GetHelp()
		row := rows[tt.metric]
		for _, o := range tt.outcomes {
			if !word(help, o) {
				t.Errorf("%s help %q does not list outcome %s", tt.metric, help, o)
			}
			if !strings.Contains(row, "`"+o+"`") {
				t.Errorf("docs/operations.md row of %s does not list outcome `%s`", tt.metric, o)
			}
		}
	}
	if help := fams["callpass_calls_total"].GetHelp(); word(help, "refused") || word(help, "failed") {
		t.Errorf("callpass_calls_total help %q names outcomes that are never recorded", help)
	}
}

// TestStoreOpsInDoc: every store operation exported at 0 is listed in the
// doc's rows of both store metrics (the counter and the latency histogram).
func TestStoreOpsInDoc(t *testing.T) {
	rows := operationsRows(t)
	for _, name := range []string{"callpass_store_operations_total", "callpass_store_operation_duration_seconds"} {
		row, ok := rows[name]
		if !ok {
			t.Fatalf("%s is not in docs/operations.md", name)
		}
		for _, op := range storeOps {
			if !strings.Contains(row, "`"+op+"`") {
				t.Errorf("docs/operations.md: the row of %s does not list op %q", name, op)
			}
		}
	}
}

// TestStoreOpsCoverTheService: every operation name the challenge service
// times is exported at 0 (storeOps), so rate() and the store alerts see its
// first errors; a new operation added without it (retire and restore were)
// would appear only on first use.
func TestStoreOpsCoverTheService(t *testing.T) {
	files, err := filepath.Glob("../../plugin/challenge/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("challenge sources: %v %v", files, err)
	}
	timed := regexp.MustCompile(`\.timed\([a-z]+, "([a-z_]+)"`)
	known := map[string]bool{}
	for _, op := range storeOps {
		known[op] = true
	}
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range timed.FindAllStringSubmatch(string(src), -1) {
			found++
			if !known[m[1]] {
				t.Errorf("%s times store operation %q, which storeOps does not export at 0", filepath.Base(f), m[1])
			}
		}
	}
	if found < 10 {
		t.Fatalf("found %d timed store operations: the pattern no longer matches the service's calls", found)
	}
}
