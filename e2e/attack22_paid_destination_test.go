package e2e_test

import (
	"context"
	"fmt"
	"testing"
)

// TestAttackPremiumRateNumberIsNeverCalled: toll fraud's classic payout is
// a premium-rate number (Russia's 8-803 and 8-809: the caller pays extra,
// and the number's holder shares in it). Registration is open to anyone with
// any number, so with no prefix list configured (the default) an attacker
// registered such numbers and the service called each one: a paid call per
// sign-up, five an hour per number, up to the phone-check share of the daily
// budget. Through a real Kratos, a sign-up and a login with such a number
// are refused with 4090012 (calls to this number are not possible) and the
// provider receives no request; an ordinary number is still called.
func TestAttackPremiumRateNumberIsNeverCalled(t *testing.T) {
	st := startStack(t, stackOptions{RegistrationHook: true})
	ctx := context.Background()
	svc := st.Services[0].URL
	for i, c := range []struct{ typed, dn string }{{"+7 809 555-35-35", "78095553535"}, {"+7 803 123 45 67", "78031234567"}} {
		typed, dn := c.typed, c.dn
		r, err := st.Kratos.APIRegister(ctx, map[string]any{"email": fmt.Sprintf("toll%d@example.com", i), "phone": typed}, testPassword, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.SessionToken != "" || r.StatusCode < 400 {
			t.Errorf("registration with %s: HTTP %d, session %q, want a refusal", typed, r.StatusCode, r.SessionToken)
		}
		if _, ok := r.Message(4090012); !ok {
			t.Errorf("registration with %s: want 4090012 (not allowed), got HTTP %d %v: %s", typed, r.StatusCode, ids(r), r.Body)
		}
		if n := simRequests(t, svc, dn); n != 0 {
			t.Errorf("registration with %s: the provider received %d start requests for a premium-rate number", typed, n)
		}
	}

	// An identity an admin created with such a number: its login places no
	// call either (and is refused, as a number the gate cannot use).
	const email = "tollfree-login@example.com"
	st.Kratos.CreateIdentity(t, email, testPassword, "+7 809 555-00-11")
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("a login with a premium-rate number got a session")
	}
	if _, ok := r.Message(4090012); !ok {
		t.Errorf("login: want 4090012, got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
	}
	if n := simRequests(t, svc, "78095550011"); n != 0 {
		t.Errorf("login: the provider received %d start requests for a premium-rate number", n)
	}

	// A mobile number is still called.
	r, err = st.Kratos.APIRegister(ctx, map[string]any{"email": "mobile@example.com", "phone": "+7 900 555-35-35"}, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(msgCalling); !ok {
		t.Errorf("registration with a mobile number: want %d (calling), got HTTP %d %v: %s", msgCalling, r.StatusCode, ids(r), r.Body)
	}
	if n := simRequests(t, svc, "79005553535"); n != 1 {
		t.Errorf("registration with a mobile number: %d start requests, want 1", n)
	}
}
