package e2e_test

import (
	"context"
	"testing"
)

// TestLoginAtAPhoneHookIssuesNoSession: kratos.yml's three web_hook blocks
// differ only in their url, so a copied block can send real Kratos logins
// to the settings or registration hook. There a user whose number is
// already proven (metadata_public.phone_verified_number) passed as
// "phone unchanged", and Kratos issued the session with no call at all. A
// login's body carries a session, which Kratos gives no registration or
// settings hook: the hook refuses it, no call is placed, no session issued.
func TestLoginAtAPhoneHookIssuesNoSession(t *testing.T) {
	for _, path := range []string{"/hooks/kratos/settings", "/hooks/kratos/registration"} {
		t.Run(path, func(t *testing.T) {
			st := startStack(t, stackOptions{LoginHookPath: path})
			ctx := context.Background()
			const email, dn = "pavel@example.com", "79005556677"
			id := st.Kratos.CreateIdentity(t, email, testPassword, "+7 900 555-66-77")
			st.Kratos.PatchIdentity(t, id, `[{"op":"add","path":"/metadata_public","value":`+
				`{"phone_verified_number":"+79005556677","phone_verified_at":"2026-01-01T00:00:00Z"}}]`)

			r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if r.SessionToken != "" {
				t.Fatalf("a login through %s got a session without a call", path)
			}
			if _, ok := r.Message(4090010); !ok {
				t.Errorf("want 4090010 (unavailable), got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
			}
			if n := simRequests(t, st.Services[0].URL, dn); n != 0 {
				t.Errorf("%d calls placed for a login at the wrong hook", n)
			}
		})
	}
}

// TestRegistrationHookAfterSavePlacesNoCall: a registration web_hook
// without can_interrupt and response.parse runs after Kratos has saved the
// identity, so no answer of the hook can keep an unproven number out, and
// its code could never be entered. The hook placed a call anyway (the
// provider's cost, and a ring on whatever number was typed); it now
// refuses at once, with the fix in the service's error log, and calls no one.
func TestRegistrationHookAfterSavePlacesNoCall(t *testing.T) {
	st := startStack(t, stackOptions{RegistrationHook: true, RegistrationHookAfterSave: true})
	ctx := context.Background()
	const dn = "79004443322"
	r, err := st.Kratos.APIRegister(ctx, map[string]any{"email": "olga@example.com", "phone": "+7 900 444-33-22"}, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := simRequests(t, st.Services[0].URL, dn); n != 0 {
		t.Errorf("%d calls placed by a registration hook that runs after the identity is saved", n)
	}
	if r.SessionToken != "" || r.StatusCode < 400 {
		t.Errorf("registration answered HTTP %d with session %q, want a refusal", r.StatusCode, r.SessionToken)
	}
}
