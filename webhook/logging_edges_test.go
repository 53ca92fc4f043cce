package webhook_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/metrics"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// accessLines returns the access log's "request" lines of a JSON log, and
// the whole log without its request ids (random hex that may hold any
// digits).
func accessLines(t *testing.T, logs string) (out []map[string]any, rest string) {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %s", l)
		}
		if m["msg"] == "request" {
			out = append(out, m)
		}
		delete(m, "request_id")
		j, _ := json.Marshal(m)
		b.Write(j)
		b.WriteByte('\n')
	}
	return out, b.String()
}

// TestAccessLogMasksURIDigits: a code or a phone number in a URI (a
// client's mistake, or a path segment) never reaches the access log; the
// line keeps the URI with every long digit run masked.
func TestAccessLogMasksURIDigits(t *testing.T) {
	tests := []struct {
		method, path string
		want         string // the logged uri
	}{
		{http.MethodGet, "/2fa?code=4610&phone=79001234567", "/2fa?code=***&phone=***"},
		{http.MethodPost, "/hooks/kratos/login?code=4610&phone=%2B79001234567", "/hooks/kratos/login?code=***&phone=%2B***"},
		{http.MethodPost, "/hooks/kratos/79001234567", "/hooks/kratos/***"},
		{http.MethodGet, "/v1/challenges/79001234567?code=4610", "/v1/challenges/***?code=***"},
		// Written as people write it, or as a form encodes it.
		{http.MethodGet, "/2fa?code=46-10&phone=%2B7%20(900)%20123-45-67", "/2fa?code=***&phone=%2B***"},
		{http.MethodGet, "/2fa?code=%34%36%31%30&phone=+7+900+123+45+67", "/2fa?code=***&phone=+***"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var logs bytes.Buffer
			srv, err := webhook.New(webhook.Config{WebhookSecret: secret},
				webhook.Deps{Factor: &recorder{}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			do(srv.Handler(), reqSpec{method: tt.method, path: tt.path})
			lines, rest := accessLines(t, logs.String())
			if len(lines) != 1 {
				t.Fatalf("%d access-log lines for one request:\n%s", len(lines), logs.String())
			}
			if uri, _ := lines[0]["uri"].(string); uri != tt.want || !strings.Contains(uri, "***") {
				t.Errorf("logged uri %q, want %q", uri, tt.want)
			}
			for _, leak := range []string{"4610", "9001234567", "46-10", "%34%36", "900)%20123", "+900+123"} {
				if strings.Contains(rest, leak) {
					t.Errorf("the log holds %q:\n%s", leak, logs.String())
				}
			}
		})
	}
}

// TestHookUnexpectedErrorCountsAsFailure: a hook whose factor fails with an
// unexpected error is answered 400 with "unavailable" (Kratos would retry a
// 5xx and drop the message) but counted under 500 and logged at error
// level, like the outages of TestHookOutagesCountAsFailures: a 500 is
// as much a failure as a 503.
func TestHookUnexpectedErrorCountsAsFailure(t *testing.T) {
	var logs bytes.Buffer
	m := metrics.New()
	srv, err := webhook.New(webhook.Config{WebhookSecret: secret},
		webhook.Deps{Factor: &recorder{err: errors.New("boom")}, Metrics: m, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	w := do(srv.Handler(), reqSpec{method: http.MethodPost, path: "/hooks/kratos/login", body: bytes.NewReader(validBody()),
		hdr: map[string]string{"Authorization": "Bearer " + secret, "Content-Type": "application/json"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "4090010") || strings.Contains(w.Body.String(), "boom") {
		t.Fatalf("answer %d %s, want 400 with message 4090010 and no detail", w.Code, w.Body)
	}
	if n := httpRequests(t, m, "/hooks/kratos/login", "500"); n != 1 {
		t.Errorf(`callpass_http_requests_total{code="500"} = %v, want 1`, n)
	}
	if n := httpRequests(t, m, "/hooks/kratos/login", "400"); n != 0 {
		t.Errorf(`callpass_http_requests_total{code="400"} = %v, want 0`, n)
	}
	if strings.Count(logs.String(), "level=ERROR msg=request ") != 1 {
		t.Errorf("want the request line at error level:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "level=ERROR msg=\"request failed\"") || !strings.Contains(logs.String(), "error=boom") {
		t.Errorf("want an error line with the error's text:\n%s", logs.String())
	}
}
