package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// TestTwoInstancesShareOneRedis: a step-up code verified through one instance
// cannot be reused through the other, and 100 concurrent verifies of one
// challenge spread over both instances give exactly one success.
func TestTwoInstancesShareOneRedis(t *testing.T) {
	st := startStack(t, stackOptions{Instances: 2})
	const email, dn = "galina@example.com", "79002223344"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	a, b := st.Services[0].URL, st.Services[1].URL
	auth := map[string]string{"X-Session-Token": tok}

	status, ch := postJSON(t, http.MethodPost, a+"/v1/challenges", map[string]any{}, auth)
	if status != http.StatusCreated {
		t.Fatalf("start step-up on A: %d %v", status, ch)
	}
	id := ch["challenge_id"].(string)
	code := lastCode(t, a, dn)
	status, body := postJSON(t, http.MethodPost, b+"/v1/challenges/"+id+"/verify", map[string]any{"code": code}, auth)
	if status != http.StatusOK || body["verified"] != true || body["access_token"] == "" {
		t.Fatalf("verify on B: %d %v", status, body)
	}
	status, body = postJSON(t, http.MethodPost, a+"/v1/challenges/"+id+"/verify", map[string]any{"code": code}, auth)
	if status == http.StatusOK {
		t.Fatalf("the same code was accepted again on A: %v", body)
	}
	if body["error"] != "expired" {
		t.Errorf("reuse on A: error %v, want expired", body["error"])
	}

	// A fresh challenge, hammered from both instances at once.
	status, ch = postJSON(t, http.MethodPost, b+"/v1/challenges", map[string]any{}, auth)
	if status != http.StatusCreated {
		t.Fatalf("second step-up: %d %v", status, ch)
	}
	id = ch["challenge_id"].(string)
	code = lastCode(t, a, dn)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins, codes := 0, map[int]int{}
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			base := a
			if i%2 == 1 {
				base = b
			}
			s, _ := postJSON(t, http.MethodPost, base+"/v1/challenges/"+id+"/verify", map[string]any{"code": code}, auth)
			mu.Lock()
			defer mu.Unlock()
			codes[s]++
			if s == http.StatusOK {
				wins++
			}
		}(i)
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("100 concurrent verifies: %d successes (status counts %v), want exactly 1", wins, codes)
	}
}

// TestTokenExchange: a gated login's session is exchanged at /v1/token for a
// JWT whose sub is the identity and whose amr holds tel; it verifies through
// the JWKS endpoint. A session that skipped the gate (registration) gets 403.
func TestTokenExchange(t *testing.T) {
	st := startStack(t, stackOptions{})
	svc := st.Services[0].URL
	const email, dn = "dmitry@example.com", "79003334455"
	id := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": tok})
	if status != http.StatusOK {
		t.Fatalf("/v1/token: %d %v", status, body)
	}
	if body["token_type"] != "Bearer" || body["expires_in"].(float64) <= 0 {
		t.Errorf("token response shape: %v", body)
	}
	v, err := jwt.NewVerifier(jwt.VerifierConfig{JWKSURL: svc + "/.well-known/jwks.json", Issuer: svc, Audience: "callpass-kratos"})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatalf("token does not verify via JWKS: %v", err)
	}
	if claims.Subject != id {
		t.Errorf("sub = %q, want identity %q", claims.Subject, id)
	}
	for _, want := range []string{"pwd", "tel", "mfa"} {
		if !slices.Contains(claims.AMR, want) {
			t.Errorf("amr %v lacks %q", claims.AMR, want)
		}
	}
	if claims.PhoneNumber != "+"+dn || !claims.PhoneNumberVerified || claims.Sid == "" {
		t.Errorf("claims: phone %q verified %v sid %q", claims.PhoneNumber, claims.PhoneNumberVerified, claims.Sid)
	}
	// The same session may exchange again (it holds the pass). The number is
	// changed behind the factor's back (admin API) first: the token still
	// names the number the call went to, the only one proven.
	st.Kratos.PatchIdentity(t, id, `[{"op":"replace","path":"/traits/phone","value":"+79007778899"}]`)
	status, body = postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": tok})
	if status != http.StatusOK {
		t.Fatalf("second exchange for the same session: %d %v", status, body)
	}
	claims, err = v.Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if claims.PhoneNumber != "+"+dn || !claims.PhoneNumberVerified {
		t.Errorf("after the trait changed: phone %q verified %v, want the number called %q", claims.PhoneNumber, claims.PhoneNumberVerified, "+"+dn)
	}

	// Registration issues a session without passing the gate.
	reg, err := st.Kratos.APIRegister(context.Background(), map[string]any{"email": "eva@example.com", "phone": "+79004445566"}, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reg.SessionToken == "" {
		t.Fatalf("registration gave no session: %d %s", reg.StatusCode, reg.Body)
	}
	status, body = postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": reg.SessionToken})
	if status != http.StatusForbidden || body["error"] != "forbidden" || body["message"] == "" {
		t.Errorf("ungated session: %d %v, want 403 forbidden with a reason", status, body)
	}
	// No session at all.
	if status, _ := postJSON(t, http.MethodPost, svc+"/v1/token", nil, nil); status != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", status)
	}
	// A step-up on the registration session makes it eligible.
	auth := map[string]string{"X-Session-Token": reg.SessionToken}
	status, ch := postJSON(t, http.MethodPost, svc+"/v1/challenges", nil, auth)
	if status != http.StatusCreated {
		t.Fatalf("step-up start: %d %v", status, ch)
	}
	status, body = postJSON(t, http.MethodPost, svc+"/v1/challenges/"+ch["challenge_id"].(string)+"/verify",
		map[string]any{"code": lastCode(t, svc, "79004445566")}, auth)
	if status != http.StatusOK || body["access_token"] == nil {
		t.Fatalf("step-up verify: %d %v", status, body)
	}
	if status, _ := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth); status != http.StatusOK {
		t.Errorf("exchange after step-up: %d, want 200", status)
	}
}

// TestTokenForOneApp: with several apps configured (jwt.audience), an app
// asks /v1/token for its own audience and gets a token that it accepts and
// the other apps refuse (RFC 8725 §3.9); without the parameter the token
// names every app; an audience the service does not serve is a 400.
func TestTokenForOneApp(t *testing.T) {
	st := startStack(t, stackOptions{Env: []string{"JWT_AUDIENCE=app-a,app-b"}})
	svc := st.Services[0].URL
	const email, dn = "fedor@example.com", "79003334466"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	verifier := func(aud string) *jwt.Verifier {
		v, err := jwt.NewVerifier(jwt.VerifierConfig{JWKSURL: svc + "/.well-known/jwks.json", Issuer: svc, Audience: aud})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	a, b := verifier("app-a"), verifier("app-b")
	auth := map[string]string{"X-Session-Token": tok}
	exchange := func(body any) (int, map[string]any) {
		t.Helper()
		return postJSON(t, http.MethodPost, svc+"/v1/token", body, auth)
	}

	status, body := exchange(map[string]any{"audience": "app-a"})
	if status != http.StatusOK {
		t.Fatalf("/v1/token for app-a: %d %v", status, body)
	}
	raw := body["access_token"].(string)
	if _, err := a.Verify(context.Background(), raw); err != nil {
		t.Errorf("app-a refuses its own token: %v", err)
	}
	if _, err := b.Verify(context.Background(), raw); !errors.Is(err, jwt.ErrTokenWrongAudience) {
		t.Errorf("app-b accepts app-a's token: %v", err)
	}

	status, body = exchange(nil)
	if status != http.StatusOK {
		t.Fatalf("/v1/token without an audience: %d %v", status, body)
	}
	for name, v := range map[string]*jwt.Verifier{"app-a": a, "app-b": b} {
		if _, err := v.Verify(context.Background(), body["access_token"].(string)); err != nil {
			t.Errorf("%s refuses the token for every app: %v", name, err)
		}
	}

	status, body = exchange(map[string]any{"audience": "app-c"})
	if status != http.StatusBadRequest || body["error"] != "invalid_target" {
		t.Errorf("/v1/token for an unknown audience: %d %v, want 400 invalid_target", status, body)
	}
}
