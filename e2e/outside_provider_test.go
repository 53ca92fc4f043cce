package e2e_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/cleanroomcp"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestLoginWithOutsideProvider: the whole product against a CallPass server
// the service's authors did not write (internal/cleanroomcp, written from the
// provider's documents alone), in a reading of them our simulator does not
// use: the status method only without its trailing '/', only with callId,
// a provider that answers a request without callId "can't find callid", two
// pending polls, and strict Content-Type / Content-Length checks. A real
// Kratos password login is interrupted, the call is placed once, the code the
// user reads off the caller ID opens the session, and the session's token
// verifies through the JWKS.
func TestLoginWithOutsideProvider(t *testing.T) {
	const token = "7c1e9a0b3d5f42e68a9b0c1d2e3f4a5b"
	cp := cleanroomcp.New(t, token, cleanroomcp.Variant{StatusParam: "callId", StatusSlash: "without",
		MissingParamUnknown: true, PendingPolls: 2, StrictHeaders: true})
	st := startStack(t, stackOptions{Redis: true, Env: []string{
		"CALLPASS_BASE_URL=" + cp.URL(), "CALLPASS_TOKEN=" + token, "SIM_ENABLED=false",
	}})
	ctx := context.Background()
	svc := st.Services[0].URL
	const email, dn = "olga@example.com", "79004445566"
	id := st.Kratos.CreateIdentity(t, email, testPassword, "+7 900 444-55-66")

	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok || r.SessionToken != "" {
		t.Fatalf("first submit: want the code step (1090001) and no session, got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
	}
	calls := cp.Calls()
	if len(calls) != 1 || calls[0].DN != dn || cp.StartRequests() != 1 {
		t.Fatalf("provider: %d calls from %d start requests (%+v), want one to %s", len(calls), cp.StartRequests(), calls, dn)
	}
	// API v3 (the default): the code is the last 4 of the 7 digits in "phone".
	code := calls[0].Code[len(calls[0].Code)-4:]
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("right code: no session (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
	}
	if n := cp.StartRequests(); n != 1 {
		t.Errorf("provider received %d start requests, want 1", n)
	}
	status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": r.SessionToken})
	if status != http.StatusOK {
		t.Fatalf("/v1/token: %d %v", status, body)
	}
	v, err := jwt.NewVerifier(jwt.VerifierConfig{JWKSURL: svc + "/.well-known/jwks.json", Issuer: svc, Audience: "callpass-kratos"})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(ctx, body["access_token"].(string))
	if err != nil {
		t.Fatalf("token does not verify via JWKS: %v", err)
	}
	if claims.Subject != id || !slices.Contains(claims.AMR, "tel") || claims.PhoneNumber != "+"+dn || !claims.PhoneNumberVerified {
		t.Errorf("claims: sub %q amr %v phone %q verified %v", claims.Subject, claims.AMR, claims.PhoneNumber, claims.PhoneNumberVerified)
	}
	// The service followed the call to its end through the status method
	// in the provider's form (polled in the background after the start).
	// Two pending answers, then NO_ANSWER: three answered polls in the
	// provider's form.
	deadline := time.Now().Add(15 * time.Second)
	for {
		polls := 0
		for _, q := range cp.Requests() {
			if q.Path == "/api/v3.0/get-call-password-status" && q.Form.Get("callId") == calls[0].CallID {
				polls++
			}
		}
		if polls >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d status polls in the provider's form after 15 s, want 3; requests: %+v", polls, cp.Requests())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
