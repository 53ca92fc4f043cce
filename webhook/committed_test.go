package webhook_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// TestErrorAfterAnswerIsLogged: an error a handler returns once its answer
// is written (a write that failed half way, a panic after the header) can
// no longer change the answer, but the request's access-log line says it:
// it read as a plain success, the error nowhere in the log.
func TestErrorAfterAnswerIsLogged(t *testing.T) {
	tests := []struct {
		name    string
		handler echo.HandlerFunc
		want    []string
	}{
		{"error", func(c echo.Context) error {
			_ = c.String(http.StatusOK, "partial")
			return errors.New("write failed half way")
		}, []string{`"status":200`, `"error_code":"internal_error"`, `"error":"write failed half way"`}},
		{"panic", func(c echo.Context) error {
			_ = c.String(http.StatusOK, "partial")
			panic("boom")
		}, []string{`"status":200`, `"error_code":"internal_error"`, `"error":"internal error"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			s, err := webhook.New(webhook.Config{}, webhook.Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			s.Echo().GET("/late", tt.handler)
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/late", nil))
			if rec.Code != http.StatusOK || rec.Body.String() != "partial" {
				t.Fatalf("answer changed: %d %q", rec.Code, rec.Body)
			}
			var line string
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, `"msg":"request"`) {
					line = l
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("access line without %s:\n%s", w, logs.String())
				}
			}
		})
	}
}
