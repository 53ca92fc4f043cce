package e2e_test

import (
	"net/http"
	"testing"
	"time"
)

// TestStepUpAnotherSessionsChallengeIsOutOfReach: against a real Kratos
// and the simulator, with either store. Two sessions of one identity: a
// challenge id of session A, posted by session B with A's code, is never
// tried on A's challenge. With no step-up of its own B gets not_found;
// with one, the code is one try on B's own current challenge (the follow
// of an id of the identity), and neither answer names A's challenge or
// changes it: A's attempts stay whole, even after B's challenge locks, and
// A's code still verifies A's challenge.
func TestStepUpAnotherSessionsChallengeIsOutOfReach(t *testing.T) {
	for _, tt := range []struct {
		name  string
		redis bool
		email string
		dn    string
	}{
		{"memory", false, "sessions-mem@example.com", "79009990061"},
		{"redis", true, "sessions-redis@example.com", "79009990062"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := startStack(t, stackOptions{Redis: tt.redis, Env: []string{"CHALLENGE_MAX_ATTEMPTS=3",
				"LIMITS_PER_NUMBER_LIMIT=100", "LIMITS_PER_IDENTITY_LIMIT=100"}})
			svc := st.Services[0].URL
			st.Kratos.CreateIdentity(t, tt.email, testPassword, "+"+tt.dn)
			tokA, err := loginWithCode(t, st, tt.email, tt.dn)
			if err != nil {
				t.Fatal(err)
			}
			tokB, err := loginWithCode(t, st, tt.email, tt.dn)
			if err != nil {
				t.Fatal(err)
			}
			authA := map[string]string{"X-Session-Token": tokA}
			authB := map[string]string{"X-Session-Token": tokB}
			status, a := postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{}, authA)
			if status != http.StatusCreated {
				t.Fatalf("A's start: %d %v", status, a)
			}
			idA := a["challenge_id"].(string)
			codeA := lastCode(t, svc, tt.dn)

			pristine := func(when string) {
				t.Helper()
				status, c := postJSON(t, http.MethodGet, svc+"/v1/challenges/"+idA, nil, authA)
				if status != http.StatusOK || c["state"] != "pending" || c["attempts_left"] != float64(3) {
					t.Fatalf("A's challenge %s: %d %v, want pending with 3 attempts left", when, status, c)
				}
			}
			// B has no step-up challenge: nothing to follow to.
			if status, c := postJSON(t, http.MethodGet, svc+"/v1/challenges/"+idA, nil, authB); status != http.StatusNotFound {
				t.Fatalf("B reads A's challenge: %d %v, want 404", status, c)
			}
			status, body := postJSON(t, http.MethodPost, svc+"/v1/challenges/"+idA+"/verify", map[string]any{"code": codeA}, authB)
			if status != http.StatusNotFound || body["error"] != "not_found" {
				t.Fatalf("B posts A's id and code without a step-up of its own: %d %v, want 404 not_found", status, body)
			}
			pristine("after B's try without a challenge")

			time.Sleep(50 * time.Millisecond)
			status, b := postJSON(t, http.MethodPost, svc+"/v1/challenges", map[string]any{}, authB)
			if status != http.StatusCreated || b["challenge_id"] == idA {
				t.Fatalf("B's start: %d %v", status, b)
			}
			idB := b["challenge_id"].(string)
			codeB := lastCode(t, svc, tt.dn)
			if codeB == codeA {
				t.Skip("the two calls' codes are alike (1 in 10000): B's try would rightly verify B's own challenge")
			}
			// Each try of A's code through A's id is one try on B's own
			// challenge, down to its lock; A's is never touched.
			for left := 2; left >= 0; left-- {
				status, body := postJSON(t, http.MethodPost, svc+"/v1/challenges/"+idA+"/verify", map[string]any{"code": codeA}, authB)
				ch, _ := body["challenge"].(map[string]any)
				want, wantErr := http.StatusBadRequest, "wrong_code"
				if left == 0 {
					want, wantErr = http.StatusLocked, "locked" // the try that locks B's challenge
				}
				if status != want || body["error"] != wantErr || body["attempts_left"] != float64(left) {
					t.Fatalf("B's try %d of A's code through A's id: %d %v, want %s with %d attempts left", 3-left, status, body, wantErr, left)
				}
				if ch != nil && ch["challenge_id"] == idA {
					t.Fatalf("B's answer names A's challenge: %v", body)
				}
				pristine("after B's tries")
			}
			status, c := postJSON(t, http.MethodGet, svc+"/v1/challenges/"+idB, nil, authB)
			if status != http.StatusOK || c["state"] != "locked" {
				t.Fatalf("B's challenge after three wrong codes: %d %v, want locked", status, c)
			}
			status, body = postJSON(t, http.MethodPost, svc+"/v1/challenges/"+idA+"/verify", map[string]any{"code": codeA}, authB)
			if status == http.StatusOK || body["verified"] == true {
				t.Fatalf("B posts A's code once B's challenge is locked: %d %v", status, body)
			}
			pristine("after B's lock")
			status, body = postJSON(t, http.MethodPost, svc+"/v1/challenges/"+idA+"/verify", map[string]any{"code": codeA}, authA)
			if status != http.StatusOK || body["verified"] != true {
				t.Fatalf("A's own code on A's challenge: %d %v, want verified", status, body)
			}
		})
	}
}
