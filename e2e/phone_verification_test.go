package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// TestRegistrationProvesThePhone: registration with a phone number is
// interrupted until the number is proven by a call; the saved identity then
// carries metadata_public.phone_verified_at and phone_verified_number.
func TestRegistrationProvesThePhone(t *testing.T) {
	st := startStack(t, stackOptions{RegistrationHook: true, SettingsHook: true})
	ctx := context.Background()
	const dn = "79008889900"
	traits := map[string]any{"email": "fedor@example.com", "phone": "+7 900 888-99-00"}
	r, err := st.Kratos.APIRegister(ctx, traits, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("registration completed without proving the phone")
	}
	if _, ok := r.Message(1090001); !ok {
		t.Fatalf("registration: want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	code := lastCode(t, st.Services[0].URL, dn)
	r, err = st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, map[string]any{"callpass_code": wrongCode(code)})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(4090001); !ok || r.SessionToken != "" {
		t.Fatalf("wrong code at registration: %v, session %q", ids(r), r.SessionToken)
	}
	r, err = st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, traits, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("right code at registration: no identity/session: %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	who := sessionIdentity(t, st, r.SessionToken)
	ident, err := st.Kratos.Identity(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := ident["metadata_public"].(map[string]any)
	if meta["phone_verified_number"] != "+"+dn || meta["phone_verified_at"] == nil {
		t.Fatalf("metadata_public after registration = %v", meta)
	}

	// Settings: keeping the proven number needs no call; a new number does.
	before := simRequests(t, st.Services[0].URL, "")
	sr, err := st.Kratos.APISettingsProfile(ctx, r.SessionToken, map[string]any{"email": "fedor@example.com", "phone": "+79008889900"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if containsID(sr, 1090001) {
		t.Fatalf("unchanged phone in settings asked for a call: %v", ids(sr))
	}
	if after := simRequests(t, st.Services[0].URL, ""); after != before {
		t.Errorf("unchanged phone placed a call (%d -> %d requests)", before, after)
	}
	// Kratos replaces metadata_public with what the settings hook answers:
	// what an admin put there must come back whole.
	st.Kratos.PatchIdentity(t, who, `[{"op":"add","path":"/metadata_public/tier","value":"gold"},`+
		`{"op":"add","path":"/metadata_public/tenant_id","value":1234567890123456789}]`)
	newTraits := map[string]any{"email": "fedor@example.com", "phone": "+7 900 111-22-33"}
	sr, err = st.Kratos.APISettingsProfile(ctx, r.SessionToken, newTraits, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A new number takes two calls: the current number's code first
	// (webhook.settings_confirm_current), then the new one's.
	if callReason(t, sr) != "current_number" || simRequests(t, st.Services[0].URL, dn) != 2 || simRequests(t, st.Services[0].URL, "79001112233") != 0 {
		t.Fatalf("new phone in settings: want 1090001 for the current number, got %d %v %s", sr.StatusCode, ids(sr), sr.Body)
	}
	sr, err = st.Kratos.SubmitAPISettingsProfile(ctx, r.SessionToken, sr.FlowID, newTraits,
		map[string]any{"callpass_code": lastCode(t, st.Services[0].URL, dn)})
	if err != nil {
		t.Fatal(err)
	}
	if callReason(t, sr) != "" || simRequests(t, st.Services[0].URL, "79001112233") != 1 {
		t.Fatalf("new phone in settings after the current number's code: want 1090001 for the new number, got %d %v %s", sr.StatusCode, ids(sr), sr.Body)
	}
	sr, err = st.Kratos.SubmitAPISettingsProfile(ctx, r.SessionToken, sr.FlowID, newTraits,
		map[string]any{"callpass_code": lastCode(t, st.Services[0].URL, "79001112233")})
	if err != nil {
		t.Fatal(err)
	}
	if containsID(sr, 4090001) || containsID(sr, 1090001) {
		t.Fatalf("right code in settings refused: %v %s", ids(sr), sr.Body)
	}
	ident, err = st.Kratos.Identity(ctx, who)
	if err != nil {
		t.Fatal(err)
	}
	meta, _ = ident["metadata_public"].(map[string]any)
	traitsNow, _ := ident["traits"].(map[string]any)
	if meta["phone_verified_number"] != "+79001112233" || traitsNow["phone"] != "+7 900 111-22-33" {
		t.Fatalf("after settings: traits %v metadata %v", traitsNow, meta)
	}
	if meta["tier"] != "gold" {
		t.Errorf("after settings: metadata_public %v lost the admin's tier", meta)
	}
	// Kratos keeps metadata numbers as float64 itself (its PATCH already
	// stores 1234567890123456800): the hook must not change them further.
	if meta["tenant_id"] != float64(1234567890123456789) {
		t.Errorf("after settings: metadata_public %v changed the admin's tenant_id", meta)
	}
	// Later logins call the new number.
	lr, err := st.Kratos.APILogin(ctx, "fedor@example.com", testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !containsID(lr, 1090001) || simRequests(t, st.Services[0].URL, "79001112233") != 2 || simRequests(t, st.Services[0].URL, dn) != 2 {
		t.Errorf("login after the change: want a call to the new number, got %v, %d calls to it, %d to the old one",
			ids(lr), simRequests(t, st.Services[0].URL, "79001112233"), simRequests(t, st.Services[0].URL, dn))
	}
}

// callReason is the "reason" of r's 1090001 (a call to enter the code
// of): "current_number" for a settings flow's call to the number the
// identity has, "" for any other; the test fails without a 1090001.
func callReason(t *testing.T, r *testenv.FlowResult) string {
	t.Helper()
	m, ok := r.Message(1090001)
	if !ok {
		t.Fatalf("want 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	var ctx struct {
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(m.Context, &ctx); err != nil {
		t.Fatalf("1090001's context %s: %v", m.Context, err)
	}
	return ctx.Reason
}

func containsID(r *testenv.FlowResult, id int64) bool {
	_, ok := r.Message(id)
	return ok
}

// sessionIdentity asks Kratos's whoami which identity a session token belongs to.
func sessionIdentity(t *testing.T, st *stack, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, st.Kratos.PublicURL+"/sessions/whoami", nil)
	req.Header.Set("X-Session-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil || s.Identity.ID == "" {
		t.Fatalf("whoami: HTTP %d, %v", resp.StatusCode, err)
	}
	return s.Identity.ID
}

// TestRegistrationCodeProvesOnlyTheCalledNumber: a registration resubmitted
// with another number and the first number's code must not record the new
// number as proven. The user is told to ask for a new call; only the code of
// a call to the submitted number completes the registration.
func TestRegistrationCodeProvesOnlyTheCalledNumber(t *testing.T) {
	st := startStack(t, stackOptions{RegistrationHook: true})
	ctx := context.Background()
	const called, swapped = "79008880011", "79008880022"
	traits := map[string]any{"email": "swap@example.com", "phone": "+" + called}
	r, err := st.Kratos.APIRegister(ctx, traits, testPassword, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok || r.SessionToken != "" {
		t.Fatalf("registration: want 1090001 and no session, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	codeA := lastCode(t, st.Services[0].URL, called)
	before := simRequests(t, st.Services[0].URL, swapped)

	swappedTraits := map[string]any{"email": "swap@example.com", "phone": "+" + swapped}
	r, err = st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, swappedTraits, testPassword, map[string]any{"callpass_code": codeA})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken != "" {
		t.Fatal("registration completed with a number that was never called")
	}
	// The code belongs to another number's challenge: "ask for a new call",
	// and a code try places no call by itself.
	if _, ok := r.Message(4090002); !ok {
		t.Fatalf("swapped number: want 4090002 (ask for a new call), got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	if after := simRequests(t, st.Services[0].URL, swapped); after != before {
		t.Fatalf("swapped number: a code try placed %d calls", after-before)
	}
	r, err = st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, swappedTraits, testPassword, map[string]any{"callpass_resend": true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Message(1090001); !ok || simRequests(t, st.Services[0].URL, swapped) != before+1 {
		t.Fatalf("new call to the submitted number: %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	codeB := lastCode(t, st.Services[0].URL, swapped)
	r, err = st.Kratos.SubmitAPIRegistration(ctx, r.FlowID, swappedTraits, testPassword, map[string]any{"callpass_code": codeB})
	if err != nil {
		t.Fatal(err)
	}
	if r.SessionToken == "" {
		t.Fatalf("the submitted number's own code: no session: %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	ident, err := st.Kratos.Identity(ctx, sessionIdentity(t, st, r.SessionToken))
	if err != nil {
		t.Fatal(err)
	}
	if meta, _ := ident["metadata_public"].(map[string]any); meta["phone_verified_number"] != "+"+swapped {
		t.Fatalf("metadata_public = %v, want the swapped number proven", meta)
	}
}

// TestRegistrationLimitsHoldAcrossFlows: a new registration flow is free to
// start, so the per-identity limit counts on the number until the identity
// exists. With per_identity at 2 calls, the third registration flow for one
// number is refused without reaching the provider. The counters and the
// challenges are in Redis, and no key or value there holds the number (the
// owner of a phone check is the number's hash).
func TestRegistrationLimitsHoldAcrossFlows(t *testing.T) {
	st := startStack(t, stackOptions{RegistrationHook: true, Redis: true,
		Env: []string{"LIMITS_PER_IDENTITY_LIMIT=2", "LIMITS_PER_NUMBER_LIMIT=100", "LIMITS_PER_IP_LIMIT=100"}})
	ctx := context.Background()
	const dn = "79008880033"
	for i := range 3 {
		traits := map[string]any{"email": fmt.Sprintf("flow%d@example.com", i), "phone": "+" + dn}
		before := simRequests(t, st.Services[0].URL, dn)
		r, err := st.Kratos.APIRegister(ctx, traits, testPassword, nil)
		if err != nil {
			t.Fatal(err)
		}
		placed := simRequests(t, st.Services[0].URL, dn) - before
		if i < 2 {
			if _, ok := r.Message(1090001); !ok || placed != 1 {
				t.Fatalf("flow %d: want a call (1090001), got %v, %d calls", i, ids(r), placed)
			}
			continue
		}
		m, ok := r.Message(4090004)
		if !ok || placed != 0 || r.SessionToken != "" {
			t.Fatalf("flow %d: want 4090004 and no call, got %v, %d calls", i, ids(r), placed)
		}
		var mctx struct {
			Limit string `json:"limit"`
		}
		if err := json.Unmarshal(m.Context, &mctx); err != nil || mctx.Limit != "identity" {
			t.Errorf("refused by %s (%v), want the per-identity limit", m.Context, err)
		}
	}
	dump := dumpRedis(t, st.Redis.Addr)
	if len(dump) == 0 {
		t.Fatal("nothing in Redis: the test would prove nothing")
	}
	for _, e := range dump {
		if strings.Contains(e.Key, dn[1:]) || slices.ContainsFunc(e.Values, func(v string) bool { return strings.Contains(v, dn[1:]) }) {
			// The challenge hash holds the number it calls (field "p"); no
			// key, counter or ban may.
			if !strings.Contains(e.Key, ":c:") {
				t.Errorf("Redis key %q (%s) holds the number %s", e.Key, e.Type, dn)
			}
		}
	}
}
