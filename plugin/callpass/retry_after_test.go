package callpass

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
)

// TestStatusHonoursRetryAfter: a 503 or 429 with Retry-After asks the
// client not to come back before then. A 503 was asked again 150 and
// 450 ms later whatever it said, and the poller's next tick (2 s) asked
// again, so an outage that asked for 30 s of quiet got three requests per
// polled call every 2 s. Now that status request is the only one: until
// the time it names (at most maxStatusHold) CallStatus sends nothing and
// answers unavailable, with the wait in RetryAfter. Starts are not held:
// they are the user's own request.
func TestStatusHonoursRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name       string
		status     int
		retryAfter func() string
		want       time.Duration // the hold, to the second
	}{
		{"503 seconds", http.StatusServiceUnavailable, func() string { return "1" }, time.Second},
		{"503 HTTP date", http.StatusServiceUnavailable, func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) }, 2 * time.Second},
		{"429 seconds", http.StatusTooManyRequests, func() string { return "1" }, time.Second},
		{"502 seconds", http.StatusBadGateway, func() string { return "1" }, time.Second},
		{"capped", http.StatusServiceUnavailable, func() string { return "86400" }, maxStatusHold},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var down atomic.Bool
			down.Store(true)
			p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
				if down.Load() {
					w.Header().Set("Retry-After", tt.retryAfter())
					answer(tt.status, "text/html", "<h1>busy</h1>")(w, r)
					return
				}
				jsonAnswer(sampleV2Status)(w, r)
			})
			c := newTestClient(t, p.srv.URL, 3, nil)
			_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			e := assertKind(t, err, flashcall.ErrUnavailable, OpStatus)
			if d := e.RetryAfter; d <= tt.want-1500*time.Millisecond || d > tt.want {
				t.Errorf("RetryAfter = %s, want about %s", d, tt.want)
			}
			if n := len(p.requests()); n != 1 {
				t.Fatalf("provider got %d status requests, want 1", n)
			}
			// Held: nothing is sent, and nothing says it was.
			down.Store(false)
			_, err = c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			e = assertKind(t, err, flashcall.ErrUnavailable, OpStatus)
			if !e.NotSent() || e.RetryAfter <= 0 || e.RetryAfter > tt.want {
				t.Errorf("held status: NotSent %v, RetryAfter %s", e.NotSent(), e.RetryAfter)
			}
			if n := len(p.requests()); n != 1 {
				t.Fatalf("provider got %d status requests while held, want 1", n)
			}
			// A start is the user's own request: not held.
			_, _ = c.StartCall(context.Background(), mustPhone(t))
			if n := len(p.requests()); n != 2 {
				t.Fatalf("provider got %d requests after a start, want 2", n)
			}
			if tt.want > 2*time.Second {
				return
			}
			time.Sleep(tt.want + 50*time.Millisecond)
			st, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
			if err != nil || st.Class != flashcall.ClassRang {
				t.Fatalf("status after the wait = %+v, %v", st, err)
			}
		})
	}
}

// TestStatusWithoutUsableRetryAfterIsRetried: no Retry-After, 0 or one
// that cannot be read keeps the quick retries.
func TestStatusWithoutUsableRetryAfterIsRetried(t *testing.T) {
	for _, ra := range []string{"", "0", "soon", "-5"} {
		p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
			if ra != "" {
				w.Header().Set("Retry-After", ra)
			}
			answer(http.StatusServiceUnavailable, "text/html", "<h1>503</h1>")(w, r)
		})
		c := newTestClient(t, p.srv.URL, 3, nil)
		_, err := c.CallStatus(context.Background(), sampleStatusCallID, mustPhone(t))
		if e := assertKind(t, err, flashcall.ErrUnavailable, OpStatus); e.RetryAfter != 0 {
			t.Errorf("Retry-After %q: RetryAfter = %s", ra, e.RetryAfter)
		}
		if n := len(p.requests()); n != c.statusAttempts {
			t.Errorf("Retry-After %q: provider got %d status requests, want %d", ra, n, c.statusAttempts)
		}
	}
}

// TestRetryAfterBeyondTheCapIsTheCap: a Retry-After of more seconds than
// 32 bits hold ("4294967296", RFC 9110 sets no bound) asks for a longer
// wait than any other and is held for maxStatusHold as "86400" is; it was
// unreadable, so the status request was repeated at once, twice, and at
// every poll.
func TestRetryAfterBeyondTheCapIsTheCap(t *testing.T) {
	now := time.Now()
	for _, v := range []string{"86400", "4294967296", "99999999999999999999", "9223372036854775807"} {
		if d := parseRetryAfter(http.StatusServiceUnavailable, v, now); d != maxStatusHold {
			t.Errorf("parseRetryAfter(503, %q) = %s, want %s", v, d, maxStatusHold)
		}
	}
	for _, v := range []string{"", "0", "-5", "soon", "1.5", "+5"} {
		if d := parseRetryAfter(http.StatusServiceUnavailable, v, now); d != 0 {
			t.Errorf("parseRetryAfter(503, %q) = %s, want 0", v, d)
		}
	}
}

// TestRetryAfterHoldsRetriesAlreadyUnderWay: a poll waiting to retry a 503
// does not send its retry once another poll's answer asked for quiet. The
// hold was read only when a CallStatus began, so every poll already in its
// backoff when the provider said Retry-After sent its remaining retries to
// the provider shedding load (two more requests per polled call).
func TestRetryAfterHoldsRetriesAlreadyUnderWay(t *testing.T) {
	const idA, idB = "call-a-0001", "call-b-0002"
	firstA := make(chan struct{})
	var n atomic.Int32
	p := newProvider(t, func(w http.ResponseWriter, r *http.Request) {
		// A's first request, then B's (A waits 1 s to retry).
		switch n.Add(1) {
		case 1:
			defer close(firstA)
		case 2:
			w.Header().Set("Retry-After", "30")
		}
		answer(http.StatusServiceUnavailable, "application/json", `{"status":"error","message":"service temporarily unavailable"}`)(w, r)
	})
	c := newTestClient(t, p.srv.URL, 2, nil)
	c.backoff = time.Second // B is answered well before A retries
	done := make(chan error, 1)
	go func() {
		_, err := c.CallStatus(context.Background(), idA, mustPhone(t))
		done <- err
	}()
	<-firstA
	_, err := c.CallStatus(context.Background(), idB, mustPhone(t))
	if e := assertKind(t, err, flashcall.ErrUnavailable, OpStatus); e.RetryAfter <= 0 {
		t.Fatalf("B: RetryAfter = %s, want the wait", e.RetryAfter)
	}
	assertKind(t, <-done, flashcall.ErrUnavailable, OpStatus)
	var a int
	for _, r := range p.requests() {
		if r.form.Get("callid") == idA {
			a++
		}
	}
	if a != 1 {
		t.Fatalf("A sent %d status requests, want 1: its retries came after the provider asked for quiet", a)
	}
}
