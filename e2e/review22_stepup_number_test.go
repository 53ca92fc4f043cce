package e2e_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestReview22StepUpAfterAdminPhoneChange: an admin changes the identity's
// phone trait (a lost phone) after a step-up call went to the old number.
// The old number's code must not step the session up nor name the old
// number in a token: the verify answers 410 expired; "call me again" calls
// the new number, whose code gives a token naming it.
func TestReview22StepUpAfterAdminPhoneChange(t *testing.T) {
	st := startStack(t, stackOptions{})
	const email, oldDN, newDN = "zoya@example.com", "79001230011", "79001230012"
	id := st.Kratos.CreateIdentity(t, email, testPassword, "+"+oldDN)
	tok, err := loginWithCode(t, st, email, oldDN)
	if err != nil {
		t.Fatal(err)
	}
	svc := st.Services[0].URL
	auth := map[string]string{"X-Session-Token": tok}
	status, ch := postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{}, auth)
	if status != http.StatusCreated {
		t.Fatalf("step-up start: %d %v", status, ch)
	}
	cid := ch["challenge_id"].(string)
	oldCode := lastCode(t, svc, oldDN)

	st.Kratos.PatchIdentity(t, id, `[{"op":"replace","path":"/traits/phone","value":"+`+newDN+`"}]`)

	status, body := postJSON(t, http.MethodPost, svc+"/v1/challenges/"+cid+"/verify", map[string]any{"code": oldCode}, auth)
	if status == http.StatusOK || body["access_token"] != nil {
		t.Fatalf("the old number's code stepped the session up after the trait changed: %d %v", status, body)
	}
	if status != http.StatusGone || body["error"] != "expired" {
		t.Fatalf("old code after the change: %d %v, want 410 expired", status, body)
	}
	status, ch = postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{"resend": true}, auth)
	if status != http.StatusCreated {
		t.Fatalf("call me again: %d %v", status, ch)
	}
	if n := simRequests(t, svc, newDN); n != 1 {
		t.Fatalf("calls to the new number: %d, want 1", n)
	}
	status, body = postJSON(t, http.MethodPost, svc+"/v1/challenges/"+cid+"/verify", map[string]any{"code": lastCode(t, svc, newDN)}, auth)
	at, _ := body["access_token"].(string)
	if status != http.StatusOK || at == "" {
		t.Fatalf("the new number's code (form naming the old id): %d %v", status, body)
	}
	parts := strings.Split(at, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", at)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["phone_number"] != "+"+newDN {
		t.Fatalf("token phone_number = %v, want +%s", claims["phone_number"], newDN)
	}
}
