package challenge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/limit"
)

// TestFollowingKeepsTheLockingAnswer: a step-up page and the API name the
// challenge a code is for, and the wrong code that uses its last attempt
// is answered as that: a counted wrong code, no attempts left (and, when
// it also started the identity's ban, for how long), one verification
// counted as "locked". A *WrongCodeError with no attempts left matches
// ErrLocked, so VerifyAndPassFollowing took it for a challenge already
// dead and tried the code again on the current challenge, the same one:
// the answer became "exhausted" (ErrLocked, nothing counted, the ban
// unsaid) or, once the ban was remembered, "blocked", and the metrics
// never counted the lock.
func TestFollowingKeepsTheLockingAnswer(t *testing.T) {
	tests := []struct {
		name        string
		maxFailures int // regulation: failures that ban (0: off)
		wantBanned  bool
	}{
		{"no ban", 0, false},
		{"the lock starts a ban", 1, true},
		{"the lock counts towards a ban", 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, func(_ *challenge.Config, l *limit.Config) { l.Regulation.MaxFailures = tt.maxFailures })
			r := req("sess-1")
			r.Purpose = challenge.PurposeStepUp
			b := bind(r)
			x := e.start(t, r).Challenge
			for i := range x.MaxAttempts {
				before := len(e.obs.events)
				res, err := e.svc.VerifyAndPassFollowing(ctx, b, x.ID, "0000", nil)
				var w *challenge.WrongCodeError
				if !errors.As(err, &w) || res.Challenge.ID != x.ID {
					t.Fatalf("wrong code %d: %s, %v; want a counted wrong code on %s", i+1, res.Challenge.ID, err, x.ID)
				}
				last := i == x.MaxAttempts-1
				if want := x.MaxAttempts - 1 - i; w.AttemptsLeft != want {
					t.Fatalf("wrong code %d: %d attempts left, want %d", i+1, w.AttemptsLeft, want)
				}
				if banned := w.BannedFor > 0; last && banned != tt.wantBanned {
					t.Fatalf("the locking code: banned for %s, want a ban %v", w.BannedFor, tt.wantBanned)
				}
				var verifies []string
				e.obs.mu.Lock()
				for _, ev := range e.obs.events[before:] {
					if len(ev) > 7 && ev[:7] == "verify:" {
						verifies = append(verifies, ev)
					}
				}
				e.obs.mu.Unlock()
				want := "verify:wrong"
				if last {
					want = "verify:locked"
				}
				if len(verifies) != 1 || verifies[0] != want {
					t.Fatalf("wrong code %d observed %v, want [%s]", i+1, verifies, want)
				}
			}
		})
	}
}
