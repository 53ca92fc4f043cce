package testenv

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookRecorder is a webhook target: it records every body and answers with
// the interrupt message while interrupt is set, 200 otherwise.
type hookRecorder struct {
	mu        sync.Mutex
	bodies    []map[string]any
	auth      []string
	interrupt bool
	srv       *httptest.Server
}

const interruptBody = `{"messages":[{"instance_ptr":"#/","messages":[{"id":1010001,"text":"We called you. Enter the last digits of the calling number.","type":"info","context":{"digits":4}}]}]}`

func newHookRecorder(t *testing.T, interrupt bool) *hookRecorder {
	h := &hookRecorder{interrupt: interrupt}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("hook body is not a JSON object: %v: %s", err, raw)
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, body)
		h.auth = append(h.auth, r.Header.Get("Authorization"))
		interrupt := h.interrupt
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if interrupt {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, interruptBody)
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookRecorder) setInterrupt(v bool) {
	h.mu.Lock()
	h.interrupt = v
	h.mu.Unlock()
}

func (h *hookRecorder) calls() ([]map[string]any, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]map[string]any(nil), h.bodies...), append([]string(nil), h.auth...)
}

func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real Kratos")
	}
}

func TestKratosNoHookAPILogin(t *testing.T) {
	skipShort(t)
	k := StartKratos(t, KratosOptions{})
	id := k.CreateIdentity(t, "nohook@example.org", "correct horse battery staple", "+79161234567")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	res, err := k.APILogin(ctx, "nohook@example.org", "correct horse battery staple", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.SessionToken == "" {
		t.Fatalf("login: status %d, token %q, body %s", res.StatusCode, res.SessionToken, res.Body)
	}
	var s struct {
		Identity struct {
			ID string `json:"id"`
		} `json:"identity"`
	}
	if err := json.Unmarshal(res.Session, &s); err != nil || s.Identity.ID != id {
		t.Fatalf("session identity %q (err %v), want %q", s.Identity.ID, err, id)
	}

	res, err = k.APILogin(ctx, "nohook@example.org", "wrong password", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusBadRequest || res.SessionToken != "" {
		t.Fatalf("wrong password: status %d, token %q", res.StatusCode, res.SessionToken)
	}
	if _, ok := res.Message(4000006); !ok { // "credentials are invalid"
		t.Fatalf("wrong password: no message 4000006 in %+v", res.UIMessages)
	}
}

// TestKratosLoginHook pins down how Kratos v1.3.1 runs a login after-hook:
// where it must be configured, which flag lets a 4xx interrupt the login,
// and that a resubmitted flow carries transient_payload to the hook.
func TestKratosLoginHook(t *testing.T) {
	skipShort(t)
	tests := []struct {
		name          string
		hook          func(url string) KratosHook
		wantInterrupt bool // false: Kratos turns the 4xx into a 502 (no session either)
	}{
		{"after.password.hooks can_interrupt", func(u string) KratosHook {
			return KratosHook{URL: u, Secret: "s3cret"}
		}, true},
		{"after.hooks can_interrupt", func(u string) KratosHook {
			return KratosHook{URL: u, Secret: "s3cret", Global: true}
		}, true},
		{"after.password.hooks response.parse", func(u string) KratosHook {
			return KratosHook{URL: u, Secret: "s3cret", NoInterrupt: true, Parse: true}
		}, true},
		{"after.password.hooks without can_interrupt", func(u string) KratosHook {
			return KratosHook{URL: u, Secret: "s3cret", NoInterrupt: true}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHookRecorder(t, true)
			k := StartKratos(t, KratosOptions{LoginHook: tt.hook(h.srv.URL + "/hooks/kratos/login")})
			id := k.CreateIdentity(t, "hook@example.org", "correct horse battery staple", "+79161234567")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			res, err := k.APILogin(ctx, "hook@example.org", "correct horse battery staple", nil)
			if err != nil {
				t.Fatal(err)
			}
			bodies, auth := h.calls()
			if len(bodies) != 1 {
				t.Fatalf("hook called %d times, want 1", len(bodies))
			}
			if auth[0] != "Bearer s3cret" {
				t.Errorf("Authorization %q", auth[0])
			}
			if bodies[0]["identity_id"] != id || bodies[0]["flow_id"] != res.FlowID {
				t.Errorf("hook body identity_id %v flow_id %v, want %s %s", bodies[0]["identity_id"], bodies[0]["flow_id"], id, res.FlowID)
			}
			if res.SessionToken != "" {
				t.Fatalf("session issued although the hook answered 400: %s", res.Body)
			}
			m, ok := res.Message(1010001)
			if !tt.wantInterrupt {
				if ok || res.StatusCode != http.StatusBadGateway {
					t.Fatalf("without can_interrupt: status %d %s", res.StatusCode, res.Body)
				}
				return
			}
			if res.StatusCode != http.StatusBadRequest || !ok {
				t.Fatalf("status %d, messages %+v, body %s", res.StatusCode, res.UIMessages, res.Body)
			}
			if m.Type != "info" || !strings.Contains(string(m.Context), `"digits":4`) {
				t.Errorf("message %+v", m)
			}

			// Same flow again with the code: the hook sees it and lets the login through.
			h.setInterrupt(false)
			res, err = k.SubmitAPILogin(ctx, res.FlowID, "hook@example.org", "correct horse battery staple",
				map[string]any{"callpass_code": "1234"})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK || res.SessionToken == "" {
				t.Fatalf("resubmit: status %d body %s", res.StatusCode, res.Body)
			}
			bodies, _ = h.calls()
			if len(bodies) != 2 {
				t.Fatalf("hook called %d times, want 2", len(bodies))
			}
			tp, _ := bodies[1]["transient_payload"].(map[string]any)
			if tp["callpass_code"] != "1234" {
				t.Errorf("transient_payload %v", bodies[1]["transient_payload"])
			}
		})
	}
}

func TestKratosBrowserLoginHook(t *testing.T) {
	skipShort(t)
	h := newHookRecorder(t, true)
	k := StartKratos(t, KratosOptions{LoginHook: KratosHook{URL: h.srv.URL + "/hooks/kratos/login", Secret: "s3cret"}})
	k.CreateIdentity(t, "browser@example.org", "correct horse battery staple", "")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := k.NewBrowser(t)

	flowID, err := b.NewLoginFlow(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := b.BrowserLoginFormPost(ctx, flowID, "browser@example.org", "correct horse battery staple", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FlowID != flowID {
		t.Errorf("redirected to flow %s, want the same flow %s", res.FlowID, flowID)
	}
	if res.SessionCookie != "" {
		t.Fatalf("session cookie although the hook interrupted")
	}
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.RedirectTo, k.UIURL+"/login?flow=") {
		t.Fatalf("status %d redirect %q", res.StatusCode, res.RedirectTo)
	}
	if _, ok := res.Message(1010001); !ok {
		t.Fatalf("messages %+v", res.UIMessages)
	}

	h.setInterrupt(false)
	res, err = b.BrowserLoginFormPost(ctx, res.FlowID, "browser@example.org", "correct horse battery staple",
		map[string]any{"callpass_code": "5678"})
	if err != nil {
		t.Fatal(err)
	}
	if res.SessionCookie == "" {
		t.Fatalf("no session cookie: status %d redirect %q", res.StatusCode, res.RedirectTo)
	}
	bodies, _ := h.calls()
	tp, _ := bodies[len(bodies)-1]["transient_payload"].(map[string]any)
	if tp["callpass_code"] != "5678" || bodies[len(bodies)-1]["flow_type"] != "browser" {
		t.Errorf("hook body %v", bodies[len(bodies)-1])
	}
}

func TestKratosConfigMerge(t *testing.T) {
	cfg := KratosConfig("http://127.0.0.1:1", "http://127.0.0.1:2", KratosOptions{
		JsonnetDir: "/j",
		LoginHook:  KratosHook{URL: "http://h/login", Secret: "x"},
		Config:     map[string]any{"session": map[string]any{"lifespan": "1h"}, "log": map[string]any{"level": "debug"}},
	})
	if got := cfg["session"].(map[string]any)["lifespan"]; got != "1h" {
		t.Errorf("session.lifespan %v", got)
	}
	logCfg := cfg["log"].(map[string]any)
	if logCfg["level"] != "debug" || logCfg["format"] != "text" {
		t.Errorf("log merged wrongly: %v", logCfg)
	}
	login := cfg["selfservice"].(map[string]any)["flows"].(map[string]any)["login"].(map[string]any)
	hooks := login["after"].(map[string]any)["password"].(map[string]any)["hooks"].([]any)
	c := hooks[0].(map[string]any)["config"].(map[string]any)
	if c["body"] != "file:///j/login.jsonnet" || c["can_interrupt"] != true {
		t.Errorf("hook config %v", c)
	}
}

// TestKratosMethodHooksReplaceGlobal: Kratos runs after.hooks for a password
// login only when after.password.hooks is empty.
func TestKratosMethodHooksReplaceGlobal(t *testing.T) {
	skipShort(t)
	method := newHookRecorder(t, false)
	global := newHookRecorder(t, false)
	k := StartKratos(t, KratosOptions{
		LoginHook: KratosHook{URL: method.srv.URL},
		Config: map[string]any{"selfservice": map[string]any{"flows": map[string]any{"login": map[string]any{
			"after": map[string]any{"hooks": []any{map[string]any{"hook": "web_hook", "config": map[string]any{
				"url": global.srv.URL, "method": "POST", "body": "base64://ZnVuY3Rpb24oY3R4KSB7fQ==", // function(ctx) {}
			}}}},
		}}}},
	})
	k.CreateIdentity(t, "both@example.org", "correct horse battery staple", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := k.APILogin(ctx, "both@example.org", "correct horse battery staple", nil)
	if err != nil || res.SessionToken == "" {
		t.Fatalf("login: %v %+v", err, res)
	}
	m, _ := method.calls()
	g, _ := global.calls()
	if len(m) != 1 || len(g) != 0 {
		t.Fatalf("method hook called %d times, global %d; want 1, 0", len(m), len(g))
	}
}
