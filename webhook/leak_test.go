package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
	"github.com/callpass-kratos/callpass-kratos/plugin/kratos"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// TestReadyHidesCheckErrors: /health/ready is public, so a failed check
// shows only its status; the error, which names internal addresses, is
// logged.
func TestReadyHidesCheckErrors(t *testing.T) {
	tests := []struct {
		name       string
		optional   bool
		wantCode   int
		wantStatus string // overall
		wantCheck  string // the failed check's
	}{
		{"required check", false, http.StatusServiceUnavailable, "error", "error"},
		{"optional check", true, http.StatusOK, "ok", "degraded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := webhook.New(webhook.Config{}, webhook.Deps{
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				Ready: []webhook.ReadyCheck{
					{Name: "redis", Optional: tt.optional, Check: func(context.Context) error {
						return errors.New("dial tcp 10.0.0.1:6379 marker")
					}},
					{Name: "kratos", Check: func(context.Context) error { return nil }},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			w := do(s.Handler(), reqSpec{method: http.MethodGet, path: "/health/ready"})
			body := w.Body.String()
			if strings.Contains(body, "marker") || strings.Contains(body, "10.0.0.1") {
				t.Errorf("the check's error reached the answer: %s", body)
			}
			var r struct {
				Status string
				Checks map[string]map[string]any
			}
			if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
				t.Fatalf("answer is not JSON: %s", body)
			}
			if w.Code != tt.wantCode || r.Status != tt.wantStatus || len(r.Checks) != 2 ||
				r.Checks["redis"]["status"] != tt.wantCheck || len(r.Checks["redis"]) != 1 || r.Checks["kratos"]["status"] != "ok" {
				t.Errorf("got %d %s, want %d with status %q and redis %q", w.Code, body, tt.wantCode, tt.wantStatus, tt.wantCheck)
			}
			line := logs.String()
			if !strings.Contains(line, "level=WARN") || !strings.Contains(line, "check=redis") ||
				!strings.Contains(line, "dial tcp 10.0.0.1:6379 marker") || strings.Contains(line, "check=kratos") {
				t.Errorf("log does not record the failed check: %s", line)
			}
		})
	}
}

// TestRefusalTextIsOurs: a refusal without a message id answers a fixed
// text, never the error's own, which may be a dependency's (Kratos's
// status line and error id, an address); that stays in the access log.
// Our own typed texts written for the user are kept.
func TestRefusalTextIsOurs(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   int
		code     string
		wantText string   // exact message, "" for any
		leaks    []string // must not be in the answer, must be in the log
	}{
		{"kratos forbidden", &kratos.Error{Op: "whoami", StatusCode: 403, Kind: kratos.ErrForbidden,
			Err: errors.New("403 Forbidden (session_aal2_required: x)")},
			403, "forbidden", "", []string{"session_aal2_required", "kratos whoami"}},
		{"kratos no session", &kratos.Error{Op: "whoami", StatusCode: 401, Kind: kratos.ErrNoSession,
			Err: errors.New("401 Unauthorized (session_inactive: marker)")},
			401, "no_session", "", []string{"session_inactive", "kratos whoami", "marker"}},
		{"kratos identity not found", &kratos.Error{Op: "get identity", StatusCode: 404, Kind: kratos.ErrIdentityNotFound,
			Err: errors.New("404 Not Found (marker)")},
			404, "not_found", "", []string{"kratos get identity", "marker"}},
		{"invalid request wrapping a dependency", fmt.Errorf("%w: %w", challenge.ErrInvalidRequest, errors.New("dial tcp 10.0.0.1:6379 marker")),
			400, "invalid_request", "", []string{"10.0.0.1", "marker"}},
		{"not gated", fmt.Errorf("exchange: %w (marker)", factor.ErrNotGated),
			403, "forbidden", factor.ErrNotGated.Error(), []string{"marker"}},
		{"invalid phone keeps its reason", fmt.Errorf("%w: %w", challenge.ErrInvalidRequest, &phone.Error{Reason: phone.ReasonCountry}),
			400, "invalid_request", phone.ReasonCountry, nil},
		// A session Kratos still answered for but that ends before a token
		// could be valid (its last second, or a Kratos clock behind ours)
		// is no session: a 401, not an internal error.
		{"session expired at issue", fmt.Errorf("factor: issue token: %w", jwt.ErrSessionExpired),
			401, "no_session", "", []string{jwt.ErrSessionExpired.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			h := newServer(t, &recorder{err: tt.err}, &logs)
			w := do(h, reqSpec{method: http.MethodPost, path: "/v1/token", hdr: map[string]string{"X-Session-Token": "t"}})
			var e apiErr
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("answer is not JSON: %d %s", w.Code, w.Body)
			}
			if w.Code != tt.status || e.Error != tt.code || e.Message == "" || (tt.wantText != "" && e.Message != tt.wantText) {
				t.Errorf("got %d %+v, want %d %q with message %q", w.Code, e, tt.status, tt.code, tt.wantText)
			}
			for _, s := range tt.leaks {
				if strings.Contains(w.Body.String(), s) {
					t.Errorf("answer holds %q: %s", s, w.Body)
				}
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log lacks %q: %s", s, logs.String())
				}
			}
		})
	}
}
