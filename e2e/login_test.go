package e2e_test

import (
	"context"
	"testing"
	"time"
)

// TestGatedAPILogin is the product in one test: a real Kratos password login
// is interrupted by the gate, the call reaches the (simulated) phone, wrong
// codes are refused with attempts left, and the right code yields a session.
func TestGatedAPILogin(t *testing.T) {
	st := startStack(t, stackOptions{Redis: true})
	ctx := context.Background()
	const email, dn = "anna@example.com", "79001234567"
	st.Kratos.CreateIdentity(t, email, testPassword, "+7 (900) 123-45-67")

	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("the first submit issued a session: the gate did not interrupt")
	}
	m, ok := r.Message(1090001)
	if !ok {
		t.Fatalf("want info message 1090001, got HTTP %d %v: %s", r.StatusCode, ids(r), r.Body)
	}
	if m.Type != "info" {
		t.Errorf("message type %q, want info", m.Type)
	}
	mc := messageContext(t, m)
	for _, k := range []string{"challenge_id", "code_length", "expires_at", "resend_after", "phone_masked"} {
		if _, ok := mc[k]; !ok {
			t.Errorf("message context lacks %q: %v", k, mc)
		}
	}
	if mc["phone_masked"] != "+7 900 ***-**-67" {
		t.Errorf("phone_masked = %v", mc["phone_masked"])
	}
	code := lastCode(t, st.Services[0].URL, dn)

	for i, wantLeft := range []float64{2, 1} {
		r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": wrongCode(code)})
		if err != nil {
			t.Fatal(err)
		}
		if r.SessionToken != "" {
			t.Fatalf("wrong code %d issued a session", i+1)
		}
		m, ok := r.Message(4090001)
		if !ok {
			t.Fatalf("wrong code %d: want 4090001, got %v: %s", i+1, ids(r), r.Body)
		}
		if left := messageContext(t, m)["attempts_left"]; left != wantLeft {
			t.Errorf("wrong code %d: attempts_left = %v, want %v", i+1, left, wantLeft)
		}
	}
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("right code: no session (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
	}
	if n := simRequests(t, st.Services[0].URL, dn); n != 1 {
		t.Errorf("provider received %d start requests, want 1", n)
	}
}

// TestAttemptLimitHoldsAgainstTheRightCode: after three wrong codes the
// challenge is locked; a fourth try fails even with the right code.
func TestAttemptLimitHoldsAgainstTheRightCode(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	const email, dn = "boris@example.com", "79001112233"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	code := lastCode(t, st.Services[0].URL, dn)
	for i := 0; i < 3; i++ {
		if r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": wrongCode(code)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := r.Message(4090003); !ok {
		t.Errorf("third wrong code: want 4090003 (locked), got %v", ids(r))
	}
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("the right code after the attempt limit issued a session")
	}
	if _, ok := r.Message(4090003); !ok {
		t.Errorf("fourth try: want 4090003 (locked), got %v: %s", ids(r), r.Body)
	}
}

// TestGatedBrowserLogin: the browser flow (urlencoded form post with
// transient_payload as a JSON string) is gated the same way.
func TestGatedBrowserLogin(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	const email, dn = "vera@example.com", "79005554433"
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
	if r.SessionCookie != "" {
		t.Fatal("browser login got a session without the code")
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("want 1090001 on the browser flow, got %v (redirect %s)", ids(r), r.RedirectTo)
	}
	code := lastCode(t, st.Services[0].URL, dn)
	r, err = b.BrowserLoginFormPost(ctx, flow, email, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionCookie == "" {
		t.Fatalf("browser login with the right code got no session: %v %s", ids(r), r.RedirectTo)
	}
}

// TestRepeatedFirstStepPlacesOneCall: a refresh or a repeated submit of the
// first step reuses the pending challenge; an early resend is refused.
func TestRepeatedFirstStepPlacesOneCall(t *testing.T) {
	st := startStack(t, stackOptions{})
	ctx := context.Background()
	const email, dn = "zhenya@example.com", "79006667788"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	flow, err := st.Kratos.NewAPILoginFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for i := 0; i < 5; i++ {
		r, err := st.Kratos.SubmitAPILogin(ctx, flow, email, testPassword, nil)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := r.Message(1090001)
		if !ok {
			t.Fatalf("submit %d: want 1090001, got %v", i+1, ids(r))
		}
		id := messageContext(t, m)["challenge_id"].(string)
		if first == "" {
			first = id
		} else if id != first {
			t.Errorf("submit %d got challenge %s, want the pending %s", i+1, id, first)
		}
	}
	if n := simRequests(t, st.Services[0].URL, dn); n != 1 {
		t.Fatalf("five first-step submits placed %d calls, want 1", n)
	}
	r, err := st.Kratos.SubmitAPILogin(ctx, flow, email, testPassword, map[string]any{"callpass_resend": true})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Message(4090006)
	if !ok {
		t.Fatalf("early resend: want 4090006 (cooldown), got %v", ids(r))
	}
	if ra, _ := messageContext(t, m)["retry_after"].(float64); ra < 1 || ra > 30 {
		t.Errorf("retry_after = %v, want 1..30 seconds", ra)
	}
	if n := simRequests(t, st.Services[0].URL, dn); n != 1 {
		t.Errorf("refused resend reached the provider: %d requests", n)
	}
}

// TestPerNumberLimitAcrossSpellings: six accounts write one number six ways;
// the per-number limit (5 calls/hour) counts them as one number.
func TestPerNumberLimitAcrossSpellings(t *testing.T) {
	st := startStack(t, stackOptions{Redis: true})
	ctx := context.Background()
	spellings := []string{"+7 900 765-43-21", "+7 (900) 765-43-21", "+79007654321", "+7 900 765 43 21", "+7-900-765-43-21", "+7 9007654321"}
	for i, sp := range spellings {
		email := "same" + string(rune('a'+i)) + "@example.com"
		st.Kratos.CreateIdentity(t, email, testPassword, sp)
		r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
		if err != nil {
			t.Fatal(err)
		}
		if i < 5 {
			if _, ok := r.Message(1090001); !ok {
				t.Fatalf("login %d (%q): want a call, got %v %s", i+1, sp, ids(r), r.Body)
			}
			continue
		}
		m, ok := r.Message(4090004)
		if !ok {
			t.Fatalf("login %d (%q): want 4090004 rate limited, got %v", i+1, sp, ids(r))
		}
		mc := messageContext(t, m)
		if mc["limit"] != "number" {
			t.Errorf("limit kind %v, want number", mc["limit"])
		}
		if ra, _ := mc["retry_after"].(float64); ra <= 0 {
			t.Errorf("rate-limited answer has no retry_after: %v", mc)
		}
	}
	if n := simRequests(t, st.Services[0].URL, "79007654321"); n != 5 {
		t.Errorf("provider received %d start requests, want 5", n)
	}
}

// TestCallNotDelivered: when the phone is unreachable the background status
// poll learns it; the next submit says "we could not reach your phone" and a
// new call may be placed at once, without the cooldown.
func TestCallNotDelivered(t *testing.T) {
	st := startStack(t, stackOptions{Env: []string{"SIM_SCRIPTS=79005550001=unreachable"}})
	ctx := context.Background()
	const email, dn = "kira@example.com", "79005550001"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("want 1090001, got %v", ids(r))
	}
	// The simulator settles after 200ms; the poller checks every 2s.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := r.Message(4090008); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never told that the call did not reach the phone: %v", ids(r))
		}
		time.Sleep(500 * time.Millisecond)
	}
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_resend": true})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Message(1090001)
	if !ok || messageContext(t, m)["placed"] != true {
		t.Fatalf("resend after an undelivered call: want a new call at once, got %v", ids(r))
	}
	if n := simRequests(t, st.Services[0].URL, dn); n != 2 {
		t.Errorf("provider received %d start requests, want 2", n)
	}
}

// TestMissingPhonePolicy: an identity without a phone is refused by default
// (4090007) and let through with webhook.missing_phone=allow.
func TestMissingPhonePolicy(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		policy  string
		session bool
	}{{"deny", false}, {"allow", true}} {
		t.Run(tt.policy, func(t *testing.T) {
			st := startStack(t, stackOptions{Env: []string{"WEBHOOK_MISSING_PHONE=" + tt.policy}})
			st.Kratos.CreateIdentity(t, "nophone@example.com", testPassword, "")
			r, err := st.Kratos.APILogin(ctx, "nophone@example.com", testPassword, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := r.SessionToken != ""; got != tt.session {
				t.Fatalf("session issued = %v, want %v (%v)", got, tt.session, ids(r))
			}
			if !tt.session {
				if _, ok := r.Message(4090007); !ok {
					t.Errorf("want 4090007, got %v", ids(r))
				}
			}
		})
	}
}

// TestEarlierCallCodeAfterResend: a real Kratos login with a resend; the
// user types the first call's digits (an older missed call taken for the
// newest). The gate says it is an earlier call's code (4090001 with reason
// earlier_call), counts it, and the newest call's code opens the session.
func TestEarlierCallCodeAfterResend(t *testing.T) {
	st := startStack(t, stackOptions{Redis: true, Env: []string{"CHALLENGE_RESEND_COOLDOWNS=1ms"}})
	ctx := context.Background()
	const email, dn = "vera@example.com", "79004440011"
	st.Kratos.CreateIdentity(t, email, testPassword, "+"+dn)
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("want 1090001, got %v: %s", ids(r), r.Body)
	}
	first := lastCode(t, st.Services[0].URL, dn)
	// Resend until the new call's code differs from the first's (the
	// simulator's codes are random: 1 in 10⁴ repeats).
	newest := first
	for i := 0; newest == first; i++ {
		if i == 3 {
			t.Fatal("three resends all repeated the first code")
		}
		time.Sleep(5 * time.Millisecond)
		r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_resend": true})
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := r.Message(1090001); !ok || messageContext(t, m)["placed"] != true {
			t.Fatalf("resend: want a new call, got %v: %s", ids(r), r.Body)
		}
		newest = lastCode(t, st.Services[0].URL, dn)
	}

	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": first})
	if err != nil {
		t.Fatal(err)
	}
	m, ok := r.Message(4090001)
	if !ok || r.SessionToken != "" {
		t.Fatalf("the first call's code: want 4090001 and no session, got %v: %s", ids(r), r.Body)
	}
	mc := messageContext(t, m)
	if mc["reason"] != "earlier_call" || mc["attempts_left"] != float64(2) ||
		m.Text != "This is the code of an earlier call. Enter the last digits of the most recent incoming number. 2 attempts left." {
		t.Errorf("the first call's code: %q %v", m.Text, mc)
	}
	// A code of no call is a plain wrong code.
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": otherCode(first, newest)})
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := r.Message(4090001); !ok || messageContext(t, m)["reason"] != nil {
		t.Fatalf("a code of no call: want a plain 4090001, got %v: %s", ids(r), r.Body)
	}
	r, err = st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": newest})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("the newest call's code: no session (HTTP %d %v): %s", r.StatusCode, ids(r), r.Body)
	}
}

// otherCode is a code of the same length that is neither a nor b.
func otherCode(a, b string) string {
	c := wrongCode(a)
	for c == b {
		c = wrongCode(c)
	}
	return c
}
