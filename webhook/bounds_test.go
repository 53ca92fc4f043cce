package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// TestReadyProbesShareOneRun: /health/ready is public, so a flood of probes
// must not become a flood of Kratos and Redis checks. Probes that arrive
// while a run is under way wait for it; a dependency never sees two checks
// at once.
func TestReadyProbesShareOneRun(t *testing.T) {
	var calls, running, most atomic.Int32
	slow := func(context.Context) error {
		calls.Add(1)
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
		return nil
	}
	s, err := webhook.New(webhook.Config{}, webhook.Deps{
		Ready: []webhook.ReadyCheck{{Name: "redis", Check: slow}},
	})
	if err != nil {
		t.Fatal(err)
	}
	const probes = 50
	var wg sync.WaitGroup
	codes := make([]int, probes)
	for i := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = do(s.Handler(), reqSpec{method: http.MethodGet, path: "/health/ready"}).Code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("probe %d: %d, want 200", i, c)
		}
	}
	if m := most.Load(); m != 1 {
		t.Errorf("%d checks of one dependency ran at once, want 1", m)
	}
	if n := calls.Load(); n > probes/5 {
		t.Errorf("%d concurrent probes ran %d checks: they should share the runs", probes, n)
	}

	// A later probe runs the checks afresh: a dependency that went down
	// is reported at once, not from an earlier run.
	var isDown atomic.Bool
	s2, err := webhook.New(webhook.Config{}, webhook.Deps{
		Ready: []webhook.ReadyCheck{{Name: "redis", Check: func(context.Context) error {
			if isDown.Load() {
				return errors.New("down")
			}
			return nil
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c := do(s2.Handler(), reqSpec{method: http.MethodGet, path: "/health/ready"}).Code; c != http.StatusOK {
		t.Fatalf("first probe: %d", c)
	}
	isDown.Store(true)
	if c := do(s2.Handler(), reqSpec{method: http.MethodGet, path: "/health/ready"}).Code; c != http.StatusServiceUnavailable {
		t.Errorf("probe after the dependency went down: %d, want 503", c)
	}
}

// TestServeBoundsHeaderBytes: the server answers 431 to a header block far
// beyond what Kratos and browsers send, instead of holding a megabyte per
// stalled connection; ordinary headers (a few KiB of cookies) pass.
func TestServeBoundsHeaderBytes(t *testing.T) {
	s, err := webhook.New(webhook.Config{ShutdownTimeout: time.Second}, webhook.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	tests := []struct {
		name   string
		cookie int
		want   int
	}{
		{"browser-sized cookies", 8 << 10, http.StatusOK},
		{"200 KiB of headers", 200 << 10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/health/alive", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Cookie", "a="+strings.Repeat("x", tt.cookie))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET with %d bytes of cookie: %d, want %d", tt.cookie, resp.StatusCode, tt.want)
			}
		})
	}
}

// TestIncomingRequestIDKeptOnlyIfPlain: a proxy's X-Request-ID is kept for
// correlation; anything else a client sends (free text, kilobytes, two
// values) is replaced by an id of ours.
func TestIncomingRequestIDKeptOnlyIfPlain(t *testing.T) {
	s, err := webhook.New(webhook.Config{}, webhook.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	ours := regexp.MustCompile(`^[0-9a-f]{24}$`)
	tests := []struct {
		name string
		ids  []string
		keep bool
	}{
		{"proxy id", []string{"req-7f3a.b_c:1"}, true},
		{"uuid", []string{"0b5c2d3e-1f2a-4b3c-8d4e-5f6a7b8c9d0e"}, true},
		{"spaces", []string{"call me at +7 900"}, false},
		{"markup", []string{"<script>"}, false},
		{"too long", []string{strings.Repeat("a", 129)}, false},
		{"two values", []string{"a", "b"}, false},
		{"empty", []string{""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/health/alive", nil)
			for _, id := range tt.ids {
				req.Header.Add("x-request-id", id) // any spelling reaches the canonical key
			}
			w := httptest.NewRecorder()
			s.Handler().ServeHTTP(w, req)
			got := w.Header().Get(echo.HeaderXRequestID)
			if tt.keep && got != tt.ids[0] {
				t.Errorf("request id %q, want the proxy's %q kept", got, tt.ids[0])
			}
			if !tt.keep && !ours.MatchString(got) {
				t.Errorf("request id %q, want one of ours in place of %q", got, tt.ids)
			}
		})
	}
}
