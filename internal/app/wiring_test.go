package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
	"github.com/callpass-kratos/callpass-kratos/jwt"
)

const (
	wiringSecret   = "wiring-test-webhook-secret-0123456789abcdef"
	wiringIdentity = "0b3c2b5e-7d4f-4a57-9f3e-3f6a8f1d2c11"
	wiringPhone    = "+79001234567"
	wiringDN       = "79001234567"
)

// signingKeyFile writes a key file holding one active ES256 key and
// returns its path.
func signingKeyFile(t *testing.T) string {
	t.Helper()
	keys := filepath.Join(t.TempDir(), "keys.json")
	k, err := jwt.GenerateKey("ES256")
	if err != nil {
		t.Fatal(err)
	}
	if err := jwt.AppendKey(keys, k, true); err != nil {
		t.Fatal(err)
	}
	return keys
}

// prodApp is an App built without --dev (a key file, the simulator as the
// provider, every secret set), its log written to the returned buffer; env
// entries are added after the defaults, so they win.
func prodApp(t *testing.T, env ...string) (*App, *testenv.LogBuffer) {
	t.Helper()
	const tok = "0123456789abcdef0123456789abcdef"
	keys := signingKeyFile(t)
	base := []string{
		"SIM_ENABLED=true", "SIM_TOKENS=" + tok, "CALLPASS_TOKEN=" + tok, "CALLPASS_BASE_URL=http://127.0.0.1:4477",
		"WEBHOOK_SECRET=" + wiringSecret, "CHALLENGE_CODE_KEY=0123456789abcdef0123456789abcdef-key",
		"JWT_KEYS_FILE=" + keys, "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=http://127.0.0.1:1",
	}
	return loggedApp(t, append(base, env...), false)
}

// loggedApp loads vars (with --dev when dev) and builds the App, its log
// written to the returned buffer; the App is closed when the test ends.
func loggedApp(t *testing.T, vars []string, dev bool) (*App, *testenv.LogBuffer) {
	t.Helper()
	cfg, _, err := config.Load("", vars, dev)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	a, err := New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, logs
}

// hookAnswer is a Kratos login-hook answer: its first message's id and context.
type hookAnswer struct {
	Status  int
	ID      int64
	Context map[string]any
	Body    string
}

// postLoginHook posts one login after-hook call for wiringIdentity, with
// code as transient_payload.callpass_code ("" starts a challenge).
func postLoginHook(t *testing.T, h http.Handler, secret, code string) hookAnswer {
	t.Helper()
	transient := map[string]any{}
	if code != "" {
		transient["callpass_code"] = code
	}
	body, _ := json.Marshal(map[string]any{
		"flow_id":           "5733f754-6db6-4b46-83b8-1d6e6cd69fbc",
		"flow_type":         "api",
		"identity_id":       wiringIdentity,
		"traits":            map[string]any{"email": "user@example.com", "phone": wiringPhone},
		"metadata_public":   nil,
		"transient_payload": transient,
		"session":           map[string]any{"authenticated_at": time.Now().UTC().Format(time.RFC3339Nano), "aal": "aal1"},
		"client_ip":         "203.0.113.9",
		"accept_language":   "en",
	})
	req := httptest.NewRequest(http.MethodPost, "/hooks/kratos/login", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	ans := hookAnswer{Status: rec.Code, Body: string(raw)}
	var km struct {
		Messages []struct {
			Messages []struct {
				ID      int64          `json:"id"`
				Context map[string]any `json:"context"`
			} `json:"messages"`
		} `json:"messages"`
	}
	if json.Unmarshal(raw, &km) == nil && len(km.Messages) > 0 && len(km.Messages[0].Messages) > 0 {
		ans.ID = km.Messages[0].Messages[0].ID
		ans.Context = km.Messages[0].Messages[0].Context
	}
	return ans
}

// simApp is a --dev App whose built-in simulator is reachable (its
// callpass.base_url is an httptest server in front of the App's own
// handler), so hooks place calls in-process; Kratos is unreachable unless
// env says otherwise. Its log is written to the returned buffer.
func simApp(t *testing.T, env ...string) (*App, *testenv.LogBuffer) {
	t.Helper()
	var h http.Handler
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(front.Close)
	base := []string{"DEV_DATA_DIR=" + t.TempDir(), "KRATOS_ADMIN_URL=http://127.0.0.1:1", "KRATOS_PUBLIC_URL=http://127.0.0.1:1",
		"WEBHOOK_SECRET=" + wiringSecret, "SIM_ENABLED=true", "CALLPASS_BASE_URL=" + front.URL + "/"}
	a, logs := loggedApp(t, append(base, env...), true)
	h = a.Handler()
	return a, logs
}

// wrongCode is a code of the right length that is not the last call's.
func wrongCode(t *testing.T, a *App) string {
	t.Helper()
	calls := a.Sim.Calls(wiringDN)
	if len(calls) == 0 {
		t.Fatal("no call reached the simulator")
	}
	if calls[len(calls)-1].Code4 == "0000" {
		return "1111"
	}
	return "0000"
}

// readyChecks GETs /health/ready and decodes its checks.
func readyChecks(t *testing.T, h http.Handler) (int, map[string]string, string) {
	t.Helper()
	code, body := get(t, h, "/health/ready")
	var r struct {
		Checks map[string]struct{ Status string }
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("ready %d %s: %v", code, body, err)
	}
	out := map[string]string{}
	for k, v := range r.Checks {
		out[k] = v.Status
	}
	return code, out, string(body)
}

// TestKratosRequiredOutsideDev: outside --dev an unreachable Kratos makes
// the service unready (503, checks.kratos error); only --dev treats it as
// optional (TestDevReadiness).
func TestKratosRequiredOutsideDev(t *testing.T) {
	a, _ := prodApp(t) // Kratos on 127.0.0.1:1: nothing listens there
	code, checks, body := readyChecks(t, a.Handler())
	if code != http.StatusServiceUnavailable || checks["kratos"] != "error" || checks["store"] != "ok" {
		t.Errorf("ready without Kratos outside --dev: %d %s; want 503 with checks.kratos error", code, body)
	}
}

// TestBanLastsBanTime: a ban lasts limits.regulation.ban_time, not
// find_time: with find_time 1m and ban_time 1h, the refusal after the
// failure that caused it says to retry in about an hour.
func TestBanLastsBanTime(t *testing.T) {
	a, _ := simApp(t, "CHALLENGE_MAX_ATTEMPTS=1", "LIMITS_REGULATION_MAX_FAILURES=1",
		"LIMITS_REGULATION_FIND_TIME=1m", "LIMITS_REGULATION_BAN_TIME=1h")
	h := a.Handler()
	if ans := postLoginHook(t, h, wiringSecret, ""); ans.ID != 1090001 {
		t.Fatalf("first hook: %d %s, want message 1090001 (call on its way)", ans.Status, ans.Body)
	}
	locked := postLoginHook(t, h, wiringSecret, wrongCode(t, a))
	next := postLoginHook(t, h, wiringSecret, "")
	for name, ans := range map[string]hookAnswer{"wrong code": locked, "next start": next} {
		after, _ := ans.Context["retry_after"].(float64)
		if ans.ID != 4090005 || after < 3500 || after > 3600 {
			t.Errorf("%s: %d %s; want message 4090005 (blocked) with retry_after about 3600", name, ans.Status, ans.Body)
		}
	}
}

// TestRefusalLogLinesCapped: log.refusals_per_second bounds the access-log
// lines of one kind of refusal: five hooks with a wrong secret in a burst
// give one line at 1 per second.
func TestRefusalLogLinesCapped(t *testing.T) {
	a, logs := logApp(t, "WEBHOOK_SECRET="+wiringSecret, "LOG_REFUSALS_PER_SECOND=1")
	for range 5 {
		if ans := postLoginHook(t, a.Handler(), "not-the-secret", ""); ans.Status != http.StatusUnauthorized {
			t.Fatalf("hook with a wrong secret: %d %s", ans.Status, ans.Body)
		}
	}
	var n int
	for _, ln := range strings.Split(logs.String(), "\n") {
		if strings.Contains(ln, "msg=request ") && strings.Contains(ln, "route=/hooks/kratos/login") && strings.Contains(ln, "status=401") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d access-log lines for five refused hooks at log.refusals_per_second=1, want 1:\n%s", n, logs)
	}
}

// TestRedisAuthErrorLoggedOnce: a refused Redis password is logged at
// ERROR at most once a minute, however often /health/ready is probed.
func TestRedisAuthErrorLoggedOnce(t *testing.T) {
	r := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	if err := rdb.ConfigSet(context.Background(), "requirepass", "right-pass-2b7e").Err(); err != nil {
		t.Fatal(err)
	}
	_ = rdb.Close()
	a, logs := logApp(t, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://:wrong-pass-5d1c@"+r.Addr+"/0")
	for range 3 {
		if code, body := get(t, a.Handler(), "/health/ready"); code != http.StatusServiceUnavailable {
			t.Fatalf("ready with a wrong Redis password: %d %s", code, body)
		}
	}
	if n := strings.Count(logs.String(), "Redis refused the store's credentials"); n != 1 {
		t.Errorf("%d lines about the refused password after three probes, want 1:\n%s", n, logs)
	}
}

// fakeWhoami is a Kratos public API whose whoami answers one active session
// of wiringIdentity with the phone wiringPhone. Its times are fixed when it
// starts, as a real session's are: a gate pass is recorded under the
// session's authenticated_at, and one read again seconds later (a slow key
// generation between a step-up and an exchange) must find it.
func fakeWhoami(t *testing.T) string {
	t.Helper()
	now := time.Now()
	expires, authenticated := now.Add(time.Hour).UTC().Format(time.RFC3339), now.Add(-time.Minute).UTC().Format(time.RFC3339)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sessions/whoami" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"5e1b7b4a-0000-4000-8000-000000000001","active":true,"expires_at":%q,
			"authenticated_at":%q,"authenticator_assurance_level":"aal1",
			"identity":{"id":%q,"schema_id":"default","traits":{"phone":%q}}}`,
			expires, authenticated, wiringIdentity, wiringPhone)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// stepUpCookie runs a step-up (start, then verify with the call's code)
// with a session token and returns the JWT cookie the verify answer sets.
func stepUpCookie(t *testing.T, a *App) *http.Cookie {
	t.Helper()
	h := a.Handler()
	do := func(path, body string) (int, []byte, http.Header) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Session-Token", "session-token")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		raw, _ := io.ReadAll(rec.Body)
		return rec.Code, raw, rec.Header()
	}
	code, raw, _ := do("/v1/challenges", "")
	var ch struct {
		ID string `json:"challenge_id"`
	}
	if json.Unmarshal(raw, &ch) != nil || ch.ID == "" {
		t.Fatalf("start: %d %s", code, raw)
	}
	calls := a.Sim.Calls(wiringDN)
	if len(calls) == 0 {
		t.Fatalf("no call reached the simulator (start answered %d %s)", code, raw)
	}
	code, raw, hdr := do("/v1/challenges/"+ch.ID+"/verify", `{"code":"`+calls[len(calls)-1].Code4+`"}`)
	if code != http.StatusOK {
		t.Fatalf("verify: %d %s", code, raw)
	}
	for _, c := range (&http.Response{Header: hdr}).Cookies() {
		if c.Name == a.Config.JWT.Cookie.Name {
			return c
		}
	}
	t.Fatalf("verify answer sets no %s cookie: %v", a.Config.JWT.Cookie.Name, hdr)
	return nil
}

// TestJWTCookieSecureFollowsBaseURL: with jwt.cookie.enabled the token
// answer's cookie is Secure when serve.base_url is https, and not when it
// is http (a browser would not send it back over http).
func TestJWTCookieSecureFollowsBaseURL(t *testing.T) {
	kratosURL := fakeWhoami(t)
	for _, tc := range []struct {
		base   string
		secure bool
	}{
		{"https://2fa.example.com", true},
		{"http://127.0.0.1:4477", false},
	} {
		t.Run(tc.base, func(t *testing.T) {
			a, _ := simApp(t, "KRATOS_PUBLIC_URL="+kratosURL, "JWT_COOKIE_ENABLED=true", "SERVE_BASE_URL="+tc.base)
			c := stepUpCookie(t, a)
			if c.Value == "" || c.Secure != tc.secure || !c.HttpOnly {
				t.Errorf("cookie %s with serve.base_url %s: Secure %v, want %v (HttpOnly %v)", c.Name, tc.base, c.Secure, tc.secure, c.HttpOnly)
			}
		})
	}
}
