package e2e_test

import (
	"context"
	"testing"
)

// TestPastedCallingNumberSignsIn: a UI that passes callpass_code on as the
// user put it in, the calling number pasted with its punctuation, gets the
// session from a real Kratos when the number's last digits are the code,
// as the code step (code.js, /2fa, examples/ui) reads that text; it was a
// format error costing an attempt. A number ending in other digits is a
// wrong code with its attempts left.
func TestPastedCallingNumberSignsIn(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	const email, dn = "pasted@example.com", "79001234568"
	st.Kratos.CreateIdentity(t, email, testPassword, "+7 (900) 123-45-68")

	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("first submit: want 1090001, got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
	}
	code := lastCode(t, st.Services[0].URL, dn)
	pasted := func(code string) string {
		return "+7 (495) 123-" + code[:len(code)-2] + "-" + code[len(code)-2:]
	}

	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": pasted(wrongCode(code))})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Message(4090001)
	if r.SessionToken != "" || !ok {
		t.Fatalf("a number ending in other digits: want 4090001 and no session, got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
	}
	if left := messageContext(t, m)["attempts_left"]; left != float64(2) {
		t.Errorf("a number ending in other digits: attempts_left = %v, want 2", left)
	}

	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": pasted(code)})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("the calling number pasted: no session (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
	}
}
