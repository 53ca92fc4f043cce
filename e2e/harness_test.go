package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/app"
	"github.com/callpass-kratos/callpass-kratos/internal/config"
	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

const (
	webhookSecret = "e2e-webhook-secret-0123456789abcdef0123456789"
	testPassword  = "correct-horse-battery-staple-42"
)

// service is one running callpass-kratos instance.
type service struct {
	URL    string
	App    *app.App
	cancel context.CancelFunc
	done   chan error
}

// stack is Kratos + the service (+ optionally Redis).
type stack struct {
	Kratos   *testenv.Kratos
	Services []*service
	Redis    *testenv.Redis
}

type stackOptions struct {
	// Instances of the service (default 1). With more than one, Redis is used.
	Instances int
	Redis     bool
	// Env adds configuration (KEY=value, Ory env names).
	Env []string
	// NoHook starts Kratos without the login gate.
	NoHook bool
	// LoginHookPath is the service path the login after-hook posts to
	// (default /hooks/kratos/login; another hook's path is a kratos.yml
	// mistake a test can make).
	LoginHookPath string
	// RegistrationHook, SettingsHook add the phone-verification hooks.
	RegistrationHook bool
	SettingsHook     bool
	// RegistrationHookAfterSave configures the registration hook without
	// can_interrupt and response.parse, so Kratos runs it after saving the
	// identity (a kratos.yml mistake a test can make).
	RegistrationHookAfterSave bool
	// NoRegisteredHook leaves out the registration hook after the save
	// (/hooks/kratos/registered), which RegistrationHook adds.
	NoRegisteredHook bool
	// KratosConfig is deep-merged into Kratos's configuration
	// (testenv.KratosOptions.Config).
	KratosConfig map[string]any
}

// startStack starts the services' listeners first (Kratos needs the hook URL),
// then Kratos, then serves the services configured with Kratos's URLs.
func startStack(t *testing.T, o stackOptions) *stack {
	t.Helper()
	if o.Instances == 0 {
		o.Instances = 1
	}
	st := &stack{}
	if o.Redis || o.Instances > 1 {
		st.Redis = testenv.StartRedis(t)
	}
	lns := make([]net.Listener, o.Instances)
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	first := "http://" + lns[0].Addr().String()
	hook := func(path string) testenv.KratosHook {
		return testenv.KratosHook{URL: first + path, Secret: webhookSecret}
	}
	// The /2fa page's sign-in link returns there after the login.
	kopts := testenv.KratosOptions{ReturnURLs: []string{first + "/2fa"}}
	if !o.NoHook {
		path := o.LoginHookPath
		if path == "" {
			path = "/hooks/kratos/login"
		}
		kopts.LoginHook = hook(path)
	}
	if o.RegistrationHook {
		kopts.RegistrationHook = hook("/hooks/kratos/registration")
		kopts.RegistrationHook.Parse = true
		if o.RegistrationHookAfterSave {
			kopts.RegistrationHook.Parse, kopts.RegistrationHook.NoInterrupt = false, true
		}
		if !o.NoRegisteredHook && !o.RegistrationHookAfterSave {
			kopts.RegisteredHook = hook("/hooks/kratos/registered")
		}
	}
	if o.SettingsHook {
		kopts.SettingsHook = hook("/hooks/kratos/settings")
		kopts.SettingsHook.Parse = true
	}
	kopts.Config = o.KratosConfig
	st.Kratos = testenv.StartKratos(t, kopts)
	dataDir := t.TempDir()
	for i, ln := range lns {
		base := "http://" + ln.Addr().String()
		env := []string{
			"SERVE_LISTEN=" + ln.Addr().String(),
			"SERVE_BASE_URL=" + base,
			"KRATOS_PUBLIC_URL=" + st.Kratos.PublicURL,
			"KRATOS_ADMIN_URL=" + st.Kratos.AdminURL,
			"WEBHOOK_SECRET=" + webhookSecret,
			// Every instance shares the dev data dir: same code key, same JWT key.
			"DEV_DATA_DIR=" + dataDir,
			"SIM_SETTLE_DELAY=200ms",
			"LOG_LEVEL=warn",
			"JWT_ISSUER=" + first,
		}
		if i > 0 {
			// Later instances use the first instance's simulator, as two
			// replicas would share one provider.
			env = append(env, "CALLPASS_BASE_URL="+first+"/", "SIM_ENABLED=false")
		}
		if st.Redis != nil {
			env = append(env, "STORE_TYPE=redis", "STORE_REDIS_URL=redis://"+st.Redis.Addr+"/0")
		}
		env = append(env, o.Env...)
		st.Services = append(st.Services, startService(t, ln, env, i > 0, dataDir))
	}
	return st
}

func startService(t *testing.T, ln net.Listener, env []string, follower bool, dataDir string) *service {
	t.Helper()
	if follower {
		// The follower must use the leader's simulator token.
		env = append(env, "CALLPASS_TOKEN="+devToken(t, dataDir))
	}
	cfg, _, err := config.Load("", env, true)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logw := &testenv.LogBuffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("app: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{URL: "http://" + ln.Addr().String(), App: a, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- a.ServeListener(ctx, ln) }()
	t.Cleanup(func() {
		s.Stop(t)
		if t.Failed() {
			t.Logf("service %s log:\n%s", s.URL, logw.String())
		}
	})
	waitHTTP(t, s.URL+"/health/alive")
	return s
}

// Stop shuts the service down gracefully (idempotent).
func (s *service) Stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("service exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("service did not stop within 20s")
	}
	_ = s.App.Close()
}

func devToken(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, config.DevSecretsFile))
	if err != nil {
		t.Fatalf("dev secrets: %v", err)
	}
	var s struct {
		Token string `json:"callpass_token"`
	}
	if err := json.Unmarshal(b, &s); err != nil || s.Token == "" {
		t.Fatalf("dev secrets: no token (%v)", err)
	}
	return s.Token
}

func waitHTTP(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready within 10s", u)
}

// simCall is one call as the simulator's control API reports it.
type simCall struct {
	CallID string `json:"call_id"`
	DN     string `json:"dn"`
	Caller string `json:"caller"`
	Code4  string `json:"code4"`
	Status string `json:"status"`
}

// simCalls reads GET /sim/calls?dn= over HTTP, newest first.
func simCalls(t *testing.T, simURL, dn string) []simCall {
	t.Helper()
	resp, err := http.Get(simURL + "/sim/calls?dn=" + url.QueryEscape(dn))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Calls []simCall `json:"calls"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode /sim/calls: %v", err)
	}
	return body.Calls
}

// lastCode is the code of the newest call to dn: the last 4 digits of the
// calling number, exactly what the user reads off the phone.
func lastCode(t *testing.T, simURL, dn string) string {
	t.Helper()
	calls := simCalls(t, simURL, dn)
	if len(calls) == 0 {
		t.Fatalf("no call to %s reached the simulator", dn)
	}
	c := calls[0].Caller
	return c[len(c)-4:]
}

// simRequests is the number of start requests the simulator received for
// dn, or for all numbers when dn is "".
func simRequests(t *testing.T, simURL, dn string) int {
	t.Helper()
	u := simURL + "/sim/requests"
	if dn != "" {
		u += "?dn=" + url.QueryEscape(dn)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Requests int `json:"requests"`
		Total    int `json:"total"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if dn == "" {
		return body.Total
	}
	return body.Requests
}

// wrongCode returns a 4-digit code different from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// messageContext decodes a UI message's context.
func messageContext(t *testing.T, m testenv.UIMessage) map[string]any {
	t.Helper()
	ctx := map[string]any{}
	if len(m.Context) > 0 {
		if err := json.Unmarshal(m.Context, &ctx); err != nil {
			t.Fatalf("message context: %v", err)
		}
	}
	return ctx
}

func ids(r *testenv.FlowResult) []int64 {
	var out []int64
	for _, m := range r.UIMessages {
		out = append(out, m.ID)
	}
	return out
}

// postJSON sends a JSON request with headers and decodes the answer.
func postJSON(t *testing.T, method, u string, body any, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	h := map[string]string{}
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
		h["Content-Type"] = "application/json"
	}
	for k, v := range hdr {
		h[k] = v
	}
	status, raw := rawRequest(t, method, u, rd, 0, h)
	out := map[string]any{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d %s", method, u, status, raw)
		}
	}
	return status, out
}

var errNoSession = errors.New("no session issued")

// loginWithCode runs a full gated API login and returns the session token.
func loginWithCode(t *testing.T, st *stack, email, dn string) (string, error) {
	t.Helper()
	ctx := context.Background()
	r, err := st.Kratos.APILogin(ctx, email, testPassword, nil)
	if err != nil {
		return "", err
	}
	if _, ok := r.Message(1090001); !ok {
		return "", fmt.Errorf("first submit: want message 1090001, got %d %v %s", r.StatusCode, ids(r), r.Body)
	}
	code := lastCode(t, st.Services[0].URL, dn)
	r2, err := st.Kratos.SubmitAPILogin(ctx, r.FlowID, email, testPassword, map[string]any{"callpass_code": code})
	if err != nil {
		return "", err
	}
	if r2.SessionToken == "" {
		return "", fmt.Errorf("%w: %d %v %s", errNoSession, r2.StatusCode, ids(r2), r2.Body)
	}
	return r2.SessionToken, nil
}
