package e2e_test

import (
	"context"
	"testing"
)

// TestKratos22RegistrationRefusedAfterTheCode: the registration hook
// accepts the right code, then Kratos refuses to save the identity (its
// e-mail is taken). The number was proven in this flow: the resubmit with
// another e-mail, with the same code or with none, completes the
// registration without a second (paid) call. It read "the code has
// expired" for the code just accepted, and a submit without it placed a
// new call.
func TestKratos22RegistrationRefusedAfterTheCode(t *testing.T) {
	for _, tt := range []struct {
		name   string
		second map[string]any // transient_payload of the resubmit
	}{
		{"the same code again", nil}, // filled below with the code
		{"no code", map[string]any{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t, stackOptions{RegistrationHook: true, SettingsHook: true})
			ctx := context.Background()
			st.Kratos.CreateIdentity(t, "taken@example.com", testPassword, "+79001110000")
			const dn = "79001239900"
			traits := map[string]any{"email": "taken@example.com", "phone": "+" + dn}
			r, err := st.Kratos.APIRegister(ctx, traits, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := r.Message(1090001); !ok {
				t.Fatalf("registration: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
			}
			code := lastCode(t, st.Services[0].URL, dn)
			r, err = st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, map[string]any{"callpass_code": code})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := r.Message(4000007); !ok || r.SessionToken != "" {
				t.Fatalf("the right code with a taken e-mail: want Kratos's 4000007, got %d %v %s", r.StatusCode, ids(r), r.Body)
			}
			second := tt.second
			if second == nil {
				second = map[string]any{"callpass_code": code}
			}
			traits["email"] = "fresh@example.com"
			r, err = st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, second)
			if err != nil {
				t.Fatal(err)
			}
			if r.SessionToken == "" {
				t.Fatalf("resubmit with a free e-mail: no identity (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
			}
			if n := simRequests(t, st.Services[0].URL, dn); n != 1 {
				t.Errorf("calls to the number: %d, want 1", n)
			}
			ident, err := st.Kratos.Identity(ctx, sessionIdentity(t, st, r.SessionToken))
			if err != nil {
				t.Fatal(err)
			}
			if meta, _ := ident["metadata_public"].(map[string]any); meta["phone_verified_number"] != "+"+dn {
				t.Errorf("metadata_public = %v, want the proven number", meta)
			}
		})
	}
}
