package e2e_test

import (
	"context"
	"testing"
)

// TestKratos24LoginResubmitOnEachStore: Kratos v1.3.1 accepts a login flow
// that already issued a session: submitted again (same flow id, the
// password again) it issues another one (the control case, without the
// gate). With the gate the resubmit runs the login hook again, and the
// code, consumed by the first submit, reads as expired (4090002): no
// second session, no second call. SECURITY.md ("Replay") says why an
// exact retry of a code submit is not let through again: the hook cannot
// tell a user's retry after a failure from this resubmit by whoever has
// the password and saw the code.
func TestKratos24LoginResubmitOnEachStore(t *testing.T) {
	for _, tt := range []struct {
		name   string
		noHook bool
		redis  bool
	}{
		{name: "memory"},
		{name: "redis", redis: true},
		{name: "without the gate", noHook: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t, stackOptions{NoHook: tt.noHook, Redis: tt.redis})
			ctx := context.Background()
			const email, dn = "resubmit@example.com", "79001239977"
			st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
			r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			var tp map[string]any
			if !tt.noHook {
				if _, ok := r.Message(1090001); !ok {
					t.Fatalf("first submit: want 1090001, got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
				}
				tp = map[string]any{"callpass_code": lastCode(t, st.Services[0].URL, dn)}
				if r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, tp); err != nil {
					t.Fatal(err)
				}
			}
			if r.SessionToken == "" {
				t.Fatalf("login: no session (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
			}
			again, err := st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, tp)
			if err != nil {
				t.Fatal(err)
			}
			if tt.noHook {
				// What the gate stands in front of: Kratos itself takes the
				// completed flow again.
				if again.SessionToken == "" || again.SessionToken == r.SessionToken {
					t.Fatalf("without the gate the resubmit gave HTTP %d %v: Kratos no longer issues a second session, "+
						"SECURITY.md's reasoning needs a look", again.StatusCode, ids(again))
				}
				return
			}
			if again.SessionToken != "" {
				t.Fatalf("the completed flow resubmitted with its code opened a second session")
			}
			if _, ok := again.Message(4090002); !ok {
				t.Errorf("resubmit: want 4090002, got HTTP %d %v", again.StatusCode, ids(again))
			}
			if n := simRequests(t, st.Services[0].URL, dn); n != 1 {
				t.Errorf("provider received %d start requests, want 1", n)
			}
		})
	}
}
