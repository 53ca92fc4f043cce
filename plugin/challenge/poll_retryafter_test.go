package challenge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass/sim"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
)

// TestPollerWaitsOutRetryAfter: a status answer asking for quiet
// (503 with Retry-After, from the provider or a proxy in front of it) is
// honoured end to end by the poller as it is: the CallPass client holds
// every status request until the time it names, so the poller's next ticks
// send nothing, and the first tick after it asks again and stores the
// call's final status. The poller does not schedule by the wait itself:
// the hold is the client's, shared by every call polled, and a tick after
// it ends is at most one poll interval late (the call's status only
// decides whether the page offers a new call at once).
func TestPollerWaitsOutRetryAfter(t *testing.T) {
	const tok = "0123456789abcdef0123456789abcdef"
	s, err := sim.New(sim.Config{Tokens: []string{tok}, SettleDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var mu sync.Mutex
	var asked []time.Time // status requests that reached the provider
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "status") {
			mu.Lock()
			asked = append(asked, time.Now())
			first := len(asked) == 1
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte("<h1>busy</h1>"))
				return
			}
		}
		s.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client, err := callpass.New(callpass.Config{BaseURL: srv.URL, Token: tok, APIVersion: 3, Async: true})
	if err != nil {
		t.Fatal(err)
	}
	const interval = 50 * time.Millisecond
	svc, _, _ := newLoggedService(t, client, func(c *challenge.Config) {
		c.PollInterval = interval
		c.PollTimeout = 10 * time.Second
	})
	res, err := svc.Start(context.Background(), req("flow-quiet"))
	if err != nil || !res.Placed {
		t.Fatalf("Start = %+v, %v", res, err)
	}
	var got challenge.Challenge
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if got, err = svc.Get(context.Background(), res.Challenge.ID); err != nil {
			t.Fatal(err)
		}
		if got.CallStatus == "NO_ANSWER" || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got.CallStatus != "NO_ANSWER" || len(asked) < 2 {
		t.Fatalf("stored status %q after %d status requests; want NO_ANSWER once the wait was over", got.CallStatus, len(asked))
	}
	// Retry-After: 1 is a second from the answer, which the client read
	// after the request arrived here; the upper bound leaves a loaded
	// machine room.
	if gap := asked[1].Sub(asked[0]); gap < 900*time.Millisecond || gap > time.Second+4*interval+1500*time.Millisecond {
		t.Fatalf("the next status request came %s after the one that asked for a second of quiet; want it just after that second (%d requests)", gap, len(asked))
	}
	if len(asked) != 2 {
		t.Fatalf("%d status requests, want 2: the quiet one and the one that found the final status", len(asked))
	}
}
