package webhook_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// hookDecisions reads callpass_hook_decisions_total of one hook, by decision.
func hookDecisions(t *testing.T, m *metrics.Metrics, hook string) map[string]float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "callpass_hook_decisions_total" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mm.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if v := mm.GetCounter().GetValue(); labels["hook"] == hook && v != 0 {
				out[labels["decision"]] = v
			}
		}
	}
	return out
}

// TestHookFailuresCountedAsErrors: a hook answer that stands for a failure
// of ours is counted once, as error, whatever failed: a panic in the gate
// (recovered and answered 400), a decision that is neither allow nor a
// challenge, and an allow whose answer could not be written (counted allow
// before, though Kratos got an error and issued no session). Such answers
// were not counted at all, or under the decision they did not give. The
// factor here is a test double: no real gate panics or decides nothing.
func TestHookFailuresCountedAsErrors(t *testing.T) {
	tests := []struct {
		name   string
		factor webhook.Factor
	}{
		{"panic in the gate", &panicky{}},
		{"neither allow nor a challenge", &recorder{}},
		{"allow not written", &recorder{decision: factor.GateDecision{Allow: true,
			MetadataPublic: map[string]any{"x": make(chan int)}}}},
	}
	for _, tt := range tests {
		for _, hook := range []string{"login", "registration", "settings"} {
			t.Run(tt.name+" "+hook, func(t *testing.T) {
				m := metrics.New()
				srv, err := webhook.New(webhook.Config{WebhookSecret: secret},
					webhook.Deps{Factor: tt.factor, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				if err != nil {
					t.Fatal(err)
				}
				w := do(srv.Handler(), reqSpec{method: http.MethodPost, path: "/hooks/kratos/" + hook, hdr: hookHdr(),
					body: bytes.NewReader(validBody()), length: int64(len(validBody()))})
				if w.Code != http.StatusBadRequest {
					t.Errorf("answered %d %s, want 400", w.Code, w.Body)
				}
				if got := hookDecisions(t, m, hook); len(got) != 1 || got["error"] != 1 {
					t.Errorf("decisions %v, want error counted once", got)
				}
			})
		}
	}
}
