package e2e_test

import (
	"context"
	"testing"
)

// TestKratos23CompletedRegistrationResubmitted: Kratos v1.3.1 accepts a
// registration flow that already made an account: submitted again (same
// flow id) with another e-mail, it saves another identity. A number the
// flow proved stayed proven for it while its code lived (so that a
// resubmit after Kratos refused the save needs no second call), and the
// hook let that resubmit through with the code again or none: a second
// account with the number, with no new call (two identities, one call).
// The registration hook after the save (/hooks/kratos/registered) now ends
// the proof: the code reads as expired, a submit without it places a new
// call, and no second identity is saved without that call's code. Without
// that hook in kratos.yml, the hole stays (the last case shows it, as
// SECURITY.md says).
func TestKratos23CompletedRegistrationResubmitted(t *testing.T) {
	for _, tt := range []struct {
		name        string
		noSavedHook bool
		redis       bool
		withCode    bool
		wantSaved   bool
		wantCalls   int
		wantRefusal int64 // a message id of the refused resubmit
	}{
		{name: "the code again", withCode: true, wantCalls: 1, wantRefusal: 4090002},
		{name: "no code", wantCalls: 2, wantRefusal: 1090001},
		{name: "the code again on redis", redis: true, withCode: true, wantCalls: 1, wantRefusal: 4090002},
		{name: "no code and no registered hook", noSavedHook: true, wantSaved: true, wantCalls: 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t, stackOptions{RegistrationHook: true, NoRegisteredHook: tt.noSavedHook, Redis: tt.redis})
			ctx := context.Background()
			const dn = "79001239901"
			traits := map[string]any{"email": "first@example.com", "phone": "+" + dn}
			r, err := st.Kratos.APIRegister(ctx, traits, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := r.Message(1090001); !ok {
				t.Fatalf("registration: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
			}
			code := lastCode(t, st.Services[0].URL, dn)
			first, err := st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, map[string]any{"callpass_code": code})
			if err != nil {
				t.Fatal(err)
			}
			if first.SessionToken == "" {
				t.Fatalf("registration with the right code: no identity (HTTP %d %v): %s", first.StatusCode, ids(first), first.Body)
			}
			traits["email"] = "second@example.com"
			tp := map[string]any{}
			if tt.withCode {
				tp["callpass_code"] = code
			}
			again, err := st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, tp)
			if err != nil {
				t.Fatal(err)
			}
			if saved := again.SessionToken != ""; saved != tt.wantSaved {
				t.Fatalf("the completed flow resubmitted with another e-mail: saved %v, want %v (HTTP %d %v): %s",
					saved, tt.wantSaved, again.StatusCode, ids(again), again.Body)
			}
			if tt.wantRefusal != 0 {
				if _, ok := again.Message(tt.wantRefusal); !ok {
					t.Errorf("resubmit: want message %d, got HTTP %d %v", tt.wantRefusal, again.StatusCode, ids(again))
				}
			}
			if n := simRequests(t, st.Services[0].URL, dn); n != tt.wantCalls {
				t.Errorf("calls to the number: %d, want %d", n, tt.wantCalls)
			}
		})
	}
}
