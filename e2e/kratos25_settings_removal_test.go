package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestKratos25SettingsRemovalProvesTheCurrentNumber: with
// webhook.missing_phone=allow a real Kratos v1.3.1 settings flow may save an
// identity without its number. The current number's code comes first, as
// for a change, and the message says that code removes the number (reason
// current_number_removal), not that a new number is called next; with the
// code the save goes through with no further call, the trait and the
// proven number gone.
func TestKratos25SettingsRemovalProvesTheCurrentNumber(t *testing.T) {
	st := startStack(t, stackOptions{SettingsHook: true, Env: []string{"WEBHOOK_MISSING_PHONE=allow"}})
	ctx := context.Background()
	const email, dn = "zoya@example.com", "79005550011"
	who := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	traits := map[string]any{"email": email}
	sr, err := st.Kratos.APISettingsProfile(ctx, tok, traits, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := sr.Message(1090001)
	if !ok || messageContext(t, m)["reason"] != "current_number_removal" || !strings.HasPrefix(m.Text, "To remove your number, first type the code of the call to it") ||
		simRequests(t, st.Services[0].URL, dn) != 2 {
		t.Fatalf("removal: want 1090001 for the current number, reason current_number_removal, got %d %v %s (%d calls)",
			sr.StatusCode, ids(sr), sr.Body, simRequests(t, st.Services[0].URL, dn))
	}
	sr, err = st.Kratos.SubmitAPISettingsProfile(ctx, tok, sr.FlowID, traits, map[string]any{"callpass_code": lastCode(t, st.Services[0].URL, dn)})
	if err != nil {
		t.Fatal(err)
	}
	if sr.StatusCode != http.StatusOK || containsID(sr, 1090001) || containsID(sr, 4090001) {
		t.Fatalf("removal with the current number's code: %d %v %s", sr.StatusCode, ids(sr), sr.Body)
	}
	ident, err := st.Kratos.Identity(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := ident["traits"].(map[string]any)
	meta, _ := ident["metadata_public"].(map[string]any)
	if _, has := tr["phone"]; has || meta["phone_verified_number"] != nil {
		t.Fatalf("after the removal: traits %v metadata_public %v", tr, meta)
	}
	if n := simRequests(t, st.Services[0].URL, ""); n != 2 {
		t.Errorf("%d calls in all, want 2 (the login's and the current number's)", n)
	}
}
