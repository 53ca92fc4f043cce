package e2e_test

import (
	"net/http"
	"net/url"
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
// after a second extension, past the original expiry plus a lifespan. With
// the memory store and with Redis.
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
			extendLate := func(w whoamiAnswer) whoamiAnswer {
				t.Helper()
				waitUntil(t, w.ExpiresAt.Add(-lifespan/4), lifespan)
				extendSession(t, st, w.ID)
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
			if tt.exchangeFirst {
				exchange("after the login")
			}
			once := extendLate(login)
			exchange("after the original expiry " + login.ExpiresAt.String())
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
