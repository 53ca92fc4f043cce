package bench

import (
	"bytes"
	"github.com/callpass-kratos/callpass-kratos/internal/allocs"
	"net/http"
	"net/http/httptest"
	"testing"
)

// rewindBody is a request body the test rewinds before each request.
type rewindBody struct{ *bytes.Reader }

func (rewindBody) Close() error { return nil }

// nopWriter is a response writer the test reuses; its header map is emptied
// before each request, as net/http gives each response a new one.
type nopWriter struct {
	h      http.Header
	status int
}

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nopWriter) WriteHeader(s int)           { w.status = s }

// servedAllocs serves body to handler at target runs times, the request and
// the writer reused, and returns the allocations per request: the
// service's alone (the load generator's and net/http's are not counted).
func servedAllocs(t *testing.T, handler http.Handler, target string, body []byte, hdr http.Header, want int) float64 {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, target, nil)
	req.Header = hdr
	rd := rewindBody{bytes.NewReader(nil)}
	w := &nopWriter{h: http.Header{}}
	serve := func() {
		rd.Reset(body)
		req.Body, req.ContentLength = rd, int64(len(body))
		clear(w.h)
		w.status = 0
		handler.ServeHTTP(w, req)
		if w.status != want {
			t.Fatalf("%s: status %d, want %d", target, w.status, want)
		}
	}
	serve()
	return allocs.Min(200, serve)
}

// TestHookWrongCodeAllocs: a wrong code through the login hook (memory
// store, the load harness's instance: a new attempts_left every time, so
// the refusal is rendered anew) stays within its allocations, the request's
// handling from the middleware to the written refusal.
func TestHookWrongCodeAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	in := startInstance(t, "allocs", listen(t), raisedLimits, nil)
	h := in.startLogins(t, 1)[0].Hook
	h.Code = wrongCode(h.Code)
	n := servedAllocs(t, in.App.Handler(), "/hooks/kratos/login", h.body(), hookHeader, http.StatusBadRequest)
	// 25: the body's buffer and its decoded strings, the phone trait read
	// (the code must prove the identity's current number, checked in the
	// store's verify step), the challenge's lookup and count, the code's
	// keyed hash, the refusal's text, the request id.
	if n > 25 {
		t.Errorf("a wrong code through the hook makes %v allocations, want at most 25", n)
	}
}
