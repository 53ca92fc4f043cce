package kratos_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/callpass-kratos/callpass-kratos/internal/testenv"
)

// headerTransport adds fixed request headers, as a reverse proxy in front of
// Kratos would.
type headerTransport struct {
	base http.RoundTripper
	hdr  http.Header
}

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.hdr {
		r.Header[k] = v
	}
	return t.base.RoundTrip(r)
}

// proxyHeaders are sent with every recorded request; Kratos forwards only
// the ones on its allow list to the webhook.
var proxyHeaders = http.Header{
	"True-Client-Ip":  {"203.0.113.7"},
	"X-Forwarded-For": {"198.51.100.1, 10.0.0.1"},
	"X-Real-Ip":       {"198.51.100.2"},
	"Accept-Language": {"ru-RU,ru;q=0.9,en;q=0.8"},
	"User-Agent":      {"callpass-kratos-recorder/1"},
}

// TestRecordHookContexts regenerates hooks/testdata/*_ctx_*.json: the ctx a
// real Kratos hands to a webhook's jsonnet, captured with the identity
// template `function(ctx) ctx`. Run with CALLPASS_RECORD_KRATOS_CTX=1.
func TestRecordHookContexts(t *testing.T) {
	if os.Getenv("CALLPASS_RECORD_KRATOS_CTX") != "1" {
		t.Skip("set CALLPASS_RECORD_KRATOS_CTX=1 to record hooks/testdata from a real Kratos")
	}
	var (
		mu   sync.Mutex
		last = map[string][]byte{}
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		last[r.URL.Path] = raw
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	identity := "base64://" + base64.StdEncoding.EncodeToString([]byte("function(ctx) ctx"))
	k := testenv.StartKratos(t, testenv.KratosOptions{
		LoginHook:        testenv.KratosHook{URL: srv.URL + "/login", Secret: "recorder", Body: identity},
		RegistrationHook: testenv.KratosHook{URL: srv.URL + "/registration", Secret: "recorder", Body: identity},
		SettingsHook:     testenv.KratosHook{URL: srv.URL + "/settings", Secret: "recorder", Body: identity},
	})
	k.HTTP.Transport = headerTransport{base: http.DefaultTransport, hdr: proxyHeaders}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	save := func(hookPath, name string) {
		t.Helper()
		mu.Lock()
		raw := last[hookPath]
		delete(last, hookPath)
		mu.Unlock()
		if raw == nil {
			t.Fatalf("hook %s was not called", hookPath)
		}
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, raw, "", "  "); err != nil {
			t.Fatalf("%s: %v", hookPath, err)
		}
		pretty.WriteByte('\n')
		if err := os.WriteFile(filepath.Join("hooks", "testdata", name), pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	const password = "correct horse battery staple"
	reg, err := k.APIRegister(ctx, map[string]any{"email": "recorded@example.org", "phone": "+79161234567"}, password,
		map[string]any{"callpass_phone_consent": true})
	if err != nil || reg.SessionToken == "" {
		t.Fatalf("registration: %v %+v", err, reg)
	}
	save("/registration", "registration_ctx_api.json")

	res, err := k.APILogin(ctx, "recorded@example.org", password,
		map[string]any{"callpass_code": "1234", "callpass_resend": true})
	if err != nil || res.SessionToken == "" {
		t.Fatalf("api login: %v %+v", err, res)
	}
	save("/login", "login_ctx_api.json")

	set, err := k.APISettingsProfile(ctx, res.SessionToken, map[string]any{"email": "recorded@example.org", "phone": "+79031234567"},
		map[string]any{"callpass_code": "4321"})
	if err != nil || set.StatusCode != http.StatusOK {
		t.Fatalf("settings: %v %+v", err, set)
	}
	save("/settings", "settings_ctx_api.json")

	b := k.NewBrowser(t)
	b.HTTP.Transport = headerTransport{base: http.DefaultTransport, hdr: proxyHeaders}
	br, err := b.BrowserLoginFormPost(ctx, "", "recorded@example.org", password, map[string]any{"callpass_code": "5678"})
	if err != nil || br.SessionCookie == "" {
		t.Fatalf("browser login: %v %+v", err, br)
	}
	save("/login", "login_ctx_browser.json")
}
