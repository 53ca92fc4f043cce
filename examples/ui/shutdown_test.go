package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
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

	// Below the ephemeral range: a port the kernel handed out could go to
	// another package's listener before the UI binds it.
	addr := testenv.FreeAddr(t)
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

// TestSecondSignalStopsAtOnce: a stop waits up to 45 s for the posts the
// relay is finishing for Kratos (TestShutdownFinishesRelayedPosts), and a
// second Ctrl-C or SIGTERM was swallowed by the same signal context, so an
// operator who did not want to wait could not stop the UI but by SIGKILL.
// The first signal starts the graceful stop; a second one ends the process
// at once, as without a handler.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin := filepath.Join(t.TempDir(), "ui")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	arrived := make(chan struct{}, 1)
	gone := make(chan struct{})
	defer close(gone)
	kratos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		arrived <- struct{}{}
		select { // a post that takes longer than the test waits
		case <-r.Context().Done():
		case <-gone:
		}
	}))
	defer kratos.Close()
	// Below the ephemeral range: a port the kernel handed out could go to
	// another package's listener before the UI binds it.
	addr := testenv.FreeAddr(t)
	cmd := exec.Command(bin, "-listen", addr, "-kratos-public", kratos.URL)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(waited)
		exited <- err
	}()
	defer func() {
		_ = cmd.Process.Kill() // an error once it has exited
		<-waited
	}()
	var up bool
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			_ = resp.Body.Close()
			up = true
			break
		}
	}
	if !up {
		t.Fatal("the UI did not come up")
	}
	go func() {
		form := url.Values{"csrf_token": {"t"}, "identifier": {"a@example.com"}, "password": {"pw"}, "method": {"password"}}
		if resp, err := http.Post("http://"+addr+"/login/submit?flow="+loginFlowID, "application/x-www-form-urlencoded", strings.NewReader(form.Encode())); err == nil {
			_ = resp.Body.Close()
		}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the post did not reach Kratos")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		t.Fatalf("the first signal ended the UI at once (%v), not after the post", err)
	case <-time.After(500 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("a second signal did not end the UI")
	}
}
