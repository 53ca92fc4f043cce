package factor_test

import (
	"context"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/plugin/challenge"
	"github.com/callpass-kratos/callpass-kratos/plugin/factor"
)

// TestStepUpRetireLeftByAGoneStart: a "call me again" took X out of use
// (challenge.Retirer) and its instance died before the call (or its give
// back failed), so X stays superseded while the start lease it held runs
// out. With no start holding the lease, no start can still place that
// call: X is given back. Its code typed on its page confirms, and the page
// offers its field (it said "expired"); the next start of the session,
// holding the lease, gives X back and goes on as with X live: a plain
// start shows X and places no call (X's call is still the user's way in);
// a resend counts X's resends (the cooldowns and the maximum go by them). Reading X as replaced placed a paid call for a start
// that only asked to see the session's call, and started the resend count
// again from 0.
func TestStepUpRetireLeftByAGoneStart(t *testing.T) {
	tests := []struct {
		name string
		// resends before the retire: X is the call the last of them placed.
		resends int
		// check runs after X was retired and its start is gone.
		check func(t *testing.T, f *factor.Service, svc *challenge.Service, x factor.ChallengeView, calls func() int)
	}{
		{"a start shows it", 0, func(t *testing.T, f *factor.Service, svc *challenge.Service, x factor.ChallengeView, calls func() int) {
			ctx := context.Background()
			before := calls()
			v, err := f.StepUpStart(ctx, factor.Creds{SessionToken: "t"}, false, "")
			if err != nil || v.ID != x.ID || v.State != string(challenge.StatePending) || v.Placed || calls() != before {
				t.Fatalf("start: %s %s placed %v, %v, %d calls after %d; want X %s pending, no call", v.ID, v.State, v.Placed, err, calls(), before, x.ID)
			}
			out, err := f.StepUpVerify(ctx, factor.Creds{SessionToken: "t"}, x.ID, "1001", factor.TokenOptions{})
			if err != nil || out.Challenge.ID != x.ID || out.Token.AccessToken == "" {
				t.Fatalf("X's code: %+v, %v; want X confirmed", out.Challenge, err)
			}
		}},
		{"its code confirms", 0, func(t *testing.T, f *factor.Service, svc *challenge.Service, x factor.ChallengeView, calls func() int) {
			// No start between: the code typed on X's page.
			out, err := f.StepUpVerify(context.Background(), factor.Creds{SessionToken: "t"}, x.ID, "1001", factor.TokenOptions{})
			if err != nil || out.Challenge.ID != x.ID || out.Token.AccessToken == "" {
				t.Fatalf("X's code: %+v, %v; want X confirmed", out.Challenge, err)
			}
		}},
		{"its page offers its code", 0, func(t *testing.T, f *factor.Service, svc *challenge.Service, x factor.ChallengeView, calls func() int) {
			v, err := f.StepUpFollow(context.Background(), factor.Creds{SessionToken: "t"}, x.ID)
			if err != nil || v.ID != x.ID || v.State != string(challenge.StatePending) {
				t.Fatalf("X's page: %s %s, %v; want X pending", v.ID, v.State, err)
			}
		}},
		{"a resend counts its resends", 1, func(t *testing.T, f *factor.Service, svc *challenge.Service, x factor.ChallengeView, calls func() int) {
			before := calls()
			v, err := f.StepUpResend(context.Background(), factor.Creds{SessionToken: "t"}, x.ID, "")
			if err != nil || !v.Placed || calls() != before+1 {
				t.Fatalf("call me again: %+v, %v", v, err)
			}
			got, err := svc.Get(context.Background(), v.ID)
			if err != nil || got.Resends != 2 {
				t.Fatalf("the new call's resends: %d, %v; want 2 (X's 1, and this one)", got.Resends, err)
			}
		}},
	}
	for _, store := range []string{"memory", "redis"} {
		for _, tt := range tests {
			t.Run(store+"/"+tt.name, func(t *testing.T) {
				f, svc, ps, prov := raceStepUpOn(t, store)
				ctx := context.Background()
				x := startPastCooldown(t, f)
				for range tt.resends {
					var err error
					if x, err = f.StepUpResend(ctx, factor.Creds{SessionToken: "t"}, x.ID, ""); err != nil || !x.Placed {
						t.Fatalf("resend: %+v, %v", x, err)
					}
					time.Sleep(5 * time.Millisecond) // past the resend cooldown
				}
				// What the dead start did: X retired, no lease left.
				b := challenge.Binding{Purpose: challenge.PurposeStepUp, IdentityID: "ident-1", FlowID: "sess-1"}
				if _, retired, err := ps.fullStore.Retire(ctx, b, x.ID, time.Now()); err != nil || !retired {
					t.Fatalf("retire: %v %v", retired, err)
				}
				tt.check(t, f, svc, x, prov.placed)
			})
		}
	}
}
