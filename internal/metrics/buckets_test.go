package metrics

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// bucketOf returns the upper bound of the first bucket of the histogram
// family name that holds its only observation (+Inf as 0).
func bucketOf(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name || f.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, b := range f.GetMetric()[0].GetHistogram().GetBucket() {
			if b.GetCumulativeCount() > 0 {
				return b.GetUpperBound()
			}
		}
		return 0
	}
	t.Fatalf("no histogram %s", name)
	return 0
}

// TestLatencyBucketsResolveTheirOperations: each latency histogram tells
// apart the latencies its operations really have, so histogram_quantile
// (the p95 panels and queries) reads a latency, not the bound of the one
// bucket everything falls in. A Redis or memory-store operation takes well
// under a millisecond (a Lua script on a loaded Redis a few), a stall up to
// the 1 s read timeout; a Kratos session check a few milliseconds; a CallPass start takes seconds (a synchronous one
// up to 25 s).
func TestLatencyBucketsResolveTheirOperations(t *testing.T) {
	tests := []struct {
		name    string
		metric  string
		observe func(*Metrics, time.Duration)
		// Each latency must land in a bucket of its own.
		latencies []time.Duration
	}{
		{"store", "callpass_store_operation_duration_seconds",
			func(m *Metrics, d time.Duration) { m.ObserveStore("verify", nil, d) },
			[]time.Duration{150 * time.Microsecond, 400 * time.Microsecond, 900 * time.Microsecond,
				2 * time.Millisecond, 4 * time.Millisecond, 20 * time.Millisecond, 800 * time.Millisecond, 1500 * time.Millisecond}},
		// A session check on a Kratos next to the service: 1.3 ms at p50,
		// 2.4 ms at p95 (a real Kratos v1.3.1, measured); with a remote
		// database a few ms more; up to the 5 s client timeout.
		{"kratos", "callpass_kratos_request_duration_seconds",
			func(m *Metrics, d time.Duration) { m.ObserveKratos("whoami", nil, d) },
			[]time.Duration{1300 * time.Microsecond, 4 * time.Millisecond, 8 * time.Millisecond, 20 * time.Millisecond,
				80 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second, 4500 * time.Millisecond}},
		{"provider", "callpass_provider_request_duration_seconds",
			func(m *Metrics, d time.Duration) { m.ObserveProviderCall("start", 3, "ok", d) },
			[]time.Duration{300 * time.Millisecond, 800 * time.Millisecond, 2 * time.Second, 4 * time.Second,
				7 * time.Second, 15 * time.Second, 25 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := map[float64]time.Duration{}
			for _, d := range tt.latencies {
				m := New()
				tt.observe(m, d)
				b := bucketOf(t, m, tt.metric)
				if b == 0 || b > 100 {
					t.Errorf("%v falls in the +Inf bucket", d)
					continue
				}
				if other, ok := seen[b]; ok {
					t.Errorf("%v and %v fall in the same bucket (le=%v)", other, d, b)
				}
				seen[b] = d
			}
		})
	}
}
