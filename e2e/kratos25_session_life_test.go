package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// Sessions whose life Kratos v1.3.1 changes after the gated login, each
// against the real Kratos with a short session lifespan.

// shortSessions is a Kratos configuration whose sessions last lifespan and
// may be extended by the admin API at any time of their life.
func shortSessions(lifespan time.Duration) map[string]any {
	return map[string]any{"session": map[string]any{
		"lifespan": lifespan.String(), "earliest_possible_extend": lifespan.String(),
	}}
}

// waitUntil waits until the clock reads at, failing the test if that is
// further away than guard.
func waitUntil(t *testing.T, at time.Time, guard time.Duration) {
	t.Helper()
	if d := time.Until(at); d > guard {
		t.Fatalf("waiting %v for %v is longer than the guard %v", d, at, guard)
	}
	time.Sleep(time.Until(at))
}

// extendSession extends the session id through Kratos's admin API.
func extendSession(t *testing.T, st *stack, id string) {
	t.Helper()
	status, raw := rawRequest(t, http.MethodPatch, st.Kratos.AdminURL+"/admin/sessions/"+url.PathEscape(id)+"/extend", nil, 0,
		map[string]string{"Accept": "application/json"})
	if status != http.StatusNoContent && status != http.StatusOK {
		t.Fatalf("extend session: %d %s", status, raw)
	}
}

// TestKratos25AdminExtendedSessionExchanges: a session the admin API
// extends (PATCH /admin/sessions/{id}/extend) is valid at whoami after the
// expiry it had at the gated login, and /v1/token issues it a token then,
// whether it exchanged before the extension or not at all; and so again
// after a second extension, past the original expiry plus a lifespan. A
// session that skipped the gate (registration), extended alike, still gets
// none. With the memory store and with Redis.
func TestKratos25AdminExtendedSessionExchanges(t *testing.T) {
	const lifespan = 20 * time.Second
	for _, tt := range []struct {
		name          string
		exchangeFirst bool
		twice         bool
		redis         bool
	}{
		{"exchanged before the extension", true, false, false},
		{"first exchange after the original expiry (Redis)", false, false, true},
		{"extended twice (Redis)", true, true, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t, stackOptions{KratosConfig: shortSessions(lifespan), Redis: tt.redis})
			svc, public := st.Services[0].URL, st.Kratos.PublicURL
			const email, dn = "vera@example.com", "79001250001"
			st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
			tok, err := loginWithCode(t, st, email, dn)
			if err != nil {
				t.Fatal(err)
			}
			auth := map[string]string{"X-Session-Token": tok}
			exchange := func(what string) {
				t.Helper()
				if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth); status != http.StatusOK {
					t.Fatalf("exchange %s: %d %v", what, status, body)
				}
			}
			// extendLate extends the session late in its life, so that the
			// extension (to a lifespan from now) moves its expiry well past
			// the one it had, and waits until that one has passed.
			extendLate := func(w whoamiAnswer, others ...string) whoamiAnswer {
				t.Helper()
				waitUntil(t, w.ExpiresAt.Add(-lifespan/4), lifespan)
				for _, id := range append([]string{w.ID}, others...) {
					extendSession(t, st, id)
				}
				after := whoami(t, public, tok, http.StatusOK)
				if !after.ExpiresAt.After(w.ExpiresAt.Add(lifespan / 2)) {
					t.Fatalf("the extension did not move expires_at: %v, then %v", w.ExpiresAt, after.ExpiresAt)
				}
				waitUntil(t, w.ExpiresAt.Add(time.Second), lifespan)
				if got := whoami(t, public, tok, http.StatusOK); !got.ExpiresAt.Equal(after.ExpiresAt) {
					t.Fatalf("whoami after the expiry before the extension: expires_at %v, want %v", got.ExpiresAt, after.ExpiresAt)
				}
				return after
			}
			login := whoami(t, public, tok, http.StatusOK)
			// A session of the same identity's time that skipped the gate
			// (registration), extended as the gated one is.
			reg, err := st.Kratos.APIRegister(context.Background(), map[string]any{"email": "ungated@example.com", "phone": "+79001250009"}, testPassword, nil)
			if err != nil || reg.SessionToken == "" {
				t.Fatalf("registration: %v %+v", err, reg)
			}
			ungated := whoami(t, public, reg.SessionToken, http.StatusOK)
			if tt.exchangeFirst {
				exchange("after the login")
			}
			once := extendLate(login, ungated.ID)
			exchange("after the original expiry " + login.ExpiresAt.String())
			whoami(t, public, reg.SessionToken, http.StatusOK)
			if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": reg.SessionToken}); status != http.StatusForbidden {
				t.Fatalf("exchange of the extended ungated session: %d %v, want 403", status, body)
			}
			if !tt.twice {
				return
			}
			// The pass was recorded to last the original expiry plus a
			// lifespan; the exchange above kept it for the extended one.
			twice := extendLate(once)
			waitUntil(t, login.ExpiresAt.Add(lifespan+time.Second), lifespan)
			if !time.Now().Before(twice.ExpiresAt) {
				t.Fatalf("the machine took too long: the session extended twice ended at %v", twice.ExpiresAt)
			}
			exchange("after the original expiry plus a lifespan, extended twice")
		})
	}
}

// TestKratos25ExtendedRecoverySessionOfTheSameIdentityRefused: passes are
// kept per identity, so the ungated session that could take a gated
// session's pass is one of the same identity. Two gated login sessions of
// one identity, the first exchanged once (its pass claimed), the second
// not (its pass unclaimed), and a recovery session (the admin API's
// recovery code: no login hook, no call) created more than the pass
// tolerance (1 s) after both logins, all three extended past the logins'
// original expiry: after that expiry each gated session exchanges, and the
// recovery session is refused, before their exchanges there and after
// them; it gets no token at any time. With the memory store and with Redis.
func TestKratos25ExtendedRecoverySessionOfTheSameIdentityRefused(t *testing.T) {
	// Long enough that the second login and the recovery session, made
	// after the first login, still expire well before the extension's new
	// expiry on a loaded CI machine (they must be made within about half
	// a lifespan of the first login).
	const lifespan = 40 * time.Second
	const tolerance = time.Second // factor.Config.PassTolerance's default
	for _, redis := range []bool{false, true} {
		name := "memory"
		if redis {
			name = "Redis"
		}
		t.Run(name, func(t *testing.T) {
			cfg := shortSessions(lifespan)
			cfg["selfservice"] = map[string]any{"flows": map[string]any{"recovery": map[string]any{
				"enabled": false, "use": "code", "ui_url": "http://127.0.0.1:4455/recovery",
			}}}
			cfg["feature_flags"] = map[string]any{"use_continue_with_transitions": true}
			st := startStack(t, stackOptions{KratosConfig: cfg, Redis: redis})
			svc, public := st.Services[0].URL, st.Kratos.PublicURL
			const email, dn = "nina@example.com", "79001250005"
			id := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
			exchange := func(what, tok string, want int) {
				t.Helper()
				status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": tok})
				if status != want || want == http.StatusForbidden && (body["error"] != "forbidden" || body["access_token"] != nil) {
					t.Fatalf("exchange %s: %d %v, want %d", what, status, body, want)
				}
			}
			type session struct {
				name, tok string
				w         whoamiAnswer
			}
			var sessions []session
			for _, which := range []string{"claimed", "unclaimed"} {
				tok, err := loginWithCode(t, st, email, dn)
				if err != nil {
					t.Fatal(err)
				}
				sessions = append(sessions, session{which + " gated", tok, whoami(t, public, tok, http.StatusOK)})
			}
			claimed, unclaimed := sessions[0], sessions[1]
			exchange("of the claimed gated session after its login", claimed.tok, http.StatusOK)

			waitUntil(t, unclaimed.w.AuthenticatedAt.Add(tolerance+tolerance/2), lifespan)
			rec := session{name: "recovery", tok: adminRecoverySession(t, st, id)}
			rec.w = whoami(t, public, rec.tok, http.StatusOK)
			if len(rec.w.Methods) != 1 || rec.w.Methods[0].Method != "code_recovery" {
				t.Fatalf("recovery session's methods: %+v, want code_recovery alone", rec.w.Methods)
			}
			// Every time the recovery session's claim tries is further than
			// the tolerance from every time a login's pass may be under.
			times := func(w whoamiAnswer) []time.Time {
				out := []time.Time{w.AuthenticatedAt}
				for _, m := range w.Methods {
					out = append(out, m.CompletedAt)
				}
				return out
			}
			for _, r := range times(rec.w) {
				for _, s := range sessions {
					for _, g := range times(s.w) {
						if d := r.Sub(g); d <= tolerance && d >= -tolerance {
							t.Fatalf("the recovery session's time %v is within %v of the %s session's %v", r, tolerance, s.name, g)
						}
					}
				}
			}
			exchange("of the recovery session when made", rec.tok, http.StatusForbidden)
			sessions = append(sessions, rec)

			// All extended late in the first login's life, to a lifespan
			// from then, well past the latest original expiry (the
			// recovery session's), and used once all have passed.
			last := rec.w.ExpiresAt
			waitUntil(t, claimed.w.ExpiresAt.Add(-lifespan/4), lifespan)
			for _, s := range sessions {
				extendSession(t, st, s.w.ID)
			}
			for _, s := range sessions {
				if w := whoami(t, public, s.tok, http.StatusOK); !w.ExpiresAt.After(last.Add(lifespan / 4)) {
					t.Fatalf("the extension of the %s session: expires_at %v, then %v", s.name, s.w.ExpiresAt, w.ExpiresAt)
				}
			}
			waitUntil(t, last.Add(time.Second), lifespan)
			for _, s := range sessions {
				whoami(t, public, s.tok, http.StatusOK)
			}
			after := " after the original expiries (the latest " + last.String() + ")"
			exchange("of the recovery session"+after+", before the gated ones'", rec.tok, http.StatusForbidden)
			exchange("of the claimed gated session"+after, claimed.tok, http.StatusOK)
			exchange("of the recovery session"+after+", after the claimed one's", rec.tok, http.StatusForbidden)
			exchange("of the unclaimed gated session"+after, unclaimed.tok, http.StatusOK)
			exchange("of the recovery session"+after+", after both gated ones'", rec.tok, http.StatusForbidden)
			exchange("of the claimed gated session again"+after, claimed.tok, http.StatusOK)
			exchange("of the unclaimed gated session again"+after, unclaimed.tok, http.StatusOK)
			if n := simRequests(t, svc, ""); n != 2 {
				t.Errorf("calls placed: %d, want 2 (the logins')", n)
			}
		})
	}
}

// adminRecoverySession recovers identity with a code the admin API makes
// (POST /admin/recovery/code; TestKratos24RecoverySessionIsNotGated uses it
// too) and returns the session token Kratos issues for it: a full session
// that no login hook saw. Kratos needs feature_flags
// use_continue_with_transitions to hand the token over.
func adminRecoverySession(t *testing.T, st *stack, identity string) string {
	t.Helper()
	status, raw := rawRequest(t, http.MethodPost, st.Kratos.AdminURL+"/admin/recovery/code",
		strings.NewReader(`{"identity_id":"`+identity+`","flow_type":"api"}`), 0,
		map[string]string{"Content-Type": "application/json", "Accept": "application/json"})
	var rc struct {
		Link string `json:"recovery_link"`
		Code string `json:"recovery_code"`
	}
	if status != http.StatusCreated || json.Unmarshal(raw, &rc) != nil || rc.Code == "" {
		t.Fatalf("admin recovery code: %d %s", status, raw)
	}
	link, err := url.Parse(rc.Link)
	if err != nil || link.Query().Get("flow") == "" {
		t.Fatalf("recovery link %q: %v", rc.Link, err)
	}
	status, raw = rawRequest(t, http.MethodPost, st.Kratos.PublicURL+"/self-service/recovery?flow="+url.QueryEscape(link.Query().Get("flow")),
		strings.NewReader(`{"method":"code","code":"`+rc.Code+`"}`), 0,
		map[string]string{"Content-Type": "application/json", "Accept": "application/json"})
	var rec struct {
		ContinueWith []struct {
			Action string `json:"action"`
			Token  string `json:"ory_session_token"`
		} `json:"continue_with"`
	}
	if status != http.StatusOK || json.Unmarshal(raw, &rec) != nil {
		t.Fatalf("recovery with the code: %d %s", status, raw)
	}
	for _, c := range rec.ContinueWith {
		if c.Action == "set_ory_session_token" && c.Token != "" {
			return c.Token
		}
	}
	t.Fatalf("recovery gave no session token: %s", raw)
	return ""
}

// TestKratos25LateAALUpgradeExchanges: an AAL upgrade (a Kratos second
// factor completed after the gated password login) runs no password hook
// but moves the session's expiry to a lifespan from then, as it moves
// authenticated_at (TestTokenAfterKratosAALUpgrade). Completed late in the
// session's life, it leaves the session valid past the expiry the gated
// login had, and /v1/token issues it a token then.
func TestKratos25LateAALUpgradeExchanges(t *testing.T) {
	const lifespan = 20 * time.Second
	cfg := shortSessions(lifespan)
	cfg["selfservice"] = map[string]any{"methods": map[string]any{"lookup_secret": map[string]any{"enabled": true}}}
	st := startStack(t, stackOptions{KratosConfig: cfg})
	svc, public := st.Services[0].URL, st.Kratos.PublicURL
	const email, dn = "zoya@example.com", "79001250002"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	codes := enrolLookupSecrets(t, public, tok)

	// The next login: the gate, then, late, Kratos's own second factor.
	// whoami refuses the aal1 session, so its expiry, a lifespan from the
	// gated login, is known to lie between these two times.
	start := time.Now()
	if tok, err = loginWithCode(t, st, email, dn); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	whoami(t, public, tok, http.StatusForbidden)
	waitUntil(t, start.Add(lifespan-lifespan/4), lifespan)
	upgradeWithLookupSecret(t, public, tok, codes[0])
	after := whoami(t, public, tok, http.StatusOK)
	if !after.ExpiresAt.After(end.Add(lifespan + lifespan/2)) {
		t.Fatalf("the upgrade moved expires_at to %v, want past %v", after.ExpiresAt, end.Add(lifespan+lifespan/2))
	}
	waitUntil(t, end.Add(lifespan+time.Second), lifespan)
	whoami(t, public, tok, http.StatusOK)
	auth := map[string]string{"X-Session-Token": tok}
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth); status != http.StatusOK {
		t.Fatalf("exchange after the expiry the gated login had: %d %v", status, body)
	}
}

// TestKratos25RevokedSessionRefused: a session revoked in the real Kratos
// (the admin API's DELETE /admin/sessions/{id} and DELETE
// /admin/identities/{id}/sessions, the user's own API logout) gets no token
// from /v1/token and nothing from the step-up API once SECURITY.md's
// revocation window has passed: with kratos.session_cache_ttl, a request
// sent that long after the revocation is refused (401 no_session); without
// the cache, the first one is. A step-up call placed before the revocation
// gets no token for its right code.
func TestKratos25RevokedSessionRefused(t *testing.T) {
	revokeSession := func(t *testing.T, st *stack, identity, session, tok string) {
		t.Helper()
		if status, raw := rawRequest(t, http.MethodDelete, st.Kratos.AdminURL+"/admin/sessions/"+url.PathEscape(session), nil, 0, nil); status != http.StatusNoContent {
			t.Fatalf("revoke the session: %d %s", status, raw)
		}
	}
	revokeIdentity := func(t *testing.T, st *stack, identity, session, tok string) {
		t.Helper()
		if status, raw := rawRequest(t, http.MethodDelete, st.Kratos.AdminURL+"/admin/identities/"+url.PathEscape(identity)+"/sessions", nil, 0, nil); status != http.StatusNoContent {
			t.Fatalf("revoke the identity's sessions: %d %s", status, raw)
		}
	}
	logout := func(t *testing.T, st *stack, identity, session, tok string) {
		t.Helper()
		if status, raw := kratosAPI(t, http.MethodDelete, st.Kratos.PublicURL+"/self-service/logout/api", "", map[string]string{"session_token": tok}); status != http.StatusNoContent {
			t.Fatalf("API logout: %d %s", status, raw)
		}
	}
	for _, tt := range []struct {
		name   string
		cache  time.Duration
		revoke func(t *testing.T, st *stack, identity, session, tok string)
	}{
		{"DELETE admin session (cache 4s)", 4 * time.Second, revokeSession},
		{"DELETE admin identity sessions (cache 4s)", 4 * time.Second, revokeIdentity},
		{"API logout (cache 4s)", 4 * time.Second, logout},
		{"DELETE admin session (no cache)", 0, revokeSession},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t, stackOptions{Env: []string{"KRATOS_SESSION_CACHE_TTL=" + tt.cache.String()}})
			svc, public := st.Services[0].URL, st.Kratos.PublicURL
			const email, dn = "yana@example.com", "79001250003"
			identity := st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
			tok, err := loginWithCode(t, st, email, dn)
			if err != nil {
				t.Fatal(err)
			}
			auth := map[string]string{"X-Session-Token": tok}
			session := whoami(t, public, tok, http.StatusOK).ID
			// A step-up call placed before the revocation, and an
			// exchange just before it (the cache, when on, holds the
			// session from then).
			status, ch := postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{}, auth)
			if status != http.StatusCreated {
				t.Fatalf("step-up start: %d %v", status, ch)
			}
			id, code := ch["challenge_id"].(string), lastCode(t, svc, dn)
			if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth); status != http.StatusOK {
				t.Fatalf("exchange before the revocation: %d %v", status, body)
			}

			tt.revoke(t, st, identity, session, tok)
			done := time.Now()
			whoami(t, public, tok, http.StatusUnauthorized)
			served := 0
			for {
				sent := time.Now()
				status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, auth)
				if status != http.StatusOK {
					if status != http.StatusUnauthorized || body["error"] != "no_session" {
						t.Fatalf("exchange of the revoked session: %d %v, want 401 no_session", status, body)
					}
					break
				}
				if !sent.Before(done.Add(tt.cache)) {
					t.Fatalf("a token for the revoked session, asked %v after the revocation (window %v)", sent.Sub(done), tt.cache)
				}
				served++
				time.Sleep(100 * time.Millisecond)
			}
			t.Logf("tokens served within the revocation window: %d", served)

			for _, r := range []struct {
				method, path string
				body         any
			}{
				{http.MethodPost, "/v1/challenges/" + id + "/verify", map[string]any{"code": code}},
				{http.MethodGet, "/v1/challenges/" + id, nil},
				{http.MethodPost, "/v1/challenges", map[string]any{"resend": true}},
				{http.MethodPost, "/v1/token", nil},
			} {
				status, body := postJSON(t, r.method, svc+r.path, r.body, auth)
				if status != http.StatusUnauthorized || body["error"] != "no_session" || body["access_token"] != nil {
					t.Errorf("%s %s on the revoked session: %d %v, want 401 no_session", r.method, r.path, status, body)
				}
			}
			if n := simRequests(t, svc, dn); n != 2 {
				t.Errorf("calls to the number: %d, want 2 (the login's, the step-up's before the revocation)", n)
			}
		})
	}
}

// TestKratos25RevivedSessionExchanges: Kratos v1.3.1's admin extend also
// revives a session that has expired (it checks no expiry, only
// session.earliest_possible_extend): whoami accepts it again, for a
// lifespan from then. Revived within a lifespan of its expiry, the gated
// session still holds its pass and /v1/token issues it a token.
func TestKratos25RevivedSessionExchanges(t *testing.T) {
	const lifespan = 10 * time.Second
	st := startStack(t, stackOptions{KratosConfig: shortSessions(lifespan)})
	svc, public := st.Services[0].URL, st.Kratos.PublicURL
	const email, dn = "ilona@example.com", "79001250004"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	tok, err := loginWithCode(t, st, email, dn)
	if err != nil {
		t.Fatal(err)
	}
	login := whoami(t, public, tok, http.StatusOK)
	waitUntil(t, login.ExpiresAt.Add(time.Second), 2*lifespan)
	whoami(t, public, tok, http.StatusUnauthorized)
	extendSession(t, st, login.ID)
	if w := whoami(t, public, tok, http.StatusOK); !w.ExpiresAt.After(login.ExpiresAt) {
		t.Fatalf("revived session expires at %v, before %v", w.ExpiresAt, login.ExpiresAt)
	}
	if status, body := postJSON(t, http.MethodPost, svc+"/v1/token", nil, map[string]string{"X-Session-Token": tok}); status != http.StatusOK {
		t.Fatalf("exchange of the revived session %v after its expiry: %d %v", time.Since(login.ExpiresAt), status, body)
	}
}
