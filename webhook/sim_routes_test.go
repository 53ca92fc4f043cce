package webhook_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// TestSimControlNeedsToken: outside --dev the simulator's control API and
// phone page show every call's code, so they take one of sim.tokens; its
// CallPass API checks the tokens itself and is passed through as is.
func TestSimControlNeedsToken(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	const other = "fedcba9876543210fedcba9876543210"
	sim := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "sim "+r.URL.Path) })
	tests := []struct {
		name   string
		tokens []string
		path   string
		auth   string
		want   int
	}{
		{"dev: calls open", nil, "/sim/calls", "", 200},
		{"dev: phone page open", nil, "/sim/phone", "", 200},
		{"no token", []string{tok}, "/sim/calls", "", 401},
		{"wrong token", []string{tok}, "/sim/calls", "Bearer " + other, 401},
		{"token without scheme", []string{tok}, "/sim/calls", tok, 401},
		{"right token", []string{tok}, "/sim/calls", "Bearer " + tok, 200},
		{"second token", []string{other, tok}, "/sim/calls", "Bearer " + tok, 200},
		{"phone page", []string{tok}, "/sim/phone", "", 401},
		{"root", []string{tok}, "/sim", "", 401},
		{"scripts", []string{tok}, "/sim/scripts/79001234567", "", 401},
		{"CallPass API passes through", []string{tok}, "/api/v2.0/start-call-password/", "", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := webhook.New(webhook.Config{WebhookSecret: secret, AllowedOrigins: []string{"https://app.example"}, SimControlTokens: tc.tokens},
				webhook.Deps{Sim: sim, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("%s: %d %s, want %d", tc.path, w.Code, w.Body, tc.want)
			}
			if tc.want == 200 && w.Body.String() != "sim "+tc.path {
				t.Fatalf("%s reached %q", tc.path, w.Body)
			}
		})
	}
}
