package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// savingRecorder is a recorder whose factor also ends a saved
// registration's proof, so the server mounts /hooks/kratos/registered.
type savingRecorder struct {
	recorder
	saved []factor.GateInput
}

func (r *savingRecorder) RegistrationSaved(ctx context.Context, in factor.GateInput) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.saved = append(r.saved, in)
	return r.err
}

// TestRegisteredHookNeedsTheSecret: the hook after a registration's save
// ends a flow's proof, which whoever could call it could use to make a
// user's resubmit place a second call; it sits behind the webhook secret
// as the other hooks do: without it or with another one it is 401 and the
// factor is not asked; with it the answer is 200 {}.
func TestRegisteredHookNeedsTheSecret(t *testing.T) {
	tests := []struct {
		name     string
		auth     string
		wantCode int
		wantSave int
	}{
		{"no secret", "", http.StatusUnauthorized, 0},
		{"another secret", "Bearer " + strings.Repeat("x", len(secret)), http.StatusUnauthorized, 0},
		{"the secret", "Bearer " + secret, http.StatusOK, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &savingRecorder{}
			hdr := map[string]string{"Content-Type": "application/json"}
			if tt.auth != "" {
				hdr["Authorization"] = tt.auth
			}
			code, _, body := postHook(newServer(t, rec, nil), "/hooks/kratos/registered", hdr, validBody())
			if code != tt.wantCode || len(rec.saved) != tt.wantSave {
				t.Fatalf("answer %d %s, %d saves; want %d, %d saves", code, body, len(rec.saved), tt.wantCode, tt.wantSave)
			}
			if code == http.StatusOK && strings.TrimSpace(body) != "{}" {
				t.Errorf("body %q, want {}", body)
			}
		})
	}
}

// hookOutcome is everything a hook's failure shows outside: the answer to
// Kratos, the decision counted, the status counted and the log lines.
type hookOutcome struct {
	status    int
	body      string // compared for refusals (an error answer names its request id)
	decisions map[string]float64
	codes     map[string]float64 // callpass_http_requests_total of the route, by code
	logs      []string           // level, msg, error_code and client_ip of each line
}

// logFields keeps of each text log line what does not differ between two
// requests to two routes.
var logFields = regexp.MustCompile(`\b(level|msg|error_code|client_ip)=("[^"]*"|\S+)`)

func failedHook(t *testing.T, hook string, err error) hookOutcome {
	t.Helper()
	var logs bytes.Buffer
	m := metrics.New()
	srv, serr := webhook.New(webhook.Config{WebhookSecret: secret},
		webhook.Deps{Factor: &savingRecorder{recorder: recorder{err: err}}, Metrics: m,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if serr != nil {
		t.Fatal(serr)
	}
	route := "/hooks/kratos/" + hook
	w := do(srv.Handler(), reqSpec{method: http.MethodPost, path: route, hdr: hookHdr(),
		body: bytes.NewReader(validBody()), length: int64(len(validBody()))})
	out := hookOutcome{status: w.Code, body: w.Body.String(), decisions: hookDecisions(t, m, hook), codes: map[string]float64{}}
	mfs, gerr := m.Registry.Gather()
	if gerr != nil {
		t.Fatal(gerr)
	}
	for _, mf := range mfs {
		if mf.GetName() != "callpass_http_requests_total" {
			continue
		}
		for _, mm := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mm.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route {
				out.codes[labels["code"]] += mm.GetCounter().GetValue()
			}
		}
	}
	for line := range strings.Lines(logs.String()) {
		out.logs = append(out.logs, strings.Join(logFields.FindAllString(line, -1), " "))
	}
	return out
}

// TestRegisteredHookFailsAsTheOtherHooks: the hook after the save answers,
// counts and logs a failure as the registration hook does. A store outage
// there was counted decision="error" (the other hooks count
// refused_store_unavailable, and docs/operations.md says an outage's
// 4090010 is), was answered with the API error body instead of the
// message, and its access line carried no client_ip; a hang-up was counted
// error, not canceled.
func TestRegisteredHookFailsAsTheOtherHooks(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		decision string
	}{
		{"store down", fmt.Errorf("spend: %w", challenge.ErrStoreUnavailable), "refused_store_unavailable"},
		{"kratos down", fmt.Errorf("x: %w", kratos.ErrUnavailable), "refused_kratos_unavailable"},
		{"hung up", fmt.Errorf("spend: %w", context.Canceled), "canceled"},
		{"misconfigured", factor.ErrRegisteredUnproven, "refused_internal_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := failedHook(t, "registration", tt.err)
			got := failedHook(t, "registered", tt.err)
			if want.decisions[tt.decision] != 1 {
				t.Fatalf("the registration hook counted %v, want %s: the reference moved", want.decisions, tt.decision)
			}
			if !maps.Equal(got.decisions, want.decisions) {
				t.Errorf("decisions %v, want %v as the registration hook", got.decisions, want.decisions)
			}
			if got.status != want.status || !maps.Equal(got.codes, want.codes) {
				t.Errorf("answered %d, counted %v; want %d, %v as the registration hook", got.status, got.codes, want.status, want.codes)
			}
			if strings.HasPrefix(tt.decision, "refused_") && got.body != want.body {
				t.Errorf("answer\n%s\nwant the registration hook's\n%s", got.body, want.body)
			}
			if !slices.Equal(got.logs, want.logs) {
				t.Errorf("log\n%s\nwant the registration hook's\n%s", strings.Join(got.logs, "\n"), strings.Join(want.logs, "\n"))
			}
		})
	}
}
