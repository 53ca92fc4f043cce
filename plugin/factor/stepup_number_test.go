package factor_test

import (
	"context"
	"errors"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestStepUpCodeProvesOnlyTheCurrentNumber: a step-up code proves the
// number its call went to, as a login code does (4086fce). When the
// session's phone trait names another number by the time the code comes
// (an admin replaced a lost phone), the old number's code is not tried:
// the answer is "expired", nothing is counted, no token or gate pass names
// the old number, and "call me again" calls the current number, whose code
// then verifies. A trait unchanged (or written otherwise) verifies as before.
// On the memory store and a real Redis: each checks the number in its own
// verify step (Redis: the verify script's ARGV[19]; with it ignored, the
// old number's code got a token there).
func TestStepUpCodeProvesOnlyTheCurrentNumber(t *testing.T) {
	tests := []struct {
		name    string
		phone   string // the trait at the verify
		byID    bool   // the form names the challenge (a page) or not (an API client)
		wantErr error
	}{
		{"trait unchanged, by id", "+79001112233", true, nil},
		{"trait unchanged, no id", "+79001112233", false, nil},
		{"same number written otherwise", "8 (900) 111-22-33", true, nil},
		{"trait changed, by id", "+79004445566", true, challenge.ErrExpired},
		{"trait changed, no id", "+79004445566", false, challenge.ErrExpired},
	}
	for _, store := range []string{"memory", "redis"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.name, func(t *testing.T) {
				ctx := context.Background()
				// The session of ident-1 with +79001112233.
				f, _, prov, sessions := stepUpOnSessions(t, store, 0, nil)
				creds := factor.Creds{SessionToken: "t"}
				v, err := f.StepUpStart(ctx, creds, false, "10.0.0.1")
				if err != nil {
					t.Fatal(err)
				}
				changed := *sessions.s
				changed.Traits = map[string]any{"phone": tt.phone}
				sessions.s = &changed
				id := ""
				if tt.byID {
					id = v.ID
				}
				out, err := f.StepUpVerify(ctx, creds, id, prov.code(1), factor.TokenOptions{})
				if tt.wantErr == nil {
					if err != nil || out.Token.AccessToken == "" {
						t.Fatalf("verify: %+v %v, want a token", out, err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) || out.Token.AccessToken != "" {
					t.Fatalf("the old number's code: token %q err %v, want %v and no token", out.Token.AccessToken, err, tt.wantErr)
				}
				if errors.Is(err, challenge.ErrNumberChanged) {
					t.Fatalf("the answer %v is not one the API maps: want it read as expired only", err)
				}
				// Nothing counted on the old number's challenge.
				old, err := f.StepUpGet(ctx, creds, v.ID)
				if err != nil || old.State != string(challenge.StatePending) || old.AttemptsLeft != v.AttemptsLeft {
					t.Fatalf("old challenge after the refusal: %+v %v, want pending with %d attempts left", old, err, v.AttemptsLeft)
				}
				// "Call me again" calls the current number; its code verifies.
				nv, err := f.StepUpStart(ctx, creds, true, "10.0.0.1")
				if err != nil || !nv.Placed || nv.PhoneMasked != "+7 900 ***-**-66" {
					t.Fatalf("call me again: %+v %v, want a call to the current number", nv, err)
				}
				if out, err := f.StepUpVerify(ctx, creds, v.ID, prov.code(2), factor.TokenOptions{}); err != nil || out.Token.AccessToken == "" {
					t.Fatalf("the current number's code (form naming the old id): %+v %v", out, err)
				}
			})
		}
	}
}
