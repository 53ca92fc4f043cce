package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// TestHookAccessLogSaysTheAnswer: a hook's access-log line says what the
// hook answered, the decision callpass_hook_decisions_total counts and the
// Kratos message the user is shown. Every login start was a bare
// status=400 with no error_code (the 400 is how Kratos is told to show
// "calling"), which read as an error; a wrong code and a limit read the
// same but for their error_code, and a pass was a plain 200. A hook whose
// caller hung up (Kratos gave up on it, or the user's request that ran it
// went away) is answered to nobody: its line names no message, where it
// named 4090010, which Kratos never read and the user never saw.
func TestHookAccessLogSaysTheAnswer(t *testing.T) {
	tests := []struct {
		name     string
		factor   webhook.Factor
		hdr      map[string]string
		decision string
		message  float64 // the id of the answer's message; 0: none
	}{
		{"start", &recorder{decision: factor.GateDecision{Challenge: &factor.ChallengeView{ID: "c1", Placed: true}}},
			hookHdr(), "challenge", 1090001},
		{"wrong code", &recorder{err: &challenge.WrongCodeError{AttemptsLeft: 2}}, hookHdr(), "refused_wrong_code", 4090001},
		{"limit", &recorder{err: &limit.LimitError{Kind: limit.KindNumber, RetryAfter: time.Minute}}, hookHdr(),
			"refused_rate_limited", 4090004},
		{"pass", &recorder{decision: factor.GateDecision{Allow: true}}, hookHdr(), "allow", 0},
		// Refused before the gate, and a failure: handleError answers.
		{"wrong secret", &recorder{}, map[string]string{"Authorization": "Bearer nope", "Content-Type": "application/json"},
			"unauthorized", 4090010},
		{"panic", &panicky{}, hookHdr(), "error", 4090010},
		{"hung up", &recorder{err: fmt.Errorf("lookup: %w", context.Canceled)}, hookHdr(), "canceled", 4090010},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			m := metrics.New()
			srv, err := webhook.New(webhook.Config{WebhookSecret: secret},
				webhook.Deps{Factor: tt.factor, Metrics: m, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			w := do(srv.Handler(), reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", hdr: tt.hdr,
				body: bytes.NewReader(validBody()), length: int64(len(validBody()))})
			if got := hookDecisions(t, m, "login"); got[tt.decision] != 1 {
				t.Fatalf("decisions %v, want %s (answer %d %s)", got, tt.decision, w.Code, w.Body)
			}
			var answer struct {
				Messages []struct {
					Messages []struct {
						ID float64 `json:"id"`
					} `json:"messages"`
				} `json:"messages"`
			}
			_ = json.Unmarshal(w.Body.Bytes(), &answer)
			if len(answer.Messages) == 0 && tt.message != 0 ||
				len(answer.Messages) > 0 && answer.Messages[0].Messages[0].ID != tt.message {
				t.Fatalf("answer %d %s, want message %v", w.Code, w.Body, tt.message)
			}
			lines, _ := accessLines(t, logs.String())
			if len(lines) != 1 {
				t.Fatalf("%d access-log lines:\n%s", len(lines), logs.String())
			}
			if d := lines[0]["hook_decision"]; d != tt.decision {
				t.Errorf("hook_decision %v, want %s: %v", d, tt.decision, lines[0])
			}
			logged := tt.message
			if tt.decision == "canceled" {
				// Kratos hung up: the line names no message, whatever the
				// answer nobody read carries.
				logged = 0
				if lines[0]["status"] != float64(499) || lines[0]["error_code"] != "client_closed_request" {
					t.Errorf("a hang-up's line: %v, want status 499, error_code client_closed_request", lines[0])
				}
			}
			if id, ok := lines[0]["message_id"]; logged == 0 && ok || logged != 0 && id != logged {
				t.Errorf("message_id %v, want %v: %v", id, logged, lines[0])
			}
		})
	}
}
