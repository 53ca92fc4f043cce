package webhook_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
	"github.com/callpass-kratos/callpass-kratos/webhook"
)

// syncBuffer is a log the server's handlers and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAbortHandlerDropsTheConnection: a handler that panics with
// http.ErrAbortHandler asks net/http to drop the connection without an
// answer (the simulator mounted in --dev does, closed during a "slow"
// answer: a provider that went away). The service's recovery answered it
// 500 internal_error and logged it as a panic with its stack, so the
// client saw an answer the provider it stands for never gives. The
// connection is dropped, as Echo's own Recover does, and the request keeps
// its access-log line: status 444 (nginx's "closed without an answer"),
// error_code aborted.
func TestAbortHandlerDropsTheConnection(t *testing.T) {
	const dn = "79001234567"
	const token = "0123456789abcdef0123456789abcdef"
	s, err := sim.New(sim.Config{Tokens: []string{token}, DefaultOutcome: sim.OutcomeSlow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var logs syncBuffer
	srv, err := webhook.New(webhook.Config{}, webhook.Deps{Sim: s.Handler(), Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/v1.0/start-call-password/", strings.NewReader("dn="+dn+"&timeout=2"))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := ts.Client().Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("got an answer %d", resp.StatusCode)
		}
		errc <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); len(s.Calls(dn)) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the simulator placed no call")
		}
	}
	_ = s.Close()
	select {
	case err := <-errc:
		if err == nil || strings.Contains(err.Error(), "got an answer") {
			t.Errorf("want the connection dropped, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the slow request")
	}
	ts.Close() // waits for the handler: its log lines are written
	if l := logs.String(); strings.Contains(l, "panic in handler") || !strings.Contains(l, `"route":"/api/*"`) ||
		!strings.Contains(l, `"status":444`) || !strings.Contains(l, `"error_code":"aborted"`) {
		t.Errorf("log:\n%s", l)
	}
}
