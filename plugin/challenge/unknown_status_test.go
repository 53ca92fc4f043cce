package challenge_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/cleanroomcp"
	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/flashcall"
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
			mem, lim := memLimited(t, nil)
			svc := callPassService(t, srv.URL(), true, mem, lim, func(cfg *challenge.Config) {
				cfg.PollInterval = 5 * time.Millisecond
				// Long past the final answer (the second poll), so a slow
				// machine's poller still reaches it; Close ends it.
				cfg.PollTimeout = time.Minute
			})
			ctx := context.Background()

			r := req("flow-unknown")
			res, err := svc.Start(ctx, r)
			if err != nil || !res.Placed {
				t.Fatalf("Start: placed=%v err=%v", res.Placed, err)
			}
			var c challenge.Challenge
			deadline := time.Now().Add(time.Minute) // a guard: the answer comes on the second poll
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
