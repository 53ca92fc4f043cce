package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

// The ways into a Kratos v1.3.1 session for someone who knows the password
// but not the phone, each against the real Kratos: a completed login flow
// submitted again, submits at once, refresh and aal2 login flows, and
// recovery (off in the shipped kratos.yml; on here, as a deployer may set
// it). SECURITY.md ("Account recovery and other Kratos flows") says what
// each gives.

// TestKratos24CompletedLoginResubmitted: Kratos v1.3.1 keeps a completed
// login flow usable (it checks only the flow's expiry), as it does a
// registration flow: whoever has its id (an API flow needs nothing else)
// and the password can submit it again. The hook sees the flow's verified
// challenge: its code again is refused as expired, a submit without it
// places a new call (to the account's own number), another account's
// submit finds no challenge of its own, and another account's call on the
// same flow proves nothing for the first account. No session comes of it.
func TestKratos24CompletedLoginResubmitted(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	svc := st.Services[0].URL
	const email, dn = "lena@example.com", "79001240001"
	const ownEmail, ownDN = "mallory@example.com", "79001240002"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	st.Kratos.CreateIdentity(t, ownEmail, testPassword, "+"+ownDN)

	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("first submit: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	flow, code := r.FlowID, lastCode(t, svc, dn)
	done, err := st.Kratos.SubmitAPILogin(ctx, flow, email, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		t.Fatal(err)
	}
	if done.SessionToken == "" {
		t.Fatalf("right code: no session: %d %v %s", done.StatusCode, ids(done), done.Body)
	}

	resubmit := func(name, who string, tp map[string]any, want int64) *testenv.LoginResult {
		t.Helper()
		r, err := st.Kratos.SubmitAPILogin(ctx, flow, who, testPassword, tp)
		if err != nil {
			t.Fatal(err)
		}
		if r.SessionToken != "" {
			t.Fatalf("%s: the completed flow issued a session", name)
		}
		if _, ok := r.Message(want); !ok {
			t.Errorf("%s: want message %d, got %d %v %s", name, want, r.StatusCode, ids(r), r.Body)
		}
		return r
	}
	resubmit("the used code again", email, map[string]any{"callpass_code": code}, 4090002)
	if n := simRequests(t, svc, dn); n != 1 {
		t.Errorf("after the used code again: %d calls to the number, want 1", n)
	}
	resubmit("no code", email, nil, 1090001)
	if n := simRequests(t, svc, dn); n != 2 {
		t.Errorf("after a submit without a code: %d calls to the number, want 2 (a new call, its code for the number's holder)", n)
	}
	newCode := lastCode(t, svc, dn)
	resubmit("another account with the used code", ownEmail, map[string]any{"callpass_code": code}, 4090002)

	// Another account's own call on this flow: its code is that account's
	// and nobody else's.
	resubmit("another account without a code", ownEmail, nil, 1090001)
	ownCode := lastCode(t, svc, ownDN)
	if ownCode == newCode {
		t.Logf("the simulator drew %s for both numbers: the cross-account code check says nothing this run", ownCode)
	} else {
		resubmit("the account with the other account's code", email, map[string]any{"callpass_code": ownCode}, 4090001)
	}
	if n := simRequests(t, svc, ""); n != 3 {
		t.Errorf("calls placed: %d, want 3 (the login's, the codeless resubmit's, the other account's)", n)
	}

	// The session the flow issued is untouched and still exchanges.
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": done.SessionToken}); status != http.StatusOK {
		t.Errorf("/v1/token for the flow's session: %d %v", status, body)
	}
}

// TestKratos24CompletedBrowserLoginResubmitted: the browser flow too, from
// a client holding the flow's CSRF cookie and token but not the session
// cookie the login set (with it Kratos answers "already signed in").
func TestKratos24CompletedBrowserLoginResubmitted(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	svc := st.Services[0].URL
	const email, dn = "olga@example.com", "79001240003"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	b := st.Kratos.NewBrowser(t)
	flow, err := b.NewLoginFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.BrowserLoginFormPost(ctx, flow, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("first submit: want 1090001, got %v (redirect %s)", ids(r), r.RedirectTo)
	}
	code := lastCode(t, svc, dn)
	pub, _ := url.Parse(st.Kratos.PublicURL)
	before := b.HTTP.Jar.Cookies(pub)
	if r, err = b.BrowserLoginFormPost(ctx, flow, email, testPassword, map[string]any{"callpass_code": code}); err != nil {
		t.Fatal(err)
	}
	if r.SessionCookie == "" {
		t.Fatalf("right code: no session cookie: %v %s", ids(r), r.RedirectTo)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	jar.SetCookies(pub, before)
	b.HTTP.Jar = jar
	for _, tt := range []struct {
		name string
		tp   map[string]any
		want int64
	}{
		{"the used code again", map[string]any{"callpass_code": code}, 4090002},
		{"no code", nil, 1090001},
	} {
		r, err := b.BrowserLoginFormPost(ctx, flow, email, testPassword, tt.tp)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if r.SessionCookie != "" {
			t.Fatalf("%s: the completed browser flow issued a session", tt.name)
		}
		if _, ok := r.Message(tt.want); !ok {
			t.Errorf("%s: want message %d, got %d %v (redirect %s)", tt.name, tt.want, r.StatusCode, ids(r), r.RedirectTo)
		}
	}
	if n := simRequests(t, svc, dn); n != 2 {
		t.Errorf("calls to the number: %d, want 2 (the login's and the codeless resubmit's)", n)
	}
}

// TestKratos24LoginSubmittedAtOnce: the right code submitted several times
// at once on one flow (a double click, or someone who read it over the
// user's shoulder racing the user) gives one session, whatever the order
// the hook sees them in.
func TestKratos24LoginSubmittedAtOnce(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	svc := st.Services[0].URL
	const email, dn = "pavel@example.com", "79001240004"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("first submit: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	code := lastCode(t, svc, dn)
	const n = 4
	results := make([]*testenv.LoginResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			results[i], errs[i] = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": code})
		}()
	}
	close(gate)
	wg.Wait()
	sessions := 0
	for i, res := range results {
		if errs[i] != nil {
			t.Fatalf("submit %d: %v", i, errs[i])
		}
		if res.SessionToken != "" {
			sessions++
			continue
		}
		// 4090002 (the code used) when the verify came second; Kratos's
		// own refusal of a submit that raced the flow's update is as good.
		if res.StatusCode == http.StatusOK {
			t.Errorf("submit %d: 200 without a session token: %s", i, res.Body)
		}
		t.Logf("submit %d: %d %v", i, res.StatusCode, ids(res))
	}
	if sessions != 1 {
		t.Errorf("%d submits of one code at once gave %d sessions, want 1", n, sessions)
	}
}

// TestKratos24RefreshLoginIsGated: a refresh login (refresh=true on a
// session) runs the password hooks, so it refreshes nothing until the code
// is typed: authenticated_at stays, and a refresh flow submitted with
// another account's password (Kratos then makes a fresh session for that
// account) calls that account's number. With the code the session is
// refreshed, and /v1/token's auth_time is the refresh. An aal=aal2 login,
// with only the password method enabled, issues nothing.
func TestKratos24RefreshLoginIsGated(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	svc, public := st.Services[0].URL, st.Kratos.PublicURL
	const email, dn = "roman@example.com", "79001240005"
	const otherEmail, otherDN = "sofia@example.com", "79001240006"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	st.Kratos.CreateIdentity(t, otherEmail, testPassword, "+"+otherDN)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	before := whoami(t, public, tok, http.StatusOK)
	hdr := http.Header{"X-Session-Token": {tok}}

	flow := apiFlowID(t, public+"/self-service/login/api?refresh=true", tok)
	r, err := st.Kratos.SubmitAPILoginHeader(ctx, flow, email, testPassword, nil, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("refresh with the password alone issued a session")
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("refresh: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	if w := whoami(t, public, tok, http.StatusOK); !w.AuthenticatedAt.Equal(before.AuthenticatedAt) {
		t.Errorf("refresh with the password alone moved authenticated_at from %v to %v", before.AuthenticatedAt, w.AuthenticatedAt)
	}

	// The refresh flow with another account's password.
	other, err := st.Kratos.SubmitAPILoginHeader(ctx, apiFlowID(t, public+"/self-service/login/api?refresh=true", tok),
		otherEmail, testPassword, nil, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if other.SessionToken != "" {
		t.Fatal("a refresh flow with another account's password issued a session")
	}
	if _, ok := other.Message(1090001); !ok || simRequests(t, svc, otherDN) != 1 {
		t.Errorf("a refresh flow with another account's password: want 1090001 and a call to that account's number, got %d %v, %d calls",
			other.StatusCode, ids(other), simRequests(t, svc, otherDN))
	}

	code := lastCode(t, svc, dn)
	if r, err = st.Kratos.SubmitAPILoginHeader(ctx, flow, email, testPassword, map[string]any{"callpass_code": code}, hdr); err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != http.StatusOK {
		t.Fatalf("refresh with the right code: %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	after := whoami(t, public, tok, http.StatusOK)
	if after.ID != before.ID || !after.AuthenticatedAt.After(before.AuthenticatedAt) {
		t.Fatalf("refresh with the code: session %s authenticated_at %v, want session %s after %v", after.ID, after.AuthenticatedAt, before.ID, before.AuthenticatedAt)
	}
	status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": tok})
	if status != http.StatusOK {
		t.Fatalf("/v1/token after the refresh: %d %v", status, body)
	}
	v, err := jwt.NewVerifier(jwt.VerifierConfig{JWKSURL: svc + "/.well-known/jwks.json", Issuer: svc, Audience: "callpass-kratos"})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(ctx, body["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if claims.AuthTime.Unix() != after.AuthenticatedAt.Unix() || claims.Sid != before.ID {
		t.Errorf("token after the refresh: auth_time %v sid %s, want %v and %s", claims.AuthTime, claims.Sid, after.AuthenticatedAt, before.ID)
	}

	// aal=aal2 with only the password enabled: with the session and without.
	calls := simRequests(t, svc, "")
	for _, sessTok := range []string{tok, ""} {
		hdr := map[string]string{"Accept": "application/json"}
		if sessTok != "" {
			hdr["X-Session-Token"] = sessTok
		}
		status, raw := rawRequest(t, http.MethodGet, public+"/self-service/login/api?aal=aal2", nil, 0, hdr)
		var f struct {
			ID string `json:"id"`
		}
		if status != http.StatusOK || json.Unmarshal(raw, &f) != nil || f.ID == "" {
			t.Logf("aal2 login flow (session %v): Kratos refused it: %d", sessTok != "", status)
			continue
		}
		h := http.Header{}
		if sessTok != "" {
			h.Set("X-Session-Token", sessTok)
		}
		r, err := st.Kratos.SubmitAPILoginHeader(ctx, f.ID, email, testPassword, nil, h)
		if err != nil {
			t.Fatal(err)
		}
		if r.SessionToken != "" || r.StatusCode == http.StatusOK {
			t.Errorf("aal2 login flow (session %v) with the password: %d %s, want no session", sessTok != "", r.StatusCode, r.Body)
		}
		t.Logf("aal2 login flow (session %v) with the password: %d", sessTok != "", r.StatusCode)
	}
	if n := simRequests(t, svc, ""); n != calls {
		t.Errorf("aal2 login flows placed %d calls, want none", n-calls)
	}
}

// TestKratos24RecoverySessionIsNotGated: Kratos's recovery issues a full
// session with no login hook: no call. It does so with the recovery flow on
// (off by default and in the shipped kratos.yml; a deployer may turn it on)
// and also with it off, for a code the admin API makes
// (POST /admin/recovery/code is served while the code method is on, as it
// is by default). /v1/token refuses the session, as SECURITY.md says, and a
// step-up calls the account's own number. But it is a Kratos session: in
// settings it tries to set a number of its own. With
// webhook.settings_confirm_current (the default) the current number is
// called first and the number is not changed without that call's code;
// with it, the new number is called and saved, and the next password login
// calls it. With the key off, the recovery session replaces the factor with
// one call to its own number (SECURITY.md).
func TestKratos24RecoverySessionIsNotGated(t *testing.T) {
	for _, tt := range []struct {
		flowOn, confirm bool
	}{{true, true}, {false, true}, {false, false}} {
		t.Run(fmt.Sprintf("recovery flow on %v and confirm current %v", tt.flowOn, tt.confirm), func(t *testing.T) {
			recoveryIsNotGated(t, tt.flowOn, tt.confirm)
		})
	}
}

func recoveryIsNotGated(t *testing.T, flowOn, confirm bool) {
	st := startStack(t, stackOptions{SettingsHook: true, Env: []string{fmt.Sprintf("WEBHOOK_SETTINGS_CONFIRM_CURRENT=%v", confirm)}, KratosConfig: map[string]any{
		"selfservice": map[string]any{"flows": map[string]any{"recovery": map[string]any{
			"enabled": flowOn, "use": "code", "ui_url": "http://127.0.0.1:4455/recovery",
		}}},
		// An API recovery flow hands its session token over in continue_with.
		"feature_flags": map[string]any{"use_continue_with_transitions": true},
	}})
	ctx := context.Background()
	svc, public := st.Services[0].URL, st.Kratos.PublicURL
	const email, dn, newDN = "tamara@example.com", "79001240007", "79001240008"
	id := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)

	// What the e-mail would carry, or a support desk hand over.
	tok := adminRecoverySession(t, st, id)
	w := whoami(t, public, tok, http.StatusOK)
	if len(w.Methods) != 1 || w.Methods[0].Method != "code_recovery" {
		t.Errorf("recovery session's methods: %+v, want code_recovery alone", w.Methods)
	}
	if n := simRequests(t, svc, ""); n != 0 {
		t.Errorf("recovery placed %d calls: the login hook does not run there", n)
	}
	auth := map[string]string{"X-Session-Token": tok}
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth); status != http.StatusForbidden || body["error"] != "forbidden" {
		t.Errorf("/v1/token for the recovery session: %d %v, want 403 forbidden", status, body)
	}
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/challenges", nil, auth); status != http.StatusCreated || simRequests(t, svc, dn) != 1 {
		t.Errorf("step-up on the recovery session: %d %v, want 201 and a call to the account's number", status, body)
	}

	// Settings with the recovery session: a number of its own.
	traits := map[string]any{"email": email, "phone": "+" + newDN}
	s, err := st.Kratos.APISettingsProfile(ctx, tok, traits, nil)
	if err != nil {
		t.Fatal(err)
	}
	if confirm {
		// The current number is called; whoever holds the session but not
		// that phone gets no further, however often it tries.
		if callReason(t, s) != "current_number" || simRequests(t, svc, dn) != 2 || simRequests(t, svc, newDN) != 0 {
			t.Fatalf("settings: want 1090001 and a call to the current number, got %d %v %s, %d calls to it, %d to the new one",
				s.StatusCode, ids(s), s.Body, simRequests(t, svc, dn), simRequests(t, svc, newDN))
		}
		for _, code := range []string{wrongCode(lastCode(t, svc, dn)), ""} {
			if s, err = st.Kratos.SubmitAPISettingsProfile(ctx, tok, s.FlowID, traits, map[string]any{"callpass_code": code}); err != nil {
				t.Fatal(err)
			}
			if s.StatusCode == http.StatusOK || containsID(s, 1090001) && callReason(t, s) != "current_number" || simRequests(t, svc, newDN) != 0 {
				t.Fatalf("settings with code %q and no current number's code: %d %v %s", code, s.StatusCode, ids(s), s.Body)
			}
		}
		ident, err := st.Kratos.Identity(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if tr, _ := ident["traits"].(map[string]any); tr["phone"] != "+"+dn {
			t.Fatalf("the number changed without the current number's code: %v", tr)
		}
		// The owner, who has the phone: its code, then the new number's.
		if s, err = st.Kratos.SubmitAPISettingsProfile(ctx, tok, s.FlowID, traits, map[string]any{"callpass_code": lastCode(t, svc, dn)}); err != nil {
			t.Fatal(err)
		}
		if callReason(t, s) != "" || simRequests(t, svc, newDN) != 1 || simRequests(t, svc, dn) != 2 {
			t.Fatalf("settings with the current number's code: want 1090001 and a call to the new number, got %d %v %s", s.StatusCode, ids(s), s.Body)
		}
	} else if _, ok := s.Message(1090001); !ok || simRequests(t, svc, newDN) != 1 {
		t.Fatalf("settings: want 1090001 and a call to the new number, got %d %v %s", s.StatusCode, ids(s), s.Body)
	}
	if s, err = st.Kratos.SubmitAPISettingsProfile(ctx, tok, s.FlowID, traits, map[string]any{"callpass_code": lastCode(t, svc, newDN)}); err != nil {
		t.Fatal(err)
	}
	if s.StatusCode != http.StatusOK {
		t.Fatalf("settings with the new number's code: %d %v %s", s.StatusCode, ids(s), s.Body)
	}
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	calledBefore := 1 // the step-up's
	if confirm {
		calledBefore = 2 // and the settings flow's
	}
	if _, ok := r.Message(1090001); !ok || simRequests(t, svc, newDN) != 2 || simRequests(t, svc, dn) != calledBefore {
		t.Errorf("login after the recovery: want the call to the number set in settings, got %v, %d calls to it, %d to the old one",
			ids(r), simRequests(t, svc, newDN), simRequests(t, svc, dn))
	}
}
