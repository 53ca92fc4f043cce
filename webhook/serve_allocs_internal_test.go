package webhook

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// nopWriter is a response writer the test reuses: its header map is
// emptied before each request, so only the server's own allocations count.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// TestServeAllocs: the service's middleware around every route (request
// id, access log, recovery) allocates only the request id header's value:
// Echo v4's e.Use built the three middlewares' closures anew on every
// request, and each request had a state of its own (5, 11 and 15
// allocations below). A 404 and a 405 pass through it too; their counts
// add the error answer's.
func TestServeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	s, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	s.Echo().GET("/x", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	tests := []struct {
		name, method, path string
		status             int
		want               float64
	}{
		{"route", http.MethodGet, "/x", http.StatusNoContent, 1},
		{"not found", http.MethodGet, "/nope", http.StatusNotFound, 4},
		{"method not allowed", http.MethodPost, "/x", http.StatusMethodNotAllowed, 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			req.Header.Set(echo.HeaderXRequestID, "a-proxy-id")
			// Served once for the status (and the middleware's lines).
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.status || rec.Header().Get(echo.HeaderXRequestID) != "a-proxy-id" {
				t.Fatalf("status %d, request id %q", rec.Code, rec.Header().Get(echo.HeaderXRequestID))
			}
			w := &nopWriter{h: http.Header{}}
			n := allocs.Min(200, func() {
				clear(w.h)
				s.Handler().ServeHTTP(w, req)
			})
			if n > tt.want {
				t.Errorf("%s %s: %v allocations, want at most %v", tt.method, tt.path, n, tt.want)
			}
		})
	}
}

// TestRequestStateNotCarriedOver: the request state is lent from a pool;
// what one request noted (a client IP, a refusal) is not in the next
// request's access-log line.
func TestRequestStateNotCarriedOver(t *testing.T) {
	var logs bytes.Buffer
	s, err := New(Config{}, Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.Echo().GET("/noted", func(c echo.Context) error {
		st := stateOf(c)
		st.clientIP, st.lang, st.status = "198.51.100.7", "ru", http.StatusServiceUnavailable
		return echo.NewHTTPError(http.StatusConflict, "refused")
	})
	s.Echo().GET("/plain", func(c echo.Context) error {
		if st := stateOf(c); st.clientIP != "" || st.lang != "" || st.status != 0 || st.errCode != "" || st.body != nil {
			t.Errorf("state carried over: %+v", *st)
		}
		return c.NoContent(http.StatusNoContent)
	})
	for range 3 {
		for _, path := range []string{"/noted", "/plain"} {
			logs.Reset()
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
			if path == "/plain" {
				if rec.Code != http.StatusNoContent || strings.Contains(logs.String(), "client_ip") || strings.Contains(logs.String(), "error") {
					t.Errorf("%s: %d, log %s", path, rec.Code, logs.String())
				}
			} else if !strings.Contains(logs.String(), `"client_ip":"198.51.100.7"`) || !strings.Contains(logs.String(), `"status":409`) {
				t.Errorf("%s: log %s", path, logs.String())
			}
		}
	}
}

// BenchmarkServeMiddleware prices the service's middleware around a route
// that answers nothing (request id from a proxy, access log off):
//
//	go test -run '^$' -bench ServeMiddleware -benchmem ./webhook/
func BenchmarkServeMiddleware(b *testing.B) {
	s, err := New(Config{}, Deps{})
	if err != nil {
		b.Fatal(err)
	}
	s.Echo().GET("/x", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set(echo.HeaderXRequestID, "a-proxy-id")
	w := &nopWriter{h: http.Header{}}
	h := s.Handler()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

// TestAPIRefusalAllocs: a wrong code's refusal on the step-up API (the
// reject path of POST /v1/challenges/{id}/verify) builds its context in a
// lent map and its fields without a pointer of their own each.
func TestAPIRefusalAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	s, err := New(Config{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/challenges/x/verify", nil)
	w := &nopWriter{h: http.Header{}}
	c := s.Echo().NewContext(req, w)
	c.SetPath("/v1/challenges/:id/verify")
	st := &requestState{Context: c}
	var wrong error = &challenge.WrongCodeError{AttemptsLeft: 2}
	n := allocs.Min(200, func() {
		c.Response().Committed = false
		clear(w.h)
		*st = requestState{Context: c}
		s.handleError(wrong, st)
	})
	// 4: the text (Localize), the language's query parse, the
	// Content-Type; 9 with a map, a body and a number of their own.
	if n > 4 {
		t.Errorf("a wrong code's API refusal makes %v allocations, want at most 4", n)
	}
	// The lent body and map carry nothing into the next answer.
	for _, tc := range []struct {
		err  error
		want string
	}{
		{wrong, `{"error":"wrong_code","message":"Wrong code. 2 attempts left.","attempts_left":2}` + "\n"},
		{&challenge.CooldownError{RetryAfter: 20 * time.Second}, `"retry_after":20}` + "\n"},
		{challenge.ErrNotFound, `{"error":"not_found","message":"The code has expired. Ask for a new call."}` + "\n"},
	} {
		rec := httptest.NewRecorder()
		s.handleError(tc.err, &requestState{Context: s.Echo().NewContext(req, rec)})
		if got := rec.Body.String(); !strings.HasSuffix(got, tc.want) || strings.Count(got, "attempts_left") > strings.Count(tc.want, "attempts_left") {
			t.Errorf("%v: %s, want …%s", tc.err, got, tc.want)
		}
	}
}
