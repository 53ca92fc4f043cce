package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

func TestObservationsReachTheRegistry(t *testing.T) {
	m := New()
	m.ObserveProviderCall("start", 3, "ok", 20*time.Millisecond)
	m.ObserveProviderCall("start", 3, "unavailable", time.Second)
	m.ObserveCallPlaced("callpass", "placed")
	m.ObserveCallStatus("callpass", flashcall.ClassRang)
	m.ObserveVerify("wrong")
	m.ObserveLimit("number")
	m.ObserveStore("attempt", errors.New("down"), time.Millisecond)
	m.ObserveStore("get", NotFound(errors.New("x")), time.Millisecond)
	m.ObserveKratos("whoami", nil, time.Millisecond)
	m.ObserveTokenIssued("exchange")
	m.ObserveHook("login", "challenge")
	m.ObserveHTTP("/v1/token", "POST", 200, time.Millisecond)

	if got := testutil.ToFloat64(m.providerCalls.WithLabelValues("start", "v3", "unavailable")); got != 1 {
		t.Errorf("provider unavailable count = %v", got)
	}
	if got := testutil.ToFloat64(m.callStatus.WithLabelValues("callpass", "rang")); got != 1 {
		t.Errorf("call status rang = %v", got)
	}
	if got := testutil.ToFloat64(m.storeOps.WithLabelValues("get", "not_found")); got != 1 {
		t.Errorf("store not_found = %v", got)
	}
	if got := testutil.ToFloat64(m.storeOps.WithLabelValues("attempt", "error")); got != 1 {
		t.Errorf("store error = %v", got)
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
}
