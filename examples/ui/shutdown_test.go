package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestShutdownFinishesRelayedPosts: cc561ca made the relay finish its post
// to Kratos whatever the browser does, bounded by its own 40 s, but a
// SIGTERM during such a post (a deploy while a "call me again" waits for
// the provider) gave in-flight requests only 10 s: run returned 1 and the
// process exited, cutting Kratos off mid-submit after all. Shutdown now
// waits out the relay's own timeout, so a post to Kratos under way when
// the signal comes is answered and relayed.
func TestShutdownFinishesRelayedPosts(t *testing.T) {
	if testing.Short() {
		t.Skip("waits longer than the old shutdown grace")
	}
	const kratosTakes = 11 * time.Second // longer than the old 10 s grace, within the relay's 40 s
	arrived := make(chan struct{})
	var mu sync.Mutex
	var cut bool
	kratos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/self-service/login" {
			http.NotFound(w, r)
			return
		}
		_ = r.ParseForm()
		close(arrived)
		select {
		case <-time.After(kratosTakes):
		case <-r.Context().Done():
			mu.Lock()
			cut = true
			mu.Unlock()
			return
		}
		w.Header().Set("Location", "http://127.0.0.1:4455/welcome")
		w.WriteHeader(http.StatusSeeOther)
	}))
	defer kratos.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"-listen", addr, "-kratos-public", kratos.URL}, &stderr)
	}()
	client := &http.Client{
		Timeout:       time.Minute,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var up bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			_ = resp.Body.Close()
			up = true
			break
		}
	}
	if !up {
		t.Fatalf("the UI did not come up: %s", stderr.String())
	}

	form := url.Values{"csrf_token": {"t"}, "identifier": {"a@example.com"}, "password": {"pw"}, "method": {"password"}}
	status := make(chan int, 1)
	go func() {
		resp, err := client.Post("http://"+addr+"/login/submit?flow="+loginFlowID, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			status <- 0
			return
		}
		_ = resp.Body.Close()
		status <- resp.StatusCode
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the post did not reach Kratos")
	}
	stop() // SIGTERM while Kratos works on the post

	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("run returned %d during a relayed post (%s), want 0 after it", c, strings.TrimSpace(stderr.String()))
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not return")
	}
	if s := <-status; s != http.StatusSeeOther {
		t.Errorf("the browser got %d, want Kratos's 303 relayed", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if cut {
		t.Error("the post to Kratos was cut off by the shutdown")
	}
}
