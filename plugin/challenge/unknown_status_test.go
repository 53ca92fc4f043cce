package challenge_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/cleanroomcp"
	"github.com/callpass-kratos/callpass-kratos/plugin/callpass"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
	"github.com/callpass-kratos/callpass-kratos/plugin/phone/phonetest"
	"github.com/callpass-kratos/callpass-kratos/plugin/store/memory"
)

// TestUnknownFinalStatusEndsPolling: the CallPass document says any status
// other than "null" is a finished call's, and that a client classifies one
// it does not know as rang or not rang. A call ending with a cause outside
// our lists is not delivered: polling stops at that answer (it was polled
// every interval until PollTimeout), and the user may ask for a new call at
// once instead of waiting out the resend delay. The provider is an outside
// implementation of the document over HTTP.
func TestUnknownFinalStatusEndsPolling(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cause string
		class flashcall.Class
	}{
		{"unknown cause", "NORMAL_UNSPECIFIED", flashcall.ClassNotDelivered},
		{"unknown cause, lower case", "gateway_down", flashcall.ClassNotDelivered},
		{"known rang cause", "NO_ANSWER", flashcall.ClassRang},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := cleanroomcp.New(t, givebackToken, cleanroomcp.Variant{FinalStatus: tt.cause, PendingPolls: 1})
			client, err := callpass.New(callpass.Config{BaseURL: srv.URL(), Token: givebackToken, APIVersion: 3, Timeout: 5 * time.Second, Async: true})
			if err != nil {
				t.Fatal(err)
			}
			mem := memory.New(time.Hour)
			t.Cleanup(func() { _ = mem.Close() })
			lim, err := limit.New(limit.DefaultConfig(), mem, mem, limit.WithNumberHasher(phonetest.Hasher()))
			if err != nil {
				t.Fatal(err)
			}
			cfg := challenge.DefaultConfig()
			cfg.CodeKey = key
			cfg.PollInterval = 5 * time.Millisecond
			cfg.PollTimeout = 3 * time.Second
			svc, err := challenge.NewService(cfg, mem, client, lim, challenge.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = svc.Close() })
			ctx := context.Background()

			r := req("flow-unknown")
			res, err := svc.Start(ctx, r)
			if err != nil || !res.Placed {
				t.Fatalf("Start: placed=%v err=%v", res.Placed, err)
			}
			var c challenge.Challenge
			deadline := time.Now().Add(2 * time.Second)
			for {
				if c, err = mem.Get(ctx, res.Challenge.ID); err != nil {
					t.Fatal(err)
				}
				if c.CallClass != flashcall.ClassPending || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if c.CallClass != tt.class || c.CallStatus != tt.cause {
				t.Fatalf("stored call status %q class %v, want %q class %v", c.CallStatus, c.CallClass, tt.cause, tt.class)
			}
			// The poller ends at the final answer: no status request after it.
			polls := func() int {
				n := 0
				for _, q := range srv.Requests() {
					if strings.Contains(q.Path, "status") {
						n++
					}
				}
				return n
			}
			before := polls()
			time.Sleep(150 * time.Millisecond) // 30 poll intervals
			if after := polls(); after != before || before > 2 {
				t.Fatalf("status requests: %d when the final status was stored, %d later; want polling to end at the final answer (at most 2: one pending, one final)", before, after)
			}

			// A call that did not reach the phone may be replaced at once; one
			// that rang waits for the resend delay.
			r.Resend = true
			_, err = svc.Start(ctx, r)
			placed := len(srv.Calls()) == 2
			if want := tt.class == flashcall.ClassNotDelivered; placed != want {
				t.Fatalf("resend right after a %s call: new call placed %v (err %v), want %v", tt.class, placed, err, want)
			}
		})
	}
}
