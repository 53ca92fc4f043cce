package e2e_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// What a client that knows an account's password controls in a login
// through the real Kratos v1.3.1, and what each gives: nothing but what the
// code typed gives. SECURITY.md ("What the factor protects against").

// TestKratos25LoginFieldsTheClientControls: the transient_payload fields
// the hook reads, sent as other JSON types, too long or both at once, and
// the identifier spelled otherwise. The right code's digits in any form but
// a string open no session, place no call and cost no attempt (refused
// before any work, with 4090014 saying which field and how); a resend sent with the right code is a resend
// (refused within the cooldown), not a verify; the identifier in another
// case and with spaces is the same identity, whose call is shown again, not
// placed again; a string holding the code in quotes is a wrong code, one
// attempt. The right code then signs in.
func TestKratos25LoginFieldsTheClientControls(t *testing.T) {
	// A cooldown no slow run outlasts: the resend below must be refused.
	st := startStack(t, stackOptions{Env: []string{"CHALLENGE_RESEND_COOLDOWNS=10m"}})
	ctx := context.Background()
	svc := st.Services[0].URL
	const email, dn = "ulyana@example.com", "79001250001"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(msgCalling); !ok {
		t.Fatalf("first submit: want %d, got %d %v %s", msgCalling, r.StatusCode, ids(r), r.Body)
	}
	flow, code := r.FlowID, lastCode(t, svc, dn)
	digits, err := strconv.Atoi(code)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(name, identifier string, tp map[string]any) *testenv.LoginResult {
		t.Helper()
		r, err := st.Kratos.SubmitAPILogin(ctx, flow, identifier, testPassword, tp)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.SessionToken != "" || r.StatusCode == http.StatusOK {
			t.Fatalf("%s: a session was issued (%d)", name, r.StatusCode)
		}
		if n := simRequests(t, svc, dn); n != 1 {
			t.Fatalf("%s: %d calls to the number, want the first one alone", name, n)
		}
		return r
	}
	for _, tt := range []struct {
		name, reason string
		tp           map[string]any
	}{
		{"the code as a number", "code_not_a_string", map[string]any{"callpass_code": digits}},
		{"the code in an array", "code_not_a_string", map[string]any{"callpass_code": []string{code}}},
		{"the code in an object", "code_not_a_string", map[string]any{"callpass_code": map[string]any{"callpass_code": code}}},
		{"the code as a boolean", "code_not_a_string", map[string]any{"callpass_code": true}},
		{"the code after 61 zeros", "code_too_long", map[string]any{"callpass_code": strings.Repeat("0", 61) + code}},
		{"the code with resend not a boolean", "resend_not_a_boolean", map[string]any{"callpass_code": code, "callpass_resend": "yes"}},
		{"the code as a number, in Russian", "code_not_a_string", map[string]any{"callpass_code": digits, "callpass_lang": "ru"}},
	} {
		// The app's mistake, told on the flow (it read 4090010
		// "temporarily unavailable"): which field, how, in the user's
		// language.
		r := submit(tt.name, email, tt.tp)
		m, ok := r.Message(4090014)
		mc := messageContext(t, m)
		if field, _ := mc["field"].(string); !ok || mc["reason"] != tt.reason || !strings.HasPrefix(field, "transient_payload.callpass_") {
			t.Errorf("%s: want 4090014 (%s), got %d %v %s", tt.name, tt.reason, r.StatusCode, ids(r), r.Body)
			continue
		}
		want := `The app sent the code in the wrong form: it must be a string of digits, such as "1234".`
		if tt.tp["callpass_lang"] == "ru" {
			want = `Приложение отправило код в неверном виде: код передаётся строкой из цифр, например "1234".`
		}
		if tt.reason == "code_not_a_string" && !strings.HasPrefix(m.Text, want) {
			t.Errorf("%s: text %q, want it to start %q", tt.name, m.Text, want)
		}
	}
	// Nothing was counted: the challenge still has all its attempts.
	r = submit("no code after the refused bodies", email, nil)
	m, ok := r.Message(msgCalling)
	if mc := messageContext(t, m); !ok || mc["placed"] != false || mc["attempts_left"] != float64(3) {
		t.Fatalf("no code after the refused bodies: want %d, the same call and 3 attempts left, got %v %s", msgCalling, ids(r), r.Body)
	}
	r = submit("the right code with resend", email, map[string]any{"callpass_code": code, "callpass_resend": true})
	if _, ok := r.Message(4090006); !ok {
		t.Errorf("the right code with resend: want 4090006 (cooldown), got %v %s", ids(r), r.Body)
	}
	for _, ident := range []string{"ULYANA@Example.COM", "  ulyana@example.com  "} {
		r = submit("identifier "+strconv.Quote(ident), ident, nil)
		m, ok := r.Message(msgCalling)
		if mc := messageContext(t, m); !ok || mc["placed"] != false || mc["attempts_left"] != float64(3) {
			t.Errorf("identifier %q: want %d with the same call and 3 attempts left, got %v %s", ident, msgCalling, ids(r), r.Body)
		}
	}
	r = submit("the code in quotes", email, map[string]any{"callpass_code": strconv.Quote(code)})
	m, ok = r.Message(4090011)
	if !ok || messageContext(t, m)["attempts_left"] != float64(2) {
		t.Errorf("the code in quotes: want 4090011 with 2 attempts left, got %v %s", ids(r), r.Body)
	}

	done, err := st.Kratos.SubmitAPILogin(ctx, flow, email, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		t.Fatal(err)
	}
	if done.SessionToken == "" {
		t.Fatalf("the right code: no session: %d %v %s", done.StatusCode, ids(done), done.Body)
	}
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": done.SessionToken}); status != http.StatusOK {
		t.Errorf("/v1/token: %d %v", status, body)
	}
}

// TestKratos25OneFlowTwoAccounts: someone with a victim's password and an
// account of their own drives one live login flow with both. Each account
// has its own challenge on the flow: the own account's call leaves the
// victim's challenge as it was, its code is a wrong code for the victim
// (counted on the victim's challenge), and the session it opens is the own
// account's. The victim's code of one flow is refused in another flow as
// expired, with no call. Only the victim's own code signs the victim in;
// each session's token, exchanged while both passes are fresh, names its
// own account and number.
func TestKratos25OneFlowTwoAccounts(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	svc := st.Services[0].URL
	const email, dn = "vera@example.com", "79001250002"
	const own, ownDN = "mallory25@example.com", "79001250003"
	victimID := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	ownID := st.Kratos.CreateIdentity(t, own, testPassword, "+"+ownDN)
	flow, err := st.Kratos.NewAPILoginFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	submit := func(name, who, flow string, tp map[string]any) *testenv.LoginResult {
		t.Helper()
		r, err := st.Kratos.SubmitAPILogin(ctx, flow, who, testPassword, tp)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return r
	}
	calls := func(name string, victim, ownCalls int) {
		t.Helper()
		if v, o := simRequests(t, svc, dn), simRequests(t, svc, ownDN); v != victim || o != ownCalls {
			t.Fatalf("%s: %d calls to the victim, %d to the own number, want %d and %d", name, v, o, victim, ownCalls)
		}
	}
	noSession := func(name string, r *testenv.LoginResult, want int64, attemptsLeft float64) {
		t.Helper()
		if r.SessionToken != "" {
			t.Fatalf("%s: a session was issued", name)
		}
		m, ok := r.Message(want)
		if !ok {
			t.Fatalf("%s: want %d, got %d %v %s", name, want, r.StatusCode, ids(r), r.Body)
		}
		if left, has := messageContext(t, m)["attempts_left"]; attemptsLeft >= 0 && (!has || left != attemptsLeft) {
			t.Errorf("%s: attempts left %v, want %v", name, left, attemptsLeft)
		}
	}

	noSession("the victim's password", submit("victim", email, flow, nil), msgCalling, 3)
	victimCode := lastCode(t, svc, dn)
	noSession("the own password on the victim's flow", submit("own", own, flow, nil), msgCalling, 3)
	calls("each account's first submit", 1, 1)
	ownCode := lastCode(t, svc, ownDN)
	if ownCode == victimCode {
		t.Logf("the simulator drew %s for both numbers: the cross-account code checks say nothing this run", ownCode)
	} else {
		noSession("the victim with the own account's code", submit("victim+own code", email, flow, map[string]any{"callpass_code": ownCode}), msgWrongCode, 2)
	}
	done := submit("own code", own, flow, map[string]any{"callpass_code": ownCode})
	if done.SessionToken == "" {
		t.Fatalf("the own account's code: no session: %d %v %s", done.StatusCode, ids(done), done.Body)
	}
	// The victim's challenge on the flow is as it was: shown, not placed again.
	left := float64(2)
	if ownCode == victimCode {
		left = 3
	}
	noSession("the victim after the own account signed in on the flow", submit("victim again", email, flow, nil), msgCalling, left)
	calls("after the own account's session", 1, 1)

	// The victim's code (seen, say, over a shoulder) in another flow.
	other, err := st.Kratos.NewAPILoginFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	noSession("the victim's code in another flow", submit("other flow", email, other, map[string]any{"callpass_code": victimCode}), 4090002, -1)
	calls("the victim's code in another flow", 1, 1)

	// The victim signs in with the own code: its gate pass is unclaimed
	// while the own session exchanges, within a second or two of it.
	victim := submit("the victim's own code", email, flow, map[string]any{"callpass_code": victimCode})
	if victim.SessionToken == "" {
		t.Fatalf("the victim's own code: no session: %d %v %s", victim.StatusCode, ids(victim), victim.Body)
	}
	v, err := jwt.NewVerifier(jwt.VerifierConfig{JWKSURL: svc + "/.well-known/jwks.json", Issuer: svc, Audience: "callpass-kratos"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, tok, sub, phone string
	}{
		{"the own session", done.SessionToken, ownID, "+" + ownDN},
		{"the victim's session", victim.SessionToken, victimID, "+" + dn},
	} {
		status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": tt.tok})
		if status != http.StatusOK {
			t.Fatalf("/v1/token for %s: %d %v", tt.name, status, body)
		}
		claims, err := v.Verify(ctx, body["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if claims.Subject != tt.sub || claims.PhoneNumber != tt.phone {
			t.Errorf("%s's token: sub %q phone %q, want %q and %s", tt.name, claims.Subject, claims.PhoneNumber, tt.sub, tt.phone)
		}
	}
}
