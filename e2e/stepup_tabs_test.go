package e2e_test

import (
	"net/http"
	"testing"
	"time"
)

// TestStepUpTwoTabsFollowTheCurrentChallenge: against a real Kratos and the
// simulator, with either store. A session's second start (another tab's
// "call me again") replaces its first challenge; a code posted for the
// replaced one is tried once against the session's current challenge and
// the answer names that one. A wrong code counts on the current challenge
// only; a resend for the replaced one waits for the current call's
// cooldown; the newest call's code then verifies through the replaced id.
// Each code is one verification in the metrics, under its own answer.
func TestStepUpTwoTabsFollowTheCurrentChallenge(t *testing.T) {
	for _, tt := range []struct {
		name  string
		redis bool
		email string
		dn    string
	}{
		{"memory", false, "tabs-mem@example.com", "79009990051"},
		{"redis", true, "tabs-redis@example.com", "79009990052"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The first new call at once, the next after an hour.
			st := startStack(t, stackOptions{Redis: tt.redis, Env: []string{"CHALLENGE_RESEND_COOLDOWNS=1ms,1h"}})
			svc := st.Services[0].URL
			st.Kratos.CreateIdentity(t, tt.email, testPassword, "+"+tt.dn)
			tok, err := loginWithCode(t, st, tt.email, tt.dn)
			if err != nil {
				t.Fatal(err)
			}
			auth := map[string]string{"X-Session-Token": tok}
			status, a := postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{}, auth)
			if status != http.StatusCreated {
				t.Fatalf("tab A's start: %d %v", status, a)
			}
			idA := a["challenge_id"].(string)
			// The 1 ms cooldown counts from the moment A's start began: a
			// request sent on A's answer can arrive within it on loopback.
			time.Sleep(50 * time.Millisecond)
			status, b := postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{"resend": true}, auth)
			if status != http.StatusCreated || b["challenge_id"] == idA {
				t.Fatalf("tab B's new call: %d %v", status, b)
			}
			idB := b["challenge_id"].(string)
			code := lastCode(t, svc, tt.dn)
			// Each code posted through the replaced id is one verification,
			// counted under the answer it got (not also "expired").
			outcomes := []string{"verified", "wrong", "expired", "used", "not_found"}
			counted := func() map[string]float64 {
				m := map[string]float64{}
				for _, o := range outcomes {
					m[o] = metricSum(t, st.Services[0], "callpass_verifications_total", map[string]string{"outcome": o})
				}
				return m
			}
			before := counted()

			status, body := postJSON(t, http.MethodPost, svc+"/v1/challenges/"+idA+"/verify", map[string]any{"code": wrongCode(code)}, auth)
			if status != http.StatusBadRequest || body["error"] != "wrong_code" || body["attempts_left"] != float64(2) {
				t.Fatalf("wrong code through the replaced id: %d %v, want wrong_code with 2 attempts left", status, body)
			}
			for id, left := range map[string]float64{idA: 3, idB: 2} {
				status, c := postJSON(t, http.MethodGet, svc+"/v1/challenges/"+id, nil, auth)
				if status != http.StatusOK || c["attempts_left"] != left {
					t.Fatalf("challenge %s after: %d %v, want %v attempts left", id, status, c, left)
				}
			}
			status, body = postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{"resend": true}, auth)
			if status != http.StatusTooManyRequests || body["error"] != "cooldown" {
				t.Fatalf("tab A's resend: %d %v, want cooldown", status, body)
			}
			status, body = postJSON(t, http.MethodPost, svc+"/v1/challenges/"+idA+"/verify", map[string]any{"code": code}, auth)
			ch, _ := body["challenge"].(map[string]any)
			if status != http.StatusOK || body["verified"] != true || body["access_token"] == "" || ch["challenge_id"] != idB {
				t.Fatalf("the newest code through the replaced id: %d %v, want verified naming %s", status, body, idB)
			}
			after := counted()
			for _, o := range outcomes {
				want := map[string]float64{"wrong": 1, "verified": 1}[o]
				if got := after[o] - before[o]; got != want {
					t.Errorf("callpass_verifications_total{outcome=%q} grew by %v over the two codes, want %v", o, got, want)
				}
			}
			if n := len(simCalls(t, svc, tt.dn)); n != 3 { // the login's and the two step-up calls
				t.Fatalf("%d calls placed, want 3", n)
			}
		})
	}
}
