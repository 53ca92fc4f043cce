package e2e_test

import (
	"context"
	"testing"
)

// TestKratos22PhoneChangedBetweenPasswordAndCode: an admin changes the
// identity's phone trait (a lost or stolen phone) after the password was
// accepted and the call went to the old number. The old number's code must
// not open a session: it proves a number the account no longer has. The
// submit with it places a call to the new number instead (one call), and
// that call's code signs in.
func TestKratos22PhoneChangedBetweenPasswordAndCode(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	const email, oldDN, newDN = "irina@example.com", "79001230001", "79001230002"
	id := st.Kratos.CreateIdentity(t, email, testPassword, "+"+oldDN)
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("first submit: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	oldCode := lastCode(t, st.Services[0].URL, oldDN)

	st.Kratos.PatchIdentity(t, id, `[{"op":"replace","path":"/traits/phone","value":"+`+newDN+`"}]`)

	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": oldCode})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("the old number's code opened a session after the phone trait was changed to another number")
	}
	m, ok := r.Message(1090001)
	if !ok {
		t.Fatalf("old code after the change: want 1090001 (a call to the new number), got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	if pm := messageContext(t, m)["phone_masked"]; pm != "+7 900 ***-**-02" {
		t.Errorf("phone_masked = %v, want the new number's", pm)
	}
	if n := simRequests(t, st.Services[0].URL, newDN); n != 1 {
		t.Fatalf("calls to the new number: %d, want 1", n)
	}
	newCode := lastCode(t, st.Services[0].URL, newDN)
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": newCode})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("the new number's code: no session (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
	}
	if n := simRequests(t, st.Services[0].URL, oldDN); n != 1 {
		t.Errorf("calls to the old number: %d, want 1", n)
	}
}
