package factor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestStepUpTabFollowsPastALockedChallenge: on the memory store and a real
// Redis, tab A's challenge is locked by wrong codes and a new call is
// placed for the session (tab B's "call me again"). A tab still naming the
// locked challenge follows the session's current call, as one naming a
// replaced, expired or confirmed challenge does: its reload shows the new
// call, the new call's code posted from it confirms the session, and a
// wrong one is one try on the new call, none on the locked one. With no
// newer call the locked challenge shows itself and a code posted for it is
// refused as locked, counting nothing.
func TestStepUpTabFollowsPastALockedChallenge(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		for _, newCall := range []bool{true, false} {
			name := store + "/new call"
			if !newCall {
				name = store + "/no new call"
			}
			t.Run(name, func(t *testing.T) {
				f, _, prov := stepUpOn(t, store, 0, nil)
				ctx := context.Background()
				creds := factor.Creds{SessionToken: "t"}
				a, err := f.StepUpStart(ctx, creds, false, "")
				if err != nil {
					t.Fatal(err)
				}
				for range a.AttemptsLeft {
					_, _ = f.StepUpVerify(ctx, creds, a.ID, "9999", factor.TokenOptions{})
				}
				if v, err := f.StepUpGet(ctx, creds, a.ID); err != nil || v.State != string(challenge.StateLocked) {
					t.Fatalf("tab A's challenge after its wrong codes: %+v, %v; want locked", v, err)
				}
				if !newCall {
					if v, err := f.StepUpFollow(ctx, creds, a.ID); err != nil || v.ID != a.ID || v.State != string(challenge.StateLocked) {
						t.Fatalf("a page naming the locked challenge, no newer call: %+v, %v; want it locked", v, err)
					}
					if _, err := f.StepUpVerify(ctx, creds, a.ID, prov.code(1), factor.TokenOptions{}); !errors.Is(err, challenge.ErrLocked) {
						t.Fatalf("its own code on the locked challenge: %v, want locked", err)
					}
					return
				}
				b, err := f.StepUpStart(ctx, creds, true, "")
				if err != nil || b.ID == a.ID || prov.calls != 2 {
					t.Fatalf("the new call: %+v, %v, %d calls", b, err, prov.calls)
				}
				if v, err := f.StepUpFollow(ctx, creds, a.ID); err != nil || v.ID != b.ID || v.State != string(challenge.StatePending) {
					t.Fatalf("a page naming the locked challenge: %s %s, %v; want the new call %s pending", v.ID, v.State, err, b.ID)
				}
				out, err := f.StepUpVerify(ctx, creds, a.ID, "9999", factor.TokenOptions{})
				var we *challenge.WrongCodeError
				if !errors.As(err, &we) || we.AttemptsLeft != b.AttemptsLeft-1 || out.Challenge.ID != b.ID {
					t.Fatalf("a wrong code through the locked id: %+v, %v; want wrong_code on %s with %d left", out.Challenge, err, b.ID, b.AttemptsLeft-1)
				}
				out, err = f.StepUpVerify(ctx, creds, a.ID, prov.code(2), factor.TokenOptions{})
				if err != nil || out.Challenge.ID != b.ID || out.Token.AccessToken == "" {
					t.Fatalf("the new call's code through the locked id: %+v, %v; want %s verified", out.Challenge, err, b.ID)
				}
				if v, err := f.StepUpGet(ctx, creds, a.ID); err != nil || v.State != string(challenge.StateLocked) || v.AttemptsLeft != 0 {
					t.Fatalf("the locked challenge after: %+v, %v", v, err)
				}
			})
		}
	}
}
