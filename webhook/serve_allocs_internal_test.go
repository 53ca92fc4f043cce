package webhook

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// nopWriter is a response writer the test reuses: its header map is
// emptied before each request, so only the server's own allocations count.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(int)             {}

// TestServeAllocs: the service's middleware around every route (request
// id, access log, recovery) allocates only the request's state and the
// request id header's value: Echo v4's e.Use built the three middlewares'
// closures anew on every request (5, 11 and 15 allocations below). A 404
// and a 405 pass through it too; their counts add the error answer's.
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
		{"route", http.MethodGet, "/x", http.StatusNoContent, 2},
		{"not found", http.MethodGet, "/nope", http.StatusNotFound, 8},
		{"method not allowed", http.MethodPost, "/x", http.StatusMethodNotAllowed, 12},
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
			n := testing.AllocsPerRun(200, func() {
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
